//! The troubleshooting causes a lab can play on demand (TRBL-1..4), each
//! the cause of a symptom in the seeds' troubleshooting tables, so a lab can
//! rehearse the symptom and check that its tools name the cause:
//!
//! | cause | what the server then does | seed |
//! |---|---|---|
//! | `clock-skew` | every EM login ends 5 minutes after it began (or after the clocks drifted apart), logged as `DeviceTransientConnection` | D |
//! | `switch-version` | EM login data is lost: every EM user is logged out at once, and logins fail with 6 (Database Error) until the publisher is active again | A |
//! | `dns-callmanager` | after a login or logout the phone is reset instead of restarted | D |
//! | `no-logout-profile` | a device nobody is logged in on has no configuration to load, so its phone stays in "Registering" after a logout | D |
//!
//! All are off by default and none is saved by `--state`: they are a
//! rehearsal, not the server's configuration.

pub use emlab_protocol::troubleshooting::Cause;
use std::sync::atomic::{AtomicBool, Ordering};

/// How long a login lasts while the publisher's and subscriber's clocks
/// disagree (TRBL-1: "kicked out of the system every 5 minutes").
pub const CLOCK_SKEW_LOGOUT_MS: u64 = 5 * 60_000;

/// Which causes are being played now.
#[derive(Default)]
pub struct Troubleshooting {
    on: [AtomicBool; 4],
}

impl Troubleshooting {
    pub fn is_on(&self, cause: Cause) -> bool {
        self.on[cause as usize].load(Ordering::Relaxed)
    }

    /// Switches `cause`; returns whether it was on before.
    pub fn set(&self, cause: Cause, on: bool) -> bool {
        self.on[cause as usize].swap(on, Ordering::Relaxed)
    }

    /// The causes being played, by name.
    pub fn playing(&self) -> Vec<&'static str> {
        Cause::ALL
            .into_iter()
            .filter(|&c| self.is_on(c))
            .map(Cause::name)
            .collect()
    }
}
