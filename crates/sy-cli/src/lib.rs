//! The library half of the `sy` command: `sy SRC... DST` makes DST a copy of SRC.
//!
//! The flow is `args` (clap) → [`Config`] (validated) → scan both sides → [`plan`] (compare)
//! → [`execute`] (bounded parallel workers over a pair of [`sy_transport::Transport`]s) →
//! [`report`]. [`run`] ties them together and returns the process [`Exit`] code.
//!
//! ```
//! let src = tempfile::tempdir()?;
//! let dst = tempfile::tempdir()?;
//! std::fs::write(src.path().join("a.txt"), "hello")?;
//! let exit = sy_cli::run([
//!     "sy".into(),
//!     format!("{}/", src.path().display()).into(),
//!     dst.path().as_os_str().to_owned(),
//! ])?;
//! assert_eq!(exit, sy_cli::Exit::Ok);
//! assert_eq!(std::fs::read(dst.path().join("a.txt"))?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod args;
pub mod bwlimit;
pub mod config;
pub mod execute;
pub mod exit;
mod man;
pub mod observer;
pub mod plan;
pub mod progress;
pub mod remote;
pub mod remote_transport;
pub mod report;
pub mod retry;
pub mod settings;
pub mod ssh;
mod totals;
mod transfer;
mod verify;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::CommandFactory;
use sy_transport::{Cancel, Local};
use tracing::Level;

pub use config::Config;
pub use exit::Exit;
pub use man::man_page;

use crate::bwlimit::{Pacing, Throttle};
use crate::config::UsageError;
use crate::execute::{Totals, Unverified, sync_job};
use crate::observer::{Forward, Observer};
use crate::remote::Connection;
use crate::report::Reporter;
use crate::retry::{Attempt, with_reconnects};

/// Runs `sy` with these arguments (the first is the program name).
pub fn run(argv: impl IntoIterator<Item = OsString>) -> Result<Exit> {
    let parsed = match args::parse(argv) {
        Ok(parsed) => parsed,
        Err(e) => {
            let exit = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok
                }
                _ => Exit::Usage,
            };
            e.print()?;
            return Ok(exit);
        }
    };
    let log_level = if parsed.args.quiet {
        Level::ERROR
    } else {
        match parsed.args.verbose {
            0 => Level::WARN,
            1 => Level::INFO,
            2 => Level::DEBUG,
            _ => Level::TRACE,
        }
    };
    if let Err(e) = init_logging(log_level, parsed.args.log_file.as_deref()) {
        eprintln!("sy: error: {}", causes(&e));
        return Ok(Exit::Usage);
    }
    if let Some(command) = &parsed.args.command {
        return subcommand(command, &parsed.args);
    }
    let config = match Config::from_args(parsed) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sy: error: {}", causes(&e));
            return Ok(if e.is::<UsageError>() {
                Exit::Usage
            } else {
                Exit::Fatal
            });
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(config.sync.jobs * 2 + 4)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run_config(config))
}

/// `sy config show` and `sy completions`.
fn subcommand(command: &args::Command, parsed: &args::Args) -> Result<Exit> {
    let mut stdout = io::stdout().lock();
    match command {
        args::Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut args::Args::command(), "sy", &mut stdout);
        }
        args::Command::Config {
            action: args::ConfigAction::Show { host },
        } => {
            let resolved =
                settings::ConfigFile::load(parsed.config_file.as_deref()).and_then(|file| {
                    let effective = file.resolve(
                        &config::flag_layer(parsed)?,
                        parsed.profile.as_deref(),
                        host.as_deref(),
                    )?;
                    Ok((file, effective))
                });
            let (file, effective) = match resolved {
                Ok(resolved) => resolved,
                Err(e) => {
                    eprintln!("sy: error: {}", causes(&e));
                    return Ok(Exit::Usage);
                }
            };
            let source = match &file.path {
                Some(path) => format!("# config file: {}\n", path.display()),
                None => match settings::default_path() {
                    Some(path) => format!("# no config file ({} does not exist)\n", path.display()),
                    None => "# no config file\n".to_owned(),
                },
            };
            write!(stdout, "{source}{}", effective.show()).context("writing to stdout")?;
        }
    }
    stdout.flush().context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// Tracing to stderr at `level` (warnings by default, errors with `-q`, more with `-v`) and,
