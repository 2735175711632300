//! Failures: unreadable sources, impossible requests, files changing underfoot.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::{
    Fixture, assert_same_tree, is_root, leftovers, require, snapshot, stderr,
    sy_bound_by_permissions,
};

/// Root reads everything whatever the mode bits say, so as root the run drops to `nobody`
/// (setpriv, util-linux) for permission bits to apply; otherwise `chmod 000` is enough.
#[test]
fn unreadable_source_is_named_the_rest_completes_exit_23() {
    let f = Fixture::new();
    f.write("src/ok.txt", "fine");
    f.write("src/sub/also-ok", "fine too");
    f.write("src/secret", "no");
    f.write("src/locked/hidden", "no");
    fs::set_permissions(f.path("src/secret"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(f.path("src/locked"), fs::Permissions::from_mode(0o000)).unwrap();
    f.mkdir("dst");
    let Some(mut cmd) = sy_bound_by_permissions(&f) else {
        return;
    };
    if is_root() {
        rustix::fs::chown(
            f.dst(),
            Some(rustix::fs::Uid::from_raw(65534)),
            Some(rustix::fs::Gid::from_raw(65534)),
        )
        .unwrap();
    }
    let out = cmd
        .arg("--json")
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    let err = stderr(&out);
    let events = crate::util::json_events(&out);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "error" && e["path"] == "secret"),
        "{events:?}"
    );
    assert_eq!(crate::util::summary(&out)["exit_code"], 23);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("secret") && err.contains("Permission denied"),
        "{err}"
    );
    assert!(err.contains("locked"), "{err}");
    assert_eq!(fs::read(f.path("dst/ok.txt")).unwrap(), b"fine");
    assert_eq!(fs::read(f.path("dst/sub/also-ok")).unwrap(), b"fine too");
    assert!(!f.path("dst/secret").exists());
    // The unreadable directory was still created, with its mode (000): open it to look inside.
    fs::set_permissions(f.path("dst/locked"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(leftovers(&f.dst()).is_empty());
    fs::set_permissions(f.path("src/locked"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// A directory at the destination where the source now has a file is not removed when the
/// source could not be read completely, even with --delete: what could not be read may be
/// that directory's contents moved elsewhere (rsync skips deletion after an I/O error too).
#[test]
fn a_directory_in_the_way_survives_when_the_source_had_read_errors() {
    let f = Fixture::new();
    f.write("src/ok.txt", "fine");
    f.write("src/d", "now a file");
    f.write("src/locked/hidden", "no");
    fs::set_permissions(f.path("src/locked"), fs::Permissions::from_mode(0o000)).unwrap();
    f.write("dst/d/keep", "only copy");
    let Some(mut cmd) = sy_bound_by_permissions(&f) else {
        return;
    };
    if is_root() {
        for dir in ["dst", "dst/d", "dst/d/keep"] {
            std::os::unix::fs::chown(f.path(dir), Some(65534), Some(65534)).unwrap();
        }
    }
    let out = cmd
        .arg("--delete")
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(err.contains("locked"), "{err}");
    assert!(
        err.contains("not replacing non-empty directory d")
            && err.contains("because of the errors reading the source"),
        "{err}"
    );
    assert_eq!(fs::read(f.path("dst/d/keep")).unwrap(), b"only copy");
    assert_eq!(fs::read(f.path("dst/ok.txt")).unwrap(), b"fine");
    fs::set_permissions(f.path("src/locked"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn destination_inside_source_is_refused() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let out = f.sy().args(["src/", "src/backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("inside source"), "{}", stderr(&out));
    assert!(!f.path("src/backup").exists());
    // `sy src src` would create src/src: also inside.
    let out = f.sy().args(["src", "src"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn source_inside_destination_with_delete_is_refused() {
    let f = Fixture::new();
    f.write("top/src/a", "a");
    f.write("top/other", "keep");
    let out = f
        .sy()
        .args(["--delete", "top/src/", "top"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(fs::read(f.path("top/other")).unwrap(), b"keep");
}

#[test]
fn source_equal_to_destination_is_a_no_op() {
    let f = Fixture::new();
    f.write("src/a", "a");
    f.write("src/d/b", "b");
    let before = snapshot(&f.src());
    let out = f.sy().args(["--delete", "src/", "src"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out2 = f.sy().args(["src/", "src/d/.."]).output().unwrap();
    assert_eq!(out2.status.code(), Some(0), "{}", stderr(&out2));
    assert_eq!(snapshot(&f.src()), before);
}

#[test]
fn a_file_growing_while_copied_is_never_copied_torn() {
    let f = Fixture::new();
    f.write("src/steady", "steady");
    let growing = f.write("src/growing", vec![b'x'; 8 << 20]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut file = OpenOptions::new().append(true).open(growing).unwrap();
            let mut written = 0usize;
            while !stop.load(Ordering::Relaxed) && written < 256 << 20 {
                file.write_all(&[b'y'; 4096]).unwrap();
                written += 4096;
            }
        })
    };
    let out = f.sy().arg(f.src_slash()).arg(f.dst()).output().unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let err = stderr(&out);
    assert_eq!(fs::read(f.path("dst/steady")).unwrap(), b"steady");
    assert!(leftovers(&f.dst()).is_empty());
    match out.status.code() {
        Some(23) => {
            assert!(err.contains("growing changed while being copied"), "{err}");
            assert!(!f.path("dst/growing").exists());
        }
        // The retry happened to see a quiet moment: then the copy must be a true snapshot.
        Some(0) => {
            let copy = fs::read(f.path("dst/growing")).unwrap();
            let now = fs::read(f.path("src/growing")).unwrap();
            assert!(now.starts_with(&copy), "copy is not a prefix of the source");
        }
        other => panic!("unexpected exit {other:?}: {err}"),
    }
    // Once it stops changing, the next run copies it.
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
}

/// Gives `path` to `nobody` when the run drops to it (as root), so it may write there.
fn hand_to_nobody(path: &std::path::Path) {
    if is_root() {
        rustix::fs::chown(
            path,
            Some(rustix::fs::Uid::from_raw(65534)),
            Some(rustix::fs::Gid::from_raw(65534)),
        )
        .unwrap();
    }
}

/// A directory that cannot be created is one error: what is beneath it is not attempted (not
/// one error per entry in it), the rest of the tree is synced, and the exit is 23.
#[test]
fn a_directory_that_cannot_be_made_is_one_error_not_one_per_entry() {
    let f = Fixture::new();
    for i in 0..15 {
        f.write(format!("src/blocked/sub/f{i}"), "x");
    }
    f.write("src/fine/ok", "ok");
    f.mkdir("dst/blocked");
    f.mkdir("dst/fine");
    let Some(mut cmd) = sy_bound_by_permissions(&f) else {
        return;
    };
    if !require(
        is_root(),
        "runs as root, to give sy a directory that is not its own",
    ) {
        return;
    }
    // `blocked` stays root's (mode 755) while the run is nobody: `blocked/sub` cannot be made.
    hand_to_nobody(&f.dst());
    hand_to_nobody(&f.path("dst/fine"));
    let out = cmd.arg(f.src_slash()).arg(f.dst()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    // One error for the directory; none for the files beneath it (setting the attributes of
    // `blocked`, root's, is refused too: a failure of its own).
    let about_sub: Vec<&str> = err.lines().filter(|l| l.contains("blocked/sub")).collect();
    assert_eq!(about_sub.len(), 1, "{err}");
    assert!(
        about_sub[0].contains("skipping what is beneath it"),
        "{err}"
    );
    assert!(!err.contains("//"), "{err}");
    assert_eq!(fs::read(f.path("dst/fine/ok")).unwrap(), b"ok");
}

/// A destination whose root cannot be written (root's, mode 555, for a run as `nobody`, which
/// cannot make it writable) is fatal (exit 11, rsync's file I/O error), said once, not a
/// failure per entry.
#[test]
fn a_destination_that_cannot_be_written_is_fatal() {
    let f = Fixture::new();
    for d in ["a", "b", "c"] {
        f.write(format!("src/{d}/f"), "x");
    }
    f.mkdir("dst");
    let Some(mut cmd) = sy_bound_by_permissions(&f) else {
        return;
    };
    if !require(
        is_root(),
        "runs as root, to give sy a destination that is not its own",
    ) {
        return;
    }
    fs::set_permissions(f.dst(), fs::Permissions::from_mode(0o555)).unwrap();
    let out = cmd
        .arg(f.src_slash())
        .arg(format!("{}/", f.dst().display()))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains("cannot be written"), "{err}");
    assert!(err.lines().count() <= 4, "{err}");
    assert!(!err.contains("//"), "{err}");
    assert_eq!(fs::read_dir(f.dst()).unwrap().count(), 0);
}
