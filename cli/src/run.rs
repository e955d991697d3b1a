//! `emlab run` and `emlab demo`: a scenario's fleet against a target or
//! the embedded reference server, with its reports and live page.

use crate::args::DemoArgs;
use crate::args::RunArgs;
use crate::target::TargetFlags;
use crate::{UsageError, say, shipped};
use emlab_protocol::em_api::AppInfo;
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_server::ServerOptions;
use emlab_simulator::em_client::EmClient;
use emlab_simulator::fleet;
use emlab_simulator::phone::sip_transport::SipTransport;
use emlab_simulator::phone::web_server::PhoneWebServer;
use emlab_simulator::phone::{CallLogRule, Endpoints, PhoneContext, StateCounts, VirtualPhone};
use emlab_simulator::report::{self, RunInfo, RunReport};
use emlab_simulator::scenario::{Model, PathKind, Scenario};
use emlab_simulator::shard::Shard;
use emlab_simulator::storm::{self, ApiPhone, Fleet, LoginStorm, Progress};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What `emlab run` takes besides the scenario and the target.
#[derive(Default)]
pub struct RunOptions {
    pub lab_override: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub rate: Option<String>,
    /// The target's lab control, for rehearsals of troubleshooting causes.
    pub lab_control: Option<String>,
    /// The part of the fleet this process runs.
    pub shard: Shard,
    /// When the schedule starts, so that shards start together.
    pub start_at: Option<std::time::SystemTime>,
    pub dashboard: Option<SocketAddr>,
    /// `emlab demo`: phones and duration instead of the scenario's, lab
    /// control on, and the director playing its cases.
    pub phones: Option<u32>,
    pub duration: Option<std::time::Duration>,
    pub demo: bool,
}

