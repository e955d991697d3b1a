//! An EM API client for any server that speaks PROTOCOL.md §1: posts the
//! form, reads the whole body, parses the `<response>`, and turns every way
//! a server can misbehave into a [`Reply`] instead of an error or a panic.

use bytes::Bytes;
use emlab_protocol::em_api::{self, AppInfo, Message, Response};
use emlab_tls::ClientTls;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A larger answer than this is treated as malformed.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What came back for one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A well-formed `<response>`.
    Answer(Response),
    /// HTTP 200 but the body is not a `<response>` (or is too large).
    Malformed,
    /// Any HTTP status but 200 (the EM API always answers 200).
    Http(u16),
    /// Connection refused, reset or closed before the answer was complete.
    Transport,
    /// No complete answer within the request timeout.
    Timeout,
}

impl Reply {
    /// The outcome label used in reports: `success`, `25`, `timeout`, ...
    pub fn label(&self) -> String {
        match self {
            Reply::Answer(r) => match r.error_code() {
                Some(code) => code.to_string(),
                None => "success".to_string(),
            },
            Reply::Malformed => "malformed-xml".into(),
            Reply::Http(s) => format!("http-{s}"),
            Reply::Transport => "connection-error".into(),
            Reply::Timeout => "timeout".into(),
        }
    }
}

#[derive(Clone)]
pub struct EmClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: hyper::Uri,
    pub app: AppInfo,
    timeout: Duration,
}

impl EmClient {
    /// A client for the server at `base_url` (`http://host:port`, or
    /// `https://` trusting the system's roots).
    pub fn new(base_url: &str, app: AppInfo, timeout: Duration) -> Result<EmClient, String> {
        EmClient::with_tls(base_url, app, timeout, &ClientTls::default())
    }

    /// The same, trusting what `tls` trusts for `https://` (`--ca`, `--insecure`).
    pub fn with_tls(
        base_url: &str,
        app: AppInfo,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<EmClient, String> {
        let uri: hyper::Uri = format!("{}{}", base_url.trim_end_matches('/'), em_api::EM_API_PATH)
            .parse()
            .map_err(|e| format!("bad target URL `{base_url}`: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!(
                "bad target URL `{base_url}`: expected http:// or https://"
            ));
        }
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        // hyper-rustls sets ALPN itself (enable_http1) and refuses a
        // config that already has it.
        let mut config = (*tls.config()).clone();
        config.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            // Below the server's 30 s idle timeout, so a pooled connection is
            // never reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(20))
            .build(connector);
        Ok(EmClient {
            client,
            uri,
            app,
            timeout,
        })
    }

    /// Sends one request or query and waits for the complete answer.
    pub async fn send(&self, message: &Message) -> Reply {
        self.post_raw(em_api::form_body(&message.to_xml())).await
    }

    /// The form body of `message`, built once by a caller that sends it
    /// again and again (the fleet's phones: the same login every cycle).
    pub fn body_of(message: &Message) -> Bytes {
        Bytes::from(em_api::form_body(&message.to_xml()))
    }

    /// Sends a body from [`EmClient::body_of`].
    pub async fn send_body(&self, body: Bytes) -> Reply {
        match tokio::time::timeout(self.timeout, self.exchange(body)).await {
            Ok(reply) => reply,
            Err(_) => Reply::Timeout,
        }
    }

    /// Posts a raw form body (tests use it to send malformed input).
    pub async fn post_raw(&self, form_body: String) -> Reply {
        self.send_body(Bytes::from(form_body)).await
    }

    async fn exchange(&self, form_body: Bytes) -> Reply {
        let mut request = hyper::Request::new(Full::new(form_body));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let Ok(response) = self.client.request(request).await else {
            return Reply::Transport;
        };
        let status = response.status().as_u16();
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Reply::Malformed,
            Err(_) => return Reply::Transport,
        };
        if status != 200 {
            return Reply::Http(status);
        }
        match std::str::from_utf8(&body)
            .ok()
            .and_then(|s| Response::from_xml(s).ok())
        {
            Some(r) => Reply::Answer(r),
            None => Reply::Malformed,
        }
    }
}
