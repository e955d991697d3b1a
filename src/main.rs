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
use emlab_protocol::phone_model::ControlProtocol;
use emlab_server::ServerOptions;
use emlab_server::faults::{Fault, Faults};
use emlab_simulator::em_client::EmClient;
use emlab_simulator::fleet;
use emlab_simulator::phone::sip_transport::SipTransport;
use emlab_simulator::phone::web_server::PhoneWebServer;
use emlab_simulator::phone::{CallLogRule, Endpoints, PhoneContext, StateCounts, VirtualPhone};
use emlab_simulator::report::{self, RunInfo, RunReport};
use emlab_simulator::scenario::{PathKind, Scenario};
use emlab_simulator::storm::{self, ApiPhone, Fleet, LoginStorm, Progress};
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Structured logs on stderr; stdout stays the banner and reports.
fn init_logging(format: LogFormat, level: tracing_subscriber::filter::LevelFilter) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
        /// Address of the configuration files over TFTP (UDP; ports below
        /// 1024 need root or CAP_NET_BIND_SERVICE).
        #[arg(long, default_value = "127.0.0.1:69")]
        tftp_listen: SocketAddr,
        /// Serve no TFTP.
        #[arg(long, conflicts_with = "tftp_listen")]
        no_tftp: bool,
        /// Serve `/lab/` (clock advance).
        #[arg(long)]
        lab_control: bool,
        /// Keep sessions, last users, DND and Call Backs, PIN changes, live
        /// service parameters and the lab clock in this SQLite file (created
        /// if missing), so they outlive a restart or a kill -9. Without it,
        /// everything lives in memory.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        #[command(flatten)]
        tls: ServeTlsArgs,
        /// Longest wait for a request's headers (and a TLS handshake), and
        /// the longest a kept-alive connection may stay idle.
        #[arg(long, default_value = "30s", value_parser = duration_arg)]
        header_timeout: std::time::Duration,
        /// Longest wait for a request's body.
        #[arg(long, default_value = "10s", value_parser = duration_arg)]
        body_timeout: std::time::Duration,
        /// Open connections per HTTP listener; more are closed at once.
        #[arg(long, default_value_t = 8192)]
        max_connections: usize,
        /// Logs on stderr: `text` for people, `json` (one object a line) for machines.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// The least severe events logged: error, warn, info (the banner,
        /// faults) or debug (every refused request, with its reason).
        #[arg(long, default_value = "info")]
        log_level: tracing_subscriber::filter::LevelFilter,
        /// Break the server on purpose (test-only; see server-under-test/src/core/faults.rs),
        /// to watch `emlab conform` catch it. Repeatable.
        #[arg(long = "fault", hide = true)]
        faults: Vec<String>,
    },
    /// Run a scenario: a fleet of virtual phones against a server.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// The lab file the target was started with (default: the scenario's `lab`).
        #[arg(long)]
        lab: Option<PathBuf>,
        /// Output folder (default: reports/<scenario>-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's arrival rate (e.g. 500/s, 2000/h).
        #[arg(long)]
        rate: Option<String>,
        /// Serve a live page of the run (default address 127.0.0.1:8099)
        /// with pause, resume and rate controls.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8099")]
        dashboard: Option<SocketAddr>,
    },
    /// A lab demo: the reference server, a small mixed fleet at human pace,
    /// the interesting cases played on front-desk phones, and the live page.
    Demo {
        /// The demo's lab (default: scenarios/lab-demo.toml).
        #[arg(long)]
        lab: Option<PathBuf>,
        /// Phones in the fleet (default 12).
        #[arg(long)]
        phones: Option<u32>,
        /// Where the live page listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8099")]
        dashboard: SocketAddr,
        /// How long the demo runs (default one hour; Ctrl-C ends it sooner).
        #[arg(long)]
        duration: Option<String>,
        /// Output folder for the report (default: reports/demo-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Lab files: `emlab lab import --cme running-config.txt --out lab.toml`.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Preflight a target: reach every interface, TLS, the application's
    /// credentials, and a sample of the lab's devices and users; exit 2 if
    /// a run against it would be meaningless.
    Check {
        #[command(flatten)]
        target: TargetArgs,
        /// The lab file the target was started with (its devices and users are looked up).
        #[arg(long)]
        lab: PathBuf,
        /// Base URL of the target's lab control (`/lab/`), if it has one.
        #[arg(long)]
        lab_control: Option<String>,
    },
    /// Run the conformance catalogue against a server; exit 0 only if every case passed.
    Conform {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        options: ConformOptions,
    },
}

