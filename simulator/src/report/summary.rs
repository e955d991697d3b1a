//! The plain-text summary printed at the end of a run.

use super::RunReport;
use std::fmt::Write;

pub fn summary(r: &RunReport) -> String {
    let mut out = String::new();
    let server = if r.embedded_server {
        " (embedded reference server)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "emlab run {} against {}{}",
        r.scenario, r.target, server
    );
    let _ = writeln!(
        out,
        "{} cycles in {:.2} s; open model at {:.1}/s over {} phones, hold {:.0} ms; late starts {}",
        r.cycles, r.elapsed_s, r.load.rate_per_s, r.load.phones, r.load.hold_ms, r.late_starts
    );
    if r.late_starts > 0 {
        let _ = writeln!(
            out,
            "note: {} cycles found their phone still busy with the previous cycle; their wait is in the login latency \
             (more phones or a shorter hold keep the schedule)",
            r.late_starts
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  outcomes",
        "step", "count", "rate/s", "p50", "p90", "p99", "p99.9", "max"
    );
    for (step, s) in &r.steps {
        let name = step.name();
        if s.count == 0 {
            continue;
        }
        let [p50, p90, p99, p999, max] = s.latency_cells();
        let _ = writeln!(
            out,
            "{:<7} {:>8} {:>9.1} {p50:>9} {p90:>9} {p99:>9} {p999:>9} {max:>9}  {}",
            name,
            s.count,
            s.rate_per_s,
            s.outcomes_text()
        );
    }
    let _ = writeln!(
        out,
        "(latency from each step's intended start to the end of its response)"
    );
    let _ = writeln!(out);
    if r.mismatches.is_empty() {
        let _ = writeln!(out, "mismatches: none");
    } else {
        let _ = writeln!(out, "mismatches:");
        for m in &r.mismatches {
            let _ = writeln!(
                out,
                "  {:<7} expected {:<8} got {:<16} {} times",
                m.step.name(),
                m.expected,
                m.actual,
                m.count
            );
        }
    }
    for t in &r.thresholds {
        let verdict = if t.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "threshold {verdict}  {}  (observed {:.3})",
            t.rule, t.observed
        );
    }
    let _ = writeln!(out, "result: {}", if r.passed { "PASS" } else { "FAIL" });
    out
}
