//! The catalogue: every decoder that reads bytes from outside, each with
//! its seeds (valid inputs, encoded by the codecs themselves or taken from
//! the reviewed wire snapshots and shipped files) and its check.
//!
//! A target returns `Err` when the decoder's answer breaks a rule beyond
//! "does not panic": the server's answer to any EM API body must parse as
//! an EM response, a phone page must parse as a phone object, an imported
//! CME lab must load as a lab. A panic is caught by the runner.

use emlab_protocol::em_api::{self, Response};
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_xml::{EM_SERVICE_PATH, PhoneObject};
use emlab_protocol::sccp::{self, Register, ResetType};
use emlab_protocol::sip::{self, SipMessage};
use emlab_protocol::tftp::{self, Packet};
use emlab_protocol::{cme_config, xml_text};
use emlab_server::io::server::Server;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// One decoder under fuzz.
pub struct Target {
    pub name: &'static str,
    /// Valid inputs the mutator starts from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens of this format worth inserting.
    pub dictionary: &'static [&'static [u8]],
    /// Feeds one input; `Err` says which rule the answer broke.
    pub check: fn(&[u8]) -> Result<(), String>,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "em-api",
        seeds: em_api_seeds,
        dictionary: &[
            b"xml=",
            b"<request>",
            b"<query>",
            b"<login>",
            b"<logout>",
            b"<deviceName>",
            b"<userID>",
            b"<time>",
            b"<indefinite/>",
            b"<deviceUserQuery>",
            b"<userDevicesQuery>",
            b"<deviceProfileQuery>",
            b"%3C",
            b"+",
        ],
        check: em_api_check,
    },
    Target {
        name: "phone-service",
        seeds: phone_service_seeds,
        dictionary: &[
            b"device=",
            b"loginType=",
            b"userid=",
            b"seq=",
            b"profile=",
            b"doLogout=true",
            b"&",
            b"%2",
        ],
        check: phone_service_check,
    },
    Target {
        name: "em-response",
        seeds: em_response_seeds,
        dictionary: &[
            b"<success/>",
            b"<failure>",
            b"<error>",
            b"<deviceUserResults>",
            b"<userDevicesResults>",
            b"<code>",
        ],
        check: em_response_check,
    },
    Target {
        name: "phone-page",
        seeds: phone_page_seeds,
        dictionary: &[
            b"<CiscoIPPhoneText>",
            b"<CiscoIPPhoneInput>",
            b"<CiscoIPPhoneMenu>",
            b"<SoftKeyItem>",
            b"<MenuItem>",
            b"<Position>",
        ],
        check: phone_page_check,
    },
    Target {
        name: "sccp",
        seeds: sccp_seeds,
        dictionary: &[
            b"\0\0\0\0",
            b"\xff\xff\xff\xff",
            b"\x04\0\0\0",
            b"\x01\0\0\0",
        ],
        check: sccp_check,
    },
    Target {
        name: "sip",
        seeds: sip_seeds,
        dictionary: &[
            b"Content-Length: ",
            b"Content-Length: -1",
            b"Expires: ",
            b"Call-ID: ",
            b"Contact: ",
            b"<sip:",
            b";expires=",
            b"SIP/2.0",
        ],
        check: sip_check,
    },
    Target {
        name: "tftp",
        seeds: tftp_seeds,
        dictionary: &[
            b"blksize",
            b"tsize",
            b"timeout",
            b"octet",
            b"netascii",
            b"\0\x01",
        ],
        check: tftp_check,
    },
    Target {
        name: "lab-toml",
        seeds: lab_seeds,
        dictionary: &[
            b"[[device]]",
            b"[[user]]",
            b"[[profile]]",
            b"[[fleet]]",
            b"count = ",
            b"\"\"\"",
            b"[",
            b"]",
        ],
        check: lab_check,
    },
    Target {
        name: "scenario-toml",
        seeds: scenario_seeds,
        dictionary: &[
            b"[load]",
            b"[[load.phase]]",
            b"rate = ",
            b"duration = ",
            b"\"1ms\"",
            b"\"0s\"",
            b"phones = ",
        ],
        check: scenario_check,
    },
    Target {
        name: "cme-config",
        seeds: cme_seeds,
        dictionary: &[
            b"ephone ",
            b"ephone-dn ",
            b"logout-profile ",
            b"voice-user-profile ",
            b"user ",
            b" password ",
            b" number ",
            b"\n!",
            b"\n ",
        ],
        check: cme_check,
    },
];

/// The text after an insta snapshot's header.
fn snapshot(text: &str) -> Vec<u8> {
    let body = text.splitn(3, "---\n").nth(2).unwrap_or(text);
    body.trim_end().as_bytes().to_vec()
}

