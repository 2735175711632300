//! The agent refusing to be a way out: a link planted to lead out of its root is not read
//! through it, and as an `authorized_keys` forced command (`--restrict ROOT`, the client's
//! command in `SSH_ORIGINAL_COMMAND`) it serves only beneath ROOT and takes nothing from the
//! client that would loosen that.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Output, Stdio};

use sy_transport::{
    Agent, AgentOptions, Cancel, Entry, EntryKind, ReadOptions, RelPath, ScanOptions, Transport,
};

use super::{handshake_and_goodbye, sy_remote};

#[test]
fn a_link_planted_to_lead_out_of_the_root_is_not_read_through_the_agent() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(top.path().join("secret"), b"the agent's own secret").unwrap();
    symlink(top.path().join("secret"), root.join("x")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (scanned, read) = runtime.block_on(async {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sy-remote"))
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let reader = child.stdout.take().unwrap();
        let writer = child.stdin.take().unwrap();
        let options = AgentOptions {
            location: "host:root".to_owned(),
            ..AgentOptions::default()
        };
        let agent = Agent::new(reader, writer, options);
        let scanned = agent
            .scan(ScanOptions {
                follow_links: true,
                ..ScanOptions::default()
            })
            .await
            .unwrap();
        let link = Entry {
            path: RelPath::new("x").unwrap(),
            kind: EntryKind::File,
            size: 22,
            meta: Default::default(),
            dev: 0,
            ino: 0,
            nlink: 1,
        };
        let read = agent
            .read_files(
                vec![link],
                ReadOptions {
                    inline_limit: 1 << 20,
                    follow_links: true,
                    cancel: Cancel::default(),
                },
            )
            .await;
        (scanned, read)
    });
    let problems: Vec<String> = scanned.problems.iter().map(describe).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("leads outside the served directory"),
        "{problems:?}"
    );
    assert!(scanned.entries.iter().all(|e| e.path.as_bytes() != b"x"));
    let [Err(error)] = &read[..] else {
        panic!("the link was read through: {read:?}");
    };
    let error = describe(error);
    assert!(
        error.contains("x: a symbolic link on the way leads outside"),
        "{error}"
    );
}

fn describe(error: &sy_transport::Error) -> String {
    sy_transport::describe_error(error)
}

/// `sy-remote --restrict top [extra]` run as sshd runs a forced command for `client_command`.
fn forced(top: &Path, extra: &[&str], client_command: &str) -> Output {
    sy_remote()
        .arg("--restrict")
        .arg(top)
        .args(extra)
        .env("SSH_ORIGINAL_COMMAND", client_command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_forced_command_refuses_roots_outside_its_restriction_and_makes_nothing_there() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("restricted");
    std::fs::create_dir(&top).unwrap();
    symlink(dir.path(), top.join("up")).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    for (command, says) in [
        (
            "sy-remote --mkdir -- ../elsewhere".to_owned(),
            "`..` is not allowed".to_owned(),
        ),
        (
            format!("sy-remote --mkdir -- '{}'", elsewhere.display()),
            "outside the directory this agent is restricted to".to_owned(),
        ),
        (
            "sy-remote --mkdir -- up/elsewhere".to_owned(),
            "leads outside".to_owned(),
        ),
        (
            "sy-remote --restrict / -- elsewhere".to_owned(),
            "is not one sy sends".to_owned(),
        ),
    ] {
        let out = forced(&top, &[], &command);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(err.starts_with("sy-remote: error: "), "{err}");
        assert!(err.contains(&says), "{command}: {err}");
        assert!(out.stdout.is_empty(), "nothing for the client to decode");
    }
    assert!(!elsewhere.exists());
    let out = forced(&top, &["--read-only"], "sy-remote --mkdir -- new");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("creating new refused"), "{err}");
    assert!(!top.join("new").exists());
}

#[test]
fn a_forced_command_serves_the_directory_the_client_named_beneath_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("restricted");
    std::fs::create_dir(&top).unwrap();
    let mut agent = sy_remote();
    agent.arg("--restrict").arg(&top).env(
        "SSH_ORIGINAL_COMMAND",
        "sy-remote --mkdir -- '~/new dir/deeper'",
    );
    let err = handshake_and_goodbye(agent);
    assert_eq!(err, "");
    assert!(top.join("new dir/deeper").is_dir());
}
