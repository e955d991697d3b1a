//! HTTPS: the same routers as the plain listeners, behind TLS, served by
//! [`crate::listener::serve`] with an acceptor.
//!
//! Cisco serves the EM API and the phone service on 8443 beside 8080, and
//! configuration files on 6971 beside 6970 (PROTOCOL.md §8). URLs the
//! server writes back into its answers (the phone service's soft keys) say
//! `https://` when the request came over TLS, which [`OverTls`] marks.

/// Marks a request that came over TLS.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;
