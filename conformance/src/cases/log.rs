//! LOG: logging in and out at the phone.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq, fail};
use crate::probe::{Probe, sequence};
use crate::roles::*;
use emlab_protocol::phone_xml::PhoneObject;
use emlab_protocol::sccp::ResetType;
use std::sync::Arc;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

pub async fn phone_login_replaces_config_and_restarts(p: Arc<Probe>) -> Result<(), Stop> {
    let (device, user) = (p.role(REGISTERING_PHONE)?, p.role(REGISTERING_USER)?);
    p.clear(&[&device]).await;
    let ip = phone_ip(1);
    let phone = p.sccp_phone(&device, ip).await?;
    let prompt = p.phone_screen(ip, &format!("device={device}")).await?;
    expect(
        matches!(prompt, PhoneObject::Input(_)),
        "the login prompt (CiscoIPPhoneInput)",
        prompt.to_string(),
    )?;
    let pin = p.pin_of(&user);
    let done = p
        .phone_screen(ip, &format!("device={device}&userid={user}&seq={pin}"))
        .await?;
    let ok = matches!(&done, PhoneObject::Text(t) if t.text == "Login Successful");
    expect(ok, "Login Successful", done.to_string())?;
    let seen = phone.commands(QUIET).await;
    expect(
        seen.first() == Some(&ResetType::Restart),
        "a restart",
        sequence(&seen),
    )?;
    let c = p.config(&device).await?;
    expect_eq("loginUserId", c.login_user_id.as_str(), user.as_str())?;
    p.clear(&[&device]).await;
    Ok(())
}

pub async fn logout_restores_the_logout_profile(p: Arc<Probe>) -> Result<(), Stop> {
    let (d2, user) = (p.role(SECOND_PHONE)?, p.role(USER)?);
    let logout_profile = p
        .lab_device(&d2)
        .map(|d| d.logout_profile.clone())
        .filter(|l| l != "auto")
        .ok_or_else(|| {
            crate::case::skip(format!(
                "`second_phone` ({d2}) has no logout profile of its own"
            ))
        })?;
    p.clear(&[&d2]).await;
    let phone = p.sccp_phone(&d2, phone_ip(2)).await?;
    expect_eq("login", p.login(&d2, &user).await.as_str(), "success")?;
    phone.commands(QUIET).await;
    expect_eq("logout", p.logout(&d2).await.as_str(), "success")?;
    let seen = phone.commands(QUIET).await;
    expect(
        seen.first() == Some(&ResetType::Restart),
        "a restart after logout",
        sequence(&seen),
    )?;
    let c = p.config(&d2).await?;
    expect_eq("emProfile", c.em_profile.as_str(), logout_profile.as_str())?;
    expect_eq("loginUserId", c.login_user_id.as_str(), "")
}

pub async fn a_logged_in_phone_offers_logout(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    p.clear(&[&d1]).await;
    expect_eq("login", p.login(&d1, &user).await.as_str(), "success")?;
    let ip = phone_ip(3);
    let screen = p.phone_screen(ip, &format!("device={d1}")).await?;
    let PhoneObject::Text(t) = &screen else {
        return Err(fail(
            format!("CiscoIPPhoneText `Logged in as {user}`"),
            screen.to_string(),
        ));
    };
    expect(
        t.text.contains(user.as_str()),
        format!("the text names {user}"),
        t.text.clone(),
    )?;
    let yes = t
        .soft_keys
        .iter()
        .find(|k| k.name == "Yes")
        .map(|k| k.url.clone());
    let yes = yes.ok_or_else(|| fail("a Yes soft key", screen.to_string()))?;
    expect(
        yes.contains("doLogout=true"),
        "Yes → doLogout=true",
        yes.clone(),
    )?;
    let done = p.get(ip, &yes).await;
    let _ = done;
    expect_eq(
        "user on the device after Yes",
        p.user_on(&d1).await?.as_str(),
        "none",
    )
}

pub async fn several_profiles_give_a_menu(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER_WITH_TWO_PROFILES)?);
    let pin = p.pin_of(&user);
    p.clear(&[&d1]).await;
    let screen = p
        .phone_screen(phone_ip(4), &format!("device={d1}&userid={user}&seq={pin}"))
        .await?;
    let PhoneObject::Menu(m) = &screen else {
        return Err(fail(
            "CiscoIPPhoneMenu `Select Profile`",
            screen.to_string(),
        ));
    };
    expect_eq("menu items", m.items.len(), 2)?;
    p.clear(&[&d1]).await;
    Ok(())
}

