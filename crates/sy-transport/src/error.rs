//! The one error type of this crate; every variant names the path and side it concerns. A
//! connection to a peer records why it ended as a [`LinkFailure`]: a lost stream
//! ([`LinkCause`]) or a protocol error, so a retry layer can tell the two apart by matching.

use std::io;
use std::sync::Arc;

use sy_protocol::ProtocolError;

/// An error from a transport, with the path and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path that is not a clean relative path (from a user or a peer).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path, lossily decoded.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An operating-system error while doing `action` on `path`.
    #[error("{action} {path}: {source}")]
    Io {
        /// What sy was doing ("reading", "creating directory", …).
        action: &'static str,
        /// The path as the user would name it (with the host for remote sides).
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A source file changed (size or mtime) while it was being read; its copy was discarded.
    #[error("{path} changed while being copied")]
    SourceChanged {
        /// The file.
        path: String,
    },
    /// A path resolved through a symbolic link, which would lead outside the root or elsewhere.
    #[error("refusing to follow a symbolic link on the way to {path}")]
    ThroughSymlink {
        /// The path.
        path: String,
    },
    /// A symbolic link followed for a read (`-L`) leads outside the root served to a peer: an
    /// absolute target, or one climbing out with `..`.
    #[error("{path}: a symbolic link on the way leads outside the served directory (not followed)")]
    LinkLeavesRoot {
        /// The path.
        path: String,
    },
    /// A request this side does not allow (`sy-remote --read-only`, `--write-only`,
    /// `--restrict`), whatever the file system would say.
    #[error("{action} {path} refused: {reason}")]
    Refused {
        /// What was asked ("reading", "writing", "creating a symbolic link at", …).
        action: &'static str,
        /// The path as the peer named it.
        path: String,
        /// Why it is not allowed.
        reason: &'static str,
    },
    /// A bad `--exclude`/`--include` pattern or filter file.
    #[error("bad filter pattern {pattern:?}: {reason}")]
    Filter {
        /// The pattern as given.
        pattern: String,
        /// The cause from the glob compiler.
        reason: String,
    },
    /// A file rebuilt from a delta did not have the digest the sender announced.
    #[error("{path}: content check failed after applying the delta")]
    DigestMismatch {
        /// The file.
        path: String,
    },
    /// The delta engine rejected a signature or delta, or failed while applying it.
    #[error("{path}: {source}")]
    Delta {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: sy_delta::Error,
    },
    /// The operation stopped before it completed — cancelled (Ctrl-C), or its input ended
    /// early; nothing was left half-written and what arrived is kept as a partial.
    #[error("interrupted")]
    Interrupted,
    /// The connection to a peer was lost while the operation needed it: its stream failed,
    /// ended before the session did, or went silent past `--timeout`. As with
    /// [`Error::Interrupted`], what arrived is kept as a partial; another connection may fare
    /// better.
    #[error("connection to {location} lost: {cause}")]
    LinkLost {
        /// The peer as messages name it (`host:/srv/data`, or "the client" for an agent).
        location: String,
        /// How the stream was lost.
        #[source]
        cause: LinkCause,
    },
    /// The peer broke the protocol: a frame that does not decode (a hostile path among them),
    /// or messages that do not fit the conversation. Connecting again would meet the same peer.
    #[error("talking to {location}: {source}")]
    Protocol {
        /// The peer as messages name it (`host:/srv/data`, or "the client" for an agent).
        location: String,
        /// What the peer did.
        #[source]
        source: ProtocolError,
    },
    /// An SSH server's host key was refused: unknown (and not accepted), changed, revoked, or a
    /// certificate. `reason` names the fingerprint and what to do about it.
    #[error("ssh {host}: {reason}")]
    HostKey {
        /// The host as the user named it.
        host: String,
        /// Why the key was refused.
        reason: String,
    },
    /// A request to an object store failed, or the store could not be set up: `location` is
    /// the bucket and key (`s3://bucket/key`), `reason` the store's answer with the server's
    /// error code when it sent one.
    #[error("{action} {location}: {reason}")]
    Store {
        /// What sy was doing ("uploading", "listing", …).
        action: &'static str,
        /// The bucket and key.
        location: String,
        /// The cause.
        reason: String,
    },
    /// Connecting to, authenticating with or talking to an SSH server failed; `reason` says
    /// what was tried and what to do about it.
    #[error("ssh {host}: {reason}")]
    Ssh {
        /// The host as the user named it.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

impl From<sy_protocol::PathError> for Error {
    fn from(e: sy_protocol::PathError) -> Self {
        Error::InvalidPath {
            path: e.path,
            reason: e.reason,
        }
    }
}

impl Error {
    /// True if the operation was stopped before completing, with what it wrote kept as a
    /// partial: [`Error::Interrupted`] or [`Error::LinkLost`]. Whether that was the user's
    /// doing is for the caller, who knows if it cancelled.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted | Error::LinkLost { .. })
    }

    /// The operating system's kind of failure, for an [`Error::Io`].
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// How the byte stream under a session was lost.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LinkCause {
    /// Reading from the peer failed.
    #[error("reading from the peer failed: {0}")]
    Read(#[source] Arc<io::Error>),
    /// Writing to the peer failed.
    #[error("writing to the peer failed: {0}")]
    Write(#[source] Arc<io::Error>),
    /// The peer's stream ended in the middle of a frame, or before its handshake was complete.
    #[error(transparent)]
    Cut(ProtocolError),
    /// The agent closed its side before this side ended the session.
    #[error("sy-remote closed the connection")]
    Closed,
    /// Nothing came from the peer for longer than `--timeout` while this side waited.
    #[error("no data from {peer} for {secs} s (--timeout)")]
    Timeout {
        /// The peer as messages name it.
        peer: String,
        /// The timeout, in seconds.
        secs: u64,
    },
}

/// Why a connection ended badly, as it recorded it (the first reason only): the stream was
/// lost, or the session itself failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LinkFailure {
    /// The stream under the session was lost; connecting again may work.
    #[error(transparent)]
    Lost(LinkCause),
    /// The peer broke the protocol, or a message could not be encoded: connecting again
    /// would meet the same failure.
    #[error(transparent)]
    Protocol(ProtocolError),
}

impl LinkFailure {
    /// True when the stream was lost (see [`LinkFailure::Lost`]).
    pub fn is_lost(&self) -> bool {
        matches!(self, LinkFailure::Lost(_))
    }

    /// The error of an operation that failed because of this, on the link to `location`.
    pub fn to_error(&self, location: &str) -> Error {
        match self {
            LinkFailure::Lost(cause) => Error::LinkLost {
                location: location.to_owned(),
                cause: cause.clone(),
            },
            LinkFailure::Protocol(source) => Error::Protocol {
                location: location.to_owned(),
                source: source.clone(),
            },
        }
    }
}

/// `error` and its causes, outermost first, joined by `: ` like anyhow's `{:#}`, except that a
/// cause whose text its parent already ends with (an error that quotes its source, as
/// [`Error::Io`] does so that `to_string()` alone names the cause) is not repeated.
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_quotes_is_shown_once() {
        let error = Error::Io {
            action: "reading",
            path: "a/b".to_owned(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "Permission denied"),
        };
        assert_eq!(describe_error(&error), "reading a/b: Permission denied");
        let outer = io::Error::other(error);
        assert_eq!(describe_error(&outer), "reading a/b: Permission denied");
    }
}
