//! Runs the selected cases one after another (they share the target's
//! state), each within a time limit, and collects verdicts.

use crate::case::{Case, CaseResult, Stop, Verdict};
use crate::probe::{Probe, Target};
use emlab_protocol::em_api::AppInfo;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A case that takes longer than this failed.
const CASE_LIMIT: Duration = Duration::from_secs(30);

pub struct Selection {
    /// Run only these case IDs or requirement IDs (empty: all).
    pub only: Vec<String>,
    pub strict: bool,
}

impl Selection {
    pub fn picks(&self, case: &Case) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|o| {
                o == case.id
                    || case.covers.contains(&o.as_str())
                    || o.eq_ignore_ascii_case(case.group())
            })
    }
}

/// Runs every case that applies to the target's profile and is selected.
pub async fn run(
    target: &Target,
    app: &AppInfo,
    cases: &[Case],
    selection: &Selection,
) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for case in cases
        .iter()
        .filter(|c| c.applies_to(target.profile) && selection.picks(c))
    {
        let probe = match Probe::new(target.clone(), app.clone()) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                results.push(result(
                    case,
                    Verdict::Failed {
                        expected: "a client".into(),
                        observed: e,
                    },
                    0.0,
                    Vec::new(),
                ));
                continue;
            }
        };
        let start = Instant::now();
        let outcome = tokio::time::timeout(CASE_LIMIT, (case.check)(probe.clone())).await;
        let verdict = match outcome {
            Ok(Ok(())) => Verdict::Passed,
            Ok(Err(Stop::Failed { expected, observed })) => Verdict::Failed { expected, observed },
            Ok(Err(Stop::Skipped(reason))) if selection.strict => Verdict::Failed {
                expected: "the case to run (--strict)".into(),
                observed: format!("skipped: {reason}"),
            },
            Ok(Err(Stop::Skipped(reason))) => Verdict::Skipped { reason },
            Err(_) => Verdict::Failed {
                expected: format!("an answer within {} s", CASE_LIMIT.as_secs()),
                observed: "the case timed out".into(),
            },
        };
        results.push(result(
            case,
            verdict,
            start.elapsed().as_secs_f64(),
            probe.take_transcript(),
        ));
    }
    results
}

fn result(case: &Case, verdict: Verdict, seconds: f64, transcript: Vec<String>) -> CaseResult {
    CaseResult {
        id: case.id,
        group: case.group(),
        covers: case.covers,
        description: case.description,
        verdict,
        seconds,
        transcript,
    }
}
