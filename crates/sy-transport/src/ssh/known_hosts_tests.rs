use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

#[path = "known_hosts_record_tests.rs"]
mod record;

/// Real keys made with `ssh-keygen -t … -N '' -C ''`.
const ED25519_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbJvYeBcDbBNiNOYEaM9P+9KOByV7S+hKvumcFPhCjk";
const ED25519_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMYHuzpfCkyaRcvcbTm65fCchvdQRsdSjSc1o2GDrnCz";
const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA2IUI6EGByQpfdjyzWHq3zsfEHS7IwT6DwccZE4P0v9RGblbnLPTJip9GepFMw3j+d6h2qoXL3Hj2EnJx8ihBo=";

const ECDSA_P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBPsIwPAa7oCznfnc8XuBQwzD6ZIfn5GBpsgpX0iG7Hz5v10Pw34X7ZPfQr/doYqIUeSn2BEcCLYLQKA5fj3tTTCxfBcQeZolzNV1hLV+W0pGLDLVoK5orjpwZUwPrtE8sw==";

fn key(text: &str) -> PublicKey {
    PublicKey::from_openssh(text).unwrap()
}

/// A temp dir holding `known_hosts` with `text`, and the checker for it alone.
fn user_file(text: &str) -> (tempfile::TempDir, PathBuf, KnownHosts) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    fs::write(&file, text).unwrap();
    let known = KnownHosts::new(vec![file.clone()], Vec::new());
    (dir, file, known)
}

fn trusted(file: &Path, line: usize) -> HostKeyStatus {
    HostKeyStatus::Trusted {
        source: KeySource::File(file.to_owned()),
        line,
    }
}

#[test]
fn plain_entries() {
    let (_dir, file, known) = user_file(&format!(
        "# comment\n\nother.example {ED25519_B}\nhost.example,10.0.0.1 {ED25519_A} alice@laptop\n"
    ));
    let a = key(ED25519_A);
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &a)
            .unwrap(),
        trusted(&file, 4)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("HOST.Example", 22), &a)
            .unwrap(),
        trusted(&file, 4)
    );
    assert_eq!(
        known.check(&HostKeyName::host("10.0.0.1", 22), &a).unwrap(),
        trusted(&file, 4)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("unknown.example", 22), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
}

#[test]
fn on_another_port_a_key_recorded_without_a_port_is_trusted_as_by_openssh() {
    let (_dir, file, known) = user_file(&format!(
        "host.example {ED25519_A}\n@revoked old.example {ED25519_A}\n\
         [moved.example]:2222 {ED25519_B}\nmoved.example {ED25519_A}\n"
    ));
    let a = key(ED25519_A);
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2222), &a)
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2222), &key(ED25519_B))
            .unwrap(),
        HostKeyStatus::Unknown,
        "another key recorded without a port leaves the port unknown"
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("old.example", 2222), &a)
            .unwrap(),
        HostKeyStatus::Revoked {
            source: KeySource::File(file.clone()),
            line: 2
        }
    );
    assert!(
        matches!(
            known
                .check(&HostKeyName::host("moved.example", 2222), &a)
                .unwrap(),
            HostKeyStatus::Changed { line: 3, .. }
        ),
        "an entry for the port decides alone"
    );
}

#[test]
fn an_alias_is_looked_up_alone_whatever_the_port() {
    let (_dir, file, known) = user_file(&format!(
        "pinned-alias {ED25519_A}\n[host.example]:2222 {ED25519_B}\nhost.example {ED25519_B}\n"
    ));
    let alias = HostKeyName::alias("Pinned-Alias");
    assert_eq!(alias.as_str(), "pinned-alias");
    assert_eq!(
        known.check(&alias, &key(ED25519_A)).unwrap(),
        trusted(&file, 1)
    );
    // The key recorded for the host and port does not count for the alias: it is changed.
    assert!(matches!(
        known.check(&alias, &key(ED25519_B)).unwrap(),
        HostKeyStatus::Changed { line: 1, .. }
    ));
    // No fallback to a plain name either.
    let other = HostKeyName::alias("other-alias");
    assert_eq!(
        known.check(&other, &key(ED25519_B)).unwrap(),
        HostKeyStatus::Unknown
    );
    known
        .record(std::slice::from_ref(&other), &key(ED25519_B), false)
        .unwrap();
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with(&format!("\nother-alias {ED25519_B}\n")),
        "{text}"
    );
}