#[derive(Subcommand)]
enum LabCommand {
    /// Write a `profile = "cme"` lab from a Cisco Unified CME running-config
    /// (PROTOCOL.md §8); lists what it ignored and the button layouts.
    Import {
        /// The running-config (`show running-config`, or a pasted CLI session).
        #[arg(long, value_name = "FILE")]
        cme: PathBuf,
        /// Where to write the lab (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Where the server under test is (PROTOCOL.md §7); shared by `run` and `conform`.
#[derive(clap::Args)]
struct TargetArgs {
    /// Base URL of the server under test (e.g. http://127.0.0.1:8080).
    /// Without it, the reference server runs in-process on loopback.
    #[arg(long)]
    target: Option<String>,
    /// Base URL of the target's configuration files (default: the target's host, port 6970).
    #[arg(long)]
    config: Option<String>,
    /// The target's SCCP address (default: the target's host, port 2000).
    #[arg(long)]
    sccp: Option<String>,
    /// The target's SIP address, UDP (default: the target's host, port 5060).
    #[arg(long)]
    sip: Option<String>,
    /// The target's TFTP address, where 7900-series phones fetch their
    /// configuration (default: the target's host, port 69; `off`: over HTTP).
    #[arg(long)]
    tftp: Option<String>,
    /// Trust this CA (PEM) for https:// URLs, beside the system's roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Accept any certificate for https:// URLs (said in the summary and reports).
    #[arg(long)]
    insecure: bool,
}

/// HTTPS for `emlab serve` (PROTOCOL.md §8).
#[derive(clap::Args)]
struct ServeTlsArgs {
    /// Certificate chain (PEM) for HTTPS; needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls"
    )]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// `self-signed`: make a certificate for localhost, 127.0.0.1 and ::1 and
    /// write its PEM where the banner says (clients pass it as --ca).
    #[arg(long, value_parser = ["self-signed"])]
    tls: Option<String>,
    /// HTTPS address of the EM API and phone service.
    #[arg(long, default_value = "127.0.0.1:8443")]
    tls_listen: SocketAddr,
    /// HTTPS address of the configuration files.
    #[arg(long, default_value = "127.0.0.1:6971")]
    config_tls_listen: SocketAddr,
}

impl ServeTlsArgs {
    /// The server's TLS setup and, for a self-signed one, where its PEM went.
    fn options(self) -> Result<Option<(emlab_server::TlsOptions, Option<PathBuf>)>, UsageError> {
        use emlab_tls::ServerIdentity;
        let (identity, written) = match (self.tls_cert, self.tls_key, self.tls) {
            (Some(cert), Some(key), _) => (ServerIdentity::Files { cert, key }, None),
            (None, None, Some(_)) => {
                let pem = std::env::temp_dir()
                    .join(format!("emlab-serve-{}.pem", self.tls_listen.port()));
                (
                    ServerIdentity::SelfSigned {
                        names: vec![self.tls_listen.ip().to_string()],
                        write_to: pem.clone(),
                    },
                    Some(pem),
                )
            }
            _ => return Ok(None),
        };
        let config = emlab_tls::server_config(&identity)?;
        Ok(Some((
            emlab_server::TlsOptions {
                config,
                listen: self.tls_listen,
                config_listen: self.config_tls_listen,
            },
            written,
        )))
    }
}

