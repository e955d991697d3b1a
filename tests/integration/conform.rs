//! The conformance suite proves it finds faults: the reference server with
//! one test-only fault switched on must fail the cases of exactly the
//! requirement that fault breaks, and the unmodified server must pass them.
//! The CLI tests run `emlab conform` end to end, against the embedded
//! server and against a broken `emlab serve` in another process.

use crate::support::scratch;
use emlab_conformance::case::{CaseResult, Verdict};
use emlab_conformance::catalogue;
use emlab_conformance::probe::Target;
use emlab_conformance::run::{Selection, run};
use emlab_protocol::lab::Lab;
use emlab_server::ServerOptions;
use emlab_server::faults::{Fault, Faults};
use std::path::Path;
use std::process::Command;

/// `xmllint --schema junit-10.xsd` (the Jenkins xUnit plugin's schema, as
/// pytest's sources ship it; `.ci/run` fetches it and sets EMLAB_JUNIT_XSD).
fn validates_as_jenkins_junit(file: &Path) {
    let Some(xsd) = std::env::var_os("EMLAB_JUNIT_XSD") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must set EMLAB_JUNIT_XSD (see .ci/run)"
        );
        eprintln!("skipped: JUnit schema check (set EMLAB_JUNIT_XSD to junit-10.xsd)");
        return;
    };
    let o = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(file)
        .output()
        .expect("xmllint runs (Debian libxml2-utils)");
    assert!(
        o.status.success(),
        "{} does not validate against junit-10.xsd: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn conformance_lab() -> Lab {
    Lab::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/lab.toml")).unwrap()
}

/// Starts the reference server with the conformance lab and `options`,
/// runs the cases `selection` picks, and stops it. The target has lab
/// control when the server serves it; an IPv6 server is also the IPv6 base.
async fn run_against(options: ServerOptions, selection: Selection) -> Vec<CaseResult> {
    run_lab_against(conformance_lab(), options, selection).await
}

async fn run_lab_against(
    lab: Lab,
    options: ServerOptions,
    selection: Selection,
) -> Vec<CaseResult> {
    let app = lab.proxy_app().expect("an application with proxy rights");
    let lab_control = options.lab_control;
    let server = emlab_server::start(&lab, options).await.unwrap();
    let base = server.base_url();
    let target = Target {
        config_base: server.config_url(),
        sccp: server.sccp_addr,
        sip: server.sip_addr,
        tftp: server.tftp_addr,
        lab_control: lab_control.then(|| base.clone()),
        ipv6_base: base.starts_with("http://[").then(|| base.clone()),
        profile: lab.file.server.profile,
        lab,
        em_base: base,
        tls: Default::default(),
    };
    let results = run(&target, &app, &catalogue::cases(), &selection).await;
    let _ = server.shutdown().await;
    results
}

/// Every lab shipped in `scenarios/`, served by the reference server, passes
/// the catalogue: a case runs when the lab's `[conformance]` names its roles
/// and is skipped (naming the role) when not, never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_lab_passes_with_its_own_names() {
    let mut labs: Vec<std::path::PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".toml") && name.contains("lab")
            })
            .collect();
    labs.sort();
    assert!(labs.len() >= 5, "{labs:?}");
    for path in labs {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let lab = Lab::load(&path).unwrap();
        emlab_conformance::roles::check(&lab).unwrap();
        // A lab that names the main `phone` role runs most of the catalogue;
        // an import names the few roles its entries can play.
        let named_roles = lab.file.conformance.contains_key("phone");
        let options = ServerOptions {
            lab_control: true,
            ..ServerOptions::default()
        };
        let all = Selection {
            only: Vec::new(),
            strict: false,
        };
        let results = run_lab_against(lab, options, all).await;
        let passed = results
            .iter()
            .filter(|r| r.verdict == Verdict::Passed)
            .count();
        for r in &results {
            match &r.verdict {
                Verdict::Failed { expected, observed } => panic!(
                    "{name}: {} failed: expected {expected}, observed {observed}\n{}",
                    r.id,
                    r.transcript.join("\n")
                ),
                // A skip names what the lab lacks (a role, a [fleet], a
                // property a role's contract asks for).
                Verdict::Skipped { reason } => assert!(
                    reason.contains('`') || reason.contains('['),
                    "{name}: {} skipped without naming why: {reason}",
                    r.id
                ),
                Verdict::Passed => {}
            }
        }
        if named_roles {
            assert!(passed >= 20, "{name}: only {passed} cases ran and passed");
        }
    }
}

