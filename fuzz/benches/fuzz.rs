//! `cargo bench -p emlab-fuzz [-- INPUTS [SEED]]`: INPUTS (default
//! 1,000,000) inputs for every target, then the totals. Each finding's
//! input is written under target/fuzz-findings/. Exits 1 on any finding.

use emlab_fuzz::{fuzz, targets::TARGETS};
use std::time::Instant;

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let mut numbers = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse::<u64>());
    let inputs = numbers.next().and_then(Result::ok).unwrap_or(1_000_000);
    let seed = numbers.next().and_then(Result::ok).unwrap_or(0x5eed);
    let started = Instant::now();
    let (mut total, mut findings) = (0, 0);
    for target in TARGETS {
        let outcome = fuzz(target, inputs, seed);
        println!("{outcome}");
        // Each finding's whole input, to replay: target/fuzz-findings/TARGET-N.
        for (i, finding) in outcome.findings.iter().enumerate() {
            let dir = std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/fuzz-findings"
            ));
            let path = dir.join(format!("{}-{i}", outcome.target));
            if std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, &finding.input))
                .is_ok()
            {
                println!("  written to {}", path.display());
            }
        }
        total += outcome.inputs;
        findings += outcome.finding_count;
    }
    let elapsed = started.elapsed();
    println!(
        "total: {total} inputs in {:.1} s ({:.0}/s), {findings} findings, seed {seed:#x}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    if findings > 0 {
        std::process::exit(1);
    }
}
