//! `cargo xtask`: project automation.
//!
//! `cargo xtask bench` measures sy side by side with rsync and with the plain-copy ceilings, locally
//! and over a real OpenSSH server, and gates regressions against an earlier run. See
//! `docs/benchmarks.md`.

mod baseline;
mod bench;
mod digest;
mod generate;
mod goals;
mod man;
mod relay;
mod report;
mod rng;
mod runner;
mod rusage;
mod s3server;
mod scenarios;
mod sshd;
mod tools;
mod workloads;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "sy project automation"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Benchmark sy against rsync and the plain-copy ceilings (see docs/benchmarks.md).
    Bench(Box<bench::BenchArgs>),
    /// Regenerate docs/sy.1 from sy's command-line definition.
    Man,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The measuring trampolines are dispatched before clap so that the process a tool is forked
    // from stays as small as possible (its resident set is the floor of the tool's peak RSS).
    let result = match args.get(1).and_then(|a| a.to_str()) {
        Some(rusage::MEASURE) => rusage::measure_main(&args[2..]),
        Some(rusage::REMOTE_WRAP) => rusage::remote_wrap_main(&args[2..]),
        _ => match Cli::parse_from(args).task {
            Task::Bench(args) => bench::run(*args),
            Task::Man => man::run(),
        },
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e:#}");
        ExitCode::FAILURE
    })
}
