//! The emlab fleet simulator: virtual phones that drive an Extension
//! Mobility server through the EM API, with latency histograms and reports.
//! It talks to any server that speaks `PROTOCOL.md`, not only emlab's own.
//!
//! - [`scenario`]: scenario files (load shape, expectations, thresholds);
//! - [`storm`]: `LoginStorm`, the open- and closed-model engine;
//! - [`shard`]: one fleet split over N processes that together run the single-process schedule;
//! - [`merge`]: shards' report folders added up exactly;
//! - [`phone`]: virtual phones, each a state machine over SCCP or SIP,
//!   the phone-facing service, configuration files and `/CGI/Execute`;
//! - [`fleet`]: which phones take part and what each should see;
//! - [`live`]: the live dashboard of a run and its controls;
//! - [`limits`]: open files, and how many SCCP phones they allow;
//! - [`em_client`]: the EM API client that never panics on a bad server;
//! - [`preflight`]: checks a target before a run (reach, TLS, credentials, directory);
//! - [`recorder`]: histograms, outcomes and mismatches;
//! - [`diagnosis`]: symptoms seen, with the likely cause from the seeds' troubleshooting tables;
//! - [`rehearsal`]: phases that have the server play a troubleshooting cause, and the lab clock at the scenario's time scale;
//! - [`thresholds`]: pass/fail rules;
//! - [`timer`]: the sub-millisecond timer the schedule runs on;
//! - [`progress`]: the live progress line on a terminal;
//! - [`report`]: stdout summary, `report.json`, `report.html`, `latency.hlog`.

pub mod diagnosis;
pub mod em_client;
pub mod fleet;
pub mod limits;
pub mod live;
pub mod merge;
pub mod phone;
pub mod preflight;
pub mod progress;
pub mod recorder;
pub mod rehearsal;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod storm;
pub mod thresholds;
pub mod timer;
pub mod units;
