//! AUTH: who may log in, and with what.

use super::lab::*;
use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
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

pub async fn remember_last_user_prefills_the_prompt(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.clear(&[D1]).await;
    p.set_params(r#"{"remember_last_user": true}"#).await?;
    let result = async {
        let ip = phone_ip(14);
        let s = p
            .phone_screen(ip, &format!("device={D1}&userid=mona&seq=66666"))
            .await?;
        expect(
            Probe::code_of(&s).is_none(),
            "mona logs in",
            format!("{s:?}"),
        )?;
        p.clear(&[D1]).await;
        let prompt = p.phone_screen(ip, &format!("device={D1}")).await?;
        let default = match &prompt {
            emlab_protocol::phone_xml::PhoneObject::Input(i) => i
                .items
                .iter()
                .find(|it| it.query_string_param == "userid")
                .map(|it| it.default_value.clone()),
            _ => None,
        };
        expect_eq("userid DefaultValue", default.as_deref(), Some("mona"))
    }
    .await;
    p.set_params(r#"{"remember_last_user": false}"#).await?;
    p.clear(&[D1]).await;
    result
}

pub async fn the_old_pin_works_for_two_minutes(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.need_user("kiosk")?;
    p.clear(&[D1]).await;
    let ip = phone_ip(15);
    let login = |pin: &'static str| {
        let p = p.clone();
        async move {
            let s = p
                .phone_screen(ip, &format!("device={D1}&userid=kiosk&seq={pin}"))
                .await?;
            let code = Probe::code_of(&s).map_or("success".to_string(), |c| c.to_string());
            p.clear(&[D1]).await;
            Ok::<String, Stop>(code)
        }
    };
    let first = login("11111").await?;
    p.lab_post("users/kiosk/pin", r#"{"pin": "22222"}"#).await?;
    let cached = login("11111").await?;
    p.advance_clock(3 * 60).await?;
    let expired = login("11111").await?;
    let new = login("22222").await?;
    p.lab_post("users/kiosk/pin", r#"{"pin": "11111"}"#).await?;
    expect_eq(
        "(first, old PIN within 2 min, old PIN after 3 min, new PIN)",
        (
            first.as_str(),
            cached.as_str(),
            expired.as_str(),
            new.as_str(),
        ),
        ("success", "success", "201", "success"),
    )
}

/// ucm takes any keypad PIN; ucm4 wants 5+ digits and cme 4 to 8 digits.
pub async fn pin_rules_per_profile(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("dave")?;
    p.clear(&[D7905]).await;
    let s = p
        .phone_screen(
            phone_ip(16),
            &format!("device={D7905}&userid=dave&seq=ab%2312"),
        )
        .await?;
    p.clear(&[D7905]).await;
    let code = Probe::code_of(&s);
    match p.target.profile {
        emlab_protocol::ServerProfile::Ucm => {
            expect_eq("code for PIN `ab#12` (keypad characters)", code, None)
        }
        _ => expect_eq("code for PIN `ab#12` (not digits)", code, Some(201)),
    }
}
