//! Wire formats and shared facts of Cisco Extension Mobility, as emlab
//! speaks them (see `../shared/spec/PROTOCOL.md`).
//!
//! The reference server and the fleet simulator both depend on this crate
//! and never on each other, so anything both sides must agree on lives here:
//!
//! - [`em_api`]: the EM API request, query and response XML (§1);
//! - [`error_code`]: the error-code table with its per-profile texts (§1, §2);
//! - [`phone_model`]: the catalogue of simulated phone models;
//! - [`phone_xml`]: the Cisco IP Phone XML objects of the EM service (§3);
//! - [`buttons`]: where a profile's entries land on a phone's buttons;
//! - [`config_file`]: the phone configuration file `SEP<MAC>.cnf.xml` (§4);
//! - [`sccp`]: the Skinny control channel subset (§5);
//! - [`sip`]: REGISTER and the service-control NOTIFY for 8800 phones (§5);
//! - [`lab`]: the lab directory file and its deterministic `[fleet]` (§6);
//! - [`troubleshooting`]: the causes lab control plays (§8, TRBL-1..4);
//! - [`config_error`]: one-line errors for lab and scenario files.

pub mod buttons;
pub mod cme_config;
pub mod config_error;
pub mod config_file;
pub mod em_api;
pub mod error_code;
pub mod lab;
pub mod phone_model;
pub mod phone_xml;
pub mod sccp;
pub mod sip;
pub mod tftp;
pub mod troubleshooting;
pub mod xml_text;

pub use config_error::ConfigError;
pub use error_code::{ErrorCode, ServerProfile};
