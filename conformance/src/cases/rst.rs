//! RST: restart versus reset, seen on the control channel.

use super::lab::*;
use super::phone_ip;
use crate::case::{Stop, expect_eq};
use crate::probe::{Probe, sequence};
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
    p.need_user("user00002")?;
    let seq = login_sequence(&p, FLEET2, "user00002", 40).await;
    p.clear(&[FLEET2]).await;
    expect_eq("commands", seq?.as_str(), "restart")
}

pub async fn another_locale_restarts_then_resets(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("bob")?;
    // bob is German; the generated 7960 runs English with no modules, as bob's profile has none.
    let seq = login_sequence(&p, FLEET2, "bob", 41).await;
    let c = p.config(FLEET2).await;
    p.clear(&[FLEET2]).await;
    expect_eq("commands", seq?.as_str(), "restart+reset")?;
    expect_eq(
        "userLocale in the reloaded config (RST-4)",
        c?.user_locale.name.as_str(),
        "German_Germany",
    )
}

pub async fn another_module_set_restarts_then_resets(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("mona")?;
    // mona (English) brings a 7914 to a generated 7960 without one.
    let seq = login_sequence(&p, FLEET2, "mona", 42).await;
    let c = p.config(FLEET2).await;
    p.clear(&[FLEET2]).await;
    expect_eq("commands", seq?.as_str(), "restart+reset")?;
    expect_eq(
        "add-on modules in the reloaded config (RST-4)",
        c?.add_on_modules.modules.len(),
        1,
    )
}
