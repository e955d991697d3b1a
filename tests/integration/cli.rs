//! The `emlab` binary as a user types it: exit codes, reports on disk, and
//! one-line errors for bad files.

use crate::support::{
    answer, client, emlab, emlab_interrupted, failure, login, phone_get, scratch,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

async fn emlab_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        emlab(&args)
    })
    .await
    .unwrap()
}

fn shipped_lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab.toml")
}

fn write_scenario(dir: &Path, rules: &str, extra_load: &str) -> PathBuf {
    let path = dir.join("small.toml");
    let text = format!(
        "[scenario]\nname = \"small\"\nlab = {lab:?}\n\n[load]\nphones = 10\nrate = \"200/s\"\ncycles = 40\n{extra_load}\n\n[thresholds]\nrules = [{rules}]\n",
        lab = shipped_lab().display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("report.json written"),
    )
    .expect("valid JSON")
}

#[test]
fn embedded_run_passes_and_writes_json_and_html_reports() {
    let dir = scratch("cli-embedded");
    let scenario = write_scenario(&dir, "\"mismatches == 0\", \"login.p99 < 5s\"", "");
    let out = dir.join("out");
    let o = emlab(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", stderr(&o));
    assert!(
        stdout.contains("embedded reference server") && stdout.contains("result: PASS"),
        "{stdout}"
    );
    let j = report_json(&out);
    assert_eq!(j["passed"], true);
    for step in ["login", "query", "logout"] {
        assert_eq!(j["steps"][step]["count"], 40, "{step}");
        assert_eq!(j["steps"][step]["outcomes"]["success"], 40, "{step}");
        assert!(
            j["steps"][step]["latency_histogram"]
                .as_str()
                .unwrap()
                .starts_with("HISTF"),
            "{step}"
        );
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "HTML has the plot"
    );
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "HTML is self-contained"
    );
}

#[test]
fn failed_threshold_exits_1() {
    let dir = scratch("cli-threshold");
    let scenario = write_scenario(&dir, "\"login.p99 < 1us\"", "");
    let out = dir.join("out");
    let o = emlab(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j = report_json(&out);
    assert_eq!(j["passed"], false);
    assert_eq!(j["thresholds"][0]["passed"], false);
}

#[tokio::test]
async fn run_against_a_server_answering_wrong_codes_exits_1_with_mismatches() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"<response><failure><error code="26">Busy, please try again</error></failure></response>"#,
        ))
        .mount(&server)
        .await;
    let dir = scratch("cli-external");
    let scenario = write_scenario(&dir, "", "");
    let out = dir.join("out");
    let (uri, lab) = (server.uri(), shipped_lab());
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--target",
        &uri,
        "--lab",
        lab.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = emlab_async(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j = report_json(&out);
    assert_eq!(j["embedded_server"], false);
    assert_eq!(j["mismatches"][0]["step"], "login");
    assert_eq!(j["mismatches"][0]["expected"], "success");
    assert_eq!(j["mismatches"][0]["actual"], "26");
    assert_eq!(j["mismatches"][0]["count"], 40);
}

