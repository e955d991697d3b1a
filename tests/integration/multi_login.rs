//! Multiple Login Behavior (MULTI-1..5) over the EM API.

use crate::support::*;
use emlab_protocol::em_api::{DeviceUser, ResponseBody, UserDevicesEntry};

#[tokio::test]
async fn multi_1_not_allowed_second_device_gets_25_until_logout() {
    let t = TestServer::start("", "multiple_login_behavior = \"not-allowed\"").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(
        failure(&t.login(D2, "alice").await),
        (25, "User logged in elsewhere")
    );
    assert_eq!(t.user_on(D2).await, DeviceUser::Nobody);
    // Logging in again on the same device is not a second device.
    assert_eq!(t.login(D1, "alice").await.body, ResponseBody::Success);
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(t.login(D2, "alice").await.body, ResponseBody::Success);
}

#[tokio::test]
async fn multi_2_allowed_user_on_several_devices() {
    let t = TestServer::start("", "multiple_login_behavior = \"allowed\"").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(t.login(D2, "alice").await.body, ResponseBody::Success);
    let mut devices = t.devices_of("alice").await;
    devices.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        devices,
        vec![
            UserDevicesEntry::Device(D1.into()),
            UserDevicesEntry::Device(D2.into())
        ]
    );
}

#[tokio::test]
async fn multi_3_auto_logout_moves_the_user_and_cme_always_does() {
    for (server, params) in [
        ("", "multiple_login_behavior = \"auto-logout\""),
        (
            "profile = \"cme\"",
            "multiple_login_behavior = \"not-allowed\"",
        ),
    ] {
        let t = TestServer::start(server, params).await;
        assert!(t.login(D1, "alice").await.error_code().is_none());
        assert_eq!(
            t.login(D2, "alice").await.body,
            ResponseBody::Success,
            "{server} {params}"
        );
        assert_eq!(t.user_on(D1).await, DeviceUser::Nobody, "{server} {params}");
        assert_eq!(
            t.devices_of("alice").await,
            vec![UserDevicesEntry::Device(D2.into())]
        );
    }
}

#[tokio::test]
async fn multi_4_ucm4_device_in_use_gets_18() {
    let t = TestServer::start("profile = \"ucm4\"", "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(
        failure(&t.login(D1, "bob").await),
        (18, "Another user logged in")
    );
    assert_eq!(t.user_on(D1).await, DeviceUser::User("alice".into()));
}

/// 200 simultaneous logins of one user to 200 devices: with multiple logins
/// not allowed exactly one may win, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_5_concurrent_logins_leave_the_user_on_one_device() {
    // Database time makes all 200 overlap inside the server.
    let t = TestServer::start(
        "operation_time_ms = 20",
        "multiple_login_behavior = \"not-allowed\"",
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let c = t.client.clone();
        let msg = login(
            &app(),
            &format!("SEP{:012X}", 0x0E00_0000_0000u64 + i),
            "alice",
        );
        tasks.push(tokio::spawn(async move {
            answer(c.send(&msg).await).error_code()
        }));
    }
    let mut successes = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            None => successes += 1,
            Some(25) => refused += 1,
            Some(other) => panic!("unexpected code {other}"),
        }
    }
    assert_eq!((successes, refused), (1, 199));
    let devices = t.devices_of("alice").await;
    assert_eq!(devices.len(), 1);
    assert!(matches!(devices[0], UserDevicesEntry::Device(_)));
}