macro_rules! snapshots {
    ($($name:literal),* $(,)?) => {
        vec![$(snapshot(include_str!(concat!(
            "../../tests/integration/snapshots/integration__xml_snapshots__", $name, ".snap"
        )))),*]
    };
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

// ---------- the server's decoders, behind its handlers ----------

/// The directory the server-side targets run against: the conformance
/// lab, whose operations wait for nothing.
fn server() -> &'static (Arc<Server>, axum::Router, tokio::runtime::Runtime) {
    static SERVER: OnceLock<(Arc<Server>, axum::Router, tokio::runtime::Runtime)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let source = include_str!("../../conformance/lab.toml")
            .replace("operation_time_ms = 5", "operation_time_ms = 0");
        let lab = Lab::parse(Path::new("conformance/lab.toml"), &source).expect("the lab loads");
        let state = Arc::new(Server::new(&lab, Default::default()));
        let router = emlab_server::io::http::router(state.clone(), false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (state, router, runtime)
    })
}

fn em_api_seeds() -> Vec<Vec<u8>> {
    snapshots!(
        "login",
        "login_indefinite",
        "logout",
        "logout_all",
        "device_user_query",
        "user_devices_query",
        "device_profile_query",
    )
    .into_iter()
    .map(|xml| em_api::form_body(&text(&xml)).into_bytes())
    .collect()
}

/// The server answers every body; the answer must be an EM response.
fn em_api_check(body: &[u8]) -> Result<(), String> {
    let (state, _, runtime) = server();
    let peer = std::net::IpAddr::V4(Ipv4Addr::LOCALHOST);
    let answer = runtime.block_on(emlab_server::io::em_api::handle(state, body, peer));
    let xml = answer.to_xml();
    if xml_text::well_formed(xml.clone()) != xml {
        return Err(format!("characters XML forbids in {xml:?}"));
    }
    Response::from_xml(&xml)
        .map(drop)
        .map_err(|e| format!("the answer {xml:?} does not parse: {e}"))
}

fn phone_service_seeds() -> Vec<Vec<u8>> {
    [
        "device=SEP000000000001",
        "device=SEP000000000001&loginType=UID&userid=alice&seq=12345",
        "device=SEP000000000001&loginType=UID&userid=alice&seq=12345&profile=alice-7940",
        "device=SEP000000000001&doLogout=true",
        "device=SEP000000000002&loginType=UID&userid=bob%40x&seq=2",
    ]
    .iter()
    .map(|q| q.as_bytes().to_vec())
    .collect()
}

/// A GET of the phone service with this query: any answer but a panic,
/// and a 200 carries a phone object.
fn phone_service_check(query: &[u8]) -> Result<(), String> {
    use tower::ServiceExt;
    let (_, router, runtime) = server();
    // A query holds only URI characters; the rest go percent-encoded, as a
    // client library would send them.
    let query: String = query
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() && b != b'#' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Ok(request) = axum::http::Request::get(format!("{EM_SERVICE_PATH}?{query}"))
        .extension(axum::extract::ConnectInfo(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            40000,
        ))))
        .body(axum::body::Body::empty())
    else {
        return Ok(()); // not a URI the HTTP layer would have let through
    };
    runtime.block_on(async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Ok(());
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map_err(|e| e.to_string())?;
        let page = String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?;
        PhoneObject::from_xml(&page)
            .map(drop)
            .map_err(|e| format!("the page {page:?} does not parse: {e}"))
    })
}

// ---------- the simulator's decoders: a hostile server ----------

fn em_response_seeds() -> Vec<Vec<u8>> {
    snapshots!(
        "success",
        "failure_25",
        "failure_1_ucm4",
        "device_user_results",
        "user_devices_results",
        "device_profile_results",
    )
}

fn em_response_check(xml: &[u8]) -> Result<(), String> {
    let _ = Response::from_xml(&text(xml));
    Ok(())
}

fn phone_page_seeds() -> Vec<Vec<u8>> {
    snapshots!(
        "phone_error",
        "phone_logged_in",
        "phone_menu",
        "phone_prompt"
    )
}

fn phone_page_check(xml: &[u8]) -> Result<(), String> {
    let _ = PhoneObject::from_xml(&text(xml));
    Ok(())
}

// ---------- the control channel and TFTP ----------

fn sccp_seeds() -> Vec<Vec<u8>> {
    let register = sccp::Message::Register(Register {
        device_name: "SEP000000000001".into(),
        user_id: 0,
        instance: 1,
        ip: Ipv4Addr::LOCALHOST,
        device_type: 7,
        max_streams: 5,
    });
    let ack = sccp::Message::RegisterAck {
        keep_alive_s: 30,
        date_template: "M/D/Y".into(),
        secondary_keep_alive_s: 30,
        max_protocol_version: 11,
    };
    let mut stream = register.encode();
    stream.extend(sccp::Message::KeepAlive.encode());
    vec![
        register.encode(),
        ack.encode(),
        sccp::Message::Reset(ResetType::Restart).encode(),
        sccp::Message::RegisterReject {
            text: "no such device".into(),
        }
        .encode(),
        sccp::Message::UnregisterAck { status: 0 }.encode(),
        stream,
    ]
}

/// A TCP stream's bytes: frames decode one after another until one is
/// incomplete or bad; each decoded frame re-encodes to what was read.
fn sccp_check(stream: &[u8]) -> Result<(), String> {
    let mut at = 0;
    while let Ok(Some((message, used))) = sccp::Message::decode(&stream[at..]) {
        if used == 0 {
            return Err("a frame of 0 bytes: the reader would spin".into());
        }
        let _ = message.encode();
        at += used;
    }
    Ok(())
}

