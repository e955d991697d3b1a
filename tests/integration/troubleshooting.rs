//! The troubleshooting causes lab control plays (TRBL-1..4), each seen as
//! the seeds describe its symptom: through the EM API, a registered SCCP
//! phone and the configuration files.

use crate::control_channel::{FLEET0, FLEET1, RESTART, SccpPhone, TYPE_7960};
use crate::lab_control::phone_login;
use crate::support::*;
use emlab_protocol::em_api::DeviceUser;
use emlab_protocol::sccp::ResetType;

/// The user the EM API says is on `device`; empty for nobody.
async fn who(t: &TestServer, device: &str) -> String {
    match t.user_on(device).await {
        DeviceUser::User(u) => u,
        _ => String::new(),
    }
}

async fn play(t: &TestServer, cause: &str, on: bool) {
    let (status, body) = t
        .lab(
            "/lab/troubleshooting",
            &format!(r#"{{"cause": "{cause}", "on": {on}}}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn trbl_1_clocks_out_of_sync_log_users_out_every_five_minutes() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    play(&t, "clock-skew", true).await;
    // A login already in place ends 5 minutes after the clocks drifted.
    t.advance_clock(4 * 60 + 59).await;
    assert_eq!(who(&t, FLEET0).await, "user00000");
    t.advance_clock(2).await;
    assert_eq!(who(&t, FLEET0).await, "", "logged out at 5 minutes");
    assert_eq!(phone.resets().await, RESTART, "back to the logout profile");
    // Every new login ends 5 minutes after it began: "every 5 minutes".
    for _ in 0..2 {
        assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
        t.advance_clock(4 * 60 + 50).await;
        assert_eq!(who(&t, FLEET0).await, "user00000");
        t.advance_clock(11).await;
        assert_eq!(who(&t, FLEET0).await, "");
    }
    let metrics = t.metrics().await;
    assert!(
        metrics.contains("em_automatic_logouts_total 3"),
        "{metrics}"
    );
    // Clocks in sync again: logins last.
    play(&t, "clock-skew", false).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    t.advance_clock(60 * 60).await;
    assert_eq!(who(&t, FLEET0).await, "user00000");
}

#[tokio::test]
async fn trbl_2_a_publisher_switch_version_loses_every_login_until_it_is_active() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.login(FLEET1, "user00001").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    play(&t, "switch-version", true).await;
    assert_eq!(who(&t, FLEET0).await, "", "login data lost");
    assert_eq!(who(&t, FLEET1).await, "");
    assert_eq!(
        phone.resets().await,
        RESTART,
        "logged out: the logout profile"
    );
    let refused = t.login(FLEET0, "user00000").await;
    assert_eq!(failure(&refused), (6, "Database Error"));
    assert_eq!(
        phone_login(&t, FLEET0, "user00000", "100000").await,
        6,
        "the phone shows [6] too"
    );
    play(&t, "switch-version", false).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(who(&t, FLEET0).await, "user00000");
}

#[tokio::test]
async fn trbl_3_a_callmanager_resolved_by_dns_resets_phones_instead_of_restarting() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    play(&t, "dns-callmanager", true).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, [ResetType::Reset], "at login");
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(phone.resets().await, [ResetType::Reset], "at logout");
    play(&t, "dns-callmanager", false).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART, "by IP address again");
}

#[tokio::test]
async fn trbl_4_without_a_logout_profile_the_phone_gets_no_configuration_after_logout() {
    let t = TestServer::start("", "").await;
    let file = format!("/{FLEET0}.cnf.xml");
    let config = |t: &TestServer| {
        let base = t.server.config_url();
        let file = file.clone();
        async move { http(&base, "GET", &file, String::new()).await.0 }
    };
    play(&t, "no-logout-profile", true).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(t.config(FLEET0).await.login_user_id, "user00000");
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(
        config(&t).await,
        404,
        "nothing to load: the phone stays Registering"
    );
    play(&t, "no-logout-profile", false).await;
    assert_eq!(config(&t).await, 200);
    assert_eq!(t.config(FLEET0).await.login_user_id, "");
}

#[tokio::test]
async fn an_unknown_troubleshooting_cause_is_refused_naming_the_known_ones() {
    let t = TestServer::start("", "").await;
    let (status, body) = t
        .lab(
            "/lab/troubleshooting",
            r#"{"cause": "sunspots", "on": true}"#,
        )
        .await;
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("sunspots") && error.contains("no-logout-profile"),
        "{error}"
    );
    play(&t, "dns-callmanager", true).await;
    let (_, listed) = http(&t.url(), "GET", "/lab/troubleshooting", String::new()).await;
    assert_eq!(listed, r#"{"playing":["dns-callmanager"]}"#);
}
