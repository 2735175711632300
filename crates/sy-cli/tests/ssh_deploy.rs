//! Deploying the agent over the built-in SSH client to a host without `sy-remote`: the copy
//! lands at its content-addressed name in a private `~/.cache/sy`, travels zstd-compressed where
//! the host can unpack it, and a copy that is not private to the user or not of the right size
//! is never run, only replaced.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::remote::{edge_tree, noise, sy_remote};
use crate::ssh_builtin::{Setup, no_sy_remote_on_the_remote_path, ok};
use crate::util::{assert_same_tree, require_root, stderr, stdout};

/// An owner that is not the login user, for files planted as root.
const OTHER_UID: u32 = 65534;

/// The setup of a deploy test, `None` when it is skipped.
fn setup() -> Option<Setup> {
    if !no_sy_remote_on_the_remote_path() {
        return None;
    }
    Setup::new(true)
}

/// `sy -vv SRC/ sshtest:DST/`, with the default `--remote-path` (so a missing agent is
/// deployed).
fn sync(s: &Setup) -> Output {
    s.sy()
        .arg("-vv")
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .output()
        .unwrap()
}

/// The one agent in the remote `~/.cache/sy`, wherever the deploy put it.
fn deployed_agent(s: &Setup) -> PathBuf {
    let agents: Vec<PathBuf> = fs::read_dir(s.home.join(".cache/sy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sy-remote-")
        })
        .collect();
    assert_eq!(agents.len(), 1, "{agents:?}");
    agents[0].clone()
}

