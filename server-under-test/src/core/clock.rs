//! The server's clock. Timers (exclusiveDuration, maximum login time) run
//! on it rather than on the wall clock, so lab control can move it forward
//! and a test sees an 8-hour logout without waiting 8 hours.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub struct ServerClock {
    origin: Instant,
    offset_ms: AtomicU64,
}

impl ServerClock {
    pub fn new() -> Self {
        ServerClock {
            origin: Instant::now(),
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the server started, plus every advance.
    pub fn now_ms(&self) -> u64 {
        (self.origin.elapsed().as_millis() as u64)
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Sets the clock to `ms` (a restart on a saved state resumes the lab
    /// clock where it was).
    pub fn resume_at(&self, ms: u64) {
        let elapsed = self.origin.elapsed().as_millis() as u64;
        self.offset_ms
            .store(ms.saturating_sub(elapsed), Ordering::Relaxed);
    }

    /// Moves the clock forward. It saturates: a huge advance puts the clock
    /// at the end of time, never back to its start (a wrap would undo
    /// every timer).
    pub fn advance(&self, ms: u64) {
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }
}

impl Default for ServerClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_advance_saturates_instead_of_moving_the_clock_back() {
        let c = ServerClock::new();
        c.advance(1000);
        let before = c.now_ms();
        c.advance(u64::MAX);
        c.advance(u64::MAX);
        assert!(c.now_ms() >= before);
        assert_eq!(c.now_ms(), u64::MAX);
    }
}
