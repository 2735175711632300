//! Conversions between this crate's types and their wire twins in `sy-protocol`.
//!
//! Everything that comes from the peer goes through [`RelPath::new`] here, so a path with `..`,
//! an absolute part, an empty component or a NUL byte is refused before any code acts on it.

use std::io;

use sy_protocol as wire;

use crate::relpath::Escaped;
use crate::{
    Basis, Entry, EntryKind, Error, FilterRules, Leftover, LeftoverKind, Meta, MetaOptions,
    MetaTarget, RelPath, Result, RuleKind, SpecialKind, Timestamp, TreeOp,
};

pub(crate) fn path(bytes: &[u8]) -> Result<RelPath> {
    RelPath::new(bytes)
}

pub(crate) fn meta_to_wire(meta: &Meta) -> wire::Meta {
    wire::Meta {
        mode: meta.mode,
        mtime: wire::Timestamp {
            secs: meta.mtime.secs,
            nanos: meta.mtime.nanos,
        },
        uid: meta.uid,
        gid: meta.gid,
    }
}

pub(crate) fn meta_from_wire(meta: &wire::Meta) -> Meta {
    Meta {
        mode: meta.mode & 0o7777,
        mtime: Timestamp {
            secs: meta.mtime.secs,
            nanos: meta.mtime.nanos,
        },
        uid: meta.uid,
        gid: meta.gid,
    }
}

pub(crate) fn options_to_wire(options: MetaOptions) -> wire::MetaOptions {
    wire::MetaOptions {
        times: options.times,
        owner: options.owner,
    }
}

pub(crate) fn options_from_wire(options: wire::MetaOptions) -> MetaOptions {
    MetaOptions {
        times: options.times,
        owner: options.owner,
    }
}

pub(crate) fn basis_to_wire(basis: Basis) -> wire::Basis {
    match basis {
        Basis::Existing => wire::Basis::Existing,
        Basis::Partial => wire::Basis::Partial,
    }
}

pub(crate) fn basis_from_wire(basis: wire::Basis) -> Basis {
    match basis {
        wire::Basis::Existing => Basis::Existing,
        wire::Basis::Partial => Basis::Partial,
    }
}

fn special_to_wire(kind: SpecialKind) -> wire::SpecialKind {
    match kind {
        SpecialKind::Fifo => wire::SpecialKind::Fifo,
        SpecialKind::Socket => wire::SpecialKind::Socket,
        SpecialKind::CharDevice => wire::SpecialKind::CharDevice,
        SpecialKind::BlockDevice => wire::SpecialKind::BlockDevice,
    }
}

fn special_from_wire(kind: wire::SpecialKind) -> SpecialKind {
    match kind {
        wire::SpecialKind::Fifo => SpecialKind::Fifo,
        wire::SpecialKind::Socket => SpecialKind::Socket,
        wire::SpecialKind::CharDevice => SpecialKind::CharDevice,
        wire::SpecialKind::BlockDevice => SpecialKind::BlockDevice,
    }
}

pub(crate) fn entry_to_wire(entry: &Entry) -> wire::Entry {
    wire::Entry {
        path: entry.path.as_bytes().to_vec(),
        kind: match &entry.kind {
            EntryKind::File => wire::EntryKind::File,
            EntryKind::Dir => wire::EntryKind::Dir,
            EntryKind::Symlink { target } => wire::EntryKind::Symlink {
                target: target.clone(),
            },
            EntryKind::Special(kind) => wire::EntryKind::Special(special_to_wire(*kind)),
        },
        size: entry.size,
        meta: meta_to_wire(&entry.meta),
        dev: entry.dev,
        ino: entry.ino,
        nlink: entry.nlink,
    }
}

pub(crate) fn entry_from_wire(entry: wire::Entry) -> Result<Entry> {
    Ok(Entry {
        path: path(&entry.path)?,
        kind: match entry.kind {
            wire::EntryKind::File => EntryKind::File,
            wire::EntryKind::Dir => EntryKind::Dir,
            wire::EntryKind::Symlink { target } => EntryKind::Symlink { target },
            wire::EntryKind::Special(kind) => EntryKind::Special(special_from_wire(kind)),
        },
        size: entry.size,
        meta: meta_from_wire(&entry.meta),
        dev: entry.dev,
        ino: entry.ino,
        nlink: entry.nlink,
    })
}

pub(crate) fn leftover_to_wire(leftover: &Leftover) -> wire::Leftover {
    wire::Leftover {
        path: leftover.path.as_bytes().to_vec(),
        file: leftover.file.as_ref().map(|f| f.as_bytes().to_vec()),
        kind: match leftover.kind {
            LeftoverKind::Partial => wire::LeftoverKind::Partial,
            LeftoverKind::Temp => wire::LeftoverKind::Temp,
        },
    }
}

pub(crate) fn leftover_from_wire(leftover: wire::Leftover) -> Result<Leftover> {
    Ok(Leftover {
        path: path(&leftover.path)?,
        file: leftover.file.as_deref().map(path).transpose()?,
        kind: match leftover.kind {
            wire::LeftoverKind::Partial => LeftoverKind::Partial,
            wire::LeftoverKind::Temp => LeftoverKind::Temp,
        },
    })
}

