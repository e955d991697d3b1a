//! `emlab serve`: the reference server, its banner and its logs.

use crate::args::LogFormat;
use crate::args::ServeArgs;
use crate::{UsageError, say};
use emlab_protocol::lab::Lab;
use emlab_server::ServerOptions;
use emlab_server::faults::{Fault, Faults};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Structured logs on stderr; stdout stays the banner and reports.
pub fn init_logging(format: LogFormat, level: tracing_subscriber::filter::LevelFilter) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn serve(
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

/// `emlab serve`: checks the flags, then serves until Ctrl-C.
pub async fn serve_command(
    args: ServeArgs,
    open_files: Option<u64>,
) -> Result<ExitCode, UsageError> {
    let ServeArgs {
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
    } = args;
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
