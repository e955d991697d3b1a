//! `emlab check`: preflight a target before a run.

use crate::UsageError;
use crate::args::CheckArgs;
use crate::conform::role_entries;
use crate::run::checked_preflight;
use crate::target::TargetFlags;
use emlab_protocol::em_api::AppInfo;
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_model::ControlProtocol;
use std::path::Path;
use std::process::ExitCode;

/// `emlab check`: every interface the lab's phones would use, then the directory.
pub async fn check(
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
pub fn check_roles(lab: &Lab, path: &Path) -> Result<(), UsageError> {
    emlab_conformance::roles::check(lab).map_err(|(key, value, why)| {
        let source = std::fs::read_to_string(path).unwrap_or_default();
        UsageError(
            emlab_protocol::config_error::ConfigError::at_key(path, &source, &key, &value, why)
                .to_string(),
        )
    })
}

/// The application the harness calls the EM API as, or one line saying the lab has none.
pub fn proxy_app(lab: &Lab, path: &Path) -> Result<AppInfo, UsageError> {
    lab.proxy_app().ok_or_else(|| {
        UsageError(format!(
            "{}: no application with proxy_rights = true",
            path.display()
        ))
    })
}

/// `emlab check`.
pub async fn check_command(args: CheckArgs) -> Result<ExitCode, UsageError> {
    let (target, _) = args.target.flags()?;
    let target = target
        .ok_or_else(|| UsageError("check needs --target URL (the server to check)".into()))?;
    check(&target, &args.lab, args.lab_control.as_deref()).await
}
