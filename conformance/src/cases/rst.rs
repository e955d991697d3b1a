//! RST: restart versus reset, seen on the control channel.

use super::phone_ip;
use crate::case::{Stop, expect_eq};
use crate::probe::{Probe, sequence};
use crate::roles::*;
use std::sync::Arc;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

/// Logs `user` in on `device` (registered over SCCP) and returns what it was told.
async fn login_sequence(p: &Probe, device: &str, user: &str, ip: u8) -> Result<String, Stop> {
    p.clear(&[device]).await;
    let phone = p.sccp_phone(device, phone_ip(ip)).await?;
    phone.commands(QUIET).await;
    expect_eq("login", p.login(device, user).await.as_str(), "success")?;
    Ok(sequence(&phone.commands(QUIET).await))
}

pub async fn same_locale_and_modules_restart_only(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(RESTART_USER)?);
    let seq = login_sequence(&p, &phone, &user, 40).await;
    p.clear(&[&phone]).await;
    expect_eq("commands", seq?.as_str(), "restart")
}

pub async fn another_locale_restarts_then_resets(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(USER_WITH_LOCALE)?);
    // The user's own locale differs from the phone's (the role's contract);
    // the profile brings no modules to a phone that has none.
    let locale = p
        .lab_user(&user)
        .and_then(|u| u.locale.clone())
        .ok_or_else(|| crate::case::skip(format!("`user_with_locale` ({user}) has no locale")))?;
    let seq = login_sequence(&p, &phone, &user, 41).await;
    let c = p.config(&phone).await;
    p.clear(&[&phone]).await;
    expect_eq("commands", seq?.as_str(), "restart+reset")?;
    expect_eq(
        "userLocale in the reloaded config (RST-4)",
        c?.user_locale.name.as_str(),
        locale.as_str(),
    )
}

pub async fn another_module_set_restarts_then_resets(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(RESTART_PHONE)?, p.role(USER)?);
    // The user's profile brings add-on modules to a phone without one.
    let modules = p
        .first_profile_of(&user)
        .and_then(|name| p.lab_profile(&name).map(|pr| pr.modules.len()))
        .unwrap_or(0);
    if modules == 0 {
        return Err(crate::case::skip(format!(
            "`user` ({user}) has no add-on module in its profile"
        )));
    }
    let seq = login_sequence(&p, &phone, &user, 42).await;
    let c = p.config(&phone).await;
    p.clear(&[&phone]).await;
    expect_eq("commands", seq?.as_str(), "restart+reset")?;
    expect_eq(
        "add-on modules in the reloaded config (RST-4)",
        c?.add_on_modules.modules.len(),
        modules,
    )
}
