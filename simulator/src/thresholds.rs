//! Pass/fail rules over a run's results: `login.p99 < 200ms`,
//! `errors.26 == 0`, `mismatches == 0`, `login.rate >= 50`.
//!
//! Metrics: `<step>.<stat>` with step `login`, `query` or `logout` and stat
//! `p50`, `p90`, `p99`, `p99.9`, `max`, `mean` (latency, compared in
//! milliseconds; the value may carry `us`, `ms` or `s`), `count` or `rate`
//! (per second); `errors.<code>` (failures with that code, all steps);
//! `<step>.outcome.<label>` (how often a step had that outcome);
//! `mismatches` (answers that differed from the expectation); `throttled`
//! (the server's Requests Throttled counter, from its `/metrics`);
//! `diagnosed.<cause>` (answers showing the symptom of a troubleshooting
//! cause, e.g. `diagnosed.clock-skew`, see [`crate::diagnosis`]). A
//! `phase:` prefix limits a rule to one phase: `spike:login.p99 < 1s`.

use crate::recorder::Step;
use crate::units::parse_duration;
use emlab_protocol::troubleshooting::Cause;
use serde::Serialize;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    Latency {
        step: Step,
        quantile: Option<f64>, /* None = max */
    },
    Mean(Step),
    Count(Step),
    Rate(Step),
    Errors(u16),
    Mismatches,
    /// How many times `step` had this outcome: `restart.outcome.restart+reset`.
    Outcome(Step, String),
    /// The server's `em_requests_throttled_total` grew by this much (read
    /// from its `/metrics` at the phase's edges).
    Throttled,
    /// Answers showing a troubleshooting cause's symptom (`diagnosed.clock-skew`).
    Diagnosed(Cause),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "==")]
    Equal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub text: String,
    /// `spike:login.p99 < 1s` holds over the phase `spike` only.
    pub phase: Option<String>,
    pub metric: Metric,
    pub comparison: Comparison,
    /// Milliseconds for latency metrics, plain numbers otherwise.
    pub value: f64,
}

impl Threshold {
    pub fn holds(&self, observed: f64) -> bool {
        match self.comparison {
            Comparison::Less => observed < self.value,
            Comparison::LessOrEqual => observed <= self.value,
            Comparison::Greater => observed > self.value,
            Comparison::GreaterOrEqual => observed >= self.value,
            Comparison::Equal => (observed - self.value).abs() < 1e-9,
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("threshold `{s}`: {why}");
        let ops = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("==", Comparison::Equal),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ];
        let (pos, sym, comparison) = ops
            .iter()
            .filter_map(|(sym, c)| s.find(sym).map(|p| (p, *sym, *c)))
            .min_by_key(|(p, sym, _)| (*p, std::cmp::Reverse(sym.len())))
            .ok_or_else(|| bad("needs one of < <= > >= =="))?;
        let (lhs, rhs) = (s[..pos].trim(), s[pos + sym.len()..].trim());
        let (phase, lhs) = match lhs.split_once(':') {
            Some((p, m)) => (Some(p.trim().to_string()), m.trim()),
            None => (None, lhs),
        };
        let metric = parse_metric(lhs).ok_or_else(|| {
            bad("unknown metric; use login|query|logout . p50|p90|p99|p99.9|max|mean|count|rate, errors.<code>, diagnosed.<cause> or mismatches")
        })?;
        let value = match metric {
            Metric::Latency { .. } | Metric::Mean(_) => {
                let with_unit = if rhs.ends_with(|c: char| c.is_ascii_digit()) {
                    format!("{rhs}ms")
                } else {
                    rhs.to_string()
                };
                parse_duration(&with_unit)
                    .map_err(|e| bad(&e))?
                    .as_secs_f64()
                    * 1e3
            }
            _ => rhs
                .parse::<f64>()
                .map_err(|_| bad("the value must be a number"))?,
        };
        Ok(Threshold {
            text: s.trim().to_string(),
            phase,
            metric,
            comparison,
            value,
        })
    }
}

fn parse_metric(s: &str) -> Option<Metric> {
    if s == "mismatches" {
        return Some(Metric::Mismatches);
    }
    if s == "throttled" {
        return Some(Metric::Throttled);
    }
    let (head, stat) = s.split_once('.')?;
    if head == "errors" {
        return stat.parse().ok().map(Metric::Errors);
    }
    if head == "diagnosed" {
        return Cause::from_name(stat).map(Metric::Diagnosed);
    }
    let step = Step::from_name(head)?;
    if let Some(label) = stat.strip_prefix("outcome.") {
        return (!label.is_empty()).then(|| Metric::Outcome(step, label.to_string()));
    }
    Some(match stat {
        "max" => Metric::Latency {
            step,
            quantile: None,
        },
        "mean" => Metric::Mean(step),
        "count" => Metric::Count(step),
        "rate" => Metric::Rate(step),
        p => {
            let pct: f64 = p.strip_prefix('p')?.parse().ok()?;
            if !(0.0..=100.0).contains(&pct) {
                return None;
            }
            Metric::Latency {
                step,
                quantile: Some(pct / 100.0),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let t: Threshold = "login.p99 < 200ms".parse().unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency {
                step: Step::Login,
                quantile: Some(0.99)
            }
        );
        assert_eq!((t.comparison, t.value), (Comparison::Less, 200.0));
        let t: Threshold = "errors.26 == 0".parse().unwrap();
        assert_eq!(t.metric, Metric::Errors(26));
        let t: Threshold = "logout.p99.9 <= 1s".parse().unwrap();
        assert_eq!(t.value, 1000.0);
        assert!(t.holds(1000.0) && !t.holds(1000.5));
        assert!("login.p42x < 3".parse::<Threshold>().is_err());
        let t: Threshold = "above:errors.26 > 0".parse().unwrap();
        assert_eq!(
            (t.phase.as_deref(), &t.metric),
            (Some("above"), &Metric::Errors(26))
        );
        assert!("login.p99 3ms".parse::<Threshold>().is_err());
    }
}
