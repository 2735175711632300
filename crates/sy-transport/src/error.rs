//! The one error type of this crate; every variant names the path and side it concerns.

use std::io;

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
    /// The operation stopped before it completed — cancelled (Ctrl-C), or its stream was cut
    /// (a lost link); nothing was left half-written and what arrived is kept as a partial.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// True if the operation was stopped before completing (see [`Error::Interrupted`]); whether
    /// that was the user's doing is for the caller, who knows if it cancelled.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