fn sip_seeds() -> Vec<Vec<u8>> {
    let register = sip::register_request(&sip::RegisterRequest {
        server: "127.0.0.1:5060",
        local: "127.0.0.1:5062",
        device_name: "SEP000000000008",
        extension: "3000",
        call_id: "0001-abcd",
        cseq: 1,
        contact_user: "00000000-0000-0000-0000-000000000008",
        expires: 3600,
        model: "8851",
    });
    let ok = sip::response(&register, 200, "OK", "emlab1", &[]);
    let notify = sip::service_control_notify(
        &sip::NotifyAddress {
            request_uri: "sip:00000000-0000-0000-0000-000000000008@127.0.0.1:5062",
            server: "127.0.0.1:5060",
            call_id: "n1",
            branch: "z9hG4bK1",
            tag: "emlab1",
        },
        sip::ServiceAction::Restart,
        "0001-abcd",
    );
    [register, ok, notify]
        .iter()
        .map(|m| m.to_wire().into_bytes())
        .collect()
}

/// What the SIP listener does with a datagram, short of sending.
fn sip_check(datagram: &[u8]) -> Result<(), String> {
    let Some(message) = SipMessage::parse(datagram) else {
        return Ok(());
    };
    let _ = message.framing_problem();
    if message.method().is_some() {
        let _ = sip::register_expires(&message);
        if let Some(contact) = message.header("contact") {
            let _ = sip::contact_device_name(contact);
            let _ = sip::angle_uri(contact);
        }
        let _ = sip::response(&message, 400, "Bad Request", "t", &[]).to_wire();
    }
    let _ = sip::parse_service_control(&message.body);
    Ok(())
}

fn tftp_seeds() -> Vec<Vec<u8>> {
    let options = vec![
        ("blksize".to_string(), "1428".to_string()),
        ("tsize".to_string(), "0".to_string()),
    ];
    [
        Packet::ReadRequest {
            filename: "SEP000000000001.cnf.xml".into(),
            mode: "octet".into(),
            options: options.clone(),
        },
        Packet::WriteRequest {
            filename: "x".into(),
            mode: "netascii".into(),
            options: vec![],
        },
        Packet::Data {
            block: 1,
            data: b"<device/>".to_vec(),
        },
        Packet::Ack { block: 1 },
        Packet::error(tftp::ErrorCode::FileNotFound),
        Packet::OptionAck { options },
    ]
    .iter()
    .map(Packet::encode)
    .collect()
}

/// Decode, and for a read request negotiate its options as the server does.
fn tftp_check(datagram: &[u8]) -> Result<(), String> {
    if let Ok(Packet::ReadRequest { options, .. }) = Packet::decode(datagram) {
        let _ = tftp::negotiate(&options, 4096);
    }
    Ok(())
}

// ---------- files a user writes ----------

fn lab_seeds() -> Vec<Vec<u8>> {
    [
        include_str!("../../conformance/lab.toml"),
        include_str!("../../scenarios/lab.toml"),
        include_str!("../../scenarios/lab-mixed.toml"),
        include_str!("../../scenarios/lab-cme.toml"),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn lab_check(source: &[u8]) -> Result<(), String> {
    let Ok(source) = std::str::from_utf8(source) else {
        return Ok(()); // read_to_string refuses it before the parser
    };
    let _ = Lab::parse(Path::new("fuzz.toml"), source);
    Ok(())
}

fn scenario_seeds() -> Vec<Vec<u8>> {
    [
        include_str!("../../scenarios/quickstart.toml"),
        include_str!("../../scenarios/login-storm.toml"),
        include_str!("../../scenarios/2000-per-hour.toml"),
        include_str!("../../scenarios/mixed-fleet.toml"),
        include_str!("../../scenarios/max-concurrent.toml"),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn scenario_check(source: &[u8]) -> Result<(), String> {
    let Ok(source) = std::str::from_utf8(source) else {
        return Ok(());
    };
    if let Ok(scenario) =
        emlab_simulator::scenario::Scenario::parse(Path::new("scenarios/fuzz.toml"), source)
    {
        // A run asks every phase for its arrivals; none may panic.
        for phase in &scenario.load.phases {
            let _ = phase.arrivals();
            let _ = phase.arrival(0);
        }
    }
    Ok(())
}

fn cme_seeds() -> Vec<Vec<u8>> {
    vec![
        include_str!("../../scenarios/cme-seed.running-config")
            .as_bytes()
            .to_vec(),
    ]
}

/// An import that succeeds writes a lab that loads.
fn cme_check(config: &[u8]) -> Result<(), String> {
    let Ok(imported) = cme_config::import(&text(config)) else {
        return Ok(());
    };
    let toml = imported.lab.to_toml("fuzz.running-config");
    Lab::parse(Path::new("imported.toml"), &toml)
        .map(drop)
        .map_err(|e| format!("the imported lab does not load: {e}\n{toml}"))
}
