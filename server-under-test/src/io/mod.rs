//! The io adapters: sockets and protocols around the core's rules. Each
//! decodes what arrives, asks [`crate::core`], delivers the effects it
//! returns ([`server::Server::deliver`]) and encodes the answer.
//!
//! - [`server`]: the core plus what delivers its effects; the state every adapter shares;
//! - [`listener`]: every HTTP listener's accept loop: timeouts, connection cap, TLS;
//! - [`http`]: the routes of the EM API, the phone service, `/metrics` and `/lab/`;
//! - [`em_api`]: the EM API servlet (applications);
//! - [`phone_service`]: the phone-facing EM service (users at phones);
//! - [`change_credential`]: the Change Credential phone service (CRED-1);
//! - [`lab_control`]: `/lab/`: parameters, PINs, admin logout, EM stop/start;
//! - [`config_files`]: `SEP<MAC>.cnf.xml` on the configuration port;
//! - [`tftp_server`]: the configuration files over TFTP (UDP);
//! - [`sccp_server`]: the SCCP listener for 7960/7940/7905 phones;
//! - [`sip_server`]: the SIP (UDP) listener for 8800 phones;
//! - [`control`]: registered phones, and how a restart or reset reaches each;
//! - [`call_log_push`]: the `Init:CallHistory` push to the phone (LOGS-1/2);
//! - [`metrics`]: Prometheus counters;
//! - [`store`]: the durable store of `--state FILE` (SQLite), group commit;
//! - [`dns`]: the Trusted List's host names, resolved off the request path.

pub mod call_log_push;
pub mod change_credential;
pub mod config_files;
pub mod control;
pub mod dns;
pub mod em_api;
pub mod http;
pub mod lab_control;
pub mod listener;
pub mod metrics;
pub mod phone_service;
pub mod sccp_server;
pub mod server;
pub mod sip_server;
pub mod store;
pub mod tftp_server;

/// 503 Service Unavailable, for a phone whose EM service is stopped
/// (LIM-4, TIME-6).
pub fn service_unavailable() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "Extension Mobility service is stopped\n",
    )
        .into_response()
}