impl TargetArgs {
    /// The target (`None`: the embedded default) and what https:// trusts.
    fn flags(self) -> Result<(Option<TargetFlags>, emlab_tls::ClientTls), UsageError> {
        let TargetArgs {
            target,
            config,
            sccp,
            sip,
            tftp,
            ca,
            insecure,
        } = self;
        let tls = emlab_tls::ClientTls::new(ca.as_deref(), insecure)?;
        Ok((
            target.map(|url| TargetFlags {
                url,
                config,
                sccp,
                sip,
                tftp,
                tls: tls.clone(),
            }),
            tls,
        ))
    }
}

/// `30s`, `500ms`, `2m` on the command line.
fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    emlab_simulator::units::parse_duration(text)
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
    // Every phone and every accepted connection is an open file.
    let open_files = emlab_simulator::limits::raise_open_files();
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
                tftp_listen,
                no_tftp,
                lab_control,
                state,
                tls,
                header_timeout,
                body_timeout,
                max_connections,
                log_format,
                log_level,
                faults,
            } => {
                init_logging(log_format, log_level);
                let tls = tls.options()?;
                let mut switched = Vec::new();
                for name in &faults {
                    match Fault::from_name(name) {
                        Some(f) => switched.push(f),
                        None => {
                            let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                            return Err(UsageError(format!(
                                "--fault `{name}`: known faults are {}",
                                known.join(", ")
                            )));
                        }
                    }
                }
                let (tls, pem) = match tls {
                    Some((options, pem)) => (Some(options), pem),
                    None => (None, None),
                };
                serve(
                    &lab,
                    ServerOptions {
                        listen,
                        config_listen,
                        sccp_listen,
                        sip_listen,
                        tftp_listen: (!no_tftp).then_some(tftp_listen),
                        lab_control,
                        faults: Faults::new(switched),
                        tls,
                        http_limits: emlab_server::listener::HttpLimits {
                            header_timeout,
                            body_timeout,
                            max_connections,
                        },
                        state_file: state,
                        ..ServerOptions::default()
                    },
                    pem,
                    open_files,
                )
                .await
            }
            Command::Run {
                scenario,
                target,
                lab,
                out,
                rate,
                dashboard,
            } => {
                let (target, tls) = target.flags()?;
                let options = RunOptions {
                    lab_override: lab,
                    out,
                    rate,
                    dashboard,
                    ..RunOptions::default()
                };
                run(&scenario, target, tls, options).await
            }
            Command::Demo {
                lab,
                phones,
                dashboard,
                duration,
                out,
            } => {
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
            Command::Lab {
                command: LabCommand::Import { cme, out },
            } => import_cme(&cme, out.as_deref()),
            Command::Check {
                target,
                lab,
                lab_control,
            } => {
                let (target, _) = target.flags()?;
                let target = target.ok_or_else(|| {
                    UsageError("check needs --target URL (the server to check)".into())
                })?;
                check(&target, &lab, lab_control.as_deref()).await
            }
            Command::Conform { target, options } => {
                let (target, tls) = target.flags()?;
                conform(target, tls, options).await
            }
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

async fn serve(
    lab_path: &Path,
    options: ServerOptions,
    self_signed_pem: Option<PathBuf>,
    open_files: Option<u64>,
) -> Result<ExitCode, UsageError> {
    let lab = Lab::load(lab_path)?;
    let lab_control = options.lab_control;
    // The error names the address that could not be bound.
    let server = emlab_server::start(&lab, options).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            UsageError(format!(
                "{e} (ports below 1024 need root; choose others, e.g. --tftp-listen 127.0.0.1:6969, or --no-tftp)"
            ))
        } else {
            UsageError(e.to_string())
        }
    })?;
    let d = &server.state.em.directory;
    let https = match (server.https_base_url(), server.https_config_url()) {
        (Some(em), Some(config)) => format!(
            "; HTTPS: EM API and phone service on {em}, configuration files on {config}{}",
            self_signed_pem
                .map(|p| format!(", self-signed certificate written to {}", p.display()))
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    let files = open_files
        .map(|n| format!("; open files: {n}"))
        .unwrap_or_default();
    let saved = match (&server.restored, server.state.state_file()) {
        (Some(r), Some(path)) => format!(
            "; state in {} ({} logins restored{})",
            path.display(),
            r.logins,
            if r.unknown.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} saved rows name nothing in this lab and stay in the file",
                    r.unknown.len()
                )
            }
        ),
        _ => String::new(),
    };
    say(&format!(
        "emlab serve: EM API and phone service on {}, configuration files on {}{}, SCCP on {}, SIP on udp/{} (lab {}, profile {}, {} devices, {} users){}{https}{files}{saved}\n",
        server.base_url(),
        server.config_url(),
        server
            .tftp_addr
            .map(|a| format!(" and tftp://{a}"))
            .unwrap_or_default(),
        server.sccp_addr,
        server.sip_addr,
        lab_path.display(),
        d.profile.as_str(),
        d.device_count(),
        d.user_count(),
        if lab_control { ", lab control on" } else { "" }
    ));
    tracing::info!(
        em_api = %server.base_url(),
        config = %server.config_url(),
        tftp = ?server.tftp_addr,
        sccp = %server.sccp_addr,
        sip = %server.sip_addr,
        https = ?server.https_base_url(),
        lab = %lab_path.display(),
        profile = d.profile.as_str(),
        devices = d.device_count(),
        users = d.user_count(),
        open_files = ?open_files,
        "serving"
    );
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// `--target` and the addresses that go with it (PROTOCOL.md §7).
struct TargetFlags {
    url: String,
    config: Option<String>,
    sccp: Option<String>,
    sip: Option<String>,
    tftp: Option<String>,
    tls: emlab_tls::ClientTls,
}

