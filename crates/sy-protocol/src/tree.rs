//! Changes to a destination tree that move no file content, and the few names that say which
//! file or which version of it a request is about.

use crate::{Leftover, Meta, RelPath};

/// The kind of object a [`TreeOp::SetMeta`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaTarget {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only times and owner apply).
    Symlink,
}

/// Which destination file a signature or delta is about: its current version, or the partial
/// an interrupted run kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The current version of the file.
    Existing,
    /// The partial an interrupted run kept (the start of the new content): resuming.
    Partial,
}

/// A change to the destination tree that moves no file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeOp {
    /// Create a directory (an existing directory is fine). It stays owner-writable until a later
    /// `SetMeta` gives it its final mode, so read-only source directories can still be filled.
    Mkdir {
        /// Where.
        path: RelPath,
    },
    /// Create or atomically replace a symbolic link.
    Symlink {
        /// Where.
        path: RelPath,
        /// The target, stored as is.
        target: Vec<u8>,
        /// Attributes (times, owner) for the link itself.
        meta: Meta,
    },
    /// Create or atomically replace `path` as a hard link to `target` (both beneath the root).
    HardLink {
        /// The new name.
        path: RelPath,
        /// The existing file.
        target: RelPath,
    },
    /// Apply attributes.
    SetMeta {
        /// Where.
        path: RelPath,
        /// What kind of object it is.
        target: MetaTarget,
        /// The attributes.
        meta: Meta,
    },
    /// Make a directory owner-writable for the duration of the run (it may be read-only).
    MakeWritable {
        /// The directory.
        path: RelPath,
    },
    /// Remove a file, link or (recursively) a directory, without following links.
    Remove {
        /// Where.
        path: RelPath,
    },
    /// Deal with a leftover of an interrupted run: a stray temporary becomes the partial of its
    /// file (unless a larger partial exists) or is removed.
    Tidy(Leftover),
    /// Remove the kept partial of `file`, if there is one.
    DropPartial {
        /// The file whose partial goes.
        file: RelPath,
    },
}

impl TreeOp {
    /// The path the operation changes.
    pub fn path(&self) -> &RelPath {
        match self {
            TreeOp::Mkdir { path }
            | TreeOp::Symlink { path, .. }
            | TreeOp::HardLink { path, .. }
            | TreeOp::SetMeta { path, .. }
            | TreeOp::MakeWritable { path }
            | TreeOp::Remove { path }
            | TreeOp::DropPartial { file: path } => path,
            TreeOp::Tidy(leftover) => &leftover.path,
        }
    }
}
