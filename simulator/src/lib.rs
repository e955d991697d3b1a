//! The emlab fleet simulator: virtual phones that drive an Extension
//! Mobility server through the EM API, with latency histograms and reports.
//! It talks to any server that speaks `PROTOCOL.md`, not only emlab's own.
//!
//! - [`scenario`]: scenario files (load shape, expectations, thresholds);
//! - [`storm`]: `LoginStorm`, the open-model engine, and `VirtualPhone`;
//! - [`em_client`]: the EM API client that never panics on a bad server;
//! - [`recorder`]: histograms, outcomes and mismatches;
//! - [`thresholds`]: pass/fail rules;
//! - [`timer`]: the sub-millisecond timer the schedule runs on;
//! - [`report`]: stdout summary, `report.json`, `report.html`.

pub mod em_client;
pub mod recorder;
pub mod report;
pub mod scenario;
pub mod storm;
pub mod thresholds;
pub mod timer;
pub mod units;
