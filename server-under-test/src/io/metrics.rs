//! Counters served at `GET /metrics` in Prometheus text format (PROTOCOL.md
//! §6, §8), named after the Extension Mobility perfmon object: requests,
//! logins and logouts, errors by code, call-log pushes, registered phones
//! by protocol and a latency histogram of EM operations (MET-1), and under
//! `cme` the CISCO-CCME-MIB EM phone counts.

use crate::core::admission::Admission;
use crate::io::call_log_push::CallLogPush;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Error codes of the EM API are 0..=30; one counter each.
const API_CODES: usize = 31;

/// Upper bounds of the latency buckets, in seconds: from a fast in-memory
/// login to Cisco's own operation times under load.
const BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The EM operations the histogram times (`operation` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Login,
    Logout,
    LogoutAll,
}

impl Operation {
    const ALL: [Operation; 3] = [Operation::Login, Operation::Logout, Operation::LogoutAll];

    fn label(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::Logout => "logout",
            Operation::LogoutAll => "logout_all",
        }
    }
}

/// A Prometheus histogram of one operation: cumulative buckets are summed
/// at render time from per-bucket counts.
#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; BUCKETS_S.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    fn observe(&self, elapsed: std::time::Duration) {
        let s = elapsed.as_secs_f64();
        let i = BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS_S.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// What `/metrics` shows about phones and the server profile, gathered by
/// the caller from the control channel and the directory.
pub struct PhoneCounts {
    pub sccp_registered: u64,
    pub sip_registered: u64,
    /// Under `cme`: (EM phones, EM phones registered), the CCME MIB's
    /// `ccmeEMphoneTot` and `ccmeEMphoneTotRegistered`.
    pub ccme: Option<(u64, u64)>,
}

#[derive(Default)]
pub struct Metrics {
    pub logins: AtomicU64,
    pub logouts: AtomicU64,
    /// Logouts the server made on its own (timers, auto-logout, displacement).
    pub automatic_logouts: AtomicU64,
    pub requests: AtomicU64,
    errors: [AtomicU64; API_CODES],
    latency: [Latency; 3],
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

    /// Times one EM operation (MET-1).
    pub fn observe(&self, operation: Operation, elapsed: std::time::Duration) {
        let i = Operation::ALL
            .iter()
            .position(|&o| o == operation)
            .unwrap_or(0);
        self.latency[i].observe(elapsed);
    }

    pub fn render(
        &self,
        admission: &Admission,
        call_logs: &CallLogPush,
        phones: &PhoneCounts,
        with_histogram: bool,
    ) -> String {
        let mut out = String::with_capacity(4096);
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
        let _ = writeln!(
            out,
            "# HELP em_phones_registered Phones registered on the control channel, by protocol.\n# TYPE em_phones_registered gauge\nem_phones_registered{{protocol=\"sccp\"}} {}\nem_phones_registered{{protocol=\"sip\"}} {}",
            phones.sccp_registered, phones.sip_registered
        );
        if with_histogram {
            let _ = writeln!(
                out,
                "# HELP em_operation_seconds Time to answer an EM login or logout, refusals included.\n# TYPE em_operation_seconds histogram"
            );
            for (op, latency) in Operation::ALL.iter().zip(&self.latency) {
                let label = op.label();
                let mut cumulative = 0;
                for (i, c) in latency.buckets.iter().enumerate() {
                    cumulative += c.load(Ordering::Relaxed);
                    let le = BUCKETS_S
                        .get(i)
                        .map_or("+Inf".to_string(), |b| b.to_string());
                    let _ = writeln!(
                        out,
                        "em_operation_seconds_bucket{{operation=\"{label}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                let sum = latency.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "em_operation_seconds_sum{{operation=\"{label}\"}} {sum}\nem_operation_seconds_count{{operation=\"{label}\"}} {cumulative}"
                );
            }
        }
        if let Some((total, registered)) = phones.ccme {
            let mut metric = |name: &str, help: &str, value: u64| {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            };
            metric(
                "ccme_em_phones_total",
                "EM phones configured (CISCO-CCME-MIB ccmeEMphoneTot).",
                total,
            );
            metric(
                "ccme_em_phones_registered",
                "EM phones registered (CISCO-CCME-MIB ccmeEMphoneTotRegistered).",
                registered,
            );
        }
        out
    }
}
