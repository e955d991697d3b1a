//! HTTPS (PROTOCOL.md §8), proved by peers nobody here wrote: curl against
//! the server's own TLS listeners, and the fleet and `emlab conform`
//! through stunnel in front of the plain server. Plus the one-line errors
//! for every way TLS goes wrong.

use crate::support::{self, D1, app, peer_installed, scratch};
use emlab_protocol::em_api::form_body;
use emlab_protocol::lab::Lab;
use emlab_server::{RunningServer, ServerOptions, TlsOptions};
use emlab_simulator::em_client::{EmClient, Reply};
use emlab_simulator::phone::http::{self, ClientTls, Fetched};
use emlab_tls::ServerIdentity;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const LOOPBACK: &str = "127.0.0.1:0";

async fn start(lab: &Lab, identity: ServerIdentity, lab_control: bool) -> RunningServer {
    let config = emlab_tls::server_config(&identity).expect("certificate loads");
    emlab_server::start(
        lab,
        ServerOptions {
            lab_control,
            tls: Some(TlsOptions {
                config,
                listen: LOOPBACK.parse().unwrap(),
                config_listen: LOOPBACK.parse().unwrap(),
            }),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("server starts")
}

async fn self_signed_server(dir: &Path) -> (RunningServer, PathBuf) {
    let pem = dir.join("server.pem");
    let server = start(
        &support::lab("", ""),
        ServerIdentity::SelfSigned {
            names: vec![],
            write_to: pem.clone(),
        },
        true,
    )
    .await;
    (server, pem)
}

async fn run(program: &str, args: Vec<String>) -> Output {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(args)
            .output()
            .expect("program runs")
    })
    .await
    .unwrap()
}

