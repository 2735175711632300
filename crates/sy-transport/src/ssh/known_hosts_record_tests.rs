//! Recording accepted keys: where, how (plain or hashed), and that checks and `ssh-keygen` find them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use russh::keys::ssh_key::public::Ed25519PublicKey;

use super::*;

#[test]
fn record_then_check_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new/.ssh/known_hosts");
    let global = dir.path().join("global");
    let known = KnownHosts::new(vec![file.clone()], vec![global.clone()]);
    let a = key(&format!("{ED25519_A} comment-not-written"));
    assert_eq!(
        known.check("host.example", 22, &a).unwrap(),
        HostKeyStatus::Unknown
    );
    assert_eq!(known.record("Host.Example", 22, &a, false).unwrap(), file);
    assert_eq!(
        known
            .record("host.example", 2222, &key(ED25519_B), false)
            .unwrap(),
        file
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("host.example {ED25519_A}\n[host.example]:2222 {ED25519_B}\n")
    );
    assert_eq!(
        known.check("host.example", 22, &a).unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known.check("host.example", 2222, &key(ED25519_B)).unwrap(),
        trusted(&file, 2)
    );
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert!(!global.exists(), "only the first user file is written");
}

#[test]
fn record_hashed_round_trips() {
    let (_dir, file, known) = user_file(&format!("last.example {ECDSA}"));
    known
        .record("host.example", 22, &key(ED25519_A), true)
        .unwrap();
    known
        .record("host.example", 2022, &key(ED25519_B), true)
        .unwrap();
    let text = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a missing final newline must not join entries:\n{text}"
    );
    assert!(
        lines[1].starts_with("|1|") && lines[2].starts_with("|1|"),
        "{text}"
    );
    assert!(!text.contains("host.example"), "{text}");
    assert_eq!(
        known.check("host.example", 22, &key(ED25519_A)).unwrap(),
        trusted(&file, 2)
    );
    assert_eq!(
        known.check("host.example", 2022, &key(ED25519_B)).unwrap(),
        trusted(&file, 3)
    );
    assert_eq!(
        known.check("last.example", 22, &key(ECDSA)).unwrap(),
        trusted(&file, 1)
    );
}

#[test]
fn ssh_keygen_finds_what_record_wrote() {
    let (_dir, file, known) = user_file("");
    known
        .record("host.example", 22, &key(ED25519_A), true)
        .unwrap();
    let output = match Command::new("ssh-keygen")
        .arg("-F")
        .arg("host.example")
        .arg("-f")
        .arg(&file)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            crate::ssh::skip_test(&format!(
                "ssh_keygen_finds_what_record_wrote needs ssh-keygen ({error})"
            ));
            return;
        }
    };
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains(ED25519_A));
}

#[test]
fn record_without_a_user_file_fails() {
    let known = KnownHosts::new(Vec::new(), vec![PathBuf::from("/etc/ssh/ssh_known_hosts")]);
    let err = known.record("h", 22, &key(ED25519_A), false).unwrap_err();
    assert!(matches!(err, KnownHostsError::NoUserFile), "{err}");
}

#[test]
fn keys_built_in_memory_work_too() {
    let make = |byte| PublicKey::from(Ed25519PublicKey([byte; 32]));
    let (_dir, file, known) = user_file("");
    known.record("mem.example", 22, &make(1), false).unwrap();
    assert_eq!(
        known.check("mem.example", 22, &make(1)).unwrap(),
        trusted(&file, 1)
    );
    assert!(matches!(
        known.check("mem.example", 22, &make(2)).unwrap(),
        HostKeyStatus::Changed { line: 1, .. }
    ));
}