#[test]
fn wildcards_and_negation() {
    let (_dir, file, known) = user_file(&format!(
        "*.example.com,!secret.example.com\t{ED25519_A}\nweb?.test {ED25519_A}\n"
    ));
    let a = key(ED25519_A);
    assert_eq!(
        known
            .check(&HostKeyName::host("www.example.com", 22), &a)
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("secret.example.com", 22), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("web1.test", 22), &a)
            .unwrap(),
        trusted(&file, 2)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("web10.test", 22), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
}

#[test]
fn non_default_ports_use_brackets() {
    let (_dir, file, known) = user_file(&format!(
        "[host.example]:2222 {ED25519_A}\n[*.wild]:2200 {ED25519_B}\n"
    ));
    let a = key(ED25519_A);
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2222), &a)
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2223), &a)
            .unwrap(),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("a.wild", 2200), &key(ED25519_B))
            .unwrap(),
        trusted(&file, 2)
    );
}

/// `|1|salt|hash` with HMAC-SHA1 computed here, independently of the code under test.
fn hashed_name(name: &str, salt: &[u8]) -> String {
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt),
        name.as_bytes(),
    );
    let mut hash = [0u8; 20];
    hash.copy_from_slice(mac.as_ref());
    HostPatterns::HashedName {
        salt: salt.to_vec(),
        hash,
    }
    .to_string()
}

#[test]
fn hashed_entries_computed_in_the_test() {
    let (_dir, file, known) = user_file(&format!(
        "{} {ED25519_A}\n{} {ED25519_B}\n",
        hashed_name("host.example", &[7; 20]),
        hashed_name("[host.example]:2022", b"another salt of 20 b")
    ));
    assert!(fs::read_to_string(&file).unwrap().starts_with("|1|"));
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2022), &key(ED25519_B))
            .unwrap(),
        trusted(&file, 2)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("other.example", 22), &key(ED25519_A))
            .unwrap(),
        HostKeyStatus::Unknown
    );
}

#[test]
fn hashed_entries_written_by_ssh_keygen() {
    let (_dir, file, known) = user_file(&format!(
        "host.example {ED25519_A}\n[host.example]:2022 {ED25519_B}\n"
    ));
    match Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&file)
        .output()
    {
        Ok(output) if output.status.success() => {}
        other => {
            crate::ssh::skip_test(&format!(
                "hashed_entries_written_by_ssh_keygen needs a working ssh-keygen ({other:?})"
            ));
            return;
        }
    }
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("host.example"),
        "ssh-keygen -H should have hashed:\n{text}"
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
            .unwrap(),
        trusted(&file, 1)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 2022), &key(ED25519_B))
            .unwrap(),
        trusted(&file, 2)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_B))
            .unwrap(),
        HostKeyStatus::Changed {
            source: KeySource::File(file.clone()),
            line: 1,
            known_fingerprint: key(ED25519_A).fingerprint(HashAlg::Sha256).to_string(),
        }
    );
}

#[test]
fn revoked_keys_are_refused_even_when_also_trusted() {
    let (_dir, file, known) = user_file(&format!(
        "host.example {ED25519_A}\n@revoked * {ED25519_A}\n@revoked other.example {ED25519_B}\n"
    ));
    let revoked = HostKeyStatus::Revoked {
        source: KeySource::File(file.clone()),
        line: 2,
    };
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
            .unwrap(),
        revoked
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_B))
            .unwrap(),
        HostKeyStatus::Changed {
            source: KeySource::File(file.clone()),
            line: 1,
            known_fingerprint: key(ED25519_A).fingerprint(HashAlg::Sha256).to_string(),
        }
    );
    assert_eq!(
        known.known_algorithms(&HostKeyName::host("host.example", 22)),
        vec![Algorithm::Ed25519]
    );
}

#[test]
fn a_changed_key_reports_the_old_entry() {
    let (_dir, file, known) = user_file(&format!(
        "other.example {ED25519_B}\n# comment\nhost.example {ED25519_A}\n"
    ));
    let status = known
        .check(&HostKeyName::host("host.example", 22), &key(ED25519_B))
        .unwrap();
    let HostKeyStatus::Changed {
        source: changed_file,
        line,
        known_fingerprint,
    } = status
    else {
        panic!("expected Changed, got {status:?}");
    };
    assert_eq!((changed_file, line), (KeySource::File(file), 3));
    assert!(
        known_fingerprint.starts_with("SHA256:"),
        "{known_fingerprint}"
    );
    assert_eq!(
        known_fingerprint,
        key(ED25519_A).fingerprint(HashAlg::Sha256).to_string()
    );
}

#[test]
fn any_matching_entry_trusts_the_key() {
    let (_dir, file, known) = user_file(&format!("host {ED25519_A}\nhost {ED25519_B}\n"));
    assert_eq!(
        known
            .check(&HostKeyName::host("host", 22), &key(ED25519_B))
            .unwrap(),
        trusted(&file, 2)
    );
}

