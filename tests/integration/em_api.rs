//! The reference server's EM API over loopback HTTP: every code of the
//! walking skeleton, each with its exact number and text.

use crate::support::*;
use emlab_protocol::em_api::{
    self, AppInfo, DeviceProfileEntry, DeviceProfileQuery, DeviceUser, Duration, ExclusiveDuration,
    Login, LogoutAll, Message, Operation, Query, QueryKind, Request, ResponseBody,
    UserDevicesEntry,
};
use emlab_simulator::em_client::Reply;

const UCM: &str = "profile = \"ucm\"";
const UCM4: &str = "profile = \"ucm4\"";

#[tokio::test]
async fn url_4_unparsable_requests_get_code_1_error_on_parsing() {
    let t = TestServer::start(UCM, "").await;
    let bodies = [
        em_api::form_body("<request><appInfo>"), // truncated XML
        em_api::form_body("<login><deviceName>x</deviceName>"), // not a request
        "name=value".to_string(),                // no xml field
        em_api::form_body(
            "<request><appInfo><appID>emlab</appID><appCertificate>secret</appCertificate></appInfo><login><userID>alice</userID></login></request>",
        ), // no deviceName
        format!("xml={}", "a".repeat(70 * 1024)), // over 64 KiB
    ];
    for body in bodies {
        let r = answer(t.client.post_raw(body.clone()).await);
        assert_eq!(
            failure(&r),
            (1, "Error on Parsing"),
            "body starting {:?}",
            &body[..40.min(body.len())]
        );
    }
    // Every one of them is counted, the oversized one included.
    let m = t.metrics().await;
    assert!(m.contains("em_errors_total{code=\"1\"} 5"), "{m}");
    assert!(m.contains("em_requests_total 5"), "{m}");
    // The server is still there and still correct.
    assert!(t.login(D1, "alice").await.error_code().is_none());
}

#[tokio::test]
async fn url_4_ucm4_words_code_1_as_xml_validation_error() {
    let t = TestServer::start(UCM4, "").await;
    let r = answer(t.client.post_raw(em_api::form_body("<request>")).await);
    assert_eq!(failure(&r), (1, "XML Validation Error"));
}

#[tokio::test]
async fn unknown_query_type_gets_code_8() {
    let t = TestServer::start(UCM, "").await;
    let xml = "<query><appInfo><appID>emlab</appID><appCertificate>secret</appCertificate></appInfo><checkWeather/></query>";
    let r = answer(t.client.post_raw(em_api::form_body(xml)).await);
    assert_eq!(failure(&r), (8, "Query type undetermined"));
}

#[tokio::test]
async fn auth_6_blank_app_credentials_get_code_2() {
    let t = TestServer::start(UCM, "").await;
    for app in [AppInfo::new("", "secret"), AppInfo::new("emlab", "")] {
        let r = answer(t.as_app(app.clone()).send(&login(&app, D1, "alice")).await);
        assert_eq!(failure(&r), (2, "Cannot authorize App user"));
    }
}

#[tokio::test]
async fn auth_6_unknown_app_or_wrong_certificate_gets_code_3() {
    let t = TestServer::start(UCM, "").await;
    for app in [
        AppInfo::new("intruder", "secret"),
        AppInfo::new("emlab", "wrong"),
    ] {
        let r = answer(t.as_app(app.clone()).send(&login(&app, D1, "alice")).await);
        assert_eq!(failure(&r), (3, "Invalid App User"));
    }
    // Queries need valid credentials too.
    let app = AppInfo::new("emlab", "wrong");
    let q = Message::Query(Query::new(
        app.clone(),
        QueryKind::DeviceProfile(DeviceProfileQuery {
            user_ids: vec!["alice".into()],
            ..Default::default()
        }),
    ));
    assert_eq!(failure(&answer(t.as_app(app).send(&q).await)).0, 3);
}

#[tokio::test]
async fn auth_6_app_without_proxy_rights_gets_code_10_for_other_users() {
    let t = TestServer::start(UCM, "").await;
    let kiosk = AppInfo::new("kiosk", "kiosk-cert");
    let c = t.as_app(kiosk.clone());
    // For another user: refused, and nothing changes.
    assert_eq!(
        failure(&answer(c.send(&login(&kiosk, D1, "alice")).await)),
        (10, "User lacks app proxy rights")
    );
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    // For itself: allowed.
    assert_eq!(
        answer(c.send(&login(&kiosk, D1, "kiosk")).await).body,
        ResponseBody::Success
    );
    // It may not log out a device someone else is on, nor log everyone out.
    assert!(t.login(D2, "bob").await.error_code().is_none());
    assert_eq!(failure(&answer(c.send(&logout(&kiosk, D2)).await)).0, 10);
    let all = Message::Request(Request::new(
        kiosk.clone(),
        Operation::LogoutAll(LogoutAll::default()),
    ));
    assert_eq!(failure(&answer(c.send(&all).await)).0, 10);
    assert_eq!(
        answer(c.send(&logout(&kiosk, D1)).await).body,
        ResponseBody::Success
    );

    let t4 = TestServer::start(UCM4, "").await;
    let r = answer(
        t4.as_app(kiosk.clone())
            .send(&login(&kiosk, D1, "alice"))
            .await,
    );
    assert_eq!(failure(&r), (10, "Proxy Authentication Not Allowed"));
}