pub async fn run(
    scenario_path: &Path,
    target: Option<TargetFlags>,
    tls: emlab_tls::ClientTls,
    options: RunOptions,
) -> Result<ExitCode, UsageError> {
    let RunOptions {
        lab_override,
        out,
        rate,
        lab_control,
        shard,
        start_at,
        dashboard,
        phones,
        duration,
        demo,
    } = options;
    let (lab_override, rate) = (lab_override.as_deref(), rate.as_deref());
    let control =
        dashboard.map(|_| Arc::new(emlab_simulator::live::control::LiveControl::default()));
    let mut board = None;
    let mut scenario = Scenario::load(scenario_path)?;
    if let Some(n) = phones {
        scenario.load.phones = n;
    }
    if let (Some(d), Some(phase)) = (duration, scenario.load.phases.last_mut()) {
        phase.duration = d;
    }
    if let Some(r) = rate {
        let per_s = emlab_simulator::units::parse_rate(r)
            .map_err(|e| UsageError(format!("--rate: {e}")))?;
        scenario.load.set_rate(per_s * scenario.load.time_scale);
    }
    let (lab, lab_path, users) = fleet_source(&scenario, scenario_path, lab_override)?;
    let phones_needed = scenario.load.phones;
    if !shard.is_whole()
        && scenario.load.model == Model::Closed
        && scenario.load.max_cycles.is_some()
    {
        return Err(UsageError(format!(
            "{}: --shard: a closed model's `cycles` cap cannot be split exactly between processes; give a duration",
            scenario_path.display()
        )));
    }
    let app = app_credentials(&scenario, &lab).ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true, and no app_id/app_certificate in the scenario",
            lab_path.display()
        ))
    })?;

    // A rehearsal has the server play troubleshooting causes, and keeps its
    // lab clock at the scenario's pace; a target needs lab control for that.
    let rehearses = scenario.load.rehearses();
    if rehearses && target.is_some() && lab_control.is_none() {
        let phase = scenario
            .load
            .phases
            .iter()
            .find(|p| p.troubleshooting.is_some())
            .map_or("", |p| p.name.as_str());
        return Err(UsageError(format!(
            "{}: phase `{phase}` rehearses a troubleshooting cause, which needs the target's lab control: give --lab-control URL",
            scenario_path.display()
        )));
    }
    // The demo's director moves the lab clock.
    let server_options = ServerOptions {
        lab_control: demo || rehearses,
        ..ServerOptions::default()
    };
    let embedded = match &target {
        Some(_) => None,
        None => Some(
            emlab_server::start(&lab, server_options)
                .await
                .map_err(|e| UsageError(format!("cannot start the embedded server: {e}")))?,
        ),
    };
    let endpoints = match (&target, &embedded) {
        (Some(t), _) => t.endpoints().await?,
        (None, Some(s)) => embedded_endpoints(s, &tls),
        (None, None) => unreachable!("embedded server started when there is no target"),
    };
    let preflight = match &target {
        Some(_) => {
            let specs = fleet::build_shard(&lab, phones_needed, users.as_deref(), shard)?;
            let phone_path = scenario.path == PathKind::Phone;
            let any =
                |p: ControlProtocol| phone_path && specs.iter().any(|s| s.model.protocol == p);
            let input = emlab_simulator::preflight::PreflightInput {
                endpoints: &endpoints,
                tftp: endpoints.tftp,
                lab_control: None,
                app: &app,
                devices: specs.iter().map(|s| s.device_name.clone()).collect(),
                users: specs.iter().map(|s| s.user_id.clone()).collect(),
                role_devices: Vec::new(),
                role_users: Vec::new(),
                uses: emlab_simulator::preflight::Uses {
                    phone_service: phone_path,
                    config_files: any(ControlProtocol::Sip)
                        || (any(ControlProtocol::Sccp) && endpoints.tftp.is_none()),
                    sccp: any(ControlProtocol::Sccp),
                    sip: any(ControlProtocol::Sip),
                    tftp: any(ControlProtocol::Sccp) && endpoints.tftp.is_some(),
                },
            };
            Some(checked_preflight(&input).await?)
        }
        None => None,
    };
    let load = scenario.load.clone();
    let recorder = Arc::new(std::sync::Mutex::new(storm::recorder_for(&load)));
    let mut states = None;
    let fleet = match scenario.path {
        PathKind::EmApi => {
            let client = EmClient::with_tls(
                &endpoints.em_base,
                app.clone(),
                load.request_timeout,
                &endpoints.tls,
            )?;
            if load.pipeline && client.request_bytes(&[]).is_none() {
                return Err(UsageError(format!(
                    "{}: `pipeline = true` needs an http:// target; over https:// the fleet goes through hyper, which does not pipeline",
                    scenario_path.display()
                )));
            }
            let specs = fleet::build_shard(&lab, phones_needed, users.as_deref(), shard)?;
            let phones = specs
                .iter()
                .map(|s| Arc::new(ApiPhone::new(s.device_name.clone(), s.user_id.clone())))
                .collect();
            Fleet::Api { phones, client }
        }
        PathKind::Phone => {
            let specs = fleet::build_shard(&lab, phones_needed, users.as_deref(), shard)?;
            let any_sip = specs
                .iter()
                .any(|s| s.model.protocol == ControlProtocol::Sip);
            // Each SCCP phone holds a connection: say so before the run
            // fails on it halfway.
            let sccp = specs
                .iter()
                .filter(|s| s.model.protocol == ControlProtocol::Sccp)
                .count() as u64;
            if let Some(files) = emlab_simulator::limits::raise_open_files() {
                let room = emlab_simulator::limits::sccp_phones(files);
                if sccp > room {
                    let shards =
                        emlab_simulator::limits::shards_for(sccp * shard.count as u64, room);
                    return Err(UsageError(format!(
                        "{}: {sccp} SCCP phones, but this process may open {files} files: room for {room}; run {shards} shards (--shard K/{shards}), or SIP phones",
                        scenario_path.display()
                    )));
                }
                if sccp > 0 {
                    say(&format!(
                        "open files: {files}, room for {room} SCCP phones in this process ({sccp} here)\n"
                    ));
                }
            }
            let sip =
                if any_sip {
                    Some(SipTransport::start(endpoints.sip).await.map_err(|e| {
                        UsageError(format!("cannot open the fleet's SIP socket: {e}"))
                    })?)
                } else {
                    None
                };
            let call_logs = call_log_rule(&lab);
            let web = if call_logs.checked {
                let port = lab.file.server.phone_web_port;
                Some(PhoneWebServer::start(port, endpoints.tls.clone()).await.map_err(|e| {
                    UsageError(format!(
                        "{}: cannot listen on port {port} for the phones' /CGI/Execute ({e}); set [server] phone_web_port",
                        lab_path.display()
                    ))
                })?)
            } else {
                None
            };
            let counts = Arc::new(StateCounts::default());
            counts.add_off(specs.len() as u64);
            states = Some(counts.clone());
            if dashboard.is_some() {
                let desk_phones = if demo {
                    demo_desk(&lab, &lab_path, specs.len(), phones_needed)?.0
                } else {
                    Vec::new()
                };
                board = Some(Arc::new(emlab_simulator::live::board::PhoneBoard::new(
                    specs
                        .iter()
                        .map(|s| (s.device_name.clone(), s.model))
                        .chain(desk_phones),
                )));
            }
            let ctx = Arc::new(PhoneContext {
                endpoints: endpoints.clone(),
                sip,
                web,
                recorder: recorder.clone(),
                counts,
                request_timeout: load.request_timeout,
                control_timeout: load.control_timeout,
                call_logs,
                board: board.clone(),
                time_scale: load.time_scale,
            });
            let phones = specs
                .into_iter()
                .map(|s| Arc::new(VirtualPhone::new(s)))
                .collect();
            Fleet::Phones { phones, ctx }
        }
    };
    let storm = LoginStorm {
        fleet,
        recorder: recorder.clone(),
        metrics_url: Some(format!("{}/metrics", endpoints.em_base)),
        tls: endpoints.tls.clone(),
        control: control.clone(),
        load,
        expect_login: scenario.expect_login.clone(),
        expect_logout: scenario.expect_logout.clone(),
        shard,
        start_at,
        lab_control: lab_control
            .or_else(|| target.is_none().then(|| endpoints.em_base.clone()))
            .map(|base| emlab_simulator::rehearsal::LabControl {
                base,
                tls: endpoints.tls.clone(),
            }),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every Ctrl-C is a stop request: the first ends the arrivals, the next abandons cycles.
    let signals = tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let progress = Arc::new(Progress::default());
    let mut director = None;
    let live = match (dashboard, &control) {
        (Some(addr), Some(control)) => {
            let run = emlab_simulator::live::feed::LiveRun::new(
                scenario.clone(),
                endpoints.em_base.clone(),
                target.is_none(),
                recorder.clone(),
                progress.clone(),
                states.clone(),
                board,
                control.clone(),
                Some(format!("{}/metrics", endpoints.em_base)),
                endpoints.tls.clone(),
            );
            let live = emlab_simulator::live::server::start(addr, run.clone()).await?;
            say(&format!("dashboard: {}\n", live.url()));
            if demo {
                let (_, desk) = demo_desk(&lab, &lab_path, phones_needed as usize, phones_needed)?;
                director = Some(tokio::spawn(emlab_simulator::live::demo::direct(
                    endpoints.clone(),
                    app.clone(),
                    run,
                    desk,
                )));
            }
            Some(live)
        }
        _ => None,
    };
    let line = emlab_simulator::progress::spawn(progress.clone(), recorder.clone(), states);
    let result = storm.run(progress, stop_rx).await;
    emlab_simulator::progress::finish(line);
    if let Some(d) = director {
        d.abort();
    }
    if let Some(live) = live {
        live.stop();
    }
    signals.abort();
    if let Some(server) = embedded {
        let _ = server.shutdown().await;
    }

    let info = RunInfo {
        scenario: &scenario,
        target: &endpoints.em_base,
        embedded_server: target.is_none(),
        tls_insecure: endpoints.tls.insecure(),
        preflight: preflight.as_ref(),
        shard,
    };
    let report = RunReport::build(&info, &result);
    let dir = out.unwrap_or_else(|| {
        let shard = if shard.is_whole() {
            String::new()
        } else {
            format!("-shard-{}-of-{}", shard.index + 1, shard.count)
        };
        PathBuf::from("reports").join(format!(
            "{}-{}{shard}",
            scenario.name,
            report::stamp(result.started_at)
        ))
    });
    // Files first: what was measured must survive a closed stdout.
    report
        .write(&dir, &result.recorder, result.started_at)
        .map_err(|e| UsageError(format!("cannot write the report to {}: {e}", dir.display())))?;
    say(&format!(
        "{}report: {}/report.html, report.json and latency.hlog\n",
        report::summary(&report),
        dir.display()
    ));
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `emlab demo`'s front desk in `lab`: the tiles its three phones take
/// (after the fleet's `fleet_len`), and who plays the cases. The burst uses
/// fleet members the run leaves alone (after the first `in_run`).
#[allow(clippy::type_complexity)]
pub fn demo_desk(
    lab: &Lab,
    lab_path: &Path,
    fleet_len: usize,
    in_run: u32,
) -> Result<
    (
        Vec<(String, &'static emlab_protocol::phone_model::PhoneModel)>,
        emlab_simulator::live::demo::Desk,
    ),
    UsageError,
> {
    let missing = || {
        UsageError(format!(
            "{}: the demo needs devices SEP0D0000000001 to SEP0D0000000003, users ana and ben, and 8 [fleet] members beyond the run's phones (see scenarios/lab-demo.toml)",
            lab_path.display()
        ))
    };
    let mut tiles = Vec::new();
    let mut phones = Vec::new();
    for (k, name) in ["SEP0D0000000001", "SEP0D0000000002", "SEP0D0000000003"]
        .iter()
        .enumerate()
    {
        let d = lab
            .file
            .device
            .iter()
            .find(|d| d.name == *name)
            .ok_or_else(missing)?;
        let model = emlab_protocol::phone_model::find(&d.model).ok_or_else(missing)?;
        tiles.push((name.to_string(), model));
        phones.push((name.to_string(), (fleet_len + k) as u32));
    }
    let user = |id: &str| {
        lab.file
            .user
            .iter()
            .find(|u| u.id == id)
            .map(|u| (u.id.clone(), u.pin.clone()))
            .ok_or_else(missing)
    };
    let burst: Vec<(String, String)> = lab
        .fleet_members()
        .skip(in_run as usize)
        .take(8)
        .map(|m| (m.device_name, m.user_id))
        .collect();
    if burst.len() < 8 {
        return Err(missing());
    }
    let desk = emlab_simulator::live::demo::Desk {
        phones: [phones[0].clone(), phones[1].clone(), phones[2].clone()],
        ana: user("ana")?,
        ben: user("ben")?,
        burst,
    };
    Ok((tiles, desk))
}

/// The lab a scenario's fleet comes from (`--lab`, else the scenario's),
/// its path, and the users file's rows; refused when they cannot give every
/// phone a device and a user.
pub fn fleet_source(
    scenario: &Scenario,
    scenario_path: &Path,
    lab_override: Option<&Path>,
) -> Result<(Lab, PathBuf, Option<Vec<fleet::UserRow>>), UsageError> {
    let lab_path = lab_override
        .map(Path::to_path_buf)
        .or_else(|| scenario.lab.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "{}: no `lab` in [scenario] and no --lab given",
                scenario_path.display()
            ))
        })?;
    let lab = Lab::load(&lab_path)?;
    let users = match &scenario.users {
        Some(p) => Some(fleet::read_users(p)?),
        None => None,
    };
    let phones_needed = scenario.load.phones;
    match &users {
        Some(rows) if (rows.len() as u32) < phones_needed => {
            return Err(UsageError(format!(
                "{}: {} rows for {} phones (one user per phone)",
                scenario
                    .users
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                rows.len(),
                phones_needed
            )));
        }
        None if phones_needed > lab.fleet_size() => {
            return Err(UsageError(format!(
                "{}: key `phones`: {} phones but the lab {} generates {} in [fleet]",
                scenario_path.display(),
                phones_needed,
                lab_path.display(),
                lab.fleet_size()
            )));
        }
        _ => {}
    }
    Ok((lab, lab_path, users))
}

