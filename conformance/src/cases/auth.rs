//! AUTH: who may log in, and with what.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use emlab_protocol::em_api::{AppInfo, Login, Message, Operation, Request};
use emlab_protocol::phone_xml::PhoneObject;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The `[N]` code the phone service shows for `query`.
async fn code(p: &Probe, n: u8, query: &str) -> Result<Option<u16>, Stop> {
    Ok(Probe::code_of(&p.phone_screen(phone_ip(n), query).await?))
}

pub async fn wrong_pin_gets_201(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    p.clear(&[&d1]).await;
    // Any PIN but the user's.
    let wrong = if p.pin_of(&user) == "99999" {
        "99998"
    } else {
        "99999"
    };
    expect_eq(
        "code",
        code(&p, 10, &format!("device={d1}&userid={user}&seq={wrong}")).await?,
        Some(201),
    )
}

pub async fn unknown_user_gets_101(p: Arc<Probe>) -> Result<(), Stop> {
    let d1 = p.role(PHONE)?;
    p.clear(&[&d1]).await;
    expect_eq(
        "code",
        code(&p, 11, &format!("device={d1}&userid=nobody&seq=12345")).await?,
        Some(101),
    )
}

pub async fn blank_pin_gets_202(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    p.clear(&[&d1]).await;
    expect_eq(
        "code",
        code(&p, 12, &format!("device={d1}&userid={user}&seq=")).await?,
        Some(202),
    )
}