#[tokio::test]
async fn unknown_device_gets_code_11_and_unknown_user_code_23() {
    let t = TestServer::start(UCM, "").await;
    assert_eq!(
        failure(&t.login("SEP00000000FFFF", "alice").await),
        (11, "Device does not exist")
    );
    assert_eq!(
        failure(&t.logout("SEP00000000FFFF").await),
        (11, "Device does not exist")
    );
    assert_eq!(
        failure(&t.login(D1, "mallory").await),
        (23, "User not found")
    );
}

#[tokio::test]
async fn prof_5_user_without_a_usable_profile_gets_code_12() {
    let t = TestServer::start(UCM, "").await;
    // carol has no profile and there is no default for the 7960.
    assert_eq!(
        failure(&t.login(D1, "carol").await),
        (12, "Dev. Profile not found")
    );
    // A named profile that is not the user's.
    let app = app();
    let named = Message::Request(Request::new(
        app.clone(),
        Operation::Login(Login {
            device_name: D1.into(),
            user_id: "alice".into(),
            device_profile: Some("bob-7960".into()),
            ..Login::default()
        }),
    ));
    assert_eq!(failure(&answer(t.client.send(&named).await)).0, 12);
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
}

/// PROF-2/PROF-5: the 7905's device profile default fills in a cross-model
/// login; it is not a profile for a user who has none (seed A: 205 at the
/// phone, 12 here).
#[tokio::test]
async fn prof_2_5_a_model_default_fills_in_a_cross_model_login_not_a_user_without_profiles() {
    let t = TestServer::start(UCM, "").await;
    assert_eq!(failure(&t.login(D7905, "carol").await).0, 12);
    assert_eq!(t.user_on(D7905).await, DeviceUser::Nobody);
    // alice has a 7960 profile: on the 7905 it loads, the default filling in (PROF-3).
    assert_eq!(t.login(D7905, "alice").await.body, ResponseBody::Success);
}

/// PROF-11: EM is disabled on protected (Secure Tone) phones: login and
/// logout are refused with 22, and nothing changes.
#[tokio::test]
async fn prof_11_a_protected_phone_refuses_login_and_logout_with_22() {
    let t = TestServer::start(UCM, "").await;
    assert_eq!(failure(&t.login(D_PROTECTED, "alice").await).0, 22);
    assert_eq!(failure(&t.logout(D_PROTECTED).await).0, 22);
    assert_eq!(t.user_on(D_PROTECTED).await, DeviceUser::Nobody);
    assert_eq!(t.devices_of("alice").await, [UserDevicesEntry::Nobody]);
}

#[tokio::test]
async fn prof_6_em_disabled_device_gets_code_22() {
    let t = TestServer::start(UCM, "").await;
    assert_eq!(
        failure(&t.login(D_DISABLED, "alice").await),
        (22, "Device logon disabled")
    );
    assert_eq!(t.devices_of("alice").await, vec![UserDevicesEntry::Nobody]);
}

#[tokio::test]
async fn logout_of_an_idle_device_gets_code_19() {
    let t = TestServer::start(UCM, "").await;
    assert_eq!(failure(&t.logout(D1).await), (19, "No user logged in"));
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(t.logout(D1).await.body, ResponseBody::Success);
    assert_eq!(failure(&t.logout(D1).await), (19, "No user logged in"));
}

