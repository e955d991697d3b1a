//! PROF: device profiles, logout profiles and locales.

use super::lab::*;
use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use std::sync::Arc;

pub async fn adp_when_nobody_is_logged_in(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_device(D1)?;
    p.clear(&[D1]).await;
    let c = p.config(D1).await?;
    expect_eq("emProfile", c.em_profile.as_str(), "ADP000000000001")?;
    expect_eq("loginUserId", c.login_user_id.as_str(), "")
}

pub async fn no_profile_gets_205(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("carol")?;
    p.clear(&[D1]).await;
    let s = p
        .phone_screen(phone_ip(20), &format!("device={D1}&userid=carol&seq=34567"))
        .await?;
    expect_eq("code", Probe::code_of(&s), Some(205))
}

pub async fn disabled_device_gets_22(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_device(D_DISABLED)?;
    expect_eq(
        "login on a device with EM disabled",
        p.login(D_DISABLED, "mona").await.as_str(),
        "22",
    )
}

pub async fn the_users_locale_wins_and_the_config_follows(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("bob")?;
    p.clear(&[D1]).await;
    expect_eq("login", p.login(D1, "bob").await.as_str(), "success")?;
    let c = p.config(D1).await?;
    p.clear(&[D1]).await;
    expect_eq("emProfile", c.em_profile.as_str(), "bob-7960")?;
    expect_eq("loginUserId", c.login_user_id.as_str(), "bob")?;
    expect_eq(
        "userLocale (bob's own wins over profile and device)",
        c.user_locale.name.as_str(),
        "German_Germany",
    )
}

pub async fn cross_model_login_keeps_lines_drops_modules(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_device(D7905)?;
    p.clear(&[D7905]).await;
    expect_eq("login", p.login(D7905, "mona").await.as_str(), "success")?;
    let c = p.config(D7905).await?;
    p.clear(&[D7905]).await;
    expect_eq(
        "add-on modules on a 7905",
        c.add_on_modules.modules.len(),
        0,
    )?;
    let first = c
        .buttons
        .buttons
        .iter()
        .find(|b| b.kind == "line")
        .map(|b| b.number.clone());
    expect(
        first.as_deref() == Some("6000"),
        "mona's line 6000",
        format!("{first:?}"),
    )
}
