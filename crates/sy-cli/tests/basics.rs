//! The everyday cases: copy, re-run, update, delete, dry run, slash semantics.

use std::fs;

use crate::util::{Fixture, assert_same_tree, json_events, leftovers, stderr, stdout, summary};

fn sample(f: &Fixture) {
    f.write("src/a.txt", "alpha");
    f.write("src/dir/b.txt", "bravo");
    f.write("src/dir/deep/c.bin", vec![7u8; 300_000]);
    f.write("src/empty", "");
    f.mkdir("src/empty-dir");
}

#[test]
fn copies_a_tree_and_a_rerun_changes_nothing() {
    let f = Fixture::new();
    sample(&f);
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    assert!(leftovers(&f.dst()).is_empty());

    let out = f.sync(&["--json"]);
    let s = summary(&out);
    assert_eq!(s["created"], 0);
    assert_eq!(s["updated"], 0);
    assert_eq!(s["bytes_literal"], 0);
    assert_eq!(s["unchanged"], 4);
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn updates_changed_files_only() {
    let f = Fixture::new();
    sample(&f);
    f.sync(&[]);
    f.write("src/dir/b.txt", "bravo, longer now");
    let out = f.sync(&["--json"]);
    let files: Vec<_> = json_events(&out)
        .into_iter()
        .filter(|e| e["event"] == "file")
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["action"], "update");
    assert_eq!(files[0]["path"], "dir/b.txt");
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn without_trailing_slash_the_directory_itself_is_copied() {
    let f = Fixture::new();
    sample(&f);
    f.sy().arg("src").arg("dst").assert().success();
    assert_same_tree(&f.src(), &f.path("dst/src"));
}

#[test]
fn destination_parents_are_created() {
    let f = Fixture::new();
    sample(&f);
    f.sy().arg("src/").arg("x/y/z").assert().success();
    assert_same_tree(&f.src(), &f.path("x/y/z"));
}

#[test]
fn single_file_into_a_directory_or_to_a_new_name() {
    let f = Fixture::new();
    f.write("src/one.txt", "one");
    f.mkdir("dst");
    f.sy().arg("src/one.txt").arg("dst").assert().success();
    assert_eq!(fs::read(f.path("dst/one.txt")).unwrap(), b"one");
    f.sy()
        .arg("src/one.txt")
        .arg("dst/renamed.txt")
        .assert()
        .success();
    assert_eq!(fs::read(f.path("dst/renamed.txt")).unwrap(), b"one");
}

#[test]
fn several_sources_go_into_the_destination() {
    let f = Fixture::new();
    f.write("a/x", "x");
    f.write("b/y", "y");
    f.sy().args(["a", "b/", "out"]).assert().success();
    assert_eq!(fs::read(f.path("out/a/x")).unwrap(), b"x");
    assert_eq!(fs::read(f.path("out/y")).unwrap(), b"y");
    // Each into its own subdirectory: --delete is confined to it.
    f.write("out/a/stale", "x");
    f.sy()
        .args(["--delete", "a", "b", "out"])
        .assert()
        .success();
    assert!(!f.path("out/a/stale").exists());
    assert_eq!(fs::read(f.path("out/y")).unwrap(), b"y");
    // Contents of several into one: --delete would make them delete each other's files.
    let out = f
        .sy()
        .args(["--delete", "a/", "b/", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fs::read(f.path("out/y")).unwrap(), b"y");
}

#[test]
fn delete_removes_extraneous_entries_only_inside_dst() {
    let f = Fixture::new();
    sample(&f);
    f.sync(&[]);
    f.write("dst/extra.txt", "x");
    f.write("dst/dir/extra-dir/nested", "x");
    f.write("outside.txt", "keep me");
    let out = f.sync(&["--delete", "-v"]);
    assert!(
        stdout(&out).contains("delete   extra.txt"),
        "{}",
        stdout(&out)
    );
    assert_same_tree(&f.src(), &f.dst());
    assert_eq!(fs::read(f.path("outside.txt")).unwrap(), b"keep me");
}

#[test]
fn without_delete_extraneous_entries_stay() {
    let f = Fixture::new();
    sample(&f);
    f.write("dst/extra.txt", "x");
    f.sync(&[]);
    assert_eq!(fs::read(f.path("dst/extra.txt")).unwrap(), b"x");
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let f = Fixture::new();
    sample(&f);
    f.write("dst/extra.txt", "x");
    let before = crate::util::snapshot(&f.dst());
    let out = f.sync(&["-n", "--delete"]);
    let text = stdout(&out);
    for line in [
        "create   a.txt",
        "mkdir    dir/",
        "create   dir/deep/c.bin",
        "delete   extra.txt",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    assert_eq!(crate::util::snapshot(&f.dst()), before);
}

#[test]
fn dry_run_with_a_missing_destination_creates_nothing() {
    let f = Fixture::new();
    sample(&f);
    f.sync(&["-n"]);
    assert!(!f.dst().exists());
}

#[test]
fn usage_errors_exit_1() {
    let f = Fixture::new();
    let out = f
        .sy()
        .arg("--no-such-flag")
        .arg("a")
        .arg("b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = f.sy().arg("only-one").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = f
        .sy()
        .args(["--exclude", "a[", "src/", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("a["), "{}", stderr(&out));
}

#[test]
fn a_missing_source_is_fatal_and_named() {
    let f = Fixture::new();
    let out = f.sy().args(["nope/", "dst"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert!(stderr(&out).contains("No such file"), "{}", stderr(&out));
}

#[test]
fn many_small_files_with_few_workers() {
    let f = Fixture::new();
    for i in 0..300 {
        f.write(format!("src/d{}/f{i}", i % 7), format!("content {i}"));
    }
    f.write("src/big1", vec![1u8; 3 << 20]);
    f.write("src/big2", vec![2u8; 3 << 20]);
    f.sync(&["-j", "2"]);
    assert_same_tree(&f.src(), &f.dst());
    f.sync(&["-j", "1"]);
    assert_same_tree(&f.src(), &f.dst());
}

/// `--max-delete 1` with 3 extraneous files: one goes, two stay, exit 25 (as rsync).
#[test]
fn max_delete_stops_deletions_with_exit_25() {
    let f = Fixture::new();
    f.write("src/keep", "k");
    for name in ["x1", "x2", "x3"] {
        f.write(format!("dst/{name}"), "extra");
    }
    let out = f
        .sy()
        .args(["--delete", "--max-delete", "1"])
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(25), "{err}");
    assert!(
        err.contains("--max-delete 1: 2 extraneous entries"),
        "{err}"
    );
    let left = ["x1", "x2", "x3"]
        .iter()
        .filter(|name| f.path(format!("dst/{name}")).exists())
        .count();
    assert_eq!(left, 2);
    assert_eq!(fs::read(f.path("dst/keep")).unwrap(), b"k");
}

/// A run that would delete most of a destination says so, also in a dry run, and still runs
/// (only --max-delete stops it).
#[test]
fn deleting_more_than_half_of_the_destination_is_said_loudly() {
    let f = Fixture::new();
    f.write("src/one", "1");
    for i in 0..12 {
        f.write(format!("dst/old{i}"), "o");
    }
    let dry = f
        .sy()
        .args(["--delete", "-n"])
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    let err = stderr(&dry);
    assert_eq!(dry.status.code(), Some(0), "{err}");
    assert!(err.contains("deletes 12 of the 12 entries"), "{err}");
    assert!(f.path("dst/old0").exists());
}

/// `--no-times` (rsync without `-t`): the copy has the time it was written, so the next run
/// cannot trust size and time and writes the file again.
#[test]
fn no_times_gives_copies_the_time_they_were_written() {
    let f = Fixture::new();
    f.write("src/a", "content");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
    fs::File::options()
        .write(true)
        .open(f.path("src/a"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    f.sync(&["-a", "--no-times"]);
    let copied = fs::metadata(f.path("dst/a")).unwrap().modified().unwrap();
    assert!(
        copied > old + std::time::Duration::from_secs(3600),
        "{copied:?}"
    );
    let again = summary(&f.sync(&["-a", "--no-times", "--json"]));
    assert_eq!(again["updated"], 1, "{again}");
    assert_eq!(fs::read(f.path("dst/a")).unwrap(), b"content");
}
