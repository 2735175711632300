//! Remote syncs through a remote shell (`-e`): a fake `ssh` that drops the host and runs the
//! agent here, so push and pull run the real `sy-remote` without any SSH server.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::util::{Fixture, assert_same_tree, files_equal, leftovers, stderr, summary};

/// The `sy-remote` built from this checkout, beside `sy` (both are this package's binaries).
pub fn sy_remote() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sy-remote"))
}

/// A stand-in for `ssh`: skips its options and the host, then runs the command string here
/// with `sh -c`, which is what the remote side of ssh does (so quoting is tested too).
const FAKE_RSH: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
exec sh -c "$*"
"#;

/// Like `FAKE_RSH`, and writes the agent's process id (the `exec`s keep it) to a file.
const PID_RSH: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
echo $$ > "$SY_TEST_PIDFILE"
exec sh -c "exec $*"
"#;

fn script(f: &Fixture, name: &str, text: &str) -> String {
    let path = f.path(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Writes [`FAKE_RSH`] to `rsh` in the fixture; returns its path.
pub fn fake_rsh(f: &Fixture) -> String {
    script(f, "rsh", FAKE_RSH)
}

/// Runs `sy -e FAKE --remote-path SY-REMOTE ARGS… SRC DST`.
pub fn remote_sy(f: &Fixture, rsh: &str, args: &[&str], src: &str, dst: &str) -> Output {
    f.sy()
        .arg("-e")
        .arg(rsh)
        .arg("--remote-path")
        .arg(sy_remote())
        .args(args)
        .arg(src)
        .arg(dst)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "sy failed: {}", stderr(&out));
    out
}

pub fn push(f: &Fixture, args: &[&str]) -> Output {
    let rsh = script(f, "rsh", FAKE_RSH);
    let dst = format!("fakehost:{}/", f.dst().display());
    ok(remote_sy(f, &rsh, args, &f.src_slash(), &dst))
}

fn pull(f: &Fixture, args: &[&str]) -> Output {
    let rsh = script(f, "rsh", FAKE_RSH);
    let src = format!("user@fakehost:{}/", f.src().display());
    ok(remote_sy(
        f,
        &rsh,
        args,
        &src,
        &f.dst().display().to_string(),
    ))
}

pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Names, sizes, kinds and modes that tend to break things.
pub fn edge_tree(f: &Fixture) {
    f.write("src/empty", "");
    f.write("src/one", "1");
    f.write("src/at-inline-limit", noise(128 << 10, 1));
    f.write("src/over-inline-limit", noise((128 << 10) + 1, 2));
    f.write("src/big.bin", noise(3 << 20, 3));
    f.write("src/text.log", "a line of a log file\n".repeat(20_000));
    f.write("src/with space and 'quotes' \"and\" $(echo no)", "name");
    f.write("src/-leading-dash", "dash");
    f.write("src/ünïcödé ✓", "utf-8");
    f.write("src/new\nline", "newline in the name");
    f.write("src/deep/er/and/deeper/file", "deep");
    f.mkdir("src/empty-dir");
    f.symlink("one", "src/link-relative");
    f.symlink("/etc/hostname", "src/link-absolute");
    f.symlink("no/such/target", "src/link-dangling");
    f.symlink("deep/er", "src/link-to-dir");
    let mode = |rel: &str, mode: u32| {
        fs::set_permissions(f.path(rel), fs::Permissions::from_mode(mode)).unwrap();
    };
    f.write("src/private", "0600");
    mode("src/private", 0o600);
    f.write("src/script.sh", "#!/bin/sh\n");
    mode("src/script.sh", 0o755);
    f.write("src/read-only/inside", "in a read-only directory");
    mode("src/read-only", 0o555);
}

#[test]
fn push_copies_an_edge_case_tree_exactly_and_a_rerun_changes_nothing() {
    let f = Fixture::new();
    edge_tree(&f);
    push(&f, &[]);
    assert_same_tree(&f.src(), &f.dst());
    let again = summary(&push(&f, &["--json"]));
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["updated"], 0, "{again}");
    assert!(leftovers(&f.dst()).is_empty());
}

#[test]
fn pull_copies_an_edge_case_tree_exactly() {
    let f = Fixture::new();
    edge_tree(&f);
    pull(&f, &[]);
    assert_same_tree(&f.src(), &f.dst());
    let again = summary(&pull(&f, &["--json"]));
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["updated"], 0, "{again}");
}

