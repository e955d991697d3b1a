//! `report.html`: one self-contained page (no scripts, no CDN) with the
//! summary tables and an inline SVG latency-by-percentile plot.

use super::RunReport;
use crate::recorder::{Recorder, Step};
use crate::units::format_us;
use std::fmt::Write;

const COLORS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// Text as HTML (the reports' one escaper).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(r: &RunReport, rec: &Recorder) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>emlab {name}: {verdict}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}
.pass{{color:#1a7f37;font-weight:bold}}.fail{{color:#c62828;font-weight:bold}}.note{{color:#666}}
.legend{{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0}}.legend i{{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:5px}}
svg{{max-width:100%;height:auto}}body{{max-width:1200px}}</style></head><body>
<h1>emlab run <code>{name}</code>: <span class="{cls}">{verdict}</span></h1>
<p>{desc}</p>
<p>Target <code>{target}</code>{embedded}{insecure}. Started {started}; {cycles} cycles in {elapsed:.2} s{interrupted}.
{model} model, {path} path, {phones} phones, hold {hold:.0} ms{scale}. Late starts: {late}.</p>
"#,
        name = esc(&r.scenario),
        cls = verdict.to_lowercase(),
        desc = esc(&r.description),
        target = esc(&r.target),
        embedded = if r.embedded_server {
            " (embedded reference server)"
        } else {
            ""
        },
        insecure = if r.tls_insecure {
            r#" <strong class="fail">--insecure: TLS certificates were not checked</strong>"#
        } else {
            ""
        },
        started = r.started_at,
        cycles = r.cycles,
        elapsed = r.elapsed_s,
        model = if r.load.model == "closed" {
            "Closed"
        } else {
            "Open"
        },
        path = r.load.path,
        interrupted = if r.interrupted {
            " (INTERRUPTED by the operator)"
        } else {
            ""
        },
        scale = if r.load.time_scale != 1.0 {
            format!(", time compressed ×{}", r.load.time_scale)
        } else {
            String::new()
        },
        phones = r.load.phones,
        hold = r.load.hold_ms,
        late = r.late_starts,
    );
    if let Some(pre) = &r.preflight {
        h.push_str(&pre.html());
    }
    h.push_str("<h2>Latency</h2><table><tr><th>step</th><th>count</th><th>rate/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th><th>outcomes</th></tr>");
    for (step, s) in &r.steps {
        let name = step.name();
        let cells: String = s
            .latency_cells()
            .iter()
            .map(|c| format!("<td>{c}</td>"))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{name}</td><td>{}</td><td>{:.1}</td>{cells}<td>{}</td><td>{}</td></tr>",
            s.count,
            s.rate_per_s,
            format_us(s.latency_us.mean as u64),
            esc(&s.outcomes_text())
        );
    }
    h.push_str("</table><p class=\"note\">Latency runs from each step's intended start (its place in the arrival schedule) to the end of the response body, so queueing is never hidden.</p>");
    h.push_str(&percentile_plot(rec));
    h.push_str(&over_time(rec));
    if r.phases.len() > 1 {
        h.push_str("<h2>Phases</h2><table><tr><th>phase</th><th>step</th><th>count</th><th>p50</th><th>p99</th><th>max</th><th>outcomes</th></tr>");
        for p in &r.phases {
            for (step, s) in &p.steps {
                let outcomes: Vec<String> =
                    s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&p.name),
                    step.name(),
                    s.count,
                    format_us(s.latency_us.p50),
                    format_us(s.latency_us.p99),
                    format_us(s.latency_us.max),
                    esc(&outcomes.join(", "))
                );
            }
            if let Some(t) = p.throttled {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>throttled (server)</td><td>{t}</td><td></td><td></td><td></td><td></td></tr>",
                    esc(&p.name)
                );
            }
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Expectations</h2>");
    if r.mismatches.is_empty() {
        h.push_str("<p class=\"pass\">Every answer matched its expectation.</p>");
    } else {
        h.push_str("<table><tr><th>step</th><th>expected</th><th>got</th><th>count</th></tr>");
        for m in &r.mismatches {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.step.name(),
                esc(&m.expected),
                esc(&m.actual),
                m.count
            );
        }
        h.push_str("</table>");
    }
    if !r.diagnoses.is_empty() {
        h.push_str("<h2>Diagnoses</h2><p>Symptoms seen, each with the likely cause from the seeds' troubleshooting tables.</p>");
        h.push_str("<table><tr><th>requirement</th><th>symptom</th><th>likely cause</th><th>rehearsed</th></tr>");
        for d in &r.diagnoses {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                d.requirement,
                esc(&d.symptom),
                esc(d.likely_cause),
                if d.rehearsed { "yes" } else { "no" }
            );
        }
        h.push_str("</table>");
    }
    for p in &r.phases {
        if let Some(cause) = p.rehearsing {
            let _ = write!(
                h,
                "<p>Phase <b>{}</b> rehearsed <code>{cause}</code>: {} answers showed its symptom (expected there, not mismatches).</p>",
                esc(&p.name),
                p.rehearsed
            );
        }
    }
    for problem in &r.rehearsal_problems {
        let _ = write!(
            h,
            "<p class=\"fail\">Rehearsal failed: {}</p>",
            esc(problem)
        );
    }
    if !r.thresholds.is_empty() {
        h.push_str(
            "<h2>Thresholds</h2><table><tr><th>rule</th><th>observed</th><th>verdict</th></tr>",
        );
        for t in &r.thresholds {
            let (cls, v) = if t.passed {
                ("pass", "PASS")
            } else {
                ("fail", "FAIL")
            };
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{:.3}</td><td class=\"{cls}\">{v}</td></tr>",
                esc(&t.rule),
                t.observed
            );
        }
        h.push_str("</table>");
    }
    let _ = writeln!(
        h,
        "<p class=\"note\">emlab {}; histograms are in report.json (HdrHistogram V2, base64); one-second intervals in latency.hlog.</p></body></html>",
        r.emlab_version
    );
    h
}

