//! The server on a hostile network: slow and idle connections are closed
//! after the header timeout, a listener holds at most its connection cap,
//! and a body that never ends is answered when the body timeout runs out.

use crate::support::{D1, app, lab, login};
use emlab_server::ServerOptions;
use emlab_server::listener::HttpLimits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: HttpLimits = HttpLimits {
    header_timeout: Duration::from_millis(500),
    body_timeout: Duration::from_millis(500),
    max_connections: 40,
};

async fn server() -> emlab_server::RunningServer {
    emlab_server::start(
        &lab("", ""),
        ServerOptions {
            http_limits: LIMITS,
            ..ServerOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let s = server().await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        // Slowloris: a request line and one header, then nothing.
        c.write_all(b"POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(c);
    }
    let started = Instant::now();
    for c in &mut slow {
        assert!(
            closed_within(c, Duration::from_secs(3)).await,
            "a slow client is cut off"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // An idle kept-alive connection: one request, then silence.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle for longer than the timeout"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_holds_at_most_its_connection_cap_and_recovers() {
    let s = server().await;
    let mut held = Vec::new();
    for _ in 0..LIMITS.max_connections {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // One more is closed at once, not queued.
    let mut extra = TcpStream::connect(s.addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_millis(300)).await);
    // Once the held ones time out, the server serves again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let client = crate::support::client(&s.base_url(), app());
    let r = client.send(&login(&app(), D1, "mona")).await;
    assert_eq!(r.label(), "success");
    drop(held);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_shorter_than_announced_is_answered_at_the_body_timeout() {
    let s = server().await;
    for head in [
        // Chunked: announces 0x40 bytes, sends 7.
        "POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n40\r\nxml=%3C",
        // Content-Length: 100, sends 7.
        "POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nxml=%3C",
    ] {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf))
            .await
            .expect("an answer, not a hang")
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.contains("<error code=\"1\""), "{answer}");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
    }
    s.shutdown().await.unwrap();
}
