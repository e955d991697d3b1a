//! What a conformance run says: a console summary, JUnit XML (one
//! testcase per case, classname = requirement group), JSON, and an HTML
//! page with one section per requirement group.

use crate::case::{CaseResult, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Serialize)]
pub struct ConformReport<'a> {
    pub emlab_version: &'static str,
    pub target: String,
    pub profile: &'static str,
    pub strict: bool,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub seconds: f64,
    pub results: &'a [CaseResult],
    /// Requirement IDs no case covers, with the reason.
    pub not_covered: Vec<NotCovered>,
    /// `--insecure`: TLS certificates were not checked.
    pub tls_insecure: bool,
    /// What preflight found (runs against a `--target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<&'a emlab_simulator::preflight::Preflight>,
}

#[derive(Serialize)]
pub struct NotCovered {
    pub id: &'static str,
    pub reason: &'static str,
}

impl ConformReport<'_> {
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

pub fn json(r: &ConformReport<'_>) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

pub fn count(results: &[CaseResult]) -> (usize, usize, usize) {
    let n = |name: &str| results.iter().filter(|r| r.verdict.name() == name).count();
    (n("passed"), n("failed"), n("skipped"))
}

pub fn console(r: &ConformReport<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "emlab conform against {} (profile {})",
        r.target, r.profile
    );
    if r.tls_insecure {
        let _ = writeln!(
            out,
            "WARNING: --insecure: TLS certificates were not checked"
        );
    }
    for c in r.results {
        let mark = match &c.verdict {
            Verdict::Passed => "PASS",
            Verdict::Failed { .. } => "FAIL",
            Verdict::Skipped { .. } => "SKIP",
        };
        let _ = writeln!(out, "  {mark}  {:<44} {}", c.id, c.description);
        match &c.verdict {
            Verdict::Failed { expected, observed } => {
                let _ = writeln!(
                    out,
                    "        expected {expected}\n        observed {observed}"
                );
            }
            Verdict::Skipped { reason } => {
                let _ = writeln!(out, "        {reason}");
            }
            Verdict::Passed => {}
        }
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped in {:.1} s; {} requirement IDs without a case (see --list)",
        r.passed,
        r.failed,
        r.skipped,
        r.seconds,
        r.not_covered.len()
    );
    let _ = writeln!(out, "result: {}", if r.ok() { "PASS" } else { "FAIL" });
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML as CI systems read it: one `<testcase>` per case,
/// `classname` the requirement group, `<failure>` or `<skipped>`.
pub fn junit(r: &ConformReport<'_>) -> String {
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        // Jenkins' junit-10.xsd: `errors` on both levels, `skipped` only on
        // the suite. A case that cannot run is skipped, never an error.
        r#"<testsuites name="emlab conform" tests="{}" failures="{}" errors="0" time="{:.3}">"#,
        r.results.len(),
        r.failed,
        r.seconds
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="emlab conform ({})" tests="{}" failures="{}" errors="0" skipped="{}" time="{:.3}">"#,
        r.profile,
        r.results.len(),
        r.failed,
        r.skipped,
        r.seconds
    );
    for c in r.results {
        let _ = write!(
            x,
            r#"    <testcase classname="{}" name="{}" time="{:.3}">"#,
            c.group,
            esc(c.id),
            c.seconds
        );
        match &c.verdict {
            Verdict::Passed => {}
            Verdict::Failed { expected, observed } => {
                let _ = write!(
                    x,
                    "\n      <failure message=\"{}\">expected {}\nobserved {}\n\n{}</failure>\n    ",
                    esc(&format!("expected {expected}, observed {observed}")),
                    esc(expected),
                    esc(observed),
                    esc(&c.transcript.join("\n"))
                );
            }
            Verdict::Skipped { reason } => {
                let _ = write!(x, "\n      <skipped message=\"{}\"/>\n    ", esc(reason));
            }
        }
        let _ = writeln!(x, "</testcase>");
    }
    let _ = writeln!(x, "  </testsuite>\n</testsuites>");
    x
}

pub fn html(r: &ConformReport<'_>) -> String {
    let mut h = String::new();
    let verdict = if r.ok() { "PASS" } else { "FAIL" };
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>emlab conform: {verdict}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}th{{background:#f4f4f4}}
.passed{{color:#1a7f37;font-weight:bold}}.failed{{color:#c62828;font-weight:bold}}.skipped{{color:#8a6d00;font-weight:bold}}
pre{{white-space:pre-wrap;font-size:12px;background:#f8f8f8;padding:6px;margin:4px 0}}</style></head><body>
<h1>emlab conform: <span class="{cls}">{verdict}</span></h1>
<p>Target <code>{target}</code>, profile <code>{profile}</code>{strict}{insecure}. {p} passed, {f} failed, {s} skipped in {t:.1} s.</p>
"#,
        cls = if r.ok() { "passed" } else { "failed" },
        target = esc(&r.target),
        profile = r.profile,
        strict = if r.strict { ", strict" } else { "" },
        insecure = if r.tls_insecure {
            r#" <strong class="failed">--insecure: TLS certificates were not checked</strong>"#
        } else {
            ""
        },
        p = r.passed,
        f = r.failed,
        s = r.skipped,
        t = r.seconds
    );
    if let Some(pre) = r.preflight {
        h.push_str(&pre.html());
    }
    let mut groups: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for c in r.results {
        groups.entry(c.group).or_default().push(c);
    }
    for (group, cases) in groups {
        let _ = write!(
            h,
            "<h2>{group}</h2><table><tr><th>case</th><th>covers</th><th>verdict</th><th>details</th></tr>"
        );
        for c in cases {
            let details = match &c.verdict {
                Verdict::Passed => esc(c.description),
                Verdict::Failed { expected, observed } => format!(
                    "{}<br>expected <code>{}</code><br>observed <code>{}</code><pre>{}</pre>",
                    esc(c.description),
                    esc(expected),
                    esc(observed),
                    esc(&c.transcript.join("\n"))
                ),
                Verdict::Skipped { reason } => format!("{}<br>{}", esc(c.description), esc(reason)),
            };
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"{v}\">{v}</td><td>{details}</td></tr>",
                esc(c.id),
                c.covers.join(", "),
                v = c.verdict.name()
            );
        }
        h.push_str("</table>");
    }
    if !r.not_covered.is_empty() {
        h.push_str("<h2>Requirements without a case</h2><table><tr><th>ID</th><th>why</th></tr>");
        for n in &r.not_covered {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", n.id, esc(n.reason));
        }
        h.push_str("</table>");
    }
    let _ = writeln!(h, "<p>emlab {}</p></body></html>", r.emlab_version);
    h
}
