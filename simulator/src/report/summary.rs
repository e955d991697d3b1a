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
    if r.tls_insecure {
        let _ = writeln!(
            out,
            "WARNING: --insecure: TLS certificates were not checked"
        );
    }
    let l = &r.load;
    let shape = match l.model {
        "closed" => format!("closed model, think {:.0} ms", l.think_ms),
        _ => format!("open model at {:.1}/s", l.rate_per_s),
    };
    let _ = writeln!(
        out,
        "{} cycles in {:.2} s; {shape} over {} phones ({} path), hold {:.0} ms; late starts {}",
        r.cycles, r.elapsed_s, l.phones, l.path, l.hold_ms, r.late_starts
    );
    if l.time_scale != 1.0 {
        let _ = writeln!(
            out,
            "time compressed ×{}: rates, durations, hold and think are scaled",
            l.time_scale
        );
    }
    if l.path == "phone" {
        let _ = writeln!(
            out,
            "phones in service after boot: {} of {} (boot {:.1} s)",
            r.phones_booted, l.phones, r.boot_s
        );
    }
    if r.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: stopped before the schedule ended; the figures cover what ran"
        );
    }
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
        "{:<10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  outcomes",
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
            "{:<10} {:>8} {:>9.1} {p50:>9} {p90:>9} {p99:>9} {p999:>9} {max:>9}  {}",
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
    if r.phases.len() > 1 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:>8} {:>9} {:>9}  outcomes",
            "phase", "step", "count", "p50", "p99"
        );
        for p in &r.phases {
            for (step, s) in &p.steps {
                let cells = [s.latency_us.p50, s.latency_us.p99].map(crate::units::format_us);
                let outcomes: Vec<String> =
                    s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(
                    out,
                    "{:<12} {:<10} {:>8} {:>9} {:>9}  {}",
                    p.name,
                    step.name(),
                    s.count,
                    cells[0],
                    cells[1],
                    outcomes.join(", ")
                );
            }
            if let Some(t) = p.throttled {
                let _ = writeln!(out, "{:<12} {:<10} {:>8}", p.name, "throttled", t);
            }
        }
    }
    let _ = writeln!(out);
    if r.mismatches.is_empty() {
        let _ = writeln!(out, "mismatches: none");
    } else {
        let _ = writeln!(out, "mismatches:");
        for m in &r.mismatches {
            let _ = writeln!(
                out,
                "  {:<10} expected {:<13} got {:<22} {} times",
                m.step.name(),
                m.expected,
                m.actual,
                m.count
            );
        }
    }
    if !r.diagnoses.is_empty() {
        let _ = writeln!(
            out,
            "diagnoses (symptom: likely cause, from the seeds' troubleshooting tables):"
        );
        for d in &r.diagnoses {
            let rehearsed = if d.rehearsed { " [rehearsed]" } else { "" };
            let _ = writeln!(out, "  {:<7} {}{rehearsed}", d.requirement, d.line());
        }
    }
    for p in &r.phases {
        if let Some(cause) = p.rehearsing {
            let _ = writeln!(
                out,
                "phase {} rehearsed {cause}: {} answers showed its symptom (expected there, not mismatches)",
                p.name, p.rehearsed
            );
        }
    }
    for problem in &r.rehearsal_problems {
        let _ = writeln!(out, "rehearsal FAILED: {problem}");
    }
    for t in &r.thresholds {
        let verdict = if t.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "threshold {verdict}  {}  (observed {:.3})",
            t.rule, t.observed
        );
    }
    let verdict = match (r.passed, r.interrupted) {
        (_, true) => "INTERRUPTED",
        (true, _) => "PASS",
        (false, _) => "FAIL",
    };
    let _ = writeln!(out, "result: {verdict}");
    out
}
