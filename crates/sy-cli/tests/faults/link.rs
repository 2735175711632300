//! Links that fail: dropped after a seeded number of bytes (`--retry` must finish the run in
//! the same invocation), or stalled (`--timeout` must end it with a clear message).

use std::time::{Duration, Instant};

use super::{Rng, relayed_sy, remote_dst, remote_src};
use crate::util::{Fixture, assert_same_tree, json_events, leftovers, stderr, summary};

/// A tree with two big files and many small ones; returns its size in bytes.
fn tree(f: &Fixture, rng: &mut Rng) -> u64 {
    let mut total = 0;
    for i in 0..2 {
        let len = rng.range(3 << 20, 6 << 20) as usize;
        f.write(format!("src/big{i}"), rng.bytes(len));
        total += len as u64;
    }
    for i in 0..120 {
        let len = rng.range(0, 20_000) as usize;
        f.write(format!("src/small/{}/f{i}", i % 7), rng.bytes(len));
        total += len as u64;
    }
    total
}

#[test]
fn a_link_dropped_midway_is_reconnected_and_the_run_completes() {
    for seed in 1..=4u64 {
        let f = Fixture::new();
        let mut rng = Rng::new(seed);
        let size = tree(&f, &mut rng);
        // Up to two connections drop, each after a seeded share of the bytes; the third holds.
        let first = rng.range(16 << 10, size * 9 / 10);
        let second = rng.range(1 << 10, size / 2);
        let fault = format!("drop:{first},{second}");
        let (src, dst) = if seed % 2 == 0 {
            (f.src_slash(), remote_dst(&f))
        } else {
            (remote_src(&f), f.dst().display().to_string())
        };
        let out = relayed_sy(&f, &fault)
            .args(["--json", "--retry", "3", "--retry-delay", "0.1"])
            .arg(&src)
            .arg(&dst)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let err = stderr(&out);
        let context = format!("seed {seed}, {fault}, {src} -> {dst}: {err}");
        assert_eq!(out.status.code(), Some(0), "{context}");
        let retries: Vec<_> = json_events(&out)
            .into_iter()
            .filter(|e| e["event"] == "retry")
            .collect();
        // The second budget may exceed what was left after the first reconnect.
        let connections: usize = std::fs::read_to_string(f.path("relay-connections"))
            .unwrap()
            .parse()
            .unwrap();
        assert!((2..=3).contains(&connections), "{connections}: {context}");
        assert_eq!(retries.len(), connections - 1, "{context}");
        for (n, retry) in retries.iter().enumerate() {
            assert_eq!(retry["attempt"], n + 2, "{context}");
            assert_eq!(retry["attempts"], 4, "{context}");
        }
        assert!(
            err.contains("retrying in 0.1 s (attempt 2 of 4)"),
            "{context}"
        );
        assert_eq!(summary(&out)["failed"], 0, "{context}");
        assert_same_tree(&f.src(), &f.dst());
        assert!(leftovers(&f.dst()).is_empty(), "{context}");
    }
}

