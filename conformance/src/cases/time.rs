//! TIME: automatic logouts, on the lab clock.

use super::phone_ip;
use crate::case::{Stop, expect_eq};
use crate::probe::{Probe, sequence};
use crate::roles::*;
use emlab_protocol::ServerProfile;
use std::sync::Arc;
use std::time::Duration;

/// How long to listen for what the phone is told.
const QUIET: Duration = Duration::from_millis(300);

pub async fn enforced_max_login_time_logs_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    // A phone the harness registers, and a user whose login only restarts
    // it: the automatic logout must restart it too.
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    p.clear(&[&phone]).await;
    // The range: 0:00-168:00 under ucm, 0:01-168:00 under ucm4; `:30` is valid.
    let status = |time: &str| {
        let body = format!(r#"{{"enforce_max_login_time": false, "max_login_time": "{time}"}}"#);
        let p = p.clone();
        async move { p.lab_post("service-parameters", &body).await }
    };
    let bounds = (
        status("168:01").await?,
        status("0:00").await?,
        status(":30").await?,
    );
    let zero = if p.target.profile == ServerProfile::Ucm4 {
        400
    } else {
        200
    };
    // Enforce False: the time is not applied.
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "0:10"}"#)
        .await?;
    let login = p.login(&phone, &user).await;
    p.advance_clock(11 * 60).await?;
    let unenforced = p.user_on(&phone).await;
    p.clear(&[&phone]).await;
    // Enforce True: logged out at the limit, and the phone restarts.
    let sccp = p.sccp_phone(&phone, phone_ip(45)).await?;
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "0:10"}"#)
        .await?;
    let enforced_login = p.login(&phone, &user).await;
    sccp.commands(QUIET).await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(&phone).await;
    let commands = sequence(&sccp.commands(QUIET).await);
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    p.clear(&[&phone]).await;
    expect_eq(
        "HTTP status for 168:01, 0:00 and :30",
        bounds,
        (400, zero, 200),
    )?;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "user on the device after 11 minutes of an unenforced 10-minute limit",
        unenforced?.as_str(),
        user.as_str(),
    )?;
    expect_eq("login", enforced_login.as_str(), "success")?;
    expect_eq(
        "user on the device after 11 minutes of a 10-minute limit",
        after?.as_str(),
        "none",
    )?;
    expect_eq(
        "what the automatic logout told the phone",
        commands.as_str(),
        "restart",
    )
}

pub async fn the_users_own_limit_wins(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d2, user) = (p.role(SECOND_PHONE)?, p.role(KEYPAD_PIN_USER)?);
    let own = p
        .lab_user(&user)
        .and_then(|u| u.max_login_time.clone())
        .and_then(|t| emlab_protocol::lab::parse_login_time(&t).ok())
        .ok_or_else(|| {
            crate::case::skip(format!(
                "`keypad_pin_user` ({user}) has no max_login_time of its own"
            ))
        })?;
    p.clear(&[&d2]).await;
    // The user's own limit, whatever the service parameter (8:00, not enforced).
    let login = p.login(&d2, &user).await;
    p.advance_clock(u64::from(own) * 60 + 60).await?;
    let after = p.user_on(&d2).await;
    p.clear(&[&d2]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        &format!("{user} on the device a minute past their own limit"),
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
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let idle = p
        .first_profile_of(&user)
        .and_then(|name| p.lab_profile(&name).and_then(|pr| pr.max_idle_time))
        .ok_or_else(|| {
            crate::case::skip(format!(
                "`user` ({user}) has no max_idle_time in its profile"
            ))
        })?;
    p.clear(&[&d1]).await;
    let login = p.login(&d1, &user).await;
    p.advance_clock(u64::from(idle) * 60 + 60).await?;
    let after = p.user_on(&d1).await;
    p.clear(&[&d1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        &format!("{user} a minute past {idle} idle minutes"),
        after?.as_str(),
        "none",
    )
}

pub async fn a_stopped_service_keeps_logins_past_expiry_until_a_day(
    p: Arc<Probe>,
) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER_WITH_LOCALE)?);
    p.clear(&[&d1]).await;
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "1:00"}"#)
        .await?;
    let login = p.login(&d1, &user).await;
    p.lab_post("em-service", r#"{"running": false}"#).await?;
    p.advance_clock(2 * 3600).await?;
    p.lab_post("em-service", r#"{"running": true}"#).await?;
    p.advance_clock(2 * 3600).await?;
    let after_expiry = p.user_on(&d1).await;
    p.advance_clock(23 * 3600).await?;
    let after_a_day = p.user_on(&d1).await;
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    p.clear(&[&d1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "the user 3 h past a 1 h limit, across a service restart",
        after_expiry?.as_str(),
        user.as_str(),
    )?;
    expect_eq("the user a day later", after_a_day?.as_str(), "none")
}

/// Whatever the lab's logout times, a day crosses each of them once.
pub async fn logout_times_log_everyone_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    if p.target.lab.file.server.logout_times.is_empty() {
        return Err(crate::case::skip("the lab's [server] has no logout_times"));
    }
    let (d1, user) = (p.role(PHONE)?, p.role(SECOND_USER)?);
    p.clear(&[&d1]).await;
    // The role's profile has no idle timer; cme enforces no maximum login time.
    let login = p.login(&d1, &user).await;
    p.advance_clock(24 * 3600 + 60).await?;
    let after = p.user_on(&d1).await;
    p.clear(&[&d1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "the user a day later, past every logout time",
        after?.as_str(),
        "none",
    )
}
