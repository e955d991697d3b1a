//! Symptoms and their likely causes, from the seeds' troubleshooting
//! tables (TRBL-1..4): when the fleet sees a symptom, its report names the
//! cause an administrator would check first.
//!
//! | symptom the phones record | likely cause |
//! |---|---|
//! | `server_logout` `after-5-minutes`: logged out about 5 minutes (server time) after login | publisher and subscriber clocks out of sync |
//! | `server_logout` `logged-out` and `login` `6`: logged out at once, logins refused with Database Error | the publisher is inactive in a switch version |
//! | `restart` `reset`: reset where a restart was due | the phone resolves the CallManager by DNS |
//! | `in_service` `no-config`: no configuration file after a logout, the phone stays Registering | no logout profile assigned to the device |
//!
//! A phase that rehearses a cause (`troubleshooting = "clock-skew"`)
//! expects its symptom: answers the symptom explains count as rehearsed in
//! that phase, not as mismatches. Anywhere else the symptom is a mismatch,
//! and the diagnosis says where to look.

use crate::recorder::{Recorder, Step};
use emlab_protocol::troubleshooting::Cause;
use serde::Serialize;

/// The step outcomes that are `cause`'s symptom.
fn signature(cause: Cause) -> &'static [(Step, &'static str)] {
    match cause {
        Cause::ClockSkew => &[(Step::ServerLogout, AFTER_FIVE_MINUTES)],
        Cause::SwitchVersion => &[(Step::ServerLogout, LOGGED_OUT), (Step::Login, "6")],
        Cause::DnsCallManager => &[(Step::Restart, "reset")],
        Cause::NoLogoutProfile => &[(Step::InService, NO_CONFIG)],
    }
}

/// `server_logout` after about five minutes of server time (TRBL-1).
pub const AFTER_FIVE_MINUTES: &str = "after-5-minutes";
/// `server_logout` after any other time.
pub const LOGGED_OUT: &str = "logged-out";
/// `in_service`: the server has no configuration file for the phone.
pub const NO_CONFIG: &str = "no-config";

/// Whether a logout the server made after `logged_in_s` seconds of server
/// time is the clock-skew one: 5 minutes, give or take what the phone's
/// view of server time may be off by.
pub fn server_logout_label(logged_in_s: f64) -> &'static str {
    if (270.0..=390.0).contains(&logged_in_s) {
        AFTER_FIVE_MINUTES
    } else {
        LOGGED_OUT
    }
}

/// Whether `cause` explains `outcome` of `step`: part of its symptom, or
/// what follows from it in a rehearsal:
/// - clock skew: a login that began before the clocks drifted ends 5
///   minutes after the drift, however long it had lasted;
/// - switch version: every login ends at once, however long it had lasted,
///   and a login answered in that instant is lost with the rest: its phone
///   is told to restart twice and loads the logout profile.
pub fn explains(cause: Cause, step: Step, outcome: &str) -> bool {
    let follows = match cause {
        Cause::ClockSkew => step == Step::ServerLogout,
        Cause::SwitchVersion => matches!(
            (step, outcome),
            (Step::ServerLogout, _)
                | (Step::Restart, "restart+restart")
                | (Step::InService, "wrong-profile")
        ),
        Cause::DnsCallManager | Cause::NoLogoutProfile => false,
    };
    follows
        || signature(cause)
            .iter()
            .any(|&(s, o)| s == step && o == outcome)
}

/// A symptom the run saw, with its likely cause.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    pub requirement: &'static str,
    /// The cause's name, as lab control and `diagnosed.<name>` thresholds use it.
    pub cause: &'static str,
    /// What the phones saw, with counts.
    pub symptom: String,
    /// The seed's likely cause and what to do about it.
    pub likely_cause: &'static str,
    /// How many answers showed the symptom.
    pub seen: u64,
    /// A phase of the scenario rehearsed this cause.
    pub rehearsed: bool,
}

impl Diagnosis {
    /// `logged out every 5 minutes (12 times): publisher/subscriber clocks out of sync?`
    pub fn line(&self) -> String {
        format!("{}: {}", self.symptom, self.likely_cause)
    }
}

