//! SIGHUP, SIGINT and SIGTERM in the middle of a file, locally and over the agent: the run
//! stops with its documented code (129, 130, 143), the old version stays, what arrived is kept
//! as a partial (never under the file's name), a line says what completed, and the next run
//! resumes from the partial.

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::{Rng, pid_sy, remote_dst};
use crate::util::{Fixture, bytes_in_temporaries, leftovers, summary};

#[test]
fn a_signal_stops_the_run_keeps_partials_and_says_what_completed() {
    let cases = [
        (Signal::HUP, "SIGHUP", 129, false),
        (Signal::HUP, "SIGHUP", 129, true),
        (Signal::INT, "SIGINT", 130, true),
        (Signal::TERM, "SIGTERM", 143, true),
    ];
    for (n, (signal, name, code, push)) in cases.into_iter().enumerate() {
        let f = Fixture::new();
        let mut rng = Rng::new(n as u64);
        let old = rng.bytes(1000);
        let new = rng.bytes(24 << 20);
        f.write("dst/big", &old);
        f.write("src/big", &new);
        f.write("src/small", "small");
        let mut cmd = pid_sy(&f, &f.path("agent.pid"));
        cmd.args(["--bwlimit", "8M", "-j", "1"]).arg(f.src_slash());
        if push {
            cmd.arg(remote_dst(&f));
        } else {
            cmd.arg(f.dst());
        }
        let mut sy = cmd.stderr(Stdio::piped()).spawn().unwrap();
        // Data, not only the file: what the run wrote is what it keeps as a partial.
        let deadline = Instant::now() + Duration::from_secs(60);
        while bytes_in_temporaries(&f.dst()) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            sy.try_wait().unwrap().is_none(),
            "sy ended before the signal"
        );
        rustix::process::kill_process(rustix::process::Pid::from_child(&sy), signal).unwrap();
        let out = sy.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let context = format!("{name} push={push}: {err}");
        assert_eq!(out.status.code(), Some(code), "{context}");
        assert!(err.contains(&format!("stopped by {name}")), "{context}");
        assert!(err.contains("files written"), "{context}");
        assert!(fs::read(f.path("dst/big")).unwrap() == old, "{context}");
        let left = leftovers(&f.dst());
        assert!(
            left.iter()
                .all(|l| l.to_string_lossy().ends_with(".sy-partial")),
            "{context}: {left:?}"
        );
        let partial = fs::metadata(f.path(format!("dst/{}", crate::util::partial_of("big"))))
            .map_or(0, |m| m.len());
        assert!(partial > 0, "{context}: no partial kept");

        let mut rerun = pid_sy(&f, &f.path("agent.pid"));
        rerun.arg("--json").arg(f.src_slash());
        if push {
            rerun.arg(remote_dst(&f));
        } else {
            rerun.arg(f.dst());
        }
        let out = rerun.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{context}");
        assert!(fs::read(f.path("dst/big")).unwrap() == new, "{context}");
        assert!(leftovers(&f.dst()).is_empty(), "{context}");
        let matched = summary(&out)["bytes_matched"].as_u64().unwrap();
        assert!(
            matched + (256 << 10) >= partial,
            "{context}: {matched} of {partial} reused"
        );
    }
}

#[test]
fn signals_the_parent_ignored_stay_ignored() {
    use std::os::unix::process::CommandExt;
    let f = Fixture::new();
    let new = Rng::new(7).bytes(6 << 20);
    f.write("src/big", &new);
    fs::create_dir_all(f.dst()).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    cmd.current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .args(["--bwlimit", "8M"])
        .arg(f.src_slash())
        .arg(f.dst())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // As `nohup` and a shell's background job leave them.
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let sy = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftovers(&f.dst()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = rustix::process::Pid::from_child(&sy);
    rustix::process::kill_process(pid, Signal::HUP).unwrap();
    rustix::process::kill_process(pid, Signal::INT).unwrap();
    let out = sy.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(fs::read(f.path("dst/big")).unwrap() == new);
    assert!(leftovers(&f.dst()).is_empty());
}
