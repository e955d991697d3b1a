//! TRBL: the causes of the seeds' troubleshooting tables, played through
//! lab control (`POST /lab/troubleshooting`), each checked by the symptom
//! the seed describes, then switched off again and checked gone.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq, fail};
use crate::probe::{Probe, sequence};
use crate::roles::*;
use std::sync::Arc;
use std::time::Duration;

/// How long to listen for what the phone is told.
const QUIET: Duration = Duration::from_millis(300);

/// Plays (`on`) or stops a cause.
async fn play(p: &Probe, cause: &str, on: bool) -> Result<(), Stop> {
    let body = format!(r#"{{"cause": "{cause}", "on": {on}}}"#);
    match p.lab_post("troubleshooting", &body).await? {
        200 => Ok(()),
        status => Err(fail("200 from /lab/troubleshooting", status.to_string())),
    }
}

pub async fn clock_skew_logs_users_out_every_five_minutes(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    p.clear(&[&phone]).await;
    let sccp = p.sccp_phone(&phone, phone_ip(80)).await?;
    play(&p, "clock-skew", true).await?;
    // Two logins in a row: each ends 5 minutes after it began.
    let mut rounds = Vec::new();
    for _ in 0..2 {
        let login = p.login(&phone, &user).await;
        sccp.commands(QUIET).await;
        p.advance_clock(4 * 60 + 50).await?;
        let before = p.user_on(&phone).await?;
        p.advance_clock(11).await?;
        let after = p.user_on(&phone).await?;
        let commands = sequence(&sccp.commands(QUIET).await);
        rounds.push((login, before, after, commands));
    }
    play(&p, "clock-skew", false).await?;
    let login = p.login(&phone, &user).await;
    p.advance_clock(10 * 60).await?;
    let in_sync = p.user_on(&phone).await;
    p.clear(&[&phone]).await;
    for (login, before, after, commands) in rounds {
        expect_eq("login", login.as_str(), "success")?;
        expect_eq("user at 4:50", before.as_str(), user.as_str())?;
        expect_eq("user at 5:01", after.as_str(), "none")?;
        expect_eq(
            "commands at the logout (back to the logout profile)",
            commands.as_str(),
            "restart",
        )?;
    }
    expect_eq("login with the clocks in sync", login.as_str(), "success")?;
    expect_eq(
        "user 10 minutes later, clocks in sync",
        in_sync?.as_str(),
        user.as_str(),
    )
}

pub async fn switch_version_loses_every_login_until_the_publisher_is_back(
    p: Arc<Probe>,
) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    let (second, second_user) = (p.role(SECOND_PHONE)?, p.role(SECOND_USER)?);
    p.clear(&[&phone, &second]).await;
    let sccp = p.sccp_phone(&phone, phone_ip(81)).await?;
    let logins = (
        p.login(&phone, &user).await,
        p.login(&second, &second_user).await,
    );
    sccp.commands(QUIET).await;
    play(&p, "switch-version", true).await?;
    let lost = (p.user_on(&phone).await, p.user_on(&second).await);
    let commands = sequence(&sccp.commands(QUIET).await);
    let during = p.login(&phone, &user).await;
    play(&p, "switch-version", false).await?;
    let after = p.login(&phone, &user).await;
    let back = p.user_on(&phone).await;
    p.clear(&[&phone, &second]).await;
    expect_eq(
        "logins before the switch version",
        (logins.0.as_str(), logins.1.as_str()),
        ("success", "success"),
    )?;
    expect_eq(
        "users on both devices once the publisher is inactive",
        (lost.0?.as_str(), lost.1?.as_str()),
        ("none", "none"),
    )?;
    expect_eq(
        "commands to the phone (logged out: its logout profile)",
        commands.as_str(),
        "restart",
    )?;
    expect_eq(
        "login during the switch version (6 Database Error)",
        during.as_str(),
        "6",
    )?;
    expect_eq(
        "login once the publisher is active",
        after.as_str(),
        "success",
    )?;
    expect_eq("user after logging in again", back?.as_str(), user.as_str())
}

pub async fn dns_callmanager_resets_instead_of_restarting(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    p.clear(&[&phone]).await;
    let sccp = p.sccp_phone(&phone, phone_ip(82)).await?;
    play(&p, "dns-callmanager", true).await?;
    let login = p.login(&phone, &user).await;
    let at_login = sequence(&sccp.commands(QUIET).await);
    let logout = p.logout(&phone).await;
    let at_logout = sequence(&sccp.commands(QUIET).await);
    play(&p, "dns-callmanager", false).await?;
    let again = p.login(&phone, &user).await;
    let by_address = sequence(&sccp.commands(QUIET).await);
    p.clear(&[&phone]).await;
    expect_eq(
        "(login, logout, login by address)",
        (login.as_str(), logout.as_str(), again.as_str()),
        ("success", "success", "success"),
    )?;
    expect_eq(
        "commands at (login, logout) while the CallManager is found by DNS",
        (at_login.as_str(), at_logout.as_str()),
        ("reset", "reset"),
    )?;
    expect_eq(
        "commands at login with the CallManager by address",
        by_address.as_str(),
        "restart",
    )
}

pub async fn no_logout_profile_leaves_the_phone_registering(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    p.clear(&[&phone]).await;
    play(&p, "no-logout-profile", true).await?;
    let login = p.login(&phone, &user).await;
    let logged_in = p.config(&phone).await.map(|c| c.login_user_id);
    let logout = p.logout(&phone).await;
    let after_logout = p.config(&phone).await;
    play(&p, "no-logout-profile", false).await?;
    let restored = p.config(&phone).await.map(|c| c.login_user_id);
    expect_eq(
        "(login, logout)",
        (login.as_str(), logout.as_str()),
        ("success", "success"),
    )?;
    expect_eq(
        "loginUserId while logged in",
        logged_in?.as_str(),
        user.as_str(),
    )?;
    expect(
        after_logout.is_err(),
        "no configuration file to load after the logout: the phone stays Registering",
        "a configuration file",
    )?;
    expect_eq(
        "loginUserId with the logout profile assigned again",
        restored?.as_str(),
        "",
    )
}
