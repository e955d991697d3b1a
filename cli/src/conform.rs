//! `emlab conform`: the conformance catalogue against a target.

use crate::args::ConformOptions;
use crate::args::TargetArgs;
use crate::check::check_roles;
use crate::check::proxy_app;
use crate::run::checked_preflight;
use crate::run::embedded_endpoints;
use crate::target::TargetFlags;
use crate::{UsageError, say, shipped};
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_server::ServerOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The conformance lab shipped beside the binary's sources, or next to the working folder.
pub fn default_conformance_lab() -> PathBuf {
    shipped("conformance/lab.toml")
}

/// `(role, entry)` of the lab's `[conformance]` entries of one kind.
pub fn role_entries(lab: &Lab, kind: emlab_conformance::roles::Kind) -> Vec<(String, String)> {
    lab.file
        .conformance
        .iter()
        .filter(|(role, _)| emlab_conformance::roles::find(role).is_some_and(|r| r.kind == kind))
        .map(|(role, entry)| (role.clone(), entry.clone()))
        .collect()
}

pub async fn conform(
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

/// `emlab conform`.
pub async fn conform_command(
    target: TargetArgs,
    options: ConformOptions,
) -> Result<ExitCode, UsageError> {
    let (target, tls) = target.flags()?;
    conform(target, tls, options).await
}