/// An interface address that is not HOST:PORT stops the run with one line
/// naming the flag (resolution goes through tokio's `lookup_host`).
#[test]
fn a_target_address_that_does_not_resolve_exits_2_naming_the_flag() {
    let lab = shipped_lab();
    let o = emlab(&[
        "check",
        "--target",
        "http://127.0.0.1:9",
        "--sccp",
        "no-port-here",
        "--lab",
        lab.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--sccp `no-port-here`: not an address like 127.0.0.1:2000"),
        "{err}"
    );
}

#[test]
fn lab_with_unknown_key_exits_2_naming_file_line_and_key() {
    let dir = scratch("cli-bad-lab");
    let lab = dir.join("bad-lab.toml");
    std::fs::write(
        &lab,
        "[service_parameters]\nmax_concurrent_requests = 5\nmax_concurent_requests = 3\n",
    )
    .unwrap();
    let scenario = write_scenario(&dir, "", "");
    for args in [
        vec![
            "run",
            scenario.to_str().unwrap(),
            "--lab",
            lab.to_str().unwrap(),
        ],
        vec![
            "serve",
            "--lab",
            lab.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let o = emlab(&args);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("bad-lab.toml:3: key `max_concurent_requests`: unknown field"),
            "{err}"
        );
    }
}

#[test]
fn scenario_with_bad_value_or_missing_file_exits_2() {
    let dir = scratch("cli-bad-scenario");
    let scenario = write_scenario(&dir, "", "");
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace("rate = \"200/s\"", "rate = \"fast\"");
    std::fs::write(&scenario, text).unwrap();
    let o = emlab(&["run", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("small.toml:7: key `rate`: `fast` is not a rate"),
        "{err}"
    );

    let o = emlab(&["run", dir.join("nope.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nope.toml: cannot read file"),
        "{}",
        stderr(&o)
    );

    let too_many = write_scenario(&dir, "", "").to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&too_many)
        .unwrap()
        .replace("phones = 10", "phones = 5000");
    std::fs::write(&too_many, text).unwrap();
    let o = emlab(&["run", &too_many]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("key `phones`: 5000 phones but the lab"),
        "{}",
        stderr(&o)
    );

    // Pipelining needs a closed model: open arrivals do not wait for answers.
    let open_pipelined = write_scenario(&dir, "", "");
    let text = std::fs::read_to_string(&open_pipelined)
        .unwrap()
        .replace("rate = \"200/s\"", "rate = \"200/s\"\npipeline = true");
    std::fs::write(&open_pipelined, text).unwrap();
    let o = emlab(&["run", open_pipelined.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("small.toml:8: key `pipeline`: `pipeline = true` needs `model = \"closed\"`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shipped_scenarios_and_lab_files_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut scenarios = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("[scenario]") {
            let s =
                emlab_simulator::scenario::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let lab = emlab_protocol::lab::Lab::load(s.lab.as_ref().unwrap())
                .unwrap_or_else(|e| panic!("{e}"));
            // Phones come from the lab's [fleet], or from a users file's rows.
            let phones = match &s.users {
                Some(users) => emlab_simulator::fleet::read_users(users).unwrap().len() as u32,
                None => lab.fleet_size(),
            };
            assert!(s.load.phones <= phones, "{}", path.display());
            scenarios += 1;
        } else {
            emlab_protocol::lab::Lab::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(scenarios >= 1);
    for shipped in [
        "quickstart",
        "login-storm",
        "logout-storm",
        "max-concurrent",
        "2000-per-hour",
        "2000-per-hour-compressed",
        "restart-vs-reset",
        "mixed-fleet",
    ] {
        assert!(
            root.join(format!("{shipped}.toml")).exists(),
            "{shipped}.toml is shipped"
        );
    }
}

/// The lab and scenario examples in README.md are what users copy: they must parse.
#[test]
fn readme_examples_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "README has a lab and a scenario example");
    let dir = scratch("readme-examples");
    std::fs::write(dir.join("lab.toml"), blocks[0]).unwrap();
    emlab_protocol::lab::Lab::load(&dir.join("lab.toml"))
        .unwrap_or_else(|e| panic!("README lab: {e}"));
    std::fs::write(dir.join("scenario.toml"), blocks[1]).unwrap();
    let s = emlab_simulator::scenario::Scenario::load(&dir.join("scenario.toml"))
        .unwrap_or_else(|e| panic!("README scenario: {e}"));
    assert_eq!(s.lab.as_deref(), Some(dir.join("lab.toml").as_path()));
}

/// A lab like `lab-mixed.toml`, small, with the phones' web server on a
/// port that is free now.
fn mixed_lab(dir: &Path, count: u32) -> PathBuf {
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab-mixed.toml"),
    )
    .unwrap();
    let text = shipped
        .replace(
            "phone_web_port = 18080",
            &format!("phone_web_port = {port}"),
        )
        .replace("count = 2000", &format!("count = {count}"));
    let path = dir.join("lab-mixed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_phone_path_follows_restarts_and_resets_and_verifies_every_config() {
    let dir = scratch("phone-path");
    let lab = mixed_lab(&dir, 90);
    let scenario = dir.join("phones.toml");
    std::fs::write(
        &scenario,
        format!(
            "[scenario]\nname = \"phones\"\nlab = {:?}\npath = \"phone\"\n\n[load]\nphones = 90\nrate = \"90/s\"\ncycles = 90\nhold = \"50ms\"\n\n\
             [thresholds]\nrules = [\"mismatches == 0\", \"restart.outcome.restart > 0\", \"restart.outcome.restart+reset > 0\", \"call_logs.outcome.cleared == 180\"]\n",
            lab.display().to_string()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let o = emlab_async(vec![
        "run".into(),
        scenario.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["phones_booted"], 90);
    assert_eq!(report["load"]["path"], "phone");
    // Every model of the catalogue registered, SCCP and SIP alike.
    assert!(
        report["steps"]["register"]["outcomes"]["success"]
            .as_u64()
            .unwrap()
            >= 90
    );
    assert_eq!(
        report["steps"]["in_service"]["outcomes"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    assert!(
        std::fs::read_to_string(out.join("latency.hlog"))
            .unwrap()
            .contains("Tag=in_service,")
    );
}

#[tokio::test]
async fn ctrl_c_stops_the_run_and_still_writes_the_reports() {
    let dir = scratch("ctrl-c");
    let scenario = write_scenario(&dir, "\"mismatches == 0\"", "");
    // Far longer than the test: 40 cycles at 1/s.
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace("rate = \"200/s\"", "rate = \"1/s\"");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    let (o, _) = emlab_interrupted(
        &[
            "run",
            &scenario.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        Duration::from_millis(2500),
    )
    .await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{}", stderr(&o));
    assert!(stdout.contains("result: INTERRUPTED"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    let cycles = report["cycles"].as_u64().unwrap();
    assert!((1..40).contains(&cycles), "{cycles}");
    // Cycles under way finished: every login has its logout.
    assert_eq!(
        report["steps"]["login"]["count"],
        report["steps"]["logout"]["count"]
    );
}

/// `emlab check` passes a target started with the lab it is given, and
/// stops (exit 2, one line) when the lab describes another directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_the_right_lab_and_stops_on_another_directory() {
    let lab = emlab_protocol::lab::Lab::load(&shipped_lab()).unwrap();
    let server = emlab_server::start(&lab, emlab_server::ServerOptions::default())
        .await
        .unwrap();
    let flags = |lab: &Path| -> Vec<String> {
        vec![
            "check".into(),
            "--target".into(),
            server.base_url(),
            "--config".into(),
            server.config_url(),
            "--sccp".into(),
            server.sccp_addr.to_string(),
            "--sip".into(),
            server.sip_addr.to_string(),
            "--tftp".into(),
            server.tftp_addr.unwrap().to_string(),
            "--lab".into(),
            lab.display().to_string(),
        ]
    };
    let o = emlab_async(flags(&shipped_lab())).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    for check in [
        "EM API",
        "config files",
        "SCCP",
        "SIP",
        "TFTP",
        "credentials",
        "devices",
        "users",
        "roles",
        "phone service",
    ] {
        assert!(out.contains(check), "{check} in {out}");
    }
    assert!(!out.contains("FATAL"), "{out}");
    // The lab file names a role entry the target does not have.
    let dir = scratch("check-roles");
    let drifted = dir.join("lab.toml");
    let text = std::fs::read_to_string(shipped_lab())
        .unwrap()
        .replace(
            "[fleet]",
            "[[device]]\nname = \"SEP0000000000AA\"\nmodel = \"7960\"\n\n[fleet]",
        )
        .replace("phone = \"SEP000000001000\"", "phone = \"SEP0000000000AA\"");
    std::fs::write(&drifted, text).unwrap();
    let o = emlab_async(flags(&drifted)).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.lines().any(|l| l.contains("FATAL")
            && l.contains("roles")
            && l.contains("phone = SEP0000000000AA")),
        "{out}"
    );
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/lab.toml");
    let o = emlab_async(flags(&other)).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("emlab: preflight: "), "{err}");
    server.shutdown().await.unwrap();
}

/// A `[conformance]` role that names an entry the lab lacks, or a key that
/// is no role, stops `emlab conform` before any case: one line, file and line.
#[test]
fn conform_refuses_roles_that_name_nothing() {
    let dir = scratch("conform-bad-roles");
    let lab = dir.join("lab.toml");
    let base = std::fs::read_to_string(shipped_lab()).unwrap();
    for (from, to, words) in [
        (
            "user = \"alice\"",
            "user = \"zelda\"",
            "role `user` names user `zelda`, which this lab does not have",
        ),
        ("user = \"alice\"", "usr = \"alice\"", "`usr` is not a role"),
    ] {
        std::fs::write(&lab, base.replace(from, to)).unwrap();
        let o = emlab(&[
            "conform",
            "--lab",
            lab.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("lab.toml:") && err.contains(words), "{err}");
    }
}

/// A JUnit file that cannot be written is named in the one-line error.
#[test]
fn an_unwritable_junit_file_is_named() {
    let dir = scratch("junit-unwritable");
    let o = emlab(&[
        "conform",
        "--case",
        "URL-2",
        "--out",
        dir.join("out").to_str().unwrap(),
        "--junit",
        "/proc/emlab-nowhere/junit.xml",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write the JUnit file /proc/emlab-nowhere/junit.xml"),
        "{err}"
    );
}

/// `serve --log-format json --log-level debug`: one JSON object a line on
/// stderr; the banner at info, each refused request at debug with its code
/// and reason; a PIN or a certificate that was sent never appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_refused_requests_as_json_and_never_a_pin_or_certificate() {
    use std::io::Read;
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/lab.toml");
    let mut server = crate::support::ServeProcess::start(
        &lab,
        &["--log-format", "json", "--log-level", "debug"],
    );
    let base = server.base.clone();
    // A wrong PIN on the phone service, a wrong certificate on the EM API.
    let (status, _, page) = phone_get(
        &base,
        "/emapp/EMAppServlet?device=SEP000000000001&loginType=UID&userid=alice&seq=98765",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("[201]-Authentication Error"), "{page}");
    let wrong = emlab_protocol::em_api::AppInfo::new("emlab", "wrong-cert-4242");
    let r = answer(
        client(&base, wrong.clone())
            .send(&login(&wrong, "SEP000000000001", "alice"))
            .await,
    );
    assert_eq!(failure(&r).0, 3);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut stderr = server.child.stderr.take().unwrap();
    drop(server);
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |level: &str, message: &str| {
        events
            .iter()
            .find(|e| e["level"] == level && e["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {level} {message:?} in\n{log}"))
    };
    assert_eq!(find("INFO", "serving")["fields"]["em_api"], base.as_str());
    let phone = find("DEBUG", "phone service request refused");
    assert_eq!(phone["fields"]["code"], 201, "{phone}");
    assert_eq!(phone["fields"]["reason"], "Authentication Error", "{phone}");
    assert_eq!(find("DEBUG", "EM API request refused")["fields"]["code"], 3);
    assert!(!log.contains("98765"), "the PIN is logged:\n{log}");
    assert!(
        !log.contains("wrong-cert-4242"),
        "the certificate is logged:\n{log}"
    );
}

/// TRBL-1..4 from the fleet's side: the shipped rehearsal plays each cause
/// for one phase on the embedded server; the phones meet every symptom, the
/// run passes (each symptom was expected where it came), and the report
/// names each likely cause.
#[tokio::test]
async fn trbl_the_troubleshooting_scenario_rehearses_all_four_causes_and_names_each() {
    let dir = scratch("cli-troubleshooting");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/troubleshooting.toml");
    let o = emlab_async(vec![
        "run".into(),
        scenario.display().to_string(),
        "--out".into(),
        dir.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", stderr(&o));
    for line in [
        "TRBL-1  logged out by the server about 5 minutes after login",
        "publisher/subscriber clocks out of sync?",
        "publisher switch version in progress?",
        "the phone resolves the CallManager by DNS?",
        "no logout profile assigned to the device?",
    ] {
        assert!(stdout.contains(line), "`{line}` missing:\n{stdout}");
    }
    let report = report_json(&dir);
    let diagnosed: Vec<(&str, bool)> = report["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["requirement"].as_str().unwrap(),
                d["rehearsed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        diagnosed,
        [
            ("TRBL-1", true),
            ("TRBL-2", true),
            ("TRBL-3", true),
            ("TRBL-4", true)
        ]
    );
    // Each symptom came in the phase that rehearsed its cause, and only there.
    for phase in report["phases"].as_array().unwrap() {
        let rehearsed = phase["rehearsed"].as_u64().unwrap();
        match phase["rehearsing"].as_str() {
            Some(cause) => assert!(rehearsed > 0, "{cause}: no symptom seen"),
            None => assert_eq!(rehearsed, 0, "{phase}"),
        }
    }
}

#[test]
fn a_rehearsal_needs_a_known_cause_and_the_targets_lab_control() {
    let dir = scratch("cli-bad-rehearsal");
    let scenario = dir.join("rehearse.toml");
    let text = |cause: &str| {
        format!(
            "[scenario]\nname = \"rehearse\"\nlab = {lab:?}\npath = \"phone\"\n\n[load]\nphones = 2\n\n[[load.phase]]\nname = \"skewed\"\nduration = \"1s\"\nrate = \"1/s\"\ntroubleshooting = \"{cause}\"\n",
            lab = shipped_lab().display().to_string()
        )
    };
    std::fs::write(&scenario, text("sunspots")).unwrap();
    let o = emlab(&["run", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("rehearse.toml:13: key `troubleshooting`: `sunspots` is no cause")
            && err
                .contains("known: clock-skew, switch-version, dns-callmanager, no-logout-profile"),
        "{err}"
    );
    std::fs::write(&scenario, text("clock-skew")).unwrap();
    let o = emlab(&[
        "run",
        scenario.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("phase `skewed` rehearses a troubleshooting cause, which needs the target's lab control: give --lab-control URL"),
        "{}",
        stderr(&o)
    );
}

/// Issue 14: one scenario run as one process and as 4 shard processes
/// against the same server gives identical cycle and outcome counts, and
/// each merged histogram's total is the sum of its shards'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_merge_into_exactly_the_single_process_run() {
    let dir = scratch("cli-shards");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lab = dir.join("lab.toml");
    // No Maximum Concurrent Requests in the way: four shards at once must
    // get the answers one process gets.
    let params = "max_concurrent_requests = 100000";
    std::fs::write(&lab, crate::support::lab_text("", params)).unwrap();
    let t = crate::support::TestServer::start("", params).await;
    let scenario = |name: &str, cycles: u32| {
        let path = dir.join(format!("{name}.toml"));
        let text = format!(
            "[scenario]\nname = \"{name}\"\nlab = \"lab.toml\"\n\n[load]\nphones = 30\nrate = \"300/s\"\ncycles = {cycles}\nhold = \"20ms\"\n\n[thresholds]\nrules = [\"mismatches == 0\", \"login.count == {cycles}\"]\n"
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let shards = scenario("shards", 301);
    let whole = emlab_async(vec![
        "run".to_string(),
        shards.clone(),
        "--target".into(),
        t.url(),
        "--out".into(),
        dir.join("whole").display().to_string(),
    ])
    .await;
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    let start_at = (std::time::SystemTime::now() + Duration::from_secs(3))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    // The shards run at once, as separate processes.
    let parts: Vec<_> = (1..=4)
        .map(|k| {
            let args = vec![
                "run".to_string(),
                shards.clone(),
                "--target".into(),
                t.url(),
                "--shard".into(),
                format!("{k}/4"),
                "--start-at".into(),
                start_at.clone(),
                "--out".into(),
                dir.join(format!("s{k}")).display().to_string(),
            ];
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                emlab(&args)
            })
        })
        .collect();
    for (k, part) in parts.into_iter().enumerate() {
        let o = tokio::task::spawn_blocking(move || part.join().unwrap())
            .await
            .unwrap();
        // A shard alone fails `login.count == 301`; its report is what counts.
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "shard {k}: {}",
            stderr(&o)
        );
    }
    let folders: Vec<String> = (1..=4)
        .map(|k| dir.join(format!("s{k}")).display().to_string())
        .collect();
    let merged_dir = dir.join("merged").display().to_string();
    let mut args = vec!["merge", merged_dir.as_str()];
    args.extend(folders.iter().map(String::as_str));
    let merged = emlab(&args);
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&merged.stdout),
        stderr(&merged)
    );

    let (w, m) = (
        report_json(&dir.join("whole")),
        report_json(&dir.join("merged")),
    );
    assert_eq!(m["cycles"], w["cycles"]);
    assert_eq!(w["cycles"], 301);
    for step in ["login", "query", "logout"] {
        assert_eq!(
            m["steps"][step]["outcomes"], w["steps"][step]["outcomes"],
            "{step}"
        );
        let total = |r: &serde_json::Value| {
            emlab_simulator::recorder::decode(
                r["steps"][step]["latency_histogram"].as_str().unwrap(),
            )
            .unwrap()
            .len()
        };
        let shards_total: u64 = (1..=4)
            .map(|k| total(&report_json(&dir.join(format!("s{k}")))))
            .sum();
        assert_eq!(
            total(&m),
            shards_total,
            "{step}: merged histogram = sum of shards"
        );
        assert_eq!(total(&m), 301);
    }
    let hlog = std::fs::read_to_string(dir.join("merged/latency.hlog")).unwrap();
    let starts: Vec<f64> = hlog
        .lines()
        .filter(|l| l.starts_with("Tag="))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        !starts.is_empty() && starts.windows(2).all(|w| w[0] <= w[1]),
        "merged by time"
    );
    // Every login of every shard is in one of the merged one-second windows.
    let logins: u64 = hlog
        .lines()
        .filter_map(|l| l.strip_prefix("Tag=login,"))
        .map(|l| {
            let h = l.rsplit(',').next().unwrap();
            emlab_simulator::recorder::decode(h).unwrap().len()
        })
        .sum();
    assert_eq!(logins, 301);

    // Bad input: one line, exit 2.
    let o = emlab(&["merge", &merged_dir, &folders[0], &folders[1]]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("shard 3/4, 4/4 of the run is missing"),
        "{}",
        stderr(&o)
    );
    let other = scenario("other", 10);
    let o2 = emlab(&[
        "run",
        &other,
        "--target",
        &t.url(),
        "--shard",
        "2/4",
        "--out",
        &dir.join("other").display().to_string(),
    ]);
    assert!(o2.status.code().is_some());
    let other_dir = dir.join("other").display().to_string();
    let o = emlab(&[
        "merge",
        &merged_dir,
        &folders[0],
        &other_dir,
        &folders[2],
        &folders[3],
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not shards of one run"),
        "{}",
        stderr(&o)
    );
    let report = dir.join("s4/report.json");
    let text = std::fs::read_to_string(&report).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["steps"]["logout"]["latency_histogram"] = "".into();
    std::fs::write(&report, json.to_string()).unwrap();
    let o = emlab(&[
        "merge",
        &merged_dir,
        &folders[0],
        &folders[1],
        &folders[2],
        &folders[3],
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("s4/report.json: the logout latency histogram is missing or unreadable"),
        "{}",
        stderr(&o)
    );
    let o = emlab(&["run", &shards, "--shard", "5/4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--shard `5/4`: a shard is K/N with 1 <= K <= N"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shard_flags_say_what_is_wrong_in_one_line() {
    let dir = scratch("cli-shard-flags");
    let scenario = write_scenario(&dir, "", "");
    let path = scenario.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--shards", "4"],
            "--shards 4: JOB_COMPLETION_INDEX is not set",
        ),
        (
            &["--shard", "0/4"],
            "--shard `0/4`: a shard is K/N with 1 <= K <= N",
        ),
        (
            &["--shard", "1/2", "--start-at", "soon"],
            "--start-at `soon`: give a UTC time",
        ),
        (
            &["--shard", "1/2", "--rate", "5/s"],
            "--shard: give the rate in the scenario file",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["run", path];
        args.extend_from_slice(flags);
        let o = Command::new(env!("CARGO_BIN_EXE_emlab"))
            .args(&args)
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        let err = stderr(&o);
        assert!(err.contains(message), "{flags:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args(["run", path, "--shards", "4"])
        .env("JOB_COMPLETION_INDEX", "4")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("JOB_COMPLETION_INDEX 4 is outside 0..4"),
        "{}",
        stderr(&o)
    );
}
