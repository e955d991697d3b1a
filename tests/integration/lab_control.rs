//! Behaviour that depends on what an administrator does, driven through lab
//! control (`/lab/`), with the server clock instead of waiting.

use crate::support::*;
use emlab_protocol::em_api::DeviceUser;
use emlab_protocol::phone_xml::{
    CHANGE_CREDENTIAL_PATH, EM_SERVICE_PATH, PhoneObject, error_number,
};
use emlab_simulator::em_client::Reply;

/// A phone login through the EM service; the `[N]` code, or 0 on success.
pub(crate) async fn phone_login(t: &TestServer, device: &str, user: &str, pin: &str) -> u16 {
    let (status, _, body) = phone_get(
        &t.url(),
        &format!("{EM_SERVICE_PATH}?device={device}&userid={user}&seq={pin}"),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    match PhoneObject::from_xml(&body).unwrap() {
        PhoneObject::Text(t) if t.text == "Login Successful" => 0,
        PhoneObject::Text(t) => error_number(&t.text).unwrap_or_else(|| panic!("{}", t.text)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn lim_4_stopped_em_service_answers_503_on_both_ways_in() {
    let t = TestServer::start("", "").await;
    assert_eq!(
        t.lab("/lab/em-service", r#"{"running": false}"#).await,
        (200, serde_json::json!({"running": false}))
    );
    let (status, _, _) = phone_get(&t.url(), &format!("{EM_SERVICE_PATH}?device={D1}"), &[]).await;
    assert_eq!(status, 503);
    assert_eq!(
        t.client.send(&login(&app(), D1, "alice")).await,
        Reply::Http(503)
    );
    t.lab("/lab/em-service", r#"{"running": true}"#).await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
}

#[tokio::test]
async fn time_6_after_a_service_restart_logins_outlive_their_expiry_until_a_day() {
    let t = TestServer::start(
        "",
        "enforce_max_login_time = true\nmax_login_time = \"1:00\"",
    )
    .await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    t.lab("/lab/em-service", r#"{"running": false}"#).await;
    // The stop of TIME-6 is the one a phone sees: 503 from the service.
    let (status, _, _) = phone_get(&t.url(), &format!("{EM_SERVICE_PATH}?device={D1}"), &[]).await;
    assert_eq!(status, 503);
    t.advance_clock(2 * 3600).await;
    t.lab("/lab/em-service", r#"{"running": true}"#).await;
    t.advance_clock(2 * 3600).await;
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::User("alice".into()),
        "not logged out at expiry"
    );
    t.advance_clock(23 * 3600).await;
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::Nobody,
        "logged out once a day"
    );
    // A login made after the restart has its normal timer again.
    assert!(t.login(D2, "bob").await.error_code().is_none());
    t.advance_clock(61 * 60).await;
    assert_eq!(t.user_on(D2).await, DeviceUser::Nobody);
}

#[tokio::test]
async fn auth_5_old_pin_works_for_two_minutes_after_a_change() {
    let t = TestServer::start("", "").await;
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 0);
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(
        t.lab("/lab/users/bob/pin", r#"{"pin": "98765"}"#).await.0,
        200
    );
    // Within two minutes of the last login: old or new PIN.
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 0);
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(phone_login(&t, D1, "bob", "98765").await, 0);
    assert!(t.logout(D1).await.error_code().is_none());
    // Later, only the new one.
    t.advance_clock(3 * 60).await;
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 201);
    assert_eq!(phone_login(&t, D1, "bob", "98765").await, 0);
    assert_eq!(
        t.lab("/lab/users/nobody/pin", r#"{"pin": "1"}"#).await.0,
        404
    );
}

#[tokio::test]
async fn time_2_setting_a_max_login_time_turns_enforce_on() {
    let t = TestServer::start("", "").await;
    let (status, p) = t
        .lab("/lab/service-parameters", r#"{"max_login_time": "0:30"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            p["enforce_max_login_time"].as_bool(),
            p["max_login_time"].as_str()
        ),
        (Some(true), Some("0:30"))
    );
    assert!(t.login(D1, "alice").await.error_code().is_none());
    t.advance_clock(31 * 60).await;
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
}

#[tokio::test]
async fn service_parameters_change_live_and_bad_values_are_refused() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert_eq!(failure(&t.login(D2, "alice").await).0, 25);
    let (status, p) = t
        .lab(
            "/lab/service-parameters",
            r#"{"multiple_login_behavior": "allowed"}"#,
        )
        .await;
    assert_eq!(
        (status, p["multiple_login_behavior"].as_str()),
        (200, Some("allowed"))
    );
    assert!(t.login(D2, "alice").await.error_code().is_none());
    for bad in [
        r#"{"max_concurrent_requests": 0}"#,
        r#"{"cache_size": 5}"#,
        r#"{"no_such_parameter": 1}"#,
        "not json",
    ] {
        let (status, body) = t.lab("/lab/service-parameters", bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].as_str().is_some(), "{bad}: {body}");
    }
    // Nothing changed by the refused requests.
    let (_, body) = http(&t.url(), "GET", "/lab/service-parameters", String::new()).await;
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            p["max_concurrent_requests"].as_u64(),
            p["cache_size"].as_u64()
        ),
        (Some(1000), Some(10000))
    );
}

