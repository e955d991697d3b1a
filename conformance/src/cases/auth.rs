//! AUTH: who may log in, and with what.

use super::lab::*;
use super::phone_ip;
use crate::case::{Stop, expect_eq};
use crate::probe::Probe;
use emlab_protocol::em_api::{AppInfo, Login, Message, Operation, Request};
use std::sync::Arc;

/// The `[N]` code the phone service shows for `query`.
async fn code(p: &Probe, n: u8, query: &str) -> Result<Option<u16>, Stop> {
    Ok(Probe::code_of(&p.phone_screen(phone_ip(n), query).await?))
}

pub async fn wrong_pin_gets_201(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("mona")?;
    p.clear(&[D1]).await;
    expect_eq(
        "code",
        code(&p, 10, &format!("device={D1}&userid=mona&seq=99999")).await?,
        Some(201),
    )
}

pub async fn unknown_user_gets_101(p: Arc<Probe>) -> Result<(), Stop> {
    p.clear(&[D1]).await;
    expect_eq(
        "code",
        code(&p, 11, &format!("device={D1}&userid=nobody&seq=12345")).await?,
        Some(101),
    )
}

pub async fn blank_pin_gets_202(p: Arc<Probe>) -> Result<(), Stop> {
    p.clear(&[D1]).await;
    expect_eq(
        "code",
        code(&p, 12, &format!("device={D1}&userid=mona&seq=")).await?,
        Some(202),
    )
}

pub async fn numeric_only_user_ids(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("bob")?;
    p.clear(&[D1]).await;
    p.set_params(r#"{"alphanumeric_user_id": false}"#).await?;
    let c = code(&p, 13, &format!("device={D1}&userid=bob&seq=23456")).await;
    p.set_params(r#"{"alphanumeric_user_id": true}"#).await?;
    p.clear(&[D1]).await;
    expect_eq("code for an alphanumeric ID", c?, Some(201))
}

pub async fn applications_need_credentials_and_proxy_rights(p: Arc<Probe>) -> Result<(), Stop> {
    p.clear(&[D1]).await;
    let as_app = |app: AppInfo| {
        Message::Request(Request::new(
            app,
            Operation::Login(Login {
                device_name: D1.into(),
                user_id: "mona".into(),
                ..Default::default()
            }),
        ))
    };
    let wrong = AppInfo::new(p.app.app_id.clone(), "not-the-certificate");
    let client = p.client_as(wrong.clone())?;
    let r = p.send_as(&client, &as_app(wrong)).await.label();
    expect_eq("wrong application certificate", r.as_str(), "3")?;
    let kiosk = AppInfo::new("kiosk", "kiosk-cert");
    let client = p.client_as(kiosk.clone())?;
    let r = p.send_as(&client, &as_app(kiosk)).await.label();
    expect_eq(
        "application without proxy rights, another user",
        r.as_str(),
        "10",
    )?;
    expect_eq("user on the device", p.user_on(D1).await?.as_str(), "none")
}
