//! Syncs over the built-in SSH client (no `-e`) against a real OpenSSH server on a random
//! loopback port: push and pull, deltas, the SFTP fallback, an alias and a jump host from the
//! ssh config, hostile paths, ciphers, keepalives and timeouts. Every test reads its host
//! settings from its own `--ssh-config` file (its own known_hosts and keys), never the user's.
//! Trust and authentication are in `ssh_trust.rs`, deploying the agent in `ssh_deploy.rs`.
//! Skipped (loudly) where there is no sshd; `SY_REQUIRE_SSHD=1` makes that a failure
//! ([`require`]).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::remote::{edge_tree, noise, sy_remote};
use crate::ssh::{Sshd, keygen, sshd_usable, start_sshd_at, user_name};
use crate::util::{Fixture, assert_same_tree, default_signal_actions, require, stderr, summary};

/// A fixture with its own sshd, keys, known_hosts and ssh config.
pub struct Setup {
    pub f: Fixture,
    pub sshd: Sshd,
    pub user_key: PathBuf,
    pub known_hosts: PathBuf,
    /// The sshd's host public key line (`ssh-ed25519 AAAA… comment`).
    pub host_pub: String,
    /// HOME of the remote sessions.
    pub home: PathBuf,
    /// The address sshd listens on (the config's `HostName`).
    pub address: IpAddr,
}

impl Setup {
    /// `None` when the test is skipped (no sshd, see [`sshd_usable`]). With `known`,
    /// known_hosts already trusts the server.
    pub fn new(known: bool) -> Option<Setup> {
        Setup::at(known, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// [`new`](Setup::new) with sshd on `address`, one of this machine's.
    pub fn at(known: bool, address: IpAddr) -> Option<Setup> {
        if !sshd_usable() {
            return None;
        }
        let f = Fixture::new();
        let keys = f.mkdir("keys");
        let user_key = keys.join("id_ed25519");
        keygen(&user_key);
        let home = f.mkdir("remote-home");
        let sshd = start_sshd_at(&keys, &user_key, &home, address);
        let host_pub = fs::read_to_string(keys.join("host_key.pub")).unwrap();
        let known_hosts = keys.join("known_hosts");
        let line = if known {
            format!("[{address}]:{} {host_pub}", sshd.port)
        } else {
            String::new()
        };
        fs::write(&known_hosts, line).unwrap();
        f.mkdir("local-home");
        let setup = Setup {
            f,
            sshd,
            user_key,
            known_hosts,
            host_pub,
            home,
            address,
        };
        setup.write_config(&format!(
            "IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none",
            setup.user_key.display()
        ));
        Some(setup)
    }

    pub fn config_path(&self) -> PathBuf {
        self.f.path("ssh_config")
    }

    /// An ssh config naming the server `sshtest` (and `jumped`, reached through `sshtest`),
    /// with `auth` lines for both.
    pub fn write_config(&self, auth: &str) {
        fs::write(
            self.config_path(),
            format!(
                "Host jumped\n  ProxyJump sshtest\n\n\
                 Host sshtest jumped\n  HostName {}\n  Port {}\n  User {}\n  {auth}\n  \
                 UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  BatchMode yes\n",
                self.address,
                self.sshd.port,
                user_name(),
                self.known_hosts.display(),
            ),
        )
        .unwrap();
    }

    /// `sy --ssh-config CONFIG` with a HOME of its own and no ssh-agent from the environment.
    pub fn sy(&self) -> assert_cmd::Command {
        self.sy_at(Path::new(env!("CARGO_BIN_EXE_sy")))
    }

    /// [`sy`](Self::sy), running the copy of `sy` at `program`.
    pub fn sy_at(&self, program: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(program);
        cmd.current_dir(self.f.root())
            .env("XDG_CONFIG_HOME", self.f.path(".config"))
            .env("HOME", self.f.path("local-home"))
            .env_remove("SSH_AUTH_SOCK")
            .arg("--ssh-config")
            .arg(self.config_path())
            .timeout(Duration::from_secs(120));
        cmd
    }

    /// `sy --ssh-config CONFIG --remote-path SY-REMOTE ARGS… SRC/ sshtest:DST/`.
    pub fn push(&self, args: &[&str]) -> Output {
        self.push_to_agent(sy_remote(), args)
    }

    /// [`push`](Self::push) with `agent` as the remote path.
    pub fn push_to_agent(&self, agent: &Path, args: &[&str]) -> Output {
        self.sy()
            .arg("--remote-path")
            .arg(agent)
            .args(args)
            .arg(self.f.src_slash())
            .arg(format!("sshtest:{}/", self.f.dst().display()))
            .output()
            .unwrap()
    }

    /// The SHA256 fingerprint of the server's host key, as ssh-keygen prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.f.path("keys/host_key.pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_owned()
    }
}

/// Whether the remote sessions (PATH: HOME/bin, /usr/bin, /bin) find no `sy-remote` of their
/// own, as tests of deploying the agent and of SFTP need; if they do, the test is skipped or
/// fails ([`require`]).
pub fn no_sy_remote_on_the_remote_path() -> bool {
    require(
        !["/usr/bin/sy-remote", "/bin/sy-remote"]
            .iter()
            .any(|p| Path::new(p).exists()),
        "needs no sy-remote in /usr/bin or /bin, where the remote sessions would find it",
    )
}

pub fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "sy failed: {}", stderr(&out));
    out
}

