//! emlab's own proof: one test binary (to keep link time down on 2 cores),
//! one module per subject. Everything here talks over real loopback sockets.

mod addresses;
mod call_logs;
mod cli;
mod cme_import;
mod config_files;
mod conform;
mod control_channel;
mod dashboard;
mod deploy;
mod durable_state;
mod em_api;
mod fleet;
mod goose;
mod hostile_network;
mod https;
mod lab_control;
mod multi_login;
mod phone_faults;
mod phone_service;
mod support;
mod tftp;
mod troubleshooting;
mod xml_snapshots;
