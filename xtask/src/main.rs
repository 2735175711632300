//! `cargo xtask`: project automation.
//!
//! `cargo xtask bench` measures sy side by side with rsync and with the plain-copy ceilings, locally
//! and over a real OpenSSH server, and gates regressions against an earlier run. See
//! `docs/benchmarks.md`.

mod baseline;
mod bench;
mod digest;
mod generate;
mod relay;
mod report;
mod rng;
mod runner;
mod rusage;
mod scenarios;
mod sshd;
mod tools;
mod workloads;

use std::path::PathBuf;
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
    /// Internal: the benchmark sshd's ForceCommand, which records the rusage of each remote command.
    #[command(hide = true)]
    RemoteWrap {
        /// File to append the rusage line to.
        stats: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Bench(args) => bench::run(*args),
        Task::RemoteWrap { stats } => rusage::remote_wrap(&stats),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e:#}");
        ExitCode::FAILURE
    })
}