#[test]
fn builtin_ssh_pushes_and_pulls_an_edge_case_tree() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    edge_tree(&s.f);
    ok(s.push(&[]));
    assert_same_tree(&s.f.src(), &s.f.dst());
    let pulled = s.f.path("pulled");
    ok(s.sy()
        .arg("--remote-path")
        .arg(sy_remote())
        .arg(format!("sshtest:{}/", s.f.src().display()))
        .arg(&pulled)
        .output()
        .unwrap());
    assert_same_tree(&s.f.src(), &pulled);
}

#[test]
fn builtin_ssh_sends_a_changed_file_as_a_delta() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    let old = noise(8 << 20, 5);
    let mut new = old.clone();
    for at in [100_000, 3_000_000, 7_000_000] {
        new[at..at + 500].copy_from_slice(&noise(500, at as u64));
    }
    new.extend_from_slice(b"appended");
    s.f.write("src/data", &new);
    s.f.write("dst/data", &old);
    let report = summary(&ok(s.push(&["--json"])));
    assert!(fs::read(s.f.path("dst/data")).unwrap() == new, "{report}");
    assert!(
        report["bytes_literal"].as_u64().unwrap() < 256 << 10,
        "{report}"
    );
    assert!(
        report["wire_bytes_sent"].as_u64().unwrap() < 512 << 10,
        "{report}"
    );
}

#[test]
fn a_host_alias_and_a_jump_host_come_from_the_ssh_config() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "through the jump host");
    ok(s.sy()
        .arg("--remote-path")
        .arg(sy_remote())
        .arg(s.f.src_slash())
        .arg(format!("jumped:{}/", s.f.dst().display()))
        .output()
        .unwrap());
    assert_eq!(
        fs::read_to_string(s.f.path("dst/a")).unwrap(),
        "through the jump host"
    );
}

#[test]
fn a_remote_path_with_quotes_and_command_substitution_is_taken_literally() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "literal");
    let hostile = s.f.path("dst/it's \"a\" $(touch pwned) `touch pwned2`;x");
    ok(s.sy()
        .arg("--remote-path")
        .arg(sy_remote())
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", hostile.display()))
        .output()
        .unwrap());
    assert_eq!(fs::read_to_string(hostile.join("a")).unwrap(), "literal");
    for dir in [&s.home, &s.f.root().to_path_buf()] {
        assert!(!dir.join("pwned").exists() && !dir.join("pwned2").exists());
    }
}

#[test]
fn a_leading_tilde_is_the_remote_home_as_with_rsync() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "home");
    ok(s.sy()
        .arg("--remote-path")
        .arg(sy_remote())
        .arg(s.f.src_slash())
        .arg("sshtest:~/in home/")
        .output()
        .unwrap());
    assert_eq!(
        fs::read_to_string(s.home.join("in home/a")).unwrap(),
        "home"
    );
}

#[test]
fn a_named_cipher_is_used_and_an_unknown_one_refused() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "chacha");
    ok(s.push(&["--cipher", "chacha20-poly1305@openssh.com"]));
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "chacha");
    let out = s.push(&["--cipher", "rot13"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("\"rot13\"") && err.contains("aes128-gcm@openssh.com"),
        "{err}"
    );
}