fn likely_cause(cause: Cause) -> &'static str {
    match cause {
        Cause::ClockSkew => {
            "publisher/subscriber clocks out of sync? (the event log shows DeviceTransientConnection; synchronize the clocks or configure NTP in the cluster)"
        }
        Cause::SwitchVersion => {
            "publisher switch version in progress? (EM login data is lost; users log in again once the publisher is active)"
        }
        Cause::DnsCallManager => {
            "the phone resolves the CallManager by DNS? (set System > Server name to an IP address, then reset the phones)"
        }
        Cause::NoLogoutProfile => {
            "no logout profile assigned to the device? (assign one; also restart the Cisco Tomcat service)"
        }
    }
}

/// How many answers showed each part of `cause`'s symptom, given the
/// count of each step's outcome; `None` unless every part showed (a logout
/// alone is not a switch version).
pub fn symptom_counts(cause: Cause, count: impl Fn(Step, &str) -> u64) -> Option<Vec<u64>> {
    let counts: Vec<u64> = signature(cause).iter().map(|&(s, o)| count(s, o)).collect();
    (!counts.contains(&0)).then_some(counts)
}

/// The symptoms in what `recorder` saw, in the order of the causes.
pub fn diagnose(recorder: &Recorder) -> Vec<Diagnosis> {
    let count = |step: Step, outcome: &str| {
        recorder
            .step(step)
            .outcomes
            .get(outcome)
            .copied()
            .unwrap_or(0)
    };
    let rehearsed = |cause: Cause| recorder.phases.iter().any(|p| p.rehearsing == Some(cause));
    let mut out = Vec::new();
    for cause in Cause::ALL {
        let Some(counts) = symptom_counts(cause, count) else {
            continue;
        };
        let symptom = match cause {
            Cause::ClockSkew => format!(
                "logged out by the server about 5 minutes after login ({} times)",
                counts[0]
            ),
            Cause::SwitchVersion => format!(
                "logged out by the server ({} phones) and logins refused with [6] Database Error ({} times)",
                counts[0], counts[1]
            ),
            Cause::DnsCallManager => format!(
                "reset instead of restarting after a login or logout ({} times)",
                counts[0]
            ),
            Cause::NoLogoutProfile => format!(
                "no configuration file after logout, the phone stays Registering ({} times)",
                counts[0]
            ),
        };
        out.push(Diagnosis {
            requirement: cause.requirement(),
            cause: cause.name(),
            symptom,
            likely_cause: likely_cause(cause),
            seen: counts.iter().sum(),
            rehearsed: rehearsed(cause),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn recorder() -> Recorder {
        Recorder::new(&["boot", "calm", "skewed"], Instant::now())
    }

    /// A symptom outside a rehearsal is a mismatch and a diagnosis; inside
    /// the phase that rehearses its cause it is rehearsed, not a mismatch.
    #[test]
    fn a_rehearsed_symptom_is_diagnosed_but_not_a_mismatch() {
        let mut r = recorder();
        r.phases[2].rehearsing = Some(Cause::ClockSkew);
        let five = Duration::from_secs(300);
        for phase in [1, 2] {
            r.record(
                Step::ServerLogout,
                phase,
                five,
                five,
                AFTER_FIVE_MINUTES,
                "none",
                Instant::now(),
            );
        }
        assert_eq!(r.mismatch_count(), 1, "the calm phase's logout");
        assert_eq!(r.phases[2].rehearsed, 1);
        let found = diagnose(&r);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].requirement, "TRBL-1");
        assert!(
            found[0].line().contains("clocks out of sync"),
            "{:?}",
            found[0]
        );
        assert_eq!(found[0].seen, 2);
    }

    /// A logout by the server without refused logins is not a switch
    /// version; with them it is.
    #[test]
    fn a_switch_version_needs_both_parts_of_its_symptom() {
        let mut r = recorder();
        r.note(Step::ServerLogout, 1, LOGGED_OUT, "none");
        assert!(diagnose(&r).is_empty());
        r.note(Step::Login, 1, "6", "success");
        let found = diagnose(&r);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].cause, "switch-version");
        assert!(found[0].likely_cause.contains("switch version"));
    }

    #[test]
    fn five_minutes_of_server_time_give_or_take() {
        assert_eq!(server_logout_label(300.0), AFTER_FIVE_MINUTES);
        assert_eq!(server_logout_label(330.0), AFTER_FIVE_MINUTES);
        assert_eq!(server_logout_label(30.0), LOGGED_OUT);
        assert_eq!(server_logout_label(3600.0), LOGGED_OUT);
    }
}
