use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

#[path = "config_file_tests.rs"]
mod files;

pub(super) fn alice(home: &Path) -> LocalUser {
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
        host_key_alias: None,
        check_host_ip: false,
        known_hosts_command: None,
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
fn host_key_alias_is_lower_cased_and_is_percent_k() {
    let text = "Host web\n  HostKeyAlias Pinned-ALIAS\n  HostKeyAlias second\n\
                Host *\n  UserKnownHostsFile ~/kh/%k-%n\n  CheckHostIP yes\n\
                KnownHostsCommand = /usr/bin/lookup \"%H x\"  %I\n";
    let web = resolve(text, "web");
    assert_eq!(web.host_key_alias.as_deref(), Some("pinned-alias"));
    assert_eq!(
        web.user_known_hosts_files,
        paths(&["/home/alice/kh/pinned-alias-web"])
    );
    assert!(web.check_host_ip);
    assert_eq!(
        web.known_hosts_command
            .as_ref()
            .map(KnownHostsCommand::as_str),
        Some("/usr/bin/lookup \"%H x\"  %I")
    );
    let other = resolve(text, "other");
    assert_eq!(other.host_key_alias, None);
    assert_eq!(
        other.user_known_hosts_files,
        paths(&["/home/alice/kh/other-other"])
    );
    let none = resolve("KnownHostsCommand none\nKnownHostsCommand /bin/x\n", "h");
    assert_eq!(none.known_hosts_command, None);
    assert!(!none.check_host_ip);
    assert!(error("CheckHostIP maybe\n").contains("CheckHostIP needs yes or no"));
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