async fn emlab(args: &[&str]) -> Output {
    run(
        env!("CARGO_BIN_EXE_emlab"),
        args.iter().map(|s| s.to_string()).collect(),
    )
    .await
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn curl_trusts_the_certificate_the_server_wrote_and_nothing_else() {
    if !peer_installed("curl", "curl") {
        return;
    }
    let dir = scratch("https-curl");
    let (server, pem) = self_signed_server(&dir).await;
    let em = server.https_base_url().unwrap();
    let login = form_body(&support::login(&app(), D1, "mona").to_xml());
    let curl = |extra: &[&str], url: String| {
        let mut args: Vec<String> = vec!["-sS".into(), "--max-time".into(), "10".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(url);
        run("curl", args)
    };
    let pem_s = pem.display().to_string();
    let o = curl(
        &["--cacert", &pem_s, "--data-raw", &login],
        format!("{em}/emservice/EMServiceServlet"),
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("<success"), "{out}");
    // The login shows in the configuration file, over HTTPS too.
    let config = server.https_config_url().unwrap();
    let o = curl(&["--cacert", &pem_s], format!("{config}/{D1}.cnf.xml")).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("<loginUserId>mona</loginUserId>"), "{out}");
    // Without the certificate curl refuses the server (60: peer certificate).
    let o = curl(&[], format!("{em}/metrics")).await;
    assert_eq!(o.status.code(), Some(60), "{}", text(&o).1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_em_client_and_a_phone_speak_https_with_the_written_ca() {
    let dir = scratch("https-clients");
    let (server, pem) = self_signed_server(&dir).await;
    let em = server.https_base_url().unwrap();
    let tls = ClientTls::new(Some(&pem), false).unwrap();
    let client = EmClient::with_tls(&em, app(), Duration::from_secs(10), &tls).unwrap();
    let reply = client.send(&support::login(&app(), D1, "mona")).await;
    assert_eq!(reply.label(), "success");
    // A phone's own request, from its 127/8 address, over TLS.
    let url = format!("{em}/emapp/EMAppServlet?device={D1}");
    let local = "127.16.0.1".parse().unwrap();
    match http::get(local, &url, &[], Duration::from_secs(10), &tls).await {
        Fetched::Ok { status, body } => {
            assert_eq!(status, 200);
            let screen = String::from_utf8_lossy(&body);
            assert!(screen.contains("mona"), "{screen}");
            // The Yes soft key leads back over HTTPS, where the phone came from.
            assert!(
                screen.contains(&format!(
                    "<URL>{em}/emapp/EMAppServlet?device={D1}&amp;doLogout=true"
                )),
                "{screen}"
            );
        }
        other => panic!("phone service over HTTPS: {other:?}"),
    }
    // The system's roots alone do not trust a self-signed server.
    let untrusting =
        EmClient::with_tls(&em, app(), Duration::from_secs(10), &ClientTls::default()).unwrap();
    assert_eq!(
        untrusting.send(&support::logout(&app(), D1)).await,
        Reply::Transport
    );
    server.shutdown().await.unwrap();
}

/// A free loopback port (bound and released; the peer binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// stunnel terminating TLS on `accept` and forwarding to `connect`, per service.
struct Stunnel(std::process::Child);

impl Stunnel {
    async fn start(dir: &Path, services: &[(u16, SocketAddr)]) -> Stunnel {
        let (cert, key) = emlab_tls::self_signed_pem(&["localhost", "127.0.0.1"]).unwrap();
        std::fs::write(dir.join("stunnel-cert.pem"), cert).unwrap();
        std::fs::write(dir.join("stunnel-key.pem"), key).unwrap();
        let mut conf = format!(
            "foreground = yes\npid =\ncert = {}\nkey = {}\n",
            dir.join("stunnel-cert.pem").display(),
            dir.join("stunnel-key.pem").display()
        );
        for (i, (accept, connect)) in services.iter().enumerate() {
            conf.push_str(&format!(
                "[s{i}]\naccept = 127.0.0.1:{accept}\nconnect = {connect}\n"
            ));
        }
        let path = dir.join("stunnel.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("stunnel4")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("stunnel4 starts");
        for (accept, _) in services {
            let addr: SocketAddr = ([127, 0, 0, 1], *accept).into();
            let mut up = false;
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "stunnel listens on {addr}");
        }
        Stunnel(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_and_conform_pass_through_stunnel() {
    if !peer_installed("stunnel4", "stunnel4") {
        return;
    }
    let dir = scratch("https-stunnel");
    let lab_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/lab.toml");
    let lab = Lab::load(&lab_path).unwrap();
    let server = emlab_server::start(
        &lab,
        ServerOptions {
            lab_control: true,
            ..ServerOptions::default()
        },
    )
    .await
    .unwrap();
    let (em_port, config_port) = (free_port(), free_port());
    let _tunnel = Stunnel::start(
        &dir,
        &[(em_port, server.addr), (config_port, server.config_addr)],
    )
    .await;
    let ca = dir.join("stunnel-cert.pem").display().to_string();
    let em = format!("https://127.0.0.1:{em_port}");
    let config = format!("https://localhost:{config_port}");
    let (sccp, sip, tftp) = (
        server.sccp_addr.to_string(),
        server.sip_addr.to_string(),
        server.tftp_addr.unwrap().to_string(),
    );
    let target = [
        "--target", &em, "--config", &config, "--sccp", &sccp, "--sip", &sip, "--tftp", &tftp,
        "--ca", &ca,
    ];

    // The fleet, on the EM API path.
    let scenario = dir.join("small.toml");
    std::fs::write(
        &scenario,
        format!(
            "[scenario]\nname = \"tls\"\nlab = {:?}\n\n[load]\nphones = 10\nrate = \"100/s\"\ncycles = 30\n",
            lab_path.display().to_string()
        ),
    )
    .unwrap();
    let out = dir.join("run");
    let (scenario_s, out_s) = (scenario.display().to_string(), out.display().to_string());
    let mut args = vec!["run", &scenario_s, "--out", &out_s];
    args.extend(target);
    let o = emlab(&args).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("TLS handshake ok"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["cycles"], 30);
    assert_eq!(report["tls_insecure"], false);
    assert_eq!(report["preflight"]["findings"][0]["severity"], "ok");

    // Conformance cases over HTTPS: phone service, EM API, config files, lab
    // control. (Not those that check a phone's source address: behind a
    // terminator every request comes from stunnel's, as behind a real proxy.)
    let out = dir.join("conform").display().to_string();
    let lab_control = em.clone();
    let mut args = vec![
        "conform",
        "--lab-control",
        &lab_control,
        "--out",
        &out,
        "--case",
        "AUTH-1",
        "--case",
        "LOG-7",
        "--case",
        "PROF-4",
        "--case",
        "MULTI-1",
    ];
    args.extend(target);
    let o = emlab(&args).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("conform/conform.json")).unwrap())
            .unwrap();
    assert_eq!(report["failed"], 0, "{stdout}");
    assert!(report["passed"].as_u64().unwrap() >= 4, "{stdout}");
    server.shutdown().await.unwrap();
}

/// Every way TLS goes wrong is one line on stderr and exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_problems_are_one_line_and_exit_2() {
    let dir = scratch("https-errors");
    let lab_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab.toml");
    let lab = Lab::load(&lab_path).unwrap();
    // A certificate for another host name.
    let (cert, key) = emlab_tls::self_signed_pem(&["phones.example"]).unwrap();
    std::fs::write(dir.join("other.pem"), &cert).unwrap();
    std::fs::write(dir.join("other.key"), &key).unwrap();
    let server = start(
        &lab,
        ServerIdentity::Files {
            cert: dir.join("other.pem"),
            key: dir.join("other.key"),
        },
        false,
    )
    .await;
    let https = server.https_base_url().unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "[scenario]\nname = \"e\"\nlab = {:?}\n\n[load]\nphones = 2\nrate = \"10/s\"\ncycles = 2\n",
            lab_path.display().to_string()
        ),
    )
    .unwrap();
    let s = scenario.display().to_string();
    let other = dir.join("other.pem").display().to_string();
    let one_line_exit_2 = |o: &Output, wanted: &[&str]| {
        let (_, err) = text(o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for w in wanted {
            assert!(err.contains(w), "`{w}` in {err}");
        }
    };
    // Wrong host.
    let o = emlab(&["run", &s, "--target", &https, "--ca", &other]).await;
    one_line_exit_2(&o, &["127.0.0.1", "another host name"]);
    // Unknown issuer.
    let o = emlab(&["run", &s, "--target", &https]).await;
    one_line_exit_2(&o, &["unknown authority", "--ca"]);
    // An https URL for the plain HTTP port, and an http URL for the TLS port.
    let plain_as_https = server.base_url().replace("http://", "https://");
    let o = emlab(&["run", &s, "--target", &plain_as_https, "--insecure"]).await;
    one_line_exit_2(&o, &["http://"]);
    let tls_as_http = https.replace("https://", "http://");
    let o = emlab(&["run", &s, "--target", &tls_as_http]).await;
    one_line_exit_2(&o, &["https://"]);
    // --insecure runs, and says so.
    let out = dir.join("insecure").display().to_string();
    let o = emlab(&["run", &s, "--target", &https, "--insecure", "--out", &out]).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("WARNING: --insecure"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("insecure/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["tls_insecure"], true);
    // Unreadable certificate or key for the server; a CA that is no certificate.
    let lab_s = lab_path.display().to_string();
    let o = emlab(&[
        "serve",
        "--lab",
        &lab_s,
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ])
    .await;
    one_line_exit_2(&o, &["/nonexistent/cert.pem"]);
    let o = emlab(&["run", &s, "--target", &https, "--ca", &lab_s]).await;
    one_line_exit_2(&o, &["lab.toml", "BEGIN CERTIFICATE"]);
    server.shutdown().await.unwrap();
}
