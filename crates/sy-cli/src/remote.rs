//! Remote sides: `[user@]host:path` as rsync reads it, and starting `sy-remote` there through
//! the built-in SSH client (`crate::ssh`) or a remote shell (`-e/--rsh`).

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sy_transport::ssh::{ExecStatus, RemoteExit, SshSession};
use sy_transport::{Agent, AgentOptions, Cancel, LinkFailure};
use tokio::process::{Child, Command};

use crate::bwlimit::{Paced, Throttle};
use crate::config::UsageError;
use crate::remote_transport::RemoteTransport;
use crate::ssh::SshFlags;

/// Bytes each pipe to the remote shell holds.
const PIPE_SIZE: usize = 1 << 20;

/// A path on another host, as typed: `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// `user@`, when given.
    pub user: Option<String>,
    /// The host, passed to the remote shell as is.
    pub host: String,
    /// The path there (relative to the login directory unless absolute); may be empty.
    pub path: String,
}

impl RemoteSpec {
    /// `host:path` for messages.
    pub fn shown(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}:{}", self.host, self.path),
            None => format!("{}:{}", self.host, self.path),
        }
    }
}

/// Reads `arg` as a remote location the way rsync does: a colon before any slash makes it
/// remote (`host:dir`, `user@host:`), so `./a:b` and `/x/a:b` stay local.
pub fn parse_remote(arg: &OsStr) -> Result<Option<RemoteSpec>, UsageError> {
    let bytes = arg.as_bytes();
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    if bytes[..colon].contains(&b'/') || colon == 0 {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        UsageError(format!(
            "{} is not valid UTF-8; remote locations must be",
            arg.to_string_lossy()
        ))
    })?;
    let (login, path) = text.split_at(colon);
    let path = &path[1..];
    if path.starts_with(':') {
        return Err(UsageError(format!(
            "{text}: rsync daemon modules (host::module) are not supported; use host:path"
        )));
    }
    let (user, host) = match login.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, login),
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(UsageError(format!(
            "{text}: missing user or host before ':'"
        )));
    }
    // The remote shell would read `-oProxyCommand=…` as an option, not a host (git's
    // CVE-2017-1000117); OpenSSH refuses such names too.
    if host.starts_with('-') || user.as_deref().is_some_and(|u| u.starts_with('-')) {
        return Err(UsageError(format!(
            "{text}: a host or user name cannot start with '-'"
        )));
    }
    Ok(Some(RemoteSpec {
        user,
        host: host.to_owned(),
        path: path.to_owned(),
    }))
}

/// One word of the command the remote shell runs, quoted so that shell reads it back exactly
/// (spaces, quotes, `$(…)` and globs stay literal). Every argument built from user data goes
/// through here.
pub fn remote_word(word: &str) -> Result<String, UsageError> {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| {
            UsageError(format!(
                "{word:?} cannot be passed to a remote shell (NUL byte)"
            ))
        })
}

/// How to reach the agent.
#[derive(Debug, Clone)]
pub struct RemoteShell {
    /// `-e` split into words (empty with the built-in client).
    pub rsh: Vec<String>,
    /// The built-in SSH client and its flags, used when no `-e`/`rsh` was given.
    pub builtin: Option<SshFlags>,
    /// The agent's command on the far side (`--remote-path`, default `sy-remote`); a command
    /// line of its own, not quoted (it may be `sudo sy-remote`).
    pub remote_path: String,
    /// `-z` / `--compress-level`.
    pub compress_level: Option<i8>,
    /// `--timeout`: give up after this long without a byte from the agent.
    pub timeout: Option<Duration>,
}

/// Splits `-e CMD` like a shell would.
pub fn split_rsh(cmd: &str) -> Result<Vec<String>, UsageError> {
    match shlex::split(cmd) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(UsageError(format!(
            "cannot parse --rsh {cmd:?} as a command"
        ))),
    }
}

