//! What an EM operation asks the outside world to do. The core decides;
//! the io layer ([`crate::io::server::Server::deliver`]) does it: a restart
//! or reset over SCCP or SIP, an HTTP push to the phone, a counter.

use crate::core::directory::DeviceIdx;
use crate::core::sessions::ActiveLogin;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The device's login changed from `before` to `after`: a registered
    /// phone restarts, or restarts then resets, per
    /// [`crate::core::Em::restart_plan`] (RST-1..3).
    ProfileChanged {
        device: DeviceIdx,
        before: Option<ActiveLogin>,
        after: Option<ActiveLogin>,
    },
    /// Push `Init:CallHistory` to the phone at `ip` (LOGS-1/2).
    ClearCallLogs { device: DeviceIdx, ip: IpAddr },
    /// Count an event in `/metrics`.
    Count(Counter),
}

/// The `/metrics` counters EM operations move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// A session begun (`em_logins_total`).
    Login,
    /// A session ended, whoever ended it (`em_logouts_total`).
    Logout,
    /// A session the server ended: timers, the next user, auto-logout
    /// (`em_automatic_logouts_total`).
    AutomaticLogout,
}

impl IntoIterator for Effects {
    type Item = Effect;
    type IntoIter = std::vec::IntoIter<Effect>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The effects of one operation, in the order they must happen.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "effects do nothing until the io layer delivers them"]
pub struct Effects(pub Vec<Effect>);

impl Effects {
    pub fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }

    pub fn count(&mut self, counter: Counter) {
        self.0.push(Effect::Count(counter));
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Effect>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many times `counter` is counted.
    pub fn counted(&self, counter: Counter) -> usize {
        self.0
            .iter()
            .filter(|e| **e == Effect::Count(counter))
            .count()
    }
}