#[test]
fn compression_shrinks_text_on_the_wire_both_ways() {
    let f = Fixture::new();
    for i in 0..50 {
        f.write(
            format!("src/log{i}.txt"),
            format!("entry {i}: all is well\n").repeat(2000),
        );
    }
    f.write("src/photo.jpg", noise(200_000, 9));
    let s = summary(&push(&f, &["-z", "--json"]));
    assert_same_tree(&f.src(), &f.dst());
    let (wire, logical) = (
        s["wire_bytes_sent"].as_u64().unwrap(),
        s["bytes_sent"].as_u64().unwrap(),
    );
    assert!(
        wire * 5 < logical,
        "push: {wire} on the wire for {logical}: {s}"
    );
    fs::remove_dir_all(f.dst()).unwrap();
    let s = summary(&pull(&f, &["--compress-level", "9", "-z", "--json"]));
    assert_same_tree(&f.src(), &f.dst());
    let (wire, logical) = (
        s["wire_bytes_received"].as_u64().unwrap(),
        s["bytes_received"].as_u64().unwrap(),
    );
    assert!(
        wire * 5 < logical,
        "pull: {wire} on the wire for {logical}: {s}"
    );
}

#[test]
fn many_small_files_are_pipelined() {
    let f = Fixture::new();
    for i in 0..3000 {
        f.write(format!("src/d{}/f{i}", i % 30), format!("file number {i}"));
    }
    push(&f, &["-j", "4"]);
    assert_same_tree(&f.src(), &f.dst());
    let s = summary(&push(&f, &["--json"]));
    assert_eq!(s["unchanged"], 3000, "{s}");
    // A no-change re-sync moves the listing and little else: well under 100 bytes a file.
    let sent = s["wire_bytes_sent"].as_u64().unwrap();
    assert!(sent < 3000 * 100, "{s}");
}

#[test]
fn changed_big_files_travel_as_deltas_on_push_and_pull() {
    let f = Fixture::new();
    let old = noise(8 << 20, 5);
    let mut new = old.clone();
    for at in [100_000, 3_000_000, 7_000_000] {
        new[at..at + 500].copy_from_slice(&noise(500, at as u64));
    }
    // A different size, so the change is seen whatever the file times' resolution.
    new.extend_from_slice(b"appended");
    f.write("src/data", &new);
    f.write("dst/data", &old);
    let s = summary(&push(&f, &["--json"]));
    assert!(fs::read(f.path("dst/data")).unwrap() == new, "push: {s}");
    assert!(s["bytes_literal"].as_u64().unwrap() < 256 << 10, "{s}");
    assert!(s["wire_bytes_sent"].as_u64().unwrap() < 512 << 10, "{s}");

    f.write("dst/data", &old);
    let s = summary(&pull(&f, &["--json"]));
    assert!(fs::read(f.path("dst/data")).unwrap() == new, "pull: {s}");
    assert!(s["bytes_literal"].as_u64().unwrap() < 256 << 10, "{s}");
    assert!(
        s["wire_bytes_received"].as_u64().unwrap() < 512 << 10,
        "{s}"
    );
}

/// Starts `sy -v -j 1 --retry 0 SRC DST` through `PID_RSH`, kills the agent with SIGKILL once the
/// temporary of `big` under `landing` holds a quarter of `size`, and returns sy's output.
fn kill_agent_mid_transfer(
    f: &Fixture,
    src: &str,
    dst: &str,
    landing: &Path,
    size: usize,
) -> Output {
    let rsh = script(f, "rsh-pid", PID_RSH);
    let pidfile = f.path("agent.pid");
    let mut sy = std::process::Command::new(env!("CARGO_BIN_EXE_sy"))
        .env("SY_TEST_PIDFILE", &pidfile)
        .arg("-e")
        .arg(&rsh)
        .arg("--remote-path")
        .arg(sy_remote())
        .args(["-v", "-j", "1", "--retry", "0", src, dst])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let killed = loop {
        let landed = fs::read_dir(landing)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".big.sy-tmp."))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        if landed >= (size / 4) as u64 {
            let pid: i32 = fs::read_to_string(&pidfile)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let pid = rustix::process::Pid::from_raw(pid).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
            break true;
        }
        if std::time::Instant::now() > deadline || sy.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let out = sy.wait_with_output().unwrap();
    assert!(
        killed,
        "the transfer ended before the agent could be killed: {}",
        stderr(&out)
    );
    out
}