/// Latency (log scale) against percentile, with the x axis stretched as
/// 1/(1-q) so the tail (99%, 99.9%, 99.99%) gets room, as HdrHistogram's
/// plotter does.
fn percentile_plot(rec: &Recorder) -> String {
    const W: f64 = 760.0;
    const H: f64 = 360.0;
    const L: f64 = 70.0;
    const R: f64 = 30.0;
    const T: f64 = 20.0;
    const B: f64 = 50.0;
    const X_DECADES: f64 = 5.0; // up to 99.999%
    let series: Vec<(Step, Vec<(f64, f64)>)> = Step::ALL
        .into_iter()
        .filter(|&s| !rec.step(s).latency.is_empty())
        .map(|s| {
            let hist = &rec.step(s).latency;
            let pts = hist
                .iter_quantiles(4)
                .map(|v| {
                    let q = v.quantile_iterated_to().min(0.99999);
                    (
                        (1.0 / (1.0 - q)).log10(),
                        (v.value_iterated_to().max(1)) as f64,
                    )
                })
                .collect();
            (s, pts)
        })
        .collect();
    if series.is_empty() {
        return String::new();
    }
    let (mut lo, mut hi) = (f64::MAX, 1.0f64);
    for (_, pts) in &series {
        for &(_, y) in pts {
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    let (ylo, yhi) = (
        lo.log10().floor(),
        (hi.log10().ceil()).max(lo.log10().floor() + 1.0),
    );
    let px = |x: f64| L + x / X_DECADES * (W - L - R);
    let py = |y: f64| T + (yhi - y.log10()) / (yhi - ylo) * (H - T - B);
    let names: Vec<(&str, &str)> = series
        .iter()
        .enumerate()
        .map(|(i, (step, _))| (step.name(), COLORS[i % COLORS.len()]))
        .collect();
    let mut s = format!("<h2>Latency by percentile</h2>{}", legend(&names));
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-size=\"12\">"
    );
    let _ = write!(
        s,
        "<rect x=\"{L}\" y=\"{T}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        W - L - R,
        H - T - B
    );
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = px(i as f64);
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{T}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            H - B,
            H - B + 16.0
        );
    }
    let mut d = ylo;
    while d <= yhi {
        let y = py(10f64.powf(d));
        let _ = write!(
            s,
            "<line x1=\"{L}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - R,
            L - 6.0,
            y + 4.0,
            format_us(10f64.powf(d) as u64)
        );
        d += 1.0;
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile</text>",
        (L + W - R) / 2.0,
        H - 8.0
    );
    let _ = write!(
        s,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">latency</text>",
        (T + H - B) / 2.0,
        (T + H - B) / 2.0
    );
    for (i, (_, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    s.push_str("</svg>");
    s
}

/// A chart's legend, above the plot so that it never covers a curve.
fn legend(series: &[(&str, &str)]) -> String {
    let items: String = series
        .iter()
        .map(|(name, color)| {
            format!(
                "<span><i style=\"background:{color}\"></i>{}</span>",
                esc(name)
            )
        })
        .collect();
    format!("<div class=\"legend\">{items}</div>")
}

/// A time chart: `(name, [(second, value)])` series on linear axes, the
/// y axis labelled by `label_y`.
fn time_chart(
    title: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    label_y: impl Fn(f64) -> String,
) -> String {
    const W: f64 = 760.0;
    const H: f64 = 220.0;
    const L: f64 = 70.0;
    const R: f64 = 30.0;
    const T: f64 = 10.0;
    const B: f64 = 36.0;
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x1, mut y1) = (1.0f64, 1.0f64);
    for &(x, y) in points {
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let px = |x: f64| L + x / x1 * (W - L - R);
    let py = |y: f64| T + (1.0 - y / y1) * (H - T - B);
    let names: Vec<(&str, &str)> = series
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, COLORS[i % COLORS.len()]))
        .collect();
    let mut s = format!("<h3>{}</h3>{}", esc(title), legend(&names));
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-size=\"12\"><rect x=\"{L}\" y=\"{T}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        W - L - R,
        H - T - B
    );
    for k in 0..=4 {
        let v = y1 * k as f64 / 4.0;
        let y = py(v);
        let _ = write!(
            s,
            "<line x1=\"{L}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - R,
            L - 6.0,
            y + 4.0,
            esc(&label_y(v))
        );
        let x = L + (W - L - R) * k as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0} s</text>",
            H - B + 16.0,
            x1 * k as f64 / 4.0
        );
    }
    for (i, (_, pts)) in series.iter().enumerate() {
        let line: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            COLORS[i % COLORS.len()],
            line.join(" ")
        );
    }
    s.push_str("</svg>");
    s
}