/// Runs the cases covering `requirement`, strictly, against the reference
/// server with lab control and `faults`: on the conformance lab, or, for a
/// requirement only `cme` has a case for, on the shipped CME import.
async fn conform(faults: &[Fault], requirement: &str) -> Vec<CaseResult> {
    let options = || ServerOptions {
        lab_control: true,
        faults: Faults::new(faults.iter().copied()),
        ..ServerOptions::default()
    };
    let selection = || Selection {
        only: vec![requirement.to_string()],
        strict: true,
    };
    let mut results = run_against(options(), selection()).await;
    if results.is_empty() {
        let cme = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab-cme.toml");
        results = run_lab_against(Lab::load(&cme).unwrap(), options(), selection()).await;
    }
    assert!(!results.is_empty(), "cases cover {requirement}");
    results
}

fn failed(results: &[CaseResult]) -> Vec<&'static str> {
    results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Failed { .. }))
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn every_fault_fails_the_requirement_it_breaks_and_the_plain_server_passes_it() {
    for fault in Fault::ALL {
        let id = fault.breaks();
        let broken = conform(&[fault], id).await;
        let failing = failed(&broken);
        assert!(
            failing.iter().any(|c| c.starts_with(id)),
            "fault {} should fail a case of {id}; verdicts: {:?}",
            fault.name(),
            broken
                .iter()
                .map(|r| (r.id, r.verdict.name()))
                .collect::<Vec<_>>()
        );
        // The failure says what was expected and what came back.
        let r = broken
            .iter()
            .find(|r| r.id.starts_with(id) && r.verdict.name() == "failed")
            .unwrap();
        assert!(!r.transcript.is_empty(), "{}: a transcript", r.id);
        let plain = conform(&[], id).await;
        assert_eq!(
            failed(&plain),
            Vec::<&str>::new(),
            "the unmodified server passes {id}"
        );
    }
}

#[test]
fn conform_lists_its_catalogue_with_every_requirement() {
    let o = Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args(["conform", "--list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for id in catalogue::requirement_ids() {
        assert!(text.contains(id), "--list mentions {id}");
    }
    assert!(text.contains("MULTI-1/second-device-25"));
}

#[tokio::test]
async fn conform_fails_a_broken_server_in_another_process_with_junit_naming_the_case() {
    let dir = scratch("conform-broken");
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/lab.toml");
    // Free ports for the broken server's four listeners.
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let sip = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args([
            "serve",
            "--lab",
            &lab.display().to_string(),
            "--listen",
            &format!("127.0.0.1:{}", ports[0]),
            "--config-listen",
            &format!("127.0.0.1:{}", ports[1]),
            "--sccp-listen",
            &format!("127.0.0.1:{}", ports[2]),
            "--sip-listen",
            &format!("127.0.0.1:{sip}"),
            "--lab-control",
            "--fault",
            "allow-second-device",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{}", ports[0]);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", ports[0])).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let out = dir.join("out");
    let args: Vec<String> = vec![
        "conform".into(),
        "--target".into(),
        base.clone(),
        "--config".into(),
        format!("http://127.0.0.1:{}", ports[1]),
        "--sccp".into(),
        format!("127.0.0.1:{}", ports[2]),
        "--sip".into(),
        format!("127.0.0.1:{sip}"),
        "--lab-control".into(),
        base,
        "--lab".into(),
        lab.display().to_string(),
        "--case".into(),
        "MULTI".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    let o = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_emlab"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  MULTI-1/second-device-25"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testcase classname="MULTI" name="MULTI-1/second-device-25""#),
        "{junit}"
    );
    // Verdicts read as text, not Rust debug output.
    assert!(
        junit.contains(
            "<failure message=\"expected second device: 25, observed second device: success"
        ),
        "{junit}"
    );
    validates_as_jenkins_junit(&out.join("junit.xml"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("conform.json")).unwrap()).unwrap();
    assert!(json["failed"].as_u64().unwrap() >= 1);
    assert!(
        std::fs::read_to_string(out.join("conform.html"))
            .unwrap()
            .contains("<h2>MULTI</h2>")
    );
}

#[tokio::test]
async fn the_ipv6_case_runs_against_a_server_on_ipv6_and_skips_on_ipv4() {
    let options = ServerOptions {
        listen: std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
        ..ServerOptions::default()
    };
    let selection = Selection {
        only: vec!["IP-4".into()],
        strict: false,
    };
    let results = run_against(options, selection).await;
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].verdict,
        Verdict::Passed,
        "{:?}",
        results[0].transcript
    );
    let v4 = conform(&[], "IP-4").await;
    assert!(
        matches!(&v4[0].verdict, Verdict::Failed { observed, .. } if observed.contains("skipped")),
        "strict turns the IPv4 skip into a failure"
    );
}
