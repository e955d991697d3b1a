//! Maximum Concurrent Requests (LIM-1): at most N login/logout operations
//! may be in flight; the next one fails at once with error 26 and counts as
//! throttled. Queries do not count.
//!
//! A counter rather than a semaphore, because the limit is a service
//! parameter that may change while requests are in flight, and because a
//! rejected request must never wait.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub struct Admission {
    in_flight: AtomicU32,
    limit: AtomicU32,
    throttled: AtomicU64,
}

/// A slot held by one in-flight operation; released on drop.
pub struct Permit<'a>(&'a Admission);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub fn new(limit: u32) -> Self {
        Admission {
            in_flight: AtomicU32::new(0),
            limit: AtomicU32::new(limit),
            throttled: AtomicU64::new(0),
        }
    }

    /// A slot, or `None` (error 26) when `limit` operations are in flight.
    pub fn try_enter(&self) -> Option<Permit<'_>> {
        let limit = self.limit.load(Ordering::Relaxed);
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Permit(self))
    }

    /// A new Maximum Concurrent Requests; operations in flight finish.
    pub fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The "Requests In Progress" counter.
    pub fn in_progress(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The "Requests Throttled" counter.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_above_the_limit_and_frees_on_drop() {
        let a = Admission::new(2);
        let p1 = a.try_enter().unwrap();
        let _p2 = a.try_enter().unwrap();
        assert!(a.try_enter().is_none());
        assert_eq!((a.in_progress(), a.throttled()), (2, 1));
        drop(p1);
        assert!(a.try_enter().is_some());
    }
}