/// with `--log-file`, to that file at `level` or info, whichever says more. `RUST_LOG`
/// overrides both.
fn init_logging(level: Level, log_file: Option<&std::path::Path>) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};

    let filter = |level: Level| {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(level.as_str().to_ascii_lowercase()))
    };
    let to_stderr = fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .without_time()
        .with_filter(filter(level));
    let to_file = match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            Some(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .with_filter(filter(level.max(Level::INFO))),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(to_stderr)
        .with(to_file)
        .try_init();
    Ok(())
}

const NOT_SIGNALLED: u8 = 0;
const SIGINT: u8 = 1;
const SIGTERM: u8 = 2;
const SIGHUP: u8 = 3;

/// Stops the run at the next safe point on Ctrl-C, SIGTERM or SIGHUP (the terminal went away);
/// records which one came. A signal the parent set to be ignored stays ignored: `nohup sy …`
/// must outlive the terminal, and a shell starts background jobs with SIGINT ignored.
fn watch_signals(cancel: Cancel) -> Arc<AtomicU8> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    fn listen(kind: SignalKind) -> Option<Signal> {
        if inherited_ignored(kind.as_raw_value()) {
            return None;
        }
        signal(kind).ok()
    }
    async fn arrival(handler: &mut Option<Signal>) {
        match handler.as_mut() {
            Some(handler) => {
                handler.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let signalled = Arc::new(AtomicU8::new(NOT_SIGNALLED));
    let seen = Arc::clone(&signalled);
    // Installed before the work starts, so an early signal is not lost.
    let mut int = listen(SignalKind::interrupt());
    let mut term = listen(SignalKind::terminate());
    let mut hup = listen(SignalKind::hangup());
    tokio::spawn(async move {
        let which = tokio::select! {
            () = arrival(&mut int) => SIGINT,
            () = arrival(&mut term) => SIGTERM,
            () = arrival(&mut hup) => SIGHUP,
        };
        seen.store(which, Ordering::SeqCst);
        cancel.cancel();
    });
    signalled
}

/// True when `signal`'s disposition is `SIG_IGN` (as `nohup` or `trap '' HUP` leave it);
/// installing a handler would undo that.
fn inherited_ignored(signal: libc::c_int) -> bool {
    // SAFETY: `sigaction` is plain old data, for which all zeroes is a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current disposition into `current`, a valid,
    // writable `sigaction`.
    let status = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
    status == 0 && current.sa_sigaction == libc::SIG_IGN
}

async fn run_config(config: Config) -> Result<Exit> {
    let reporter = Arc::new(Reporter::new(config.output, config.sync.dry_run));
    let throttle = config.bwlimit.map(Throttle::new);
    let cancel = Cancel::default();
    let signalled = watch_signals(cancel.clone());
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut fatal = false;
    for job in &config.jobs {
        if cancel.is_cancelled() {
            break;
        }
        if job.same {
            reporter.warning(&format!(
                "source {} and destination are the same directory; nothing to do",
                job.shown
            ));
            continue;
        }
        match run_job(job, &config, &reporter, throttle.as_ref(), &cancel).await {
            Ok(t) => totals.add(&t),
            Err(e) => {
                reporter.failed(None, &causes(&e));
                fatal = true;
            }
        }
    }
    let exit = match signalled.load(Ordering::SeqCst) {
        SIGINT => Exit::Interrupted,
        SIGTERM => Exit::Terminated,
        SIGHUP => Exit::HungUp,
        _ if fatal => Exit::Fatal,
        _ if totals.failed > 0 => Exit::Partial,
        _ => Exit::Ok,
    };
    if matches!(exit, Exit::Interrupted | Exit::Terminated | Exit::HungUp) {
        reporter.stopped(&totals, exit);
    }
    if let Err(e) = reporter
        .finish(&totals, started.elapsed(), exit)
        .context("writing to stdout")
    {
        // `sy --json … | head`: the reader left early, which is no reason to hide the outcome.
        if !is_broken_pipe(&e) {
            return Err(e);
        }
    }
    Ok(exit)
}

async fn run_job(
    job: &config::Job,
    config: &Config,
    reporter: &Arc<Reporter>,
    throttle: Option<&Throttle>,
    cancel: &Cancel,
) -> Result<Totals> {
    tracing::info!(
        "syncing {} to {}",
        job.shown,
        job.dst
            .remote
            .as_ref()
            .map_or_else(|| job.dst.root.display().to_string(), |spec| spec.shown())
    );
    let observer = Arc::clone(reporter);
    let make_dst = !config.sync.dry_run;
    match (&job.src.remote, &job.dst.remote) {
        (None, None) => {
            if make_dst {
                create_local_dir(&job.dst.root)?;
            }
            let src = Arc::new(Local::open(&job.src.root)?);
            let dst = Arc::new(Local::open(&job.dst.root)?);
            match throttle {
                Some(throttle) => {
                    let paced = Arc::new(Forward {
                        next: observer,
                        intercept: Pacing(throttle.clone()),
                    });
                    sync_job(
                        src,
                        dst,
                        job,
                        &config.sync,
                        paced,
                        &Unverified::default(),
                        cancel,
                    )
                    .await
                }
                None => {
                    let unverified = &Unverified::default();
                    sync_job(src, dst, job, &config.sync, observer, unverified, cancel).await
                }
            }
        }
        (Some(spec), None) => {
            if make_dst {
                create_local_dir(&job.dst.root)?;
            }
            let dst = &Arc::new(Local::open(&job.dst.root)?);
            let root = &remote_root(&job.src);
            let unverified = &Unverified::default();
            with_reconnects(&config.retry, reporter, cancel, |observer| async move {
                let connection =
                    Connection::start(&config.shell, spec, root, false, throttle, cancel).await?;
                let src = Arc::new(connection.transport.clone());
                let synced = sync_job(
                    src,
                    Arc::clone(dst),
                    job,
                    &config.sync,
                    observer,
                    unverified,
                    cancel,
                )
                .await;
                Ok(finish_attempt(connection, synced).await)
            })
            .await
        }
        (None, Some(spec)) => {
            let src = &Arc::new(Local::open(&job.src.root)?);
            let root = &remote_root(&job.dst);
            let unverified = &Unverified::default();
            with_reconnects(&config.retry, reporter, cancel, |observer| async move {
                let connection =
                    Connection::start(&config.shell, spec, root, make_dst, throttle, cancel)
                        .await?;
                let dst = Arc::new(connection.transport.clone());
                let synced = sync_job(
                    Arc::clone(src),
                    dst,
                    job,
                    &config.sync,
                    observer,
                    unverified,
                    cancel,
                )
                .await;
                Ok(finish_attempt(connection, synced).await)
            })
            .await
        }
        (Some(_), Some(_)) => anyhow::bail!("copying between two remote hosts is not supported"),
    }
}

fn create_local_dir(root: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(root)
        .with_context(|| format!("creating destination {}", root.display()))
}

/// The agent's root as the remote shell gets it (remote paths were checked to be UTF-8).
fn remote_root(end: &config::Endpoint) -> String {
    end.root.to_string_lossy().into_owned()
}

/// Closes the connection after an attempt at a job and says how both ended
/// ([`retry::with_reconnects`] decides whether that was the last attempt).
async fn finish_attempt(mut connection: Connection, synced: Result<Totals>) -> Attempt {
    let closed = connection.finish().await;
    let traffic = connection.transport.traffic();
    Attempt {
        synced,
        closed,
        established: connection.transport.established(),
        link_lost: connection.transport.link_lost(),
        traffic: execute::Traffic {
            sent: traffic.sent.logical,
            wire_sent: traffic.sent.wire,
            received: traffic.received.logical,
            wire_received: traffic.received.wire,
        },
    }
}

/// `error` and its causes, outermost first, each shown once ([`sy_transport::describe_error`]).
pub fn causes(error: &anyhow::Error) -> String {
    sy_transport::describe_error(error.as_ref())
}

/// True when `error` is a closed output pipe (`sy … | head`): not worth a message.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