/// The argument vector that starts the agent for `root` on `spec`'s host:
/// `RSH [-l user] host sy-remote [--mkdir] -- 'root'`.
pub fn agent_command(
    shell: &RemoteShell,
    spec: &RemoteSpec,
    root: &str,
    mkdir: bool,
) -> Result<Vec<String>, UsageError> {
    let mut argv = shell.rsh.clone();
    if let Some(user) = &spec.user {
        argv.push("-l".to_owned());
        argv.push(user.clone());
    }
    argv.push(spec.host.clone());
    argv.push(agent_remote_command(&shell.remote_path, root, mkdir)?);
    Ok(argv)
}

/// The command line the remote shell runs to start the agent for `root`:
/// `sy-remote [--mkdir] -- 'root'` (`remote_path` is a command line of its own, not quoted).
pub fn agent_remote_command(
    remote_path: &str,
    root: &str,
    mkdir: bool,
) -> Result<String, UsageError> {
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
pub fn remote_root_word(root: &str) -> Result<String, UsageError> {
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
pub fn sftp_root(root: &str) -> &str {
    if root == "~" {
        ""
    } else {
        root.strip_prefix("~/").unwrap_or(root)
    }
}

/// The far side of a remote job: its transport and what carries it.
pub struct Connection {
    /// The agent (or, on a host where it cannot run, SFTP).
    pub transport: RemoteTransport,
    link: Link,
    shown: String,
}

/// What carries the transport's bytes.
enum Link {
    /// A remote shell process (`-e`), whose stdio is the agent's.
    Shell(Child),
    /// An exec channel of the built-in SSH client (the session is taken when it is closed).
    Ssh(Option<Box<SshSession>>, ExecStatus),
    /// The `sftp` subsystem channel of the built-in SSH client.
    Sftp(Option<Box<SshSession>>),
}

/// The agent's client over `reader`/`writer`, paced by `throttle` when there is one.
pub(crate) fn agent_over<R, W>(
    reader: R,
    writer: W,
    options: AgentOptions,
    throttle: Option<&Throttle>,
) -> Agent
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match throttle {
        Some(throttle) => Agent::new(
            Paced::new(reader, throttle.clone()),
            Paced::new(writer, throttle.clone()),
            options,
        ),
        None => Agent::new(reader, writer, options),
    }
}

impl Connection {
    /// Reaches the agent for `root` on `spec`'s host: with the built-in SSH client unless a
    /// remote shell (`-e`, `rsh`) was chosen. With `mkdir`, the agent creates a missing root;
    /// with `throttle`, the bytes both ways are paced by it (`--bwlimit`).
    /// Connecting stops at Ctrl-C (`cancel`): a host that never answers must not hold sy.
    pub async fn start(
        shell: &RemoteShell,
        spec: &RemoteSpec,
        root: &str,
        mkdir: bool,
        throttle: Option<&Throttle>,
        cancel: &Cancel,
    ) -> Result<Connection> {
        let Some(flags) = &shell.builtin else {
            return Connection::start_shell(shell, spec, root, mkdir, throttle);
        };
        tokio::select! {
            started = crate::ssh::start(flags, shell, spec, root, mkdir, throttle) => started,
            () = cancelled(cancel) => bail!("interrupted while connecting to {}", spec.host),
        }
    }

    /// Starts the remote shell and speaks the protocol over its stdin/stdout (its stderr, with
    /// the agent's log and any ssh messages, goes to ours).
    fn start_shell(
        shell: &RemoteShell,
        spec: &RemoteSpec,
        root: &str,
        mkdir: bool,
        throttle: Option<&Throttle>,
    ) -> Result<Connection> {
        let argv = agent_command(shell, spec, root, mkdir)?;
        let Some((program, args)) = argv.split_first() else {
            bail!(UsageError("empty --rsh command".to_owned()));
        };
        tracing::debug!("starting {argv:?}");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the remote shell {program:?}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the remote shell's stdin/stdout could not be captured");
        };
        // Larger pipes: bulk data moves in fewer steps (a refusal only costs speed).
        for fd in [stdin.as_fd(), stdout.as_fd()] {
            let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE);
        }
        let shown = format!("{}:{root}", spec.host);
        let options = AgentOptions {
            location: shown.clone(),
            compress_level: shell.compress_level,
            timeout: shell.timeout,
            read_pacing: throttle.map(Throttle::read_pacing),
        };
        Ok(Connection {
            transport: RemoteTransport::Agent(agent_over(stdout, stdin, options, throttle)),
            link: Link::Shell(child),
            shown,
        })
    }

    /// An agent already speaking over an exec channel of `session`.
    pub(crate) fn over_ssh(
        agent: Agent,
        session: SshSession,
        status: ExecStatus,
        shown: String,
    ) -> Connection {
        Connection {
            transport: RemoteTransport::Agent(agent),
            link: Link::Ssh(Some(Box::new(session)), status),
            shown,
        }
    }

    /// SFTP over a channel of `session`.
    pub(crate) fn over_sftp(
        transport: RemoteTransport,
        session: SshSession,
        shown: String,
    ) -> Connection {
        Connection {
            transport,
            link: Link::Sftp(Some(Box::new(session))),
            shown,
        }
    }

    /// Ends the session and waits for the remote shell or channel. An error says why the
    /// connection broke (the agent died, the shell failed, the SSH connection was lost), if
    /// it did. The agent's traffic counters are final only after this.
    pub async fn finish(&mut self) -> Result<(), RemoteEnd> {
        let shell = match &mut self.link {
            Link::Shell(child) => finish_shell(&self.transport, child).await,
            Link::Ssh(session, status) => {
                finish_channel(&self.transport, session.take(), status).await
            }
            Link::Sftp(session) => finish_sftp(session.take()).await,
        };
        let failure = self.transport.failure();
        if failure.is_none() && shell.is_none() {
            return Ok(());
        }
        Err(RemoteEnd {
            shown: self.shown.clone(),
            failure,
            shell,
        })
    }
}

