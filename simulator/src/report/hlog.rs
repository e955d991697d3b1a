//! `latency.hlog`: one-second interval histograms in HdrHistogram's
//! interval-log format, one line per step and second, tagged with the step
//! (`Tag=login,...`). Values are microseconds; `Interval_Max` is in
//! milliseconds (the `MaxValueDivisor` header says so), so the Java
//! `HistogramLogProcessor` and HdrHistogram's plotters read it as it is.

use crate::recorder::Recorder;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn render(rec: &Recorder, started_at: SystemTime) -> String {
    let epoch = started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = String::with_capacity(256 + rec.intervals.len() * 200);
    let _ = writeln!(
        out,
        "#emlab interval log: one histogram per step per second, values in microseconds"
    );
    let _ = writeln!(
        out,
        "#[StartTime: {epoch:.3} (seconds since epoch), {}]",
        super::rfc3339(started_at)
    );
    let _ = writeln!(out, "#[BaseTime: {epoch:.3} (seconds since epoch)]");
    let _ = writeln!(out, "#[MaxValueDivisor: 1000.000]");
    let _ = writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    );
    for i in &rec.intervals {
        let _ = writeln!(
            out,
            "Tag={},{:.3},{:.3},{:.3},{}",
            i.step.name(),
            i.start_s,
            i.length_s,
            i.max_us as f64 / 1000.0,
            i.histogram
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Step;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use std::time::{Duration, Instant};

    /// The file parses with hdrhistogram's own interval-log reader, one
    /// entry per step and second, and the histograms hold what was recorded.
    #[test]
    fn the_interval_log_reads_back_with_hdrhistogram() {
        let origin = Instant::now();
        let mut rec = Recorder::new(&["run"], origin);
        for (second, us) in [(0u64, 300u64), (0, 500), (1, 900), (2, 1200)] {
            let end = origin + Duration::from_millis(second * 1000 + 10);
            let d = Duration::from_micros(us);
            rec.record(Step::Login, 0, d, d, "success", "success", end);
        }
        rec.record(
            Step::Logout,
            0,
            Duration::from_micros(50),
            Duration::from_micros(50),
            "success",
            "success",
            origin + Duration::from_millis(2500),
        );
        rec.finish();
        let text = render(&rec, SystemTime::now());
        let mut entries = Vec::new();
        for e in IntervalLogIterator::new(text.as_bytes()) {
            if let Ok(LogEntry::Interval(h)) = e {
                let raw = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    h.encoded_histogram(),
                )
                .unwrap();
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .unwrap();
                entries.push((
                    h.tag().map(|t| t.as_str().to_string()),
                    h.start_timestamp().as_secs_f64(),
                    hist.len(),
                    hist.max(),
                ));
            }
        }
        assert_eq!(entries.len(), 4, "{text}");
        assert_eq!(entries[0].0.as_deref(), Some("login"));
        assert_eq!((entries[0].1, entries[0].2), (0.0, 2));
        assert!(entries[0].3 >= 500 && entries[0].3 < 501);
        assert_eq!((entries[2].1, entries[2].2), (2.0, 1));
        assert_eq!(entries[3].0.as_deref(), Some("logout"));
    }
}