#[tokio::test]
async fn log_7_an_administrator_logs_any_device_out() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    let (status, body) = t.lab(&format!("/lab/devices/{D1}/logout"), "").await;
    assert_eq!((status, body["logged_out"].as_str()), (200, Some("alice")));
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    assert_eq!(
        t.lab("/lab/devices/SEP0000000FFFFF/logout", "").await.0,
        404
    );
}

#[tokio::test]
async fn lab_control_is_off_unless_asked_for() {
    let lab = lab("", "");
    let server = emlab_server::start(&lab, emlab_server::ServerOptions::default())
        .await
        .unwrap();
    let (status, _) = http(
        &server.base_url(),
        "POST",
        "/lab/clock/advance",
        r#"{"seconds": 1}"#.into(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lim_2_an_overloaded_database_answers_6_with_many_requests_in_progress() {
    // The emulated database takes 800 ms and fails with more than two operations in progress;
    // Maximum Concurrent Requests (1000) never throttles here.
    let t = TestServer::start("operation_time_ms = 800\ndatabase_capacity = 2", "").await;
    let mut tasks = Vec::new();
    for i in 0..6u64 {
        let c = t.client.clone();
        let msg = login(
            &app(),
            &format!("SEP{:012X}", 0x0E00_0000_0000u64 + i),
            &format!("user{i:05}"),
        );
        tasks.push(tokio::spawn(async move {
            answer(c.send(&msg).await).error_code()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert!(
        t.metrics().await.contains("em_requests_in_progress 6"),
        "a high Requests In Progress counter"
    );
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    // While more than two were in progress they failed with 6; as they
    // finish, the last may fit again. Never 26: the limit is the database's.
    let database_errors = codes.iter().filter(|c| **c == Some(6)).count();
    assert!(
        codes.iter().all(|c| matches!(c, None | Some(6))),
        "{codes:?}"
    );
    assert!(database_errors >= 4, "{codes:?}");
    let m = t.metrics().await;
    assert!(
        m.contains(&format!("em_errors_total{{code=\"6\"}} {database_errors}")),
        "{m}"
    );
    // Under capacity, the same logins succeed.
    assert!(
        t.login("SEP0E0000000000", "user00000")
            .await
            .error_code()
            .is_none()
    );
}

#[tokio::test]
async fn url_3_phone_service_cannot_reach_the_em_service_208() {
    let t = TestServer::start("", "").await;
    assert_eq!(t.lab("/lab/em-api", r#"{"running": false}"#).await.0, 200);
    let (status, _, body) =
        phone_get(&t.url(), &format!("{EM_SERVICE_PATH}?device={D1}"), &[]).await;
    assert_eq!(status, 200, "the phone service itself answers");
    assert!(body.contains("[208]-EM Service Connection Error"), "{body}");
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 208);
    assert_eq!(
        t.client.send(&login(&app(), D1, "bob")).await,
        Reply::Http(503)
    );
    t.lab("/lab/em-api", r#"{"running": true}"#).await;
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 0);
}

#[tokio::test]
async fn change_password_27_until_the_pin_is_changed() {
    let t = TestServer::start("", "").await;
    let (_, _, body) = phone_get(
        &t.url(),
        &format!("{EM_SERVICE_PATH}?device={D1}&userid=nina&seq=77777"),
        &[],
    )
    .await;
    assert!(body.contains("[27]-Change Password"), "{body}");
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    // A wrong PIN is still a wrong PIN.
    assert_eq!(phone_login(&t, D1, "nina", "11111").await, 201);
    assert_eq!(
        t.lab("/lab/users/nina/pin", r#"{"pin": "78787"}"#).await.0,
        200
    );
    assert_eq!(phone_login(&t, D1, "nina", "78787").await, 0);
}

#[tokio::test]
async fn log_8_call_backs_are_cancelled_at_logout() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "bob").await.error_code().is_none());
    assert_eq!(
        t.lab(
            &format!("/lab/devices/{D1}/call-back"),
            r#"{"number": "3000"}"#
        )
        .await
        .0,
        200
    );
    let user = |t: &TestServer| {
        let url = t.url();
        async move {
            serde_json::from_str::<serde_json::Value>(
                &http(&url, "GET", "/lab/users/bob", String::new()).await.1,
            )
            .unwrap()
        }
    };
    assert_eq!(user(&t).await["call_backs"], serde_json::json!(["3000"]));
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(user(&t).await["call_backs"], serde_json::json!([]));
    // An automatic logout cancels them too.
    assert!(t.login(D1, "bob").await.error_code().is_none());
    t.lab(
        &format!("/lab/devices/{D1}/call-back"),
        r#"{"number": "3001"}"#,
    )
    .await;
    t.lab(&format!("/lab/devices/{D1}/logout"), "").await;
    assert_eq!(user(&t).await["call_backs"], serde_json::json!([]));
    // Nobody logged in: nothing to activate.
    assert_eq!(
        t.lab(
            &format!("/lab/devices/{D1}/call-back"),
            r#"{"number": "3000"}"#
        )
        .await
        .0,
        409
    );
}

#[tokio::test]
async fn log_10_dnd_set_while_logged_in_stays_with_the_user_not_the_device() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    let (status, body) = t
        .lab(
            &format!("/lab/devices/{D1}/dnd"),
            r#"{"status": true, "alert": "beep-only"}"#,
        )
        .await;
    assert_eq!(
        (status, body["saved_for_user"].as_str()),
        (200, Some("alice"))
    );
    let dnd = |c: emlab_protocol::config_file::DeviceConfig| c.dnd.map(|d| (d.status, d.alert));
    assert_eq!(
        dnd(t.config(D1).await),
        Some((true, "beep-only".to_string()))
    );
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(
        dnd(t.config(D1).await),
        None,
        "the device's own setting is untouched"
    );
    // Back at the next login, on another phone.
    assert!(t.login(D2, "alice").await.error_code().is_none());
    assert_eq!(
        dnd(t.config(D2).await),
        Some((true, "beep-only".to_string()))
    );
    // DND pressed with nobody logged in is the device's own.
    t.lab(
        &format!("/lab/devices/{D1}/dnd"),
        r#"{"status": true, "alert": "ringer-off"}"#,
    )
    .await;
    assert_eq!(
        dnd(t.config(D1).await),
        Some((true, "ringer-off".to_string()))
    );
    assert_eq!(
        dnd(t.config(D2).await),
        Some((true, "beep-only".to_string()))
    );
    assert_eq!(
        t.lab(
            &format!("/lab/devices/{D1}/dnd"),
            r#"{"status": true, "alert": "loud"}"#
        )
        .await
        .0,
        400
    );
}

/// A huge clock advance saturates: the clock never goes back, timers all
/// fire, and the server carries on answering.
#[tokio::test]
async fn a_huge_clock_advance_saturates_and_the_server_carries_on() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "mona").await.error_code().is_none());
    let now = |body: &serde_json::Value| -> u64 { body["now_ms"].as_u64().unwrap() };
    let (status, first) = t.lab("/lab/clock/advance", r#"{"seconds": 60}"#).await;
    assert_eq!(status, 200);
    let (status, huge) = t
        .lab("/lab/clock/advance", r#"{"seconds": 18446744073709551615}"#)
        .await;
    assert_eq!(status, 200, "{huge}");
    assert!(now(&huge) >= now(&first), "{first} then {huge}");
    let (_, again) = t.lab("/lab/clock/advance", r#"{"seconds": 1000}"#).await;
    assert_eq!(now(&again), u64::MAX);
    // Every timer fired and the server still serves: a fresh login works.
    assert!(t.login(D2, "bob").await.error_code().is_none());
}

/// `em_logins_total` counts sessions: the same user logging in again where
/// they already are is not a second one.
#[tokio::test]
async fn a_same_user_relogin_counts_once() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "mona").await.error_code().is_none());
    let again = t.login(D1, "mona").await;
    assert!(again.error_code().is_none(), "{again:?}");
    assert!(
        t.metrics().await.contains("em_logins_total 1\n"),
        "{}",
        t.metrics().await
    );
    assert!(t.login(D2, "bob").await.error_code().is_none());
    assert!(t.metrics().await.contains("em_logins_total 2\n"));
}

