//! Run reports: one [`RunReport`] built from what the recorder saw, written
//! as `report.json` (for machines, with base64 HdrHistograms), `report.html`
//! (self-contained, inline SVG, readable offline) and a summary on stdout.

mod hlog;
pub(crate) mod html;
mod summary;
mod time;

pub use summary::summary;
pub use time::{parse_instant, rfc3339, stamp};

use crate::diagnosis::{Diagnosis, diagnose, symptom_counts};
use crate::recorder::{PhaseStats, Recorder, Step, StepStats, encode};
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::storm::StormResult;
use crate::thresholds::{Metric, Threshold};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize)]
pub struct RunReport {
    pub emlab_version: &'static str,
    pub scenario: String,
    pub description: String,
    pub target: String,
    pub embedded_server: bool,
    /// `--insecure`: TLS certificates were not checked.
    pub tls_insecure: bool,
    /// What preflight found (runs against a `--target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<crate::preflight::Preflight>,
    /// The part of the fleet this report covers (`1/1`: all of it).
    pub shard: Shard,
    /// The shard reports this one adds up (`emlab merge`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The scenario file as run, so `emlab merge` reads what every shard ran.
    pub scenario_source: String,
    pub started_at: String,
    pub started_at_epoch_s: f64,
    pub elapsed_s: f64,
    pub load: LoadReport,
    pub cycles: u64,
    pub late_starts: u64,
    /// Phones that came into service at boot (phone path).
    pub phones_booted: u64,
    /// Seconds the phones took to boot (the slowest shard's, merged).
    pub boot_s: f64,
    /// Stopped (Ctrl-C) before the schedule ended: never a pass.
    pub interrupted: bool,
    /// Every step the run performed.
    pub steps: BTreeMap<Step, StepReport>,
    /// The same per phase of the load shape (`boot` first, on the phone path).
    pub phases: Vec<PhaseReport>,
    pub mismatches: Vec<MismatchReport>,
    /// Symptoms seen, each with the likely cause from the seeds'
    /// troubleshooting tables (TRBL-1..4).
    pub diagnoses: Vec<Diagnosis>,
    /// What lab control refused while rehearsing troubleshooting causes.
    pub rehearsal_problems: Vec<String>,
    pub thresholds: Vec<ThresholdResult>,
    /// No mismatch, no rehearsal problem, and every threshold held.
    pub passed: bool,
}

#[derive(Serialize)]
pub struct LoadReport {
    pub model: &'static str,
    pub path: &'static str,
    pub phones: u32,
    /// The first phase's rate (open model).
    pub rate_per_s: f64,
    pub hold_ms: f64,
    pub think_ms: f64,
    pub query: bool,
    /// Rates and durations are already compressed by this factor.
    pub time_scale: f64,
    pub phases: Vec<PhaseShape>,
}

#[derive(Serialize)]
pub struct PhaseShape {
    pub name: String,
    pub duration_s: f64,
    pub rate_per_s: f64,
    pub to_per_s: Option<f64>,
    pub phones: u32,
}

#[derive(Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub steps: BTreeMap<Step, PhaseStepReport>,
    pub mismatches: u64,
    /// The troubleshooting cause the phase rehearsed, and how many answers
    /// showed its symptom there (expected, so not mismatches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsing: Option<&'static str>,
    pub rehearsed: u64,
    /// Growth of the server's `em_requests_throttled_total` over the phase,
    /// when its `/metrics` could be read.
    pub throttled: Option<f64>,
}

#[derive(Serialize)]
pub struct PhaseStepReport {
    pub count: u64,
    pub latency_us: Percentiles,
    pub outcomes: BTreeMap<String, u64>,
    /// HdrHistogram V2 + DEFLATE, base64: what `emlab merge` adds up.
    pub latency_histogram: String,
}

#[derive(Serialize)]
pub struct StepReport {
    pub count: u64,
    pub rate_per_s: f64,
    /// From the step's intended start to the end of the response body.
    pub latency_us: Percentiles,
    /// From the actual send to the end of the response body.
    pub service_time_us: Percentiles,
    /// Outcome label → count (`success`, `25`, `timeout`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// HdrHistogram V2 + DEFLATE, base64 (the `HISTF...` form of `.hlog` files).
    pub latency_histogram: String,
    pub service_time_histogram: String,
}

