//! The phones' own web server: `POST /CGI/Execute` (PROTOCOL.md §3).
//!
//! The server pushes `CiscoIPPhoneExecute` (form field `XML`, HTTP Basic);
//! a phone asks the `authenticationURL` of its configuration whether the
//! credentials are good (`AUTHORIZED`), runs the items it knows
//! (`Init:CallHistory` clears the call logs) and answers
//! `CiscoIPPhoneResponse`, or `CiscoIPPhoneError Number="4"` when the
//! credentials are refused.
//!
//! Each phone listens on its own 127/8 address at the lab's
//! `phone_web_port`, as a real phone's web server does, from the first
//! time it loads a configuration; nothing listens on the wildcard address.
//! A fleet that checks call logs therefore holds one descriptor per phone.
//! Peers outside loopback are refused.

use super::PhoneEvent;
use super::http::{self, Fetched};
use base64::Engine;
use bytes::Bytes;
use emlab_protocol::phone_xml::{
    CLEAR_CALL_HISTORY, EXECUTE_PATH, PhoneError, PhoneExecute, PhoneResponse, PushAnswer,
    ResponseItem,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

struct WebBinding {
    device_name: String,
    /// From the phone's last configuration file.
    authentication_url: String,
    events: mpsc::UnboundedSender<PhoneEvent>,
}

pub struct PhoneWebServer {
    phones: Mutex<HashMap<Ipv4Addr, WebBinding>>,
    /// Addresses with a listener.
    listening: Mutex<std::collections::HashSet<Ipv4Addr>>,
    pub port: u16,
    /// What an `https://` authenticationURL is trusted with.
    tls: http::ClientTls,
    /// Dropping the server closes its listeners at once, so the port is
    /// free for the next run in the same process.
    stop: tokio::sync::watch::Sender<()>,
}

/// A listener with a deep accept queue: pushes to many phones arrive at once.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl PhoneWebServer {
    /// Listens on 127.0.0.1 at `port` (0: any free port, then the same
    /// port on every phone's address); the phones' own addresses follow
    /// as they [`bind`](Self::bind).
    pub async fn start(port: u16, tls: http::ClientTls) -> std::io::Result<Arc<PhoneWebServer>> {
        let listener = listen((Ipv4Addr::LOCALHOST, port).into())?;
        let (stop, stopped) = tokio::sync::watch::channel(());
        let server = Arc::new(PhoneWebServer {
            phones: Mutex::new(HashMap::new()),
            listening: Mutex::new([Ipv4Addr::LOCALHOST].into_iter().collect()),
            port: listener.local_addr()?.port(),
            tls,
            stop,
        });
        tokio::spawn(accept_loop(listener, Arc::downgrade(&server), stopped));
        Ok(server)
    }

    fn phones(&self) -> std::sync::MutexGuard<'_, HashMap<Ipv4Addr, WebBinding>> {
        self.phones.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves pushes for the phone at `ip` with the `authentication_url`
    /// of its current configuration, listening on `ip` the first time.
    pub fn bind(
        self: &Arc<Self>,
        ip: Ipv4Addr,
        device_name: &str,
        authentication_url: &str,
        events: mpsc::UnboundedSender<PhoneEvent>,
    ) -> std::io::Result<()> {
        let mut listening = self.listening.lock().unwrap_or_else(|p| p.into_inner());
        if !listening.contains(&ip) {
            let listener = listen((ip, self.port).into())?;
            listening.insert(ip);
            tokio::spawn(accept_loop(
                listener,
                Arc::downgrade(self),
                self.stop.subscribe(),
            ));
        }
        drop(listening);
        self.phones().insert(
            ip,
            WebBinding {
                device_name: device_name.to_string(),
                authentication_url: authentication_url.to_string(),
                events,
            },
        );
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    server: std::sync::Weak<PhoneWebServer>,
    mut stopped: tokio::sync::watch::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // The sender went with the server: close the listener now.
            _ = stopped.changed() => return,
        };
        let Some(web) = server.upgrade() else { return };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        if !peer.ip().is_loopback() {
            continue;
        }
        let service = service_fn(move |request| {
            let web = web.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&web, local, request).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    web: &PhoneWebServer,
    local: SocketAddr,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, body: String| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        r
    };
    let IpAddr::V4(ip) = local.ip() else {
        return reply(404, String::new());
    };
    let binding = web.phones().get(&ip).map(|b| {
        (
            b.device_name.clone(),
            b.authentication_url.clone(),
            b.events.clone(),
        )
    });
    let Some((device_name, auth_url, events)) = binding else {
        return reply(404, String::new());
    };
    if request.method() != hyper::Method::POST || request.uri().path() != EXECUTE_PATH {
        return reply(404, String::new());
    }
    let credentials = basic_credentials(request.headers().get(AUTHORIZATION));
    let Ok(body) = Limited::new(request.into_body(), 64 * 1024).collect().await else {
        return reply(400, String::new());
    };
    let body = body.to_bytes();
    let xml = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "XML")
        .map(|(_, v)| v.into_owned());
    let error = |n| reply(200, PushAnswer::Error(PhoneError { number: n }).to_xml());
    let Some(execute) = xml.and_then(|x| PhoneExecute::from_xml(&x).ok()) else {
        return error(1);
    };
    // A phone whose configuration gave it no authentication URL cannot
    // authorize anything (LOGS-2: a CME router without `url authentication`).
    let authorized = match credentials.filter(|_| !auth_url.is_empty()) {
        Some((user, password)) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("UserID", &user)
                .append_pair("Password", &password)
                .append_pair("devicename", &device_name)
                .finish();
            let separator = if auth_url.contains('?') { '&' } else { '?' };
            let url = format!("{auth_url}{separator}{query}");
            matches!(
                http::get(IpAddr::V4(ip), &url, &[], Duration::from_secs(5), &web.tls).await,
                Fetched::Ok { status: 200, body } if body.as_ref().trim_ascii() == b"AUTHORIZED"
            )
        }
        None => false,
    };
    if !authorized {
        return error(4);
    }
    let items = execute
        .items
        .iter()
        .map(|item| {
            let known = item.url == CLEAR_CALL_HISTORY;
            if known {
                let _ = events.send(PhoneEvent::CallLogsCleared);
            }
            ResponseItem {
                status: if known { 0 } else { 1 },
                data: if known { "Success" } else { "Unknown URL" }.into(),
                url: item.url.clone(),
            }
        })
        .collect();
    reply(200, PushAnswer::Response(PhoneResponse { items }).to_xml())
}

fn basic_credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let token = header?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
