//! The command-line arguments of each subcommand, parsed by clap in the
//! binary and handed to the functions of this crate.

use crate::target::TargetFlags;
use crate::{UsageError, duration_arg};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the server under test is (PROTOCOL.md §7); shared by `run` and `conform`.
#[derive(clap::Args)]
pub struct TargetArgs {
    /// Base URL of the server under test (e.g. http://127.0.0.1:8080).
    /// Without it, the reference server runs in-process on loopback.
    #[arg(long)]
    pub target: Option<String>,
    /// Base URL of the target's configuration files (default: the target's host, port 6970).
    #[arg(long)]
    pub config: Option<String>,
    /// The target's SCCP address (default: the target's host, port 2000).
    #[arg(long)]
    pub sccp: Option<String>,
    /// The target's SIP address, UDP (default: the target's host, port 5060).
    #[arg(long)]
    pub sip: Option<String>,
    /// The target's TFTP address, where 7900-series phones fetch their
    /// configuration (default: the target's host, port 69; `off`: over HTTP).
    #[arg(long)]
    pub tftp: Option<String>,
    /// Trust this CA (PEM) for https:// URLs, beside the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Accept any certificate for https:// URLs (said in the summary and reports).
    #[arg(long)]
    pub insecure: bool,
}

/// HTTPS for `emlab serve` (PROTOCOL.md §8).
#[derive(clap::Args)]
pub struct ServeTlsArgs {
    /// Certificate chain (PEM) for HTTPS; needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// `self-signed`: make a certificate for localhost, 127.0.0.1 and ::1 and
    /// write its PEM where the banner says (clients pass it as --ca).
    #[arg(long, value_parser = ["self-signed"])]
    pub tls: Option<String>,
    /// HTTPS address of the EM API and phone service.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
    /// HTTPS address of the configuration files.
    #[arg(long, default_value = "127.0.0.1:6971")]
    pub config_tls_listen: SocketAddr,
}

