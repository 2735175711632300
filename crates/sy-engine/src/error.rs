//! The one error type of the engine: why a sync could not run (as opposed to single files that
//! failed, which are reported to the [`Observer`](crate::Observer) and counted in
//! [`Totals::failed`](crate::Totals::failed)).

use std::io;
use std::path::PathBuf;

/// Why a sync, or one source of it, could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The request cannot be carried out as given (a destination inside its source, two
    /// remote sides, an unusable remote shell command…); nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// A source could not be examined.
    #[error("reading source {shown}")]
    Source {
        /// The source as given.
        shown: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A local destination directory could not be created.
    #[error("creating destination {}", path.display())]
    Destination {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The destination cannot be written at all: its root, or the directories made directly
    /// in it, were refused (the failure itself was reported); nothing more was attempted.
    #[error("the destination {shown} cannot be written")]
    Unwritable {
        /// The destination as messages name it.
        shown: String,
    },
    /// One side could not be listed (`side` is `source` or `destination`).
    #[error("scanning {side} {shown}")]
    Scan {
        /// `source` or `destination`.
        side: &'static str,
        /// That side as the user named it.
        shown: String,
        /// The cause.
        #[source]
        source: Box<sy_transport::Error>,
    },
    /// The ssh settings of a host ask for what the built-in SSH client does not do (a
    /// `ProxyCommand`, a chain of jump hosts, an unknown cipher).
    #[error("{0}")]
    SshSetup(String),
    /// The ssh config file could not be read.
    #[error(transparent)]
    SshConfig(#[from] sy_transport::ssh::SshConfigError),
    /// Reaching a remote side failed: its SSH connection, its remote shell or its agent.
    #[error(transparent)]
    Transport(Box<sy_transport::Error>),
    /// The remote shell (`-e`) could not be started.
    #[error("starting the remote shell {program:?}")]
    RemoteShell {
        /// The command.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The agent on the far side could not be started, or the session with it ended badly.
    #[error("{0}")]
    Remote(String),
    /// A remote job failed, and the remote shell or agent process then failed too (`shell`
    /// says how).
    #[error("{shell}")]
    RemoteEnded {
        /// What happened to the remote shell or agent process.
        shell: String,
        /// The agent's command was not found there: the remote side never started.
        not_started: bool,
        /// The job's own error.
        #[source]
        source: Box<SyncError>,
    },
    /// The run was cancelled while connecting to `host`.
    #[error("interrupted while connecting to {host}")]
    Interrupted {
        /// The host.
        host: String,
    },
    /// The blocking [`SyncJob::run`](crate::SyncJob::run) could not start its runtime.
    #[error("starting the runtime")]
    Runtime(#[source] io::Error),
}

impl From<sy_transport::Error> for SyncError {
    fn from(error: sy_transport::Error) -> SyncError {
        SyncError::Transport(Box::new(error))
    }
}

impl SyncError {
    /// True when the request itself is at fault (a usage error) rather than the world: the
    /// same call would fail again the same way.
    pub fn is_invalid(&self) -> bool {
        matches!(self, SyncError::Invalid(_))
    }

    /// What kind of failure this is, for a front end's exit status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::Invalid(_) | SyncError::SshConfig(_) => ErrorKind::Usage,
            SyncError::Source { .. } => ErrorKind::Selection,
            SyncError::Scan { source, .. } => {
                transport_kind(source).unwrap_or(ErrorKind::Selection)
            }
            SyncError::Destination { .. }
            | SyncError::Unwritable { .. }
            | SyncError::Runtime(_) => ErrorKind::FileIo,
            SyncError::Transport(e) => transport_kind(e).unwrap_or(ErrorKind::FileIo),
            SyncError::SshSetup(_) | SyncError::RemoteShell { .. } | SyncError::Remote(_) => {
                ErrorKind::StartRemote
            }
            SyncError::RemoteEnded {
                not_started: true, ..
            } => ErrorKind::StartRemote,
            SyncError::RemoteEnded { source, .. } => source.kind(),
            SyncError::Interrupted { .. } => ErrorKind::Interrupted,
        }
    }
}

/// What kind of failure a [`SyncError`] is: what a front end tells its caller (the `sy`
/// command's exit status follows rsync's codes for these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request cannot be carried out as given, or the settings it names are unreadable.
    Usage,
    /// A source could not be found or examined: there was nothing to select.
    Selection,
    /// Reading or writing local files failed (a destination that cannot be created).
    FileIo,
    /// The two sides speak no protocol version in common.
    Incompatible,
    /// The remote side could not be reached or started: SSH, the remote shell, the agent.
    StartRemote,
    /// The connection broke, or the peer broke the protocol, after the session began.
    Stream,
    /// The peer sent nothing for longer than `--timeout`.
    Timeout,
    /// The run was cancelled.
    Interrupted,
}

/// The kind of a transport's error, where it says more than the step that met it.
fn transport_kind(error: &sy_transport::Error) -> Option<ErrorKind> {
    use sy_transport::{Error, LinkCause, ProtocolError};
    Some(match error {
        Error::LinkLost {
            cause: LinkCause::Timeout { .. },
            ..
        } => ErrorKind::Timeout,
        Error::LinkLost { .. } => ErrorKind::Stream,
        Error::Protocol {
            source: ProtocolError::IncompatibleVersion { .. },
            ..
        } => ErrorKind::Incompatible,
        Error::Protocol { .. } => ErrorKind::Stream,
        Error::Ssh { .. } | Error::HostKey { .. } => ErrorKind::StartRemote,
        Error::Interrupted => ErrorKind::Interrupted,
        Error::Io { .. } => ErrorKind::FileIo,
        _ => return None,
    })
}