impl StepReport {
    /// p50, p90, p99, p99.9 and max latency, formatted: the columns both
    /// the stdout summary and the HTML table show.
    pub fn latency_cells(&self) -> [String; 5] {
        let l = &self.latency_us;
        [l.p50, l.p90, l.p99, l.p99_9, l.max].map(crate::units::format_us)
    }

    /// `success 998, 26 2`.
    pub fn outcomes_text(&self) -> String {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        parts.join(", ")
    }
}

#[derive(Serialize, Clone, Copy)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    #[serde(rename = "p99.9")]
    pub p99_9: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

#[derive(Serialize)]
pub struct MismatchReport {
    pub step: Step,
    pub expected: String,
    pub actual: String,
    pub count: u64,
}

#[derive(Serialize)]
pub struct ThresholdResult {
    pub rule: String,
    pub observed: f64,
    pub passed: bool,
}

/// Where a run stands.
pub struct RunInfo<'a> {
    pub scenario: &'a Scenario,
    pub target: &'a str,
    pub embedded_server: bool,
    pub tls_insecure: bool,
    pub preflight: Option<&'a crate::preflight::Preflight>,
    pub shard: Shard,
}

impl RunReport {
    pub fn build(info: &RunInfo<'_>, result: &StormResult) -> RunReport {
        let rec = &result.recorder;
        let secs = result.elapsed.as_secs_f64().max(1e-9);
        let steps = Step::ALL
            .into_iter()
            .filter(|&step| {
                rec.step(step).count() > 0 || matches!(step, Step::Login | Step::Logout)
            })
            .map(|step| {
                let s: &StepStats = rec.step(step);
                let report = StepReport {
                    count: s.count(),
                    rate_per_s: s.count() as f64 / secs,
                    latency_us: Percentiles::of(&s.latency),
                    service_time_us: Percentiles::of(&s.service),
                    outcomes: s.outcomes.clone(),
                    latency_histogram: encode(&s.latency),
                    service_time_histogram: encode(&s.service),
                };
                (step, report)
            })
            .collect();
        let thresholds: Vec<ThresholdResult> = info
            .scenario
            .thresholds
            .iter()
            .map(|t| {
                let observed = observe(t, rec, secs, &result.throttled);
                ThresholdResult {
                    rule: t.text.clone(),
                    observed,
                    passed: t.holds(observed),
                }
            })
            .collect();
        let mismatches: Vec<MismatchReport> = rec
            .mismatches
            .iter()
            .map(|(m, &count)| MismatchReport {
                step: m.step,
                expected: m.expected.clone(),
                actual: m.actual.clone(),
                count,
            })
            .collect();
        let passed = !result.interrupted
            && mismatches.is_empty()
            && result.rehearsal_problems.is_empty()
            && thresholds.iter().all(|t| t.passed);
        let load = &info.scenario.load;
        let phases = rec
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| Step::ALL.iter().any(|&s| p.count(s) > 0))
            .map(|(i, p)| PhaseReport {
                name: p.name.clone(),
                steps: Step::ALL
                    .into_iter()
                    .filter(|&s| p.count(s) > 0)
                    .map(|s| {
                        (
                            s,
                            PhaseStepReport {
                                count: p.count(s),
                                latency_us: Percentiles::of(&p.latency[s as usize]),
                                outcomes: p.outcomes[s as usize].clone(),
                                latency_histogram: encode(&p.latency[s as usize]),
                            },
                        )
                    })
                    .collect(),
                mismatches: p.mismatches(),
                rehearsing: p.rehearsing.map(|c| c.name()),
                rehearsed: p.rehearsed,
                throttled: result.throttled.get(i).copied().flatten(),
            })
            .collect();
        RunReport {
            emlab_version: env!("CARGO_PKG_VERSION"),
            scenario: info.scenario.name.clone(),
            description: info.scenario.description.clone(),
            target: info.target.to_string(),
            embedded_server: info.embedded_server,
            tls_insecure: info.tls_insecure,
            preflight: info.preflight.cloned(),
            shard: info.shard,
            merged_from: Vec::new(),
            scenario_source: info.scenario.source.clone(),
            started_at: rfc3339(result.started_at),
            started_at_epoch_s: result
                .started_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            elapsed_s: secs,
            load: LoadReport {
                model: match load.model {
                    crate::scenario::Model::Open => "open",
                    crate::scenario::Model::Closed => "closed",
                },
                path: info.scenario.path.as_str(),
                phones: load.phones,
                rate_per_s: load.rate_per_s(),
                hold_ms: load.hold.as_secs_f64() * 1e3,
                think_ms: load.think.as_secs_f64() * 1e3,
                query: load.query,
                time_scale: load.time_scale,
                phases: load
                    .phases
                    .iter()
                    .map(|p| PhaseShape {
                        name: p.name.clone(),
                        duration_s: p.duration.as_secs_f64(),
                        rate_per_s: p.rate_per_s,
                        to_per_s: p.to_per_s,
                        phones: p.phones,
                    })
                    .collect(),
            },
            cycles: result.cycles,
            late_starts: rec.late_starts,
            phones_booted: result.booted,
            boot_s: result.boot_time.as_secs_f64(),
            interrupted: result.interrupted,
            steps,
            phases,
            mismatches,
            diagnoses: diagnose(rec),
            rehearsal_problems: result.rehearsal_problems.clone(),
            thresholds,
            passed,
        }
    }

    /// Writes `report.json`, `report.html` and the interval log
    /// `latency.hlog` into `dir` (created if needed).
    pub fn write(
        &self,
        dir: &Path,
        recorder: &Recorder,
        started_at: std::time::SystemTime,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("latency.hlog"), hlog::render(recorder, started_at))?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("report.html"), html::render(self, recorder))?;
        Ok(())
    }
}

