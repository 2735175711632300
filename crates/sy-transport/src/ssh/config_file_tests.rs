//! Reading files: `Include`, `--ssh-config`, and a cross-check against `ssh -G`.

use std::fs;
use std::path::{Path, PathBuf};

use super::super::{LocalUser, SshConfig, SshConfigError, StrictHostKeyChecking};
use super::alice;

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

/// The same file through `ssh -G` gives the same answers. Skipped only when there is no `ssh`
/// to run; an `ssh` that rejects the file fails the test, since sy accepted it.
#[test]
fn agrees_with_ssh_dash_g() {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("inc.conf");
    fs::write(&include, "Host *.corp\n  User corpuser\n  Port 2201\n").unwrap();
    let text = format!(
        "ServerAliveInterval 15\n\
         Host short\n  HostName LONG.example.org\n  StrictHostKeyChecking yes\n\
         Match final host long.example.org\n  Port 2300\n  ConnectTimeout 9\n\
         Host web web2\n\tHostName %h.example.com\n\tServerAliveInterval 30\n\
         Host db=Port=5022\n\
         Include {}\n\
         Match host *.example.com\n  User=matched\n  ProxyJump ops@bastion:2200\n\
         \x20 StrictHostKeyChecking off\n  IdentitiesOnly yes\n\
         Match originalhost db !user root\n  HostName database.internal\n  User dbuser\n\
         Host web\n  HostKeyAlias Pinned-Web\n  CheckHostIP yes\n\
         \x20 KnownHostsCommand /usr/bin/lookup \"%H x\" %k\n\
         Host short\n  KnownHostsCommand none\n\
         Host *\n  StrictHostKeyChecking accept-new\n  ServerAliveCountMax 7\n  User fallback\n\
         \x20 UserKnownHostsFile /kh/%k\n",
        include.display()
    );
    let file = dir.path().join("config");
    fs::write(&file, &text).unwrap();
    let config = SshConfig::load_as(Some(&file), LocalUser::current()).unwrap();
    for host in ["web", "WEB2", "db", "x.corp", "other", "short"] {
        let output = match std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&file)
            .arg(host)
            .output()
        {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::ssh::skip_test(&format!(
                    "agrees_with_ssh_dash_g needs `ssh` to compare with ({e})"
                ));
                return;
            }
            Err(e) => panic!("cannot run `ssh -G`: {e}"),
        };
        assert!(
            output.status.success(),
            "`ssh -G -F {} {host}` rejected a config sy accepted ({}): {}",
            file.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let get = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("`ssh -G` printed no {key} for {host}"))
                .to_owned()
        };
        let ours = config.resolve(host, None);
        assert_eq!(ours.host_name, get("hostname"), "{host}");
        assert_eq!(ours.port.to_string(), get("port"), "{host}");
        assert_eq!(ours.user, get("user"), "{host}");
        assert_eq!(
            ours.server_alive_count_max.to_string(),
            get("serveralivecountmax"),
            "{host}"
        );
        // ssh prints seconds, 0 for "off"; `none` for no connect timeout.
        let seconds = |d: Option<std::time::Duration>, off: &str| {
            d.map_or_else(|| off.to_owned(), |d| d.as_secs().to_string())
        };
        assert_eq!(
            seconds(ours.server_alive_interval, "0"),
            get("serveraliveinterval"),
            "{host}"
        );
        assert_eq!(
            seconds(ours.connect_timeout, "none"),
            get("connecttimeout"),
            "{host}"
        );
        // ssh prints the first name of each state: `true` for yes, `false` for no/off.
        let strict = match ours.strict_host_key_checking {
            StrictHostKeyChecking::Yes => "true",
            StrictHostKeyChecking::No => "false",
            StrictHostKeyChecking::Ask => "ask",
            StrictHostKeyChecking::AcceptNew => "accept-new",
        };
        assert_eq!(strict, get("stricthostkeychecking"), "{host}");
        let only = if ours.identities_only { "yes" } else { "no" };
        assert_eq!(only, get("identitiesonly"), "{host}");
        let check_ip = if ours.check_host_ip { "yes" } else { "no" };
        assert_eq!(check_ip, get("checkhostip"), "{host}");
        let optional = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key} ")))
                .map(str::to_owned)
        };
        assert_eq!(ours.host_key_alias, optional("hostkeyalias"), "{host}");
        assert_eq!(
            ours.known_hosts_command
                .as_ref()
                .map(|command| command.as_str().to_owned()),
            optional("knownhostscommand"),
            "{host}"
        );
        assert_eq!(
            ours.user_known_hosts_files,
            [PathBuf::from(get("userknownhostsfile"))],
            "{host}"
        );
        let jump = ours.proxy_jump.first().map(|hop| {
            format!(
                "{}@{}:{}",
                hop.user.as_deref().unwrap_or(""),
                hop.host,
                hop.port.unwrap_or(0)
            )
        });
        if let Some(jump) = jump {
            assert_eq!(jump, get("proxyjump"), "{host}");
        } else {
            assert!(!stdout.contains("\nproxyjump "), "{host}: {stdout}");
        }
    }
}
