//! The live progress line: once a second on standard error, only when it
//! is a terminal (CI logs and pipes stay clean). It shows cycles started
//! and done, the login rate and p99 so far, mismatches, and on the phone
//! path how many phones are in each state.

use crate::phone::{PhoneState, StateCounts};
use crate::recorder::{Recorder, Step};
use crate::storm::Progress;
use crate::units::format_us;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One line of progress.
pub fn line(
    elapsed: Duration,
    progress: &Progress,
    recorder: &Mutex<Recorder>,
    states: Option<&StateCounts>,
) -> String {
    let (logins, p99, mismatches) = {
        let rec = recorder.lock().unwrap_or_else(|p| p.into_inner());
        let login = rec.step(Step::Login);
        (
            login.count(),
            login.latency.value_at_quantile(0.99),
            rec.mismatch_count(),
        )
    };
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut text = format!(
        "[{secs:6.1}s] cycles {} started, {} done | login {logins} ({:.0}/s) p99 {} | mismatches {mismatches}",
        progress.started.load(Ordering::Relaxed),
        progress.finished.load(Ordering::Relaxed),
        logins as f64 / secs,
        if logins > 0 {
            format_us(p99)
        } else {
            "-".into()
        },
    );
    if let Some(s) = states {
        let busy: Vec<String> = PhoneState::ALL
            .iter()
            .filter(|&&st| s.get(st) > 0)
            .map(|&st| format!("{} {}", st.name(), s.get(st)))
            .collect();
        text.push_str(" | phones ");
        text.push_str(&busy.join(", "));
    }
    text
}

/// Prints the line every second until the returned handle is aborted.
pub fn spawn(
    progress: Arc<Progress>,
    recorder: Arc<Mutex<Recorder>>,
    states: Option<Arc<StateCounts>>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let start = Instant::now();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let text = line(start.elapsed(), &progress, &recorder, states.as_deref());
            // A line wider than the terminal would wrap, and `\r` would
            // then rewrite only its last row.
            let text = fit(&text, terminal_width().unwrap_or(usize::MAX));
            let mut err = std::io::stderr().lock();
            // \r and clear-to-end: one line that rewrites itself.
            let _ = write!(err, "\r{text}\x1b[K");
            let _ = err.flush();
        }
    }))
}

/// `text` cut to leave the terminal's last column free (where the cursor waits).
pub fn fit(text: &str, width: usize) -> String {
    text.chars().take(width.saturating_sub(1)).collect()
}

/// The width of the terminal on standard error, in columns.
fn terminal_width() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
        // points at a zeroed local of that type; on a non-terminal it fails.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
        if r == 0 && size.ws_col > 0 {
            return Some(size.ws_col as usize);
        }
    }
    std::env::var("COLUMNS").ok()?.parse().ok()
}

/// Ends the progress line so what follows starts on a fresh line.
pub fn finish(handle: Option<tokio::task::JoinHandle<()>>) {
    if let Some(h) = handle {
        h.abort();
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_long_line_fits_an_80_column_terminal() {
        let long = "[  12.0s] cycles 120000 started, 119990 done | login 119990 (9999/s) p99 1.2ms | mismatches 0 | phones idle 9000, logging in 1000";
        assert_eq!(fit(long, 80).chars().count(), 79);
        assert_eq!(fit("short", 80), "short");
        assert_eq!(fit("µs µs", 3), "µs");
    }
}