/// The embedded reference server's interfaces, as a fleet sees them.
pub fn embedded_endpoints(
    s: &emlab_server::RunningServer,
    tls: &emlab_tls::ClientTls,
) -> Endpoints {
    Endpoints {
        em_base: s.base_url(),
        config_base: s.config_url(),
        sccp: s.sccp_addr,
        sip: s.sip_addr,
        tftp: s.tftp_addr,
        tls: tls.clone(),
    }
}

/// Runs preflight, prints its table, and stops the command (exit 2) when
/// the run would be meaningless.
pub async fn checked_preflight(
    input: &emlab_simulator::preflight::PreflightInput<'_>,
) -> Result<emlab_simulator::preflight::Preflight, UsageError> {
    let found = emlab_simulator::preflight::run(input).await;
    say(&found.table());
    match found.first_fatal() {
        Some(line) => Err(UsageError(line)),
        None => Ok(found),
    }
}

/// When the lab's server clears call logs (LOGS-1/2): `ucm`/`ucm4` at
/// manual logins and logouts with Clear Call Logs on; `cme` at logouts
/// unless `keep_history`. The phones check it only when it can happen.
pub fn call_log_rule(lab: &Lab) -> CallLogRule {
    let server = &lab.file.server;
    let clear = lab.file.service_parameters.clear_call_logs;
    let rule = match server.profile {
        emlab_protocol::ServerProfile::Cme => CallLogRule {
            checked: false,
            at_login: false,
            at_logout: !server.keep_history,
        },
        _ => CallLogRule {
            checked: false,
            at_login: clear,
            at_logout: clear,
        },
    };
    CallLogRule {
        checked: rule.at_login || rule.at_logout,
        ..rule
    }
}

