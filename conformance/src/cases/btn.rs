//! BTN: which buttons a phone gets.

use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use std::sync::Arc;

pub async fn entries_beyond_the_phone_are_dropped(p: Arc<Probe>) -> Result<(), Stop> {
    let (d2, user) = (p.role(SECOND_PHONE)?, p.role(USER_WITH_LOCALE)?);
    // The phone's own buttons, when it has no add-on module.
    let buttons = p
        .lab_device(&d2)
        .filter(|d| d.modules.is_empty())
        .and_then(|d| emlab_protocol::phone_model::find(&d.model))
        .map(|m| m.line_buttons as usize)
        .ok_or_else(|| {
            crate::case::skip(format!(
                "`second_phone` ({d2}) must be a lab device without add-on modules"
            ))
        })?;
    p.clear(&[&d2]).await;
    // The role's profile has more lines than the phone has buttons, and a
    // speed dial: the extra lines and the speed dial are dropped.
    expect_eq("login", p.login(&d2, &user).await.as_str(), "success")?;
    let c = p.config(&d2).await;
    p.clear(&[&d2]).await;
    let c = c?;
    let lines = c
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "line")
        .count();
    let speed = c
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "speedDial")
        .count();
    expect_eq(
        &format!("(lines, speed dials) on a phone with {buttons} buttons"),
        (lines, speed),
        (buttons, 0),
    )
}

pub async fn a_7905_loses_module_buttons(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(OTHER_MODEL_PHONE)?, p.role(USER)?);
    let buttons = p
        .lab_device(&phone)
        .and_then(|d| emlab_protocol::phone_model::find(&d.model))
        .map(|m| m.line_buttons as usize)
        .ok_or_else(|| {
            crate::case::skip(format!(
                "`other_model_phone` ({phone}) must be a lab device"
            ))
        })?;
    p.clear(&[&phone]).await;
    expect_eq("login", p.login(&phone, &user).await.as_str(), "success")?;
    let c = p.config(&phone).await;
    p.clear(&[&phone]).await;
    expect_eq(
        &format!("buttons on a phone with {buttons} and no modules"),
        c?.buttons.buttons.len(),
        buttons,
    )
}

pub async fn sip_phones_keep_normal_lines_and_listed_features(p: Arc<Probe>) -> Result<(), Stop> {
    let (sip_phone, user) = (p.role(SIP_PHONE)?, p.role(USER_WITH_TWO_PROFILES)?);
    p.clear(&[&sip_phone]).await;
    // The role's profile has monitored, silent-ring and overlay lines beside
    // a normal one, and Hold and Intercom.
    expect_eq(
        "login",
        p.login(&sip_phone, &user).await.as_str(),
        "success",
    )?;
    let c = p.config(&sip_phone).await;
    p.clear(&[&sip_phone]).await;
    let c = c?;
    let odd_lines: Vec<String> = c
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "line" && b.line_type != "normal")
        .map(|b| format!("{} {}", b.line_type, b.number))
        .collect();
    expect(
        odd_lines.is_empty(),
        "only normal lines on a SIP phone",
        odd_lines.join(", "),
    )?;
    let features: Vec<String> = c
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "feature")
        .map(|b| b.label.clone())
        .collect();
    expect(
        !features.iter().any(|f| f == "Intercom"),
        "no Intercom (not in the SIP list)",
        features.join(", "),
    )
}

/// `user_with_two_profiles` logs in on `phone` at the phone, choosing their
/// first profile (a monitored line listed first, speed dials listed out of
/// tag order); the config they got. The phone is logged out again.
async fn two_profile_user_on_phone(
    p: &Probe,
    ip: u8,
) -> Result<emlab_protocol::config_file::DeviceConfig, Stop> {
    let (d1, user) = (p.role(PHONE)?, p.role(USER_WITH_TWO_PROFILES)?);
    let (pin, profile) = (
        p.pin_of(&user),
        p.first_profile_of(&user).unwrap_or_default(),
    );
    p.clear(&[&d1]).await;
    let query = format!("device={d1}&userid={user}&seq={pin}&profile={profile}");
    let s = p.phone_screen(super::phone_ip(ip), &query).await?;
    let c = match Probe::code_of(&s) {
        None => p.config(&d1).await,
        Some(code) => Err(crate::case::fail(
            format!("{user} logs in with {profile}"),
            format!("[{code}]"),
        )),
    };
    p.clear(&[&d1]).await;
    c
}

/// The speed-dial labels of `user`'s first profile, by tag.
fn labels_by_tag(p: &Probe, user: &str) -> Vec<String> {
    let mut dials = p
        .first_profile_of(user)
        .and_then(|name| p.lab_profile(&name).map(|pr| pr.speed_dials.clone()))
        .unwrap_or_default();
    dials.sort_by_key(|d| d.tag);
    dials.into_iter().map(|d| d.label).collect()
}

pub async fn speed_dials_follow_their_tags(p: Arc<Probe>) -> Result<(), Stop> {
    // The role's profile lists speed dials out of tag order.
    let c = two_profile_user_on_phone(&p, 80).await;
    let expected = labels_by_tag(&p, &p.role(USER_WITH_TWO_PROFILES)?);
    let labels: Vec<String> = c?
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "speedDial")
        .map(|b| b.label.clone())
        .collect();
    expect_eq("speed dials in tag order", labels, expected)
}

pub async fn cme_orders_lines_by_type(p: Arc<Probe>) -> Result<(), Stop> {
    let c = two_profile_user_on_phone(&p, 81).await;
    let types: Vec<String> = c?
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "line")
        .map(|b| b.line_type.clone())
        .collect();
    let order = [
        "normal",
        "silent-ring",
        "beep-ring",
        "feature-ring",
        "monitor-ring",
        "overlay",
        "cw-overlay",
    ];
    let rank = |t: &String| order.iter().position(|o| o == t).unwrap_or(order.len());
    let sorted = types.windows(2).all(|w| rank(&w[0]) <= rank(&w[1]));
    expect(
        sorted && !types.is_empty(),
        "lines in the order normal, silent-ring, ..., overlay",
        types.join(", "),
    )
}

/// ucm4 logs a 7940 in only on the "7940 1-Line" or "7940 2-Line" template.
pub async fn a_7940_needs_its_line_template(p: Arc<Probe>) -> Result<(), Stop> {
    let (custom_phone, one_line_phone) = (p.role(CUSTOM_TEMPLATE_7940)?, p.role(ONE_LINE_7940)?);
    let user = p.role(SECOND_USER)?;
    p.clear(&[&custom_phone, &one_line_phone]).await;
    let custom = p.login(&custom_phone, &user).await;
    p.clear(&[&custom_phone]).await;
    let one_line = p.login(&one_line_phone, &user).await;
    p.clear(&[&one_line_phone]).await;
    expect(
        custom != "success",
        "no login on a `Custom 7940` template",
        custom.clone(),
    )?;
    expect_eq("login on `7940 1-Line`", one_line.as_str(), "success")
}

/// The role's profile lists a monitored line first; it never takes button 1.
pub async fn the_first_line_is_never_monitored(p: Arc<Probe>) -> Result<(), Stop> {
    let c = two_profile_user_on_phone(&p, 82).await;
    let first = c?
        .buttons
        .buttons
        .iter()
        .find(|b| b.kind == "line")
        .map(|b| b.line_type.clone());
    expect(
        first.as_deref().is_some_and(|t| t != "monitor-ring"),
        "a first line that is not monitored",
        crate::case::readable(&first),
    )
}
