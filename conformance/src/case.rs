//! One conformance case: which requirements it covers, which server
//! profiles it applies to, what it needs from the target, and the check.
//!
//! Verdicts follow Autobahn|Testsuite's spirit: **passed**; **failed**, with
//! what was expected, what was observed and every request and response of
//! the case; **skipped**, when the target lacks what the case needs (no lab
//! control, no such user in the lab). `--strict` turns skips into failures.

use crate::probe::Probe;
use emlab_protocol::ServerProfile;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a case needs from the target beyond the EM API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    EmApi,
    PhoneService,
    ConfigFiles,
    ControlChannel,
    LabControl,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::EmApi => "em-api",
            Need::PhoneService => "phone-service",
            Need::ConfigFiles => "config-files",
            Need::ControlChannel => "control-channel",
            Need::LabControl => "lab-control",
        }
    }
}

pub type CaseFuture = Pin<Box<dyn Future<Output = Result<(), Stop>> + Send>>;

/// A case's check: runs against the probe, `Ok` when the server behaved.
pub type CheckFn = fn(Arc<Probe>) -> CaseFuture;

pub struct Case {
    /// `MULTI-1/second-device-gets-25`: the first covered ID, then a slug.
    pub id: &'static str,
    pub covers: &'static [&'static str],
    pub profiles: &'static [ServerProfile],
    pub needs: &'static [Need],
    pub description: &'static str,
    pub check: CheckFn,
}

impl Case {
    /// The requirement group (`MULTI`), the JUnit classname.
    pub fn group(&self) -> &'static str {
        self.covers[0].split('-').next().unwrap_or("")
    }

    pub fn applies_to(&self, profile: ServerProfile) -> bool {
        self.profiles.contains(&profile)
    }
}

/// Why a case stopped early: a failure or a skip.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    Failed { expected: String, observed: String },
    Skipped(String),
}

pub fn fail(expected: impl Into<String>, observed: impl Into<String>) -> Stop {
    Stop::Failed {
        expected: expected.into(),
        observed: observed.into(),
    }
}

pub fn skip(why: impl Into<String>) -> Stop {
    Stop::Skipped(why.into())
}

/// `Ok` when `observed == expected`, else a failure naming `what`.
pub fn expect_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    observed: T,
    expected: T,
) -> Result<(), Stop> {
    if observed == expected {
        Ok(())
    } else {
        Err(fail(
            format!("{what}: {}", readable(&expected)),
            format!("{what}: {}", readable(&observed)),
        ))
    }
}

/// A value as a person reads it in a verdict: `Some(201)` is `201`, `None`
/// is `none`, `"25"` is `25`; tuples and lists keep their shape.
pub fn readable<T: std::fmt::Debug>(value: &T) -> String {
    let debug = format!("{value:?}");
    let mut out = String::with_capacity(debug.len());
    // For each open parenthesis: whether it opened a `Some(` we dropped.
    let mut dropped = Vec::new();
    let mut chars = debug.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => in_string = false,
                c => out.push(c),
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => {
                dropped.push(out.ends_with("Some"));
                if out.ends_with("Some") {
                    out.truncate(out.len() - 4);
                } else {
                    out.push(c);
                }
            }
            ')' => {
                if !dropped.pop().unwrap_or(false) {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    // `None` as a whole word.
    out.split_inclusive(|c: char| !c.is_alphanumeric())
        .map(|w| match w.strip_suffix(|c: char| !c.is_alphanumeric()) {
            Some("None") => format!("none{}", &w[4..]),
            _ if w == "None" => "none".to_string(),
            _ => w.to_string(),
        })
        .collect()
}

/// `Ok` when `cond`, else a failure with both texts.
pub fn expect(
    cond: bool,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Result<(), Stop> {
    if cond {
        Ok(())
    } else {
        Err(fail(expected, observed))
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn verdict_values_read_as_text() {
        assert_eq!(readable(&Some(201u16)), "201");
        assert_eq!(readable(&None::<u16>), "none");
        assert_eq!(readable(&"25"), "25");
        assert_eq!(readable(&("success", "201")), "(success, 201)");
        assert_eq!(
            readable(&Some((true, "beep-only".to_string()))),
            "(true, beep-only)"
        );
        assert_eq!(readable(&vec!["One".to_string()]), "[One]");
        assert_eq!(readable(&"say \"Nonetheless\""), "say \"Nonetheless\"");
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed { expected: String, observed: String },
    Skipped { reason: String },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed { .. } => "failed",
            Verdict::Skipped { .. } => "skipped",
        }
    }
}

/// A case's result with its transcript.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub id: &'static str,
    pub group: &'static str,
    pub covers: &'static [&'static str],
    pub description: &'static str,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub seconds: f64,
    /// Every request and response, in order.
    pub transcript: Vec<String>,
}

/// Builds a [`Case`] from an `async fn(Arc<Probe>) -> Result<(), Stop>`.
#[macro_export]
macro_rules! case {
    ($id:literal, [$($cover:literal),+], $profiles:expr, [$($need:ident),*], $desc:literal, $f:path) => {
        $crate::case::Case {
            id: $id,
            covers: &[$($cover),+],
            profiles: $profiles,
            needs: &[$($crate::case::Need::$need),*],
            description: $desc,
            check: |p| Box::pin($f(p)),
        }
    };
}