pub async fn numeric_only_user_ids(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER_WITH_LOCALE)?);
    if user.chars().all(|c| c.is_ascii_digit()) {
        return Err(crate::case::skip(format!(
            "`user_with_locale` ({user}) must have an alphanumeric ID for this case"
        )));
    }
    p.clear(&[&d1]).await;
    p.set_params(r#"{"alphanumeric_user_id": false}"#).await?;
    let pin = p.pin_of(&user);
    let c = code(&p, 13, &format!("device={d1}&userid={user}&seq={pin}")).await;
    p.set_params(r#"{"alphanumeric_user_id": true}"#).await?;
    p.clear(&[&d1]).await;
    expect_eq("code for an alphanumeric ID", c?, Some(201))
}

pub async fn applications_need_credentials_and_proxy_rights(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let other_app = p.role(APP_WITHOUT_PROXY_RIGHTS)?;
    let other_cert = p
        .target
        .lab
        .file
        .application
        .iter()
        .find(|a| a.id == other_app)
        .map(|a| a.certificate.clone())
        .unwrap_or_default();
    p.clear(&[&d1]).await;
    let as_app = |app: AppInfo| {
        Message::Request(Request::new(
            app,
            Operation::Login(Login {
                device_name: d1.clone(),
                user_id: user.clone(),
                ..Default::default()
            }),
        ))
    };
    let wrong = AppInfo::new(p.app.app_id.clone(), "not-the-certificate");
    let client = p.client_as(wrong.clone())?;
    let r = p.send_as(&client, &as_app(wrong)).await.label();
    expect_eq("wrong application certificate", r.as_str(), "3")?;
    let limited = AppInfo::new(other_app, other_cert);
    let client = p.client_as(limited.clone())?;
    let r = p.send_as(&client, &as_app(limited)).await.label();
    expect_eq(
        "application without proxy rights, another user",
        r.as_str(),
        "10",
    )?;
    expect_eq("user on the device", p.user_on(&d1).await?.as_str(), "none")
}

pub async fn remember_last_user_prefills_the_prompt(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    p.clear(&[&d1]).await;
    p.set_params(r#"{"remember_last_user": true}"#).await?;
    let result = async {
        let ip = phone_ip(14);
        let pin = p.pin_of(&user);
        let s = p
            .phone_screen(ip, &format!("device={d1}&userid={user}&seq={pin}"))
            .await?;
        expect(
            Probe::code_of(&s).is_none(),
            format!("{user} logs in"),
            s.to_string(),
        )?;
        p.clear(&[&d1]).await;
        let prompt = p.phone_screen(ip, &format!("device={d1}")).await?;
        let default = match &prompt {
            emlab_protocol::phone_xml::PhoneObject::Input(i) => i
                .items
                .iter()
                .find(|it| it.query_string_param == "userid")
                .map(|it| it.default_value.clone()),
            _ => None,
        };
        expect_eq(
            "userid DefaultValue",
            default.as_deref(),
            Some(user.as_str()),
        )
    }
    .await;
    p.set_params(r#"{"remember_last_user": false}"#).await?;
    p.clear(&[&d1]).await;
    result
}

pub async fn the_old_pin_works_for_two_minutes(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(SECOND_USER)?);
    p.clear(&[&d1]).await;
    let ip = phone_ip(15);
    let old_pin = p.pin_of(&user);
    let new_pin = if old_pin == "22222" { "33333" } else { "22222" };
    let login = |pin: String| {
        let (p, d1, user) = (p.clone(), d1.clone(), user.clone());
        async move {
            let s = p
                .phone_screen(ip, &format!("device={d1}&userid={user}&seq={pin}"))
                .await?;
            let code = Probe::code_of(&s).map_or("success".to_string(), |c| c.to_string());
            p.clear(&[&d1]).await;
            Ok::<String, Stop>(code)
        }
    };
    let set_pin = |pin: &str| serde_json::json!({ "pin": pin }).to_string();
    let pin_path = format!("users/{}/pin", crate::probe::path_segment(&user));
    let first = login(old_pin.clone()).await?;
    p.lab_post(&pin_path, &set_pin(new_pin)).await?;
    // One minute on, the cache lets the old PIN in; that login does not
    // start the two minutes again (emlab's reading of seed A), so 90 s
    // later, 2.5 minutes after the login that used it, the old PIN is out.
    p.advance_clock(60).await?;
    let cached = login(old_pin.clone()).await?;
    p.advance_clock(90).await?;
    let expired = login(old_pin.clone()).await?;
    let new = login(new_pin.to_string()).await?;
    p.lab_post(&pin_path, &set_pin(&old_pin)).await?;
    expect_eq(
        "(first, old PIN 1 min later, old PIN 2.5 min after the first, new PIN)",
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
    let (phone, user) = (p.role(OTHER_MODEL_PHONE)?, p.role(KEYPAD_PIN_USER)?);
    p.clear(&[&phone]).await;
    let pin = p.pin_of(&user);
    let encoded: String = form_urlencoded::byte_serialize(pin.as_bytes()).collect();
    let s = p
        .phone_screen(
            phone_ip(16),
            &format!("device={phone}&userid={user}&seq={encoded}"),
        )
        .await?;
    p.clear(&[&phone]).await;
    let code = Probe::code_of(&s);
    match p.target.profile {
        emlab_protocol::ServerProfile::Ucm => expect_eq(
            &format!("code for PIN `{pin}` (keypad characters)"),
            code,
            None,
        ),
        _ => expect_eq(
            &format!("code for PIN `{pin}` (not digits)"),
            code,
            Some(201),
        ),
    }
}

/// What a screen says: `PIN changed`, `Login Successful`, an `[N]` code, or
/// the kind of object.
fn said(o: &PhoneObject) -> String {
    match o {
        PhoneObject::Text(t) => Probe::code_of(o).map_or_else(|| t.text.clone(), |c| c.to_string()),
        PhoneObject::Input(_) => "an input form".into(),
        other => format!("{other:?}"),
    }
}

/// A PIN that differs from `old` and has every profile's form (AUTH-4).
fn another_pin(old: &str) -> &'static str {
    if old == "22222" { "33333" } else { "22222" }
}

/// Puts the user's PIN back as the lab has it (lab control).
async fn restore_pin(p: &Probe, user: &str) -> Result<(), Stop> {
    let must_change = p.lab_user(user).is_some_and(|u| u.pin_must_change);
    let body = serde_json::json!({ "pin": p.pin_of(user), "must_change": must_change });
    let path = format!("users/{}/pin", crate::probe::path_segment(user));
    p.lab_post(&path, &body.to_string()).await.map(drop)
}

/// A phone login with `pin`: `Login Successful` or the `[N]` code.
async fn phone_login(
    p: &Probe,
    ip: Ipv4Addr,
    device: &str,
    user: &str,
    pin: &str,
) -> Result<String, Stop> {
    let s = p
        .phone_screen(ip, &format!("device={device}&userid={user}&seq={pin}"))
        .await?;
    p.clear(&[device]).await;
    Ok(said(&s))
}

pub async fn change_credential_at_the_phone(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(SECOND_USER)?);
    let ip = phone_ip(16);
    let old = p.pin_of(&user);
    let new = another_pin(&old);
    let form = p
        .change_credential_screen(ip, &format!("device={d1}"))
        .await?;
    let PhoneObject::Input(form) = form else {
        return Err(crate::case::fail("the Change Credential form", said(&form)));
    };
    let params: Vec<&str> = form
        .items
        .iter()
        .map(|i| i.query_string_param.as_str())
        .collect();
    expect_eq(
        "the form's fields",
        params.as_slice(),
        ["userid", "oldpin", "newpin", "confirmpin"].as_slice(),
    )?;
    let submit = |current: &str, new: &str, confirm: &str| {
        format!("device={d1}&userid={user}&oldpin={current}&newpin={new}&confirmpin={confirm}")
    };
    let wrong_current = said(
        &p.change_credential_screen(ip, &submit(another_pin(new), new, new))
            .await?,
    );
    let mismatch = said(
        &p.change_credential_screen(ip, &submit(&old, new, "24680"))
            .await?,
    );
    let changed = said(
        &p.change_credential_screen(ip, &submit(&old, new, new))
            .await?,
    );
    let login = phone_login(&p, ip, &d1, &user, new).await;
    restore_pin(&p, &user).await?;
    expect_eq(
        "(wrong current PIN, confirmation differs, good change, login with the new PIN)",
        (
            wrong_current.as_str(),
            mismatch.as_str(),
            changed.as_str(),
            login?.as_str(),
        ),
        ("201", "213", "PIN changed", "Login Successful"),
    )
}

pub async fn must_change_pin_logs_in_after_a_change(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(SECOND_USER)?);
    let ip = phone_ip(17);
    let old = p.pin_of(&user);
    let new = another_pin(&old);
    let path = format!("users/{}/pin", crate::probe::path_segment(&user));
    let flagged = serde_json::json!({ "pin": old, "must_change": true }).to_string();
    p.lab_post(&path, &flagged).await?;
    let before = phone_login(&p, ip, &d1, &user, &old).await;
    let query = format!("device={d1}&userid={user}&oldpin={old}&newpin={new}&confirmpin={new}");
    let changed = p
        .change_credential_screen(ip, &query)
        .await
        .map(|s| said(&s));
    let after = phone_login(&p, ip, &d1, &user, new).await;
    restore_pin(&p, &user).await?;
    expect_eq(
        "(login with a must-change PIN, its change at the phone, login with the new PIN)",
        (before?.as_str(), changed?.as_str(), after?.as_str()),
        ("27", "PIN changed", "Login Successful"),
    )
}

pub async fn cme_users_log_in_with_their_password(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(SECOND_PHONE)?, p.role(PASSWORD_USER)?);
    let u = p.lab_user(&user);
    let (Some(password), Some(pin)) = (
        u.and_then(|u| u.password.clone()),
        u.map(|u| u.pin.clone()).filter(|pin| !pin.is_empty()),
    ) else {
        return Err(crate::case::skip(format!(
            "`password_user` ({user}) needs both a `password` and a `pin`"
        )));
    };
    let ip = phone_ip(18);
    let with_pin = phone_login(&p, ip, &phone, &user, &pin).await?;
    let with_password = phone_login(&p, ip, &phone, &user, &password).await?;
    expect_eq(
        "(login with the call-blocking pin, login with the password)",
        (with_pin.as_str(), with_password.as_str()),
        ("201", "Login Successful"),
    )
}
