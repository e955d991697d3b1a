//! MULTI: one user, several devices.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::{Probe, sequence};
use crate::roles::*;
use std::sync::Arc;
use std::time::Duration;

/// How long to listen for what a phone is told.
const QUIET: Duration = Duration::from_millis(300);

pub async fn second_device_gets_25(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, d2, user) = (p.role(PHONE)?, p.role(SECOND_PHONE)?, p.role(USER)?);
    p.clear(&[&d1, &d2]).await;
    expect_eq("first login", p.login(&d1, &user).await.as_str(), "success")?;
    let second = p.login(&d2, &user).await;
    p.clear(&[&d1, &d2]).await;
    expect_eq("second device", second.as_str(), "25")
}

/// `user` logs in on `phone` then `second_phone` under `behavior`; both
/// answers and who is left on the first. The parameter goes back to
/// `not-allowed` afterwards.
async fn one_user_on_two_devices(
    p: &Probe,
    behavior: &str,
) -> Result<(String, String, Result<String, Stop>), Stop> {
    let (d1, d2, user) = (p.role(PHONE)?, p.role(SECOND_PHONE)?, p.role(USER)?);
    p.clear(&[&d1, &d2]).await;
    p.set_params(&format!(r#"{{"multiple_login_behavior": "{behavior}"}}"#))
        .await?;
    let a = p.login(&d1, &user).await;
    let b = p.login(&d2, &user).await;
    let first = p.user_on(&d1).await;
    p.clear(&[&d1, &d2]).await;
    p.set_params(r#"{"multiple_login_behavior": "not-allowed"}"#)
        .await?;
    Ok((a, b, first))
}

pub async fn allowed_lets_the_user_on_both(p: Arc<Probe>) -> Result<(), Stop> {
    let (a, b, _) = one_user_on_two_devices(&p, "allowed").await?;
    expect_eq(
        "both logins",
        (a.as_str(), b.as_str()),
        ("success", "success"),
    )
}

pub async fn auto_logout_frees_the_first_device(p: Arc<Probe>) -> Result<(), Stop> {
    // Two phones the harness registers, so the first one's commands show.
    let (first, second, user) = (
        p.role(RESTART_PHONE)?,
        p.role(REGISTERING_PHONE)?,
        p.role(RESTART_USER)?,
    );
    let logout_profile = match p.lab_device(&first).map(|d| d.logout_profile.as_str()) {
        Some(name) if name != "auto" => name.to_string(),
        _ => format!("ADP{}", &first[3..]),
    };
    p.clear(&[&first, &second]).await;
    // cme knows only auto-logout (MULTI-3); the parameter is CallManager's.
    p.set_params(r#"{"multiple_login_behavior": "auto-logout"}"#)
        .await?;
    let phone = p.sccp_phone(&first, phone_ip(46)).await?;
    let a = p.login(&first, &user).await;
    phone.commands(QUIET).await;
    let b = p.login(&second, &user).await;
    let left = p.user_on(&first).await;
    let told = sequence(&phone.commands(QUIET).await);
    let config = p.config(&first).await;
    p.clear(&[&first, &second]).await;
    p.set_params(r#"{"multiple_login_behavior": "not-allowed"}"#)
        .await?;
    expect_eq(
        "both logins",
        (a.as_str(), b.as_str()),
        ("success", "success"),
    )?;
    expect_eq("user left on the first device", left?.as_str(), "none")?;
    expect(
        told.starts_with("restart"),
        "the first device restarts",
        told.clone(),
    )?;
    expect_eq(
        "the first device's profile after its restart",
        config?.em_profile.as_str(),
        logout_profile.as_str(),
    )
}

pub async fn concurrent_logins_leave_one_device(p: Arc<Probe>) -> Result<(), Stop> {
    let user = p.role(USER)?;
    let devices: Vec<String> = p
        .target
        .lab
        .fleet_members()
        .skip(10)
        .take(40)
        .map(|m| m.device_name)
        .collect();
    if devices.len() < 40 {
        return Err(crate::case::skip(
            "the lab's [fleet] has fewer than 50 devices",
        ));
    }
    let refs: Vec<&str> = devices.iter().map(String::as_str).collect();
    p.clear(&refs).await;
    let mut tasks = tokio::task::JoinSet::new();
    for d in &devices {
        let (p, d, user) = (p.clone(), d.clone(), user.clone());
        tasks.spawn(async move { p.login(&d, &user).await });
    }
    let mut successes = 0;
    while let Some(r) = tasks.join_next().await {
        if r.map(|l| l == "success").unwrap_or(false) {
            successes += 1;
        }
    }
    p.clear(&refs).await;
    expect(
        successes == 1,
        "exactly 1 of 40 simultaneous logins succeeds",
        format!("{successes} succeeded"),
    )
}

pub async fn another_user_on_the_device_gets_18(p: Arc<Probe>) -> Result<(), Stop> {
    let (d1, user, other) = (p.role(PHONE)?, p.role(USER)?, p.role(USER_WITH_LOCALE)?);
    p.clear(&[&d1]).await;
    expect_eq("first login", p.login(&d1, &user).await.as_str(), "success")?;
    let second = p.login(&d1, &other).await;
    p.clear(&[&d1]).await;
    expect_eq(
        "another user on the same device (ucm4)",
        second.as_str(),
        "18",
    )
}