impl ServeTlsArgs {
    /// The server's TLS setup and, for a self-signed one, where its PEM went.
    pub fn options(
        self,
    ) -> Result<Option<(emlab_server::TlsOptions, Option<PathBuf>)>, UsageError> {
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
    pub fn flags(self) -> Result<(Option<TargetFlags>, emlab_tls::ClientTls), UsageError> {
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

/// What `emlab conform` runs and where it writes.
#[derive(clap::Args)]
pub struct ConformOptions {
    /// Base URL of the target's lab control (`/lab/`), if it has one.
    #[arg(long)]
    pub lab_control: Option<String>,
    /// The lab file the target was started with (default: conformance/lab.toml).
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// The target's server profile (default: the lab's).
    #[arg(long, value_parser = ["ucm", "ucm4", "cme"])]
    pub profile: Option<String>,
    /// Run only these cases (a case ID, a requirement ID or a group); repeatable.
    #[arg(long = "case")]
    pub cases: Vec<String>,
    /// Print the catalogue and exit.
    #[arg(long)]
    pub list: bool,
    /// Count skipped cases as failures.
    #[arg(long)]
    pub strict: bool,
    /// Where to write the JUnit XML (default: OUT/junit.xml).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Output folder (default: reports/conform-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `emlab serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The lab directory file (PROTOCOL.md §6).
    #[arg(long)]
    pub lab: PathBuf,
    /// Address of the EM API, `/metrics` and lab control.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the configuration files (`SEP<MAC>.cnf.xml`).
    #[arg(long, default_value = "127.0.0.1:6970")]
    pub config_listen: SocketAddr,
    /// Address of the SCCP control channel.
    #[arg(long, default_value = "127.0.0.1:2000")]
    pub sccp_listen: SocketAddr,
    /// Address of the SIP control channel (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub sip_listen: SocketAddr,
    /// Address of the configuration files over TFTP (UDP; ports below
    /// 1024 need root or CAP_NET_BIND_SERVICE).
    #[arg(long, default_value = "127.0.0.1:69")]
    pub tftp_listen: SocketAddr,
    /// Serve no TFTP.
    #[arg(long, conflicts_with = "tftp_listen")]
    pub no_tftp: bool,
    /// Serve `/lab/` (clock advance).
    #[arg(long)]
    pub lab_control: bool,
    /// Keep sessions, last users, DND and Call Backs, PIN changes, live
    /// service parameters and the lab clock in this SQLite file (created
    /// if missing), so they outlive a restart or a kill -9. Without it,
    /// everything lives in memory.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
    /// Longest wait for a request's headers (and a TLS handshake), and
    /// the longest a kept-alive connection may stay idle.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub header_timeout: std::time::Duration,
    /// Longest wait for a request's body.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub body_timeout: std::time::Duration,
    /// Open connections per HTTP listener; more are closed at once.
    #[arg(long, default_value_t = 8192)]
    pub max_connections: usize,
    /// Logs on stderr: `text` for people, `json` (one object a line) for machines.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// The least severe events logged: error, warn, info (the banner,
    /// faults) or debug (every refused request, with its reason).
    #[arg(long, default_value = "info")]
    pub log_level: tracing_subscriber::filter::LevelFilter,
    /// Break the server on purpose (test-only; see server-under-test/src/core/faults.rs),
    /// to watch `emlab conform` catch it. Repeatable.
    #[arg(long = "fault", hide = true)]
    pub faults: Vec<String>,
}

/// `emlab run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The lab file the target was started with (default: the scenario's `lab`).
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// Output folder (default: reports/<scenario>-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the scenario's arrival rate (e.g. 500/s, 2000/h).
    #[arg(long)]
    pub rate: Option<String>,
    /// Base URL of the target's lab control (`/lab/`), for scenarios whose
    /// phases rehearse a troubleshooting cause.
    #[arg(long, value_name = "URL")]
    pub lab_control: Option<String>,
    /// Run shard K of N of the fleet (K from 1): the N shards together run
    /// exactly the single-process schedule. `emlab merge` adds up their reports.
    #[arg(long, value_name = "K/N", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// N shards, this one named by `JOB_COMPLETION_INDEX` (0-based), as a
    /// Kubernetes Indexed Job sets it.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Start the schedule (after boot) at this UTC time, e.g.
    /// 2026-12-01T09:30:00Z or Unix seconds, so that shards start together.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Serve a live page of the run (default address 127.0.0.1:8099)
    /// with pause, resume and rate controls.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8099")]
    pub dashboard: Option<SocketAddr>,
}

/// `emlab goose`.
#[derive(clap::Args)]
pub struct GooseArgs {
    /// The scenario file: a closed model with one phase on the EM API path.
    pub scenario: PathBuf,
    /// The EM server's base URL (default: the reference server, started
    /// in this process on loopback).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The lab file the target was started with (default: the scenario's `lab`).
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// Output folder for emlab's and goose's reports
    /// (default: reports/<scenario>-goose-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Turn on goose's telnet and WebSocket controllers (off by default).
    #[arg(long)]
    pub controllers: bool,
    /// goose's own options (`--users 50 --run-time 1m`), after emlab's;
    /// goose parses them and rejects what it does not know. After `--`,
    /// `--help` lists them.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "GOOSE OPTIONS"
    )]
    pub goose: Vec<String>,
}

/// `emlab demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The demo's lab (default: scenarios/lab-demo.toml).
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// Phones in the fleet (default 12).
    #[arg(long)]
    pub phones: Option<u32>,
    /// Where the live page listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8099")]
    pub dashboard: SocketAddr,
    /// How long the demo runs (default one hour; Ctrl-C ends it sooner).
    #[arg(long)]
    pub duration: Option<String>,
    /// Output folder for the report (default: reports/demo-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `emlab check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The lab file the target was started with (its devices and users are looked up).
    #[arg(long)]
    pub lab: PathBuf,
    /// Base URL of the target's lab control (`/lab/`), if it has one.
    #[arg(long)]
    pub lab_control: Option<String>,
}
