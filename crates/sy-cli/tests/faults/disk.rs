//! A destination that fills up: a 4 MiB tmpfs when this test may mount one (root, and a
//! system that allows it), and always a 4 MiB file size limit (RLIMIT_FSIZE on the sy process,
//! which the agent inherits, with SIGXFSZ ignored so writes fail with EFBIG). Either way the old
//! version of the file that does not fit stays, its temporary goes, the error names the file
//! and the cause, and the files that fit are complete.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Rng, pid_sy, remote_dst};
use crate::util::{Fixture, is_root, leftovers, stderr};

const LIMIT: u64 = 4 << 20;

/// A small tmpfs at `dir`, unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn try_new(dir: &Path) -> Option<Mounted> {
        if !is_root() {
            return None;
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={LIMIT}"), "sy-test"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Mounted(dir.to_owned()))
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
fn a_destination_that_fills_up_keeps_old_versions_and_names_the_file() {
    let mut tmpfs_used = false;
    for (push, try_tmpfs) in [(false, false), (true, false), (false, true), (true, true)] {
        let f = Fixture::new();
        let mut rng = Rng::new(11);
        f.mkdir("dst");
        let mounted = if try_tmpfs {
            Mounted::try_new(&f.dst())
        } else {
            None
        };
        if try_tmpfs && mounted.is_none() {
            eprintln!("destination limit: no tmpfs (mounting is not possible here)");
            continue;
        }
        tmpfs_used |= mounted.is_some();
        eprintln!(
            "destination limit: {}, {}",
            if mounted.is_some() {
                "a 4 MiB tmpfs"
            } else {
                "RLIMIT_FSIZE of 4 MiB"
            },
            if push { "push" } else { "local" }
        );
        let old_big = rng.bytes(100_000);
        f.write("dst/big", &old_big);
        f.write("src/big", rng.bytes(6 << 20));
        f.write("src/medium", rng.bytes(2 << 20));
        for i in 0..20 {
            f.write(format!("src/small/s{i}"), rng.bytes(10_000));
        }
        // One file at a time, the big one first, so what fits does not depend on timing.
        let mut cmd = pid_sy(&f, &f.path("agent.pid"));
        cmd.args(["-j", "1"]).arg(f.src_slash());
        if push {
            cmd.arg(remote_dst(&f));
        } else {
            cmd.arg(f.dst());
        }
        if mounted.is_none() {
            limit_file_size(&mut cmd);
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        let context = format!("push: {push}: {err}");
        assert_eq!(out.status.code(), Some(2), "{context}");
        let cause = if mounted.is_some() {
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
    eprintln!("tmpfs used: {tmpfs_used}");
}

/// A destination remounted read-only (when this test may mount), and a destination directory
/// sy may not write to (as `nobody` via setpriv when root, else mode 555): the old versions
/// stay, the error names the file and the cause, exit 2.
#[test]
fn a_read_only_or_forbidden_destination_names_the_file_and_keeps_the_old_version() {
    let f = Fixture::new();
    f.write("src/ro/file", "new");
    f.write("src/locked/file", "new");
    f.mkdir("dst/ro");
    let mounted = Mounted::try_new(&f.path("dst/ro"));
    f.write("dst/ro/file", "old");
    f.write("dst/locked/file", "old");
    if mounted.is_some() {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(f.path("dst/ro"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    fs::set_permissions(
        f.path("dst/locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let mut cmd = if is_root() {
        // Root writes anywhere; as nobody, the mode bits apply. Everything else is nobody's.
        for path in [f.dst(), f.path("dst/ro")] {
            let _ = rustix::fs::chown(
                &path,
                Some(rustix::fs::Uid::from_raw(65534)),
                Some(rustix::fs::Gid::from_raw(65534)),
            );
        }
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sy"));
        cmd
    } else {
        Command::new(env!("CARGO_BIN_EXE_sy"))
    };
    let out = cmd
        .current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    let err = stderr(&out);
    eprintln!("read-only file system tested: {}", mounted.is_some());
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("locked/file") && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(fs::read(f.path("dst/locked/file")).unwrap(), b"old");
    if mounted.is_some() {
        assert!(
            err.contains("ro/file") && err.contains("the destination is a read-only file system"),
            "{err}"
        );
    }
    assert_eq!(fs::read(f.path("dst/ro/file")).unwrap(), b"old");
    fs::set_permissions(
        f.path("dst/locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
}
