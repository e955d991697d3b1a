//! Everything a request handler needs, shared behind one `Arc`.

use crate::admission::Admission;
use crate::clock::ServerClock;
use crate::directory::{DeviceIdx, Directory};
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use emlab_protocol::lab::Lab;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

pub struct ServerState {
    pub directory: Directory,
    sessions: Mutex<Sessions>,
    pub admission: Admission,
    pub metrics: Metrics,
    pub clock: ServerClock,
}

impl ServerState {
    pub fn new(lab: &Lab) -> Self {
        let directory = Directory::from_lab(lab);
        let sessions = Sessions::new(directory.device_count(), directory.user_count());
        let admission = Admission::new(directory.service_parameters.max_concurrent_requests);
        ServerState {
            directory,
            sessions: Mutex::new(sessions),
            admission,
            metrics: Metrics::default(),
            clock: ServerClock::new(),
        }
    }

    /// The session table, with every timer that is due applied first, so no
    /// caller ever sees a login that should already have ended.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // A panic while holding the lock would be a bug elsewhere; the table
        // itself is always consistent between calls, so keep serving.
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let due = s.expire_due(self.clock.now_ms());
        self.count_automatic_logouts(&due);
        s
    }

    pub fn count_automatic_logouts(&self, devices: &[DeviceIdx]) {
        if !devices.is_empty() {
            let n = devices.len() as u64;
            self.metrics.logouts.fetch_add(n, Ordering::Relaxed);
            self.metrics
                .automatic_logouts
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}
