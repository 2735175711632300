//! Trust and identity with the built-in SSH client against a real OpenSSH server: host keys
//! unknown, accepted, changed, revoked and hashed in known_hosts; authentication through
//! ssh-agent and identity files, and what a refusal says. Skipped (loudly) without sshd, and
//! failing then under `SY_REQUIRE_SSHD=1` ([`require`](crate::util::require)).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ssh::keygen;
use crate::ssh_builtin::{Setup, ok};
use crate::util::{require, require_tool, stderr};

#[test]
fn an_unknown_host_is_refused_then_trusted_with_the_flag_and_remembered() {
    let Some(s) = Setup::new(false) else {
        return;
    };
    s.f.write("src/a", "a");
    let out = s.push(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains(&s.host_fingerprint()), "{err}");
    assert!(err.contains("--accept-new-host-key"), "{err}");
    assert!(
        !s.f.dst().exists(),
        "nothing is written to an untrusted host"
    );

    ok(s.push(&["--accept-new-host-key"]));
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "a");
    let recorded = fs::read_to_string(&s.known_hosts).unwrap();
    let key = s.host_pub.split_whitespace().nth(1).unwrap();
    assert!(recorded.contains(key), "{recorded}");
    assert!(
        recorded.contains(&format!("[127.0.0.1]:{}", s.sshd.port)),
        "{recorded}"
    );

    s.f.write("src/b", "b");
    ok(s.push(&[]));
    assert_eq!(fs::read_to_string(s.f.path("dst/b")).unwrap(), "b");
}

#[test]
fn a_changed_host_key_is_refused_naming_the_file_and_line_of_the_old_one() {
    let Some(s) = Setup::new(false) else {
        return;
    };
    let other = s.f.path("keys/other_host_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    fs::write(
        &s.known_hosts,
        format!(
            "# the old key of the test server\n[127.0.0.1]:{} {other_pub}",
            s.sshd.port
        ),
    )
    .unwrap();
    s.f.write("src/a", "a");
    for flags in [&[][..], &["--accept-new-host-key"][..]] {
        let out = s.push(flags);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(5), "{err}");
        assert!(
            err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{err}"
        );
        assert!(
            err.contains(&format!("{}:2", s.known_hosts.display())),
            "{err}"
        );
        assert!(err.contains(&s.host_fingerprint()), "{err}");
        assert!(!s.f.dst().exists());
    }
    let kept = fs::read_to_string(&s.known_hosts).unwrap();
    assert!(kept.contains(other_pub.split_whitespace().nth(1).unwrap()));
    assert!(!kept.contains(s.host_pub.split_whitespace().nth(1).unwrap()));
}

/// An `ssh-agent` in the foreground on its own socket, killed when dropped.
struct SshAgent {
    child: Child,
    socket: PathBuf,
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ssh_agent(dir: &Path) -> SshAgent {
    let socket = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let agent = SshAgent { child, socket };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    agent
}

#[test]
fn authenticates_with_a_key_held_by_ssh_agent() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    let agent = start_ssh_agent(s.f.root());
    let added = Command::new("ssh-add")
        .arg(&s.user_key)
        .env("SSH_AUTH_SOCK", &agent.socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", stderr(&added));
    // No identity file: only the agent can log in.
    s.write_config(&format!("IdentityAgent {}", agent.socket.display()));
    fs::rename(&s.user_key, s.f.path("keys/moved-away")).unwrap();
    s.f.write("src/a", "through the agent");
    ok(s.push(&[]));
    assert_eq!(
        fs::read_to_string(s.f.path("dst/a")).unwrap(),
        "through the agent"
    );
}

#[test]
fn authenticates_with_an_identity_flag_and_lists_what_was_tried_when_refused() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.write_config("IdentityAgent none");
    s.f.write("src/a", "with -i");
    let key = s.user_key.display().to_string();
    ok(s.push(&["--identity", &key]));
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "with -i");

    let wrong = s.f.path("keys/wrong_key");
    keygen(&wrong);
    let wrong = wrong.display().to_string();
    let out = s.push(&["--identity", &wrong, "--identity", "/nonexistent/id_rsa"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains(&format!("{wrong} (refused)")), "{err}");
    assert!(err.contains("/nonexistent/id_rsa (not found)"), "{err}");
    // Keys named with -i replace ssh's default ones.
    assert!(!err.contains("~/.ssh/id_ed25519"), "{err}");
}

