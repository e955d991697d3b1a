//! What a run observed: one latency histogram per step, outcomes by code,
//! and every answer that differed from what the scenario expected.
//!
//! Two histograms per step, as wrk2 reports them: `latency` runs from the
//! step's *intended* start (its place in the arrival schedule) to the end of
//! the response body, so a server that falls behind shows its queueing
//! (no coordinated omission); `service` runs from the actual send.

use crate::diagnosis;
use emlab_protocol::troubleshooting::Cause;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Histogram bounds: 1 µs to 60 s at 3 significant digits.
pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 60_000_000;
pub const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid.
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// One step a virtual phone performs, each with its own histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// SCCP Register → RegisterAck, or SIP REGISTER → 200 (boot and after a reset).
    Register,
    /// The phone-facing EM service's first screen (the login prompt).
    Prompt,
    /// EM API login, or the phone's credentials until `Login Successful`.
    Login,
    /// EM API deviceUserQuery.
    Query,
    /// EM API logout, or the phone's `Yes` until `Logout Successful`.
    Logout,
    /// From a login's or logout's answer to the server's restart command;
    /// the outcome is the whole sequence seen (`restart`, `restart+reset`).
    Restart,
    /// From the step's due time until the phone runs the new profile,
    /// checked in its re-fetched configuration file.
    InService,
    /// Whether the server cleared the call logs (`cleared` / `kept`).
    CallLogs,
    /// A logout the phone did not ask for: while it held a login, the
    /// server restarted it into its logout profile (TIME-1, TRBL-1/2). The
    /// latency is how long it had been logged in; the outcome says whether
    /// that was about five minutes of server time (`after-5-minutes`) or
    /// not (`logged-out`).
    ServerLogout,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Register,
        Step::Prompt,
        Step::Login,
        Step::Query,
        Step::Logout,
        Step::Restart,
        Step::InService,
        Step::CallLogs,
        Step::ServerLogout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Prompt => "prompt",
            Step::Login => "login",
            Step::Query => "query",
            Step::Logout => "logout",
            Step::Restart => "restart",
            Step::InService => "in_service",
            Step::CallLogs => "call_logs",
            Step::ServerLogout => "server_logout",
        }
    }

    pub fn from_name(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// The observed answer to one step, as a short label: `success`, an error
/// code (`25`), or what went wrong on the wire (`timeout`, `malformed-xml`,
/// `http-503`, `connection-error`), or for a query the user it reported.
pub type Outcome = String;

#[derive(Clone)]
pub struct StepStats {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub outcomes: BTreeMap<Outcome, u64>,
}

impl StepStats {
    fn new() -> Self {
        StepStats {
            latency: new_histogram(),
            service: new_histogram(),
            outcomes: BTreeMap::new(),
        }
    }

    pub fn count(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// A mismatch between the expected and the observed outcome of a step.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Mismatch {
    pub step: Step,
    pub expected: String,
    pub actual: String,
}

/// Latencies and outcomes of one phase of the load shape.
#[derive(Clone)]
pub struct PhaseStats {
    pub name: String,
    pub latency: Vec<Histogram<u64>>,
    pub outcomes: Vec<BTreeMap<Outcome, u64>>,
    mismatches: u64,
    /// The troubleshooting cause this phase rehearses: its symptom is
    /// expected here, so it counts as rehearsed, not as a mismatch.
    pub rehearsing: Option<Cause>,
    /// Answers that differed from the expected one because of the cause
    /// rehearsed.
    pub rehearsed: u64,
}

impl PhaseStats {
    fn new(name: &str) -> Self {
        PhaseStats {
            name: name.to_string(),
            latency: Step::ALL.iter().map(|_| new_histogram()).collect(),
            outcomes: Step::ALL.iter().map(|_| BTreeMap::new()).collect(),
            mismatches: 0,
            rehearsing: None,
            rehearsed: 0,
        }
    }

    pub fn count(&self, step: Step) -> u64 {
        self.outcomes[step as usize].values().sum()
    }

    /// Failures with error `code`, over all steps of this phase.
    pub fn errors(&self, code: u16) -> u64 {
        let key = code.to_string();
        self.outcomes
            .iter()
            .map(|o| o.get(&key).copied().unwrap_or(0))
            .sum()
    }

    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }
}

/// One second of one step's latencies, compressed as it closes: a line of
/// the run's HdrHistogram interval log (`latency.hlog`).
#[derive(Clone)]
pub struct Interval {
    /// Seconds from the start of the run.
    pub start_s: f64,
    pub length_s: f64,
    pub step: Step,
    pub max_us: u64,
    /// p50, p90 and p99 in µs, kept as the window closes for live charts.
    pub percentiles: [u64; 3],
    /// HdrHistogram V2 + DEFLATE, base64 (`HISTF...`).
    pub histogram: String,
}

#[derive(Clone)]
struct IntervalWindow {
    index: u64,
    latency: Vec<Histogram<u64>>,
}

#[derive(Clone)]
pub struct Recorder {
    steps: Vec<StepStats>,
    pub mismatches: BTreeMap<Mismatch, u64>,
    /// Cycles whose phone was still busy with its previous cycle at the
    /// intended start; their wait is in the latency.
    pub late_starts: u64,
    pub phases: Vec<PhaseStats>,
    /// The run's zero for the interval log.
    origin: Instant,
    /// When each load phase (recorder phase 1, 2, ...) begins, once the
    /// schedule has started: a step then belongs to the phase it was sent in.
    phase_starts: Vec<Instant>,
    window: IntervalWindow,
    pub intervals: Vec<Interval>,
    /// Per second since the origin: cycles that arrived, and that finished.
    pub cycles_per_second: Vec<(u64, u64)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(&["run"], Instant::now())
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

impl Recorder {
    /// A recorder for a load shape with these phases, starting now-ish at `origin`.
    pub fn new(phases: &[&str], origin: Instant) -> Recorder {
        Recorder {
            steps: Step::ALL.iter().map(|_| StepStats::new()).collect(),
            mismatches: BTreeMap::new(),
            late_starts: 0,
            phases: phases.iter().map(|p| PhaseStats::new(p)).collect(),
            origin,
            phase_starts: Vec::new(),
            window: IntervalWindow {
                index: 0,
                latency: Step::ALL.iter().map(|_| new_histogram()).collect(),
            },
            intervals: Vec::new(),
            cycles_per_second: Vec::new(),
        }
    }

    fn second_slot(&mut self, at: Instant) -> &mut (u64, u64) {
        let i = at.saturating_duration_since(self.origin).as_secs() as usize;
        if self.cycles_per_second.len() <= i {
            self.cycles_per_second.resize(i + 1, (0, 0));
        }
        &mut self.cycles_per_second[i]
    }

    /// A cycle arrived (it was due) at `at`.
    pub fn arrival(&mut self, at: Instant) {
        self.second_slot(at).0 += 1;
    }

    /// A cycle finished at `at`.
    pub fn completion(&mut self, at: Instant) {
        self.second_slot(at).1 += 1;
    }

    pub fn step(&self, step: Step) -> &StepStats {
        &self.steps[step as usize]
    }

    /// The schedule started: load phase `i` (recorder phase `i + 1`)
    /// begins at `starts[i]`. From now on steps are filed under the phase
    /// they were sent in, so a cycle that straddles an edge puts each step
    /// where the load was when it went out.
    pub fn set_phase_starts(&mut self, starts: Vec<Instant>) {
        self.phase_starts = starts;
    }

    /// A phase that begins now, outside the scenario's shape: a change made
    /// live (pause, resume, a new rate). Steps sent from `start` on are
    /// filed under it, so each phase's histograms describe one load.
    /// Returns its recorder index.
    pub fn add_phase(&mut self, name: &str, start: Instant) -> usize {
        self.phases.push(PhaseStats::new(name));
        self.phase_starts.push(start);
        self.phases.len() - 1
    }

    /// Seconds from the run's origin to `at`.
    pub fn seconds_since_origin(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64()
    }

    fn phase_at(&self, given: usize, sent: Instant) -> usize {
        if given == 0 || self.phase_starts.is_empty() {
            return given;
        }
        1 + self
            .phase_starts
            .iter()
            .rposition(|&s| s <= sent)
            .unwrap_or(0)
    }

    /// Records one completed step that ended at `end`, in phase `phase`.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        step: Step,
        phase: usize,
        latency: Duration,
        service: Duration,
        outcome: &str,
        expected: &str,
        end: Instant,
    ) {
        let phase = self.phase_at(phase, end.checked_sub(service).unwrap_or(end));
        let (latency, service) = (micros(latency), micros(service));
        let s = &mut self.steps[step as usize];
        s.latency.saturating_record(latency);
        s.service.saturating_record(service);
        self.roll_window(end);
        self.window.latency[step as usize].saturating_record(latency);
        if let Some(p) = self.phases.get_mut(phase) {
            p.latency[step as usize].saturating_record(latency);
        }
        self.count(step, phase, outcome, expected);
    }

    /// Counts an outcome that has no latency (a stray restart, a lost link).
    pub fn note(&mut self, step: Step, phase: usize, outcome: &str, expected: &str) {
        self.count(step, phase, outcome, expected);
    }

    fn count(&mut self, step: Step, phase: usize, outcome: &str, expected: &str) {
        bump(&mut self.steps[step as usize].outcomes, outcome);
        if let Some(p) = self.phases.get_mut(phase) {
            bump(&mut p.outcomes[step as usize], outcome);
        }
        if !matches_expected(outcome, expected) {
            if let Some(p) = self.phases.get_mut(phase)
                && p.rehearsing
                    .is_some_and(|c| diagnosis::explains(c, step, outcome))
            {
                p.rehearsed += 1;
                return;
            }
            let key = Mismatch {
                step,
                expected: expected.to_string(),
                actual: outcome.to_string(),
            };
            *self.mismatches.entry(key).or_insert(0) += 1;
            if let Some(p) = self.phases.get_mut(phase) {
                p.mismatches += 1;
            }
        }
    }

    /// Closes the one-second windows that ended before `now`.
    fn roll_window(&mut self, now: Instant) {
        let index = now.saturating_duration_since(self.origin).as_secs();
        if index != self.window.index {
            self.close_window();
            self.window.index = index;
        }
    }

    fn close_window(&mut self) {
        for (k, h) in self.window.latency.iter_mut().enumerate() {
            if h.is_empty() {
                continue;
            }
            self.intervals.push(Interval {
                start_s: self.window.index as f64,
                length_s: 1.0,
                step: Step::ALL[k],
                max_us: h.max(),
                percentiles: [
                    h.value_at_quantile(0.5),
                    h.value_at_quantile(0.9),
                    h.value_at_quantile(0.99),
                ],
                histogram: encode(h),
            });
            h.reset();
        }
    }

    /// Closes the last window; call once when the run is over.
    pub fn finish(&mut self) {
        self.close_window();
    }

    pub fn mismatch_count(&self) -> u64 {
        self.mismatches.values().sum()
    }

    /// Adds another run's figures for `step`: its histograms and outcomes
    /// (`emlab merge`).
    pub fn absorb_step(
        &mut self,
        step: Step,
        latency: &Histogram<u64>,
        service: &Histogram<u64>,
        outcomes: &BTreeMap<Outcome, u64>,
    ) {
        let s = &mut self.steps[step as usize];
        let _ = s.latency.add(latency);
        let _ = s.service.add(service);
        add_counts(&mut s.outcomes, outcomes);
    }

    /// Adds another run's figures for `step` in phase `phase`.
    pub fn absorb_phase_step(
        &mut self,
        phase: usize,
        step: Step,
        latency: &Histogram<u64>,
        outcomes: &BTreeMap<Outcome, u64>,
    ) {
        if let Some(p) = self.phases.get_mut(phase) {
            let _ = p.latency[step as usize].add(latency);
            add_counts(&mut p.outcomes[step as usize], outcomes);
        }
    }

    /// Adds another run's count of one kind of mismatch.
    pub fn absorb_mismatch(&mut self, mismatch: Mismatch, count: u64) {
        *self.mismatches.entry(mismatch).or_insert(0) += count;
    }

    /// Adds another run's mismatch and rehearsal counts of phase `phase`.
    pub fn absorb_phase_counts(&mut self, phase: usize, mismatches: u64, rehearsed: u64) {
        if let Some(p) = self.phases.get_mut(phase) {
            p.mismatches += mismatches;
            p.rehearsed += rehearsed;
        }
    }

    /// Failures with error `code`, over all steps.
    pub fn errors(&self, code: u16) -> u64 {
        let key = code.to_string();
        self.steps
            .iter()
            .map(|s| s.outcomes.get(&key).copied().unwrap_or(0))
            .sum()
    }
}

/// `expected` is one outcome or several separated by `|` (`success|26`).
pub fn matches_expected(outcome: &str, expected: &str) -> bool {
    outcome == expected || expected.split('|').any(|e| e == outcome)
}

fn add_counts(to: &mut BTreeMap<Outcome, u64>, from: &BTreeMap<Outcome, u64>) {
    for (k, v) in from {
        *to.entry(k.clone()).or_insert(0) += v;
    }
}

/// A histogram from its `encode`d form; `None` when it is not one.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    use base64::Engine;
    use hdrhistogram::serialization::Deserializer;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .ok()
}

fn bump(map: &mut BTreeMap<Outcome, u64>, outcome: &str) {
    match map.get_mut(outcome) {
        Some(n) => *n += 1,
        None => {
            map.insert(outcome.to_string(), 1);
        }
    }
}

/// HdrHistogram V2 + DEFLATE, base64: the form `.hlog` lines and
/// `report.json` carry.
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}
