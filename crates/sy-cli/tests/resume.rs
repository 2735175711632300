//! Interrupted runs: leftovers are recognised, reused and tidied.

use std::fs;

use crate::util::{
    Fixture, assert_same_tree, bytes_in_temporaries, default_signal_actions, leftovers, partial_of,
    temp_of,
};

#[test]
fn a_stray_temp_from_a_killed_run_is_tidied_and_never_taken_for_the_file() {
    let f = Fixture::new();
    f.write("src/file", vec![5u8; 100_000]);
    f.write("src/other", "other");
    // What `kill -9` in the middle of writing `file` leaves behind.
    f.write(format!("dst/{}", temp_of("file")), vec![5u8; 40_000]);
    // …and a temp whose file is no longer in the source.
    f.write(format!("dst/{}", temp_of("gone")), "x");
    f.sync(&["--delete"]);
    assert_same_tree(&f.src(), &f.dst());
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
}

/// Only names sy made are sy's: look-alikes are copied from the source and left alone in the
/// destination; a real leftover in the source is skipped, and said so.
#[test]
fn files_that_only_look_like_sys_temporaries_are_ordinary_files() {
    let f = Fixture::new();
    let look_alikes = [
        ".a.sy-partial",
        ".a.sy-tmp.0123456789abcdef",
        ".a.sy-old.fedcba9876543210",
    ];
    for name in look_alikes {
        f.write(format!("src/{name}"), name);
    }
    f.write("src/a", "a");
    f.write("src/b", "b");
    f.sync(&[]);
    for name in look_alikes {
        assert_eq!(
            fs::read(f.path(format!("dst/{name}"))).unwrap(),
            name.as_bytes()
        );
    }
    f.write("dst/.b.sy-partial", "the user's");
    f.write("dst/.b.sy-tmp.0123456789abcdef", "the user's too");
    let leftover = partial_of("c");
    f.write(format!("src/{leftover}"), "an interrupted run's");
    let out = f.sync(&[]);
    assert!(
        crate::util::stderr(&out).contains(&format!("skipping {leftover}: a temporary file")),
        "{}",
        crate::util::stderr(&out)
    );
    assert!(!f.path(format!("dst/{leftover}")).exists());
    assert_eq!(
        fs::read(f.path("dst/.b.sy-partial")).unwrap(),
        b"the user's"
    );
    assert_eq!(
        fs::read(f.path("dst/.b.sy-tmp.0123456789abcdef")).unwrap(),
        b"the user's too"
    );
}

#[test]
fn a_stale_partial_is_removed() {
    let f = Fixture::new();
    f.write("src/file", "complete");
    f.sync(&[]);
    f.write(format!("dst/{}", partial_of("file")), "stale");
    f.sync(&[]);
    assert!(leftovers(&f.dst()).is_empty());
    assert_eq!(fs::read(f.path("dst/file")).unwrap(), b"complete");
}

