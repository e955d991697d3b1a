//! The virtual phone's state machine against servers that misbehave: a
//! reset where a restart is due, a missing configuration file, the wrong
//! locale in it, answers slower than the phone waits, a dropped SCCP
//! connection. Each must end as a labelled outcome in the recorder (the
//! report's verdict), never a panic or a hang; and a faithful fake must
//! give no mismatch at all, so the checks are not merely always failing.
//!
//! The fake is one 7960 (SCCP) phone's worth of server: the phone-facing
//! EM service and the configuration file over HTTP (axum, or wiremock for
//! the plain HTTP faults), and an SCCP listener that registers the phone
//! and sends what the fault says after each login and logout.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use emlab_protocol::config_file::{ButtonEntry, Buttons, DeviceConfig, UserLocale};
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_xml::{InputItem, PhoneInput, PhoneObject, PhoneText};
use emlab_protocol::sccp::{self, ResetType};
use emlab_simulator::fleet;
use emlab_simulator::phone::{CallLogRule, Endpoints, PhoneContext, StateCounts, VirtualPhone};
use emlab_simulator::recorder::{Recorder, Step};
use emlab_simulator::timer::PreciseTimer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const LAB: &str = "[[application]]\nid = \"emlab\"\ncertificate = \"emlab\"\nproxy_rights = true\n\
                   [fleet]\ncount = 1\nmodels = { \"7960\" = 100 }\n";
const DEVICE: &str = "SEP0E0000000000";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    /// Reset (type 1) where the rule asks for a restart only.
    ResetInsteadOfRestart,
    /// The configuration after login says French; the profile is English.
    WrongLocale,
    /// Closes the SCCP connection instead of restarting the phone.
    DropSccp,
}

struct Fake {
    fault: Fault,
    logged_in: AtomicBool,
    /// The SCCP connection's command queue: a Reset type, or 0 to hang up.
    control: Mutex<Option<mpsc::UnboundedSender<u32>>>,
    base: Mutex<String>,
}

fn lab() -> Lab {
    Lab::parse(std::path::Path::new("fault-lab.toml"), LAB).unwrap()
}

fn config(fake: &Fake) -> DeviceConfig {
    let logged_in = fake.logged_in.load(Ordering::SeqCst);
    let french = logged_in && fake.fault == Fault::WrongLocale;
    DeviceConfig {
        device_protocol: "SCCP".into(),
        user_locale: UserLocale {
            name: if french {
                "French_France"
            } else {
                "English_United_States"
            }
            .into(),
            lang_code: if french { "fr_FR" } else { "en_US" }.into(),
        },
        services_url: format!(
            "{}/emapp/EMAppServlet?device=#DEVICENAME#",
            fake.base.lock().unwrap()
        ),
        em_profile: if logged_in {
            "user00000-7960".into()
        } else {
            format!("ADP{}", &DEVICE[3..])
        },
        login_user_id: if logged_in {
            "user00000".into()
        } else {
            String::new()
        },
        buttons: Buttons {
            buttons: if logged_in {
                vec![ButtonEntry {
                    index: 1,
                    kind: "line".into(),
                    line_type: "normal".into(),
                    number: "20000".into(),
                    label: String::new(),
                }]
            } else {
                Vec::new()
            },
        },
        ..DeviceConfig::default()
    }
}

fn xml(object: PhoneObject) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "text/xml")], object.to_xml())
}