#[test]
fn a_key_of_another_type_is_a_changed_key() {
    let (_dir, file, known) = user_file(&format!("host.example {ECDSA}\n"));
    let status = known
        .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
        .unwrap();
    assert_eq!(
        status,
        HostKeyStatus::Changed {
            source: KeySource::File(file),
            line: 1,
            known_fingerprint: key(ECDSA).fingerprint(HashAlg::Sha256).to_string(),
        }
    );
    let algorithms = known.known_algorithms(&HostKeyName::host("host.example", 22));
    assert_eq!(algorithms, vec![key(ECDSA).algorithm()]);
    assert!(
        known
            .known_algorithms(&HostKeyName::host("nobody.example", 22))
            .is_empty()
    );
}

#[test]
fn an_ecdsa_key_on_another_curve_is_a_changed_key_of_the_same_family() {
    // The ed25519 entry comes first; the nistp256 one is reported, as the same family.
    let (_dir, file, known) =
        user_file(&format!("host.example {ED25519_B}\nhost.example {ECDSA}\n"));
    let status = known
        .check(&HostKeyName::host("host.example", 22), &key(ECDSA_P384))
        .unwrap();
    assert_eq!(
        status,
        HostKeyStatus::Changed {
            source: KeySource::File(file.clone()),
            line: 2,
            known_fingerprint: key(ECDSA).fingerprint(HashAlg::Sha256).to_string(),
        }
    );
    let (_dir, file, known) = user_file(&format!("host.example {ECDSA_P384}\n"));
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ECDSA_P384))
            .unwrap(),
        trusted(&file, 1)
    );
    assert!(matches!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ECDSA))
            .unwrap(),
        HostKeyStatus::Changed { line: 1, .. }
    ));
}

#[test]
fn global_files_are_consulted_after_user_files() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user_known_hosts");
    let global = dir.path().join("global_known_hosts");
    fs::write(&user, format!("host.example {ED25519_A}\n")).unwrap();
    fs::write(
        &global,
        format!("\nhost.example {ED25519_B}\nglobal.example {ECDSA}\n"),
    )
    .unwrap();
    let missing = dir.path().join("missing");
    let known = KnownHosts::new(vec![missing, user.clone()], vec![global.clone()]);
    assert_eq!(
        known
            .check(&HostKeyName::host("global.example", 22), &key(ECDSA))
            .unwrap(),
        trusted(&global, 3)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_B))
            .unwrap(),
        trusted(&global, 2)
    );
    let changed = known.check(
        &HostKeyName::host("host.example", 22),
        &key(&ED25519_A.replace("IJbJ", "IJbK")),
    );
    let Ok(HostKeyStatus::Changed { source, line, .. }) = changed else {
        panic!("expected Changed, got {changed:?}");
    };
    assert_eq!(
        (source, line),
        (KeySource::File(user), 1),
        "the user file's entry is reported first"
    );
}

#[test]
fn cert_authority_lines_are_skipped() {
    let (_dir, _file, known) = user_file(&format!("@cert-authority *.example {ED25519_A}\n"));
    assert_eq!(
        known
            .check(&HostKeyName::host("h.example", 22), &key(ED25519_A))
            .unwrap(),
        HostKeyStatus::Unknown
    );
}

#[test]
fn malformed_lines_are_skipped() {
    let (_dir, file, known) = user_file(&format!(
        "host.example\n\
         host.example ssh-ed25519\n\
         host.example ssh-ed25519 not!base64\n\
         host.example ssh-ed25519 AAAA\n\
         @bogus host.example {ED25519_B}\n\
         @revoked\n\
         |1|bad|hash {ED25519_B}\n\
         host.example no-such-algorithm AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n\
         host.example {ED25519_A}\n"
    ));
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_A))
            .unwrap(),
        trusted(&file, 9)
    );
    assert_eq!(
        known
            .check(&HostKeyName::host("host.example", 22), &key(ED25519_B))
            .unwrap(),
        HostKeyStatus::Changed {
            source: KeySource::File(file.clone()),
            line: 9,
            known_fingerprint: key(ED25519_A).fingerprint(HashAlg::Sha256).to_string(),
        }
    );
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let known = KnownHosts::new(vec![dir.path().to_owned()], Vec::new());
    let err = known
        .check(&HostKeyName::host("h", 22), &key(ED25519_A))
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot read known hosts file {}",
            dir.path().display()
        )),
        "{err}"
    );
    assert!(
        known
            .known_algorithms(&HostKeyName::host("h", 22))
            .is_empty()
    );
}
