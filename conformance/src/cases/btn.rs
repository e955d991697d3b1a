//! BTN: which buttons a phone gets.

use super::lab::*;
use crate::case::{Stop, expect_eq};
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