pub(crate) fn filter_to_wire(rules: &FilterRules) -> Vec<wire::FilterRule> {
    rules
        .rules
        .iter()
        .map(|(kind, pattern)| wire::FilterRule {
            kind: match kind {
                RuleKind::Include => wire::RuleKind::Include,
                RuleKind::Exclude => wire::RuleKind::Exclude,
            },
            pattern: pattern.clone(),
        })
        .collect()
}

pub(crate) fn filter_from_wire(rules: Vec<wire::FilterRule>, gitignore: bool) -> FilterRules {
    FilterRules {
        rules: rules
            .into_iter()
            .map(|rule| {
                let kind = match rule.kind {
                    wire::RuleKind::Include => RuleKind::Include,
                    wire::RuleKind::Exclude => RuleKind::Exclude,
                };
                (kind, rule.pattern)
            })
            .collect(),
        gitignore,
    }
}

fn target_to_wire(target: MetaTarget) -> wire::MetaTarget {
    match target {
        MetaTarget::File => wire::MetaTarget::File,
        MetaTarget::Dir => wire::MetaTarget::Dir,
        MetaTarget::Symlink => wire::MetaTarget::Symlink,
    }
}

fn target_from_wire(target: wire::MetaTarget) -> MetaTarget {
    match target {
        wire::MetaTarget::File => MetaTarget::File,
        wire::MetaTarget::Dir => MetaTarget::Dir,
        wire::MetaTarget::Symlink => MetaTarget::Symlink,
    }
}

pub(crate) fn tree_op_to_wire(op: &TreeOp) -> wire::TreeOp {
    let bytes = |p: &RelPath| p.as_bytes().to_vec();
    match op {
        TreeOp::Mkdir { path } => wire::TreeOp::Mkdir { path: bytes(path) },
        TreeOp::Symlink { path, target, meta } => wire::TreeOp::Symlink {
            path: bytes(path),
            target: target.clone(),
            meta: meta_to_wire(meta),
        },
        TreeOp::HardLink { path, target } => wire::TreeOp::Hardlink {
            path: bytes(path),
            target: bytes(target),
        },
        TreeOp::SetMeta { path, target, meta } => wire::TreeOp::SetMeta {
            path: bytes(path),
            target: target_to_wire(*target),
            meta: meta_to_wire(meta),
        },
        TreeOp::MakeWritable { path } => wire::TreeOp::MakeWritable { path: bytes(path) },
        TreeOp::Remove { path } => wire::TreeOp::Remove { path: bytes(path) },
        TreeOp::Tidy(leftover) => wire::TreeOp::Tidy(leftover_to_wire(leftover)),
        TreeOp::DropPartial { file } => wire::TreeOp::DropPartial { file: bytes(file) },
    }
}

pub(crate) fn tree_op_from_wire(op: wire::TreeOp) -> Result<TreeOp> {
    Ok(match op {
        wire::TreeOp::Mkdir { path: p } => TreeOp::Mkdir { path: path(&p)? },
        wire::TreeOp::Symlink {
            path: p,
            target,
            meta,
        } => TreeOp::Symlink {
            path: path(&p)?,
            target,
            meta: meta_from_wire(&meta),
        },
        wire::TreeOp::Hardlink { path: p, target } => TreeOp::HardLink {
            path: path(&p)?,
            target: path(&target)?,
        },
        wire::TreeOp::SetMeta {
            path: p,
            target,
            meta,
        } => TreeOp::SetMeta {
            path: path(&p)?,
            target: target_from_wire(target),
            meta: meta_from_wire(&meta),
        },
        wire::TreeOp::MakeWritable { path: p } => TreeOp::MakeWritable { path: path(&p)? },
        wire::TreeOp::Remove { path: p } => TreeOp::Remove { path: path(&p)? },
        wire::TreeOp::Tidy(leftover) => TreeOp::Tidy(leftover_from_wire(leftover)?),
        wire::TreeOp::DropPartial { file } => TreeOp::DropPartial { file: path(&file)? },
    })
}

/// The wire form of an error met while serving a request.
pub(crate) fn error_to_wire(
    id: wire::RequestId,
    scope: wire::ErrorScope,
    error: &Error,
) -> wire::Message {
    let (kind, path) = match error {
        Error::InvalidPath { path, .. } | Error::ThroughSymlink { path } => {
            (wire::ErrorKind::InvalidPath, path.clone())
        }
        Error::SourceChanged { path } => (wire::ErrorKind::Changed, path.clone()),
        Error::DigestMismatch { path } => (wire::ErrorKind::DigestMismatch, path.clone()),
        Error::Io { path, source, .. } => (io_kind_to_wire(source.kind()), path.clone()),
        Error::Delta { path, .. } => (wire::ErrorKind::Io, path.clone()),
        Error::Filter { pattern, .. } => (wire::ErrorKind::InvalidFilter, pattern.clone()),
        Error::Interrupted => (wire::ErrorKind::Interrupted, String::new()),
        Error::Ssh { host, .. } => (wire::ErrorKind::Io, host.clone()),
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
