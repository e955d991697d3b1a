//! Configuration files over TFTP (PROTOCOL.md §8), proved by stock clients
//! (tftp-hpa, plain RFC 1350; atftp with blksize and tsize), the refusals
//! (write, unknown file) and hostile packets the server answers and survives.

use crate::support::{D1, TestServer, get_ok, peer_installed, scratch};
use emlab_protocol::tftp::{ErrorCode, Packet};
use emlab_simulator::phone::tftp;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

async fn run(program: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("client runs")
    })
    .await
    .unwrap()
}

/// The configuration file as HTTP serves it, to compare with TFTP's.
async fn over_http(t: &TestServer, device: &str) -> Vec<u8> {
    let url = format!("{}/{device}.cnf.xml", t.server.config_url());
    get_ok(&url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_read_the_config_and_are_refused_writes_and_unknown_files() {
    let (hpa, atftp) = (
        peer_installed("tftp", "tftp-hpa"),
        peer_installed("atftp", "atftp"),
    );
    let t = TestServer::start("", "").await;
    let dir = scratch("tftp-stock");
    let port = t.server.tftp_addr.unwrap().port().to_string();
    let file = format!("{D1}.cnf.xml");
    let expected = over_http(&t, D1).await;
    assert!(
        expected.len() > 512,
        "the file spans several RFC 1350 blocks"
    );
    if hpa {
        let local = dir.join("hpa.xml").display().to_string();
        let o = run(
            "tftp",
            vec![
                "-m".into(),
                "binary".into(),
                "127.0.0.1".into(),
                port.clone(),
                "-c".into(),
                "get".into(),
                file.clone(),
                local.clone(),
            ],
        )
        .await;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read(&local).unwrap(), expected);
        // tftp-hpa prints TFTP errors on stderr and still exits 0.
        let o = run(
            "tftp",
            vec![
                "127.0.0.1".into(),
                port.clone(),
                "-c".into(),
                "get".into(),
                "SEP0000DEADBEEF.cnf.xml".into(),
                dir.join("x").display().to_string(),
            ],
        )
        .await;
        let said =
            String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
        assert!(said.contains("File not found"), "{said}");
        let o = run(
            "tftp",
            vec![
                "127.0.0.1".into(),
                port.clone(),
                "-c".into(),
                "put".into(),
                local.clone(),
                file.clone(),
            ],
        )
        .await;
        let said =
            String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
        assert!(said.contains("Access violation"), "{said}");
    }
    if atftp {
        // Options as phones send them: a large block and the size up front.
        let local = dir.join("atftp.xml").display().to_string();
        let o = run(
            "atftp",
            vec![
                "--option".into(),
                "blksize 1428".into(),
                "--option".into(),
                "tsize 0".into(),
                "--verbose".into(),
                "-g".into(),
                "-r".into(),
                file.clone(),
                "-l".into(),
                local.clone(),
                "127.0.0.1".into(),
                port.clone(),
            ],
        )
        .await;
        let said =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{said}");
        assert_eq!(std::fs::read(&local).unwrap(), expected, "{said}");
        assert!(
            said.contains("blksize") && said.contains("1428"),
            "OACK accepted blksize: {said}"
        );
    }
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_phone_reads_its_config_over_tftp_with_options() {
    let t = TestServer::start("", "").await;
    let server = t.server.tftp_addr.unwrap();
    let expected = over_http(&t, D1).await;
    let got = tftp::fetch(
        "127.16.0.7".parse().unwrap(),
        server,
        &format!("{D1}.cnf.xml"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(got, expected);
    let missing = tftp::fetch(
        "127.16.0.7".parse().unwrap(),
        server,
        "SEP0000DEADBEEF.cnf.xml",
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.label(), "no-config");
    t.server.shutdown().await.unwrap();
}

/// Malformed, truncated and unknown packets each get an ERROR that says
/// why, and the server goes on serving.
#[tokio::test]
async fn hostile_packets_get_a_tftp_error_and_the_server_keeps_serving() {
    let t = TestServer::start("", "").await;
    let server: SocketAddr = t.server.tftp_addr.unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cases: &[(&[u8], u16, &str)] = &[
        (b"\x00", 4, "truncated"),
        (b"\x00\x09\x00\x00", 4, "unknown opcode 9"),
        (b"\x00\x01SEP000000000001.cnf.xml", 4, "NUL"),
        (
            b"\x00\x01file\x00octet\x00blksize\x00",
            4,
            "without a value",
        ),
        (b"\x00\x04\x00\x01", 4, "Illegal"),
        (
            b"\x00\x02SEP000000000001.cnf.xml\x00octet\x00",
            2,
            "Access violation",
        ),
    ];
    let mut buf = [0u8; 1024];
    for (packet, code, words) in cases {
        socket.send_to(packet, server).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        match Packet::decode(&buf[..n]) {
            Ok(Packet::Error { code: c, message }) => {
                assert_eq!(c, *code, "{packet:?}: {message}");
                assert!(message.contains(words), "{packet:?}: {message}");
            }
            other => panic!("{packet:?}: {other:?}"),
        }
    }
    assert_eq!(ErrorCode::from_u16(2), Some(ErrorCode::AccessViolation));
    // Still serving.
    let got = tftp::fetch(
        "127.0.0.1".parse().unwrap(),
        server,
        &format!("{D1}.cnf.xml"),
        Duration::from_secs(5),
    )
    .await;
    assert!(got.is_ok(), "{got:?}");
    t.server.shutdown().await.unwrap();
}
