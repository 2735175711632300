//! `sy-remote`: the agent `sy` starts on the far side of a connection (`sy -e ssh … host:dir`
//! runs `ssh host sy-remote --mkdir dir`). It serves the sy protocol on stdin/stdout for the one
//! directory it is given, logs to stderr, and exits when stdin closes.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use sy_transport::{Local, ServeOptions, serve};

/// Serve one directory to a `sy` client over stdin/stdout (started by `sy`, not by hand).
#[derive(Debug, Parser)]
#[command(name = "sy-remote", version, about)]
struct Args {
    /// The directory to serve; every path the client names is resolved beneath it.
    root: PathBuf,
    /// Create the directory (and missing parents) first, for a destination that is new.
    #[arg(long)]
    mkdir: bool,
    /// Requests worked on at once [default: twice the number of CPUs].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Log more on stderr (-v: info, -vv: debug); `SY_LOG` takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sy-remote: error: {}", causes(&e));
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    init_logging(args.verbose);
    if args.mkdir {
        std::fs::create_dir_all(&args.root)
            .with_context(|| format!("creating {}", args.root.display()))?;
    }
    let root = Local::open(&args.root)?;
    let mut options = ServeOptions::default();
    if let Some(jobs) = args.jobs {
        options.concurrency = jobs.max(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // Raw descriptors rather than `std::io::stdout()`, whose line buffering would cut binary
    // frames at every newline byte into separate writes (and SSH packets).
    let stdin = raw_stdio(std::io::stdin().as_fd()).context("opening stdin")?;
    let stdout = raw_stdio(std::io::stdout().as_fd()).context("opening stdout")?;
    let stats = runtime.block_on(async {
        serve(
            Arc::new(root),
            tokio::fs::File::from_std(stdin),
            tokio::fs::File::from_std(stdout),
            options,
        )
        .await
    });
    // A read of stdin may still be blocked in the pool when the session ended on an error;
    // do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    let stats = stats.with_context(|| format!("serving {}", args.root.display()))?;
    tracing::info!(
        "done: sent {} bytes ({} on the wire), received {} ({} on the wire)",
        stats.sent.logical,
        stats.sent.wire,
        stats.received.logical,
        stats.received.wire
    );
    Ok(())
}

/// `error` and its causes, each shown once ([`sy_transport::describe_error`]).
fn causes(error: &anyhow::Error) -> String {
    sy_transport::describe_error(error.as_ref())
}

/// A file handle of its own for one of the standard streams. A pipe is enlarged so bulk data
/// moves in fewer, larger steps (sockets, terminals and refusals are left as they are).
fn raw_stdio(fd: BorrowedFd<'_>) -> std::io::Result<std::fs::File> {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE);
    Ok(std::fs::File::from(fd.try_clone_to_owned()?))
}

/// Bytes a pipe to or from the client holds.
const PIPE_SIZE: usize = 1 << 20;

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
