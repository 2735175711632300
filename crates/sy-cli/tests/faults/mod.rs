//! The fault-injection suite: links that drop or stall, processes killed at random moments, a
//! destination that fills up, sources rewritten mid-copy. Every run is seeded (the seeds are in
//! the failure messages) and bounded; `SY_FAULT_KILLS` raises the number of kill moments.

mod disk;
mod kills;
mod link;
mod signals;
mod source;
mod verify;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::util::Fixture;

/// A tiny xorshift generator: reproducible from its seed, good enough to pick moments and sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// `len` incompressible bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The `fault_relay` example (a link that drops or stalls), built once per run into the same
/// target directory and profile as `sy`.
pub fn fault_relay() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let sy = PathBuf::from(env!("CARGO_BIN_EXE_sy"));
        let profile_dir = sy.parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "-p",
                "sy-cli",
                "--example",
                "fault_relay",
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("running cargo to build fault_relay");
        assert!(status.success(), "building fault_relay failed");
        let built = profile_dir.join("examples/fault_relay");
        assert!(built.is_file(), "{} missing", built.display());
        built
    })
}

/// A fake `ssh` (options and host dropped) that runs the agent's command line through
/// `fault_relay`, and writes the relay's process id to `$SY_TEST_PIDFILE` when that is set.
const RELAY_RSH: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
exec "$SY_TEST_RELAY" "$*"
"#;

/// A fake `ssh` that runs the agent directly (the `exec`s keep the process id, which goes to
/// `$SY_TEST_PIDFILE`, so a test can kill the agent itself).
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

fn script(f: &Fixture, name: &str, text: &str) -> PathBuf {
    let path = f.path(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `sy -e RELAY_RSH --remote-path SY-REMOTE`, the relay's fault set by `fault`
/// (see `examples/fault_relay.rs`; connections are counted in the fixture).
pub fn relayed_sy(f: &Fixture, fault: &str) -> assert_cmd::Command {
    let rsh = script(f, "relay-rsh", RELAY_RSH);
    let mut cmd = f.sy();
    cmd.env("SY_TEST_RELAY", fault_relay())
        .env("SY_RELAY_FAULT", fault)
        .env("SY_RELAY_COUNT", f.path("relay-connections"))
        .arg("-e")
        .arg(rsh)
        .arg("--remote-path")
        .arg(crate::remote::sy_remote());
    cmd
}

/// `sy -e PID_RSH --remote-path SY-REMOTE` as a std command (to be spawned and killed); the
/// agent's process id lands in `pidfile`.
pub fn pid_sy(f: &Fixture, pidfile: &Path) -> std::process::Command {
    let rsh = script(f, "pid-rsh", PID_RSH);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    cmd.current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env("SY_TEST_PIDFILE", pidfile)
        .arg("-e")
        .arg(rsh)
        .arg("--remote-path")
        .arg(crate::remote::sy_remote());
    cmd
}

/// The remote form of the fixture's destination (`fakehost:/…/dst/`).
pub fn remote_dst(f: &Fixture) -> String {
    format!("fakehost:{}/", f.dst().display())
}

/// The remote form of the fixture's source (`fakehost:/…/src/`).
pub fn remote_src(f: &Fixture) -> String {
    format!("fakehost:{}/", f.src().display())
}
