//! `kill -9` of `sy`, and separately of `sy-remote`, at seeded random moments of a sync (pushes
//! and pulls in turn) of a tree with a few large files and many small ones. After each kill every destination file is
//! its old or its new version, sy's leftovers carry sy's names, and a rerun completes while
//! sending at most 10% more than what was left to do.
//!
//! `SY_FAULT_KILLS=N` sets the kill moments per kind (50 by default); the counts are printed
//! (`cargo test faults::kills -- --nocapture` shows them).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{Rng, pid_sy, remote_dst, remote_src};
use crate::util::{Fixture, json_events, leftovers};

/// Kill moments per kind when `SY_FAULT_KILLS` is not set: the 50 that issue 8 asks for (about
/// two minutes for both kinds on two cores); a lower `SY_FAULT_KILLS` makes a quick local run.
const CI_KILLS: u64 = 50;
const LARGE_FILES: usize = 3;
const SMALL_FILES: usize = 300;
/// What a rerun may send beyond the content left to write: requests, file headers, digests.
const PROTOCOL_ALLOWANCE: u64 = 64 << 10;
const PER_FILE_ALLOWANCE: u64 = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Victim {
    Sy,
    Agent,
}

/// What a campaign saw.
#[derive(Default, Debug)]
struct Counts {
    kills: u64,
    finished_first: u64,
    files_checked: u64,
    torn: u64,
    leftovers_seen: u64,
    left: u64,
    resent: u64,
}

type Tree = BTreeMap<String, Vec<u8>>;