#[test]
fn an_agent_killed_mid_push_fails_cleanly_and_the_rerun_resumes() {
    let f = Fixture::new();
    let size = 96 << 20;
    f.write("src/big", noise(size, 8));
    f.write("dst/big", "the old version");
    let dst = format!("fakehost:{}/", f.dst().display());
    let out = kill_agent_mid_transfer(&f, &f.src_slash(), &dst, &f.dst(), size);
    assert_eq!(out.status.code(), Some(23), "{}", stderr(&out));
    assert!(stderr(&out).contains("lost"), "{}", stderr(&out));
    // Nothing torn: the old version stays until the new one is complete.
    assert_eq!(fs::read(f.path("dst/big")).unwrap(), b"the old version");

    let s = summary(&push(&f, &["--json"]));
    assert!(files_equal(&f.path("src/big"), &f.path("dst/big")));
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
    let sent = s["wire_bytes_sent"].as_u64().unwrap();
    assert!(
        sent < (size - size / 5) as u64,
        "the rerun sent {sent} bytes: {s}"
    );
}

#[test]
fn an_agent_killed_mid_pull_keeps_the_partial_and_the_rerun_resumes() {
    let f = Fixture::new();
    let size = 96 << 20;
    f.write("src/big", noise(size, 9));
    f.write("dst/big", "the old version");
    let src = format!("fakehost:{}/", f.src().display());
    let dst = f.dst().display().to_string();
    let out = kill_agent_mid_transfer(&f, &src, &dst, &f.dst(), size);
    assert_eq!(out.status.code(), Some(23), "{}", stderr(&out));
    assert!(stderr(&out).contains("lost"), "{}", stderr(&out));
    assert_eq!(fs::read(f.path("dst/big")).unwrap(), b"the old version");
    assert!(
        f.path(format!("dst/{}", crate::util::partial_of("big")))
            .exists(),
        "what arrived is kept: {:?}",
        leftovers(&f.dst())
    );

    let s = summary(&pull(&f, &["--json"]));
    assert!(files_equal(&f.path("src/big"), &f.path("dst/big")));
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
    let received = s["wire_bytes_received"].as_u64().unwrap();
    assert!(
        received < (size - size / 5) as u64,
        "the rerun received {received} bytes: {s}"
    );
}

#[test]
fn remote_to_remote_is_refused() {
    let f = Fixture::new();
    let out = f.sy().args(["a:x/", "b:y/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("two remote"), "{}", stderr(&out));
}

#[test]
fn a_missing_agent_is_a_clear_error() {
    let f = Fixture::new();
    f.write("src/x", "x");
    let rsh = script(&f, "rsh", FAKE_RSH);
    let dst = format!("fakehost:{}/", f.dst().display());
    let out = f
        .sy()
        .args(["-e", &rsh, "--remote-path", "/nonexistent/sy-remote"])
        .arg(f.src_slash())
        .arg(&dst)
        .output()
        .unwrap();
    // rsync says 12 (the stream closed); sy knows the agent never started: 5, as the
    // built-in SSH client says.
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is sy-remote installed there?"), "{err}");
    // Each cause once, even where an error quotes its source. Which cause the client sees
    // first (the closed stdout, or the broken pipe to its stdin) is a race, so check both.
    for cause in ["before the handshake completed", "Broken pipe"] {
        assert!(err.matches(cause).count() <= 1, "{err}");
    }
}

#[test]
fn a_banner_printed_by_the_remote_shell_is_quoted_in_the_error() {
    let f = Fixture::new();
    f.write("src/x", "x");
    let rsh = script(
        &f,
        "rsh-banner",
        &FAKE_RSH.replace("exec sh -c", "echo 'Welcome to fakehost!'\nexec sh -c"),
    );
    let dst = format!("fakehost:{}/", f.dst().display());
    let out = remote_sy(&f, &rsh, &[], &f.src_slash(), &dst);
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("the remote shell printed text"), "{err}");
    assert!(err.contains("Welcome to fakehost!"), "{err}");
}

#[test]
fn bwlimit_paces_the_connection_without_changing_the_result() {
    let f = Fixture::new();
    f.write("src/a", noise(200 << 10, 7));
    f.write("src/d/b", "b");
    pull(&f, &["--bwlimit", "50M"]);
    assert_same_tree(&f.src(), &f.dst());
    f.write("src/a", noise(200 << 10, 8));
    push(&f, &["--bwlimit", "50M", "-z"]);
    assert_same_tree(&f.src(), &f.dst());
}