/// The phone service: prompt, credentials, logout confirmation, logout.
async fn service(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl axum::response::IntoResponse {
    let base = fake.base.lock().unwrap().clone();
    let url = format!("{base}/emapp/EMAppServlet?device={DEVICE}");
    let changed = |fake: &Fake| {
        let commands: &[u32] = match fake.fault {
            Fault::ResetInsteadOfRestart => &[1],
            Fault::DropSccp => &[0],
            _ => &[2],
        };
        if let Some(tx) = fake.control.lock().unwrap().as_ref() {
            for c in commands {
                let _ = tx.send(*c);
            }
        }
    };
    if q.contains_key("doLogout") {
        fake.logged_in.store(false, Ordering::SeqCst);
        changed(&fake);
        return xml(PhoneObject::Text(PhoneText::new(
            "Extension Mobility",
            None,
            "Logout Successful",
        )));
    }
    if q.contains_key("userid") {
        fake.logged_in.store(true, Ordering::SeqCst);
        changed(&fake);
        return xml(PhoneObject::Text(PhoneText::new(
            "Extension Mobility",
            None,
            "Login Successful",
        )));
    }
    if fake.logged_in.load(Ordering::SeqCst) {
        let text = PhoneText::new("Extension Mobility", None, "Logged in as user00000")
            .with_soft_key("Yes", &format!("{url}&doLogout=true"), 1);
        return xml(PhoneObject::Text(text));
    }
    let item = |name: &str, param: &str, flags: &str| InputItem {
        display_name: name.into(),
        query_string_param: param.into(),
        default_value: String::new(),
        input_flags: flags.into(),
    };
    xml(PhoneObject::Input(PhoneInput::new(
        "Extension Mobility",
        "Enter User ID and PIN",
        &url,
        vec![item("User ID", "userid", "A"), item("PIN", "seq", "NP")],
    )))
}

async fn config_file(State(fake): State<Arc<Fake>>) -> impl axum::response::IntoResponse {
    ([("content-type", "text/xml")], config(&fake).to_xml())
}

/// Accepts SCCP phones: RegisterAck to every Register, then the commands
/// the service queues (0 closes the connection).
async fn sccp_fake(listener: TcpListener, fake: Arc<Fake>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        *fake.control.lock().unwrap() = Some(tx);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 512];
            loop {
                tokio::select! {
                    n = stream.read(&mut chunk) => {
                        let Ok(n) = n else { return };
                        if n == 0 { return }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Ok(Some((msg, used))) = sccp::Message::decode(&buf) {
                            buf.drain(..used);
                            if let sccp::Message::Register(_) = msg {
                                let ack = sccp::Message::RegisterAck {
                                    keep_alive_s: 30,
                                    date_template: "M/D/Y".into(),
                                    secondary_keep_alive_s: 30,
                                    max_protocol_version: 11,
                                };
                                let _ = stream.write_all(&ack.encode()).await;
                            }
                        }
                    }
                    c = rx.recv() => match c.and_then(ResetType::from_code) {
                        Some(kind) => { let _ = stream.write_all(&sccp::Message::Reset(kind).encode()).await; }
                        None => return,
                    }
                }
            }
        });
    }
}

/// Starts the fake and returns where it listens.
async fn start_fake(fault: Fault) -> Endpoints {
    let fake = Arc::new(Fake {
        fault,
        logged_in: AtomicBool::new(false),
        control: Mutex::new(None),
        base: Mutex::new(String::new()),
    });
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    *fake.base.lock().unwrap() = base.clone();
    let app = Router::new()
        .route("/emapp/EMAppServlet", get(service))
        .route("/{file}", get(config_file))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(http, app).await });
    let sccp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sccp_addr = sccp.local_addr().unwrap();
    tokio::spawn(sccp_fake(sccp, fake));
    Endpoints {
        em_base: base.clone(),
        config_base: base,
        sccp: sccp_addr,
        sip: SocketAddr::from(([127, 0, 0, 1], 9)),
        tftp: None,
        tls: Default::default(),
    }
}