/// A shell script of `len` bytes that leaves `pwned` in the remote home when it runs.
fn trap(len: u64) -> Vec<u8> {
    let mut script = b"#!/bin/sh\ntouch \"$HOME/pwned\"\nexit 1\n".to_vec();
    let len = usize::try_from(len).unwrap();
    while script.len() < len {
        let line = (len - script.len()).min(4096);
        script.extend(std::iter::repeat_n(b'#', line - 1));
        script.push(b'\n');
    }
    script.truncate(len);
    script
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Deploys once, lets `plant` tamper with the deployed copy (it gets the copy's path and the
/// local agent's size), then syncs again: the planted file must not run, and the sync must
/// replace it with a private copy of the local agent.
fn planted_agent_is_replaced_unrun(plant: impl FnOnce(&Path, u64)) -> Option<Setup> {
    let s = setup()?;
    let local = fs::read(sy_remote()).unwrap();
    s.f.write("src/a", "first");
    ok(sync(&s));
    let deployed = deployed_agent(&s);
    plant(&deployed, local.len() as u64);
    s.f.write("src/b", "second");
    let second = ok(sync(&s));
    let err = stderr(&second);
    assert!(
        !s.home.join("pwned").exists(),
        "the planted file ran: {err}"
    );
    assert!(err.contains("copied"), "{err}");
    assert_eq!(fs::read_to_string(s.f.path("dst/b")).unwrap(), "second");
    let meta = fs::symlink_metadata(&deployed).unwrap();
    assert!(meta.is_file(), "{meta:?}");
    assert!(fs::read(&deployed).unwrap() == local, "not replaced");
    assert_eq!(
        (mode(&deployed), meta.uid()),
        (0o700, rustix::process::geteuid().as_raw())
    );
    let dir = deployed.parent().unwrap();
    let dir_meta = fs::symlink_metadata(dir).unwrap();
    assert_eq!(
        (dir_meta.is_dir(), mode(dir), dir_meta.uid()),
        (true, 0o700, rustix::process::geteuid().as_raw())
    );
    Some(s)
}

#[test]
fn a_host_without_sy_remote_gets_a_compressed_verified_copy_at_its_content_address_once() {
    let Some(s) = setup() else {
        return;
    };
    // Built beside the `sy` under test, which is where it is copied from.
    let local = fs::read(sy_remote()).unwrap();
    let digest = blake3::hash(&local).to_hex();
    let deployed = s
        .home
        .join(format!(".cache/sy/sy-remote-{}", &digest.as_str()[..16]));
    edge_tree(&s.f);
    let first = ok(sync(&s));
    let err = stderr(&first);
    assert!(err.contains("copied") && err.contains(", zstd"), "{err}");
    assert_same_tree(&s.f.src(), &s.f.dst());
    assert!(fs::read(&deployed).unwrap() == local);
    assert_eq!(mode(&deployed), 0o700);
    assert_eq!(mode(deployed.parent().unwrap()), 0o700);
    let leftovers: Vec<_> = fs::read_dir(deployed.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    s.f.write("src/later", "second run");
    let second = ok(sync(&s));
    assert!(!stderr(&second).contains("copied"), "{}", stderr(&second));
    assert_eq!(
        fs::read_to_string(s.f.path("dst/later")).unwrap(),
        "second run"
    );
}

/// What `cargo install --locked --path crates/sy-cli --root R` puts in `R/bin` is this
/// package's binaries: with only those two in a directory of their own, `sy` finds the agent
/// beside itself, copies it to a host that has none and updates a changed file there by delta.
#[test]
fn the_installed_binaries_alone_deploy_the_agent_and_update_by_delta() {
    let Some(s) = setup() else {
        return;
    };
    let bin = s.f.mkdir("installed/bin");
    for built in [env!("CARGO_BIN_EXE_sy"), env!("CARGO_BIN_EXE_sy-remote")] {
        let built = Path::new(built);
        fs::copy(built, bin.join(built.file_name().unwrap())).unwrap();
    }
    let old = noise(4 << 20, 11);
    let mut new = old.clone();
    new[2_000_000..2_000_500].copy_from_slice(&noise(500, 12));
    s.f.write("src/large", &new);
    s.f.write("dst/large", &old);
    // Written within one tick of the kernel's coarse clock, both could carry the same time
    // and the copy would count as up to date.
    let old_time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
    fs::File::options()
        .write(true)
        .open(s.f.path("dst/large"))
        .unwrap()
        .set_modified(old_time)
        .unwrap();
    let out = ok(s
        .sy_at(&bin.join("sy"))
        .args(["-vv", "--stats"])
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .output()
        .unwrap());
    let (err, stats) = (stderr(&out), stdout(&out));
    assert!(err.contains("copied"), "{err}");
    assert!(fs::read(s.f.path("dst/large")).unwrap() == new);
    assert!(
        fs::read(deployed_agent(&s)).unwrap() == fs::read(bin.join("sy-remote")).unwrap(),
        "the agent deployed is not the one installed beside sy"
    );
    let matched: u64 = stats
        .lines()
        .find_map(|line| line.strip_prefix("bytes: "))
        .and_then(|bytes| {
            bytes
                .split(", ")
                .nth(1)?
                .strip_suffix(" matched")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no matched bytes in --stats: {stats}"));
    assert!(matched >= 3 << 20, "{stats}");
}

#[test]
fn a_host_whose_zstd_fails_gets_the_agent_uncompressed() {
    let Some(s) = setup() else {
        return;
    };
    // Found first on the sessions' PATH, it claims zstd is there and then fails to unpack.
    let bin = s.home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(
        bin.join("zstd"),
        "#!/bin/sh\necho 'zstd: broken' >&2\nexit 1\n",
    )
    .unwrap();
    chmod(&bin.join("zstd"), 0o755);
    s.f.write("src/a", "plain");
    let out = ok(sync(&s));
    let err = stderr(&out);
    assert!(err.contains("copied") && !err.contains(", zstd"), "{err}");
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "plain");
    let deployed = deployed_agent(&s);
    assert!(fs::read(&deployed).unwrap() == fs::read(sy_remote()).unwrap());
    assert_eq!(mode(&deployed), 0o700);
}

#[test]
fn a_planted_agent_of_another_size_is_replaced_unrun() {
    planted_agent_is_replaced_unrun(|deployed, len| {
        fs::write(deployed, trap(len / 2)).unwrap();
        chmod(deployed, 0o700);
    });
}

#[test]
fn a_planted_agent_writable_by_others_is_replaced_unrun() {
    planted_agent_is_replaced_unrun(|deployed, len| {
        fs::write(deployed, trap(len)).unwrap();
        chmod(deployed, 0o777);
    });
}

#[test]
fn an_agent_in_a_directory_open_to_others_is_replaced_unrun() {
    planted_agent_is_replaced_unrun(|deployed, len| {
        fs::write(deployed, trap(len)).unwrap();
        chmod(deployed, 0o700);
        chmod(deployed.parent().unwrap(), 0o775);
    });
}

#[test]
fn a_planted_symlink_at_the_agent_name_is_replaced_unrun() {
    planted_agent_is_replaced_unrun(|deployed, len| {
        let elsewhere = deployed.with_file_name("elsewhere");
        fs::write(&elsewhere, trap(len)).unwrap();
        chmod(&elsewhere, 0o700);
        fs::remove_file(deployed).unwrap();
        std::os::unix::fs::symlink(&elsewhere, deployed).unwrap();
    });
}

#[test]
fn an_agent_owned_by_another_user_is_replaced_unrun() {
    if !require_root("give the planted agent to another user") {
        return;
    }
    planted_agent_is_replaced_unrun(|deployed, len| {
        fs::write(deployed, trap(len)).unwrap();
        chmod(deployed, 0o700);
        std::os::unix::fs::chown(deployed, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    });
}

#[test]
fn an_agent_directory_owned_by_another_user_is_moved_aside_unrun() {
    if !require_root("give the agent directory to another user") {
        return;
    }
    let Some(s) = planted_agent_is_replaced_unrun(|deployed, len| {
        fs::write(deployed, trap(len)).unwrap();
        chmod(deployed, 0o700);
        std::os::unix::fs::chown(deployed.parent().unwrap(), Some(OTHER_UID), Some(OTHER_UID))
            .unwrap();
    }) else {
        return;
    };
    let aside: Vec<_> = fs::read_dir(s.home.join(".cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("sy.untrusted-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}
