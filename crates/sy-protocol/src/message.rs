//! The messages both sides exchange after the handshake.
//!
//! Paths travel as raw bytes relative to the root the agent was given; this crate only bounds
//! their length. Turning them into safe relative paths (no `..`, no absolute part, no NUL) is the
//! transport's job.

use std::fmt;

use bytes::Bytes;

use crate::kind::FrameKind;

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

/// What a scanned entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    Other,
}

/// One file-system entry found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the scanned root.
    pub path: Vec<u8>,
    /// File, directory, symlink or other.
    pub kind: EntryKind,
    /// Size in bytes (for a symlink, the length of its target).
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device of the file system holding it (with `ino`, finds hard links).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// BLAKE3 of the content, when the scan was asked for checksums (`-c`) and this is a file.
    pub digest: Option<Digest>,
}

/// How the sender of a file wants it written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The request this file (or delta) belongs to.
    pub id: RequestId,
    /// Destination path, relative to the receiver's root.
    pub path: Vec<u8>,
    /// Final size in bytes.
    pub size: u64,
    /// Permission bits to set.
    pub mode: u32,
    /// Modification time to set.
    pub mtime: Timestamp,
}

/// A directory to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDir {
    /// Path of the directory.
    pub path: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// A link to create at `path`: for a symlink `target` is its content, for a hard link the
/// existing path (relative to the root) to link to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    /// Where the link goes.
    pub path: Vec<u8>,
    /// What it points at.
    pub target: Vec<u8>,
}

/// Metadata to apply to an existing path; `None` fields are left alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataUpdate {
    /// The path to change.
    pub path: Vec<u8>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Modification time.
    pub mtime: Option<Timestamp>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
}

/// Why a request failed, so the client can choose an exit code and a retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The path does not exist.
    NotFound = 1,
    /// The OS refused access.
    PermissionDenied = 2,
    /// Something already exists where it was to be created.
    AlreadyExists = 3,
    /// No space left, or a quota reached.
    NoSpace = 4,
    /// The destination file system is read-only.
    ReadOnly = 5,
    /// The path was refused: absolute, `..`, through a symlink, outside the source set.
    InvalidPath = 6,
    /// The source changed while it was read.
    Changed = 7,
    /// The rebuilt or received file did not match the announced digest.
    DigestMismatch = 8,
    /// The request is not supported by this peer.
    Unsupported = 9,
    /// The request broke the protocol's rules (a chunk for an unknown id, for example).
    Protocol = 10,
    /// Any other I/O error; the message says which.
    Io = 11,
}

impl ErrorKind {
    pub(crate) const ALL: [ErrorKind; 11] = [
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists,
        ErrorKind::NoSpace,
        ErrorKind::ReadOnly,
        ErrorKind::InvalidPath,
        ErrorKind::Changed,
        ErrorKind::DigestMismatch,
        ErrorKind::Unsupported,
        ErrorKind::Protocol,
        ErrorKind::Io,
    ];

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u8 == code)
    }
}

/// A failure report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The request that failed.
    pub id: RequestId,
    /// `None`: the whole request failed and this ends it. `Some(i)`: item `i` of a batched
    /// request failed; the batch goes on and still ends with [`Message::Ok`].
    pub item: Option<u32>,
    /// Category of the failure.
    pub kind: ErrorKind,
    /// The path it is about (may be empty when no path applies).
    pub path: Vec<u8>,
    /// Human-readable cause, e.g. the OS error text.
    pub message: String,
}