#[test]
fn without_retries_a_dropped_link_fails_the_run_and_leaves_no_torn_file() {
    let f = Fixture::new();
    let mut rng = Rng::new(99);
    tree(&f, &mut rng);
    let out = relayed_sy(&f, "drop:2000000")
        .args(["--retry", "0"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("connection to sy-remote on fakehost:"),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    // Whatever arrived is either complete or not there (or a partial under sy's own name).
    for entry in walk(&f.dst()) {
        let rel = entry.strip_prefix(f.dst()).unwrap();
        if leftovers(&f.dst()).iter().any(|l| l == rel) {
            continue;
        }
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(f.src().join(rel)).unwrap(),
            "{rel:?} is torn"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_stalled_link_ends_with_a_clear_message_within_10_s() {
    let f = Fixture::new();
    let mut rng = Rng::new(5);
    let size = tree(&f, &mut rng);
    let stall = rng.range(1 << 20, size / 2);
    let mut sy = relayed_sy(&f, &format!("stall:{stall}"));
    sy.args(["--timeout", "5", "--retry", "0"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        // The outer bound only stops a hang from blocking the suite; the assertion is below.
        .timeout(Duration::from_secs(60));
    let started = Instant::now();
    let out = sy.output().unwrap();
    let took = started.elapsed();
    eprintln!("a link stalled after {stall} bytes ended after {took:?} (--timeout 5)");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("no data from fakehost:") && err.contains("for 5 s (--timeout)"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
}

#[test]
fn a_stall_counts_as_transient_and_the_retry_completes() {
    let f = Fixture::new();
    let mut rng = Rng::new(6);
    let size = tree(&f, &mut rng);
    let stall = rng.range(1 << 20, size / 2);
    let out = relayed_sy(&f, &format!("stall:{stall}"))
        .args(["--timeout", "3", "--retry", "1", "--retry-delay", "0.1"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("(--timeout); retrying in 0.1 s (attempt 2 of 2)"),
        "{err}"
    );
    assert_same_tree(&f.src(), &f.dst());
}

/// A link that never carries a byte (a host that does not answer): --timeout ends the run too,
/// and a first connection that never got through is not retried.
#[test]
fn a_link_silent_from_the_start_times_out_without_retries() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let mut sy = relayed_sy(&f, "stall:0");
    sy.args(["--timeout", "3", "--retry", "3", "--retry-delay", "0"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .timeout(Duration::from_secs(60));
    let started = Instant::now();
    let out = sy.output().unwrap();
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(30), "{err}");
    assert!(err.contains("for 3 s (--timeout)"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_slow_bwlimit_is_not_taken_for_a_stalled_link() {
    // At 64 KiB/s one full read of the agent's stream (256 KiB) costs 4 s of our own pacing,
    // longer than the timeout: that wait must not count as the agent's silence.
    let cases = [(false, 10u64), (true, 11)];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(push, seed)| {
            std::thread::spawn(move || {
                let f = Fixture::new();
                let data = Rng::new(seed).bytes(640 << 10);
                f.write("src/f", &data);
                let (src, dst) = if push {
                    (f.src_slash(), remote_dst(&f))
                } else {
                    (remote_src(&f), f.dst().display().to_string())
                };
                let out = super::pid_sy(&f, &f.path("agent.pid"))
                    .args(["--bwlimit", "64K", "--timeout", "3", "--retry", "0"])
                    .arg(&src)
                    .arg(&dst)
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                assert_eq!(out.status.code(), Some(0), "push={push}: {err}");
                assert!(
                    std::fs::read(f.path("dst/f")).unwrap() == data,
                    "push={push}"
                );
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
}

/// Ctrl-C while waiting to reconnect: the attempt that broke is counted once (the summary
/// matches what is at the destination), and the lost link is the one error reported.
#[test]
fn a_signal_during_the_retry_wait_counts_the_broken_attempt_once() {
    use std::io::{BufRead, BufReader};
    let f = Fixture::new();
    let mut rng = Rng::new(30);
    for i in 0..30 {
        f.write(format!("src/f{i:02}"), rng.bytes(200_000));
    }
    let mut sy = super::relayed(&f, "drop:3000000")
        .args(["--retry", "2", "--retry-delay", "30", "-j", "2"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sy.stderr.take().unwrap()).lines();
    let mut err = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        err += &line;
        err.push('\n');
        if line.contains("retrying in") {
            break;
        }
    }
    assert!(err.contains("retrying in"), "{err}");
    let started = Instant::now();
    let pid = rustix::process::Pid::from_child(&sy);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    for line in lines {
        err += &line.unwrap();
        err.push('\n');
    }
    let status = sy.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    let arrived = (0..30)
        .filter(|i| {
            std::fs::read(f.path(format!("dst/f{i:02}"))).ok()
                == Some(std::fs::read(f.path(format!("src/f{i:02}"))).unwrap())
        })
        .count();
    assert!(arrived > 0 && arrived < 30, "{arrived}: {err}");
    let counted: usize = err
        .split("stopped by SIGINT: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {err}"));
    // A file whose rename the agent did but whose answer the drop cut off is there uncounted.
    assert!(
        counted <= arrived && arrived <= counted + 1,
        "{counted} counted, {arrived} at the destination: {err}"
    );
    let errors = err.lines().filter(|l| l.starts_with("sy: error")).count();
    assert_eq!(errors, 1, "{err}");
}

/// A session that ended cleanly, followed by a failing remote shell (a noisy logout script):
/// nothing was lost, so nothing is retried, and the shell's status is reported.
#[test]
fn a_failing_shell_after_a_clean_session_is_not_retried() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let rsh = super::fake_ssh(&f, "exit3-rsh", "sh -c \"$*\"\nexit 3");
    let out = f
        .sy()
        .arg("-e")
        .arg(rsh)
        .arg("--remote-path")
        .arg(crate::remote::sy_remote())
        .args(["--retry-delay", "0.1"])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert!(err.contains("exited with exit status: 3"), "{err}");
    assert_eq!(std::fs::read(f.path("dst/a")).unwrap(), b"a");
}