#[test]
fn an_encrypted_key_that_cannot_be_unlocked_is_named_in_the_error() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    let locked = s.f.path("keys/locked");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
        .arg(&locked)
        .status()
        .unwrap();
    assert!(status.success());
    s.write_config(&format!(
        "IdentityFile {}\n  IdentityAgent none",
        locked.display()
    ));
    s.f.write("src/a", "a");
    let out = s.push(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!("{} (encrypted", locked.display())),
        "{err}"
    );
    assert!(err.contains("ssh-agent"), "{err}");
}

#[test]
fn a_revoked_host_key_is_refused() {
    let Some(s) = Setup::new(false) else {
        return;
    };
    fs::write(
        &s.known_hosts,
        format!(
            "[127.0.0.1]:{port} {key}@revoked [127.0.0.1]:{port} {key}",
            port = s.sshd.port,
            key = s.host_pub
        ),
    )
    .unwrap();
    s.f.write("src/a", "a");
    let out = s.push(&["--accept-new-host-key"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("@revoked") && err.contains(&format!("{}:2", s.known_hosts.display())),
        "{err}"
    );
    assert!(!s.f.dst().exists());
}

#[test]
fn a_new_host_key_is_recorded_hashed_with_hash_known_hosts() {
    let Some(s) = Setup::new(false) else {
        return;
    };
    s.write_config(&format!(
        "IdentityFile {}\n  IdentityAgent none\n  HashKnownHosts yes",
        s.user_key.display()
    ));
    s.f.write("src/a", "a");
    ok(s.push(&["--accept-new-host-key"]));
    let recorded = fs::read_to_string(&s.known_hosts).unwrap();
    assert!(recorded.starts_with("|1|"), "{recorded}");
    assert!(!recorded.contains("127.0.0.1"), "{recorded}");
    // The hashed entry is found again.
    s.f.write("src/b", "b");
    ok(s.push(&[]));
    assert_eq!(fs::read_to_string(s.f.path("dst/b")).unwrap(), "b");
}

/// Runs `sy ARGS…` on a pseudo-terminal (`script`) and types `typed` there once sy asks for a
/// passphrase; what the terminal showed and the exit code.
fn sy_on_a_terminal(s: &Setup, args: &[String], typed: &str) -> (String, Option<i32>) {
    let quote = |w: &str| format!("'{}'", w.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_sy"));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", s.f.path("local-home"))
        .env("XDG_CONFIG_HOME", s.f.path(".config"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut out = child.stdout.take().unwrap();
    let reader = {
        let shown = std::sync::Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut typed_yet = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // Typed only once asked, as a person would (typed-ahead input is echoed).
        if !typed_yet && text().contains("Enter passphrase") {
            std::io::Write::write_all(&mut stdin, typed.as_bytes()).unwrap();
            typed_yet = true;
        }
        assert!(
            Instant::now() < deadline,
            "sy on a terminal did not finish: {}",
            text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    reader.join().unwrap();
    (text(), status.code())
}

#[test]
fn an_encrypted_key_is_unlocked_with_the_passphrase_typed_on_the_terminal() {
    if !require_tool("script", "bsdutils") {
        return;
    }
    let Some(s) = Setup::new(true) else {
        return;
    };
    let locked = s.f.path("keys/locked");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
        .arg(&locked)
        .status()
        .unwrap();
    assert!(made.success());
    let public = fs::read_to_string(locked.with_extension("pub")).unwrap();
    let authorized = s.f.path("keys/authorized_keys");
    let mut keys = fs::read_to_string(&authorized).unwrap();
    keys.push_str(&public);
    fs::write(&authorized, keys).unwrap();
    // BatchMode no comes first, so it wins over the setup's BatchMode yes.
    s.write_config(&format!(
        "BatchMode no\n  IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none",
        locked.display()
    ));
    s.f.write("src/a", "unlocked");
    let args = |dst: &str| -> Vec<String> {
        vec![
            "--ssh-config".into(),
            s.config_path().display().to_string(),
            "--remote-path".into(),
            crate::remote::sy_remote().display().to_string(),
            s.f.src_slash(),
            format!("sshtest:{dst}/"),
        ]
    };
    let dst = s.f.dst().display().to_string();
    let (shown, code) = sy_on_a_terminal(&s, &args(&dst), "secret\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("Enter passphrase for key"), "{shown}");
    assert!(
        !shown.contains("secret"),
        "the passphrase is not echoed: {shown}"
    );
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "unlocked");

    let other = s.f.path("other").display().to_string();
    let (shown, code) = sy_on_a_terminal(&s, &args(&other), "wrong\n");
    assert_eq!(code, Some(5), "{shown}");
    assert!(shown.contains("(wrong passphrase)"), "{shown}");
}

/// OpenSSH's `ssh` run with the setup's config (`ssh -F CONFIG sshtest true`), to compare with.
fn openssh(s: &Setup) -> std::process::Output {
    Command::new("ssh")
        .arg("-F")
        .arg(s.config_path())
        .args(["sshtest", "true"])
        .env("HOME", s.f.path("local-home"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The setup's config with `extra` lines for the server.
fn config_with(s: &Setup, extra: &str) {
    s.write_config(&format!(
        "IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  {extra}",
        s.user_key.display()
    ));
}

/// `ssh` and sy both refuse the server as one whose key changed; sy's stderr.
fn both_refuse_a_changed_key(s: &Setup) -> String {
    let ssh = openssh(s);
    assert_eq!(ssh.status.code(), Some(255), "{}", stderr(&ssh));
    assert!(
        stderr(&ssh).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        stderr(&ssh)
    );
    let out = s.push(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    err
}

/// `ssh` and sy both connect, and sy copies `src/a`.
fn both_connect(s: &Setup) {
    let ssh = openssh(s);
    assert_eq!(ssh.status.code(), Some(0), "{}", stderr(&ssh));
    ok(s.push(&[]));
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "a");
}

#[test]
fn a_key_pinned_under_the_host_key_alias_stays_pinned_as_with_openssh() {
    if !require_tool("ssh", "openssh-client") {
        return;
    }
    let Some(s) = Setup::new(false) else {
        return;
    };
    config_with(
        &s,
        "HostKeyAlias Pinned-Alias\n  StrictHostKeyChecking accept-new",
    );
    let other = s.f.path("keys/other_host_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    let server_key = s.host_pub.split_whitespace().take(2).collect::<Vec<_>>();
    let server_key = server_key.join(" ");
    // The alias pins another key; the server's own key is recorded under its address, which
    // must not count when there is an alias.
    let pinned = format!(
        "pinned-alias {other_pub}[127.0.0.1]:{} {}",
        s.sshd.port, s.host_pub
    );
    fs::write(&s.known_hosts, &pinned).unwrap();
    s.f.write("src/a", "a");

    let err = both_refuse_a_changed_key(&s);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:1", s.known_hosts.display())),
        "{err}"
    );
    assert!(err.contains("ssh-keygen -R 'pinned-alias'"), "{err}");
    assert!(!s.f.dst().exists(), "nothing is written past a pinned key");
    assert_eq!(fs::read_to_string(&s.known_hosts).unwrap(), pinned);

    // The server's key pinned under the alias: both connect.
    fs::write(&s.known_hosts, format!("pinned-alias {}", s.host_pub)).unwrap();
    both_connect(&s);

    // Nothing known: accept-new records the key under the alias, as ssh does.
    fs::write(&s.known_hosts, "").unwrap();
    let ssh = openssh(&s);
    assert_eq!(ssh.status.code(), Some(0), "{}", stderr(&ssh));
    let by_ssh = fs::read_to_string(&s.known_hosts).unwrap();
    assert_eq!(by_ssh, format!("pinned-alias {server_key}\n"));
    fs::write(&s.known_hosts, "").unwrap();
    s.f.write("src/b", "b");
    ok(s.push(&[]));
    assert_eq!(fs::read_to_string(s.f.path("dst/b")).unwrap(), "b");
    assert_eq!(fs::read_to_string(&s.known_hosts).unwrap(), by_ssh);
}

/// This test thread moved into a network namespace of its own, where the non-loopback address
/// [`ADDRESS`](PrivateNetwork::ADDRESS) exists and nothing else but loopback does; back in the
/// namespace it came from when dropped, after which the private one goes away with the last
/// process in it. Whatever the thread starts meanwhile (sshd, sy, ssh) inherits the namespace, so
/// a test sshd there listens on no interface of the machine.
struct PrivateNetwork {
    /// The thread's previous namespace.
    previous: fs::File,
}

impl PrivateNetwork {
    /// Put on `lo`, which needs no kernel module (as a dummy or veth interface would): OpenSSH
    /// judges an address loopback by the address (127.0.0.0/8), not by its interface.
    const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);

    /// `None` when the test is skipped (no `ip`, or not allowed to create a namespace, see
    /// [`require`]).
    fn enter() -> Option<PrivateNetwork> {
        if !require_tool("ip", "iproute2") {
            return None;
        }
        let previous = fs::File::open("/proc/thread-self/ns/net").unwrap();
        // SAFETY: unshare(2) of the network namespace changes only the calling thread's; libtest
        // runs each test on a thread of its own, and the guard returns it before it ends.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let error = std::io::Error::last_os_error();
            require(
                false,
                &format!("cannot create a network namespace ({error}; run the tests as root)"),
            );
            return None;
        }
        let net = PrivateNetwork { previous };
        let address = format!("{}/24", Self::ADDRESS);
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", &address, "dev", "lo"],
        ] {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                stderr(&out)
            );
        }
        Some(net)
    }
}

impl Drop for PrivateNetwork {
    fn drop(&mut self) {
        // SAFETY: setns(2) to the namespace this thread was in, through a descriptor it holds.
        let back = unsafe { libc::setns(self.previous.as_raw_fd(), libc::CLONE_NEWNET) };
        if back != 0 && !std::thread::panicking() {
            panic!(
                "cannot return to the previous network namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[test]
fn check_host_ip_records_and_checks_the_address_as_openssh_does() {
    if !require_tool("ssh", "openssh-client") {
        return;
    }
    // OpenSSH skips CheckHostIP for loopback addresses: sshd listens on another, which exists
    // only in a network namespace of the test's own. Dropped after `s`, once sshd is gone.
    let Some(_net) = PrivateNetwork::enter() else {
        return;
    };
    let address = IpAddr::V4(PrivateNetwork::ADDRESS);
    let Some(s) = Setup::at(false, address) else {
        return;
    };
    let strict = |mode: &str| {
        config_with(
            &s,
            &format!(
                "HostKeyAlias pinned-alias\n  CheckHostIP yes\n  StrictHostKeyChecking {mode}"
            ),
        );
    };
    strict("accept-new");
    let server_key: Vec<&str> = s.host_pub.split_whitespace().take(2).collect();
    let server_key = server_key.join(" ");
    let ip = format!("[{address}]:{}", s.sshd.port);
    // What ssh leaves in known_hosts starting from `before`, and then what sy leaves.
    let both = |before: &str, file: &str| -> (String, String) {
        fs::write(&s.known_hosts, before).unwrap();
        let ssh = openssh(&s);
        assert_eq!(ssh.status.code(), Some(0), "{}", stderr(&ssh));
        let by_ssh = fs::read_to_string(&s.known_hosts).unwrap();
        fs::write(&s.known_hosts, before).unwrap();
        s.f.write(format!("src/{file}"), file);
        ok(s.push(&[]));
        assert_eq!(
            fs::read_to_string(s.f.path("dst").join(file)).unwrap(),
            file
        );
        (by_ssh, fs::read_to_string(&s.known_hosts).unwrap())
    };

    // A new host: the alias and the address on one line.
    let (by_ssh, by_sy) = both("", "a");
    assert_eq!(by_ssh, format!("pinned-alias,{ip} {server_key}\n"));
    assert_eq!(by_sy, by_ssh);
    // Known under the alias only: the address is added.
    let pinned = format!("pinned-alias {}", s.host_pub);
    let (by_ssh, by_sy) = both(&pinned, "b");
    assert_eq!(by_ssh, format!("{pinned}{ip} {server_key}\n"));
    assert_eq!(by_sy, by_ssh);

    // The address holds another key: refused by both, unless StrictHostKeyChecking no.
    let other = s.f.path("keys/other_host_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    let conflicting = format!("{pinned}{ip} {other_pub}");
    fs::write(&s.known_hosts, &conflicting).unwrap();
    let ssh = openssh(&s);
    assert_eq!(ssh.status.code(), Some(255), "{}", stderr(&ssh));
    assert!(
        stderr(&ssh).contains("differs from the key for the IP address"),
        "{}",
        stderr(&ssh)
    );
    s.f.write("src/c", "c");
    let out = s.push(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!(
            "differs from the key recorded for its IP address {ip} in {}:2",
            s.known_hosts.display()
        )),
        "{err}"
    );
    assert!(!s.f.path("dst/c").exists());
    strict("no");
    let ssh = openssh(&s);
    assert_eq!(ssh.status.code(), Some(0), "{}", stderr(&ssh));
    ok(s.push(&[]));
    assert_eq!(fs::read_to_string(s.f.path("dst/c")).unwrap(), "c");
    assert_eq!(fs::read_to_string(&s.known_hosts).unwrap(), conflicting);
}

#[test]
fn a_known_hosts_command_is_run_and_believed_as_by_openssh() {
    if !require_tool("ssh", "openssh-client") {
        return;
    }
    let Some(s) = Setup::new(false) else {
        return;
    };
    // The command prints the file named after %k; sy and ssh must agree on what that means.
    let pins = s.f.mkdir("pins");
    config_with(
        &s,
        &format!(
            "HostKeyAlias pinned-alias\n  StrictHostKeyChecking accept-new\n  \
             KnownHostsCommand /bin/cat {}/%k.keys",
            pins.display()
        ),
    );
    let pin_file = pins.join("pinned-alias.keys");
    let other = s.f.path("keys/other_host_key");
    keygen(&other);
    let other_pub = fs::read_to_string(other.with_extension("pub")).unwrap();
    fs::write(&pin_file, format!("pinned-alias {other_pub}")).unwrap();
    s.f.write("src/a", "a");

    let err = both_refuse_a_changed_key(&s);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            && err.contains("the output of KnownHostsCommand"),
        "{err}"
    );
    assert!(!s.f.dst().exists());

    // The server's key printed by the command: both connect and record nothing.
    fs::write(&pin_file, format!("pinned-alias {}", s.host_pub)).unwrap();
    both_connect(&s);
    assert_eq!(fs::read_to_string(&s.known_hosts).unwrap(), "");

    // A failing command fails both.
    fs::remove_file(&pin_file).unwrap();
    let ssh = openssh(&s);
    assert_eq!(ssh.status.code(), Some(255), "{}", stderr(&ssh));
    s.f.write("src/b", "b");
    let out = s.push(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("KnownHostsCommand") && err.contains("exit status: 1"),
        "{err}"
    );
    assert!(!s.f.path("dst/b").exists());
}
