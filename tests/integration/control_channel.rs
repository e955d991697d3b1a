//! The SCCP control channel (PROTOCOL.md §5) with a minimal phone: it
//! registers, and the test watches which Reset commands a login or logout
//! brings (restart = 2, reset = 1).

use crate::support::*;
use emlab_protocol::em_api::{
    DeviceUser, Duration as EmDuration, ExclusiveDuration, Login, Message as EmMessage, Operation,
    Request,
};
use emlab_protocol::phone_xml::EM_SERVICE_PATH;
use emlab_protocol::sccp::{Message, Register, ResetType};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const FLEET0: &str = "SEP0E0000000000";
pub(crate) const FLEET1: &str = "SEP0E0000000001";
const FLEET2: &str = "SEP0E0000000002";
pub(crate) const TYPE_7960: u32 = 7;

pub(crate) struct SccpPhone {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl SccpPhone {
    async fn connect(addr: SocketAddr) -> SccpPhone {
        SccpPhone {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Connects from a chosen loopback address (each phone its own, 127.0.0.0/8).
    pub(crate) async fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> SccpPhone {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(local, 0)).unwrap();
        SccpPhone {
            stream: socket.connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Connects and registers; returns the phone and the server's replies.
    pub(crate) async fn register(
        addr: SocketAddr,
        device: &str,
        device_type: u32,
    ) -> (SccpPhone, Vec<Message>) {
        SccpPhone::connect(addr)
            .await
            .register_as(device, device_type)
            .await
    }

    /// Registers this connection as `device`; returns the server's replies.
    pub(crate) async fn register_as(
        self,
        device: &str,
        device_type: u32,
    ) -> (SccpPhone, Vec<Message>) {
        let mut p = self;
        p.send(&Message::Register(Register {
            device_name: device.into(),
            user_id: 0,
            instance: 1,
            ip: Ipv4Addr::LOCALHOST,
            device_type,
            max_streams: 5,
        }))
        .await;
        let mut replies = vec![p.recv().await.expect("a reply to Register")];
        if matches!(replies[0], Message::RegisterAck { .. }) {
            replies.push(p.recv().await.expect("CapabilitiesReq after RegisterAck"));
        }
        (p, replies)
    }

    async fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.encode()).await.unwrap();
    }

    /// The next message, or `None` if nothing comes within a second or the server hangs up.
    async fn recv(&mut self) -> Option<Message> {
        self.recv_within(Duration::from_secs(1)).await
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some((m, used)) =
                Message::decode(&self.buf).expect("the server sends valid SCCP")
            {
                self.buf.drain(..used);
                return Some(m);
            }
            let mut chunk = [0u8; 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Every Reset that arrives until the line goes quiet for 300 ms.
    pub(crate) async fn resets(&mut self) -> Vec<ResetType> {
        let mut out = Vec::new();
        while let Some(m) = self.recv_within(Duration::from_millis(300)).await {
            match m {
                Message::Reset(t) => out.push(t),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    /// Whether the server closed the connection.
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub(crate) fn registered(replies: &[Message]) -> bool {
    matches!(
        replies,
        [Message::RegisterAck { .. }, Message::CapabilitiesReq]
    )
}

pub(crate) const RESTART: &[ResetType] = &[ResetType::Restart];
const RESTART_THEN_RESET: &[ResetType] = &[ResetType::Restart, ResetType::Reset];

#[tokio::test]
async fn rst_1_login_and_logout_restart_the_phone() {
    let t = TestServer::start("", "").await;
    let (mut phone, replies) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(registered(&replies), "{replies:?}");
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    // A refused login changes nothing on the phone.
    assert!(t.login(FLEET0, "nobody").await.error_code().is_some());
    assert_eq!(phone.resets().await, []);
}

#[tokio::test]
async fn rst_2_locale_mismatch_restarts_then_resets() {
    let t = TestServer::start("", "").await;
    let (mut phone, replies) = SccpPhone::register(t.server.sccp_addr, D2, TYPE_7960).await;
    assert!(registered(&replies));
    // bob's German against the phone's English_United_Kingdom.
    assert!(t.login(D2, "bob").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
    assert_eq!(
        t.config(D2).await.user_locale.name,
        "German_Germany",
        "RST-4"
    );
    // And back at logout.
    assert!(t.logout(D2).await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
}

#[tokio::test]
async fn rst_3_module_mismatch_restarts_then_resets() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET2, TYPE_7960).await;
    // mona's profile brings a 7914 the phone's logout profile does not have; same locale.
    assert!(t.login(FLEET2, "mona").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
    let c = t.config(FLEET2).await;
    assert_eq!(c.add_on_modules.modules.len(), 1, "RST-4");
    assert_eq!(c.user_locale.name, "English_United_States");
}

#[tokio::test]
async fn log_2_phone_service_logout_restarts_the_phone_into_its_logout_profile() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    let q = format!("{EM_SERVICE_PATH}?device={FLEET0}&userid=user00000&seq=100000");
    let (_, _, body) = phone_get(&t.url(), &q, &[]).await;
    assert!(body.contains("Login Successful"), "{body}");
    assert_eq!(phone.resets().await, RESTART);
    let (_, _, body) = phone_get(
        &t.url(),
        &format!("{EM_SERVICE_PATH}?device={FLEET0}&doLogout=true"),
        &[],
    )
    .await;
    assert!(body.contains("Logout Successful"), "{body}");
    assert_eq!(phone.resets().await, RESTART);
    assert_eq!(t.config(FLEET0).await.em_profile, "ADP0E0000000000");
}

#[tokio::test]
async fn multi_3_auto_logout_restarts_the_first_phone_too() {
    let t = TestServer::start("", "multiple_login_behavior = \"auto-logout\"").await;
    let (mut first, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    let (mut second, _) = SccpPhone::register(t.server.sccp_addr, FLEET1, TYPE_7960).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(first.resets().await, RESTART);
    assert!(t.login(FLEET1, "user00000").await.error_code().is_none());
    assert_eq!(
        first.resets().await,
        RESTART,
        "logged out, back to its logout profile"
    );
    assert_eq!(second.resets().await, RESTART);
}

#[tokio::test]
async fn automatic_logout_at_expiry_restarts_the_phone() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    let timed = EmMessage::Request(Request::new(
        app(),
        Operation::Login(Login {
            device_name: FLEET0.into(),
            user_id: "user00000".into(),
            exclusive_duration: Some(ExclusiveDuration {
                kind: EmDuration::Minutes(10),
            }),
            ..Login::default()
        }),
    ));
    assert!(answer(t.client.send(&timed).await).error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    t.advance_clock(11 * 60).await;
    assert_eq!(phone.resets().await, RESTART);
}

#[tokio::test]
async fn register_is_refused_for_unknown_sip_or_mistyped_devices() {
    let t = TestServer::start("", "").await;
    for (device, device_type, text) in [
        ("SEP0000DEADBEEF", TYPE_7960, "Device Unknown"),
        (D8851, TYPE_7960, "Device is not SCCP"),
        (D7905, TYPE_7960, "Device type mismatch"),
    ] {
        let (_, replies) = SccpPhone::register(t.server.sccp_addr, device, device_type).await;
        assert_eq!(
            replies,
            vec![Message::RegisterReject { text: text.into() }],
            "{device}"
        );
    }
    let (_, replies) = SccpPhone::register(t.server.sccp_addr, D7905, 20000).await;
    assert!(registered(&replies));
}

#[tokio::test]
async fn keep_alive_and_unregister() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    phone.send(&Message::KeepAlive).await;
    assert_eq!(phone.recv().await, Some(Message::KeepAliveAck));
    phone.send(&Message::Unregister).await;
    assert_eq!(
        phone.recv().await,
        Some(Message::UnregisterAck { status: 0 })
    );
    assert!(phone.closed().await);
    // Unregistered: a login no longer reaches it, and nothing breaks.
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
}

/// A connection that never registers, and a phone whose KeepAlives stop,
/// are closed, as CallManager does; the silent phone is unregistered, so
/// the count of registered phones falls back.
#[tokio::test]
async fn silent_connections_are_closed_and_a_silent_phone_is_unregistered() {
    let options = emlab_server::ServerOptions {
        sccp_limits: emlab_server::sccp_server::SccpLimits {
            register_timeout: Duration::from_millis(300),
            keep_alive_s: 1,
        },
        ..emlab_server::ServerOptions::default()
    };
    let server = emlab_server::start(&lab("", ""), options).await.unwrap();
    let mut never_registers = SccpPhone::connect(server.sccp_addr).await;
    assert!(
        never_registers.closed().await,
        "closed after the register timeout"
    );

    let (mut phone, replies) = SccpPhone::register(server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(registered(&replies));
    assert!(
        matches!(
            replies[0],
            Message::RegisterAck {
                keep_alive_s: 1,
                ..
            }
        ),
        "RegisterAck announces the configured interval: {replies:?}"
    );
    // KeepAlives every announced interval hold the registration past 2 s.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        phone.send(&Message::KeepAlive).await;
        assert_eq!(phone.recv().await, Some(Message::KeepAliveAck));
    }
    assert_eq!(server.state.control.registered_count(), 1);
    // Then silence: two intervals later the server hangs up and forgets it.
    let started = std::time::Instant::now();
    let mut chunk = [0u8; 64];
    let eof = tokio::time::timeout(Duration::from_secs(5), phone.stream.read(&mut chunk)).await;
    assert!(matches!(eof, Ok(Ok(0)) | Ok(Err(_))), "{eof:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.state.control.registered_count(), 0);
}

#[tokio::test]
async fn malformed_frames_close_the_connection_and_change_nothing() {
    let t = TestServer::start("", "").await;
    let frames: [&[u8]; 3] = [
        &[0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0], // length far too large
        &[2, 0, 0, 0, 0, 0, 0, 0, 1, 0],       // length below 4
        &[8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x53, 0x45, 0x50, 0x30], // Register cut short
    ];
    for frame in frames {
        let mut p = SccpPhone::connect(t.server.sccp_addr).await;
        p.stream.write_all(frame).await.unwrap();
        assert!(p.closed().await, "{frame:?}");
    }
    // A truncated frame followed by a hang-up is harmless too.
    let mut p = SccpPhone::connect(t.server.sccp_addr).await;
    p.stream
        .write_all(&[40, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        .await
        .unwrap();
    drop(p);
    assert_eq!(t.server.state.control.registered_count(), 0);
    let (_, replies) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(registered(&replies));
    assert_eq!(t.server.state.control.registered_count(), 1);
}

/// A real capture of a registration, a login and a logout decodes in
/// tshark as Skinny: `tshark -d tcp.port==N,skinny` (README, "Seeing the
/// control channel"). CI installs tshark (.ci/run); elsewhere the test
/// needs it installed and says so when it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rst_1_a_captured_login_decodes_as_skinny_in_tshark() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if Command::new("tshark").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install tshark (see .ci/run)"
        );
        eprintln!("skipped: tshark is not installed (apt-get install tshark)");
        return;
    }
    let t = TestServer::start("", "").await;
    let port = t.server.sccp_addr.port();
    let file = scratch("tshark-capture").join("login.pcapng");
    let mut capture = Command::new("tshark")
        .args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-w",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark starts");
    let stderr = capture.stderr.take().unwrap();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            // "Capturing on 'lo'" comes before dumpcap really captures; this comes after.
            if line.contains("Capture started") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(20))
        .expect("tshark is capturing on lo");

    let (mut phone, replies) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(registered(&replies));
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    assert!(t.logout(FLEET0).await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    // A virtual phone of the fleet answers CapabilitiesReq with its codecs.
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _link = emlab_simulator::phone::sccp_link::register(
        Ipv4Addr::new(127, 16, 0, 2),
        t.server.sccp_addr,
        Register {
            device_name: FLEET1.into(),
            user_id: 0,
            instance: 1,
            ip: Ipv4Addr::new(127, 16, 0, 2),
            device_type: TYPE_7960,
            max_streams: 5,
        },
        events,
        Duration::from_secs(5),
    )
    .await
    .expect("the fleet's phone registers");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = Command::new("kill")
        .args(["-INT", &capture.id().to_string()])
        .status();
    let _ = capture.wait();

    let decoded = Command::new("tshark")
        .args([
            "-r",
            file.to_str().unwrap(),
            "-d",
            &format!("tcp.port=={port},skinny"),
            "-Y",
            "skinny",
        ])
        .args([
            "-T",
            "fields",
            "-e",
            "skinny.messageId",
            "-e",
            "skinny.resetType",
            "-e",
            "skinny.DeviceName",
            "-e",
            "skinny.capCount",
            "-e",
            "skinny.payloadCapability",
        ])
        .output()
        .expect("tshark reads the capture");
    let rows: Vec<Vec<String>> = String::from_utf8_lossy(&decoded.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    // RegisterReq 0x0001, RegisterAck 0x0081, CapabilitiesReq 0x009B, then
    // two Resets 0x009F; the fleet's phone: Register, RegisterAck,
    // CapabilitiesReq and its CapabilitiesRes 0x0010.
    assert_eq!(
        ids,
        ["1", "129", "155", "159", "159", "1", "129", "155", "16"],
        "{rows:?}"
    );
    assert_eq!(rows[0][2], FLEET0, "the device name decodes");
    assert!(
        rows[3..5].iter().all(|r| r[1] == "0x00000002"),
        "resetType 2 = restart: {rows:?}"
    );
    // Wireshark reads the codec list: three codecs, G.711 µ-law first.
    assert_eq!(rows[8][3], "3", "capCount: {rows:?}");
    assert_eq!(
        rows[8][4], "0x00000004,0x00000002,0x0000000c",
        "payloadCapability: {rows:?}"
    );
}

// ---------------------------------------------------------------------------
// SIP (8800 series)

use emlab_protocol::sip::{SipMessage, parse_service_control};
use tokio::net::UdpSocket;

/// A minimal 8851 on UDP: it registers and reads service-control NOTIFYs.
struct SipPhone {
    socket: UdpSocket,
    server: SocketAddr,
    call_id: String,
    contact_uri: String,
}

impl SipPhone {
    async fn new(server: SocketAddr) -> SipPhone {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let me = socket.local_addr().unwrap();
        let call_id = format!("00112233-{}@127.0.0.1", me.port());
        SipPhone {
            socket,
            server,
            call_id,
            contact_uri: format!("sip:c0ffee@{me};transport=udp"),
        }
    }

    fn register_text(&self, device: &str, expires: u32, with_contact: bool) -> String {
        let me = self.socket.local_addr().unwrap();
        let contact = if with_contact {
            format!(
                "Contact: <{}>;+u.sip!devicename.ccm.cisco.com=\"{device}\";+u.sip!model.ccm.cisco.com=\"684\"\r\n",
                self.contact_uri
            )
        } else {
            String::new()
        };
        format!(
            "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{port}\r\nFrom: <sip:2001@{server}>;tag=p1\r\n\
             To: <sip:2001@{server}>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n{contact}\
             Supported: replaces,X-cisco-service-control\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            port = me.port(),
            call_id = self.call_id,
        )
    }

    /// Sends a datagram and returns the answer, if one comes within a second.
    async fn exchange(&self, datagram: &str) -> Option<SipMessage> {
        self.socket
            .send_to(datagram.as_bytes(), self.server)
            .await
            .unwrap();
        self.recv(Duration::from_secs(1)).await
    }

    async fn recv(&self, wait: Duration) -> Option<SipMessage> {
        let mut buf = vec![0u8; 65_535];
        let (n, _) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(SipMessage::parse(&buf[..n]).expect("the server sends SIP"))
    }

    async fn register(server: SocketAddr, device: &str) -> (SipPhone, SipMessage) {
        let phone = SipPhone::new(server).await;
        let reply = phone
            .exchange(&phone.register_text(device, 3600, true))
            .await
            .expect("an answer to REGISTER");
        (phone, reply)
    }

    /// The actions of every NOTIFY until the line is quiet for 300 ms; each
    /// is checked as a phone would, and answered 200.
    async fn actions(&self) -> Vec<String> {
        let mut actions = Vec::new();
        while let Some(n) = self.recv(Duration::from_millis(300)).await {
            assert_eq!(n.method(), Some("NOTIFY"), "{n:?}");
            assert_eq!(n.start_line, format!("NOTIFY {} SIP/2.0", self.contact_uri));
            assert_eq!(n.header("event"), Some("service-control"));
            assert_eq!(n.header("content-type"), Some("text/plain"));
            let (action, register_call_id) = parse_service_control(&n.body);
            assert_eq!(
                register_call_id.as_deref(),
                Some(self.call_id.as_str()),
                "RegisterCallId is our REGISTER's"
            );
            let ok = emlab_protocol::sip::response(&n, 200, "OK", "ph1", &[]);
            self.socket
                .send_to(ok.to_wire().as_bytes(), self.server)
                .await
                .unwrap();
            actions.push(action.expect("an action"));
        }
        actions
    }
}

#[tokio::test]
async fn rst_1_sip_phone_restarts_by_service_control_notify() {
    let t = TestServer::start("", "").await;
    let (phone, ok) = SipPhone::register(t.server.sip_addr, D8851).await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("call-id"), Some(phone.call_id.as_str()));
    assert_eq!(ok.header("cseq"), Some("1 REGISTER"));
    assert!(ok.header("to").unwrap().contains(";tag="), "{ok:?}");
    assert_eq!(
        ok.header("contact"),
        Some(format!("<{}>;expires=3600", phone.contact_uri).as_str())
    );
    // mona: same locale and (on an 8851) the same no modules: a restart only.
    assert!(t.login(D8851, "mona").await.error_code().is_none());
    assert_eq!(phone.actions().await, ["restart"]);
    assert!(t.logout(D8851).await.error_code().is_none());
    assert_eq!(phone.actions().await, ["restart"]);
}

#[tokio::test]
async fn rst_2_sip_phone_locale_mismatch_restarts_then_resets() {
    let t = TestServer::start("", "").await;
    let (phone, _) = SipPhone::register(t.server.sip_addr, D8851).await;
    assert!(t.login(D8851, "alice").await.error_code().is_none());
    assert_eq!(phone.actions().await, ["restart", "reset"]);
}

#[tokio::test]
async fn sip_register_errors_unregister_and_garbage() {
    let t = TestServer::start("", "").await;
    let phone = SipPhone::new(t.server.sip_addr).await;
    // The status, and the Warning header that says why (RFC 3261 §20.43).
    let status = |m: Option<SipMessage>| {
        m.and_then(|m| Some((m.status()?, m.header("warning")?.to_string())))
    };
    let (code, why) = status(
        phone
            .exchange(&phone.register_text("SEP0000DEADBEEF", 3600, true))
            .await,
    )
    .expect("404 with a Warning");
    assert_eq!(code, 404);
    assert_eq!(
        why,
        r#"399 emlab "device SEP0000DEADBEEF is not in the directory""#
    );
    let (code, why) = status(phone.exchange(&phone.register_text(D1, 3600, true)).await)
        .expect("403 with a Warning");
    assert_eq!(code, 403, "an SCCP phone");
    assert!(why.contains("configured for SCCP, not SIP"), "{why}");
    let (code, why) = status(
        phone
            .exchange(&phone.register_text(D8851, 3600, false))
            .await,
    )
    .expect("400 with a Warning");
    assert_eq!(code, 400, "no Contact");
    assert!(why.contains("Contact"), "{why}");
    // Hostile framing: an empty Call-ID, a Content-Length that is negative
    // or longer than the datagram, an Expires that is no number.
    let good = phone.register_text(D8851, 3600, true);
    for (broken, words) in [
        (good.replace(&phone.call_id, ""), "empty Call-ID"),
        (
            good.replace("Content-Length: 0", "Content-Length: -4"),
            "not a non-negative number",
        ),
        (
            good.replace("Content-Length: 0", "Content-Length: 900"),
            "longer than the body",
        ),
        (
            good.replace("Expires: 3600", "Expires: soon"),
            "Expires is not a number",
        ),
    ] {
        let (code, why) = status(phone.exchange(&broken).await).expect("400 with a Warning");
        assert_eq!(code, 400, "{broken}");
        assert!(why.contains(words), "{why}");
    }
    // Not SIP at all: dropped without an answer, and the server carries on.
    assert!(
        phone
            .exchange("\u{1}\u{2} definitely not SIP")
            .await
            .is_none()
    );
    let ok = |m: Option<SipMessage>| m.and_then(|m| m.status());
    assert_eq!(
        ok(phone
            .exchange(&phone.register_text(D8851, 3600, true))
            .await),
        Some(200)
    );
    // Expires: 0 unregisters: a login then sends nothing.
    assert_eq!(
        ok(phone.exchange(&phone.register_text(D8851, 0, true)).await),
        Some(200)
    );
    assert!(t.login(D8851, "mona").await.error_code().is_none());
    assert_eq!(phone.actions().await, Vec::<String>::new());
}

#[tokio::test]
async fn log_6_login_while_off_hook_restarts_only_on_hook() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    phone.send(&Message::OffHook).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        t.login(FLEET0, "user00000").await.error_code().is_none(),
        "the login itself succeeds"
    );
    assert_eq!(phone.resets().await, [], "nothing while the handset is up");
    phone.send(&Message::OnHook).await;
    assert_eq!(phone.resets().await, RESTART);
    assert_eq!(t.config(FLEET0).await.login_user_id, "user00000");
}

#[tokio::test]
async fn time_4_time_of_day_logout_spares_a_call_until_it_ends() {
    let cme = "profile = \"cme\"\nclock_start = \"17:00\"\nlogout_times = [\"18:00\"]";
    let t = TestServer::start(cme, "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET0, TYPE_7960).await;
    assert!(t.login(FLEET0, "user00000").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART);
    assert!(t.login(D1, "alice").await.error_code().is_none());
    phone.send(&Message::OffHook).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.advance_clock(59 * 60).await;
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::User("alice".into()),
        "17:59"
    );
    t.advance_clock(2 * 60).await;
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::Nobody,
        "18:01: everyone out"
    );
    assert_eq!(
        t.user_on(FLEET0).await,
        DeviceUser::User("user00000".into()),
        "but not during the call"
    );
    assert_eq!(phone.resets().await, []);
    phone.send(&Message::OnHook).await;
    assert_eq!(phone.resets().await, RESTART, "logged out as the call ends");
    assert_eq!(t.user_on(FLEET0).await, DeviceUser::Nobody);
    // And again the next day.
    assert!(t.login(D2, "bob").await.error_code().is_none());
    t.advance_clock(24 * 3600).await;
    assert_eq!(t.user_on(D2).await, DeviceUser::Nobody);
}

#[tokio::test]
async fn time_5_an_idle_phone_is_logged_out_and_going_off_hook_resets_the_timer() {
    let t = TestServer::start("profile = \"cme\"", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET2, TYPE_7960).await;
    // mona's profile has max-idle-time 10.
    assert!(t.login(FLEET2, "mona").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
    t.advance_clock(8 * 60).await;
    phone.send(&Message::OffHook).await;
    phone.send(&Message::OnHook).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.advance_clock(8 * 60).await;
    assert_eq!(
        t.user_on(FLEET2).await,
        DeviceUser::User("mona".into()),
        "16 minutes, but active 8 ago"
    );
    t.advance_clock(3 * 60).await;
    assert_eq!(
        t.user_on(FLEET2).await,
        DeviceUser::Nobody,
        "11 minutes idle"
    );
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
    // A profile without max-idle-time has no idle timer.
    assert!(t.login(FLEET2, "user00002").await.error_code().is_none());
    t.advance_clock(24 * 3600).await;
    assert_eq!(
        t.user_on(FLEET2).await,
        DeviceUser::User("user00002".into())
    );
}

#[tokio::test]
async fn rst_4_after_the_restart_the_phone_loads_the_profiles_locale_and_modules() {
    let t = TestServer::start("", "").await;
    let (mut phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET2, TYPE_7960).await;
    let before = t.config(FLEET2).await;
    assert!(t.login(FLEET2, "mona").await.error_code().is_none());
    assert_eq!(phone.resets().await, RESTART_THEN_RESET);
    // What the phone re-reads after the restart and reset.
    let after = t.config(FLEET2).await;
    assert_eq!(
        (
            before.add_on_modules.modules.len(),
            after.add_on_modules.modules.len()
        ),
        (0, 1)
    );
    assert_eq!(after.add_on_modules.modules[0].model, "7914");
    assert_eq!(after.user_locale.name, "English_United_States");
    assert_eq!(
        (after.em_profile.as_str(), after.login_user_id.as_str()),
        ("mona-7960", "mona")
    );
}

/// SIPp, an independent SIP implementation, plays an 8851: it registers
/// with Cisco's Contact parameters and answers the out-of-dialog
/// service-control NOTIFY (tests/sipp/*.xml). CI installs SIPp
/// (package sip-tester, .ci/run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rst_1_sipp_as_an_8851_registers_and_accepts_the_restart_notify() {
    use std::process::{Command, Stdio};
    if Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install sip-tester (see .ci/run)"
        );
        eprintln!("skipped: SIPp is not installed (apt-get install sip-tester)");
        return;
    }
    let t = TestServer::start("", "").await;
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
    let dir = scratch("sipp-8851");
    let log = dir.join("messages.log");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sipp = Command::new("sipp")
        .arg(t.server.sip_addr.to_string())
        .args([
            "-sf",
            scenarios.join("cisco-8851-register.xml").to_str().unwrap(),
        ])
        .args(["-oocsf", scenarios.join("notify-ok.xml").to_str().unwrap()])
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-s",
            D8851,
        ])
        .args([
            "-trace_msg",
            "-message_file",
            log.to_str().unwrap(),
            "-nostdin",
            "-timeout",
            "20s",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp starts");
    let device = t.server.state.em.directory.device_idx(D8851).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !t.server.state.control.is_registered(device) {
        assert!(
            std::time::Instant::now() < deadline,
            "SIPp never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t.login(D8851, "mona").await.error_code().is_none());
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIPp's call failed: {status}");
    let messages = std::fs::read_to_string(&log).unwrap();
    assert!(messages.contains("action=restart"), "{messages}");
    assert!(
        messages.contains("X-Seen: Event: service-control action=restart restart RegisterCallId={"),
        "{messages}"
    );
}

/// `/metrics` as promtool, which nobody here wrote, reads it: it parses
/// (exit 1 would be a format error), and its lint (exit 3) finds nothing
/// but the `allowed` advice.
fn promtool_accepts(metrics: &str, allowed: &[&str]) {
    if !peer_installed("promtool", "prometheus") {
        return;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let only_allowed = said
        .lines()
        .all(|l| l.trim().is_empty() || allowed.iter().any(|a| l.contains(a)));
    assert!(
        out.status.success() || (out.status.code() == Some(3) && only_allowed),
        "promtool: {said}"
    );
}

/// The value of the sample `name` (with its labels) in `/metrics`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// MET-1: registered phones by protocol, a latency histogram of EM
/// operations, and under cme the CCME MIB's EM phone counts.
#[tokio::test]
async fn met_1_metrics_count_registered_phones_and_time_em_operations() {
    let t = TestServer::start("", "").await;
    let (_phone, _) = SccpPhone::register(t.server.sccp_addr, FLEET2, TYPE_7960).await;
    assert!(t.login(D1, "alice").await.error_code().is_none());
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(failure(&t.logout(D1).await).0, 19);
    let m = t.metrics().await;
    promtool_accepts(&m, &[]);
    assert_eq!(
        sample(&m, r#"em_phones_registered{protocol="sccp"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"em_phones_registered{protocol="sip"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, r#"em_operation_seconds_count{operation="login"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, r#"em_operation_seconds_count{operation="logout"}"#),
        Some(2.0),
        "refusals are timed too"
    );
    assert_eq!(
        sample(
            &m,
            r#"em_operation_seconds_bucket{operation="logout",le="+Inf"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, "ccme_em_phones_total"),
        None,
        "a CME counter under ucm"
    );

    let cme = TestServer::start("profile = \"cme\"", "").await;
    let (_phone, _) = SccpPhone::register(cme.server.sccp_addr, FLEET2, TYPE_7960).await;
    let m = cme.metrics().await;
    // The name is PROTOCOL.md's, after the MIB's ccmeEMphoneTot; promtool
    // advises that a gauge not end in _total.
    promtool_accepts(
        &m,
        &["ccme_em_phones_total non-counter metrics should not have"],
    );
    // Every device of the test lab but the one with EM disabled.
    let em_phones = 300 + 9 - 1;
    assert_eq!(
        sample(&m, "ccme_em_phones_total"),
        Some(em_phones as f64),
        "{m}"
    );
    assert_eq!(sample(&m, "ccme_em_phones_registered"), Some(1.0));
}