/// Boots the lab's one phone against `endpoints`, runs `cycles` cycles and
/// returns what the recorder saw.
async fn run_phone(endpoints: Endpoints, request_timeout: Duration, cycles: u32) -> Recorder {
    let spec = fleet::build(&lab(), 1, None).unwrap().remove(0);
    let recorder = Arc::new(Mutex::new(Recorder::new(
        &["boot", "run"],
        std::time::Instant::now(),
    )));
    let ctx = PhoneContext {
        endpoints,
        sip: None,
        web: None,
        recorder: recorder.clone(),
        counts: Arc::new(StateCounts::default()),
        request_timeout,
        control_timeout: Duration::from_millis(800),
        call_logs: CallLogRule::default(),
        board: None,
        time_scale: 1.0,
    };
    let phone = VirtualPhone::new(spec);
    let timer = PreciseTimer::start();
    let run = async {
        if phone.boot(&ctx, 0).await {
            for _ in 0..cycles {
                phone
                    .cycle(
                        &ctx,
                        1,
                        tokio::time::Instant::now(),
                        Duration::ZERO,
                        None,
                        &timer,
                    )
                    .await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the phone never hangs");
    drop(ctx);
    Arc::try_unwrap(recorder)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap()
}

fn outcome(r: &Recorder, step: Step, label: &str) -> u64 {
    r.step(step).outcomes.get(label).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_faithful_server_gives_restarts_and_verified_configs_and_no_mismatch() {
    let r = run_phone(start_fake(Fault::None).await, Duration::from_secs(2), 2).await;
    assert_eq!(outcome(&r, Step::Login, "success"), 2);
    assert_eq!(outcome(&r, Step::Logout, "success"), 2);
    assert_eq!(
        outcome(&r, Step::Restart, "restart"),
        4,
        "{:?}",
        r.step(Step::Restart).outcomes
    );
    // Boot, then after each of 2 logins and 2 logouts.
    assert_eq!(outcome(&r, Step::InService, "success"), 5);
    assert_eq!(r.mismatch_count(), 0, "{:?}", r.mismatches);
}

#[tokio::test]
async fn a_reset_instead_of_a_restart_is_a_restart_mismatch() {
    let r = run_phone(
        start_fake(Fault::ResetInsteadOfRestart).await,
        Duration::from_secs(2),
        1,
    )
    .await;
    assert_eq!(outcome(&r, Step::Restart, "reset"), 2, "{:?}", r.mismatches);
    let m = r
        .mismatches
        .keys()
        .find(|m| m.step == Step::Restart)
        .unwrap();
    assert_eq!(
        (m.expected.as_str(), m.actual.as_str()),
        ("restart", "reset")
    );
    // The phone still follows the reset: re-registers and re-reads its config.
    assert_eq!(outcome(&r, Step::Register, "success"), 3);
    assert_eq!(outcome(&r, Step::InService, "success"), 3);
    // TRBL-3: the report names the likely cause, though nothing rehearsed it.
    let found = emlab_simulator::diagnosis::diagnose(&r);
    let named: Vec<(&str, bool)> = found.iter().map(|d| (d.requirement, d.rehearsed)).collect();
    assert_eq!(named, [("TRBL-3", false)]);
    assert!(
        found[0]
            .likely_cause
            .contains("resolves the CallManager by DNS"),
        "{:?}",
        found[0]
    );
}

#[tokio::test]
async fn the_wrong_locale_in_the_config_is_an_in_service_mismatch() {
    let r = run_phone(
        start_fake(Fault::WrongLocale).await,
        Duration::from_secs(2),
        1,
    )
    .await;
    assert_eq!(
        outcome(&r, Step::InService, "wrong-locale"),
        1,
        "{:?}",
        r.mismatches
    );
    assert_eq!(outcome(&r, Step::Restart, "restart"), 2);
}

#[tokio::test]
async fn a_dropped_sccp_connection_is_reported_and_the_phone_registers_again() {
    let r = run_phone(start_fake(Fault::DropSccp).await, Duration::from_secs(2), 2).await;
    assert!(
        outcome(&r, Step::Restart, "connection-lost") >= 1,
        "{:?}",
        r.step(Step::Restart).outcomes
    );
    // Back in service: the next cycle re-registered before its login.
    assert!(
        outcome(&r, Step::Register, "success") >= 2,
        "{:?}",
        r.step(Step::Register).outcomes
    );
    assert_eq!(outcome(&r, Step::Login, "success"), 2);
}

mod with_wiremock {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A fake SCCP listener that registers phones and never restarts them.
    async fn quiet_sccp() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let fake = Arc::new(Fake {
            fault: Fault::None,
            logged_in: AtomicBool::new(false),
            control: Mutex::new(None),
            base: Mutex::new(String::new()),
        });
        tokio::spawn(sccp_fake(l, fake));
        addr
    }

    /// The config file of a phone nobody is logged in on.
    async fn mount_logged_out_config(http: &MockServer) {
        let fake = Fake {
            fault: Fault::None,
            logged_in: AtomicBool::new(false),
            control: Mutex::new(None),
            base: Mutex::new(http.uri()),
        };
        Mock::given(method("GET"))
            .and(path(format!("/{DEVICE}.cnf.xml")))
            .respond_with(ResponseTemplate::new(200).set_body_string(config(&fake).to_xml()))
            .mount(http)
            .await;
    }

    fn endpoints(http: &MockServer, sccp: SocketAddr) -> Endpoints {
        Endpoints {
            em_base: http.uri(),
            config_base: http.uri(),
            sccp,
            sip: SocketAddr::from(([127, 0, 0, 1], 9)),
            tftp: None,
            tls: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_missing_config_file_keeps_the_phone_out_of_service() {
        let http = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/{DEVICE}.cnf.xml")))
            .respond_with(ResponseTemplate::new(404))
            .mount(&http)
            .await;
        let r = run_phone(
            endpoints(&http, quiet_sccp().await),
            Duration::from_secs(2),
            1,
        )
        .await;
        assert_eq!(outcome(&r, Step::Register, "success"), 1);
        assert_eq!(
            outcome(&r, Step::InService, "no-config"),
            1,
            "{:?}",
            r.mismatches
        );
        assert_eq!(
            r.step(Step::Login).count(),
            0,
            "a phone out of service does not log in"
        );
    }

    #[tokio::test]
    async fn a_service_slower_than_the_phone_waits_is_a_timeout_not_a_hang() {
        let http = MockServer::start().await;
        mount_logged_out_config(&http).await;
        Mock::given(method("GET"))
            .and(path("/emapp/EMAppServlet"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_delay(Duration::from_secs(3))
                    .set_body_string("<CiscoIPPhoneText/>"),
            )
            .mount(&http)
            .await;
        let r = run_phone(
            endpoints(&http, quiet_sccp().await),
            Duration::from_millis(300),
            1,
        )
        .await;
        assert_eq!(
            outcome(&r, Step::Prompt, "timeout"),
            1,
            "{:?}",
            r.mismatches
        );
        assert_eq!(r.step(Step::Login).count(), 0);
    }

    #[tokio::test]
    async fn a_login_that_never_restarts_the_phone_is_reported() {
        let http = MockServer::start().await;
        mount_logged_out_config(&http).await;
        let base = http.uri();
        let item = |param: &str| InputItem {
            display_name: param.into(),
            query_string_param: param.into(),
            default_value: String::new(),
            input_flags: "A".into(),
        };
        let prompt = PhoneObject::Input(PhoneInput::new(
            "Extension Mobility",
            "Enter User ID and PIN",
            &format!("{base}/emapp/EMAppServlet?device={DEVICE}"),
            vec![item("userid"), item("seq")],
        ));
        let success = PhoneObject::Text(PhoneText::new(
            "Extension Mobility",
            None,
            "Login Successful",
        ));
        Mock::given(method("GET"))
            .and(path("/emapp/EMAppServlet"))
            .and(wiremock::matchers::query_param("userid", "user00000"))
            .respond_with(ResponseTemplate::new(200).set_body_string(success.to_xml()))
            .with_priority(1)
            .mount(&http)
            .await;
        Mock::given(method("GET"))
            .and(path("/emapp/EMAppServlet"))
            .respond_with(ResponseTemplate::new(200).set_body_string(prompt.to_xml()))
            .with_priority(2)
            .mount(&http)
            .await;
        let r = run_phone(
            endpoints(&http, quiet_sccp().await),
            Duration::from_secs(2),
            1,
        )
        .await;
        assert_eq!(outcome(&r, Step::Login, "success"), 1, "{:?}", r.mismatches);
        let m = r
            .mismatches
            .keys()
            .find(|m| m.step == Step::Restart)
            .expect("a restart mismatch");
        assert_eq!(
            (m.expected.as_str(), m.actual.as_str()),
            ("restart", "none")
        );
        assert_eq!(outcome(&r, Step::InService, "not-restarted"), 1);
    }
}

/// The fleet's one SIP socket speaks for each phone from that phone's own
/// address, and answers a service-control NOTIFY as a Cisco phone does.
mod sip_phone {
    use emlab_protocol::sccp::ResetType;
    use emlab_protocol::sip::{self, NotifyAddress, ServiceAction, SipMessage};
    use emlab_simulator::phone::PhoneEvent;
    use emlab_simulator::phone::sip_transport::{SipTransport, phone_sip_addr};
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;
    use tokio::net::UdpSocket;
    use tokio::sync::mpsc;

    async fn recv(s: &UdpSocket) -> (SipMessage, std::net::SocketAddr) {
        let mut buf = vec![0u8; 65_535];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
            .await
            .expect("a datagram")
            .unwrap();
        (SipMessage::parse(&buf[..n]).expect("SIP"), from)
    }

    #[tokio::test]
    async fn a_notify_with_a_foreign_register_call_id_gets_400_and_is_reported() {
        let registrar = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let transport = SipTransport::start(registrar.local_addr().unwrap())
            .await
            .unwrap();
        let ip = Ipv4Addr::new(127, 16, 0, 42);
        let (tx, mut events) = mpsc::unbounded_channel();
        let t = transport.clone();
        let registering = tokio::spawn(async move {
            t.register(
                "p41",
                ip,
                "SEP0E0000000029",
                "8851",
                "20041",
                "c41@x",
                3600,
                tx,
                Duration::from_secs(2),
            )
            .await
        });
        let (register, from) = recv(&registrar).await;
        assert_eq!(register.method(), Some("REGISTER"));
        assert_eq!(
            from.ip(),
            IpAddr::V4(ip),
            "the REGISTER leaves from the phone's own address"
        );
        let ok = sip::response(&register, 200, "OK", "srv", &[]);
        registrar
            .send_to(ok.to_wire().as_bytes(), from)
            .await
            .unwrap();
        assert_eq!(registering.await.unwrap(), Ok(200));
        assert_eq!(phone_sip_addr(ip, &transport).ip(), &ip);

        let server = registrar.local_addr().unwrap().to_string();
        let notify = |call_id: &str| {
            let to = NotifyAddress {
                request_uri: &format!("sip:p41@{from}"),
                server: &server,
                call_id: "n1@srv",
                branch: "b1",
                tag: "t1",
            };
            sip::service_control_notify(&to, ServiceAction::Restart, call_id).to_wire()
        };
        registrar
            .send_to(notify("not-the-phones").as_bytes(), from)
            .await
            .unwrap();
        let (answer, _) = recv(&registrar).await;
        assert_eq!(answer.status(), Some(400));
        match tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .unwrap()
        {
            Some(PhoneEvent::BadNotify(why)) => assert_eq!(why, "wrong-register-call-id"),
            other => panic!("{other:?}"),
        }
        registrar
            .send_to(notify("c41@x").as_bytes(), from)
            .await
            .unwrap();
        let (answer, answered_from) = recv(&registrar).await;
        assert_eq!(
            (answer.status(), answered_from.ip()),
            (Some(200), IpAddr::V4(ip))
        );
        match tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .unwrap()
        {
            Some(PhoneEvent::Control(ResetType::Restart)) => {}
            other => panic!("{other:?}"),
        }
    }
}