/// Pseudo-random bytes (deterministic, incompressible enough for delta tests).
fn noise(len: usize, seed: u64) -> Vec<u8> {
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

#[test]
fn a_kept_partial_is_the_delta_basis_of_the_next_run() {
    let f = Fixture::new();
    let data = noise(3 << 20, 7);
    f.write("src/big", &data);
    // What an interrupted run keeps: the first part of the new content.
    f.write(format!("dst/{}", partial_of("big")), &data[..2 << 20]);
    let out = f.sync(&["--json"]);
    let s = crate::util::summary(&out);
    let matched = s["bytes_matched"].as_u64().unwrap();
    let literal = s["bytes_literal"].as_u64().unwrap();
    assert!(matched >= (2 << 20) - 64 * 1024, "partial not reused: {s}");
    assert!(literal <= (1 << 20) + 64 * 1024, "{s}");
    assert_eq!(fs::read(f.path("dst/big")).unwrap(), data);
    assert!(leftovers(&f.dst()).is_empty());
}

#[test]
fn whole_file_flag_ignores_and_clears_the_partial() {
    let f = Fixture::new();
    let data = noise(1 << 20, 3);
    f.write("src/big", &data);
    f.write(format!("dst/{}", partial_of("big")), &data[..1000]);
    let s = crate::util::summary(&f.sync(&["-W", "--json"]));
    assert_eq!(s["bytes_matched"], 0);
    assert_eq!(fs::read(f.path("dst/big")).unwrap(), data);
    assert!(leftovers(&f.dst()).is_empty());
}

#[test]
fn no_whole_file_updates_by_delta() {
    let f = Fixture::new();
    let mut data = noise(4 << 20, 11);
    f.write("src/big", &data);
    f.sync(&[]);
    data[1_000_000..1_000_100].fill(0xAB);
    data.extend_from_slice(b"appended");
    f.write("src/big", &data);
    let s = crate::util::summary(&f.sync(&["--no-whole-file", "--json"]));
    assert!(s["bytes_literal"].as_u64().unwrap() < 64 * 1024, "{s}");
    assert!(s["bytes_matched"].as_u64().unwrap() > 4_000_000, "{s}");
    assert_same_tree(&f.src(), &f.dst());
    // Locally the default is a whole copy.
    data[0] ^= 1;
    f.write("src/big", &data);
    let s = crate::util::summary(&f.sync(&["--json"]));
    assert_eq!(s["bytes_matched"], 0);
    assert_same_tree(&f.src(), &f.dst());
}

/// Starts sy updating a big file by delta, paced by `--bwlimit` so the 24 MiB take about 12 s,
/// waits until its temporary holds data, then sends `signal` (SIGKILL for `None`) while it is
/// certainly still running. Returns the exit code.
fn interrupt_midway(f: &Fixture, signal: Option<rustix::process::Signal>) -> Option<i32> {
    let mut sy = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    let mut child = default_signal_actions(&mut sy)
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .args(["--no-whole-file", "--bwlimit", "2M", &f.src_slash(), "dst"])
        .current_dir(f.root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Data, not only the file: what an interrupted run wrote is kept, an empty temporary is not.
    while bytes_in_temporaries(&f.dst()) == 0
        && std::time::Instant::now() < deadline
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "sy finished before it could be interrupted"
    );
    match signal {
        Some(sig) => {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, sig);
        }
        None => {
            let _ = child.kill();
        }
    }
    child.wait().unwrap().code()
}

fn interrupted_tree(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let old = noise(24 << 20, 5);
    let mut new = old.clone();
    for i in (0..new.len()).step_by(1 << 20) {
        new[i] ^= 0xff;
    }
    f.write("dst/big", &old);
    f.write("src/big", &new);
    (old, new)
}

#[test]
fn ctrl_c_exits_130_leaves_no_torn_file_and_the_rerun_resumes() {
    let f = Fixture::new();
    let (old, new) = interrupted_tree(&f);
    let code = interrupt_midway(&f, Some(rustix::process::Signal::INT));
    assert_eq!(code, Some(130));
    assert!(
        fs::read(f.path("dst/big")).unwrap() == old,
        "the old version must be intact after Ctrl-C"
    );
    // Nothing but the kept partial may remain.
    for left in leftovers(&f.dst()) {
        assert!(left.to_string_lossy().ends_with(".sy-partial"), "{left:?}");
    }
    let partial = fs::metadata(f.path(format!("dst/{}", partial_of("big"))))
        .unwrap()
        .len();
    assert!(partial > 0);
    let s = crate::util::summary(&f.sync(&["--json"]));
    // The rerun takes what the interrupted one wrote from the partial instead of the source.
    assert!(
        s["bytes_matched"].as_u64().unwrap() + (64 << 10) >= partial,
        "partial of {partial} bytes not reused: {s}"
    );
    assert!(fs::read(f.path("dst/big")).unwrap() == new);
    assert!(leftovers(&f.dst()).is_empty());
}

#[test]
fn kill_9_leaves_the_old_file_and_the_rerun_completes() {
    let f = Fixture::new();
    let (old, new) = interrupted_tree(&f);
    interrupt_midway(&f, None);
    assert!(
        fs::read(f.path("dst/big")).unwrap() == old,
        "a killed run must leave the old version"
    );
    assert!(
        !leftovers(&f.dst()).is_empty(),
        "the killed run's temporary is still there, for the rerun to tidy"
    );
    f.sync(&[]);
    assert!(fs::read(f.path("dst/big")).unwrap() == new);
    assert!(leftovers(&f.dst()).is_empty());
}

#[test]
fn sigterm_exits_143_and_leaves_no_torn_file() {
    let f = Fixture::new();
    let (old, new) = interrupted_tree(&f);
    let code = interrupt_midway(&f, Some(rustix::process::Signal::TERM));
    assert_eq!(code, Some(143));
    assert!(
        fs::read(f.path("dst/big")).unwrap() == old,
        "the old version must be intact"
    );
    f.sync(&[]);
    assert!(fs::read(f.path("dst/big")).unwrap() == new);
    assert!(leftovers(&f.dst()).is_empty());
}
