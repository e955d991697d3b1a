//! What the dashboard shows, gathered once a second and sent as one JSON
//! update: counts, per-second series (arrivals against completions, p50 /
//! p90 / p99 per step from the interval histograms, the server's Requests
//! In Progress and Requests Throttled), outcomes, thresholds so far, the
//! operator's controls, and a sample of phone tiles.

use super::board::{PhoneBoard, Tile};
use super::control::{LiveControl, Wishes};
use crate::phone::StateCounts;
use crate::phone::http::{self, ClientTls, Fetched};
use crate::recorder::{Recorder, Step};
use crate::report::{self, RunInfo, RunReport};
use crate::scenario::Scenario;
use crate::storm::{Progress, StormResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Points kept per series: the last ten minutes.
const WINDOW: usize = 600;
/// Tiles in one update: the page shows these and counts for the rest.
pub const TILES: usize = 60;

/// A run as the dashboard watches it.
pub struct LiveRun {
    pub scenario: Scenario,
    pub target: String,
    pub embedded_server: bool,
    pub recorder: Arc<Mutex<Recorder>>,
    pub progress: Arc<Progress>,
    pub states: Option<Arc<StateCounts>>,
    pub board: Option<Arc<PhoneBoard>>,
    pub control: Arc<LiveControl>,
    pub metrics_url: Option<String>,
    pub tls: ClientTls,
    started: Instant,
    started_at: SystemTime,
    series: Mutex<Series>,
    notes: Mutex<std::collections::VecDeque<Note>>,
}

/// A line of the page's event list (what `emlab demo` played, ...).
#[derive(Clone, Serialize)]
pub struct Note {
    pub at_s: f64,
    pub text: String,
}

/// Lines kept in the event list.
const NOTES: usize = 30;

#[derive(Default, Clone, Serialize)]
pub struct Series {
    /// `[second, value]` pairs.
    pub arrivals: Vec<(u64, u64)>,
    pub completions: Vec<(u64, u64)>,
    pub in_progress: Vec<(u64, f64)>,
    pub throttled: Vec<(u64, f64)>,
    /// Step name → `[second, p50, p90, p99]` in µs.
    pub latency: BTreeMap<&'static str, Vec<(u64, u64, u64, u64)>>,
    #[serde(skip)]
    last: (u64, u64, Option<f64>),
    #[serde(skip)]
    intervals_seen: usize,
}

fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() == WINDOW {
        v.remove(0);
    }
    v.push(x);
}

/// One update of the page.
#[derive(Serialize)]
pub struct Update {
    pub scenario: String,
    pub description: String,
    pub path: &'static str,
    pub model: &'static str,
    pub elapsed_s: f64,
    pub control: Wishes,
    /// Whether arrivals can be paused and re-rated (the open model).
    pub controllable: bool,
    pub phases: Vec<String>,
    pub started: u64,
    pub finished: u64,
    pub mismatches: u64,
    pub states: BTreeMap<&'static str, u64>,
    pub outcomes: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub series: Series,
    pub thresholds: Vec<ThresholdNow>,
    pub phones: usize,
    pub tiles: Vec<Tile>,
    /// Newest first.
    pub notes: Vec<Note>,
}

#[derive(Serialize)]
pub struct ThresholdNow {
    pub rule: String,
    pub observed: f64,
    pub passed: bool,
}

