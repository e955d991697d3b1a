//! URL: the service URL and how errors look.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use emlab_protocol::phone_xml::PhoneObject;
use std::sync::Arc;

pub async fn missing_device_gets_207(p: Arc<Probe>) -> Result<(), Stop> {
    let s = p.phone_screen(phone_ip(70), "userid=mona").await?;
    expect_eq("code", Probe::code_of(&s), Some(207))
}

pub async fn missing_device_gets_100(p: Arc<Probe>) -> Result<(), Stop> {
    let s = p.phone_screen(phone_ip(71), "userid=mona").await?;
    expect_eq("code", Probe::code_of(&s), Some(100))
}

pub async fn em_api_down_gets_208(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let pin = p.pin_of(&user);
    p.clear(&[&d1]).await;
    p.lab_post("em-api", r#"{"running": false}"#).await?;
    let s = p
        .phone_screen(
            phone_ip(72),
            &format!("device={d1}&userid={user}&seq={pin}"),
        )
        .await;
    p.lab_post("em-api", r#"{"running": true}"#).await?;
    p.clear(&[&d1]).await;
    expect_eq("code", Probe::code_of(&s?), Some(208))
}

pub async fn errors_carry_number_and_text(p: Arc<Probe>) -> Result<(), Stop> {
    // An unparsable EM API request gets code 1, never a crash.
    let reply = p.send_raw("xml=%3Crequest%3E%3Cnot-closed").await;
    expect_eq("EM API answer to unparsable XML", reply.as_str(), "1")?;
    // A phone error is `[N]-text`: here a wrong PIN.
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let wrong = if p.pin_of(&user) == "1" { "2" } else { "1" };
    p.clear(&[&d1]).await;
    let s = p
        .phone_screen(
            phone_ip(73),
            &format!("device={d1}&userid={user}&seq={wrong}"),
        )
        .await?;
    let text = match &s {
        PhoneObject::Text(t) => t.text.clone(),
        other => other.to_string(),
    };
    expect(
        text.starts_with('[') && text.contains("]-"),
        "an error text `[N]-text`",
        text,
    )
}

pub async fn the_service_url_is_case_sensitive(p: Arc<Probe>) -> Result<(), Stop> {
    // `Device=` is not `device=`: the device name is missing.
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let pin = p.pin_of(&user);
    p.clear(&[&d1]).await;
    let s = p
        .phone_screen(
            phone_ip(74),
            &format!("Device={d1}&userid={user}&seq={pin}"),
        )
        .await?;
    expect(
        Probe::code_of(&s).is_some(),
        "an error screen for `Device=`",
        s.to_string(),
    )?;
    expect_eq("user on the device", p.user_on(&d1).await?.as_str(), "none")
}