/// The run second by second: cycles arriving against cycles finishing, and
/// each step's p50, p90 and p99, from the run's one-second interval
/// histograms (the same series the live dashboard draws).
fn over_time(rec: &Recorder) -> String {
    let mut h = String::new();
    if rec.cycles_per_second.iter().any(|&(a, c)| a + c > 0) {
        let arrivals = rec
            .cycles_per_second
            .iter()
            .enumerate()
            .map(|(i, &(a, _))| (i as f64, a as f64))
            .collect();
        let completions = rec
            .cycles_per_second
            .iter()
            .enumerate()
            .map(|(i, &(_, c))| (i as f64, c as f64))
            .collect();
        h.push_str(&time_chart(
            "Cycles per second",
            &[("arrivals", arrivals), ("completions", completions)],
            |v| format!("{v:.0}"),
        ));
    }
    for step in [Step::Login, Step::Logout, Step::InService] {
        let points: Vec<&crate::recorder::Interval> =
            rec.intervals.iter().filter(|i| i.step == step).collect();
        if points.is_empty() {
            continue;
        }
        let series = |k: usize| -> Vec<(f64, f64)> {
            points
                .iter()
                .map(|i| (i.start_s, i.percentiles[k] as f64))
                .collect()
        };
        h.push_str(&time_chart(
            &format!("{} latency per second", step.name()),
            &[("p50", series(0)), ("p90", series(1)), ("p99", series(2))],
            |v| format_us(v as u64),
        ));
    }
    if h.is_empty() {
        return h;
    }
    format!("<h2>Over time</h2>{h}")
}
