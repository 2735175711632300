//! What the protocol says about files: scanned entries, their attributes, leftovers, filters.
//!
//! These mirror `sy-transport`'s types field for field, so the agent transport converts them
//! without loss; this crate keeps its own copies because it sits below `sy-transport`.

use std::fmt;

/// Length of a BLAKE3 whole-file digest.
pub const DIGEST_LEN: usize = 32;

/// BLAKE3 digest of a whole file, checked by the receiver before it renames the file into place.
pub type Digest = [u8; DIGEST_LEN];

/// Names a request, so many can be in flight and their answers may come back in any order.
///
/// The side that sends a request picks its id; every frame answering it (or continuing it, such
/// as chunks) carries the same id. An id may be reused once its request has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A modification time: seconds since the Unix epoch (negative before it) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds, below 1 000 000 000 (the decoder refuses more).
    pub nanos: u32,
}

/// The attributes carried from source to destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Meta {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Owning user id.
    pub uid: u32,
    /// Owning group id.
    pub gid: u32,
}

/// The objects sy reports but does not copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialKind {
    /// A named pipe.
    Fifo,
    /// A Unix-domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

/// What a scanned entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target exactly as stored (not followed).
    Symlink {
        /// The link's target bytes.
        target: Vec<u8>,
    },
    /// A FIFO, socket or device: reported so the other side can warn, never transferred.
    Special(SpecialKind),
}

/// One file-system object found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root the agent serves.
    pub path: Vec<u8>,
    /// File, directory, symlink or special.
    pub kind: EntryKind,
    /// Length in bytes (files; 0 for the rest).
    pub size: u64,
    /// Attributes to carry over.
    pub meta: Meta,
    /// Device holding it (with `ino`, finds hard links).
    pub dev: u64,
    /// Inode number on `dev`.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
}

/// The two kinds of files an interrupted run leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftoverKind {
    /// The start of a file's new content, kept as the delta basis for resuming.
    Partial,
    /// A temporary from a run that was killed.
    Temp,
}

/// A file sy left behind when a previous run was interrupted (reported by scans, never an
/// entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The leftover itself.
    pub path: Vec<u8>,
    /// The file it was being written for, when its name says so.
    pub file: Option<Vec<u8>>,
    /// Partial or temporary.
    pub kind: LeftoverKind,
}

/// Whether a filter rule includes or excludes what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `--include`.
    Include,
    /// `--exclude`.
    Exclude,
}

/// One include/exclude rule, applied by the side that scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRule {
    /// Include or exclude.
    pub kind: RuleKind,
    /// The rsync-style glob, as given on the command line.
    pub pattern: String,
}

/// Which file a signature or delta is about: the destination's current version, or the partial
/// an interrupted run kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The current version of the file.
    Existing,
    /// The kept partial (resuming).
    Partial,
}

/// Attributes to apply beyond permission bits (always applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MetaOptions {
    /// Set modification times.
    pub times: bool,
    /// Set owner and group.
    pub owner: bool,
}

/// How the receiver writes a pushed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WriteOptions {
    /// Which attributes to apply.
    pub meta: MetaOptions,
    /// Turn runs of zeros into holes (`--sparse`).
    pub sparse: bool,
    /// A kept partial of this file exists; remove it once the file is in place.
    pub clear_partial: bool,
}

/// The kind of object a [`crate::TreeOp::SetMeta`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaTarget {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only times and owner apply).
    Symlink,
}
