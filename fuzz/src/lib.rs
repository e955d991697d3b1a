//! Fuzzing of every emlab decoder on stable Rust.
//!
//! [`targets::TARGETS`] is the catalogue: EM API bodies (form and XML)
//! through the server's handler, phone-service queries through its router,
//! EM responses and phone pages as the simulator reads them, SCCP frames,
//! SIP messages, TFTP packets, lab and scenario TOML, and CME
//! running-configs. [`mutate::Mutator`] derives inputs from each target's
//! seeds; [`fuzz`] feeds them, catching panics and timing every input.
//!
//! `cargo test` runs a bounded slice (2,000 inputs a target; CI);
//! `cargo bench -p emlab-fuzz [-- INPUTS [SEED]]` runs a million a target
//! and writes each finding's input under `target/fuzz-findings/`.
//!
//! Why not cargo-fuzz: libFuzzer needs nightly. bolero and proptest bring
//! a generator framework and its compile time for what a seeded mutator
//! over valid seeds does here; the mutator repeats from its seed, and on
//! its first runs it found two faults in the CME importer (a panic on a
//! line of only quotes, a repeated credential written as two applications;
//! see the tests in `protocol/src/cme_config.rs`).

pub mod mutate;
pub mod targets;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use targets::Target;

/// An input that took longer than this counts as a hang.
pub const HANG: Duration = Duration::from_secs(1);

/// What one target did with its inputs.
#[derive(Debug)]
pub struct Outcome {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    /// The slowest single input.
    pub slowest: Duration,
    /// Inputs that panicked, broke the target's rule or hung: the first few.
    pub findings: Vec<Finding>,
    /// How many inputs in all were findings.
    pub finding_count: u64,
}

#[derive(Debug)]
pub struct Finding {
    pub kind: &'static str,
    pub input: Vec<u8>,
    pub message: String,
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences the default panic message while fuzzing: a caught panic is a
/// finding, reported with its input, not noise on stderr.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.load(Ordering::Relaxed) {
                default(info)
            }
        }));
    });
}

/// Feeds `inputs` inputs derived from `target`'s seeds (seeded by `seed`).
pub fn fuzz(target: &Target, inputs: u64, seed: u64) -> Outcome {
    quiet_panics();
    let mut mutator = mutate::Mutator::new(seed, (target.seeds)(), target.dictionary);
    let mut outcome = Outcome {
        target: target.name,
        inputs,
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
        findings: Vec::new(),
        finding_count: 0,
    };
    let started = Instant::now();
    // The seeds themselves first: a check that fails on valid input is a bug too.
    let seeds = (target.seeds)();
    for i in 0..inputs {
        let input = match seeds.get(i as usize) {
            Some(seed) => seed.clone(),
            None => mutator.next_input(),
        };
        let one = Instant::now();
        QUIET.store(true, Ordering::Relaxed);
        let result = panic::catch_unwind(AssertUnwindSafe(|| (target.check)(&input)));
        QUIET.store(false, Ordering::Relaxed);
        let took = one.elapsed();
        outcome.slowest = outcome.slowest.max(took);
        let finding = match result {
            Ok(Ok(())) if took <= HANG => None,
            Ok(Ok(())) => Some(("hang", format!("took {took:?}"))),
            Ok(Err(broken)) => Some(("rule", broken)),
            Err(panic) => Some(("panic", panic_message(panic))),
        };
        if let Some((kind, message)) = finding {
            outcome.finding_count += 1;
            if outcome.findings.len() < 5 {
                outcome.findings.push(Finding {
                    kind,
                    input,
                    message,
                });
            }
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_s = self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "{:<14} {:>9} inputs  {:>9.0}/s  slowest {:>8.2?}  findings {}",
            self.target, self.inputs, per_s, self.slowest, self.finding_count
        )?;
        for finding in &self.findings {
            let shown: String = String::from_utf8_lossy(&finding.input)
                .chars()
                .take(300)
                .collect();
            write!(
                f,
                "\n  {}: {}\n  input: {:?}",
                finding.kind, finding.message, shown
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::TARGETS;

    /// The slice CI runs: every target, a few thousand inputs each (debug
    /// build), a fixed seed so a failure repeats.
    #[test]
    fn every_decoder_survives_a_bounded_slice_of_mutated_input() {
        let per_target = std::env::var("EMLAB_FUZZ_INPUTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000);
        let mut failed = Vec::new();
        for target in TARGETS {
            let outcome = fuzz(target, per_target, 0x5eed);
            eprintln!("{outcome}");
            if outcome.finding_count > 0 {
                failed.push(outcome.to_string());
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    /// The runner catches a panic, reports the input, and carries on.
    #[test]
    fn a_decoder_that_panics_is_a_finding_with_its_input() {
        let target = Target {
            name: "planted",
            seeds: || vec![b"abc".to_vec()],
            dictionary: &[],
            check: |input| {
                if input.contains(&0) {
                    panic!("planted: a NUL byte");
                }
                if input.len() > 40 {
                    return Err("too long".into());
                }
                Ok(())
            },
        };
        let outcome = fuzz(&target, 5_000, 1);
        assert_eq!(outcome.inputs, 5_000);
        assert!(outcome.finding_count > 0);
        let panic = outcome
            .findings
            .iter()
            .find(|f| f.kind == "panic")
            .expect("the NUL byte is found");
        assert!(panic.input.contains(&0));
        assert_eq!(panic.message, "planted: a NUL byte");
    }
}
