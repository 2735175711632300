use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn alice(home: &Path) -> LocalUser {
    LocalUser {
        name: "alice".to_owned(),
        home: home.to_owned(),
        uid: 1000,
    }
}

fn config(text: &str) -> SshConfig {
    SshConfig::parse_as(
        text,
        Path::new("/test/config"),
        alice(Path::new("/home/alice")),
    )
    .unwrap()
}

fn resolve(text: &str, host: &str) -> HostSettings {
    config(text).resolve(host, None)
}

fn error(text: &str) -> String {
    SshConfig::parse_as(
        text,
        Path::new("/test/config"),
        alice(Path::new("/home/alice")),
    )
    .unwrap_err()
    .to_string()
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

#[test]
fn defaults_when_nothing_is_configured() {
    let settings = resolve("", "Example.COM");
    let expected = HostSettings {
        alias: "Example.COM".to_owned(),
        host_name: "example.com".to_owned(),
        port: 22,
        user: "alice".to_owned(),
        identity_files: paths(&[
            "/home/alice/.ssh/id_ed25519",
            "/home/alice/.ssh/id_ecdsa",
            "/home/alice/.ssh/id_rsa",
        ]),
        identities_only: false,
        identity_agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        user_known_hosts_files: paths(&[
            "/home/alice/.ssh/known_hosts",
            "/home/alice/.ssh/known_hosts2",
        ]),
        global_known_hosts_files: paths(&["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]),
        strict_host_key_checking: StrictHostKeyChecking::Ask,
        hash_known_hosts: false,
        server_alive_interval: None,
        server_alive_count_max: 3,
        connect_timeout: None,
        proxy_jump: Vec::new(),
        proxy_command: None,
        ciphers: None,
        batch_mode: false,
    };
    assert_eq!(settings, expected);
}

#[test]
fn global_options_before_the_first_host_win() {
    let text =
        "Port 2000\nUser global\n\nHost web\n  Port 3000\n  User webuser\n  HostName web.example\n";
    let web = resolve(text, "web");
    assert_eq!((web.port, web.user.as_str()), (2000, "global"));
    assert_eq!(web.host_name, "web.example");
    let other = resolve(text, "other");
    assert_eq!((other.port, other.host_name.as_str()), (2000, "other"));
}

#[test]
fn first_obtained_value_wins_so_specific_blocks_go_first() {
    let text = "Host web\n  Port 3000\nHost *\n  Port 4000\n  User everyone\n";
    assert_eq!(resolve(text, "web").port, 3000);
    assert_eq!(resolve(text, "web").user, "everyone");
    assert_eq!(resolve(text, "db").port, 4000);
}

#[test]
fn host_patterns_wildcards_and_negation() {
    let text = "Host other *.example.com !secret.example.com\n  User wild\n\
                Host db?\n  User db\nHost secret.*\n  User secret\n";
    assert_eq!(resolve(text, "www.example.com").user, "wild");
    assert_eq!(resolve(text, "other").user, "wild");
    assert_eq!(resolve(text, "secret.example.com").user, "secret");
    assert_eq!(resolve(text, "db1").user, "db");
    assert_eq!(resolve(text, "db12").user, "alice");
}

#[test]
fn host_patterns_are_case_sensitive_and_the_host_name_lower_case() {
    let text = "Host web\n  Port 1001\nHost WEB\n  Port 1002\n";
    assert_eq!(resolve(text, "Web").port, 22);
    let settings = resolve(text, "WEB");
    assert_eq!(settings.port, 1002);
    assert_eq!(settings.alias, "WEB");
    assert_eq!(settings.host_name, "web");
}

#[test]
fn tabs_equals_quotes_comments_and_keyword_case() {
    let text = "# a comment\n\
                \tHOSTNAME\t=\texample.org   # trailing comment\n\
                port=2222\n\
                User = \"bob smith\"\n\
                \n   \n\
                IdentityFile \"~/.ssh/my key\"\n\
                IdentityFile '/keys/single quoted'\n\
                IdentityFile /keys/escaped\\ space\n\
                identitiesonly Yes\r\n\
                BatchMode\tTRUE\n";
    let settings = resolve(text, "anything");
    assert_eq!(settings.host_name, "example.org");
    assert_eq!(settings.port, 2222);
    assert_eq!(settings.user, "bob smith");
    assert_eq!(
        settings.identity_files,
        paths(&[
            "/home/alice/.ssh/my key",
            "/keys/single quoted",
            "/keys/escaped space"
        ])
    );
    assert!(settings.identities_only);
    assert!(settings.batch_mode);
}

#[test]
fn unknown_keywords_are_ignored() {
    let text = "SendEnv LANG LC_*\nGSSAPIAuthentication yes\nNoSuchOption at all\nPort 2\n";
    assert_eq!(resolve(text, "h").port, 2);
}

#[test]
fn identity_files_accumulate_without_repeats_and_replace_the_defaults() {
    let text = "Host web\n  IdentityFile ~/.ssh/web\nHost *\n  IdentityFile ~/.ssh/all\n  IdentityFile ~/.ssh/web\n";
    assert_eq!(
        resolve(text, "web").identity_files,
        paths(&["/home/alice/.ssh/web", "/home/alice/.ssh/all"])
    );
    assert_eq!(
        resolve(text, "db").identity_files,
        paths(&["/home/alice/.ssh/all", "/home/alice/.ssh/web"])
    );
}

#[test]
fn tokens_are_expanded() {
    let text = "Host web Web\n  HostName %h.example.com\n  Port 2200\n  User deploy\n\
                IdentityFile %d/keys/%u-%r@%h:%p-%n-%k-%i-100%%\n\
                UserKnownHostsFile ~/kh/%h /abs/%r\n\
                GlobalKnownHostsFile none\n\
                IdentityAgent ~/agent.sock\n";
    let settings = resolve(text, "Web");
    assert_eq!(settings.host_name, "web.example.com");
    assert_eq!(
        settings.identity_files,
        paths(&["/home/alice/keys/alice-deploy@web.example.com:2200-Web-Web-1000-100%"])
    );
    assert_eq!(
        settings.user_known_hosts_files,
        paths(&["/home/alice/kh/web.example.com", "/abs/deploy"])
    );
    assert!(settings.global_known_hosts_files.is_empty());
    assert_eq!(
        settings.identity_agent,
        Some(PathBuf::from("/home/alice/agent.sock"))
    );
}

#[test]
fn unsupported_tokens_are_left_as_written() {
    let settings = resolve("IdentityFile ~/.ssh/%C\n", "h");
    assert_eq!(settings.identity_files, paths(&["/home/alice/.ssh/%C"]));
}

#[test]
fn identity_agent_none_and_environment() {
    assert_eq!(resolve("IdentityAgent none\n", "h").identity_agent, None);
    assert_eq!(
        resolve("IdentityAgent SSH_AUTH_SOCK\n", "h").identity_agent,
        std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from)
    );
    assert_eq!(
        resolve("IdentityAgent $HOME\n", "h").identity_agent,
        std::env::var_os("HOME").map(PathBuf::from)
    );
}

#[test]
fn known_hosts_lists_take_the_first_line() {
    let text = "UserKnownHostsFile /a /b\nUserKnownHostsFile /c\n";
    assert_eq!(
        resolve(text, "h").user_known_hosts_files,
        paths(&["/a", "/b"])
    );
    assert!(
        resolve("UserKnownHostsFile none\n", "h")
            .user_known_hosts_files
            .is_empty()
    );
}

#[test]
fn value_types() {
    let text = "StrictHostKeyChecking accept-new\nHashKnownHosts yes\n\
                ServerAliveInterval 1m30s\nServerAliveCountMax 5\nConnectTimeout 10\n\
                Ciphers ^aes128-gcm@openssh.com,chacha20-poly1305@openssh.com\n";
    let settings = resolve(text, "h");
    assert_eq!(
        settings.strict_host_key_checking,
        StrictHostKeyChecking::AcceptNew
    );
    assert!(settings.hash_known_hosts);
    assert_eq!(
        settings.server_alive_interval,
        Some(Duration::from_secs(90))
    );
    assert_eq!(settings.server_alive_count_max, 5);
    assert_eq!(settings.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(
        settings.ciphers.as_deref(),
        Some("^aes128-gcm@openssh.com,chacha20-poly1305@openssh.com")
    );
    for (value, expected) in [
        ("yes", StrictHostKeyChecking::Yes),
        ("True", StrictHostKeyChecking::Yes),
        ("no", StrictHostKeyChecking::No),
        ("off", StrictHostKeyChecking::No),
        ("ask", StrictHostKeyChecking::Ask),
    ] {
        let text = format!("StrictHostKeyChecking {value}\n");
        assert_eq!(
            resolve(&text, "h").strict_host_key_checking,
            expected,
            "{value}"
        );
    }
    assert_eq!(
        resolve("ServerAliveInterval 0\n", "h").server_alive_interval,
        None
    );
    assert_eq!(
        resolve("ConnectTimeout 1h2m3s\n", "h").connect_timeout,
        Some(Duration::from_secs(3723))
    );
}

#[test]
fn proxy_jump_hops() {
    let text = "ProxyJump alice@bastion:2222,inner,[::1]:2022,ssh://bob@gate/\n";
    let hop = |user: Option<&str>, host: &str, port| JumpHost {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port,
    };
    assert_eq!(
        resolve(text, "h").proxy_jump,
        vec![
            hop(Some("alice"), "bastion", Some(2222)),
            hop(None, "inner", None),
            hop(None, "::1", Some(2022)),
            hop(Some("bob"), "gate", None),
        ]
    );
    let disabled = resolve(
        "Host h\n  ProxyJump none\nHost *\n  ProxyJump bastion\n",
        "h",
    );
    assert!(disabled.proxy_jump.is_empty());
    assert_eq!(resolve("ProxyJump bastion\n", "x").proxy_jump.len(), 1);
}

#[test]
fn proxy_command_and_proxy_jump_share_one_first_value() {
    let command = resolve("ProxyCommand ssh -W %h:%p gate\nProxyJump bastion\n", "h");
    assert_eq!(command.proxy_command.as_deref(), Some("ssh -W %h:%p gate"));
    assert!(command.proxy_jump.is_empty());
    let jump = resolve("ProxyJump bastion\nProxyCommand=nc %h %p\n", "h");
    assert_eq!(jump.proxy_command, None);
    assert_eq!(jump.proxy_jump[0].host, "bastion");
}

#[test]
fn match_host_sees_the_host_name_and_originalhost_the_alias() {
    let text = "Host web\n  HostName web.internal\n\
                Match host *.internal\n  User internal\n\
                Match originalhost WEB\n  Port 2022\n";
    let settings = resolve(text, "web");
    assert_eq!(settings.user, "internal");
    assert_eq!(settings.port, 2022);
    let other = resolve(text, "web.example");
    assert_eq!((other.user.as_str(), other.port), ("alice", 22));
}

#[test]
fn match_user_localuser_all_and_negation() {
    let text = "Match user root\n  Port 1\n\
                Match localuser alice !host secret\n  User from-alice\n\
                Match all\n  ConnectTimeout 7\n";
    let cfg = config(text);
    assert_eq!(cfg.resolve("h", Some("root")).port, 1);
    assert_eq!(cfg.resolve("h", None).port, 22);
    assert_eq!(cfg.resolve("h", None).user, "from-alice");
    assert_eq!(
        cfg.resolve("h", Some("root")).user,
        "root",
        "the given user wins"
    );
    assert_eq!(cfg.resolve("secret", None).user, "alice");
    assert_eq!(
        cfg.resolve("secret", None).connect_timeout,
        Some(Duration::from_secs(7))
    );
}

#[test]
fn match_exec_is_never_run_and_never_matches() {
    let marker = tempfile::tempdir().unwrap();
    let witness = marker.path().join("ran");
    let text = format!(
        "Match exec \"touch {0}\"\n  Port 1\nMatch !exec \"touch {0}\"\n  Port 2\n\
         Match host h exec true\n  Port 3\nHost *\n  Port 4\n",
        witness.display()
    );
    assert_eq!(resolve(&text, "h").port, 4);
    assert!(!witness.exists(), "Match exec must not run its command");
}

#[test]
fn match_final_applies_in_a_second_pass_against_the_host_name() {
    let text = "Host short\n  HostName long.example.com\n\
                Match final host long.example.com\n  User finaluser\n\
                Host long.example.com\n  Port 2200\n";
    let settings = resolve(text, "short");
    assert_eq!(settings.user, "finaluser");
    assert_eq!(
        settings.port, 2200,
        "in the final pass Host matches the host name"
    );
    assert_eq!(
        resolve("Host long.example.com\n  Port 2200\n", "short").port,
        22
    );
}

#[test]
fn errors_name_the_file_and_line() {
    assert_eq!(
        error("Host a\n  User x\n  Port abc\n"),
        "/test/config line 3: Port needs a number from 1 to 65535, not \"abc\""
    );
    let inactive = error("Host nothing-matches\n  ServerAliveInterval soon\n");
    assert!(
        inactive.starts_with("/test/config line 2: ServerAliveInterval"),
        "{inactive}"
    );
    assert_eq!(
        error("User \"unterminated\n"),
        "/test/config line 1: invalid quotes"
    );
    assert_eq!(
        error("\nMatch colour blue\n"),
        "/test/config line 2: unsupported Match attribute \"colour\""
    );
    assert_eq!(
        error("Match all host x\n"),
        "/test/config line 1: Match all cannot be combined with other criteria"
    );
    assert_eq!(
        error("Port\n"),
        "/test/config line 1: no argument after keyword \"Port\""
    );
    assert_eq!(
        error("IdentityFile a b\n"),
        "/test/config line 1: IdentityFile takes one value, found 2: a b"
    );
    assert!(error("BatchMode maybe\n").contains("BatchMode needs yes or no"));
    assert!(error("StrictHostKeyChecking perhaps\n").contains("StrictHostKeyChecking needs"));
    assert!(error("ProxyJump @host\n").contains("empty user name"));
    assert!(error("ProxyJump host:99999\n").contains("ProxyJump needs a number"));
}

/// A home directory with `.ssh/config` and the given extra files (relative to `.ssh`).
fn home_with(config: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir_all(&ssh).unwrap();
    fs::write(ssh.join("config"), config).unwrap();
    for (name, text) in files {
        let path = ssh.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    home
}

fn load(home: &Path) -> SshConfig {
    SshConfig::load_as(Some(&home.join(".ssh/config")), alice(home)).unwrap()
}

#[test]
fn include_globs_relative_home_and_nested_paths() {
    let home = home_with(
        "Include config.d/*.conf ~/.ssh/extra missing/*.conf /nonexistent/file\nPort 9\n",
        &[
            ("config.d/b.conf", "Host b\n  User from-b\n"),
            (
                "config.d/a.conf",
                "Host a\n  User from-a\nHost b\n  Port 2001\n",
            ),
            ("config.d/.hidden.conf", "User hidden\n"),
            ("config.d/ignored.txt", "User txt\n"),
            ("extra", "Host c\n  Include nested/one\n"),
            ("nested/one", "User from-nested\n"),
        ],
    );
    let config = load(home.path());
    let b = config.resolve("b", None);
    assert_eq!(
        (b.user.as_str(), b.port),
        ("from-b", 2001),
        "a.conf is read before b.conf"
    );
    assert_eq!(config.resolve("a", None).user, "from-a");
    assert_eq!(config.resolve("c", None).user, "from-nested");
    let other = config.resolve("other", None);
    assert_eq!((other.user.as_str(), other.port), ("alice", 9));
}

#[test]
fn an_include_keeps_the_including_block_state() {
    let home = home_with(
        "Host web\n  Include web.conf\n  Port 2222\nHost db\n  Include web.conf\n",
        &[("web.conf", "User included\nHost other\n  Port 1111\n")],
    );
    let config = load(home.path());
    let web = config.resolve("web", None);
    assert_eq!((web.user.as_str(), web.port), ("included", 2222));
    let other = config.resolve("other", None);
    assert_eq!(
        (other.user.as_str(), other.port),
        ("alice", 22),
        "included from inactive blocks"
    );
}

#[test]
fn include_loops_stop_at_sixteen_levels() {
    let home = home_with("Include config\n", &[]);
    let err = SshConfig::load_as(Some(&home.path().join(".ssh/config")), alice(home.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1: Include nested more than 16 deep"),
        "{err}"
    );
}

#[test]
fn included_file_errors_name_the_included_file() {
    let home = home_with("\n\nInclude bad\n", &[("bad", "\nPort none\n")]);
    let err = SshConfig::load_as(Some(&home.path().join(".ssh/config")), alice(home.path()))
        .unwrap_err()
        .to_string();
    let bad = home.path().join(".ssh/bad");
    assert!(
        err.starts_with(&format!("{} line 2: Port", bad.display())),
        "{err}"
    );
}

#[test]
fn loading_files() {
    let home = home_with("Port 1234\n", &[]);
    let missing = home.path().join("nope");
    let err = SshConfig::load_as(Some(&missing), alice(home.path())).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read ssh config {}", missing.display()))
    );
    let dir_err = SshConfig::load_as(Some(home.path()), alice(home.path())).unwrap_err();
    assert!(matches!(dir_err, SshConfigError::Read { .. }), "{dir_err}");
    let none = SshConfig::load_as(Some(Path::new("none")), alice(home.path())).unwrap();
    assert_eq!(none.resolve("h", None).port, 22);
    assert_eq!(load(home.path()).resolve("h", None).port, 1234);
}

/// The same file through `ssh -G` gives the same answers (skipped without OpenSSH's `ssh`).
#[test]
fn agrees_with_ssh_dash_g() {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("inc.conf");
    fs::write(&include, "Host *.corp\n  User corpuser\n  Port 2201\n").unwrap();
    let text = format!(
        "ServerAliveInterval 15\n\
         Host web web2\n\tHostName %h.example.com\n\
         Host db=Port=5022\n\
         Include {}\n\
         Match host *.example.com\n  User=matched\n  ProxyJump ops@bastion:2200\n\
         Match originalhost db !user root\n  HostName database.internal\n  User dbuser\n\
         Host *\n  StrictHostKeyChecking accept-new\n  ServerAliveCountMax 7\n  User fallback\n",
        include.display()
    );
    let file = dir.path().join("config");
    fs::write(&file, &text).unwrap();
    let config = SshConfig::load_as(Some(&file), LocalUser::current()).unwrap();
    for host in ["web", "WEB2", "db", "x.corp", "other"] {
        let output = match std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&file)
            .arg(host)
            .output()
        {
            Ok(output) if output.status.success() => output,
            other => {
                eprintln!("SKIPPED agrees_with_ssh_dash_g: `ssh -G` unavailable ({other:?})");
                return;
            }
        };
        let stdout = String::from_utf8(output.stdout).unwrap();
        let get = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key} ")))
                .unwrap_or("")
                .to_owned()
        };
        let ours = config.resolve(host, None);
        assert_eq!(ours.host_name, get("hostname"), "{host}");
        assert_eq!(ours.port.to_string(), get("port"), "{host}");
        assert_eq!(ours.user, get("user"), "{host}");
        assert_eq!(
            ours.server_alive_count_max.to_string(),
            get("serveralivecountmax")
        );
        assert_eq!(get("serveraliveinterval"), "15");
        assert_eq!(get("stricthostkeychecking"), "accept-new");
        let jump = ours.proxy_jump.first().map(|hop| {
            format!(
                "{}@{}:{}",
                hop.user.as_deref().unwrap_or(""),
                hop.host,
                hop.port.unwrap_or(0)
            )
        });
        assert_eq!(jump.unwrap_or_default(), get("proxyjump"), "{host}");
    }
}