fn kills_per_kind() -> u64 {
    std::env::var("SY_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_KILLS)
}

/// New content for every large file and half of the small ones (fresh bytes, so only a kept
/// partial can spare the rerun from sending them).
fn mutate(f: &Fixture, rng: &mut Rng, tree: &mut Tree, first: bool) {
    for i in 0..LARGE_FILES {
        let len = rng.range(8 << 20, 16 << 20) as usize;
        tree.insert(format!("large/l{i}"), rng.bytes(len));
    }
    for i in 0..SMALL_FILES {
        if first || rng.next().is_multiple_of(2) {
            let len = rng.range(0, 32 << 10) as usize;
            tree.insert(format!("small/{}/s{i}", i % 10), rng.bytes(len));
        }
    }
    for (name, content) in tree.iter() {
        f.write(Path::new("src").join(name), content);
    }
}

/// Every regular file beneath `dir`, by relative path.
fn files(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = Tree::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// The file a leftover belongs to: `.NAME.CHECK.sy-partial` and `.NAME.sy-tmp.HEX` are NAME's.
fn leftover_owner(rel: &str) -> Option<String> {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((dir, name)) => (format!("{dir}/"), name),
        None => (String::new(), rel),
    };
    let name = name.strip_prefix('.')?;
    let owner = match name.strip_suffix(".sy-partial") {
        Some(marked) => marked.rsplit_once('.')?.0,
        None => {
            let (owner, hex) = name.rsplit_once(".sy-tmp.")?;
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            owner
        }
    };
    Some(format!("{dir}{owner}"))
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn alive(pid: i32) -> bool {
    // A killed process that nobody reaps stays as a zombie: that is gone too.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn agent_pid(pidfile: &Path, deadline: Instant) -> Option<i32> {
    loop {
        if let Some(pid) = fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Some(pid);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts `sy --retry 0 --json` pushing src/ to the agent's dst/, or pulling the agent's src/
/// into dst/.
fn spawn_sync(f: &Fixture, pidfile: &Path, pull: bool) -> Child {
    let _ = fs::remove_file(pidfile);
    let mut cmd = pid_sy(f, pidfile);
    cmd.args(["--retry", "0", "--json"]);
    if pull {
        cmd.arg(remote_src(f)).arg(f.dst());
    } else {
        cmd.arg(f.src_slash()).arg(remote_dst(f));
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Counts the lines `stdout` delivers; the receiver gets each new count.
fn count_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut n = 0;
        for _ in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            n += 1;
            if tx.send(n).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs to the end; returns the wire bytes that went towards the destination and the number of
/// JSON events.
fn complete_sync(f: &Fixture, pidfile: &Path, pull: bool, context: &str) -> (u64, u64) {
    let out = spawn_sync(f, pidfile, pull).wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{context}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events = json_events(&out);
    let count = events.len() as u64;
    let summary = events.pop().unwrap();
    let towards_destination = if pull {
        "wire_bytes_received"
    } else {
        "wire_bytes_sent"
    };
    (summary[towards_destination].as_u64().unwrap(), count)
}

fn campaign(victim: Victim, seed: u64) -> Counts {
    let f = Fixture::new();
    let pidfile = f.path("agent.pid");
    let mut rng = Rng::new(seed);
    let mut tree = Tree::new();
    mutate(&f, &mut rng, &mut tree, true);
    let (_, events) = complete_sync(&f, &pidfile, false, "the first full sync");
    let mut counts = Counts::default();
    for round in 0..kills_per_kind() {
        // Pushes and pulls alternate: the agent writes in one, sy itself in the other.
        let pull = round % 2 == 1;
        let context = format!("{victim:?} seed {seed} round {round} pull={pull}");
        let old = tree.clone();
        mutate(&f, &mut rng, &mut tree, false);
        // The moment: after a seeded number of the run's events (files starting and ending),
        // plus a seeded pause, so kills land in every phase and inside large files.
        let after_events = rng.range(0, events);
        let pause = Duration::from_millis(rng.range(0, 300));
        let mut sy = spawn_sync(&f, &pidfile, pull);
        let deadline = Instant::now() + Duration::from_secs(60);
        let pid = agent_pid(&pidfile, deadline).expect("the agent never started");
        let seen = count_lines(sy.stdout.take().unwrap());
        while seen
            .recv_timeout(Duration::from_secs(60))
            .is_ok_and(|n| n < after_events)
        {}
        std::thread::sleep(pause);
        if sy.try_wait().unwrap().is_some() {
            counts.finished_first += 1;
        } else {
            counts.kills += 1;
            match victim {
                Victim::Sy => sy.kill().unwrap(),
                Victim::Agent => {
                    let pid = rustix::process::Pid::from_raw(pid).unwrap();
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let _ = sy.wait_with_output().unwrap();
        // The agent of a killed sy sees its input end and stops on its own.
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!alive(pid), "{context}: the agent outlived sy");

        // Every file is its old or its new version; anything else is sy's, by name.
        let now = files(&f.dst());
        let mut resumable: BTreeMap<&str, usize> = BTreeMap::new();
        let mut torn = Vec::new();
        for (name, content) in &now {
            if let Some(new) = tree.get(name) {
                counts.files_checked += 1;
                if content != new && old.get(name) != Some(content) {
                    torn.push(name.clone());
                }
                continue;
            }
            let owner = leftover_owner(name)
                .unwrap_or_else(|| panic!("{context}: {name} is neither a file nor sy's"));
            let new = tree
                .get(&owner)
                .unwrap_or_else(|| panic!("{context}: leftover {name} of no file"));
            counts.leftovers_seen += 1;
            let usable = resumable
                .entry(tree.get_key_value(&owner).unwrap().0)
                .or_default();
            *usable = (*usable).max(common_prefix(content, new));
        }
        counts.torn += torn.len() as u64;
        assert!(
            torn.is_empty(),
            "{context}: neither old nor new version: {torn:?}"
        );
        let left: u64 = tree
            .iter()
            .filter(|(name, content)| now.get(*name) != Some(content))
            .map(|(name, content)| {
                (content.len() - resumable.get(name.as_str()).copied().unwrap_or(0)) as u64
            })
            .sum();
        let unfinished = tree.iter().filter(|(n, c)| now.get(*n) != Some(*c)).count() as u64;

        let (sent, _) = complete_sync(&f, &pidfile, pull, &context);
        assert_eq!(
            files(&f.dst()),
            tree,
            "{context}: the rerun left a different tree"
        );
        assert!(
            leftovers(&f.dst()).is_empty(),
            "{context}: {:?}",
            leftovers(&f.dst())
        );
        let allowed = left + left / 10 + PROTOCOL_ALLOWANCE + PER_FILE_ALLOWANCE * unfinished;
        assert!(
            sent <= allowed,
            "{context}: the rerun sent {sent} bytes for {left} left ({unfinished} files)"
        );
        counts.left += left;
        counts.resent += sent;
    }
    counts
}

fn report(victim: Victim, counts: &Counts) {
    eprintln!(
        "kill -9 of {victim:?}: {} kills ({} runs finished before their moment), {} files \
         checked, {} torn, {} leftovers seen; reruns sent {} bytes for {} left ({:.3}x)",
        counts.kills,
        counts.finished_first,
        counts.files_checked,
        counts.torn,
        counts.leftovers_seen,
        counts.resent,
        counts.left,
        counts.resent as f64 / counts.left.max(1) as f64,
    );
}

#[test]
fn kill_9_of_sy_at_random_moments_never_tears_a_file() {
    let counts = campaign(Victim::Sy, 0x5EED_0001);
    report(Victim::Sy, &counts);
    assert_eq!(counts.torn, 0);
    assert!(counts.kills >= kills_per_kind() / 2, "{counts:?}");
}

#[test]
fn kill_9_of_the_agent_at_random_moments_never_tears_a_file() {
    let counts = campaign(Victim::Agent, 0x5EED_0002);
    report(Victim::Agent, &counts);
    assert_eq!(counts.torn, 0);
    assert!(counts.kills >= kills_per_kind() / 2, "{counts:?}");
}

/// With `--retry`, the death of the agent is a lost connection like any other: sy reconnects,
/// and the file in flight resumes from what the killed agent had written.
#[test]
fn an_agent_killed_mid_file_is_replaced_and_the_file_resumes_in_the_same_run() {
    let f = Fixture::new();
    let mut rng = Rng::new(77);
    let big = rng.bytes(24 << 20);
    f.write("src/big", &big);
    f.write("src/small", "small");
    let pidfile = f.path("agent.pid");
    let mut sy = pid_sy(&f, &pidfile)
        .args([
            "--retry",
            "2",
            "--retry-delay",
            "0.1",
            "--bwlimit",
            "8M",
            "--json",
        ])
        .arg(f.src_slash())
        .arg(remote_dst(&f))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let landed = || {
        fs::read_dir(f.dst())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".big.sy-tmp."))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0)
    };
    while landed() < 4 << 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(sy.try_wait().unwrap().is_none(), "sy ended before the kill");
    let pid = agent_pid(&pidfile, deadline).unwrap();
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let out = sy.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("retrying in 0.1 s (attempt 2 of 3)"), "{err}");
    assert!(fs::read(f.path("dst/big")).unwrap() == big);
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
    let summary = json_events(&out).pop().unwrap();
    let matched = summary["bytes_matched"].as_u64().unwrap();
    assert!(matched >= 2 << 20, "the partial was not reused: {summary}");
}
