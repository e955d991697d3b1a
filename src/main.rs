//! The `emlab` binary: it parses the command line and hands each
//! subcommand to the `emlab-cli` crate, which does the work
//! (`cli/src/`, one module per subcommand).

use clap::{Parser, Subcommand};
use emlab_cli::args::{
    CheckArgs, ConformOptions, DemoArgs, GooseArgs, RunArgs, ServeArgs, TargetArgs,
};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "emlab",
    version,
    about = "Extension Mobility lab: reference server, virtual-phone fleet, reports"
)]
struct Cli {
    /// Worker threads of the async runtime (default: one per core). A
    /// fleet on the machine that also runs its server leaves that server a
    /// core with `--threads 1`, as wrk does with `-t1`.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the reference EM server from a lab file.
    Serve(ServeArgs),
    /// Run a scenario: a fleet of virtual phones against a server.
    Run(RunArgs),
    /// Run a scenario's EM API path as a goose attack, with goose's reports
    /// beside emlab's: `emlab goose SCENARIO [--target URL] [GOOSE OPTIONS]`.
    Goose(GooseArgs),
    /// A lab demo: the reference server, a small mixed fleet at human pace,
    /// the interesting cases played on front-desk phones, and the live page.
    Demo(DemoArgs),
    /// Lab files: `emlab lab import --cme running-config.txt --out lab.toml`.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Preflight a target: reach every interface, TLS, the application's
    /// credentials, and a sample of the lab's devices and users; exit 2 if
    /// a run against it would be meaningless.
    Check(CheckArgs),
    /// Add up the report folders of a run's shards (`emlab run --shard K/N`)
    /// into OUT, exactly: histograms added, counts summed, thresholds re-evaluated.
    Merge {
        /// Where the merged report goes.
        out: PathBuf,
        /// Every shard's report folder.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    /// Run the conformance catalogue against a server; exit 0 only if every case passed.
    Conform {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        options: ConformOptions,
    },
}

#[derive(Subcommand)]
enum LabCommand {
    /// Write a `profile = "cme"` lab from a Cisco Unified CME running-config
    /// (PROTOCOL.md §8); lists what it ignored and the button layouts.
    Import {
        /// The running-config (`show running-config`, or a pasted CLI session).
        #[arg(long, value_name = "FILE")]
        cme: PathBuf,
        /// Where to write the lab (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let Cli { threads, command } = Cli::parse();
    emlab_cli::execute(threads.map(usize::from), |open_files| async move {
        match command {
            Command::Serve(args) => emlab_cli::serve::serve_command(args, open_files).await,
            Command::Run(args) => emlab_cli::run::run_command(args).await,
            Command::Goose(args) => emlab_cli::goose::goose_command(args).await,
            Command::Demo(args) => emlab_cli::run::demo_command(args).await,
            Command::Lab {
                command: LabCommand::Import { cme, out },
            } => emlab_cli::import::import_cme(&cme, out.as_deref()),
            Command::Check(args) => emlab_cli::check::check_command(args).await,
            Command::Merge { out, shards } => emlab_cli::merge::merge_command(&out, &shards),
            Command::Conform { target, options } => {
                emlab_cli::conform::conform_command(target, options).await
            }
        }
    })
}
