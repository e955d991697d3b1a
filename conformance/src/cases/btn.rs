//! BTN: which buttons a phone gets.

use super::lab::*;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use std::sync::Arc;

pub async fn entries_beyond_the_phone_are_dropped(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_user("bob")?;
    p.clear(&[D2]).await;
    // bob-7960: eight lines and a speed dial; a 7960 without modules has six buttons.
    expect_eq("login", p.login(D2, "bob").await.as_str(), "success")?;
    let c = p.config(D2).await;
    p.clear(&[D2]).await;
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
    expect_eq("(lines, speed dials) on a 7960", (lines, speed), (6, 0))
}

pub async fn a_7905_loses_module_buttons(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_device(D7905)?;
    p.clear(&[D7905]).await;
    expect_eq("login", p.login(D7905, "mona").await.as_str(), "success")?;
    let c = p.config(D7905).await;
    p.clear(&[D7905]).await;
    expect_eq("buttons on a 7905 (one line)", c?.buttons.buttons.len(), 1)
}

pub async fn sip_phones_keep_normal_lines_and_listed_features(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_device(D8851)?;
    p.need_user("alice")?;
    p.clear(&[D8851]).await;
    // alice: monitor-ring, silent-ring and overlay lines beside a normal one; Hold and Intercom.
    expect_eq("login", p.login(D8851, "alice").await.as_str(), "success")?;
    let c = p.config(D8851).await;
    p.clear(&[D8851]).await;
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

/// alice logs in on D1 at the phone, choosing `alice-7960` (a monitored
/// line listed first, speed dials listed out of tag order); the config she
/// got. D1 is logged out again.
async fn alice_7960_on_d1(
    p: &Probe,
    ip: u8,
) -> Result<emlab_protocol::config_file::DeviceConfig, Stop> {
    p.need_user("alice")?;
    p.clear(&[D1]).await;
    let query = format!("device={D1}&userid=alice&seq=12345&profile=alice-7960");
    let s = p.phone_screen(super::phone_ip(ip), &query).await?;
    let c = match Probe::code_of(&s) {
        None => p.config(D1).await,
        Some(code) => Err(crate::case::fail(
            "alice logs in with alice-7960",
            format!("[{code}]"),
        )),
    };
    p.clear(&[D1]).await;
    c
}

pub async fn speed_dials_follow_their_tags(p: Arc<Probe>) -> Result<(), Stop> {
    // alice-7960 lists speed dial tag 2 before tag 1.
    let c = alice_7960_on_d1(&p, 80).await;
    let labels: Vec<String> = c?
        .buttons
        .buttons
        .iter()
        .filter(|b| b.kind == "speedDial")
        .map(|b| b.label.clone())
        .collect();
    expect_eq(
        "speed dials in tag order",
        labels,
        vec!["One".to_string(), "Two".to_string()],
    )
}

pub async fn cme_orders_lines_by_type(p: Arc<Probe>) -> Result<(), Stop> {
    let c = alice_7960_on_d1(&p, 81).await;
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
    const CUSTOM: &str = "SEP000000000007";
    const ONE_LINE: &str = "SEP000000000008";
    p.need_device(CUSTOM)?;
    p.need_device(ONE_LINE)?;
    p.clear(&[CUSTOM, ONE_LINE]).await;
    let custom = p.login(CUSTOM, "kiosk").await;
    p.clear(&[CUSTOM]).await;
    let one_line = p.login(ONE_LINE, "kiosk").await;
    p.clear(&[ONE_LINE]).await;
    expect(
        custom != "success",
        "no login on a `Custom 7940` template",
        custom.clone(),
    )?;
    expect_eq("login on `7940 1-Line`", one_line.as_str(), "success")
}

/// alice-7960 lists a monitored line first; it never takes button 1.
pub async fn the_first_line_is_never_monitored(p: Arc<Probe>) -> Result<(), Stop> {
    let c = alice_7960_on_d1(&p, 82).await;
    let first = c?
        .buttons
        .buttons
        .iter()
        .find(|b| b.kind == "line")
        .map(|b| b.line_type.clone());
    expect(
        first.as_deref().is_some_and(|t| t != "monitor-ring"),
        "a first line that is not monitored",
        format!("{first:?}"),
    )
}
