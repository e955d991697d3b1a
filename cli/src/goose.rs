//! `emlab goose SCENARIO [goose options]`: a scenario's EM API path as a
//! goose attack (`emlab-goose`), for those who want goose's closed model
//! and its reports.
//!
//! The scenario gives goose its defaults: one goose user per phone
//! (`--users`, all started within a second), the phase's duration
//! (`--run-time`), the target (`--host`, the embedded reference server
//! unless `--target`), and report files in the run's folder. Any goose
//! option given after the scenario replaces the default of the same name;
//! goose itself parses them and rejects what it does not know. goose's
//! telnet and WebSocket controllers stay off unless `--controllers`.
//!
//! goose owns this process's SIGINT handler and `log` logger once the
//! attack starts, so it runs only here: `emlab run`, `conform` and
//! `serve` never touch goose.

use crate::args::GooseArgs;
use crate::run::{app_credentials, fleet_source};
use crate::{UsageError, say};
use emlab_goose::{EmTransactions, EmUser};
use emlab_server::ServerOptions;
use emlab_simulator::fleet;
use emlab_simulator::report::{self, RunInfo, RunReport};
use emlab_simulator::scenario::{Model, PathKind, Scenario};
use emlab_simulator::storm::{StormResult, recorder_for};
use goose::GooseError;
use goose::config::GooseConfiguration;
use goose::prelude::GooseAttack;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// goose's report files, in the run's folder beside emlab's `report.*`.
pub const GOOSE_REPORTS: [&str; 3] = ["goose-report.html", "goose-report.json", "goose-report.md"];

pub async fn goose_command(mut args: GooseArgs) -> Result<ExitCode, UsageError> {
    take_emlab_options(&mut args)?;
    // `emlab goose S -- --help`: goose's own options, as goose prints them.
    if args.goose.iter().any(|a| a == "--help" || a == "-h") {
        let mut goose = <GooseConfiguration as clap::CommandFactory>::command()
            .override_usage("emlab goose SCENARIO [--target URL] [--out DIR] ... [GOOSE OPTIONS]");
        say(&format!("{}\n", goose.render_long_help()));
        return Ok(ExitCode::SUCCESS);
    }
    let scenario = Scenario::load(&args.scenario)?;
    refuse_what_goose_cannot_run(&scenario, &args.scenario)?;
    let (lab, _, users) = fleet_source(&scenario, &args.scenario, args.lab.as_deref())?;
    let phones = scenario.load.phones;
    let specs = fleet::build(&lab, phones, users.as_deref())?;
    let app = app_credentials(&scenario, &lab).ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true, and no app_id/app_certificate in the scenario",
            args.scenario.display()
        ))
    })?;

    let embedded = match &args.target {
        Some(_) => None,
        None => Some(
            emlab_server::start(&lab, ServerOptions::default())
                .await
                .map_err(|e| UsageError(format!("cannot start the embedded server: {e}")))?,
        ),
    };
    let target = match (&args.target, &embedded) {
        (Some(t), _) => t.trim_end_matches('/').to_string(),
        (_, Some(s)) => s.base_url(),
        (None, None) => unreachable!("embedded server started when there is no target"),
    };
    let started_at = SystemTime::now();
    let dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "{}-goose-{}",
            scenario.name,
            report::stamp(started_at)
        ))
    });
    let goose_args = goose_arguments(&scenario, &target, &dir, args.controllers, &args.goose);
    let configuration = GooseConfiguration::parse_args_default(&goose_args).map_err(goose_error)?;
    if let Some(n) = configuration.users
        && n > specs.len()
    {
        return Err(UsageError(format!(
            "goose --users {n}: {} has {} phones, one EM user each; two goose users on one device fail each other's logins",
            args.scenario.display(),
            specs.len()
        )));
    }
    // Made only now that the run will start; goose writes its reports there.
    std::fs::create_dir_all(&dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;

    let recorder = Arc::new(Mutex::new(recorder_for(&scenario.load)));
    let mut em = EmTransactions::new(
        app,
        specs
            .iter()
            .map(|s| EmUser {
                device_name: s.device_name.clone(),
                user_id: s.user_id.clone(),
            })
            .collect(),
    );
    em.query = scenario.load.query;
    em.expect_login = scenario.expect_login.to_string();
    em.expect_logout = scenario.expect_logout.to_string();
    em.hold = scenario.load.hold;
    em.recorder = Some(recorder.clone());

    let start = Instant::now();
    let attack = GooseAttack::initialize_with_config(configuration)
        .map_err(goose_error)?
        .register_scenario(em.scenario());
    let outcome = attack.execute().await;
    let elapsed = start.elapsed();
    if let Some(server) = embedded {
        let _ = server.shutdown().await;
    }
    outcome.map_err(goose_error)?;

    let recorder = std::mem::replace(
        &mut *recorder.lock().unwrap_or_else(|p| p.into_inner()),
        recorder_for(&scenario.load),
    );
    let result = StormResult {
        cycles: recorder
            .step(emlab_simulator::recorder::Step::Login)
            .count(),
        recorder,
        started_at,
        elapsed,
        booted: 0,
        boot_time: Default::default(),
        // goose's Ctrl-C handler stops the attack as emlab's stops a run.
        interrupted: goose::is_killswitch_triggered(),
        throttled: vec![None; scenario.load.phases.len() + 1],
        rehearsal_problems: Vec::new(),
    };
    let info = RunInfo {
        scenario: &scenario,
        target: &target,
        embedded_server: args.target.is_none(),
        tls_insecure: false,
        preflight: None,
        shard: Default::default(),
    };
    let report = RunReport::build(&info, &result);
    report
        .write(&dir, &result.recorder, result.started_at)
        .map_err(|e| UsageError(format!("cannot write the report to {}: {e}", dir.display())))?;
    say(&format!(
        "{}report: {}/report.html, report.json and latency.hlog (emlab, self-contained); {} (goose; its HTML loads its charts from a CDN)\n",
        report::summary(&report),
        dir.display(),
        GOOSE_REPORTS.join(", ")
    ));
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// emlab's own options given among goose's (`emlab goose S --users 3
/// --out DIR`): clap hands everything after the first goose option to
/// goose, and goose has none of these names.
fn take_emlab_options(args: &mut GooseArgs) -> Result<(), UsageError> {
    let mut goose = Vec::new();
    let mut given = std::mem::take(&mut args.goose).into_iter();
    while let Some(a) = given.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        if name == "--controllers" && inline.is_none() {
            args.controllers = true;
            continue;
        }
        if !matches!(name.as_str(), "--target" | "--lab" | "--out") {
            goose.push(a);
            continue;
        }
        let value = inline
            .or_else(|| given.next())
            .ok_or_else(|| UsageError(format!("goose: {name} needs a value")))?;
        match name.as_str() {
            "--target" => args.target = Some(value),
            "--lab" => args.lab = Some(PathBuf::from(value)),
            _ => args.out = Some(PathBuf::from(value)),
        }
    }
    args.goose = goose;
    Ok(())
}

