//! What the `emlab` binary does, one module per subcommand; `src/main.rs`
//! only parses the command line and calls [`execute`] with one of these.
//!
//! - [`args`]: the arguments of each subcommand (clap);
//! - [`target`]: where the server under test is;
//! - [`serve`]: `emlab serve`;
//! - [`run`]: `emlab run` and `emlab demo`;
//! - [`conform`]: `emlab conform`;
//! - [`check`]: `emlab check`;
//! - [`import`]: `emlab lab import --cme`;
//! - [`merge`]: `emlab merge`, shard reports added up.

pub mod args;
pub mod check;
pub mod conform;
pub mod goose;
pub mod import;
pub mod merge;
pub mod run;
pub mod serve;
pub mod target;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `30s`, `500ms`, `2m` on the command line.
pub fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    emlab_simulator::units::parse_duration(text)
}

/// A failure that ends the command with exit code 2.
pub struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(e: E) -> Self {
        UsageError(e.to_string())
    }
}

/// A file shipped with emlab: beside the working folder, or beside the sources.
pub fn shipped(relative: &str) -> PathBuf {
    let here = PathBuf::from(relative);
    if here.exists() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// Prints to stdout; a closed stdout (`emlab run ... | head`) is not an error.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Runs one subcommand: raises the open-files limit (every phone and every
/// accepted connection is an open file), starts the async runtime with
/// `threads` workers (default: one per core), and turns a [`UsageError`]
/// into one line on stderr and exit code 2.
pub fn execute<F, Fut>(threads: Option<usize>, command: F) -> ExitCode
where
    F: FnOnce(Option<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, UsageError>>,
{
    let open_files = emlab_simulator::limits::raise_open_files();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("emlab: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(command(open_files)) {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("emlab: {msg}");
            ExitCode::from(2)
        }
    }
}
