//! Exit codes as rsync's where the meaning matches (the table is in the README and `--help`):
//! a usage error is 1, a missing source 3 with its path named, a run where source files
//! vanished mid-run 24. (A run where some files failed is 23: `errors.rs`; a timeout 30:
//! `faults/link.rs`.)

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::util::{Fixture, stderr};

#[test]
fn a_missing_exclude_from_file_is_a_usage_error() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let out = f
        .sy()
        .args(["--exclude-from", "no-such-list", "src/", "dst"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-list"), "{err}");
    assert!(!f.dst().exists());
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.sy().args(["--no-such-flag", "a", "b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_missing_single_file_source_is_3_and_named() {
    let f = Fixture::new();
    let out = f.sy().args(["missing.txt", "dst/"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("missing.txt"), "{err}");
}

#[test]
fn a_missing_source_among_others_is_3_named_and_nothing_is_copied() {
    let f = Fixture::new();
    f.write("a/x", "x");
    let out = f.sy().args(["a/", "gone/", "dst"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("gone"), "{err}");
    assert!(!f.dst().exists());
}

/// Source files unchanged at the destination: each is a `skip` event in `--json`, written
/// after the scan and before any file is read.
const UNCHANGED: usize = 5000;

#[test]
fn a_file_that_vanishes_between_scan_and_read_is_24_and_named() {
    let f = Fixture::new();
    for i in 0..UNCHANGED {
        f.write(format!("src/same/{i:05}"), "same");
    }
    f.sync(&[]);
    f.write("src/vanishing", "here at the scan");
    f.write("src/staying", "copied");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sy"))
        .current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .arg("--json")
        .arg(f.src_slash())
        .arg(f.dst())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first event comes after the scan; sy then blocks writing the thousands of events
    // after it (far more than a pipe holds) until they are read, so no file is read before
    // the one below is gone.
    let mut events = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    events.read_line(&mut first).unwrap();
    assert!(first.contains("\"event\""), "{first}");
    std::fs::remove_file(f.path("src/vanishing")).unwrap();
    let rest: Vec<String> = events.lines().map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(24), "{err}");
    assert!(
        err.contains("file has vanished") && err.contains("vanishing"),
        "{err}"
    );
    let summary = rest.last().unwrap();
    assert!(summary.contains("\"vanished\":1"), "{summary}");
    assert!(summary.contains("\"exit_code\":24"), "{summary}");
    assert!(!f.path("dst/vanishing").exists());
    assert_eq!(std::fs::read(f.path("dst/staying")).unwrap(), b"copied");
}
