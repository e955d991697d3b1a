//! What a run observed: one latency histogram per step, outcomes by code,
//! and every answer that differed from what the scenario expected.
//!
//! Two histograms per step, as wrk2 reports them: `latency` runs from the
//! step's *intended* start (its place in the arrival schedule) to the end of
//! the response body, so a server that falls behind shows its queueing
//! (no coordinated omission); `service` runs from the actual send.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Histogram bounds: 1 µs to 60 s at 3 significant digits.
pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 60_000_000;
pub const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid.
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// One kind of EM API operation a virtual phone performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Login,
    Query,
    Logout,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Login, Step::Query, Step::Logout];

    pub fn name(self) -> &'static str {
        match self {
            Step::Login => "login",
            Step::Query => "query",
            Step::Logout => "logout",
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

pub struct Recorder {
    steps: [StepStats; 3],
    pub mismatches: BTreeMap<Mismatch, u64>,
    /// Cycles whose phone was still busy with its previous cycle at the
    /// intended start; their wait is in the latency.
    pub late_starts: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            steps: [StepStats::new(), StepStats::new(), StepStats::new()],
            mismatches: BTreeMap::new(),
            late_starts: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

impl Recorder {
    pub fn step(&self, step: Step) -> &StepStats {
        &self.steps[step as usize]
    }

    /// Records one completed step.
    pub fn record(
        &mut self,
        step: Step,
        latency: Duration,
        service: Duration,
        outcome: &str,
        expected: &str,
    ) {
        let s = &mut self.steps[step as usize];
        s.latency.saturating_record(micros(latency));
        s.service.saturating_record(micros(service));
        match s.outcomes.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                s.outcomes.insert(outcome.to_string(), 1);
            }
        }
        if outcome != expected {
            let key = Mismatch {
                step,
                expected: expected.to_string(),
                actual: outcome.to_string(),
            };
            *self.mismatches.entry(key).or_insert(0) += 1;
        }
    }

    pub fn mismatch_count(&self) -> u64 {
        self.mismatches.values().sum()
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
