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
        answer(status, &body)
    }
}

/// A whole answer as the client sees it: the EM API always answers 200
/// with a `<response>`; anything else is a label. Public for clients that
/// read the answer themselves (goose's, in `emlab-goose`).
pub fn answer(status: u16, body: &[u8]) -> Reply {
    if status != 200 {
        return Reply::Http(status);
    }
    match std::str::from_utf8(body)
        .ok()
        .and_then(|s| Response::from_xml(s).ok())
    {
        Some(r) => Reply::Answer(r),
        None => Reply::Malformed,
    }
}

/// A connection of its own to an `http://` EM API, for a closed-model
/// phone that sends one request after another, as each of wrk's
/// connections does: the request is bytes built once
/// ([`EmClient::request_bytes`]) and written with one call; the answer's
/// head is read with `httparse` (the parser hyper itself uses) and its body
/// by Content-Length, chunks, or the connection's close, as HTTP/1.1 frames
/// it. Every answer is parsed as hyper's are.
pub struct EmConnection {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl EmClient {
    /// The whole HTTP request for `body`, built once; `None` for https://
    /// (which goes through hyper and rustls).
    pub fn request_bytes(&self, body: &[u8]) -> Option<Bytes> {
        if self.uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = self.uri.authority()?;
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        Some(Bytes::from(r))
    }

    async fn open(&self) -> Result<EmConnection, Reply> {
        let host = self
            .uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = self.uri.port_u16().unwrap_or(80);
        match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect((host, port))).await
        {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(EmConnection {
                    stream,
                    buf: Vec::with_capacity(4096),
                })
            }
            Ok(Err(_)) => Err(Reply::Transport),
            Err(_) => Err(Reply::Timeout),
        }
    }

    /// Sends `request` (from [`EmClient::request_bytes`]) on `connection`,
    /// opening one when there is none; a connection that failed, timed out
    /// or that the server closes is dropped.
    pub async fn send_raw(&self, connection: &mut Option<EmConnection>, request: &[u8]) -> Reply {
        let mut reply = Reply::Transport;
        self.send_pipelined(connection, request, 1, |r, _| reply = r)
            .await;
        reply
    }

    /// Sends `requests`, several whole requests back to back (HTTP/1.1
    /// pipelining, RFC 9112 §9.3.2: the server answers them in order), with
    /// one write, then hands each of `answers` answers to `each` in order,
    /// with the instant it was complete. After the first that fails, the
    /// rest get the same failure; after an answer that closes the
    /// connection, the rest get [`Reply::Transport`]. The connection is kept
    /// only when every answer was framed for reuse and nothing was sent
    /// beyond them.
    pub async fn send_pipelined(
        &self,
        connection: &mut Option<EmConnection>,
        requests: &[u8],
        answers: usize,
        mut each: impl FnMut(Reply, std::time::Instant),
    ) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut given = 0;
        // The first failure goes to its answer and to every one after it.
        let fail_from =
            |reply: Reply, given: usize, each: &mut dyn FnMut(Reply, std::time::Instant)| {
                let now = std::time::Instant::now();
                for _ in given..answers {
                    each(reply.clone(), now);
                }
            };
        if connection.is_none() {
            match self.open().await {
                Ok(c) => *connection = Some(c),
                Err(reply) => return fail_from(reply, given, &mut each),
            }
        }
        let Some(c) = connection.as_mut() else {
            return fail_from(Reply::Transport, given, &mut each);
        };
        if !c.write(requests).await {
            *connection = None;
            return fail_from(Reply::Transport, given, &mut each);
        }
        while given < answers {
            let (reply, keep) = match tokio::time::timeout_at(deadline, c.read_answer()).await {
                Ok(answer) => answer,
                Err(_) => (Reply::Timeout, false),
            };
            if !keep {
                *connection = None;
                // An answer that closes the connection is its own; the
                // requests after it were never answered.
                if matches!(reply, Reply::Answer(_) | Reply::Http(_) | Reply::Malformed)
                    && given + 1 < answers
                {
                    each(reply, std::time::Instant::now());
                    return fail_from(Reply::Transport, given + 1, &mut each);
                }
                return fail_from(reply, given, &mut each);
            }
            each(reply, std::time::Instant::now());
            given += 1;
        }
        // Bytes beyond the answers were never asked for: done with it.
        if !c.buf.is_empty() {
            *connection = None;
        }
    }
}