#[test]
fn a_missing_agent_at_a_custom_path_is_a_clear_error() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "a");
    let out = s
        .sy()
        .args(["--remote-path", "no-such-sy-remote"])
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("no-such-sy-remote") && err.contains("127"),
        "{err}"
    );
}

#[test]
fn a_server_that_stops_answering_ends_the_run_through_keepalives() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.write_config(&format!(
        "IdentityFile {}\n  IdentityAgent none\n  ServerAliveInterval 1\n  ServerAliveCountMax 2",
        s.user_key.display()
    ));
    // 64 MiB at 2 MiB/s: still going when the server freezes.
    s.f.write("src/big", noise(64 << 20, 9));
    let mut sy = Command::new(env!("CARGO_BIN_EXE_sy"))
        .env("HOME", s.f.path("local-home"))
        .env("XDG_CONFIG_HOME", s.f.path(".config"))
        .env_remove("SSH_AUTH_SOCK")
        .arg("--ssh-config")
        .arg(s.config_path())
        .arg("--remote-path")
        .arg(sy_remote())
        .args(["--bwlimit", "2M", "--retry", "0"])
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = || {
        fs::read_dir(s.f.dst()).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".sy-tmp."))
        })
    };
    while !started() {
        assert!(Instant::now() < deadline, "the transfer did not start");
        assert!(
            sy.try_wait().unwrap().is_none(),
            "sy ended before the server froze"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.sshd.signal_all(rustix::process::Signal::STOP);
    // Two unanswered keepalives a second apart end it; allow generously for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = sy.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sy.kill();
            let _ = sy.wait();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut sy.stderr.take().unwrap(), &mut err);
            panic!("sy still running 60 s after the server froze: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    s.sshd.signal_all(rustix::process::Signal::CONT);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut sy.stderr.take().unwrap(), &mut err).unwrap();
    // A broken link fails the files in flight, as when the agent dies (exit 23).
    assert_eq!(status.code(), Some(23), "{err}");
    assert!(err.contains("no answer to 2 keepalives"), "{err}");
}

#[test]
fn a_host_that_never_answers_fails_after_connect_timeout() {
    let f = Fixture::new();
    // Accepts TCP connections (the kernel's backlog) but never says a word of SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    fs::write(
        f.path("ssh_config"),
        format!(
            "Host silent\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 1\n  \
             IdentityAgent none\n  BatchMode yes\n  UserKnownHostsFile /dev/null\n"
        ),
    )
    .unwrap();
    f.write("src/a", "a");
    let out = f
        .sy()
        .env("HOME", f.path("src"))
        .arg("--ssh-config")
        .arg(f.path("ssh_config"))
        .arg(f.src_slash())
        .arg("silent:dst/")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("ConnectTimeout"), "{err}");
    drop(silent);
}

#[test]
fn the_ssh_settings_of_the_config_file_reach_the_built_in_client() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    let config = s.f.path(".config/sy/config.toml");
    let write = |table: &str| {
        fs::create_dir_all(config.parent().unwrap()).unwrap();
        fs::write(
            &config,
            format!(
                "[host.\"sshtest\"]\nssh_config = \"{}\"\n{table}",
                s.config_path().display()
            ),
        )
        .unwrap();
    };
    let run = || {
        s.f.sy()
            .env("HOME", s.f.path("local-home"))
            .env_remove("SSH_AUTH_SOCK")
            .arg("--remote-path")
            .arg(sy_remote())
            .arg(s.f.src_slash())
            .arg(format!("sshtest:{}/", s.f.dst().display()))
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };
    s.f.write("src/a", "configured");
    write("cipher = \"chacha20-poly1305@openssh.com\"\n");
    ok(run());
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "configured");
    write("cipher = \"rot13\"\n");
    let out = run();
    assert!(stderr(&out).contains("\"rot13\""), "{}", stderr(&out));
}

