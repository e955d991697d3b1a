//! HTTP as a phone does it: a fresh connection per request, opened from
//! the phone's own 127/8 address, so the server sees every phone at its own
//! IP (IP-1..4 check the source address of the service requests).
//!
//! A pooled client would share connections, and so source addresses,
//! between phones; one socket per request also keeps 100,000 idle phones
//! at zero file descriptors.
//!
//! `https://` URLs get a TLS handshake on that socket, trusting what the
//! run's [`ClientTls`] trusts (`--ca`, `--insecure`).

use bytes::Bytes;
pub use emlab_tls::ClientTls;
use http_body_util::{BodyExt, Full, Limited};
/// The header types [`get`] takes, for callers without their own `hyper`.
pub use hyper::Method;
use hyper::header::HOST;
pub use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpSocket;

/// `em_requests_throttled_total` (Requests Throttled, LIM-1) from a
/// server's Prometheus `/metrics` page.
pub fn throttled_total(metrics: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix("em_requests_throttled_total ")?
            .trim()
            .parse()
            .ok()
    })
}

/// A larger answer than this is malformed for a phone.
const MAX_BODY: usize = 256 * 1024;

/// What came back, or why nothing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    Ok {
        status: u16,
        body: Bytes,
    },
    /// Refused, reset or closed early.
    Transport,
    Timeout,
}

impl Fetched {
    /// The short label reports use for a failed fetch.
    pub fn failure_label(&self) -> String {
        match self {
            Fetched::Ok { status, .. } => format!("http-{status}"),
            Fetched::Transport => "connection-error".into(),
            Fetched::Timeout => "timeout".into(),
        }
    }
}

/// `GET url` from `local`, with the phone's headers, within `timeout`.
pub async fn get(
    local: IpAddr,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
    tls: &ClientTls,
) -> Fetched {
    request(local, Method::GET, url, headers, Bytes::new(), timeout, tls).await
}

/// Any method with a body, the same way (lab control's JSON POSTs).
pub async fn request(
    local: IpAddr,
    method: Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    timeout: Duration,
    tls: &ClientTls,
) -> Fetched {
    let exchange = exchange(local, method, url, headers, body, tls);
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Some(f)) => f,
        Ok(None) => Fetched::Transport,
        Err(_) => Fetched::Timeout,
    }
}

async fn exchange(
    local: IpAddr,
    method: Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    tls: &ClientTls,
) -> Option<Fetched> {
    let uri: hyper::Uri = url.parse().ok()?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return None,
    };
    let authority = uri.authority()?.clone();
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let remote = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host, port)).await.ok()?.next()?,
    };
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4().ok()?,
        SocketAddr::V6(_) => TcpSocket::new_v6().ok()?,
    };
    // Only a loopback phone address applies to a loopback server; for
    // anything else let the kernel choose.
    if local.is_ipv4() == remote.is_ipv4() && local.is_loopback() == remote.ip().is_loopback() {
        socket.bind(SocketAddr::new(local, 0)).ok()?;
    }
    let stream = socket.connect(remote).await.ok()?;
    let _ = stream.set_nodelay(true);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(body))
        .ok()?;
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_str(authority.as_str()).ok()?);
    for (name, value) in headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    if secure {
        let name = emlab_tls::server_name(host).ok()?;
        let stream = tls.connector().connect(name, stream).await.ok()?;
        send(stream, request).await
    } else {
        send(stream, request).await
    }
}

/// One request and its whole answer over an open connection.
async fn send<Io>(io: Io, request: hyper::Request<Full<Bytes>>) -> Option<Fetched>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(Fetched::Ok { status, body })
}