/// Returns once `cancel` is set (checked every 50 ms: `Cancel` is a plain flag).
async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Closes the agent and waits for the remote shell; what went wrong with it, if anything.
async fn finish_shell(agent: &RemoteTransport, child: &mut Child) -> Option<String> {
    // With the agent gone or broken, give the remote shell a moment to exit on its own
    // (its status says why), then stop it: it may be blocked writing to a dead agent.
    let mut early = None;
    let mut killed = false;
    if agent.failure().is_some() {
        match tokio::time::timeout(Duration::from_millis(200), child.wait()).await {
            Ok(status) => early = Some(status),
            Err(_) => {
                let _ = child.start_kill();
                killed = true;
            }
        }
    }
    agent.close().await;
    let waited = match early {
        Some(status) => Ok(status),
        None => tokio::time::timeout(Duration::from_secs(30), child.wait()).await,
    };
    match waited {
        // Its exit status is then our own kill's, not news.
        _ if killed => None,
        Ok(Ok(status)) if status.success() => None,
        Ok(Ok(status)) if status.code() == Some(127) => Some(format!(
            "the remote shell exited with {status} (command not found: is sy-remote \
             installed there? see --remote-path)"
        )),
        Ok(Ok(status)) => Some(format!("the remote shell exited with {status}")),
        Ok(Err(e)) => Some(format!("waiting for the remote shell failed: {e}")),
        Err(_) => Some("the remote shell did not exit".to_owned()),
    }
}

