//! `emlab lab import --cme`: a `cme` lab from a running-config.

use crate::{UsageError, say};
use emlab_protocol::lab::Lab;
use std::path::Path;
use std::process::ExitCode;

/// `emlab lab import --cme`: the lab, then a report of what was ignored and
/// what each phone will show (on stderr when the lab goes to stdout).
pub fn import_cme(path: &Path, out: Option<&Path>) -> Result<ExitCode, UsageError> {
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
