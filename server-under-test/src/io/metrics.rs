//! Counters served at `GET /metrics` in Prometheus text format (PROTOCOL.md
//! §6), named after the Extension Mobility perfmon object.

use crate::core::admission::Admission;
use crate::io::call_log_push::CallLogPush;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Error codes of the EM API are 0..=30; one counter each.
const API_CODES: usize = 31;

#[derive(Default)]
pub struct Metrics {
    pub logins: AtomicU64,
    pub logouts: AtomicU64,
    /// Logouts the server made on its own (timers, auto-logout, displacement).
    pub automatic_logouts: AtomicU64,
    pub requests: AtomicU64,
    errors: [AtomicU64; API_CODES],
}

impl Metrics {
    pub fn count_error(&self, code: u16) {
        if let Some(c) = self.errors.get(code as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn errors(&self, code: u16) -> u64 {
        self.errors
            .get(code as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn render(&self, admission: &Admission, call_logs: &CallLogPush) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "em_requests_in_progress",
            "gauge",
            "Login/logout operations in flight.",
            admission.in_progress() as u64,
        );
        metric(
            "em_requests_throttled_total",
            "counter",
            "Login/logout operations refused with 26 (Maximum Concurrent Requests).",
            admission.throttled(),
        );
        metric(
            "em_requests_total",
            "counter",
            "EM API requests and queries received.",
            self.requests.load(Ordering::Relaxed),
        );
        metric(
            "em_logins_total",
            "counter",
            "Successful logins.",
            self.logins.load(Ordering::Relaxed),
        );
        metric(
            "em_logouts_total",
            "counter",
            "Logouts, manual and automatic.",
            self.logouts.load(Ordering::Relaxed),
        );
        metric(
            "em_automatic_logouts_total",
            "counter",
            "Logouts made by the server (timers, auto-logout, next user).",
            self.automatic_logouts.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP em_call_log_clears_total Init:CallHistory pushes by result.\n# TYPE em_call_log_clears_total counter"
        );
        let results = [
            ("cleared", &call_logs.cleared),
            ("refused", &call_logs.refused),
            ("unreachable", &call_logs.unreachable),
        ];
        for (result, c) in results {
            let _ = writeln!(
                out,
                "em_call_log_clears_total{{result=\"{result}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP em_errors_total EM API failures by error code.\n# TYPE em_errors_total counter"
        );
        for (code, c) in self.errors.iter().enumerate() {
            let v = c.load(Ordering::Relaxed);
            if v > 0 {
                let _ = writeln!(out, "em_errors_total{{code=\"{code}\"}} {v}");
            }
        }
        out
    }
}
