//! What a scan reports about each file: kind, size, times, permissions, identity; and the
//! leftovers of interrupted runs it finds beside them.
//!
//! These are sy's file vocabulary, defined once here and re-exported by `sy-transport`: the
//! same values travel over the wire and drive the sync engine.

use crate::RelPath;

/// A modification time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000` (the decoder refuses more).
    pub nanos: u32,
}

/// The attributes sy carries from source to destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Meta {
    /// Permission bits (`st_mode & 0o7777`; the decoder drops any other bits a peer sends).
    pub mode: u32,
    /// Last modification time.
    pub mtime: Timestamp,
    /// Owning user id.
    pub uid: u32,
    /// Owning group id.
    pub gid: u32,
}

/// Which attributes to apply when writing, beyond permission bits (always kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MetaOptions {
    /// Set modification times.
    pub times: bool,
    /// Set owner and group (only meaningful with the privilege to do so).
    pub owner: bool,
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

impl SpecialKind {
    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            SpecialKind::Fifo => "FIFO",
            SpecialKind::Socket => "socket",
            SpecialKind::CharDevice => "character device",
            SpecialKind::BlockDevice => "block device",
        }
    }
}

/// The kind of a file-system object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target exactly as stored (never followed unless asked).
    Symlink {
        /// The link's target bytes (any bytes: a target may be absolute or climb with `..`).
        target: Vec<u8>,
    },
    /// Something sy does not copy (FIFO, socket, device): reported so the other side can
    /// warn, never transferred.
    Special(SpecialKind),
}

/// One object found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is, relative to the root of the side that scanned.
    pub path: RelPath,
    /// What it is.
    pub kind: EntryKind,
    /// Length in bytes (files; 0 for the rest).
    pub size: u64,
    /// Attributes to carry over.
    pub meta: Meta,
    /// Device holding it: with `ino`, finds hard links (`-H`) and compares two roots.
    pub dev: u64,
    /// Inode number on `dev`.
    pub ino: u64,
    /// Link count; a file with more than one may be a hard link of another entry.
    pub nlink: u64,
}

impl Entry {
    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Bytes this entry adds to a [`crate::Message::ScanEntries`] frame, for filling batches up
    /// to a budget below the frame limit.
    pub fn encoded_len(&self) -> usize {
        crate::encode::entry_len(self)
    }
}

/// The two kinds of files an interrupted run leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftoverKind {
    /// `.NAME.CHECK.sy-partial`: the start of NAME's new content, kept as the delta basis for
    /// resuming.
    Partial,
    /// `.NAME.sy-tmp.XXXXCHECK`: a temporary from a run that was killed.
    Temp,
}

/// A file sy left behind when a previous run was interrupted (reported by scans, never an
/// entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The leftover itself.
    pub path: RelPath,
    /// The file it was being written for, when its name says so.
    pub file: Option<RelPath>,
    /// A kept partial (usable as a delta basis) or a stray temporary.
    pub kind: LeftoverKind,
}