#[tokio::test]
async fn log_7_next_user_logs_the_previous_user_out() {
    let t = TestServer::start(UCM, "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(t.login(D1, "bob").await.body, ResponseBody::Success);
    assert_eq!(t.user_on(D1).await, DeviceUser::User("bob".into()));
    assert_eq!(t.devices_of("alice").await, vec![UserDevicesEntry::Nobody]);
}

#[tokio::test]
async fn logout_all_logs_every_device_out() {
    let t = TestServer::start(UCM, "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert!(t.login(D2, "bob").await.error_code().is_none());
    let all = Message::Request(Request::new(
        app(),
        Operation::LogoutAll(LogoutAll::default()),
    ));
    assert_eq!(
        answer(t.client.send(&all).await).body,
        ResponseBody::Success
    );
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    assert_eq!(t.user_on(D2).await, DeviceUser::Nobody);
}

#[tokio::test]
async fn queries_report_users_devices_profiles_and_unknowns() {
    let t = TestServer::start(UCM, "").await;
    assert!(t.login(D1, "em@cisco.com").await.error_code().is_none());
    assert_eq!(t.user_on(D1).await, DeviceUser::User("em@cisco.com".into()));
    assert_eq!(t.user_on("SEP0000000FFFFF").await, DeviceUser::DoesNotExist);
    assert_eq!(
        t.devices_of("em@cisco.com").await,
        vec![UserDevicesEntry::Device(D1.into())]
    );
    assert_eq!(
        t.devices_of("nobody-here").await,
        vec![UserDevicesEntry::DoesNotExist]
    );

    let q = Message::Query(Query::new(
        app(),
        QueryKind::DeviceProfile(DeviceProfileQuery {
            user_ids: vec!["alice".into(), "carol".into(), "ghost".into()],
            ..Default::default()
        }),
    ));
    let ResponseBody::DeviceProfileResults(r) = answer(t.client.send(&q).await).body else {
        panic!("wrong result type")
    };
    let names: Vec<(String, String)> = r.users[0]
        .entries
        .iter()
        .map(|e| match e {
            DeviceProfileEntry::Profile(p) => (p.name.clone(), p.is_default.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("alice-7960".into(), "t".into()),
            ("alice-7940".into(), "f".into())
        ]
    );
    assert_eq!(r.users[1].entries, vec![DeviceProfileEntry::Nobody]);
    assert_eq!(r.users[2].entries, vec![DeviceProfileEntry::DoesNotExist]);

    // On the wire the user ID is percent-encoded.
    let raw = crate::support::http(
        &t.url(),
        "POST",
        em_api::EM_API_PATH,
        em_api::form_body(
            &Message::Query(Query::new(
                app(),
                QueryKind::UserDevices(em_api::UserDevicesQuery {
                    user_ids: vec!["em@cisco.com".into()],
                    ..Default::default()
                }),
            ))
            .to_xml(),
        ),
    )
    .await
    .1;
    assert!(raw.contains(r#"<user id="em%40cisco.com">"#), "{raw}");
}

#[tokio::test]
async fn exclusive_duration_logs_out_automatically_on_the_server_clock() {
    let t = TestServer::start(UCM, "").await;
    let with_duration = Message::Request(Request::new(
        app(),
        Operation::Login(Login {
            device_name: D1.into(),
            user_id: "alice".into(),
            exclusive_duration: Some(ExclusiveDuration {
                kind: Duration::Minutes(30),
            }),
            ..Login::default()
        }),
    ));
    assert_eq!(
        answer(t.client.send(&with_duration).await).body,
        ResponseBody::Success
    );
    t.advance_clock(29 * 60).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::User("alice".into()));
    t.advance_clock(2 * 60).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    assert!(t.metrics().await.contains("em_automatic_logouts_total 1"));
}

#[tokio::test]
async fn time_1_enforced_max_login_time_logs_out() {
    let t = TestServer::start(
        UCM,
        "enforce_max_login_time = true\nmax_login_time = \"1:00\"",
    )
    .await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    t.advance_clock(59 * 60).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::User("alice".into()));
    t.advance_clock(2 * 60).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
}

#[tokio::test]
async fn lim_1_over_max_concurrent_requests_gets_26_at_once() {
    // Two slots, one second of emulated database time per operation.
    let t = TestServer::start("operation_time_ms = 1000", "max_concurrent_requests = 2").await;
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = t.client.clone();
        let msg = login(
            &app(),
            &format!("SEP{:012X}", 0x0E00_0000_0000u64 + i),
            &format!("user{i:05}"),
        );
        tasks.push(tokio::spawn(async move {
            let r = answer(c.send(&msg).await);
            (r, t0.elapsed())
        }));
    }
    // A query is not a login/logout: it is answered while both slots are taken.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    assert!(t.metrics().await.contains("em_requests_in_progress 2"));

    let mut ok = 0;
    let mut busy = 0;
    for task in tasks {
        let (r, took) = task.await.unwrap();
        match r.error_code() {
            None => ok += 1,
            Some(26) => {
                assert_eq!(failure(&r).1, "Busy, please try again");
                // Refused without waiting for the database.
                assert!(
                    took < std::time::Duration::from_millis(900),
                    "26 took {took:?}"
                );
                busy += 1;
            }
            Some(other) => panic!("unexpected code {other}"),
        }
    }
    assert_eq!((ok, busy), (2, 4));
    let m = t.metrics().await;
    assert!(m.contains("em_requests_throttled_total 4"), "{m}");
    assert!(m.contains("em_errors_total{code=\"26\"} 4"), "{m}");
    assert!(m.contains("em_logins_total 2"), "{m}");
    assert!(m.contains("em_requests_in_progress 0"), "{m}");
}

#[tokio::test]
async fn exclusive_duration_of_zero_minutes_gets_code_7() {
    let t = TestServer::start(UCM, "").await;
    let zero = Message::Request(Request::new(
        app(),
        Operation::Login(Login {
            device_name: D1.into(),
            user_id: "alice".into(),
            exclusive_duration: Some(ExclusiveDuration {
                kind: Duration::Minutes(0),
            }),
            ..Login::default()
        }),
    ));
    assert_eq!(
        failure(&answer(t.client.send(&zero).await)),
        (7, "Logout Request Error")
    );
}

#[tokio::test]
async fn non_em_paths_and_methods_are_not_the_servlet() {
    let t = TestServer::start(UCM, "").await;
    let (status, _) =
        crate::support::http(&t.url(), "GET", em_api::EM_API_PATH, String::new()).await;
    assert_eq!(status, 405);
    // A connection closed mid-body leaves the server serving.
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(t.server.addr).await.unwrap();
    s.write_all(b"POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nxml=%3Crequ").await.unwrap();
    drop(s);
    assert!(matches!(
        t.client.send(&login(&app(), D1, "alice")).await,
        Reply::Answer(_)
    ));
}

#[tokio::test]
async fn time_3_a_users_own_max_login_time_overrides_the_parameter() {
    // dave's self-care limit is 0:10; the service parameter is not enforced.
    let t = TestServer::start(UCM, "").await;
    assert!(t.login(D7905, "dave").await.error_code().is_none());
    assert!(t.login(D1, "alice").await.error_code().is_none());
    t.advance_clock(9 * 60).await;
    assert_eq!(t.user_on(D7905).await, DeviceUser::User("dave".into()));
    t.advance_clock(2 * 60).await;
    assert_eq!(t.user_on(D7905).await, DeviceUser::Nobody);
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::User("alice".into()),
        "others have no limit"
    );
}

#[tokio::test]
async fn btn_6_ucm4_logs_a_7940_in_only_on_a_1_or_2_line_template() {
    let t = TestServer::start(UCM4, "").await;
    assert_eq!(
        failure(&t.login("SEP000000000007", "alice").await).0,
        12,
        "template \"Custom 7940\""
    );
    assert!(
        t.login("SEP000000000008", "bob")
            .await
            .error_code()
            .is_none(),
        "\"7940 1-Line\""
    );
    assert_eq!(
        t.login("SEP000000000009", "mona").await.error_code(),
        None,
        "the default template"
    );
    // Recent Unified CM has no such rule.
    let t = TestServer::start(UCM, "").await;
    assert!(
        t.login("SEP000000000007", "alice")
            .await
            .error_code()
            .is_none()
    );
}

/// 2000 login and logout operations, one after another, with Cisco's
/// default limits (Maximum Concurrent Requests 5): every one succeeds. The
/// hour of the requirement is compressed; sequential operations never meet
/// the concurrency limit, whatever their pace.
#[tokio::test]
async fn lim_3_two_thousand_sequential_operations_succeed_with_default_limits() {
    let t = TestServer::start(UCM, "max_concurrent_requests = 5").await;
    for i in 0..1000u64 {
        let device = format!("SEP{:012X}", 0x0E00_0000_0000u64 + i % 300);
        let user = format!("user{:05}", i % 300);
        assert_eq!(
            t.login(&device, &user).await.error_code(),
            None,
            "login {i}"
        );
        assert_eq!(t.logout(&device).await.error_code(), None, "logout {i}");
    }
    let m = t.metrics().await;
    assert!(
        m.contains("em_logins_total 1000") && m.contains("em_logouts_total 1000"),
        "{m}"
    );
    assert!(m.contains("em_requests_throttled_total 0"), "{m}");
}

/// A value the server echoes back is escaped, control characters
/// included: a device name with one still gets a well-formed answer.
#[tokio::test]
async fn echoed_control_characters_keep_the_answer_well_formed() {
    let t = TestServer::start("", "").await;
    let xml = "<query><appInfo><appID>emlab</appID><appCertificate>secret</appCertificate></appInfo><deviceUserQuery><deviceName>SEP\u{1}&lt;x&gt;\u{1b}</deviceName></deviceUserQuery></query>";
    let (status, body) = http(
        &t.url(),
        "POST",
        "/emservice/EMServiceServlet",
        em_api::form_body(xml),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !body
            .chars()
            .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')),
        "{body:?}"
    );
    assert!(
        body.contains("&lt;x&gt;") && body.contains("<doesNotExist/>"),
        "{body}"
    );
    // And a strict XML reader takes it.
    let parsed = emlab_protocol::em_api::Response::from_xml(&body);
    assert!(parsed.is_ok(), "{parsed:?}");
}
