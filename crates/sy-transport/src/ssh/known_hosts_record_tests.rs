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
        known
            .check(&HostKeyName::host("host.example", 22), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        known
            .record(&[HostKeyName::host("Host.Example", 22)], &a, false)
            .unwrap(),
        file
    );
    assert_eq!(
        known
            .record(
                &[HostKeyName::host("host.example", 2222)],
                &key(ED25519_B),
                false
            )
            .unwrap(),
        file
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("host.example {ED25519_A}\n[host.example]:2222 {ED25519_B}\n")
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &a)
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2222), &key(ED25519_B))
            .unwrap(),
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
        .record(
            &[HostKeyName::host("host.example", 22)],
            &key(ED25519_A),
            true,
        )
        .unwrap();
    known
        .record(
            &[HostKeyName::host("host.example", 2022)],
            &key(ED25519_B),
            true,
        )
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
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
            .unwrap(),
        trusted(&file, 2)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2022), &key(ED25519_B))
            .unwrap(),
        trusted(&file, 3)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("last.example", 22), &key(ECDSA))
            .unwrap(),
        trusted(&file, 1)
    );
}

#[test]
fn ssh_keygen_finds_what_record_wrote() {
    let (_dir, file, known) = user_file("");
    known
        .record(
            &[HostKeyName::host("host.example", 22)],
            &key(ED25519_A),
            true,
        )
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
    let err = known
        .record(&[HostKeyName::host("h", 22)], &key(ED25519_A), false)
        .unwrap_err();
    assert!(matches!(err, KnownHostsError::NoUserFile), "{err}");
}

#[test]
fn keys_built_in_memory_work_too() {
    let make = |byte| PublicKey::from(Ed25519PublicKey([byte; 32]));
    let (_dir, file, known) = user_file("");
    known
        .record(&[HostKeyName::host("mem.example", 22)], &make(1), false)
        .unwrap();
    assert_eq!(
        known
            .check(&HostKeyName::host("mem.example", 22), &make(1))
            .unwrap(),
        trusted(&file, 1)
    );
    assert!(matches!(
        known
            .check(&HostKeyName::host("mem.example", 22), &make(2))
            .unwrap(),
        HostKeyStatus::Changed { line: 1, .. }
    ));
}

#[test]
fn a_host_and_its_address_share_a_line_or_get_a_hashed_line_each() {
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    assert_eq!(HostKeyName::address(v4, 22).as_str(), "192.0.2.7");
    assert_eq!(HostKeyName::address(v4, 2222).as_str(), "[192.0.2.7]:2222");
    assert_eq!(
        HostKeyName::address(v6, 2222).as_str(),
        "[2001:db8::7]:2222"
    );

    let (_dir, file, known) = user_file("");
    let names = [HostKeyName::alias("pinned"), HostKeyName::address(v4, 2222)];
    known.record(&names, &key(ED25519_A), false).unwrap();
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("pinned,[192.0.2.7]:2222 {ED25519_A}\n")
    );
    for name in &names {
        assert_eq!(
            known.check(name, &key(ED25519_A)).unwrap(),
            trusted(&file, 1)
        );
    }

    let (_dir, file, known) = user_file("");
    known.record(&names, &key(ED25519_A), true).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        !text.contains("pinned") && !text.contains("192.0.2.7"),
        "{text}"
    );
    assert_eq!(
        known.check(&names[0], &key(ED25519_A)).unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known.check(&names[1], &key(ED25519_A)).unwrap(),
        trusted(&file, 2)
    );
}
