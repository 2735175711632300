//! The `sy-remote` program as `sy` meets it, in a child process: it makes its root with
//! `--mkdir`, answers a client's handshake on stdout and ends cleanly when the client says
//! goodbye and closes its input; it names a root it cannot open; it says its version; and, as a
//! forced command with `--restrict`, it serves only what its restriction allows (`restricted`).
//! (The protocol in depth is tested in sy-transport, and whole syncs through this program in
//! the other modules here.) The binary is this package's, built beside `sy`.

mod restricted;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use sy_protocol::{Endpoint, Hello, Message, Role};

fn sy_remote() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sy-remote"))
}

#[test]
fn a_client_is_answered_and_goodbye_ends_the_agent_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new/root");
    let mut agent = sy_remote();
    agent.arg("--mkdir").arg(&root);
    let err = handshake_and_goodbye(agent);
    assert_eq!(err, "");
    assert!(root.is_dir(), "--mkdir created the root");
}

/// Runs `agent`, completes a client's handshake with it, says goodbye and checks that it
/// ends cleanly, saying only goodbye; returns what it wrote on stderr.
fn handshake_and_goodbye(mut agent: Command) -> String {
    let mut agent = agent
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_agent = agent.stdin.take().unwrap();
    let mut from_agent = agent.stdout.take().unwrap();
    let mut client = Endpoint::new(Role::Client, Hello::new(7));
    to_agent.write_all(&client.take_output()).unwrap();
    let mut buf = vec![0; 4096];
    while client.session().is_none() {
        let n = from_agent.read(&mut buf).unwrap();
        assert_ne!(n, 0, "the agent closed its output before its hello");
        client.receive(&buf[..n]);
        assert_eq!(client.poll_message().unwrap(), None);
    }
    client.send(&Message::Goodbye).unwrap();
    to_agent.write_all(&client.take_output()).unwrap();
    drop(to_agent);
    let mut rest = Vec::new();
    from_agent.read_to_end(&mut rest).unwrap();
    let status = agent.wait().unwrap();
    let mut err = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    client.receive(&rest);
    client.receive_eof();
    while let Some(message) = client.poll_message().unwrap() {
        assert!(
            matches!(message, Message::Flush | Message::Goodbye),
            "{message:?}"
        );
    }
    err
}

#[test]
fn a_root_that_is_a_file_is_named_in_the_error_before_any_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not a directory");
    std::fs::write(&file, "a file").unwrap();
    let out = sy_remote()
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("sy-remote: error: "), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(out.stdout.is_empty(), "nothing for the client to decode");
}

#[test]
fn version_names_the_program_and_its_release() {
    let out = sy_remote().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("sy-remote {}\n", env!("CARGO_PKG_VERSION"))
    );
}
