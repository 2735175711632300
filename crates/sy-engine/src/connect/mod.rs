//! Reaching a remote side: starting `sy-remote` there through the built-in SSH client
//! ([`ssh`]) or a remote shell command, and ending the session. The result is one
//! [`RemoteTransport`], whatever carries it.

mod command;
mod host_keys;
mod remote_transport;
mod ssh;

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use sy_transport::ssh::{ExecStatus, RemoteExit, SshSession};
use sy_transport::{Agent, AgentOptions, Cancel, LinkFailure};
use tokio::process::{Child, Command};

pub(crate) use self::remote_transport::RemoteTransport;
use crate::endpoint::RemoteSpec;
use crate::pacing::{Paced, Throttle};
use crate::{RemoteOptions, SyncError};

/// The agent's default command; only then is a missing one deployed.
pub(crate) const DEFAULT_REMOTE_PATH: &str = "sy-remote";

/// Bytes each pipe to the remote shell holds.
const PIPE_SIZE: usize = 1 << 20;

/// The far side of a remote job: its transport and what carries it.
pub(crate) struct Connection {
    /// The agent (or, on a host where it cannot run, SFTP).
    pub(crate) transport: RemoteTransport,
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
    pub(crate) async fn start(
        remote: &RemoteOptions,
        spec: &RemoteSpec,
        root: &str,
        mkdir: bool,
        throttle: Option<&Throttle>,
        cancel: &Cancel,
    ) -> Result<Connection, SyncError> {
        if !remote.shell.is_empty() {
            return Connection::start_shell(remote, spec, root, mkdir, throttle);
        }
        tokio::select! {
            started = ssh::start(remote, spec, root, mkdir, throttle) => started,
            () = cancelled(cancel) => Err(SyncError::Interrupted { host: spec.host.clone() }),
        }
    }

    /// Starts the remote shell and speaks the protocol over its stdin/stdout (its stderr, with
    /// the agent's log and any ssh messages, goes to ours).
    fn start_shell(
        remote: &RemoteOptions,
        spec: &RemoteSpec,
        root: &str,
        mkdir: bool,
        throttle: Option<&Throttle>,
    ) -> Result<Connection, SyncError> {
        let argv = command::agent_command(remote, spec, root, mkdir)?;
        let Some((program, args)) = argv.split_first() else {
            return Err(SyncError::Invalid("empty remote shell command".to_owned()));
        };
        tracing::debug!("starting {argv:?}");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SyncError::RemoteShell {
                program: program.clone(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SyncError::Remote(
                "the remote shell's stdin/stdout could not be captured".to_owned(),
            ));
        };
        // Larger pipes: bulk data moves in fewer steps (a refusal only costs speed).
        for fd in [stdin.as_fd(), stdout.as_fd()] {
            let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE);
        }
        let shown = format!("{}:{root}", spec.host);
        let options = AgentOptions {
            location: shown.clone(),
            compression: remote.compression,
            timeout: remote.timeout,
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
    pub(crate) async fn finish(&mut self) -> Result<(), RemoteEnd> {
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
async fn finish_shell(agent: &RemoteTransport, child: &mut Child) -> Option<ShellEnd> {
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
        Ok(Ok(status)) if status.code() == Some(127) => Some(ShellEnd::not_found(format!(
            "the remote shell exited with {status} (command not found: is sy-remote \
             installed there? see --remote-path)"
        ))),
        Ok(Ok(status)) => Some(ShellEnd::said(format!(
            "the remote shell exited with {status}"
        ))),
        Ok(Err(e)) => Some(ShellEnd::said(format!(
            "waiting for the remote shell failed: {e}"
        ))),
        Err(_) => Some(ShellEnd::said("the remote shell did not exit".to_owned())),
    }
}

/// Closes the agent, waits for its channel to close and says goodbye to the server; what
/// went wrong with the agent's process or the connection, if anything.
async fn finish_channel(
    agent: &RemoteTransport,
    session: Option<Box<SshSession>>,
    status: &mut ExecStatus,
) -> Option<ShellEnd> {
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
        (_, Some(lost)) => Some(ShellEnd::said(format!("the SSH connection ended: {lost}"))),
        (Some(RemoteExit::Status(127)), None) => Some(ShellEnd::not_found(
            "sy-remote exited with status 127 (command not found: is it installed there? \
             see --remote-path)"
                .to_owned(),
        )),
        (Some(exit), None) => Some(ShellEnd::said(format!("sy-remote ended with {exit}"))),
        (None, None) => Some(ShellEnd::said("sy-remote did not exit".to_owned())),
    }
}

/// Says goodbye to the server after SFTP; why the connection ended, if it broke.
async fn finish_sftp(session: Option<Box<SshSession>>) -> Option<ShellEnd> {
    let session = session?;
    let lost = session.failure();
    session.close().await;
    lost.map(|lost| ShellEnd::said(format!("the SSH connection ended: {lost}")))
}

/// What went wrong with the remote shell or agent process.
#[derive(Debug)]
pub(crate) struct ShellEnd {
    /// What happened, for the user.
    pub(crate) message: String,
    /// The agent's command was not found (status 127): it never started.
    pub(crate) not_found: bool,
}

impl ShellEnd {
    fn said(message: String) -> ShellEnd {
        ShellEnd {
            message,
            not_found: false,
        }
    }

    fn not_found(message: String) -> ShellEnd {
        ShellEnd {
            message,
            not_found: true,
        }
    }
}

/// How a session with an agent ended badly.
#[derive(Debug)]
pub(crate) struct RemoteEnd {
    shown: String,
    /// Why the connection broke, if it did.
    pub(crate) failure: Option<LinkFailure>,
    /// What went wrong with the remote shell process, if anything.
    pub(crate) shell: Option<ShellEnd>,
}

impl std::fmt::Display for RemoteEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.failure, &self.shell) {
            (Some(reason), Some(shell)) => write!(
                f,
                "connection to sy-remote on {} lost ({}): {reason}",
                self.shown, shell.message
            ),
            (Some(reason), None) => {
                write!(
                    f,
                    "connection to sy-remote on {} lost: {reason}",
                    self.shown
                )
            }
            (None, Some(shell)) => {
                write!(f, "{} after the session with {}", shell.message, self.shown)
            }
            (None, None) => write!(f, "the session with {} ended", self.shown),
        }
    }
}

impl std::error::Error for RemoteEnd {}
