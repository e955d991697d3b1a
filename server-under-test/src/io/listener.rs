//! Every HTTP listener of the server (EM API and phone service,
//! configuration files; plain or TLS) accepts through [`serve`], which
//! holds the line on a hostile network:
//!
//! - a client must send a request's headers within `header_timeout`, and a
//!   kept-alive connection that sends nothing for as long is closed (hyper
//!   runs the same timer while it waits for the next request), so slow or
//!   idle connections cannot pile up;
//! - at most `max_connections` are open per listener; one more is closed at
//!   once rather than queued;
//! - a TLS handshake must finish within `header_timeout` too;
//! - when accept fails (out of file descriptors, EMFILE), the loop backs
//!   off instead of spinning a core.
//!
//! Handlers see the peer address (`ConnectInfo`, for IP-1..4) and, behind
//! TLS, the [`crate::io::listener::OverTls`] marker.

use axum::Router;
use axum::extract::ConnectInfo;
use emlab_tls::TlsAcceptor;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Marks a request that came over TLS: URLs the server writes back into
/// its answers (the phone service's soft keys) then say `https://`.
/// Cisco serves the EM API and the phone service on 8443 beside 8080, and
/// configuration files on 6971 beside 6970 (PROTOCOL.md §8).
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// Limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// To send a request's headers, to finish a TLS handshake, and the
    /// longest a kept-alive connection may stay idle.
    pub header_timeout: Duration,
    /// To send a request's body (the EM API's form).
    pub body_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            max_connections: 8192,
        }
    }
}

/// How long accept waits after a failure (EMFILE, ENFILE, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptor>,
    stop: impl std::future::Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Over the cap: close now (the client sees a reset, not a hang).
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(%peer, max = limits.max_connections, "refused: connection cap reached");
            drop(tcp);
            continue;
        };
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await
                    else {
                        tracing::debug!(%peer, "refused: TLS handshake failed or timed out");
                        return;
                    };
                    connection(stream, app, peer, limits, true).await;
                }
                None => connection(tcp, app, peer, limits, false).await,
            }
        });
    }
}

async fn connection<Io>(
    io: Io,
    app: Router,
    peer: std::net::SocketAddr,
    limits: HttpLimits,
    over_tls: bool,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(limits);
        if over_tls {
            request.extensions_mut().insert(OverTls);
        }
        app.clone().oneshot(request)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .await;
}