/// The observed value of a threshold's metric (latency in milliseconds),
/// over the whole run or over its phase.
pub(crate) fn observe(t: &Threshold, rec: &Recorder, secs: f64, throttled: &[Option<f64>]) -> f64 {
    if let Some(name) = &t.phase {
        let Some((i, p)) = rec.phases.iter().enumerate().find(|(_, p)| &p.name == name) else {
            return f64::NAN;
        };
        return observe_phase(t, p, throttled.get(i).copied().flatten());
    }
    match t.metric {
        Metric::Latency { step, quantile } => {
            let h = &rec.step(step).latency;
            let us = match quantile {
                Some(q) => h.value_at_quantile(q),
                None => h.max(),
            };
            us as f64 / 1e3
        }
        Metric::Mean(step) => rec.step(step).latency.mean() / 1e3,
        Metric::Count(step) => rec.step(step).count() as f64,
        Metric::Rate(step) => rec.step(step).count() as f64 / secs,
        Metric::Errors(code) => rec.errors(code) as f64,
        Metric::Mismatches => rec.mismatch_count() as f64,
        Metric::Outcome(step, ref label) => {
            rec.step(step).outcomes.get(label).copied().unwrap_or(0) as f64
        }
        // NaN fails every comparison: no /metrics, no pass.
        Metric::Diagnosed(cause) => {
            let count = |s: Step, o: &str| rec.step(s).outcomes.get(o).copied().unwrap_or(0);
            symptom_counts(cause, count).map_or(0, |c| c.iter().sum()) as f64
        }
        Metric::Throttled => {
            let known: Vec<f64> = throttled.iter().flatten().copied().collect();
            if known.is_empty() {
                f64::NAN
            } else {
                known.iter().sum()
            }
        }
    }
}

fn observe_phase(t: &Threshold, p: &PhaseStats, throttled: Option<f64>) -> f64 {
    match t.metric {
        Metric::Latency { step, quantile } => {
            let h = &p.latency[step as usize];
            let us = match quantile {
                Some(q) => h.value_at_quantile(q),
                None => h.max(),
            };
            us as f64 / 1e3
        }
        Metric::Mean(step) => p.latency[step as usize].mean() / 1e3,
        Metric::Count(step) => p.count(step) as f64,
        // A phase's rate needs its length, which the load shape knows; the
        // count over the phase's duration is what users compare.
        Metric::Rate(step) => p.count(step) as f64,
        Metric::Errors(code) => p.errors(code) as f64,
        Metric::Mismatches => p.mismatches() as f64,
        Metric::Outcome(step, ref label) => {
            p.outcomes[step as usize].get(label).copied().unwrap_or(0) as f64
        }
        Metric::Diagnosed(cause) => {
            let count = |s: Step, o: &str| p.outcomes[s as usize].get(o).copied().unwrap_or(0);
            symptom_counts(cause, count).map_or(0, |c| c.iter().sum()) as f64
        }
        Metric::Throttled => throttled.unwrap_or(f64::NAN),
    }
}
