use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::super::{
    HostKeyName, HostKeyStatus, KeySource, KnownHosts, KnownHostsError, LocalUser, SshConfig,
};
use super::*;

const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbJvYeBcDbBNiNOYEaM9P+9KOByV7S+hKvumcFPhCjk";
const KEY_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMYHuzpfCkyaRcvcbTm65fCchvdQRsdSjSc1o2GDrnCz";

fn key(text: &str) -> PublicKey {
    PublicKey::from_openssh(text).unwrap()
}

/// Known hosts holding only what `command` prints, for host `web` (web.example, port 2222,
/// alias `pinned`).
fn with_command(command: &str) -> KnownHosts {
    let text = format!(
        "Host web\n  HostName web.example\n  Port 2222\n  HostKeyAlias Pinned\n  \
         KnownHostsCommand {command}\n"
    );
    let alice = LocalUser {
        name: "alice".to_owned(),
        home: "/home/alice".into(),
        uid: 1000,
    };
    let settings = SshConfig::parse_as(&text, Path::new("config"), alice)
        .unwrap()
        .resolve("web", None);
    KnownHosts::new(Vec::new(), Vec::new()).with_command(settings.known_hosts_command)
}

#[test]
fn what_the_command_prints_is_known_hosts_with_tokens_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lookup");
    let log = dir.path().join("args");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho \"# for $1\"\necho \"$1 {KEY_A}\"\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let written = format!("{} %H %I %t %f %K '%k %p %n' 100%%", script.display());
    let known = with_command(&written);
    let alias = HostKeyName::alias("pinned");

    assert_eq!(known.known_algorithms(&alias), [key(KEY_A).algorithm()]);
    assert_eq!(
        known.check(&alias, &key(KEY_A)).unwrap(),
        HostKeyStatus::Trusted {
            source: KeySource::Command(written.clone()),
            line: 2
        }
    );
    assert!(matches!(
        known.check(&alias, &key(KEY_B)).unwrap(),
        HostKeyStatus::Changed { line: 2, .. }
    ));
    let b = key(KEY_B);
    let blob = KEY_B.split_whitespace().nth(1).unwrap();
    let fingerprint = b.fingerprint(HashAlg::Sha256);
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!(
            "pinned ORDER NONE NONE NONE pinned 2222 web 100%\n\
             pinned HOSTNAME ssh-ed25519 {} {} pinned 2222 web 100%\n\
             pinned HOSTNAME ssh-ed25519 {fingerprint} {blob} pinned 2222 web 100%\n",
            key(KEY_A).fingerprint(HashAlg::Sha256),
            KEY_A.split_whitespace().nth(1).unwrap(),
        )
    );
    // The address is asked about as such.
    let address = HostKeyName::address("192.0.2.7".parse().unwrap(), 2222);
    assert!(matches!(
        known.check(&address, &key(KEY_A)).unwrap(),
        HostKeyStatus::Trusted { line: 2, .. }
    ));
    let asked = fs::read_to_string(&log).unwrap();
    assert!(
        asked.ends_with(&format!(
            "\n[192.0.2.7]:2222 ADDRESS ssh-ed25519 {} {} pinned 2222 web 100%\n",
            key(KEY_A).fingerprint(HashAlg::Sha256),
            KEY_A.split_whitespace().nth(1).unwrap(),
        )),
        "{asked}"
    );
}

#[test]
fn a_command_that_fails_refuses_the_host_naming_it_and_why() {
    let alias = HostKeyName::alias("pinned");
    let failure = |command: &str| -> String {
        let known = with_command(command);
        assert!(known.known_algorithms(&alias).is_empty(), "{command}");
        let err = known.check(&alias, &key(KEY_A)).unwrap_err();
        assert!(matches!(err, KnownHostsError::Command { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("KnownHostsCommand {command:?} failed: ")),
            "{text}"
        );
        text
    };
    assert!(failure("/bin/false").contains("exit status: 1"));
    assert!(failure("echo %H").contains("echo is not an absolute path"));
    assert!(failure("/bin/echo %C").contains("sy does not expand %C"));
    assert!(failure("/bin/echo ${SY_TEST_SURELY_UNSET_VARIABLE}").contains("is not set"));
    // A comment ends the config line, not the command: the quote after it is unclosed.
    assert!(failure("/bin/echo #'").contains("invalid quotes"));
    assert!(failure("/nonexistent/lookup").contains("cannot run /nonexistent/lookup"));
    // Endless output is cut off, and the command ended.
    assert!(failure("/usr/bin/yes %H").contains(&format!("more than {MAX_OUTPUT} bytes")));
}
