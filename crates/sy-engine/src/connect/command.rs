//! The command lines that start the agent on the far side, quoted so that the remote shell
//! reads back exactly what the user typed.

use crate::endpoint::RemoteSpec;
use crate::{RemoteOptions, SyncError};

/// One word of the command the remote shell runs, quoted so that shell reads it back exactly
/// (spaces, quotes, `$(…)` and globs stay literal). Every argument built from user data goes
/// through here.
pub(crate) fn remote_word(word: &str) -> Result<String, SyncError> {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| {
            SyncError::Invalid(format!(
                "{word:?} cannot be passed to a remote shell (NUL byte)"
            ))
        })
}

/// The argument vector that starts the agent for `root` on `spec`'s host:
/// `RSH [-l user] host sy-remote [--mkdir] -- 'root'`.
pub(crate) fn agent_command(
    remote: &RemoteOptions,
    spec: &RemoteSpec,
    root: &str,
    mkdir: bool,
) -> Result<Vec<String>, SyncError> {
    let mut argv = remote.shell.clone();
    if let Some(user) = &spec.user {
        argv.push("-l".to_owned());
        argv.push(user.clone());
    }
    argv.push(spec.host.clone());
    argv.push(agent_remote_command(&remote.remote_path, root, mkdir)?);
    Ok(argv)
}

/// The command line the remote shell runs to start the agent for `root`:
/// `sy-remote [--mkdir] -- 'root'` (`remote_path` is a command line of its own, not quoted).
pub(crate) fn agent_remote_command(
    remote_path: &str,
    root: &str,
    mkdir: bool,
) -> Result<String, SyncError> {
    let mut remote = remote_path.to_owned();
    if mkdir {
        remote.push_str(" --mkdir");
    }
    remote.push_str(" -- ");
    remote.push_str(&remote_root_word(root)?);
    Ok(remote)
}

/// The agent's root as one word for the remote shell. A leading `~` or `~user` is left for that
/// shell to expand, as rsync does (`host:~/backup` is `backup` in the home directory there); the
/// rest is quoted by [`remote_word`]. An empty root is the login directory.
pub(crate) fn remote_root_word(root: &str) -> Result<String, SyncError> {
    let Some(after_tilde) = root.strip_prefix('~') else {
        return remote_word(if root.is_empty() { "." } else { root });
    };
    let (user, tail) = after_tilde.split_once('/').unwrap_or((after_tilde, ""));
    // Only a plain login name: `~+`, `~-` and anything odd stay literal.
    let plain_user = !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain_user {
        return remote_word(root);
    }
    let mut word = format!("~{user}");
    if after_tilde.contains('/') {
        word.push('/');
        if !tail.is_empty() {
            word.push_str(&remote_word(tail)?);
        }
    }
    Ok(word)
}

/// The root as an SFTP path: SFTP servers start in the login directory and expand nothing, so
/// `~/x` is `x` and `~` is the login directory (`~user` is left as typed).
pub(crate) fn sftp_root(root: &str) -> &str {
    if root == "~" {
        ""
    } else {
        root.strip_prefix("~/").unwrap_or(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoint;

    #[test]
    fn remote_words_come_back_literally_from_a_shell() {
        for word in [
            "plain",
            "with space",
            "it's",
            "$(touch /tmp/x)",
            "a\"b",
            "*",
            "-x",
            "~user",
            "",
        ] {
            let quoted = remote_word(word).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {quoted}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{quoted}");
        }
        assert!(remote_word("nul\0").is_err());
    }

    #[test]
    fn a_leading_tilde_is_left_to_the_remote_shell_and_the_rest_stays_literal() {
        for (root, expected) in [
            ("~", "/home/me"),
            ("~/", "/home/me/"),
            ("~/back up/$(x)", "/home/me/back up/$(x)"),
            ("a/~/b", "a/~/b"),
            ("~+/x", "~+/x"),
            ("~-", "~-"),
            ("~$(x)/y", "~$(x)/y"),
        ] {
            let word = remote_root_word(root).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {word}"))
                .env("HOME", "/home/me")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{word}");
        }
        assert_eq!(remote_root_word("~root/d e").unwrap(), "~root/'d e'");
        assert_eq!(remote_root_word("").unwrap(), ".");
        assert_eq!(sftp_root("~/x/y"), "x/y");
        assert_eq!(sftp_root("~"), "");
        assert_eq!(sftp_root("~root/x"), "~root/x");
        assert_eq!(sftp_root("/abs"), "/abs");
    }

    #[test]
    fn the_agent_command_puts_user_host_and_a_quoted_root() {
        let remote = RemoteOptions {
            shell: ["ssh", "-p", "2222", "-o", "ProxyCommand=nc %h %p"]
                .map(String::from)
                .to_vec(),
            remote_path: "/opt/sy-remote".to_owned(),
            ..RemoteOptions::default()
        };
        let spec = Endpoint::parse("me@box:my dir")
            .unwrap()
            .remote()
            .cloned()
            .unwrap();
        let argv = agent_command(&remote, &spec, &spec.path, true).unwrap();
        assert_eq!(
            argv,
            [
                "ssh",
                "-p",
                "2222",
                "-o",
                "ProxyCommand=nc %h %p",
                "-l",
                "me",
                "box",
                "/opt/sy-remote --mkdir -- 'my dir'"
            ]
        );
    }
}
