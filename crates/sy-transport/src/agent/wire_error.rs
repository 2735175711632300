//! Errors as they cross the wire: a failure met while serving a request becomes an
//! [`ErrorReply`](wire::ErrorReply) naming its kind, and a reply from the agent becomes this
//! crate's [`Error`] again, its peer-supplied text escaped so it cannot forge output.

use std::io;

use sy_protocol::{self as wire, Escaped};

use crate::Error;

/// The wire form of an error met while serving a request.
pub(crate) fn error_to_wire(
    id: wire::RequestId,
    scope: wire::ErrorScope,
    error: &Error,
) -> wire::Message {
    let (kind, path) = match error {
        Error::InvalidPath { path, .. }
        | Error::ThroughSymlink { path }
        | Error::LinkLeavesRoot { path } => (wire::ErrorKind::InvalidPath, path.clone()),
        Error::Refused { path, .. } => (wire::ErrorKind::PermissionDenied, path.clone()),
        Error::SourceChanged { path } => (wire::ErrorKind::Changed, path.clone()),
        Error::DigestMismatch { path } => (wire::ErrorKind::DigestMismatch, path.clone()),
        Error::Io { path, source, .. } => (io_kind_to_wire(source.kind()), path.clone()),
        Error::Delta { path, .. } => (wire::ErrorKind::Io, path.clone()),
        Error::Filter { pattern, .. } => (wire::ErrorKind::InvalidFilter, pattern.clone()),
        Error::Interrupted => (wire::ErrorKind::Interrupted, String::new()),
        Error::LinkLost { location, .. } => (wire::ErrorKind::Io, location.clone()),
        Error::Protocol { location, .. } => (wire::ErrorKind::Protocol, location.clone()),
        Error::Ssh { host, .. } | Error::HostKey { host, .. } => {
            (wire::ErrorKind::Io, host.clone())
        }
        Error::Store { location, .. } => (wire::ErrorKind::Io, location.clone()),
    };
    wire::Message::Error(wire::ErrorReply {
        id,
        scope,
        kind,
        path: path.into_bytes(),
        message: error.to_string(),
    })
}

fn io_kind_to_wire(kind: io::ErrorKind) -> wire::ErrorKind {
    match kind {
        io::ErrorKind::NotFound => wire::ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => wire::ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => wire::ErrorKind::AlreadyExists,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => wire::ErrorKind::NoSpace,
        io::ErrorKind::ReadOnlyFilesystem => wire::ErrorKind::ReadOnly,
        _ => wire::ErrorKind::Io,
    }
}

fn io_kind_from_wire(kind: wire::ErrorKind) -> io::ErrorKind {
    match kind {
        wire::ErrorKind::NotFound => io::ErrorKind::NotFound,
        wire::ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
        wire::ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
        wire::ErrorKind::NoSpace => io::ErrorKind::StorageFull,
        wire::ErrorKind::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
        wire::ErrorKind::InvalidPath => io::ErrorKind::InvalidInput,
        wire::ErrorKind::Unsupported => io::ErrorKind::Unsupported,
        wire::ErrorKind::Protocol => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    }
}

/// An error the agent reported, as this crate's error, said to come from `location`.
pub(crate) fn error_from_wire(location: &str, reply: wire::ErrorReply) -> Error {
    // Both the path and the message come from the peer: escaped, so they cannot forge output.
    let shown = || {
        if reply.path.is_empty() {
            location.to_owned()
        } else {
            format!("{location}: {}", Escaped(&reply.path))
        }
    };
    match reply.kind {
        wire::ErrorKind::Changed => Error::SourceChanged { path: shown() },
        wire::ErrorKind::DigestMismatch => Error::DigestMismatch { path: shown() },
        wire::ErrorKind::Interrupted => Error::Interrupted,
        kind => Error::Io {
            action: "sy-remote at",
            path: location.to_owned(),
            source: io::Error::new(
                io_kind_from_wire(kind),
                Escaped(reply.message.as_bytes()).to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_peer_cannot_forge_terminal_output() {
        let reply = wire::ErrorReply {
            id: wire::RequestId(1),
            scope: wire::ErrorScope::Request,
            kind: wire::ErrorKind::Io,
            path: b"a\nsy: fake line\x1b[2J".to_vec(),
            message: "denied\n\x1b[31mfake\x07".to_owned(),
        };
        let changed = wire::ErrorReply {
            kind: wire::ErrorKind::Changed,
            ..reply.clone()
        };
        for error in [
            error_from_wire("host:/r", reply),
            error_from_wire("host:/r", changed),
        ] {
            let shown = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), |s| format!("{error}: {s}"));
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
    }
}
