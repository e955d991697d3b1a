//! `emlab`: the Extension Mobility lab, one binary.
//!
//! - `emlab serve --lab FILE`: the reference EM server;
//! - `emlab run SCENARIO`: a fleet run; with no `--target` it first starts
//!   the reference server in this process on loopback (the embedded default).
//!
//! Exit codes (PROTOCOL.md §7): 0 success, 1 a check, expectation or
//! threshold failed, 2 usage, file or configuration error.

use clap::{Parser, Subcommand};
use emlab_protocol::em_api::AppInfo;
use emlab_protocol::lab::Lab;
use emlab_server::ServerOptions;
use emlab_simulator::em_client::EmClient;
use emlab_simulator::report::{self, RunInfo, RunReport};
use emlab_simulator::scenario::Scenario;
use emlab_simulator::storm::{LoginStorm, VirtualPhone};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "emlab",
    version,
    about = "Extension Mobility lab: reference server, virtual-phone fleet, reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the reference EM server from a lab file.
    Serve {
        /// The lab directory file (PROTOCOL.md §6).
        #[arg(long)]
        lab: PathBuf,
        /// Address of the EM API, `/metrics` and lab control.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Address of the configuration files (`SEP<MAC>.cnf.xml`).
        #[arg(long, default_value = "127.0.0.1:6970")]
        config_listen: SocketAddr,
        /// Address of the SCCP control channel.
        #[arg(long, default_value = "127.0.0.1:2000")]
        sccp_listen: SocketAddr,
        /// Address of the SIP control channel (UDP).
        #[arg(long, default_value = "127.0.0.1:5060")]
        sip_listen: SocketAddr,
        /// Serve `/lab/` (clock advance).
        #[arg(long)]
        lab_control: bool,
    },
    /// Run a scenario: a fleet of virtual phones against a server.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Base URL of the server under test (e.g. http://127.0.0.1:8080).
        /// Without it, the reference server runs in-process on loopback.
        #[arg(long)]
        target: Option<String>,
        /// The lab file the target was started with (default: the scenario's `lab`).
        #[arg(long)]
        lab: Option<PathBuf>,
        /// Output folder (default: reports/<scenario>-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's arrival rate (e.g. 500/s, 2000/h).
        #[arg(long)]
        rate: Option<String>,
    },
}

/// A failure that ends the command with exit code 2.
struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(e: E) -> Self {
        UsageError(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("emlab: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                lab,
                listen,
                config_listen,
                sccp_listen,
                sip_listen,
                lab_control,
            } => {
                serve(
                    &lab,
                    ServerOptions {
                        listen,
                        config_listen,
                        sccp_listen,
                        sip_listen,
                        lab_control,
                    },
                )
                .await
            }
            Command::Run {
                scenario,
                target,
                lab,
                out,
                rate,
            } => run(&scenario, target, lab.as_deref(), out, rate.as_deref()).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("emlab: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn serve(lab_path: &Path, options: ServerOptions) -> Result<ExitCode, UsageError> {
    let lab = Lab::load(lab_path)?;
    let (listen, config_listen, lab_control) =
        (options.listen, options.config_listen, options.lab_control);
    let server = emlab_server::start(&lab, options).await.map_err(|e| {
        UsageError(format!(
            "cannot listen on {listen} and {config_listen}: {e}"
        ))
    })?;
    let d = &server.state.directory;
    say(&format!(
        "emlab serve: EM API and phone service on {}, configuration files on {}, SCCP on {}, SIP on udp/{} (lab {}, profile {}, {} devices, {} users){}\n",
        server.base_url(),
        server.config_url(),
        server.sccp_addr,
        server.sip_addr,
        lab_path.display(),
        d.profile.as_str(),
        d.device_count(),
        d.user_count(),
        if lab_control { ", lab control on" } else { "" }
    ));
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

async fn run(
    scenario_path: &Path,
    target: Option<String>,
    lab_override: Option<&Path>,
    out: Option<PathBuf>,
    rate: Option<&str>,
) -> Result<ExitCode, UsageError> {
    let mut scenario = Scenario::load(scenario_path)?;
    if let Some(r) = rate {
        scenario.load.rate_per_s = emlab_simulator::units::parse_rate(r)
            .map_err(|e| UsageError(format!("--rate: {e}")))?;
    }
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
    if scenario.load.phones > lab.fleet_size() {
        return Err(UsageError(format!(
            "{}: key `phones`: {} phones but the lab {} generates {} in [fleet]",
            scenario_path.display(),
            scenario.load.phones,
            lab_path.display(),
            lab.fleet_size()
        )));
    }
    let app = app_credentials(&scenario, &lab).ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true, and no app_id/app_certificate in the scenario",
            lab_path.display()
        ))
    })?;

    let embedded = match &target {
        Some(_) => None,
        None => Some(
            emlab_server::start(&lab, ServerOptions::default())
                .await
                .map_err(|e| UsageError(format!("cannot start the embedded server: {e}")))?,
        ),
    };
    let target_url = match (&target, &embedded) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => s.base_url(),
        (None, None) => unreachable!("embedded server started when there is no target"),
    };
    let client = EmClient::new(&target_url, app, scenario.load.request_timeout)?;
    let phones: Vec<Arc<VirtualPhone>> = lab
        .fleet_members()
        .take(scenario.load.phones as usize)
        .map(|m| Arc::new(VirtualPhone::from_member(&m)))
        .collect();
    let storm = LoginStorm {
        phones,
        load: scenario.load.clone(),
        expect_login: scenario.expect_login,
        expect_logout: scenario.expect_logout,
    };
    let result = storm.run(client).await;
    if let Some(server) = embedded {
        let _ = server.shutdown().await;
    }

    let info = RunInfo {
        scenario: &scenario,
        target: &target_url,
        embedded_server: target.is_none(),
    };
    let report = RunReport::build(&info, &result);
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "{}-{}",
            scenario.name,
            report::stamp(result.started_at)
        ))
    });
    // Files first: what was measured must survive a closed stdout.
    report
        .write(&dir, &result.recorder)
        .map_err(|e| UsageError(format!("cannot write the report to {}: {e}", dir.display())))?;
    say(&format!(
        "{}report: {}/report.html and report.json\n",
        report::summary(&report),
        dir.display()
    ));
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The scenario's app credentials, else the lab's first application with proxy rights.
fn app_credentials(scenario: &Scenario, lab: &Lab) -> Option<AppInfo> {
    match (&scenario.app_id, &scenario.app_certificate) {
        (Some(id), Some(cert)) => Some(AppInfo::new(id.clone(), cert.clone())),
        _ => lab
            .file
            .application
            .iter()
            .find(|a| a.proxy_rights)
            .map(|a| AppInfo::new(a.id.clone(), a.certificate.clone())),
    }
}

/// Prints to stdout; a closed stdout (`emlab run ... | head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}