/// Closes the agent, waits for its channel to close and says goodbye to the server; what
/// went wrong with the agent's process or the connection, if anything.
async fn finish_channel(
    agent: &RemoteTransport,
    session: Option<Box<SshSession>>,
    status: &mut ExecStatus,
) -> Option<String> {
    let mut early = None;
    if agent.failure().is_some() {
        early = tokio::time::timeout(Duration::from_millis(200), status.wait())
            .await
            .ok();
    }
    agent.close().await;
    let end = match early {
        Some(end) => Some(end),
        None => tokio::time::timeout(Duration::from_secs(30), status.wait())
            .await
            .ok(),
    };
    let lost = session.as_ref().and_then(|session| session.failure());
    if let Some(session) = session {
        session.close().await;
    }
    match (end.map(|end| end.exit), lost) {
        (Some(RemoteExit::Status(0)), _) => None,
        (_, Some(lost)) => Some(format!("the SSH connection ended: {lost}")),
        (Some(RemoteExit::Status(127)), None) => Some(
            "sy-remote exited with status 127 (command not found: is it installed there? \
             see --remote-path)"
                .to_owned(),
        ),
        (Some(exit), None) => Some(format!("sy-remote ended with {exit}")),
        (None, None) => Some("sy-remote did not exit".to_owned()),
    }
}

/// Says goodbye to the server after SFTP; why the connection ended, if it broke.
async fn finish_sftp(session: Option<Box<SshSession>>) -> Option<String> {
    let session = session?;
    let lost = session.failure();
    session.close().await;
    lost.map(|lost| format!("the SSH connection ended: {lost}"))
}

/// How a session with an agent ended badly.
#[derive(Debug)]
pub struct RemoteEnd {
    shown: String,
    /// Why the connection broke, if it did.
    pub failure: Option<LinkFailure>,
    /// What went wrong with the remote shell process, if anything.
    pub shell: Option<String>,
}

impl std::fmt::Display for RemoteEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.failure, &self.shell) {
            (Some(reason), Some(shell)) => write!(
                f,
                "connection to sy-remote on {} lost ({shell}): {reason}",
                self.shown
            ),
            (Some(reason), None) => {
                write!(
                    f,
                    "connection to sy-remote on {} lost: {reason}",
                    self.shown
                )
            }
            (None, Some(shell)) => write!(f, "{shell} after the session with {}", self.shown),
            (None, None) => write!(f, "the session with {} ended", self.shown),
        }
    }
}

impl std::error::Error for RemoteEnd {}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(s: &str) -> Option<RemoteSpec> {
        parse_remote(OsStr::new(s)).unwrap()
    }

    #[test]
    fn a_colon_before_any_slash_is_remote() {
        let spec = remote("user@host:dir/sub").unwrap();
        assert_eq!(spec.user.as_deref(), Some("user"));
        assert_eq!(spec.host, "host");
        assert_eq!(spec.path, "dir/sub");
        assert_eq!(remote("host:").unwrap().path, "");
        assert_eq!(remote("h:/abs/p").unwrap().path, "/abs/p");
        assert_eq!(remote("a@b@host:x").unwrap().user.as_deref(), Some("a@b"));
        for local in ["./a:b", "/x/a:b", "plain", "dir/x:y", ":nohost"] {
            assert_eq!(remote(local), None, "{local}");
        }
        assert!(parse_remote(OsStr::new("host::module")).is_err());
        assert!(parse_remote(OsStr::new("@host:x")).is_err());
    }

    #[test]
    fn a_host_or_user_that_looks_like_an_option_is_refused() {
        for hostile in ["-oProxyCommand=calc:x", "-lroot@h:x", "-x@host:dir"] {
            let err = parse_remote(OsStr::new(hostile)).unwrap_err();
            assert!(
                err.0.contains("cannot start with '-'"),
                "{hostile}: {}",
                err.0
            );
        }
    }

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
        let shell = RemoteShell {
            rsh: split_rsh("ssh -p 2222 -o 'ProxyCommand=nc %h %p'").unwrap(),
            builtin: None,
            remote_path: "/opt/sy-remote".to_owned(),
            compress_level: None,
            timeout: None,
        };
        let spec = remote("me@box:my dir").unwrap();
        let argv = agent_command(&shell, &spec, &spec.path, true).unwrap();
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
        assert!(split_rsh("ssh 'unclosed").is_err());
    }
}
