//! HTTPS listeners: the same routers as the plain ones, behind TLS.
//!
//! Cisco serves the EM API and the phone service on 8443 beside 8080, and
//! configuration files on 6971 beside 6970 (PROTOCOL.md §8). Each accepted
//! connection does its handshake in its own task, within a deadline, so a
//! client that opens a socket and never says hello holds only that task.

use axum::Router;
use axum::extract::ConnectInfo;
use emlab_tls::TlsAcceptor;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Marks a request that came over TLS, so that URLs the server writes
/// back into its answers (the phone service's soft keys) say `https://`.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until the task is aborted. Handlers
/// see the peer address as with plain HTTP (`ConnectInfo`, for IP-1..4).
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before accept:
            // back off briefly rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.extensions_mut().insert(OverTls);
                    app.clone().oneshot(request)
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
