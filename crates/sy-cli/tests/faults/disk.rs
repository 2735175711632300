//! A destination that fills up: a 4 MiB tmpfs (root only: it mounts one), and a 4 MiB file size
//! limit (RLIMIT_FSIZE on the sy process, which the agent inherits, with SIGXFSZ ignored so
//! writes fail with EFBIG). Either way the old version of the file that does not fit stays, its
//! temporary goes, the error names the file and the cause, and the files that fit are
//! complete. And destinations sy may not write to: read-only, or a directory it lacks rights to.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Rng, pid_sy, remote_dst};
use crate::util::{Fixture, leftovers, require, require_root, stderr, sy_bound_by_permissions};

const LIMIT: u64 = 4 << 20;

/// A small tmpfs at `dir`, unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    /// `None` when this test cannot mount one; it is skipped then, or fails ([`require`]).
    fn new(dir: &Path) -> Option<Mounted> {
        if !require_root("mount a tmpfs") {
            return None;
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={LIMIT}"), "sy-test"])
            .arg(dir)
            .output()
            .unwrap();
        let missing = format!(
            "needs to mount a tmpfs, which failed here (a container without CAP_SYS_ADMIN?): {}",
            stderr(&out).trim()
        );
        require(out.status.success(), &missing).then(|| Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Limits the files `cmd` writes to `LIMIT` bytes; a write past it fails with EFBIG.
fn limit_file_size(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(LIMIT),
                maximum: Some(LIMIT),
            };
            rustix::process::setrlimit(rustix::process::Resource::Fsize, limit)?;
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

#[test]
fn a_destination_with_a_file_size_limit_keeps_old_versions_and_names_the_file() {
    for push in [false, true] {
        let f = Fixture::new();
        f.mkdir("dst");
        fill_up(&f, push, false);
    }
}

#[test]
fn a_destination_that_fills_up_keeps_old_versions_and_names_the_file() {
    for push in [false, true] {
        let f = Fixture::new();
        let Some(_mounted) = Mounted::new(&f.mkdir("dst")) else {
            return;
        };
        fill_up(&f, push, true);
    }
}

/// Syncs 6 MiB, 2 MiB and 20 small files, the big one first, into a destination that takes
/// 4 MiB: a full tmpfs (`device_full`) or a file size limit.
fn fill_up(f: &Fixture, push: bool, device_full: bool) {
    let mut rng = Rng::new(11);
    let old_big = rng.bytes(100_000);
    f.write("dst/big", &old_big);
    f.write("src/big", rng.bytes(6 << 20));
    f.write("src/medium", rng.bytes(2 << 20));
    for i in 0..20 {
        f.write(format!("src/small/s{i}"), rng.bytes(10_000));
    }
    // One file at a time, the big one first, so what fits does not depend on timing.
    let mut cmd = pid_sy(f, &f.path("agent.pid"));
    cmd.args(["-j", "1"]).arg(f.src_slash());
    if push {
        cmd.arg(remote_dst(f));
    } else {
        cmd.arg(f.dst());
    }
    if !device_full {
        limit_file_size(&mut cmd);
    }
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    let context = format!("push: {push}: {err}");
    assert_eq!(out.status.code(), Some(23), "{context}");
    let cause = if device_full {
        "no space left on the destination's device"
    } else {
        "file too large for the destination (size limit)"
    };
    assert!(err.contains("big") && err.contains(cause), "{context}");
    assert!(fs::read(f.path("dst/big")).unwrap() == old_big, "{context}");
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
    assert!(
        fs::read(f.path("dst/medium")).unwrap() == fs::read(f.path("src/medium")).unwrap(),
        "{context}"
    );
    for i in 0..20 {
        let name = format!("small/s{i}");
        assert_eq!(
            fs::read(f.dst().join(&name)).unwrap(),
            fs::read(f.src().join(&name)).unwrap(),
            "{name}: {context}"
        );
    }
}

/// A destination directory remounted read-only (even root may not write there): the old
/// version stays, the error names the file and the cause, the rest completes, exit 23.
#[test]
fn a_read_only_destination_names_the_file_and_keeps_the_old_version() {
    let f = Fixture::new();
    // Of another size than the old version, which the same mtime (coarse clock) cannot hide.
    f.write("src/ro/file", "new version");
    f.write("src/other", "new");
    let Some(_mounted) = Mounted::new(&f.mkdir("dst/ro")) else {
        return;
    };
    f.write("dst/ro/file", "old");
    let status = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(f.path("dst/ro"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = f.sy().arg(f.src_slash()).arg(f.dst()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("ro/file") && err.contains("the destination is a read-only file system"),
        "{err}"
    );
    assert_eq!(fs::read(f.path("dst/ro/file")).unwrap(), b"old");
    assert_eq!(fs::read(f.path("dst/other")).unwrap(), b"new");
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
}

/// A destination directory sy may not write to (root's, mode 555, with sy running as `nobody`;
/// sy would make a directory of its own writable, as rsync does): the old version stays, the
/// error names the file and the cause, exit 23.
#[test]
fn a_forbidden_destination_names_the_file_and_keeps_the_old_version() {
    if !require_root("give sy a destination directory that is not its own") {
        return;
    }
    let f = Fixture::new();
    // Of another size than the old version, which the same mtime (coarse clock) cannot hide.
    f.write("src/locked/file", "new version");
    f.write("dst/locked/file", "old");
    let Some(mut cmd) = sy_bound_by_permissions(&f) else {
        return;
    };
    // Everything but the locked directory is nobody's.
    rustix::fs::chown(
        f.dst(),
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .unwrap();
    fs::set_permissions(
        f.path("dst/locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let out = cmd.arg(f.src_slash()).arg(f.dst()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("locked/file") && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(fs::read(f.path("dst/locked/file")).unwrap(), b"old");
    fs::set_permissions(
        f.path("dst/locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
}