/// goose's error on one line: for a refused option, goose's own words on
/// which option, which value and why (its `Display` keeps only "invalid
/// option or value specified").
fn goose_error(e: GooseError) -> UsageError {
    match e {
        GooseError::InvalidOption {
            option,
            value,
            detail,
        } => {
            let detail = detail.trim().replace('\n', " ");
            UsageError(
                match (option.is_empty(), value.is_empty() || value == option) {
                    (true, _) => format!("goose: {detail}"),
                    (false, true) => format!("goose: {option}: {detail}"),
                    (false, false) => format!("goose: {option} {value}: {detail}"),
                },
            )
        }
        e => UsageError(format!("goose: {e}")),
    }
}

/// goose runs users in a loop: a closed model with one phase, on the EM API.
fn refuse_what_goose_cannot_run(scenario: &Scenario, path: &Path) -> Result<(), UsageError> {
    let load = &scenario.load;
    let why = if scenario.path == PathKind::Phone {
        Some(
            "`path = \"phone\"`: goose sends HTTP requests; phones on SCCP or SIP need `emlab run`",
        )
    } else if load.model == Model::Open {
        Some(
            "`model = \"open\"`: goose users loop, a closed model; an arrival rate that does not wait for answers needs `emlab run`",
        )
    } else if load.phases.len() > 1 {
        Some(
            "more than one [[load.phase]]: goose keeps one user count (or its own --test-plan); phases need `emlab run`",
        )
    } else if load.rehearses() {
        Some("a troubleshooting rehearsal needs `emlab run`, which drives the server's lab control")
    } else if load.pipeline {
        Some("`pipeline = true`: goose's client sends one request at a time")
    } else if !load.think.is_zero() {
        Some("`think`: give goose's own wait instead of the scenario's")
    } else if load.max_cycles.is_some() {
        Some("`cycles`: goose counts iterations per user; give `duration`, or goose's --iterations")
    } else {
        None
    };
    match why {
        Some(why) => Err(UsageError(format!(
            "{}: cannot run under goose: {why}",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The goose command line: the scenario's defaults, each left out when
/// the user gave that option (or one goose refuses beside it), then the
/// user's own options.
fn goose_arguments(
    scenario: &Scenario,
    target: &str,
    dir: &Path,
    controllers: bool,
    given: &[String],
) -> Vec<String> {
    let has = |names: &[&str]| {
        given.iter().any(|a| {
            names
                .iter()
                .any(|n| a == n || a.starts_with(&format!("{n}=")))
        })
    };
    let mut args: Vec<String> = Vec::new();
    let mut add = |names: &[&str], values: &[String]| {
        if !has(names) {
            args.push(names[0].to_string());
            args.extend(values.iter().cloned());
        }
    };
    let phones = scenario.load.phones.to_string();
    let plan = has(&["--test-plan"]);
    if !plan {
        add(&["--users", "-u"], std::slice::from_ref(&phones));
        if !has(&["--increase-time", "-s"]) {
            add(&["--increase-rate", "-r"], std::slice::from_ref(&phones));
        }
        if !has(&["--iterations"]) {
            let secs = scenario.load.duration().as_secs_f64().ceil().max(1.0) as u64;
            add(&["--run-time", "-t"], &[format!("{secs}s")]);
        }
    }
    add(&["--host", "-H"], &[target.to_string()]);
    // goose forgets what it measured while users started; emlab's
    // histograms keep it, so goose keeps it too and both count the same
    // requests (goose refuses the flag beside these two).
    if !has(&["--iterations", "--test-plan"]) {
        add(&["--no-reset-metrics"], &[]);
    }
    if controllers {
        add(&["--websocket"], &[]);
    } else {
        add(&["--no-telnet"], &[]);
    }
    if !has(&["--report-file"]) {
        for name in GOOSE_REPORTS {
            args.push("--report-file".into());
            args.push(dir.join(name).display().to_string());
        }
    }
    args.extend(given.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let text = "[scenario]\nname = \"g\"\n[load]\nmodel = \"closed\"\nphones = 4\nduration = \"2500ms\"\n";
        Scenario::parse(Path::new("g.toml"), text).unwrap()
    }

    fn args(given: &[&str], controllers: bool) -> Vec<String> {
        let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        goose_arguments(
            &scenario(),
            "http://127.0.0.1:1",
            Path::new("out"),
            controllers,
            &given,
        )
    }

    /// The scenario's defaults; controllers off unless asked for.
    #[test]
    fn the_scenario_gives_goose_its_defaults_with_controllers_off() {
        let a = args(&[], false);
        let pair = |name: &str| a.iter().position(|x| x == name).map(|i| a[i + 1].as_str());
        assert_eq!(pair("--users"), Some("4"));
        assert_eq!(
            pair("--run-time"),
            Some("3s"),
            "rounded up to whole seconds"
        );
        assert_eq!(pair("--host"), Some("http://127.0.0.1:1"));
        assert!(a.contains(&"--no-telnet".to_string()), "{a:?}");
        assert!(!a.contains(&"--websocket".to_string()), "{a:?}");
        assert_eq!(a.iter().filter(|x| *x == "--report-file").count(), 3);
        let on = args(&[], true);
        assert!(on.contains(&"--websocket".to_string()), "{on:?}");
        assert!(!on.contains(&"--no-telnet".to_string()), "{on:?}");
    }

    /// emlab's options among goose's are emlab's; the rest stay goose's.
    #[test]
    fn emlab_options_after_goose_options_are_still_emlab_options() {
        let mut args = GooseArgs {
            scenario: "g.toml".into(),
            target: None,
            lab: None,
            out: None,
            controllers: false,
            goose: [
                "--users",
                "3",
                "--out",
                "o",
                "--target=http://h:1",
                "--controllers",
                "-q",
            ]
            .map(String::from)
            .to_vec(),
        };
        assert!(take_emlab_options(&mut args).is_ok());
        assert_eq!(args.goose, ["--users", "3", "-q"]);
        assert_eq!(args.out, Some(PathBuf::from("o")));
        assert_eq!(args.target.as_deref(), Some("http://h:1"));
        assert!(args.controllers);
        args.goose = vec!["--lab".into()];
        let UsageError(err) = take_emlab_options(&mut args).err().unwrap();
        assert_eq!(err, "goose: --lab needs a value");
    }

    /// An option the user gives replaces the default of the same name, and
    /// the defaults goose refuses beside it are left out.
    #[test]
    fn a_goose_option_given_replaces_the_default() {
        let a = args(&["-u", "2", "--iterations", "5"], false);
        assert_eq!(
            a.iter().filter(|x| *x == "--users" || *x == "-u").count(),
            1,
            "{a:?}"
        );
        assert!(!a.contains(&"--run-time".to_string()), "{a:?}");
        assert!(!a.contains(&"--no-reset-metrics".to_string()), "{a:?}");
        assert!(a.ends_with(&["-u".into(), "2".into(), "--iterations".into(), "5".into()]));
        // What goose would parse: the user's values win.
        let config = GooseConfiguration::parse_args_default(&a).unwrap();
        assert_eq!(config.users, Some(2));
        assert_eq!(config.iterations, Some(5));
    }
}
