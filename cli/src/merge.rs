//! `emlab merge OUT DIR...`: shard report folders added up into one
//! (`emlab_simulator::merge`), with the exit code a single run would have.

use crate::{UsageError, say};
use emlab_simulator::report;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn merge_command(out: &Path, dirs: &[PathBuf]) -> Result<ExitCode, UsageError> {
    let merged = emlab_simulator::merge::merge(dirs).map_err(UsageError)?;
    merged
        .report
        .write(out, &merged.recorder, merged.started_at)
        .map_err(|e| UsageError(format!("cannot write the report to {}: {e}", out.display())))?;
    say(&format!(
        "merged {} shards\n{}report: {}/report.html, report.json and latency.hlog\n",
        dirs.len(),
        report::summary(&merged.report),
        out.display()
    ));
    Ok(if merged.report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
