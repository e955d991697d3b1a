//! `emlab merge OUT DIR...`: the report folders of a run's shards added up
//! exactly, as if one process had run the whole fleet.
//!
//! - HdrHistograms are added (each shard keeps every step's, whole-run and
//!   per phase, in `report.json`), then the percentiles are read off the sums;
//! - counts, outcomes, mismatches and rehearsed symptoms are summed, per
//!   phase too; diagnoses come from the summed outcomes;
//! - the interval logs (`latency.hlog`) are merged by time, the windows of
//!   one step in the same second added up;
//! - the thresholds of the scenario every shard ran are evaluated on the
//!   merged figures, with the usual exit codes.
//!
//! Folders from different scenarios, versions or shard counts, a shard
//! given twice or missing, and a missing or unreadable histogram are
//! refused with one line naming the folder.

use crate::recorder::{Interval, Mismatch, Recorder, Step, decode, encode};
use crate::report::{RunInfo, RunReport};
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::storm::{StormResult, recorder_for};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What `emlab merge` reads of a shard's `report.json`.
#[derive(Deserialize)]
struct ShardReport {
    emlab_version: String,
    scenario: String,
    scenario_source: String,
    target: String,
    embedded_server: bool,
    tls_insecure: bool,
    shard: Shard,
    started_at_epoch_s: f64,
    elapsed_s: f64,
    cycles: u64,
    late_starts: u64,
    phones_booted: u64,
    #[serde(default)]
    boot_s: f64,
    interrupted: bool,
    steps: BTreeMap<Step, ShardStep>,
    phases: Vec<ShardPhase>,
    mismatches: Vec<ShardMismatch>,
    #[serde(default)]
    rehearsal_problems: Vec<String>,
}

#[derive(Deserialize)]
struct ShardStep {
    outcomes: BTreeMap<String, u64>,
    latency_histogram: String,
    service_time_histogram: String,
}

#[derive(Deserialize)]
struct ShardPhase {
    name: String,
    steps: BTreeMap<Step, ShardPhaseStep>,
    mismatches: u64,
    #[serde(default)]
    rehearsed: u64,
    throttled: Option<f64>,
}

#[derive(Deserialize)]
struct ShardPhaseStep {
    outcomes: BTreeMap<String, u64>,
    latency_histogram: String,
}

#[derive(Deserialize)]
struct ShardMismatch {
    step: Step,
    expected: String,
    actual: String,
    count: u64,
}

/// One shard's folder, read.
struct ShardFolder {
    dir: PathBuf,
    report: ShardReport,
    hlog: String,
}

/// The merged run: its report, and the recorder it was built from (with
/// the merged one-second intervals), as [`RunReport::write`] takes them.
pub struct Merged {
    pub report: RunReport,
    pub recorder: Recorder,
    pub started_at: SystemTime,
}

fn read(dir: &Path) -> Result<ShardFolder, String> {
    let name = dir.display();
    let json = std::fs::read_to_string(dir.join("report.json"))
        .map_err(|e| format!("{name}: no report.json ({e})"))?;
    let report: ShardReport = serde_json::from_str(&json)
        .map_err(|e| format!("{name}/report.json: not a shard report of this emlab ({e})"))?;
    let hlog = std::fs::read_to_string(dir.join("latency.hlog"))
        .map_err(|e| format!("{name}: no latency.hlog ({e})"))?;
    Ok(ShardFolder {
        dir: dir.to_path_buf(),
        report,
        hlog,
    })
}

fn histogram(dir: &Path, what: &str, text: &str) -> Result<hdrhistogram::Histogram<u64>, String> {
    decode(text).ok_or_else(|| {
        format!(
            "{}/report.json: the {what} histogram is missing or unreadable",
            dir.display()
        )
    })
}

