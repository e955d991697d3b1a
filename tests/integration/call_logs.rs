//! Clearing call logs (LOGS-1, LOGS-2) with a phone web server that acts as
//! a phone does: it takes the push on `/CGI/Execute`, asks the server's
//! `authenticationURL` about the Basic credentials, and answers.

use crate::control_channel::{SccpPhone, TYPE_7960, registered};
use crate::support::*;
use base64::Engine;
use emlab_protocol::em_api::{
    Duration as EmDuration, ExclusiveDuration, Login, Message, Operation, Request,
};
use emlab_protocol::phone_xml::{
    PhoneError, PhoneExecute, PhoneResponse, PushAnswer, ResponseItem,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FLEET0: &str = "SEP0E0000000000";
const PHONE_IP: &str = "127.0.0.21";

/// What the phone's web server saw: the URLs it was told to execute, each
/// with whether the server's authenticationURL said AUTHORIZED.
type PushLog = Arc<Mutex<Vec<(String, bool)>>>;

/// `auth_url` is the `authenticationURL` of the phone's configuration;
/// empty, the phone can authorize nothing.
async fn serve_phone_web(listener: TcpListener, auth_url: String, log: PushLog) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(phone_web_connection(stream, auth_url.clone(), log.clone()));
    }
}

async fn phone_web_connection(mut s: TcpStream, auth_url: String, log: PushLog) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        assert!(head.starts_with("POST /CGI/Execute HTTP/1.1"), "{head}");
        let xml = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "XML")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let execute = PhoneExecute::from_xml(&xml).expect("a CiscoIPPhoneExecute");
        // Basic credentials, checked against the authenticationURL as a phone does.
        let (user, password) = header("authorization")
            .and_then(|a| a.strip_prefix("Basic ").map(str::to_string))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|c| {
                c.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
            .unwrap_or_default();
        let authorized = match auth_url.split_once("/ccmcip/") {
            Some((base, path)) if !path.is_empty() => {
                let ask =
                    format!("/ccmcip/{path}?UserID={user}&Password={password}&devicename={FLEET0}");
                http(base, "GET", &ask, String::new()).await.1 == "AUTHORIZED"
            }
            _ => false,
        };
        for item in &execute.items {
            log.lock().unwrap().push((item.url.clone(), authorized));
        }
        let answer = if authorized {
            PushAnswer::Response(PhoneResponse {
                items: execute
                    .items
                    .iter()
                    .map(|i| ResponseItem {
                        status: 0,
                        data: "Success".into(),
                        url: i.url.clone(),
                    })
                    .collect(),
            })
        } else {
            PushAnswer::Error(PhoneError { number: 4 })
        };
        let xml = answer.to_xml();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
            xml.len()
        );
        if s.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A server whose phone FLEET0 is registered from PHONE_IP, with its web
/// server listening there; returns the server and the phone's push log.
async fn server_with_phone(server_toml: &str, params: &str) -> (TestServer, SccpPhone, PushLog) {
    let listener = TcpListener::bind((PHONE_IP, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = TestServer::start(&format!("{server_toml}\nphone_web_port = {port}"), params).await;
    let log: PushLog = Arc::default();
    let auth_url = t.config(FLEET0).await.authentication_url;
    tokio::spawn(serve_phone_web(listener, auth_url, log.clone()));
    let (phone, replies) = SccpPhone::connect_from(PHONE_IP.parse().unwrap(), t.server.sccp_addr)
        .await
        .register_as(FLEET0, TYPE_7960)
        .await;
    assert!(registered(&replies));
    (t, phone, log)
}

/// The pushes received, once none has arrived for 300 ms.
async fn pushes(log: &PushLog) -> Vec<(String, bool)> {
    let mut seen = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = log.lock().unwrap().len();
        if now == seen {
            return log.lock().unwrap().clone();
        }
        seen = now;
    }
}

fn cleared(n: usize) -> Vec<(String, bool)> {
    vec![("Init:CallHistory".to_string(), true); n]
}

async fn timed_login(t: &TestServer, minutes: u32) {
    let msg = Message::Request(Request::new(
        app(),
        Operation::Login(Login {
            device_name: FLEET0.into(),
            user_id: "user00000".into(),
            exclusive_duration: Some(ExclusiveDuration {
                kind: EmDuration::Minutes(minutes),
            }),
            ..Login::default()
        }),
    ));
    assert!(answer(t.client.send(&msg).await).error_code().is_none());
}

#[tokio::test]
async fn logs_1_manual_login_and_logout_clear_call_logs_automatic_logouts_do_not() {
    let (t, _phone, log) = server_with_phone("", "clear_call_logs = true").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(pushes(&log).await, cleared(1), "at login");
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, cleared(2), "at logout");
    timed_login(&t, 5).await;
    assert_eq!(pushes(&log).await, cleared(3));
    t.advance_clock(6 * 60).await;
    assert_eq!(pushes(&log).await, cleared(3), "not at an automatic logout");
    assert!(
        t.metrics()
            .await
            .contains("em_call_log_clears_total{result=\"cleared\"} 3")
    );
}

#[tokio::test]
async fn logs_1_call_logs_are_kept_by_default() {
    let (t, _phone, log) = server_with_phone("", "").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, vec![]);
}

#[tokio::test]
async fn logs_2_cme_clears_at_every_logout_unless_keep_history() {
    let (t, _phone, log) = server_with_phone("profile = \"cme\"", "").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(pushes(&log).await, vec![], "not at login");
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, cleared(1));
    timed_login(&t, 5).await;
    t.advance_clock(6 * 60).await;
    assert_eq!(pushes(&log).await, cleared(2), "automatic logouts too");

    let (t, _phone, log) = server_with_phone("profile = \"cme\"\nkeep_history = true", "").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, vec![]);
}

#[tokio::test]
async fn logs_2_a_cme_router_without_url_authentication_cannot_clear_call_history() {
    let unauthorized = vec![("Init:CallHistory".to_string(), false)];
    let (t, _phone, log) =
        server_with_phone("profile = \"cme\"\nurl_authentication = []", "").await;
    assert_eq!(
        t.config(FLEET0).await.authentication_url,
        "",
        "no URL to give"
    );
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(
        pushes(&log).await,
        unauthorized,
        "the push comes, and the phone cannot authorize it"
    );
    // `url authentication` under voice register global is for SIP phones only.
    let (t, _phone, log) =
        server_with_phone("profile = \"cme\"\nurl_authentication = [\"sip\"]", "").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, unauthorized);
    let (t, _phone, log) =
        server_with_phone("profile = \"cme\"\nurl_authentication = [\"sccp\"]", "").await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(pushes(&log).await, cleared(1));
}
