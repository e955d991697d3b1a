//! TIME: automatic logouts, on the lab clock.

use super::lab::*;
use crate::case::{Stop, expect_eq};
use crate::probe::Probe;
use std::sync::Arc;

pub async fn enforced_max_login_time_logs_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.clear(&[D1]).await;
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "0:10"}"#)
        .await?;
    // bob's profile has no idle timer, so only the login time can end it.
    let login = p.login(D1, "bob").await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(D1).await;
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    p.clear(&[D1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "user on the device after 11 minutes of a 10-minute limit",
        after?.as_str(),
        "none",
    )
}

pub async fn the_users_own_limit_wins(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.need_user("dave")?;
    p.clear(&[D2]).await;
    // dave may stay 0:10 whatever the service parameter (8:00, not enforced).
    let login = p.login(D2, "dave").await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(D2).await;
    p.clear(&[D2]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "dave on the device after 11 minutes",
        after?.as_str(),
        "none",
    )
}

pub async fn a_valid_max_login_time_turns_enforce_on(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.set_params(r#"{"enforce_max_login_time": false}"#).await?;
    p.set_params(r#"{"max_login_time": "2:00"}"#).await?;
    let v = p.lab_get("service-parameters").await;
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    let enforce = v?["enforce_max_login_time"].clone();
    expect_eq(
        "enforce_max_login_time after setting max_login_time",
        enforce,
        serde_json::json!(true),
    )
}

pub async fn an_idle_phone_is_logged_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.clear(&[D1]).await;
    // mona's profile has max-idle-time 10 minutes.
    let login = p.login(D1, "mona").await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(D1).await;
    p.clear(&[D1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq("mona after 11 idle minutes", after?.as_str(), "none")
}

pub async fn a_stopped_service_keeps_logins_past_expiry_until_a_day(
    p: Arc<Probe>,
) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.clear(&[D1]).await;
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "1:00"}"#)
        .await?;
    let login = p.login(D1, "bob").await;
    p.lab_post("em-service", r#"{"running": false}"#).await?;
    p.advance_clock(2 * 3600).await?;
    p.lab_post("em-service", r#"{"running": true}"#).await?;
    p.advance_clock(2 * 3600).await?;
    let after_expiry = p.user_on(D1).await;
    p.advance_clock(23 * 3600).await?;
    let after_a_day = p.user_on(D1).await;
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    p.clear(&[D1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "bob 3 h past a 1 h limit, across a service restart",
        after_expiry?.as_str(),
        "bob",
    )?;
    expect_eq("bob a day later", after_a_day?.as_str(), "none")
}

/// Whatever the lab's logout times, a day crosses each of them once.
pub async fn logout_times_log_everyone_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    if p.target.lab.file.server.logout_times.is_empty() {
        return Err(crate::case::skip("the lab's [server] has no logout_times"));
    }
    p.need_user("kiosk")?;
    p.clear(&[D1]).await;
    // kiosk's profile has no idle timer; cme enforces no maximum login time.
    let login = p.login(D1, "kiosk").await;
    p.advance_clock(24 * 3600 + 60).await?;
    let after = p.user_on(D1).await;
    p.clear(&[D1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "kiosk a day later, past every logout time",
        after?.as_str(),
        "none",
    )
}
