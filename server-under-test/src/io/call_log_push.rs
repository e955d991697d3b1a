//! Clearing call logs (LOGS-1, LOGS-2): the server pushes
//! `CiscoIPPhoneExecute` with `Init:CallHistory` to the phone's own web
//! server (`POST http://<phone>:<phone_web_port>/CGI/Execute`, form field
//! `XML`, HTTP Basic with an application's credentials). The phone asks
//! the `authenticationURL` of its configuration whether those credentials
//! are good, then answers `CiscoIPPhoneResponse`, or `CiscoIPPhoneError`
//! `Number="4"` when they are not.
//!
//! When is the core's rule ([`crate::core::call_logs`]). Pushes run in the
//! background and are counted; a phone that does not answer changes
//! nothing on the server.

use base64::Engine;
use bytes::Bytes;
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_xml::{CLEAR_CALL_HISTORY, EXECUTE_PATH, PhoneExecute, PushAnswer};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct CallLogPush {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `Basic ...` of the first application with proxy rights, if any.
    authorization: Option<HeaderValue>,
    port: u16,
    pub cleared: AtomicU64,
    pub refused: AtomicU64,
    pub unreachable: AtomicU64,
}

impl CallLogPush {
    pub fn new(lab: &Lab) -> Arc<CallLogPush> {
        let authorization = lab
            .file
            .application
            .iter()
            .find(|a| a.proxy_rights)
            .and_then(|a| {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", a.id, a.certificate));
                HeaderValue::from_str(&format!("Basic {token}")).ok()
            });
        Arc::new(CallLogPush {
            client: Client::builder(TokioExecutor::new()).build_http(),
            authorization,
            port: lab.file.server.phone_web_port,
            cleared: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            unreachable: AtomicU64::new(0),
        })
    }

    /// Pushes `Init:CallHistory` to the phone at `ip` in the background.
    pub fn push(self: &Arc<Self>, ip: IpAddr) {
        let this = self.clone();
        tokio::spawn(async move {
            let counter = match this.exchange(ip).await {
                Some(PushAnswer::Response(r)) if r.items.iter().all(|i| i.status == 0) => {
                    &this.cleared
                }
                Some(_) => &this.refused,
                None => &this.unreachable,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }

    async fn exchange(&self, ip: IpAddr) -> Option<PushAnswer> {
        let xml = PhoneExecute::new(&[CLEAR_CALL_HISTORY]).to_xml();
        let body = format!(
            "XML={}",
            percent_encoding::utf8_percent_encode(&xml, percent_encoding::NON_ALPHANUMERIC)
        );
        let mut request = hyper::Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = format!("http://{}{EXECUTE_PATH}", SocketAddr::new(ip, self.port))
            .parse()
            .ok()?;
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Some(auth) = &self.authorization {
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let exchange = async {
            let response = self.client.request(request).await.ok()?;
            let bytes = Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await
                .ok()?
                .to_bytes();
            PushAnswer::from_xml(std::str::from_utf8(&bytes).ok()?).ok()
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .ok()
            .flatten()
    }
}
