//! The EM rules, with no sockets and no HTTP: what a server that speaks
//! Extension Mobility must decide, testable without a network.
//!
//! - [`directory`]: users, devices, profiles, applications from the lab;
//! - [`sessions`]: who is logged in where, the multiple-login rule, timers;
//! - [`operations`]: login, logout and logoutAll, shared by both ways in;
//! - [`em`]: the state every operation shares, and the rules around it;
//! - [`admission`]: Maximum Concurrent Requests (error 26);
//! - [`credentials`]: PINs, must-change, the two-minute cache (AUTH-5);
//! - [`change_credential`]: a user changes their PIN at the phone (CRED-1/2);
//! - [`addresses`]: Validate IP Address, trusted list, device cache (IP-1..4);
//! - [`profile_view`]: what a phone's configuration says, and the restart plan;
//! - [`call_logs`]: when call logs clear (LOGS-1/2);
//! - [`features`]: Call Back and DND, which EM carries with the user;
//! - [`clock`]: the lab clock that lab control advances;
//! - [`effects`]: what operations ask the io layer to do;
//! - [`saved`]: what the durable store keeps, by name;
//! - [`troubleshooting`]: causes from the seeds' troubleshooting tables, played on demand (TRBL-1..4);
//! - [`faults`]: test-only switches that break a rule on purpose.

pub mod addresses;
pub mod admission;
pub mod call_logs;
pub mod change_credential;
pub mod clock;
pub mod credentials;
pub mod directory;
pub mod effects;
pub mod em;
pub mod faults;
pub mod features;
pub mod operations;
pub mod profile_view;
pub mod saved;
pub mod sessions;
pub mod troubleshooting;

pub use effects::{Counter, Effect, Effects};
pub use em::Em;
