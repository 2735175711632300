//! Running a measured process tree: wall time, and `wait4` rusage (user and system CPU of the process
//! and every descendant it waited for; `ru_maxrss` is the peak RSS of the largest of them).

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Makes the process `cmd` starts receive SIGTERM when this one dies, even if it is killed: the
/// servers the bench starts (sshd, moto) never outlive it.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// CPU and memory of a finished process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    pub max_rss_kib: u64,
}

impl Usage {
    /// Usage of several process trees one after another: CPU adds up, memory is the largest peak.
    pub fn combine(self, other: Self) -> Self {
        Self {
            user: self.user + other.user,
            sys: self.sys + other.sys,
            max_rss_kib: self.max_rss_kib.max(other.max_rss_kib),
        }
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub usage: Usage,
    pub wall: Duration,
    pub timed_out: bool,
}

/// Spawns `cmd` in a process group of its own and reaps it with `wait4`. After `timeout` the whole
/// group is killed, so a hung tool ends as a failed run instead of hanging the benchmark.
pub fn run_measured(cmd: &mut Command, timeout: Option<Duration>) -> Result<Finished> {
    if timeout.is_some() {
        cmd.process_group(0);
    }
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = timeout.map(|timeout| {
        thread::spawn(move || {
            let expired = matches!(
                finished.recv_timeout(timeout),
                Err(RecvTimeoutError::Timeout)
            );
            if expired {
                // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            expired
        })
    });
    let reaped = wait4(pid);
    let wall = start.elapsed();
    drop(done);
    let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
    let (status, usage) = reaped?;
    Ok(Finished {
        status,
        usage,
        wall,
        timed_out,
    })
}

fn wait4(pid: libc::pid_t) -> Result<(ExitStatus, Usage)> {
    let mut status = 0;
    // SAFETY: rusage is a plain C struct of integers, for which all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers refer to live locals that wait4 may write for the call's duration.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err).with_context(|| format!("wait4 for pid {pid}"));
        }
    }
    let time = |tv: libc::timeval| {
        Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
    };
    Ok((
        ExitStatus::from_raw(status),
        Usage {
            user: time(usage.ru_utime),
            sys: time(usage.ru_stime),
            // Linux reports ru_maxrss in KiB.
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        },
    ))
}

/// The first argument that selects the local trampoline: `xtask measure STATS PROGRAM ARGS…`.
pub const MEASURE: &str = "measure";
/// The first argument that selects the sshd `ForceCommand`: `xtask remote-wrap STATS`.
pub const REMOTE_WRAP: &str = "remote-wrap";

/// The local trampoline: runs `PROGRAM ARGS…` and appends its rusage (and wall time) to `STATS`.
///
/// Tools are not measured as direct children of the bench: a forked child starts with its parent's
/// resident set as its peak RSS (`ru_maxrss` keeps the high-water mark of the image `exec` replaced),
/// so every figure would include the bench's own memory. This small process forks them instead.
pub fn measure_main(args: &[OsString]) -> Result<ExitCode> {
    let [stats, program, rest @ ..] = args else {
        anyhow::bail!("usage: xtask {MEASURE} STATS PROGRAM [ARGS…]");
    };
    let finished = run_measured(Command::new(program).args(rest), None)?;
    record(Path::new(stats), &finished)
}

/// The sshd `ForceCommand`: runs `$SSH_ORIGINAL_COMMAND` as sshd would, then appends one line of
/// rusage to `STATS`, so the remote side of every tool is measured the same way as the local one.
pub fn remote_wrap_main(args: &[OsString]) -> Result<ExitCode> {
    let [stats] = args else {
        anyhow::bail!("usage: xtask {REMOTE_WRAP} STATS");
    };
    let command = std::env::var_os("SSH_ORIGINAL_COMMAND")
        .context("the benchmark sshd serves commands only; no SSH_ORIGINAL_COMMAND was given")?;
    let finished = run_measured(Command::new("/bin/sh").arg("-c").arg(command), None)?;
    record(Path::new(stats), &finished)
}

