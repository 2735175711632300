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

use crate::util::{Fixture, built_program, default_signal_actions};

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

/// The `fault_relay` example (a link that drops or stalls), which `cargo test` builds beside
/// the test binaries unless told to build only some tests (`--test tests`).
pub fn fault_relay() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        built_program(
            "examples/fault_relay",
            "cargo build -p sy-cli --example fault_relay",
        )
    })
}

/// Writes a fake `ssh` to `name` in the fixture: it drops its options and the host, then runs
/// `tail` with the agent's command line in `$*`.
pub fn fake_ssh(f: &Fixture, name: &str, tail: &str) -> PathBuf {
    let path = f.path(name);
    let text = format!(
        r#"#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
{tail}
"#
    );
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs the agent's command line through `fault_relay`.
const RELAY_TAIL: &str = r#"exec "$SY_TEST_RELAY" "$*""#;

/// Runs the agent directly (the `exec`s keep the process id, which goes to
/// `$SY_TEST_PIDFILE`, so a test can kill the agent itself).
const PID_TAIL: &str = r#"echo $$ > "$SY_TEST_PIDFILE"
exec sh -c "exec $*""#;

/// `sy -e RELAY-RSH --remote-path SY-REMOTE`, the relay's fault set by `fault`
/// (see `examples/fault_relay.rs`; connections are counted in the fixture).
pub fn relayed_sy(f: &Fixture, fault: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(relayed(f, fault))
}

/// [`relayed_sy`] as a std command (to be spawned and signalled; the signals act by default).
pub fn relayed(f: &Fixture, fault: &str) -> std::process::Command {
    let rsh = fake_ssh(f, "relay-rsh", RELAY_TAIL);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    default_signal_actions(&mut cmd)
        .current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env("SY_TEST_RELAY", fault_relay())
        .env("SY_RELAY_FAULT", fault)
        .env("SY_RELAY_COUNT", f.path("relay-connections"))
        .arg("-e")
        .arg(rsh)
        .arg("--remote-path")
        .arg(crate::remote::sy_remote());
    cmd
}

/// `sy -e PID-RSH --remote-path SY-REMOTE` as a std command (to be spawned, signalled and
/// killed; the signals act by default); the agent's process id lands in `pidfile`.
pub fn pid_sy(f: &Fixture, pidfile: &Path) -> std::process::Command {
    let rsh = fake_ssh(f, "pid-rsh", PID_TAIL);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    default_signal_actions(&mut cmd)
        .current_dir(f.root())
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