impl TargetFlags {
    /// Each interface's address: given, else the target's host with the default port.
    async fn endpoints(&self) -> Result<Endpoints, UsageError> {
        let authority = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            .and_then(|rest| rest.split('/').next())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "--target `{}`: expected http://HOST:PORT or https://HOST:PORT",
                    self.url
                ))
            })?;
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        }
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
        let text = |given: &Option<String>, port: u16| -> String {
            given.clone().unwrap_or_else(|| {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            })
        };
        Ok(Endpoints {
            em_base: self.url.trim_end_matches('/').to_string(),
            config_base: match &self.config {
                Some(config) => config.clone(),
                None => format!(
                    "http://{}",
                    resolve(text(&None, 6970), "--config", 6970)
                        .await
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                ),
            },
            sccp: resolve(text(&self.sccp, 2000), "--sccp", 2000).await?,
            sip: resolve(text(&self.sip, 5060), "--sip", 5060).await?,
            tftp: match self.tftp.as_deref() {
                Some("off") => None,
                _ => Some(resolve(text(&self.tftp, 69), "--tftp", 69).await?),
            },
            tls: self.tls.clone(),
        })
    }
}

/// `HOST:PORT` to an address; a host name resolves on tokio's blocking
/// pool (`lookup_host`), not on the runtime's threads.
async fn resolve(text: String, flag: &str, port: u16) -> Result<SocketAddr, UsageError> {
    tokio::net::lookup_host(text.as_str())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            UsageError(format!(
                "{flag} `{text}`: not an address like 127.0.0.1:{port}"
            ))
        })
}

/// What `emlab run` takes besides the scenario and the target.
#[derive(Default)]
struct RunOptions {
    lab_override: Option<PathBuf>,
    out: Option<PathBuf>,
    rate: Option<String>,
    dashboard: Option<SocketAddr>,
    /// `emlab demo`: phones and duration instead of the scenario's, lab
    /// control on, and the director playing its cases.
    phones: Option<u32>,
    duration: Option<std::time::Duration>,
    demo: bool,
}