pub async fn login_types_dn_and_sp(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER_WITH_LOCALE)?);
    let entry = p.lab_user(&user).cloned();
    let (Some(dn), Some(sp)) = (
        entry.as_ref().and_then(|u| u.primary_extension.clone()),
        entry
            .as_ref()
            .and_then(|u| u.self_service_id.clone().or(u.primary_extension.clone())),
    ) else {
        return Err(crate::case::skip(format!(
            "`user_with_locale` ({user}) needs a primary extension and a self-service ID"
        )));
    };
    let pin = p.pin_of(&user);
    p.clear(&[&d1]).await;
    let ip = phone_ip(5);
    for (login_type, id) in [("DN", dn), ("SP", sp)] {
        let s = p
            .phone_screen(
                ip,
                &format!("device={d1}&loginType={login_type}&userid={id}&seq={pin}"),
            )
            .await?;
        let ok = matches!(&s, PhoneObject::Text(t) if t.text == "Login Successful");
        expect(
            ok,
            format!("loginType={login_type} logs {user} in"),
            s.to_string(),
        )?;
        expect_eq(
            "user on the device",
            p.user_on(&d1).await?.as_str(),
            user.as_str(),
        )?;
        p.clear(&[&d1]).await;
    }
    Ok(())
}

pub async fn off_hook_defers_the_restart(p: Arc<Probe>) -> Result<(), Stop> {
    let (device, user) = (p.role(PUSH_PHONE)?, p.role(PUSH_USER)?);
    p.clear(&[&device]).await;
    let phone = p.sccp_phone(&device, phone_ip(6)).await?;
    p.off_hook(&phone, true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    expect_eq("login", p.login(&device, &user).await.as_str(), "success")?;
    let early = phone.commands(QUIET).await;
    expect(
        early.is_empty(),
        "no restart while off-hook",
        sequence(&early),
    )?;
    p.off_hook(&phone, false);
    let later = phone.commands(QUIET).await;
    expect(
        later.first() == Some(&ResetType::Restart),
        "the restart once on-hook",
        sequence(&later),
    )?;
    p.clear(&[&device]).await;
    Ok(())
}

pub async fn an_administrator_may_log_any_device_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    p.clear(&[&d1]).await;
    expect_eq("login", p.login(&d1, &user).await.as_str(), "success")?;
    let status = p.lab_post(&format!("devices/{d1}/logout"), "{}").await?;
    expect_eq("administrator logout", status, 200)?;
    expect_eq("user on the device", p.user_on(&d1).await?.as_str(), "none")
}

pub async fn call_backs_end_at_logout(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let user_path = format!("users/{}", crate::probe::path_segment(&user));
    p.clear(&[&d1]).await;
    expect_eq("login", p.login(&d1, &user).await.as_str(), "success")?;
    expect_eq(
        "Call Back pressed",
        p.lab_post(&format!("devices/{d1}/call-back"), r#"{"number": "2002"}"#)
            .await?,
        200,
    )?;
    let during = p.lab_get(&user_path).await?["call_backs"].clone();
    expect_eq("logout", p.logout(&d1).await.as_str(), "success")?;
    let after = p.lab_get(&user_path).await?["call_backs"].clone();
    expect(
        during.as_array().is_some_and(|a| !a.is_empty()),
        "an active Call Back while logged in",
        during.to_string(),
    )?;
    expect(
        after.as_array().is_some_and(|a| a.is_empty()),
        "no Call Back after logout",
        after.to_string(),
    )
}

pub async fn dnd_follows_the_user(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(SECOND_USER)?);
    p.clear(&[&d1]).await;
    expect_eq("login", p.login(&d1, &user).await.as_str(), "success")?;
    p.lab_post(
        &format!("devices/{d1}/dnd"),
        r#"{"status": true, "alert": "beep-only"}"#,
    )
    .await?;
    expect_eq("logout", p.logout(&d1).await.as_str(), "success")?;
    let logged_out = p.config(&d1).await?.dnd.map(|d| d.status);
    expect_eq("login again", p.login(&d1, &user).await.as_str(), "success")?;
    let back = p.config(&d1).await?.dnd.map(|d| (d.status, d.alert));
    p.clear(&[&d1]).await;
    expect(
        logged_out != Some(true),
        "the device's own DND untouched after logout",
        crate::case::readable(&logged_out),
    )?;
    expect_eq(
        "DND restored at the next login",
        back,
        Some((true, "beep-only".to_string())),
    )
}