/// Every message of the protocol after the handshake.
///
/// Requests are answered by frames carrying the same [`RequestId`]; each request ends with
/// exactly one terminal frame, named in its variant's docs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// End of a batch. Sending one flushes the compressor, so the peer can decode everything
    /// before it; receiving one means the peer now waits for answers.
    Flush,
    /// The sender is done and will close its side.
    Goodbye,
    /// Terminal success of a request (for a batched request: the batch was processed; any
    /// [`ErrorReply`] with `item: Some(_)` sent before it names the items that failed).
    Ok {
        /// The request that succeeded.
        id: RequestId,
    },
    /// A failure; terminal unless `item` is set.
    Error(ErrorReply),
    /// List the tree at `path` (empty = the root). Answered by [`Message::ScanEntries`] batches
    /// and a terminal [`Message::ScanDone`], or an [`Message::Error`].
    ScanRequest {
        /// Request id.
        id: RequestId,
        /// Directory (or single entry) to scan, relative to the root.
        path: Vec<u8>,
        /// Descend into directories.
        recursive: bool,
        /// Fill [`Entry::digest`] for files (`-c`).
        checksum: bool,
    },
    /// Entries found by a scan, many per frame.
    ScanEntries {
        /// The scan request.
        id: RequestId,
        /// A batch of entries.
        entries: Vec<Entry>,
    },
    /// Terminal frame of a scan.
    ScanDone {
        /// The scan request.
        id: RequestId,
        /// Total entries sent, so the receiver can check it saw them all.
        entries: u64,
    },
    /// Starts a whole file (push: a request answered by `Ok`/`Error`; pull: the answer to a
    /// [`Message::ReadRequest`]). Followed by [`Message::FileChunk`]s and [`Message::FileEnd`].
    FileBegin(FileHeader),
    /// File bytes at `offset`.
    FileChunk {
        /// The file's request.
        id: RequestId,
        /// Where these bytes go in the file.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// End of a whole file; the receiver verifies the digest before renaming into place.
    FileEnd {
        /// The file's request.
        id: RequestId,
        /// BLAKE3 of the whole file.
        digest: Digest,
    },
    /// Pull: ask the peer to send `path`. With `delta`, the requester follows this frame with the
    /// signature of its basis ([`Message::SignatureChunk`]s and [`Message::SignatureEnd`], same
    /// id) and the answer is `DeltaBegin`…`DeltaEnd`; without, it is `FileBegin`…`FileEnd`.
    ReadRequest {
        /// Request id.
        id: RequestId,
        /// The file to send.
        path: Vec<u8>,
        /// A basis signature follows; answer with a delta.
        delta: bool,
    },
    /// Push: ask for the signature of the peer's copy of `path`. Answered by
    /// [`Message::SignatureChunk`]s and a terminal [`Message::SignatureEnd`], or an error.
    SignatureRequest {
        /// Request id.
        id: RequestId,
        /// The basis file.
        path: Vec<u8>,
        /// Block size to cut the file into (non-zero, at most [`crate::MAX_BLOCK_SIZE`]).
        block_size: u32,
        /// Bytes of strong hash per block; at most the negotiated maximum.
        strong_len: u8,
    },
    /// Bytes of a serialized `sy_delta::Signature`, in order.
    SignatureChunk {
        /// The signature's request.
        id: RequestId,
        /// The next bytes.
        data: Bytes,
    },
    /// End of a signature.
    SignatureEnd {
        /// The signature's request.
        id: RequestId,
    },
    /// Starts a delta that rebuilds `path` from the receiver's copy. Followed by
    /// [`Message::DeltaChunk`]s (applied as they arrive) and [`Message::DeltaEnd`].
    DeltaBegin(FileHeader),
    /// Bytes of sy-delta's delta encoding, in order.
    DeltaChunk {
        /// The delta's request.
        id: RequestId,
        /// The next bytes.
        data: Bytes,
    },
    /// End of a delta; the receiver verifies the rebuilt file's digest before the rename.
    DeltaEnd {
        /// The delta's request.
        id: RequestId,
        /// BLAKE3 of the rebuilt file.
        digest: Digest,
    },
    /// Create directories (batched). Answered by `Ok` after per-item errors, if any.
    Mkdir {
        /// Request id.
        id: RequestId,
        /// Directories, parents first.
        dirs: Vec<NewDir>,
    },
    /// Create symbolic links (batched).
    Symlink {
        /// Request id.
        id: RequestId,
        /// Links to create.
        links: Vec<NewLink>,
    },
    /// Create hard links to paths already present on the receiver (batched).
    Hardlink {
        /// Request id.
        id: RequestId,
        /// Links to create.
        links: Vec<NewLink>,
    },
    /// Set metadata (batched); typically directories' times after their contents are written.
    SetMetadata {
        /// Request id.
        id: RequestId,
        /// Changes to make.
        updates: Vec<MetadataUpdate>,
    },
    /// Remove paths (batched); a directory is removed with its contents.
    Remove {
        /// Request id.
        id: RequestId,
        /// Paths to remove, deepest first.
        paths: Vec<Vec<u8>>,
    },
}