impl EmConnection {
    async fn write(&mut self, requests: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(requests).await.is_ok()
    }

    /// Reads one answer and takes it out of the buffer, leaving what
    /// follows (a pipelined answer); also whether the connection may carry
    /// another.
    async fn read_answer(&mut self) -> (Reply, bool) {
        let (status, head, framing, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let header = |name: &str| {
                        response
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                    };
                    let framing =
                        if header("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
                            Framing::Chunked
                        } else if let Some(len) = header("content-length") {
                            match len.parse::<usize>() {
                                Ok(len) => Framing::Length(len),
                                Err(_) => return (Reply::Malformed, false),
                            }
                        } else {
                            Framing::UntilClose
                        };
                    let close = header("connection").is_some_and(|v| v == "close");
                    break (response.code.unwrap_or(0), n, framing, close);
                }
                Ok(httparse::Status::Partial) if self.buf.len() <= 64 * 1024 => {}
                _ => return (Reply::Malformed, false),
            }
            if !self.read_more().await {
                return (Reply::Transport, false);
            }
        };
        match framing {
            Framing::Length(len) => {
                if len > MAX_RESPONSE_BYTES {
                    return (Reply::Malformed, false);
                }
                while self.buf.len() < head + len {
                    if !self.read_more().await {
                        return (Reply::Transport, false);
                    }
                }
                let reply = answer(status, &self.buf[head..head + len]);
                self.buf.drain(..head + len);
                (reply, !close)
            }
            Framing::Chunked => match self.chunks(head).await {
                Ok((body, end)) => {
                    self.buf.drain(..end);
                    (answer(status, &body), !close)
                }
                Err(reply) => (reply, false),
            },
            Framing::UntilClose => {
                while self.read_more().await {
                    if self.buf.len() > head + MAX_RESPONSE_BYTES {
                        return (Reply::Malformed, false);
                    }
                }
                (answer(status, &self.buf[head..]), false)
            }
        }
    }

    /// A chunked body starting at `at` (RFC 9112 §7.1), trailers skipped,
    /// and where the answer ends in the buffer.
    async fn chunks(&mut self, mut at: usize) -> Result<(Vec<u8>, usize), Reply> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + p;
                }
                if self.buf.len() > at + 1024 || !self.read_more().await {
                    return Err(Reply::Malformed);
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[at..line_end]);
            let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
            let size = usize::from_str_radix(&size_text, 16).map_err(|_| Reply::Malformed)?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    if let Some(p) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                        if p == 0 {
                            return Ok((body, at + 2));
                        }
                        at += p + 2;
                    } else if !self.read_more().await {
                        return Err(Reply::Transport);
                    }
                }
            }
            if body.len() + size > MAX_RESPONSE_BYTES {
                return Err(Reply::Malformed);
            }
            while self.buf.len() < at + size + 2 {
                if !self.read_more().await {
                    return Err(Reply::Transport);
                }
            }
            body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }

    /// Reads what has arrived; false when the server closed or failed.
    async fn read_more(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let len = self.buf.len();
        self.buf.resize(len + 4096, 0);
        match self.stream.read(&mut self.buf[len..]).await {
            Ok(n) if n > 0 => {
                self.buf.truncate(len + n);
                true
            }
            _ => {
                self.buf.truncate(len);
                false
            }
        }
    }
}