/// The Change Credential service's screen for `query`, as the phone gets it.
async fn change_credential(t: &TestServer, query: &str) -> PhoneObject {
    let (status, _, body) =
        phone_get(&t.url(), &format!("{CHANGE_CREDENTIAL_PATH}?{query}"), &[]).await;
    assert_eq!(status, 200, "{body}");
    PhoneObject::from_xml(&body).unwrap()
}

fn text(o: &PhoneObject) -> &str {
    match o {
        PhoneObject::Text(t) => &t.text,
        other => panic!("expected CiscoIPPhoneText, got {other:?}"),
    }
}

/// CRED-1: the service asks for user ID, current PIN, new PIN and its
/// confirmation; refuses a wrong current PIN (201), a new PIN that breaks
/// AUTH-4 or differs from its confirmation (213 with why); then the new
/// PIN logs in, and the old one only while the login's cache lasts.
#[tokio::test]
async fn cred_1_a_user_changes_the_pin_at_the_phone() {
    let t = TestServer::start("profile = \"ucm4\"", "").await;
    let PhoneObject::Input(form) = change_credential(&t, &format!("device={D1}")).await else {
        panic!("expected the form")
    };
    assert_eq!(form.title.as_deref(), Some("Change Credential"));
    let fields: Vec<(&str, &str)> = form
        .items
        .iter()
        .map(|i| (i.query_string_param.as_str(), i.input_flags.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("userid", "A"),
            ("oldpin", "NP"),
            ("newpin", "NP"),
            ("confirmpin", "NP")
        ]
    );
    assert!(
        form.url
            .ends_with(&format!("{CHANGE_CREDENTIAL_PATH}?device={D1}")),
        "{}",
        form.url
    );
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 0);
    assert!(t.logout(D1).await.error_code().is_none());
    let submit = |old: &str, new: &str, confirm: &str| {
        format!("device={D1}&userid=bob&oldpin={old}&newpin={new}&confirmpin={confirm}")
    };
    let cases = [
        (
            submit("99999", "55555", "55555"),
            // ucm4 phones show the API wording.
            "[201]-Authentication error",
        ),
        (
            submit("23456", "5555", "5555"),
            "[213]-Invalid new PIN: fewer than 5 digits",
        ),
        (
            submit("23456", "55555", "55556"),
            "[213]-Invalid new PIN: the confirmation differs",
        ),
        (submit("23456", "55555", "55555"), "PIN changed"),
    ];
    for (query, expected) in cases {
        assert_eq!(
            text(&change_credential(&t, &query).await),
            expected,
            "{query}"
        );
    }
    assert_eq!(
        phone_login(&t, D1, "bob", "23456").await,
        0,
        "the old PIN, cached for 2 minutes from the login that used it (AUTH-5)"
    );
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(phone_login(&t, D1, "bob", "55555").await, 0);
    assert!(t.logout(D1).await.error_code().is_none());
    t.advance_clock(3 * 60).await;
    assert_eq!(phone_login(&t, D1, "bob", "23456").await, 201);
    assert_eq!(phone_login(&t, D1, "bob", "55555").await, 0);
}

/// CRED-2: a must-change PIN gets 27 at login until the user changes it
/// through Change Credential; then the login succeeds.
#[tokio::test]
async fn cred_2_a_must_change_pin_logs_in_after_a_change_at_the_phone() {
    let t = TestServer::start("", "").await;
    assert_eq!(phone_login(&t, D1, "nina", "77777").await, 27);
    let changed = change_credential(
        &t,
        &format!("device={D1}&userid=nina&oldpin=77777&newpin=70707&confirmpin=70707"),
    )
    .await;
    assert_eq!(text(&changed), "PIN changed");
    assert_eq!(phone_login(&t, D1, "nina", "70707").await, 0);
    // Lab control flags a PIN must-change again.
    assert!(t.logout(D1).await.error_code().is_none());
    let (status, _) = t
        .lab(
            "/lab/users/nina/pin",
            r#"{"pin": "70707", "must_change": true}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(phone_login(&t, D1, "nina", "70707").await, 27);
}