/// A file shipped with emlab: beside the working folder, or beside the sources.
fn shipped(relative: &str) -> PathBuf {
    let here = PathBuf::from(relative);
    if here.exists() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

async fn run(
    scenario_path: &Path,
    target: Option<TargetFlags>,
    tls: emlab_tls::ClientTls,
    options: RunOptions,
) -> Result<ExitCode, UsageError> {
    let RunOptions {
        lab_override,
        out,
        rate,
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
    let app = app_credentials(&scenario, &lab).ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true, and no app_id/app_certificate in the scenario",
            lab_path.display()
        ))
    })?;

    // The demo's director moves the lab clock.
    let server_options = ServerOptions {
        lab_control: demo,
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
            let specs = fleet::build(&lab, phones_needed, users.as_deref())?;
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
            let specs = fleet::build(&lab, phones_needed, users.as_deref())?;
            let phones = specs
                .iter()
                .map(|s| Arc::new(ApiPhone::new(s.device_name.clone(), s.user_id.clone())))
                .collect();
            Fleet::Api { phones, client }
        }
        PathKind::Phone => {
            let specs = fleet::build(&lab, phones_needed, users.as_deref())?;
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
                    return Err(UsageError(format!(
                        "{}: {sccp} SCCP phones, but this process may open {files} files: room for {room}; run shards, or SIP phones",
                        scenario_path.display()
                    )));
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

/// What `emlab conform` runs and where it writes.
#[derive(clap::Args)]
struct ConformOptions {
    /// Base URL of the target's lab control (`/lab/`), if it has one.
    #[arg(long)]
    lab_control: Option<String>,
    /// The lab file the target was started with (default: conformance/lab.toml).
    #[arg(long)]
    lab: Option<PathBuf>,
    /// The target's server profile (default: the lab's).
    #[arg(long, value_parser = ["ucm", "ucm4", "cme"])]
    profile: Option<String>,
    /// Run only these cases (a case ID, a requirement ID or a group); repeatable.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Print the catalogue and exit.
    #[arg(long)]
    list: bool,
    /// Count skipped cases as failures.
    #[arg(long)]
    strict: bool,
    /// Where to write the JUnit XML (default: OUT/junit.xml).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Output folder (default: reports/conform-<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The conformance lab shipped beside the binary's sources, or next to the working folder.
fn default_conformance_lab() -> PathBuf {
    shipped("conformance/lab.toml")
}

/// `emlab lab import --cme`: the lab, then a report of what was ignored and
/// what each phone will show (on stderr when the lab goes to stdout).
fn import_cme(path: &Path, out: Option<&Path>) -> Result<ExitCode, UsageError> {
    use emlab_protocol::cme_config;
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let imported = cme_config::import(&text)
        .map_err(|e| UsageError(format!("{}:{}: {}", path.display(), e.line, e.message)))?;
    let toml = imported.lab.to_toml(&path.display().to_string());
    // The written lab must load as any lab does.
    Lab::parse(out.unwrap_or(Path::new("imported lab")), &toml)?;
    let mut report = String::new();
    for (n, command) in &imported.ignored {
        report.push_str(&format!("{}:{n}: ignored: {command}\n", path.display()));
    }
    for (n, note) in &imported.notes {
        match n {
            Some(n) => report.push_str(&format!("{}:{n}: note: {note}\n", path.display())),
            None => report.push_str(&format!("note: {note}\n")),
        }
    }
    let lab = &imported.lab;
    report.push_str(&format!(
        "imported {} phones, {} users, {} profiles; button layouts (BTN-1/2):\n",
        lab.device.len(),
        lab.user.len(),
        lab.profile.len()
    ));
    for (device, l) in lab.layouts() {
        let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        report.push_str(&format!(
            "  {:<16} {:<5} {:<18} {}, {}{}\n",
            device.as_deref().unwrap_or("(at login)"),
            l.model,
            l.profile,
            plural(l.lines, "line"),
            plural(l.speed_dials, "speed dial"),
            if l.dropped > 0 {
                format!(" ({} entries without a button)", l.dropped)
            } else {
                String::new()
            }
        ));
    }
    match out {
        Some(file) => {
            std::fs::write(file, &toml)
                .map_err(|e| UsageError(format!("cannot write {}: {e}", file.display())))?;
            say(&format!("{report}wrote {}\n", file.display()));
        }
        None => {
            eprint!("{report}");
            say(&toml);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `emlab check`: every interface the lab's phones would use, then the directory.
async fn check(
    target: &TargetFlags,
    lab_path: &Path,
    lab_control: Option<&str>,
) -> Result<ExitCode, UsageError> {
    let lab = Lab::load(lab_path)?;
    check_roles(&lab, lab_path)?;
    let endpoints = target.endpoints().await?;
    let app = proxy_app(&lab, lab_path)?;
    let members: Vec<_> = lab.fleet_members().collect();
    let models = lab
        .file
        .device
        .iter()
        .filter_map(|d| emlab_protocol::phone_model::find(&d.model))
        .chain(members.iter().map(|m| m.model));
    let (mut sccp, mut sip) = (false, false);
    for m in models {
        match m.protocol {
            ControlProtocol::Sccp => sccp = true,
            ControlProtocol::Sip => sip = true,
        }
    }
    let devices = lab
        .file
        .device
        .iter()
        .map(|d| d.name.clone())
        .chain(members.iter().map(|m| m.device_name.clone()))
        .collect();
    let users = lab
        .file
        .user
        .iter()
        .map(|u| u.id.clone())
        .chain(members.iter().map(|m| m.user_id.clone()))
        .collect();
    let input = emlab_simulator::preflight::PreflightInput {
        endpoints: &endpoints,
        tftp: endpoints.tftp,
        lab_control,
        app: &app,
        devices,
        users,
        role_devices: role_entries(&lab, emlab_conformance::roles::Kind::Device),
        role_users: role_entries(&lab, emlab_conformance::roles::Kind::User),
        uses: emlab_simulator::preflight::Uses {
            phone_service: true,
            config_files: true,
            sccp,
            sip,
            tftp: sccp && endpoints.tftp.is_some(),
        },
    };
    checked_preflight(&input).await?;
    Ok(ExitCode::SUCCESS)
}

/// Every `[conformance]` key is a role naming an entry of the lab; else
/// one line with the file and line.
fn check_roles(lab: &Lab, path: &Path) -> Result<(), UsageError> {
    emlab_conformance::roles::check(lab).map_err(|(key, value, why)| {
        let source = std::fs::read_to_string(path).unwrap_or_default();
        UsageError(
            emlab_protocol::config_error::ConfigError::at_key(path, &source, &key, &value, why)
                .to_string(),
        )
    })
}

/// The application the harness calls the EM API as, or one line saying the lab has none.
fn proxy_app(lab: &Lab, path: &Path) -> Result<AppInfo, UsageError> {
    lab.proxy_app().ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true",
            path.display()
        ))
    })
}

/// `(role, entry)` of the lab's `[conformance]` entries of one kind.
fn role_entries(lab: &Lab, kind: emlab_conformance::roles::Kind) -> Vec<(String, String)> {
    lab.file
        .conformance
        .iter()
        .filter(|(role, _)| emlab_conformance::roles::find(role).is_some_and(|r| r.kind == kind))
        .map(|(role, entry)| (role.clone(), entry.clone()))
        .collect()
}

/// `emlab demo`'s front desk in `lab`: the tiles its three phones take
/// (after the fleet's `fleet_len`), and who plays the cases. The burst uses
/// fleet members the run leaves alone (after the first `in_run`).
#[allow(clippy::type_complexity)]
fn demo_desk(
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

/// The embedded reference server's interfaces, as a fleet sees them.
fn embedded_endpoints(s: &emlab_server::RunningServer, tls: &emlab_tls::ClientTls) -> Endpoints {
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
async fn checked_preflight(
    input: &emlab_simulator::preflight::PreflightInput<'_>,
) -> Result<emlab_simulator::preflight::Preflight, UsageError> {
    let found = emlab_simulator::preflight::run(input).await;
    say(&found.table());
    match found.first_fatal() {
        Some(line) => Err(UsageError(line)),
        None => Ok(found),
    }
}

async fn conform(
    target: Option<TargetFlags>,
    tls: emlab_tls::ClientTls,
    o: ConformOptions,
) -> Result<ExitCode, UsageError> {
    use emlab_conformance::{catalogue, probe, report, run};
    let cases = catalogue::cases();
    if o.list {
        let mut text = String::new();
        for c in &cases {
            let profiles: Vec<&str> = c.profiles.iter().map(|p| p.as_str()).collect();
            let needs: Vec<&str> = c.needs.iter().map(|n| n.as_str()).collect();
            text.push_str(&format!(
                "{:<44} covers {:<22} profiles {:<14} needs {:<40} {}\n",
                c.id,
                c.covers.join(","),
                profiles.join(","),
                needs.join(","),
                c.description
            ));
        }
        text.push_str("\nrequirements without a case:\n");
        for (id, why) in catalogue::NOT_COVERED {
            text.push_str(&format!("{id:<8} {why}\n"));
        }
        // With --lab, which of its entries plays each role.
        let named = match &o.lab {
            Some(path) => Lab::load(path)?.file.conformance,
            None => Default::default(),
        };
        text.push_str(
            "\nroles (the [conformance] keys of a lab; a case whose role is missing is skipped):\n",
        );
        for r in emlab_conformance::roles::ROLES {
            let entry = named
                .get(r.name)
                .map(|e| format!(" = {e}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "{:<26} {:<12} {}{entry}\n",
                r.name,
                r.kind.as_str(),
                r.contract
            ));
        }
        say(&text);
        return Ok(ExitCode::SUCCESS);
    }
    let lab_path = o.lab.clone().unwrap_or_else(default_conformance_lab);
    let mut lab = Lab::load(&lab_path)?;
    check_roles(&lab, &lab_path)?;
    let profile = match o.profile.as_deref() {
        Some(p) => emlab_protocol::ServerProfile::from_name(p)
            .ok_or_else(|| UsageError(format!("--profile `{p}`: use ucm, ucm4 or cme")))?,
        None => lab.file.server.profile,
    };
    for wanted in &o.cases {
        let known = cases.iter().any(|c| {
            c.id == wanted
                || c.covers.contains(&wanted.as_str())
                || c.group().eq_ignore_ascii_case(wanted)
        });
        if !known {
            return Err(UsageError(format!(
                "--case `{wanted}`: no such case, requirement or group (see --list)"
            )));
        }
    }
    // The embedded server speaks the profile asked for, with a CME logout
    // time for TIME-4 (the lab file may only carry one under profile cme).
    lab.file.server.profile = profile;
    if target.is_none()
        && profile == emlab_protocol::ServerProfile::Cme
        && lab.file.server.logout_times.is_empty()
    {
        lab.file.server.logout_times = vec!["02:00".into()];
    }
    let embedded = match &target {
        Some(_) => None,
        None => Some(
            emlab_server::start(
                &lab,
                ServerOptions {
                    lab_control: true,
                    ..ServerOptions::default()
                },
            )
            .await
            .map_err(|e| UsageError(format!("cannot start the embedded server: {e}")))?,
        ),
    };
    let (endpoints, lab_control) = match (&target, &embedded) {
        (Some(t), _) => (t.endpoints().await?, o.lab_control.clone()),
        (None, Some(s)) => (embedded_endpoints(s, &tls), Some(s.base_url())),
        (None, None) => unreachable!("embedded server started when there is no target"),
    };
    let app = proxy_app(&lab, &lab_path)?;
    let preflight = match &target {
        Some(_) => {
            let uses_sccp = lab.file.device.iter().any(|d| {
                emlab_protocol::phone_model::find(&d.model)
                    .is_some_and(|m| m.protocol == ControlProtocol::Sccp)
            });
            let input = emlab_simulator::preflight::PreflightInput {
                endpoints: &endpoints,
                tftp: endpoints.tftp,
                lab_control: lab_control.as_deref(),
                app: &app,
                devices: lab.file.device.iter().map(|d| d.name.clone()).collect(),
                users: lab.file.user.iter().map(|u| u.id.clone()).collect(),
                role_devices: role_entries(&lab, emlab_conformance::roles::Kind::Device),
                role_users: role_entries(&lab, emlab_conformance::roles::Kind::User),
                uses: emlab_simulator::preflight::Uses {
                    phone_service: true,
                    config_files: true,
                    sccp: uses_sccp,
                    sip: false,
                    tftp: uses_sccp && endpoints.tftp.is_some(),
                },
            };
            Some(checked_preflight(&input).await?)
        }
        None => None,
    };
    // IP-4 needs the phone service over IPv6: the target's own base when it
    // is IPv6; for the embedded default, a second reference server on ::1
    // (its own state, so its logins do not disturb the other cases).
    let ipv6_server = match &embedded {
        Some(_) => {
            let v6 = ServerOptions {
                listen: SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                ..ServerOptions::default()
            };
            emlab_server::start(&lab, v6).await.ok()
        }
        None => None,
    };
    let ipv6_base = match &ipv6_server {
        Some(s) => Some(s.base_url()),
        None => endpoints
            .em_base
            .starts_with("http://[")
            .then(|| endpoints.em_base.clone()),
    };
    let probe_target = probe::Target {
        ipv6_base,
        em_base: endpoints.em_base.clone(),
        config_base: endpoints.config_base.clone(),
        sccp: endpoints.sccp,
        sip: endpoints.sip,
        tftp: endpoints.tftp,
        lab_control,
        lab,
        profile,
        tls: endpoints.tls.clone(),
    };
    let started = std::time::Instant::now();
    let started_at = std::time::SystemTime::now();
    let selection = run::Selection {
        only: o.cases.clone(),
        strict: o.strict,
    };
    let results = run::run(&probe_target, &app, &cases, &selection).await;
    for server in embedded.into_iter().chain(ipv6_server) {
        let _ = server.shutdown().await;
    }
    let (passed, failed, skipped) = report::count(&results);
    let r = report::ConformReport {
        emlab_version: env!("CARGO_PKG_VERSION"),
        target: endpoints.em_base.clone(),
        profile: profile.as_str(),
        strict: o.strict,
        passed,
        failed,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
        results: &results,
        not_covered: catalogue::NOT_COVERED
            .iter()
            .map(|(id, reason)| report::NotCovered { id, reason })
            .collect(),
        tls_insecure: endpoints.tls.insecure(),
        preflight: preflight.as_ref(),
    };
    let dir = o.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "conform-{}",
            emlab_simulator::report::stamp(started_at)
        ))
    });
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("conform.json"), report::json(&r))?;
        std::fs::write(dir.join("conform.html"), report::html(&r))
    };
    write().map_err(|e| {
        UsageError(format!(
            "cannot write the reports to {}: {e}",
            dir.display()
        ))
    })?;
    let junit = o.junit.clone().unwrap_or_else(|| dir.join("junit.xml"));
    let write_junit = || -> std::io::Result<()> {
        if let Some(parent) = junit.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&junit, report::junit(&r))
    };
    write_junit().map_err(|e| {
        UsageError(format!(
            "cannot write the JUnit file {}: {e}",
            junit.display()
        ))
    })?;
    say(&format!(
        "{}reports: {}/conform.html, conform.json, junit.xml\n",
        report::console(&r),
        dir.display()
    ));
    Ok(if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// When the lab's server clears call logs (LOGS-1/2): `ucm`/`ucm4` at
/// manual logins and logouts with Clear Call Logs on; `cme` at logouts
/// unless `keep_history`. The phones check it only when it can happen.
fn call_log_rule(lab: &Lab) -> CallLogRule {
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
fn app_credentials(scenario: &Scenario, lab: &Lab) -> Option<AppInfo> {
    match (&scenario.app_id, &scenario.app_certificate) {
        (Some(id), Some(cert)) => Some(AppInfo::new(id.clone(), cert.clone())),
        _ => lab.proxy_app(),
    }
}

/// Prints to stdout; a closed stdout (`emlab run ... | head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}