/// How an answer's body ends (RFC 9112 §6.3).
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SUCCESS: &str = "<response><success/></response>";

    /// A server that answers each request on one connection with the next
    /// of `answers`, byte for byte, then closes.
    async fn serve(answers: Vec<String>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            for answer in answers {
                let mut seen = Vec::new();
                let mut chunk = [0u8; 4096];
                // One whole request: its head, then Content-Length bytes.
                loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    seen.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap();
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        base
    }

    /// Each way HTTP/1.1 frames a body reads as the same answer; a
    /// connection is kept only while the server keeps it.
    #[tokio::test]
    async fn an_own_connection_reads_every_framing() {
        let answers = vec![
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{SUCCESS}",
                SUCCESS.len()
            ),
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                &SUCCESS[..5],
                SUCCESS.len() - 5,
                &SUCCESS[5..]
            ),
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{SUCCESS}"),
        ];
        let base = serve(answers).await;
        let client = EmClient::new(&base, AppInfo::new("a", "b"), Duration::from_secs(2)).unwrap();
        let request = client.request_bytes(b"xml=x").unwrap();
        let mut connection = None;
        for kept in [true, true, false] {
            let reply = client.send_raw(&mut connection, &request).await;
            assert_eq!(reply.label(), "success", "{reply:?}");
            assert_eq!(connection.is_some(), kept);
        }
    }

    /// A server that reads once, then writes `all` in one segment and holds
    /// the connection open until the client goes.
    async fn serve_at_once(all: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut chunk = [0u8; 4096];
            let _ = s.read(&mut chunk).await.unwrap();
            s.write_all(all.as_bytes()).await.unwrap();
            while s.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
        });
        base
    }

    /// Pipelined answers that arrive in one segment are read one by one,
    /// each by its own framing, and the connection is kept after them.
    #[tokio::test]
    async fn pipelined_answers_in_one_segment_are_each_read_in_order() {
        let error = r#"<response><failure><error code="26">x</error></failure></response>"#;
        let base = serve_at_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{SUCCESS}HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{error}\r\n0\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
            SUCCESS.len(),
            error.len()
        ))
        .await;
        let client = EmClient::new(&base, AppInfo::new("a", "b"), Duration::from_secs(2)).unwrap();
        let mut connection = None;
        let request = client.request_bytes(b"xml=x").unwrap();
        let mut labels = Vec::new();
        client
            .send_pipelined(&mut connection, &request, 3, |r, _| labels.push(r.label()))
            .await;
        assert_eq!(labels, ["success", "26", "http-503"]);
        assert!(connection.is_some());

        // A server that answers the first and closes: the second was never
        // answered, whatever the first said.
        let base = serve_at_once(format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{SUCCESS}",
            SUCCESS.len()
        ))
        .await;
        let client = EmClient::new(&base, AppInfo::new("a", "b"), Duration::from_secs(2)).unwrap();
        let mut connection = None;
        let mut labels = Vec::new();
        client
            .send_pipelined(&mut connection, &request, 2, |r, _| labels.push(r.label()))
            .await;
        assert_eq!(labels, ["success", "connection-error"]);
        assert!(connection.is_none());

        // Asked for one of two: the second was never asked for, so the
        // connection goes.
        let base = serve_at_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {0}\r\n\r\n{SUCCESS}HTTP/1.1 200 OK\r\nContent-Length: {0}\r\n\r\n{SUCCESS}",
            SUCCESS.len()
        ))
        .await;
        let client = EmClient::new(&base, AppInfo::new("a", "b"), Duration::from_secs(2)).unwrap();
        let mut connection = None;
        let reply = client.send_raw(&mut connection, &request).await;
        assert_eq!(reply.label(), "success");
        assert!(connection.is_none());
    }

    #[tokio::test]
    async fn a_bad_answer_is_a_label_and_drops_the_connection() {
        let answers = vec![
            "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n".to_string(),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string(),
            "garbage\r\n\r\n".to_string(),
        ];
        let base = serve(answers).await;
        let client = EmClient::new(&base, AppInfo::new("a", "b"), Duration::from_secs(2)).unwrap();
        let request = client.request_bytes(b"xml=x").unwrap();
        let mut connection = None;
        assert_eq!(
            client.send_raw(&mut connection, &request).await,
            Reply::Http(503)
        );
        assert_eq!(
            client.send_raw(&mut connection, &request).await,
            Reply::Malformed
        );
        assert!(connection.is_some(), "a well-framed answer keeps it");
        assert_eq!(
            client.send_raw(&mut connection, &request).await,
            Reply::Malformed
        );
        assert!(connection.is_none());
        // The server is gone: the next send opens a connection and fails.
        assert_eq!(
            client.send_raw(&mut connection, &request).await,
            Reply::Transport
        );
        assert!(client.request_bytes(b"x").is_some());
        let https = EmClient::new(
            "https://127.0.0.1:1",
            AppInfo::new("a", "b"),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(
            https.request_bytes(b"x").is_none(),
            "https goes through hyper and rustls"
        );
    }
}