/// Reads and checks the shard folders, then adds them up.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, String> {
    let shards = dirs
        .iter()
        .map(|d| read(d))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = shards.first() else {
        return Err("emlab merge OUT DIR...: no shard folders given".into());
    };
    let count = first.report.shard.count;
    let mut seen = vec![None::<&Path>; count as usize];
    for s in &shards {
        let r = &s.report;
        let differs = |what: &str, a: &str, b: &str| {
            format!(
                "{}: {what} `{b}`, but {} has `{a}`: not shards of one run",
                s.dir.display(),
                first.dir.display()
            )
        };
        if r.emlab_version != first.report.emlab_version {
            return Err(differs(
                "emlab version",
                &first.report.emlab_version,
                &r.emlab_version,
            ));
        }
        if r.scenario != first.report.scenario || r.scenario_source != first.report.scenario_source
        {
            return Err(differs("scenario", &first.report.scenario, &r.scenario));
        }
        if r.shard.count != count {
            return Err(differs(
                "shard count",
                &count.to_string(),
                &r.shard.count.to_string(),
            ));
        }
        match seen.get_mut(r.shard.index as usize) {
            Some(Some(other)) => {
                return Err(format!(
                    "{}: shard {} is also {}",
                    s.dir.display(),
                    r.shard,
                    other.display()
                ));
            }
            Some(slot) => *slot = Some(&s.dir),
            None => {
                return Err(format!(
                    "{}: shard {} out of range",
                    s.dir.display(),
                    r.shard
                ));
            }
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| format!("{}/{count}", i + 1))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard {} of the run is missing: merge needs every shard's folder",
            missing.join(", ")
        ));
    }
    let scenario = Scenario::parse(
        &first.dir.join("scenario.toml"),
        &first.report.scenario_source,
    )
    .map_err(|e| {
        format!(
            "{}/report.json: its scenario does not parse: {e}",
            first.dir.display()
        )
    })?;

    let mut recorder = recorder_for(&scenario.load);
    let mut throttled: Vec<Option<f64>> = vec![None; recorder.phases.len()];
    let start = |s: &ShardFolder| s.report.started_at_epoch_s;
    let earliest = shards.iter().map(start).fold(f64::INFINITY, f64::min);
    let mut end_s: f64 = 0.0;
    let (mut cycles, mut booted, mut interrupted) = (0, 0, false);
    let mut boot_s: f64 = 0.0;
    let mut problems = Vec::new();
    for s in &shards {
        let r = &s.report;
        for (&step, st) in &r.steps {
            let latency = histogram(
                &s.dir,
                &format!("{} latency", step.name()),
                &st.latency_histogram,
            )?;
            let service = histogram(
                &s.dir,
                &format!("{} service time", step.name()),
                &st.service_time_histogram,
            )?;
            recorder.absorb_step(step, &latency, &service, &st.outcomes);
        }
        for p in &r.phases {
            let Some(i) = recorder.phases.iter().position(|q| q.name == p.name) else {
                return Err(format!(
                    "{}/report.json: phase `{}` is not in the scenario",
                    s.dir.display(),
                    p.name
                ));
            };
            for (&step, st) in &p.steps {
                let what = format!("{} {} latency", p.name, step.name());
                let latency = histogram(&s.dir, &what, &st.latency_histogram)?;
                recorder.absorb_phase_step(i, step, &latency, &st.outcomes);
            }
            recorder.absorb_phase_counts(i, p.mismatches, p.rehearsed);
            // Every shard reads the same server's counter: the largest
            // growth seen is the server's, not a sum.
            if let Some(t) = p.throttled {
                throttled[i] = Some(throttled[i].map_or(t, |u: f64| u.max(t)));
            }
        }
        for m in &r.mismatches {
            let key = Mismatch {
                step: m.step,
                expected: m.expected.clone(),
                actual: m.actual.clone(),
            };
            recorder.absorb_mismatch(key, m.count);
        }
        recorder.late_starts += r.late_starts;
        cycles += r.cycles;
        booted += r.phones_booted;
        boot_s = boot_s.max(r.boot_s);
        interrupted |= r.interrupted;
        problems.extend(r.rehearsal_problems.iter().cloned());
        end_s = end_s.max(start(s) + r.elapsed_s);
    }
    let started_at = UNIX_EPOCH + Duration::from_secs_f64(earliest.max(0.0));
    let result = StormResult {
        recorder,
        started_at,
        elapsed: Duration::from_secs_f64((end_s - earliest).max(1e-6)),
        cycles,
        booted,
        boot_time: Duration::from_secs_f64(boot_s),
        interrupted,
        throttled,
        rehearsal_problems: problems,
    };
    let info = RunInfo {
        scenario: &scenario,
        target: &first.report.target,
        embedded_server: first.report.embedded_server,
        tls_insecure: shards.iter().any(|s| s.report.tls_insecure),
        preflight: None,
        shard: Shard::WHOLE,
    };
    let mut report = RunReport::build(&info, &result);
    report.merged_from = shards
        .iter()
        .map(|s| format!("{} {}", s.report.shard, s.dir.display()))
        .collect();
    let mut recorder = result.recorder;
    recorder.intervals = merge_intervals(&shards, earliest)?;
    Ok(Merged {
        report,
        recorder,
        started_at,
    })
}

/// The shards' interval logs as one, by time: each line's start moved to
/// the merged run's clock, and the windows of one step that fall in the
/// same second added up, so the merged log (and the report's second-by-
/// second chart) reads as one run's.
fn merge_intervals(shards: &[ShardFolder], earliest: f64) -> Result<Vec<Interval>, String> {
    let mut windows: BTreeMap<(u64, Step), hdrhistogram::Histogram<u64>> = BTreeMap::new();
    for s in shards {
        let offset = s.report.started_at_epoch_s - earliest;
        for (n, line) in s.hlog.lines().enumerate() {
            // Tag=login,START,LENGTH,MAX,HISTF...
            let Some(rest) = line.strip_prefix("Tag=") else {
                continue;
            };
            let fields: Vec<&str> = rest.splitn(5, ',').collect();
            let bad = || {
                format!(
                    "{}/latency.hlog:{}: not an interval line",
                    s.dir.display(),
                    n + 1
                )
            };
            let [tag, start, _length, _max, histogram] = fields.as_slice() else {
                return Err(bad());
            };
            let step = Step::from_name(tag).ok_or_else(bad)?;
            let start: f64 = start.parse().map_err(|_| bad())?;
            let h = decode(histogram).ok_or_else(bad)?;
            let second = (start + offset).round().max(0.0) as u64;
            match windows.get_mut(&(second, step)) {
                Some(sum) => {
                    let _ = sum.add(&h);
                }
                None => {
                    windows.insert((second, step), h);
                }
            }
        }
    }
    Ok(windows
        .into_iter()
        .map(|((second, step), h)| Interval {
            start_s: second as f64,
            length_s: 1.0,
            step,
            max_us: h.max(),
            percentiles: [0.5, 0.9, 0.99].map(|q| h.value_at_quantile(q)),
            histogram: encode(&h),
        })
        .collect())
}
