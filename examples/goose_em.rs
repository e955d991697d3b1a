//! Extension Mobility in your own goose load test: `emlab_goose::em_scenario`
//! gives a goose `Scenario` whose users log in, check who is on the device,
//! and log out, each answer checked; register it beside your own scenarios.
//!
//!   cargo run --example goose_em -- --host https://cucm.example.com:8443 --run-time 1m
//!
//! With `--host`, it runs against that server with the users in
//! `examples/goose-users.csv` (`user_id;pin;device` rows) and the
//! application `emlab`/`emlab`; change both to your cluster's. Without
//! `--host`, it starts emlab's reference server on loopback with
//! `scenarios/lab.toml`, as `emlab run` does, so that it runs anywhere.
//! Every other option is goose's own (`--help`).

use emlab_protocol::em_api::AppInfo;
use emlab_protocol::lab::Lab;
use goose::prelude::*;
use std::path::Path;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own_host = std::env::args().any(|a| a == "--host" || a == "-H" || a.starts_with("--host="));
    let server = if own_host {
        None
    } else {
        let lab = Lab::load(&here.join("scenarios/lab.toml"))?;
        Some(emlab_server::start(&lab, emlab_server::ServerOptions::default()).await?)
    };
    // The scenario's host; goose's --host, when given, takes its place.
    let base = server
        .as_ref()
        .map_or("http://127.0.0.1".into(), |s| s.base_url());
    let em = emlab_goose::em_scenario(
        &base,
        &here.join("examples/goose-users.csv"),
        AppInfo::new("emlab", "emlab"),
    )?;
    GooseAttack::initialize()?
        .register_scenario(em)
        // Five rows, five users; all started at once; goose's telnet
        // controller off. Each is a default that goose's options override.
        .set_default(GooseDefault::Users, 5)?
        .set_default(GooseDefault::IncreaseRate, "5")?
        .set_default(GooseDefault::RunTime, 2)?
        .set_default(GooseDefault::NoTelnet, true)?
        .execute()
        .await?;
    if let Some(server) = server {
        let _ = server.shutdown().await;
    }
    Ok(())
}
