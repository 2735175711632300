//! `sy-remote`: the agent `sy` starts on the far side of a connection (`sy -e ssh … host:dir`
//! runs `ssh host sy-remote --mkdir -- dir`). It serves the sy protocol on stdin/stdout for the
//! one directory it is given, logs to stderr, and exits when stdin closes.
//!
//! This crate is the program's body, [`main`]; the `sy-remote` binary itself is built by the
//! `sy-cli` package, beside `sy`, so that one `cargo install --path crates/sy-cli` installs
//! both — and `sy` finds the agent it copies to a host that lacks one.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     sy_remote::main()
//! }
//! ```
//!
//! Every path the client names is resolved beneath that directory without following a
//! symbolic link out of it — for writes, and for reads too: with `-L` a link is followed only
//! while it stays beneath the directory, so a client cannot plant `x -> /etc/shadow` and read
//! it through the agent.
//!
//! # Restricted keys
//!
//! Like rsync's `rrsync`, `sy-remote --restrict ROOT` confines a key in `authorized_keys` to
//! one tree:
//!
//! ```text
//! command="/usr/local/bin/sy-remote --restrict /srv/backup",restrict ssh-ed25519 AAAA… backup@laptop
//! ```
//!
//! sshd then runs that command whatever the client asked, and leaves the client's command
//! (`sy-remote [--mkdir] -- 'dir'`) in `SSH_ORIGINAL_COMMAND`; the agent takes only the
//! directory and `--mkdir` from it (nothing that loosens the restriction) and:
//!
//! - resolves the directory beneath ROOT: a relative one (and `~`, `~/dir`) relative to ROOT,
//!   an absolute one only if it starts with ROOT, `..` refused; a symbolic link on the way is
//!   followed only while it stays beneath ROOT, and `--mkdir` creates directories beneath ROOT
//!   only;
//! - follows no symbolic link out of that directory for any read or write;
//! - creates no symbolic link whose target is absolute or climbs above that directory with
//!   `..` (rsync's `--safe-links` rule, judged by the target's words; such a link is refused
//!   with an error, not skipped);
//! - with `--read-only`, refuses every write (and `--mkdir`); with `--write-only`, refuses every
//!   read of file contents, while still giving a push what rsync's receiver gives the sender
//!   under `rrsync -wo`: the listing of the destination, block signatures of the files to
//!   update and their digests for `--checksum`.
//!
//! Without `SSH_ORIGINAL_COMMAND` (not run by sshd as a forced command) the directory comes
//! from the arguments, as without `--restrict`.
#![deny(missing_docs)]

mod error;
mod forced;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sy_transport::{Access, Local, ServeOptions, serve};

use crate::error::AgentError;

/// Serve one directory to a `sy` client over stdin/stdout (started by `sy`, or by sshd as an
/// `authorized_keys` forced command with `--restrict`).
#[derive(Debug, Parser)]
#[command(name = "sy-remote", version, about)]
struct Args {
    #[command(flatten)]
    request: Request,
    /// Serve only beneath ROOT (for an `authorized_keys` forced command, like rsync's rrsync):
    /// the directory comes from the client's command in SSH_ORIGINAL_COMMAND and is resolved
    /// beneath ROOT; no symbolic link leads out of it and none pointing out is created.
    #[arg(long, value_name = "ROOT")]
    restrict: Option<PathBuf>,
    /// With --restrict: serve reads only; every write is refused.
    #[arg(long, requires = "restrict", conflicts_with = "write_only")]
    read_only: bool,
    /// With --restrict: accept writes only; reading file contents is refused.
    #[arg(long, requires = "restrict")]
    write_only: bool,
}

/// What the client asks for: the arguments `sy` passes (on the command line, or in
/// `SSH_ORIGINAL_COMMAND` under a forced command).
#[derive(Debug, Parser)]
#[command(name = "sy-remote")]
struct Request {
    /// The directory to serve; every path the client names is resolved beneath it.
    root: Option<PathBuf>,
    /// Create the directory (and missing parents) first, for a destination that is new.
    #[arg(long)]
    mkdir: bool,
    /// Requests worked on at once, at most the default [default: twice the number of CPUs].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Log more on stderr (-v: info, -vv: debug); `SY_LOG` takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Runs the agent with the process's arguments and standard streams, and returns its exit
/// status: success when the client said goodbye, 2 (with the error on stderr) otherwise.
pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sy-remote: error: {}", sy_transport::describe_error(&e));
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), AgentError> {
    let args = Args::parse();
    init_logging(args.request.verbose);
    let access = if args.read_only {
        Access::ReadOnly
    } else if args.write_only {
        Access::WriteOnly
    } else {
        Access::ReadWrite
    };
    let request = match (&args.restrict, std::env::var_os("SSH_ORIGINAL_COMMAND")) {
        (Some(top), Some(original)) => {
            if args.request.root.is_some() || args.request.jobs.is_some() {
                return Err(AgentError::Request(format!(
                    "a forced command takes its directory and --jobs from the client's command: \
                     name the directory to allow as --restrict {} instead",
                    top.display()
                )));
            }
            forced::client_request(&original)?
        }
        _ => args.request,
    };
    let Some(requested) = request.root else {
        return Err(AgentError::Request(
            "no directory to serve: sy names one (sy-remote [--mkdir] -- DIR)".to_owned(),
        ));
    };
    let root = match &args.restrict {
        Some(top) => {
            if request.mkdir && access == Access::ReadOnly {
                return Err(AgentError::Request(format!(
                    "creating {} refused: this agent only sends files (--read-only)",
                    requested.display()
                )));
            }
            Local::open_within(top, &requested, request.mkdir).map_err(|source| {
                AgentError::Open {
                    shown: format!("{} (restricted to {})", requested.display(), top.display()),
                    source,
                }
            })?
        }
        None => {
            if request.mkdir {
                std::fs::create_dir_all(&requested).map_err(|source| AgentError::Create {
                    path: requested.clone(),
                    source,
                })?;
            }
            Local::open_confined(&requested).map_err(|source| AgentError::Open {
                shown: requested.display().to_string(),
                source,
            })?
        }
    };
    let shown = root.root_path().display().to_string();
    let mut options = ServeOptions {
        access,
        confine_new_links: args.restrict.is_some(),
        ..ServeOptions::default()
    };
    if let Some(jobs) = request.jobs {
        // Under --restrict the client names this: never more than the default, so what a
        // client makes the agent hold at once (each delta read a signature of up to 64 MiB)
        // stays what the machine's size allows.
        options.concurrency = jobs.clamp(1, options.concurrency);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| AgentError::Setup {
            what: "starting the runtime",
            source,
        })?;
    // Raw descriptors rather than `std::io::stdout()`, whose line buffering would cut binary
    // frames at every newline byte into separate writes (and SSH packets).
    let stdin = raw_stdio(std::io::stdin().as_fd()).map_err(|source| AgentError::Setup {
        what: "opening stdin",
        source,
    })?;
    let stdout = raw_stdio(std::io::stdout().as_fd()).map_err(|source| AgentError::Setup {
        what: "opening stdout",
        source,
    })?;
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
    let stats = stats.map_err(|source| AgentError::Serve { shown, source })?;
    tracing::info!(
        "done: sent {} bytes ({} on the wire), received {} ({} on the wire)",
        stats.sent.logical,
        stats.sent.wire,
        stats.received.logical,
        stats.received.wire
    );
    Ok(())
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