/// Appends `wall user sys maxrss` (µs, µs, µs, KiB) to `stats` and passes the exit status on.
fn record(stats: &Path, finished: &Finished) -> Result<ExitCode> {
    let line = format!(
        "{} {} {} {}\n",
        finished.wall.as_micros(),
        finished.usage.user.as_micros(),
        finished.usage.sys.as_micros(),
        finished.usage.max_rss_kib
    );
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(stats)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .with_context(|| format!("appending to {}", stats.display()))?;
    let code = match (finished.status.code(), finished.status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// One line the trampolines appended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub wall: Duration,
    pub usage: Usage,
}

/// Sums the lines the trampolines appended (one per process tree: the local tool, or each remote
/// command of a run): CPU adds up, peak RSS and wall are the largest.
pub fn parse_stats(text: &str) -> Result<Option<Measured>> {
    let mut total: Option<Measured> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("stats line {line:?}"))?;
        let [wall, user, sys, rss] = fields[..] else {
            anyhow::bail!("stats line {line:?}: expected four numbers");
        };
        let one = Measured {
            wall: Duration::from_micros(wall),
            usage: Usage {
                user: Duration::from_micros(user),
                sys: Duration::from_micros(sys),
                max_rss_kib: rss,
            },
        };
        total = Some(total.map_or(one, |t| Measured {
            wall: t.wall.max(one.wall),
            usage: t.usage.combine(one.usage),
        }));
    }
    Ok(total)
}

/// Reads and removes a stats file; `None` if no trampoline wrote one.
pub fn take_stats(path: &Path) -> Result<Option<Measured>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    parse_stats(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_whole_tree_and_its_exit() {
        // A forked subshell holds a 32 MiB string; the shell that is our direct child stays small, so
        // the peak can only come from the descendant.
        let mut cmd = Command::new("/bin/sh");
        cmd.args([
            "-c",
            "(x=$(head -c 33554432 /dev/zero | tr '\\0' a); echo ${#x} >/dev/null); exit 3",
        ]);
        let finished = run_measured(&mut cmd, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(finished.status.code(), Some(3));
        assert!(!finished.timed_out);
        assert!(
            finished.usage.max_rss_kib >= 32 * 1024,
            "{:?}",
            finished.usage
        );
        assert!(finished.usage.user + finished.usage.sys > Duration::ZERO);
    }

    #[test]
    fn a_hung_command_is_killed_at_the_timeout() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "sleep 30"]);
        let finished = run_measured(&mut cmd, Some(Duration::from_millis(200))).unwrap();
        assert!(finished.timed_out);
        assert_eq!(finished.status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn stats_add_cpu_and_keep_the_largest_peak() {
        let total = parse_stats("9 1000 500 2048\n\n7 3000 0 1024\n")
            .unwrap()
            .unwrap();
        assert_eq!(total.wall, Duration::from_micros(9));
        assert_eq!(total.usage.user, Duration::from_millis(4));
        assert_eq!(total.usage.sys, Duration::from_micros(500));
        assert_eq!(total.usage.max_rss_kib, 2048);
        assert_eq!(parse_stats("").unwrap(), None);
        assert!(parse_stats("1 2 3\n").is_err());
    }

    #[test]
    fn the_trampoline_records_its_child_and_passes_the_exit_code_on() {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats");
        let mut args = vec![stats.clone().into_os_string()];
        args.extend(["/bin/sh", "-c", "exit 7"].map(OsString::from));
        assert_eq!(measure_main(&args).unwrap(), ExitCode::from(7));
        let measured = take_stats(&stats).unwrap().unwrap();
        assert!(measured.wall > Duration::ZERO);
        assert!(!stats.exists());
        assert_eq!(take_stats(&stats).unwrap(), None);
    }
}
