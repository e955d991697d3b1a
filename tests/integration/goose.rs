//! `emlab goose`: a scenario's EM API path as a goose attack, goose's
//! reports beside emlab's, and goose's process-wide Ctrl-C handler kept to
//! that subcommand.

use crate::support::{emlab, emlab_interrupted, exits, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn shipped(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .display()
        .to_string()
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}", path.display());
    }))
    .unwrap()
}

/// `emlab goose SCENARIO --out OUT --run-time RUN_TIME --quiet`.
fn goose_args<'a>(scenario: &'a str, out: &'a Path, run_time: &'a str) -> Vec<&'a str> {
    let out = out.to_str().unwrap();
    vec![
        "goose",
        scenario,
        "--out",
        out,
        "--run-time",
        run_time,
        "--quiet",
    ]
}

/// goose's request counts per EM step, from its JSON report.
fn goose_requests(report: &serde_json::Value) -> Vec<(String, u64, u64)> {
    let mut rows: Vec<_> = report["raw_request_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] != "Aggregated")
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["number_of_requests"].as_u64().unwrap(),
                m["number_of_failures"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The shipped goose scenario passes against the embedded server, and
/// goose's reports count exactly the requests emlab's histograms hold.
#[test]
fn goose_mode_runs_em_transactions_and_both_reports_count_the_same_requests() {
    let out = scratch("goose-pass");
    let scenario = shipped("scenarios/goose.toml");
    let stdout = exits(&emlab(&goose_args(&scenario, &out, "2s")), 0);
    assert!(stdout.contains("result: PASS"), "{stdout}");
    let goose = json(out.join("goose-report.json"));
    let emlab = json(out.join("report.json"));
    let rows = goose_requests(&goose);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (step, requests, failures) in rows {
        assert!(requests > 100, "{step}: {requests}");
        assert_eq!(failures, 0, "{step}");
        assert_eq!(emlab["steps"][&step]["count"], requests, "{step}");
    }
    for file in [
        "goose-report.html",
        "goose-report.md",
        "report.html",
        "latency.hlog",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
}

/// A wrong answer fails its goose transaction with the expected and actual
/// outcome, and the run exits 1 as `emlab run` does.
#[test]
fn a_mismatch_fails_the_goose_transaction_and_exits_1() {
    let dir = scratch("goose-mismatch");
    let scenario = dir.join("wrong.toml");
    let text = std::fs::read_to_string(shipped("scenarios/goose.toml"))
        .unwrap()
        .replace(
            "lab = \"lab.toml\"",
            &format!("lab = {:?}", shipped("scenarios/lab.toml")),
        )
        .replace("login = \"success\"", "login = 25");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    let scenario = scenario.display().to_string();
    let stdout = exits(&emlab(&goose_args(&scenario, &out, "1s")), 1);
    assert!(
        stdout.contains("login: expected 25, got success"),
        "{stdout}"
    );
    let goose = json(out.join("goose-report.json"));
    let login = goose_requests(&goose)
        .into_iter()
        .find(|(step, ..)| step == "login")
        .unwrap();
    assert!(login.2 > 0 && login.2 == login.1, "{login:?}");
    let errors = goose["errors"].to_string();
    assert!(
        errors.contains("login: expected 25, got success"),
        "{errors}"
    );
}

/// Bad input: goose's own message for an option it does not know, and one
/// line naming why for scenarios goose cannot run; exit 2 each.
#[test]
fn goose_mode_refuses_bad_options_and_scenarios_it_cannot_run() {
    let goose = shipped("scenarios/goose.toml");
    let cases = [
        (
            vec!["goose", goose.as_str(), "--bogus"],
            "goose: --bogus: unexpected argument '--bogus' found",
        ),
        (
            vec!["goose", goose.as_str(), "--users", "6"],
            "goose --users 6: ",
        ),
    ];
    for (args, message) in cases {
        let o = emlab(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    for (scenario, why) in [
        (
            "scenarios/quickstart.toml",
            "cannot run under goose: `model = \"open\"`",
        ),
        (
            "scenarios/mixed-fleet.toml",
            "cannot run under goose: `path = \"phone\"`",
        ),
        (
            "scenarios/max-concurrent.toml",
            "cannot run under goose: more than one [[load.phase]]",
        ),
    ] {
        let o = emlab(&["goose", &shipped(scenario)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{scenario}: {err}");
        assert!(err.contains(why), "{scenario}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// Ctrl-C in goose mode: goose's handler stops the users, both reports are
/// still written, and the run says it was interrupted (exit 1), as Ctrl-C
/// does to `emlab run` (`cli::ctrl_c_stops_the_run_and_still_writes_the_reports`,
/// which would fail if goose's handler reached that subcommand).
#[tokio::test]
async fn ctrl_c_stops_a_goose_run_and_still_writes_both_reports() {
    let out = scratch("goose-ctrl-c");
    let (o, took) = emlab_interrupted(
        &goose_args(&shipped("scenarios/goose.toml"), &out, "60s"),
        Duration::from_millis(2500),
    )
    .await;
    assert!(took < Duration::from_secs(20), "{took:?}");
    let stdout = exits(&o, 1);
    assert!(stdout.contains("result: INTERRUPTED"), "{stdout}");
    assert_eq!(json(out.join("report.json"))["interrupted"], true);
    let goose = json(out.join("goose-report.json"));
    assert_eq!(goose["ended_by"], "canceled");
    let logins = goose_requests(&goose)
        .into_iter()
        .find(|(step, ..)| step == "login")
        .unwrap();
    assert!(logins.1 > 0, "{logins:?}");
}

/// `examples/goose_em.rs`, a goose user's own load test with EM added,
/// runs briefly against the reference server it starts: every request
/// answered and checked, none failed. `cargo test` builds it beside the
/// `emlab` binary.
#[test]
fn the_goose_example_runs_em_transactions_against_the_embedded_server() {
    let example = Path::new(env!("CARGO_BIN_EXE_emlab"))
        .parent()
        .unwrap()
        .join("examples/goose_em");
    let o = Command::new(&example)
        .args(["--run-time", "1s", "--quiet"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (built by `cargo test`)", example.display()));
    let stdout = exits(&o, 0);
    assert!(
        stdout.contains("Target host: http://127.0.0.1:"),
        "{stdout}"
    );
    // goose's transaction table: `   2: login | # times run | # fails | ...`.
    for step in ["login", "query", "logout"] {
        let columns: Vec<&str> = stdout
            .lines()
            .find(|l| {
                l.split('|')
                    .next()
                    .is_some_and(|name| name.trim().ends_with(&format!(": {step}")))
            })
            .unwrap_or_else(|| panic!("no {step} transaction row: {stdout}"))
            .split('|')
            .map(str::trim)
            .collect();
        let runs: u64 = columns[1].replace(',', "").parse().unwrap();
        assert!(runs > 0, "{columns:?}");
        assert_eq!(columns[2], "0 (0%)", "{step} failed: {columns:?}");
    }
}

/// The same binary without goose's handler: Ctrl-C still shuts `emlab
/// serve` down cleanly (exit 0, "shutting down" logged), as it did before
/// goose was linked in.
#[tokio::test]
async fn ctrl_c_still_shuts_serve_down_cleanly() {
    let lab = shipped("scenarios/lab.toml");
    let (o, took) = emlab_interrupted(
        &[
            "serve",
            "--lab",
            &lab,
            "--listen",
            "127.0.0.1:0",
            "--config-listen",
            "127.0.0.1:0",
            "--sccp-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
            "--no-tftp",
        ],
        Duration::from_millis(1500),
    )
    .await;
    assert!(took < Duration::from_secs(10), "{took:?}");
    exits(&o, 0);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(!stderr.contains("goose"), "{stderr}");
}
