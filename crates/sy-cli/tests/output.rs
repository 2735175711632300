//! What sy prints: nothing by default, -v lines, --stats, --json (docs/json.md), -q.

use crate::util::{Fixture, json_events, stderr, stdout};

#[test]
fn silent_on_success_by_default_and_progress_is_not_drawn_when_piped() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let out = f.sync(&["-P"]);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
}

#[test]
fn stats_summarise_the_run() {
    let f = Fixture::new();
    f.write("src/a", "12345");
    f.write("src/d/b", "67890");
    let dry = stdout(&f.sync(&["--stats", "-n"]));
    assert!(
        dry.contains("bytes: 10 in the files to write (a dry run sends none)"),
        "{dry}"
    );
    let text = stdout(&f.sync(&["--stats"]));
    assert!(
        text.contains("files: 4 scanned, 2 created, 0 updated, 0 deleted"),
        "{text}"
    );
    assert!(
        text.contains("bytes: 10 literal, 0 matched, 10 written"),
        "{text}"
    );
    assert!(text.contains("1 directories created"), "{text}");
}

#[test]
fn json_events_follow_the_documented_schema() {
    let f = Fixture::new();
    f.write("src/a", "abc");
    f.mkdir("src/d");
    f.symlink("a", "src/l");
    let events = json_events(&f.sync(&["--json"]));
    let file = events
        .iter()
        .find(|e| e["event"] == "file" && e["action"] == "create")
        .unwrap();
    for key in [
        "path",
        "action",
        "bytes_literal",
        "bytes_matched",
        "duration_ms",
        "dry_run",
    ] {
        assert!(file.get(key).is_some(), "file event lacks {key}: {file}");
    }
    assert_eq!(file["path"], "a");
    assert_eq!(file["bytes_literal"], 3);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "mkdir" && e["path"] == "d")
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "symlink" && e["path"] == "l")
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    for key in [
        "scanned",
        "created",
        "updated",
        "dirs",
        "links",
        "meta",
        "deleted",
        "unchanged",
        "skipped",
        "failed",
        "bytes_literal",
        "bytes_matched",
        "bytes_written",
        "elapsed_ms",
        "rate_bytes_per_sec",
        "exit_code",
        "dry_run",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}: {summary}");
    }
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["exit_code"], 0);
}

#[test]
fn json_reports_errors_and_warnings_as_events() {
    let f = Fixture::new();
    f.write("src/a", "a");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        f.path("src/p"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let events = json_events(&f.sync(&["--json"]));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "warning" && e["message"].as_str().unwrap().contains("FIFO"))
    );
}

#[test]
fn quiet_silences_warnings() {
    let f = Fixture::new();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        f.path("src/p"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let out = f.sync(&["-q"]);
    assert_eq!(stderr(&out), "");
}

#[test]
fn verbose_lists_changes_only() {
    let f = Fixture::new();
    f.write("src/a", "a");
    f.write("src/b", "b");
    assert_eq!(stdout(&f.sync(&["-v"])), "create   a\ncreate   b\n");
    f.write("src/b", "bb");
    assert_eq!(stdout(&f.sync(&["-v"])), "update   b\n");
}

#[test]
fn help_and_version_exit_0() {
    let f = Fixture::new();
    f.sy().arg("--help").assert().success();
    f.sy().arg("--version").assert().success();
}

#[test]
fn verbosity_selects_tracing_and_a_log_file_that_cannot_be_opened_is_named() {
    let f = Fixture::new();
    f.write("src/a", "a");
    // -v lists changes only; the log (without module paths) starts at -vv.
    let out = f.sync(&["-v"]);
    assert_eq!(stderr(&out), "");
    let out = f.sync(&["-vv"]);
    assert!(stderr(&out).contains("INFO syncing"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sy_engine"), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\x1b'), "colours on a pipe");
    let out = f
        .sy()
        .env("RUST_LOG", "info")
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("0 files (0 bytes) to write"),
        "{}",
        stderr(&out)
    );
    let out = f
        .sy()
        .args(["--log-file", "no/such/dir/sy.log"])
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("opening log file no/such/dir/sy.log"),
        "{}",
        stderr(&out)
    );
}

/// The lines of a log file, each checked for rsync's prefix (`2026/12/08 01:02:03 [4242] `)
/// and returned without it.
fn log_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let (stamp, rest) = line.split_at(20);
            let b = stamp.as_bytes();
            assert!(
                b[4] == b'/' && b[7] == b'/' && b[10] == b' ' && b[13] == b':' && b[19] == b' ',
                "{line}"
            );
            let (pid, rest) = rest.split_once("] ").unwrap();
            assert!(
                pid.starts_with('[') && pid[1..].parse::<u32>().is_ok(),
                "{line}"
            );
            rest.to_owned()
        })
        .collect()
}

