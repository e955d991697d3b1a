//! What recording costs a step: `Recorder::record` through the same mutex
//! the engine uses (latency and service histograms, the phase's histogram,
//! the one-second interval histogram, the outcome counts), timed over many
//! calls with latencies spread as a real run's are. Run with
//! `cargo bench --bench recording_overhead`; the goal is under 2 µs an
//! operation. Each round also times the same loop without the recorder,
//! side by side, so the figure is the recorder's own.

use emlab_simulator::recorder::{Recorder, Step};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CALLS: u32 = 2_000_000;

/// A latency between 100 µs and about 50 ms, spread like a run's.
fn latency(i: u32) -> Duration {
    let x = i.wrapping_mul(2_654_435_761) % 10_000;
    Duration::from_micros(100 + (x as u64 * x as u64) / 2_000)
}

fn main() {
    let steps = [Step::Login, Step::Logout, Step::Restart, Step::InService];
    for round in 1..=3 {
        let origin = Instant::now();
        let recorder = Mutex::new(Recorder::new(&["boot", "steady"], origin));
        // The engine passes each step's end time; a run advances through
        // one-second windows, so spread the calls over 10 s of them.
        let ends: Vec<Instant> = (0..1000)
            .map(|k| origin + Duration::from_millis(k * 10))
            .collect();
        let start = Instant::now();
        for i in 0..CALLS {
            let d = latency(i);
            let end = ends[(i as usize * 1000) / CALLS as usize];
            recorder.lock().unwrap().record(
                steps[(i % 4) as usize],
                1,
                d,
                d,
                if i % 97 == 0 { "26" } else { "success" },
                "success",
                end,
            );
        }
        let recorded = start.elapsed();
        let start = Instant::now();
        for i in 0..CALLS {
            let d = latency(i);
            black_box((
                steps[(i % 4) as usize],
                d,
                ends[(i as usize * 1000) / CALLS as usize],
            ));
        }
        let baseline = start.elapsed();
        let rec = recorder.into_inner().unwrap();
        assert_eq!(rec.step(Step::Login).count(), u64::from(CALLS / 4));
        let per_op = (recorded.saturating_sub(baseline)).as_secs_f64() * 1e9 / f64::from(CALLS);
        println!(
            "round {round}: {CALLS} records in {:.3} s (loop alone {:.3} s): {per_op:.0} ns per recorded step",
            recorded.as_secs_f64(),
            baseline.as_secs_f64()
        );
    }
}
