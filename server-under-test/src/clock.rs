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
        self.origin.elapsed().as_millis() as u64 + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn advance(&self, ms: u64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Default for ServerClock {
    fn default() -> Self {
        Self::new()
    }
}