#[test]
fn the_log_file_is_an_audit_log_in_rsyncs_form() {
    let f = Fixture::new();
    f.write("src/a", "alpha");
    f.write("src/sub/b", "bravo");
    f.write("dst/extra", "x");
    // The destination's time differs from the source's, so its line is certain.
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
    std::fs::File::open(f.src())
        .unwrap()
        .set_modified(past)
        .unwrap();
    f.sync(&["--delete", "--log-file", "sy.log"]);
    let mut lines = log_lines(&f.path("sy.log"));
    let last = lines.pop().unwrap();
    assert!(
        last.starts_with("total: 2 files written") && last.ends_with("exit status 0"),
        "{last}"
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            "*deleting   extra",
            ".d..t...... ./",
            ">f+++++++++ a",
            ">f+++++++++ sub/b",
            "cd+++++++++ sub/",
        ]
    );

    // Errors with their paths, and the exit status of a run that could not start.
    let out = f
        .sy()
        .args(["--log-file", "sy.log", "gone/", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let lines = log_lines(&f.path("sy.log"));
    let tail = &lines[lines.len() - 2..];
    assert!(
        tail[0].starts_with("sy: error: ") && tail[0].contains("gone"),
        "{tail:?}"
    );
    assert!(tail[1].ends_with("exit status 3"), "{tail:?}");

    // --log-file-format with rsync's escapes.
    f.write("src/c", "charlie");
    f.sync(&["--log-file", "fmt.log", "--log-file-format", "%o %n %l %b"]);
    let lines = log_lines(&f.path("fmt.log"));
    assert!(lines.contains(&"recv c 7 7".to_owned()), "{lines:?}");
}

#[test]
fn bwlimit_copies_correctly_and_refuses_bad_rates() {
    let f = Fixture::new();
    f.write("src/a", vec![1u8; 300 << 10]);
    f.write("src/b", "b");
    f.sync(&["--bwlimit", "20M"]);
    crate::util::assert_same_tree(&f.src(), &f.dst());
    // 0 is no limit, as in rsync.
    f.write("src/c", "c");
    f.sync(&["--bwlimit", "0"]);
    crate::util::assert_same_tree(&f.src(), &f.dst());
    for bad in ["fast", "10X", "1.2.3K"] {
        let out = f
            .sy()
            .args(["--bwlimit", bad, "src/", "dst"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stderr(&out).contains("bad rate"), "{}", stderr(&out));
    }
}

#[test]
fn a_reader_that_leaves_early_does_not_hide_a_partial_failure() {
    let f = Fixture::new();
    f.write("src/a", "a");
    f.write("src/clash", "a file in SRC");
    f.write(
        "dst/clash/keep",
        "a non-empty directory in DST: not replaced without --delete",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sy"))
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .arg("--json")
        .arg(f.src_slash())
        .arg(f.dst())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `sy --json … | head -0`: nobody reads the events
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(23), "{}", stderr(&out));
    assert_eq!(std::fs::read(f.path("dst/a")).unwrap(), b"a");
}