#[test]
fn with_no_deploy_a_host_without_sy_remote_is_synced_over_sftp() {
    if !no_sy_remote_on_the_remote_path() {
        return;
    }
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a.txt", "over sftp");
    s.f.write("src/dir/big.bin", noise(3 << 20, 4));
    s.f.write("src/dir with space/$(not run)", "literal");
    s.f.symlink("a.txt", "src/link");
    let out = ok(s
        .sy()
        .args(["--no-deploy", "--json"])
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .output()
        .unwrap());
    let err = stderr(&out);
    assert_eq!(err.matches("over SFTP").count(), 1, "said once: {err}");
    assert!(err.contains("delta needs sy-remote"), "{err}");
    let report = summary(&out);
    assert!(
        report["wire_bytes_sent"].as_u64().unwrap() > 3 << 20,
        "SFTP traffic is counted: {report}"
    );
    for rel in ["a.txt", "dir/big.bin", "dir with space/$(not run)"] {
        assert!(
            fs::read(s.f.src().join(rel)).unwrap() == fs::read(s.f.dst().join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(
        fs::read_link(s.f.dst().join("link")).unwrap(),
        Path::new("a.txt")
    );
    assert!(!s.home.join(".cache/sy").exists(), "nothing was deployed");

    // With --no-deploy, an agent missing at a named path means SFTP too.
    let pulled = s.f.path("pulled");
    ok(s.sy()
        .args(["--no-deploy", "--remote-path", "/nonexistent/sy-remote"])
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .arg(&pulled)
        .output()
        .unwrap());
    assert!(
        fs::read(pulled.join("dir/big.bin")).unwrap()
            == fs::read(s.f.src().join("dir/big.bin")).unwrap()
    );
}

#[test]
fn a_host_of_another_platform_is_synced_over_sftp() {
    if !no_sy_remote_on_the_remote_path() {
        return;
    }
    let Some(s) = Setup::new(true) else {
        return;
    };
    // The sessions' PATH starts with HOME/bin: this `uname` makes the host look foreign.
    let bin = s.home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("uname"), "#!/bin/sh\necho Plan9 mips\n").unwrap();
    fs::set_permissions(bin.join("uname"), fs::Permissions::from_mode(0o755)).unwrap();
    s.f.write("src/a", "to plan 9");
    let out = ok(s
        .sy()
        .arg(s.f.src_slash())
        .arg(format!("sshtest:{}/", s.f.dst().display()))
        .output()
        .unwrap());
    let err = stderr(&out);
    assert!(
        err.contains("Plan9 mips") && err.contains("over SFTP"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(s.f.path("dst/a")).unwrap(), "to plan 9");
    assert!(!s.home.join(".cache/sy").exists(), "nothing was deployed");
}

#[test]
fn ctrl_c_stops_a_connection_attempt() {
    let f = Fixture::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // No ConnectTimeout, no keepalives: only Ctrl-C can end the wait for the banner.
    fs::write(
        f.path("ssh_config"),
        format!(
            "Host silent\n  HostName 127.0.0.1\n  Port {port}\n  IdentityAgent none\n  \
             BatchMode yes\n  UserKnownHostsFile /dev/null\n"
        ),
    )
    .unwrap();
    f.write("src/a", "a");
    let mut sy = Command::new(env!("CARGO_BIN_EXE_sy"));
    let mut sy = default_signal_actions(&mut sy)
        .env("HOME", f.path("src"))
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .arg("--ssh-config")
        .arg(f.path("ssh_config"))
        .arg(f.src_slash())
        .arg("silent:dst/")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Connected (the kernel accepted it) and waiting for the server's first words.
    let (_accepted, _) = silent.accept().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = rustix::process::Pid::from_raw(sy.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sy.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sy.kill();
            panic!("sy still connecting 30 s after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut sy.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted while connecting to silent"),
        "{err}"
    );
}

/// A remote path that runs `script` (a shell script written into the fixture).
fn remote_script(s: &Setup, name: &str, script: &str) -> PathBuf {
    let path = s.f.path(name);
    fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_remote_command_flooding_stderr_is_kept_to_64_kib() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.f.write("src/a", "a");
    let flood = remote_script(
        &s,
        "flood",
        "head -c 4194304 /dev/zero | tr '\\0' x >&2\nexit 1",
    );
    let out = s.push_to_agent(&flood, &[]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(
        err.contains("exit status 1") && err.contains("more bytes of stderr not kept"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 80 << 10, "{} bytes of stderr", err.len());
}

#[test]
fn an_agent_that_never_speaks_fails_after_connect_timeout() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    s.write_config(&format!(
        "IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  ConnectTimeout 2",
        s.user_key.display()
    ));
    s.f.write("src/a", "a");
    let silent = remote_script(&s, "silent", "exec sleep 600");
    let out = s.push_to_agent(&silent, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("said nothing for 2s"), "{err}");
}
