//! `-R/--relative`: each source keeps the path it was named by at the destination, from a
//! remote source too, with the directories above it implied.

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use crate::remote::{fake_rsh, remote_sy};
use crate::util::{Fixture, stderr};

fn mtime(path: &std::path::Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_remote_source_keeps_its_path_after_the_dot_marker() {
    let f = Fixture::new();
    f.write("src/sub/deep/d.txt", "delta");
    f.write("src/other.txt", "not kept");
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    File::open(f.path("src/sub"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let rsh = fake_rsh(&f);
    let src = format!("fakehost:{}/./sub/deep", f.src().display());
    let out = remote_sy(&f, &rsh, &["-aR"], &src, "dst/");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read(f.path("dst/sub/deep/d.txt")).unwrap(), b"delta");
    assert_eq!(
        mtime(&f.path("dst/sub")),
        old,
        "an implied directory keeps its time"
    );
    assert!(!f.path("dst/other.txt").exists());
    assert!(!f.path("dst/src").exists());
}

#[test]
fn a_relative_remote_source_keeps_the_whole_path() {
    let f = Fixture::new();
    f.write("src/sub/c.txt", "charlie");
    let rsh = fake_rsh(&f);
    let pushed = format!("fakehost:{}/", f.path("pushed").display());
    // The fake shell runs the agent in the fixture: the remote path is relative to it.
    let out = remote_sy(&f, &rsh, &["-R"], "fakehost:src/sub/", "dst/");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read(f.path("dst/src/sub/c.txt")).unwrap(), b"charlie");
    let out = remote_sy(&f, &rsh, &["-R"], "src/sub/c.txt", &pushed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read(f.path("pushed/src/sub/c.txt")).unwrap(),
        b"charlie"
    );
}

#[test]
fn several_sources_each_keep_their_path_and_delete_only_beneath_it() {
    let f = Fixture::new();
    f.write("src/a/x/1.txt", "one");
    f.write("src/b/y/2.txt", "two");
    f.write("dst/src/a/x/stale.txt", "extraneous");
    f.write("dst/src/keep.txt", "beside the kept paths");
    f.sy()
        .args(["-aR", "--delete", "src/a/x", "src/b/y/", "dst"])
        .assert()
        .success();
    assert_eq!(fs::read(f.path("dst/src/a/x/1.txt")).unwrap(), b"one");
    assert_eq!(fs::read(f.path("dst/src/b/y/2.txt")).unwrap(), b"two");
    assert!(!f.path("dst/src/a/x/stale.txt").exists());
    assert_eq!(
        fs::read(f.path("dst/src/keep.txt")).unwrap(),
        b"beside the kept paths",
        "nothing in an implied directory is deleted"
    );
}

#[test]
fn a_path_that_climbs_out_and_no_implied_dirs_are_refused() {
    let f = Fixture::new();
    f.write("src/a.txt", "alpha");
    let out = f.sy().args(["-R", "src/../src", "dst"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("src/../src"), "{}", stderr(&out));
    let out = f
        .sy()
        .args(["-R", "--no-implied-dirs", "src", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--no-implied-dirs"),
        "{}",
        stderr(&out)
    );
    assert!(!f.dst().exists());
}