impl LiveRun {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: Scenario,
        target: String,
        embedded_server: bool,
        recorder: Arc<Mutex<Recorder>>,
        progress: Arc<Progress>,
        states: Option<Arc<StateCounts>>,
        board: Option<Arc<PhoneBoard>>,
        control: Arc<LiveControl>,
        metrics_url: Option<String>,
        tls: ClientTls,
    ) -> Arc<LiveRun> {
        Arc::new(LiveRun {
            scenario,
            target,
            embedded_server,
            recorder,
            progress,
            states,
            board,
            control,
            metrics_url,
            tls,
            started: Instant::now(),
            started_at: SystemTime::now(),
            series: Mutex::new(Series::default()),
            notes: Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// A line for the page's event list.
    pub fn note(&self, text: String) {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        if notes.len() == NOTES {
            notes.pop_front();
        }
        notes.push_back(Note {
            at_s: self.started.elapsed().as_secs_f64(),
            text,
        });
    }

    /// Adds this second's points; called once a second.
    pub async fn sample(&self) {
        let second = self.started.elapsed().as_secs();
        let metrics = match &self.metrics_url {
            Some(url) => read_metrics(url, &self.tls).await,
            None => None,
        };
        let started = self.progress.started.load(Ordering::Relaxed);
        let finished = self.progress.finished.load(Ordering::Relaxed);
        let new_intervals: Vec<(u64, Step, [u64; 3])> = {
            let rec = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
            let seen = self
                .series
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .intervals_seen;
            rec.intervals
                .iter()
                .skip(seen)
                .map(|i| (i.start_s as u64, i.step, i.percentiles))
                .collect()
        };
        let mut s = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let (last_started, last_finished, last_throttled) = s.last;
        push(
            &mut s.arrivals,
            (second, started.saturating_sub(last_started)),
        );
        push(
            &mut s.completions,
            (second, finished.saturating_sub(last_finished)),
        );
        if let Some((in_progress, throttled)) = metrics {
            push(&mut s.in_progress, (second, in_progress));
            let grew = last_throttled.map_or(0.0, |l| (throttled - l).max(0.0));
            push(&mut s.throttled, (second, grew));
            s.last.2 = Some(throttled);
        }
        s.last.0 = started;
        s.last.1 = finished;
        s.intervals_seen += new_intervals.len();
        for (sec, step, [p50, p90, p99]) in new_intervals {
            push(
                s.latency.entry(step.name()).or_default(),
                (sec, p50, p90, p99),
            );
        }
    }

    /// The page's next update.
    pub fn update(&self) -> Update {
        let rec = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        let secs = self.started.elapsed().as_secs_f64();
        let outcomes = Step::ALL
            .iter()
            .filter(|&&s| rec.step(s).count() > 0)
            .map(|&s| (s.name(), rec.step(s).outcomes.clone()))
            .collect();
        let thresholds = self
            .scenario
            .thresholds
            .iter()
            .map(|t| {
                let observed = report::observe(t, &rec, secs, &[]);
                ThresholdNow {
                    rule: t.text.clone(),
                    observed,
                    passed: t.holds(observed),
                }
            })
            .collect();
        let phases = rec.phases.iter().map(|p| p.name.clone()).collect();
        let mismatches = rec.mismatch_count();
        drop(rec);
        let states = self
            .states
            .as_ref()
            .map(|s| {
                crate::phone::PhoneState::ALL
                    .iter()
                    .filter(|&&st| s.get(st) > 0)
                    .map(|&st| (st.name(), s.get(st)))
                    .collect()
            })
            .unwrap_or_default();
        let load = &self.scenario.load;
        Update {
            scenario: self.scenario.name.clone(),
            description: self.scenario.description.clone(),
            path: self.scenario.path.as_str(),
            model: match load.model {
                crate::scenario::Model::Open => "open",
                crate::scenario::Model::Closed => "closed",
            },
            elapsed_s: secs,
            control: self.control.wishes(),
            controllable: load.model == crate::scenario::Model::Open,
            phases,
            started: self.progress.started.load(Ordering::Relaxed),
            finished: self.progress.finished.load(Ordering::Relaxed),
            mismatches,
            states,
            outcomes,
            series: self
                .series
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            thresholds,
            phones: self
                .board
                .as_ref()
                .map_or(load.phones as usize, |b| b.len()),
            tiles: self
                .board
                .as_ref()
                .map(|b| b.sample(TILES))
                .unwrap_or_default(),
            notes: self
                .notes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .rev()
                .cloned()
                .collect(),
        }
    }

    /// `report.html` as it would be written if the run ended now.
    pub fn report_html(&self) -> String {
        let mut recorder = self
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        recorder.finish();
        let result = StormResult {
            recorder,
            started_at: self.started_at,
            elapsed: self.started.elapsed().max(Duration::from_millis(1)),
            cycles: self.progress.started.load(Ordering::Relaxed),
            booted: 0,
            boot_time: Duration::ZERO,
            interrupted: false,
            throttled: Vec::new(),
            rehearsal_problems: Vec::new(),
        };
        let info = RunInfo {
            scenario: &self.scenario,
            target: &self.target,
            embedded_server: self.embedded_server,
            tls_insecure: self.tls.insecure(),
            preflight: None,
            shard: crate::shard::Shard::WHOLE,
        };
        let report = RunReport::build(&info, &result);
        report::html::render(&report, &result.recorder)
    }
}

/// `em_requests_in_progress` and `em_requests_throttled_total` from the
/// server's Prometheus page.
async fn read_metrics(url: &str, tls: &ClientTls) -> Option<(f64, f64)> {
    let local = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let Fetched::Ok { status: 200, body } =
        http::get(local, url, &[], Duration::from_secs(1), tls).await
    else {
        return None;
    };
    let text = std::str::from_utf8(&body).ok()?;
    let gauge = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    };
    Some((
        gauge("em_requests_in_progress")?,
        http::throttled_total(text)?,
    ))
}
