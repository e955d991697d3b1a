//! What an operator changes while a run goes: pause and resume the
//! arrivals, or set a new arrival rate. The dashboard page and its HTTP API
//! write here; the open model's arrival loop reads it and files every
//! change as a phase of its own, so each phase's histograms describe one
//! load and the report stays honest.

use std::sync::Mutex;
use tokio::sync::Notify;

/// The operator's wishes, as they stand.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Wishes {
    pub paused: bool,
    /// Cycles per second from now on; `None`: the scenario's schedule.
    pub rate_per_s: Option<f64>,
}

/// The highest rate a live change may ask for (cycles per second).
pub const MAX_RATE_PER_S: f64 = 1_000_000.0;

#[derive(Default)]
pub struct LiveControl {
    wishes: Mutex<Wishes>,
    changed: Notify,
}

impl LiveControl {
    pub fn wishes(&self) -> Wishes {
        *self.wishes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Wishes)) {
        f(&mut self.wishes.lock().unwrap_or_else(|p| p.into_inner()));
        // notify_one keeps a permit when nobody waits yet, so a change made
        // between two looks at the wishes is never lost.
        self.changed.notify_one();
    }

    pub fn pause(&self) {
        self.update(|w| w.paused = true);
    }

    pub fn resume(&self) {
        self.update(|w| w.paused = false);
    }

    /// A new arrival rate, or why it cannot be one.
    pub fn set_rate(&self, rate_per_s: f64) -> Result<(), String> {
        if !rate_per_s.is_finite() || rate_per_s <= 0.0 || rate_per_s > MAX_RATE_PER_S {
            return Err(format!(
                "a rate is more than 0 and at most {MAX_RATE_PER_S} cycles per second"
            ));
        }
        self.update(|w| w.rate_per_s = Some(rate_per_s));
        Ok(())
    }

    /// Waits for the next change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}