/// The scenario's app credentials, else the lab's first application with proxy rights.
pub fn app_credentials(scenario: &Scenario, lab: &Lab) -> Option<AppInfo> {
    match (&scenario.app_id, &scenario.app_certificate) {
        (Some(id), Some(cert)) => Some(AppInfo::new(id.clone(), cert.clone())),
        _ => lab.proxy_app(),
    }
}

/// `emlab run`.
pub async fn run_command(args: RunArgs) -> Result<ExitCode, UsageError> {
    let RunArgs {
        scenario,
        target,
        lab,
        out,
        rate,
        lab_control,
        shard,
        shards,
        start_at,
        dashboard,
    } = args;
    let (target, tls) = target.flags()?;
    let shard = match (shard, shards) {
        (Some(spec), _) => Shard::parse(&spec).map_err(|e| UsageError(format!("--shard {e}")))?,
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                UsageError(format!(
                    "--shards {n}: JOB_COMPLETION_INDEX is not set (a Kubernetes Indexed Job sets it; elsewhere use --shard K/N)"
                ))
            })?;
            Shard::from_job_index(&index, n).map_err(|e| UsageError(format!("--shards: {e}")))?
        }
        (None, None) => Shard::WHOLE,
    };
    if !shard.is_whole() && (rate.is_some() || dashboard.is_some()) {
        return Err(UsageError(
            "--shard: give the rate in the scenario file (every shard and `emlab merge` read it there), and no --dashboard".into(),
        ));
    }
    let start_at = start_at
        .map(|t| report::parse_instant(&t).map_err(|e| UsageError(format!("--start-at {e}"))))
        .transpose()?;
    let options = RunOptions {
        lab_override: lab,
        out,
        rate,
        lab_control,
        shard,
        start_at,
        dashboard,
        ..RunOptions::default()
    };
    run(&scenario, target, tls, options).await
}

/// `emlab demo`: the shipped demo scenario on the embedded server, with
/// the live page.
pub async fn demo_command(args: DemoArgs) -> Result<ExitCode, UsageError> {
    let DemoArgs {
        lab,
        phones,
        dashboard,
        duration,
        out,
    } = args;
    let duration = duration
        .map(|d| {
            emlab_simulator::units::parse_duration(&d)
                .map_err(|e| UsageError(format!("--duration: {e}")))
        })
        .transpose()?;
    let options = RunOptions {
        lab_override: lab.or_else(|| Some(shipped("scenarios/lab-demo.toml"))),
        out,
        dashboard: Some(dashboard),
        phones,
        duration,
        demo: true,
        ..RunOptions::default()
    };
    let scenario = shipped("scenarios/demo.toml");
    run(&scenario, None, emlab_tls::ClientTls::default(), options).await
}