impl Entry {
    /// Bytes this entry adds to a [`Message::ScanEntries`] frame, for filling batches up to a
    /// budget below the frame limit.
    pub fn encoded_len(&self) -> usize {
        crate::body::entry_len(self)
    }
}

impl Message {
    /// Bytes of this message's frame (header included), exactly as [`crate::Encoder`] writes it.
    pub fn encoded_len(&self) -> usize {
        crate::frame::HEADER_LEN + crate::body::body_len(self)
    }

    /// The frame kind this message is sent as.
    pub fn kind(&self) -> FrameKind {
        match self {
            Message::Flush => FrameKind::Flush,
            Message::Goodbye => FrameKind::Goodbye,
            Message::Ok { .. } => FrameKind::Ok,
            Message::Error(_) => FrameKind::Error,
            Message::ScanRequest { .. } => FrameKind::ScanRequest,
            Message::ScanEntries { .. } => FrameKind::ScanEntries,
            Message::ScanDone { .. } => FrameKind::ScanDone,
            Message::FileBegin(_) => FrameKind::FileBegin,
            Message::FileChunk { .. } => FrameKind::FileChunk,
            Message::FileEnd { .. } => FrameKind::FileEnd,
            Message::ReadRequest { .. } => FrameKind::ReadRequest,
            Message::SignatureRequest { .. } => FrameKind::SignatureRequest,
            Message::SignatureChunk { .. } => FrameKind::SignatureChunk,
            Message::SignatureEnd { .. } => FrameKind::SignatureEnd,
            Message::DeltaBegin(_) => FrameKind::DeltaBegin,
            Message::DeltaChunk { .. } => FrameKind::DeltaChunk,
            Message::DeltaEnd { .. } => FrameKind::DeltaEnd,
            Message::Mkdir { .. } => FrameKind::Mkdir,
            Message::Symlink { .. } => FrameKind::Symlink,
            Message::Hardlink { .. } => FrameKind::Hardlink,
            Message::SetMetadata { .. } => FrameKind::SetMetadata,
            Message::Remove { .. } => FrameKind::Remove,
        }
    }

    /// The request this message belongs to; `None` for `Flush` and `Goodbye`.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Message::Flush | Message::Goodbye => None,
            Message::Error(reply) => Some(reply.id),
            Message::FileBegin(header) | Message::DeltaBegin(header) => Some(header.id),
            Message::Ok { id }
            | Message::ScanRequest { id, .. }
            | Message::ScanEntries { id, .. }
            | Message::ScanDone { id, .. }
            | Message::FileChunk { id, .. }
            | Message::FileEnd { id, .. }
            | Message::ReadRequest { id, .. }
            | Message::SignatureRequest { id, .. }
            | Message::SignatureChunk { id, .. }
            | Message::SignatureEnd { id }
            | Message::DeltaChunk { id, .. }
            | Message::DeltaEnd { id, .. }
            | Message::Mkdir { id, .. }
            | Message::Symlink { id, .. }
            | Message::Hardlink { id, .. }
            | Message::SetMetadata { id, .. }
            | Message::Remove { id, .. } => Some(*id),
        }
    }
}
