//! The messages both sides exchange after the handshake: one request per `Transport` operation
//! (scan, read, write, signature, delta, checksums, tree changes) and their answers.
//!
//! Paths travel as raw bytes relative to the root the agent was given, and the decoder turns
//! each into a [`RelPath`] as it reads it: a frame naming an absolute path, a `.` or `..`
//! component, an empty component or a NUL byte is a [`crate::ProtocolError::InvalidPath`], so
//! no code above this crate ever sees such a path from a peer.

use std::fmt;

use bytes::Bytes;
use sy_delta::{DeltaOp, FileDigest};

use crate::kind::FrameKind;
use crate::{Basis, Entry, FilterRules, Leftover, Meta, MetaOptions, RelPath, TreeOp};

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

/// How the receiver writes a pushed file (the option bits of a [`FileHeader`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WriteOptions {
    /// Which attributes to apply.
    pub meta: MetaOptions,
    /// Turn runs of zeros into holes (`--sparse`).
    pub sparse: bool,
    /// A kept partial of this file exists; remove it once the file is in place.
    pub clear_partial: bool,
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
    /// The peer stopped the work (Ctrl-C on its side); what was written is kept as a partial.
    Interrupted = 12,
    /// A filter pattern in a scan request did not compile.
    InvalidFilter = 13,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 13] = [
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
        ErrorKind::Interrupted,
        ErrorKind::InvalidFilter,
    ];

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u8 == code)
    }
}

/// Whether an error ends its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorScope {
    /// The whole request failed; this frame ends it.
    Request,
    /// Item `n` (0-based) of a batched request failed; the batch goes on and still ends with its
    /// terminal frame.
    Item(u32),
    /// Something went wrong along the way that is not an item (a directory a scan could not
    /// read); the request goes on.
    Problem,
}

/// A failure report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The request it is about.
    pub id: RequestId,
    /// Whether it ends the request.
    pub scope: ErrorScope,
    /// Category of the failure.
    pub kind: ErrorKind,
    /// The path it is about as the sender shows it (a location, not a [`RelPath`]: it may name
    /// the host or be empty); raw bytes, to be shown with [`crate::Escaped`].
    pub path: Vec<u8>,
    /// Human-readable cause, e.g. the OS error text.
    pub message: String,
}

/// How a pushed or pulled file is described before its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The request this file (or delta) belongs to.
    pub id: RequestId,
    /// Path relative to the receiver's root.
    pub path: RelPath,
    /// Final size in bytes.
    pub size: u64,
    /// Attributes of the source as it was opened.
    pub meta: Meta,
    /// How to write it (pushes); default in answers to reads.
    pub options: WriteOptions,
}

/// The digest of item `item` of a [`Message::ChecksumRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemDigest {
    /// Index of the path in the request.
    pub item: u32,
    /// Its BLAKE3 digest.
    pub digest: FileDigest,
}

/// Every message of the protocol after the handshake.
///
/// Requests are answered by frames carrying the same [`RequestId`]; each request ends with
/// exactly one terminal frame, named in its variant's docs. An [`ErrorReply`] with
/// [`ErrorScope::Request`] is terminal for any request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// End of a batch. Sending one flushes the compressor, so the peer can decode everything
    /// before it; receiving one means the peer now waits for answers to what it sent.
    Flush,
    /// The sender is done and will close its side.
    Goodbye,
    /// Terminal success of a request that returns nothing (a batch of tree operations or
    /// checksums: [`ErrorScope::Item`] errors sent before it name the items that failed).
    Ok {
        /// The request that succeeded.
        id: RequestId,
    },
    /// A failure; terminal when its scope is [`ErrorScope::Request`].
    Error(ErrorReply),
    /// Terminal success of a pushed file or delta: it is verified and renamed into place.
    Written {
        /// The file's request.
        id: RequestId,
        /// Bytes of content that came over the wire.
        literal: u64,
        /// Bytes reused from the basis.
        matched: u64,
    },
    /// List the subtree at `base` (empty = the root; `base` itself is reported too). Answered
    /// by [`Message::ScanEntries`] and [`Message::ScanLeftovers`] batches, problems as
    /// [`ErrorScope::Problem`] errors, and a terminal [`Message::ScanDone`].
    ScanRequest {
        /// Request id.
        id: RequestId,
        /// The subtree, relative to the root.
        base: RelPath,
        /// Include/exclude rules, in command-line order (excluded directories are not
        /// entered), and whether `.gitignore` files count too.
        filter: FilterRules,
        /// Report what symbolic links point to instead of the links (`-L`).
        follow_links: bool,
    },
    /// Entries found by a scan, many per frame, sorted by path across the whole answer.
    ScanEntries {
        /// The scan request.
        id: RequestId,
        /// A batch of entries.
        entries: Vec<Entry>,
    },
    /// Leftovers of interrupted runs found by a scan.
    ScanLeftovers {
        /// The scan request.
        id: RequestId,
        /// A batch of leftovers.
        leftovers: Vec<Leftover>,
    },
    /// Terminal frame of a scan.
    ScanDone {
        /// The scan request.
        id: RequestId,
        /// Total entries sent, so the receiver can check it saw them all.
        entries: u64,
    },
    /// Starts a whole file: a push (a request answered by [`Message::Written`]) or the answer to
    /// a [`Message::ReadRequest`]. Followed by [`Message::FileChunk`]s and [`Message::FileEnd`].
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
    /// End of a whole file (terminal for a read); the receiver verifies the digest before
    /// renaming into place.
    FileEnd {
        /// The file's request.
        id: RequestId,
        /// BLAKE3 of the whole file.
        digest: FileDigest,
    },
    /// Pull: ask the peer to send `path`. Without `delta` the answer is `FileBegin`…`FileEnd`.
    /// With `delta`, the requester follows this frame with the signature of its basis
    /// ([`Message::SignatureChunk`]s and [`Message::SignatureEnd`], same id) and the answer is
    /// `DeltaBegin`…`DeltaEnd`.
    ReadRequest {
        /// Request id.
        id: RequestId,
        /// The file to send.
        path: RelPath,
        /// Follow a symbolic link at `path` (`-L`).
        follow_links: bool,
        /// A basis signature follows; answer with a delta.
        delta: bool,
    },
    /// Push: ask for the signature of the peer's `basis` of `path`. Answered by
    /// [`Message::SignatureChunk`]s and a terminal [`Message::SignatureEnd`]; a basis that does
    /// not exist is an error of kind [`ErrorKind::NotFound`].
    SignatureRequest {
        /// Request id.
        id: RequestId,
        /// The file.
        path: RelPath,
        /// Its current version or its kept partial.
        basis: Basis,
        /// Block size (at most [`crate::MAX_BLOCK_SIZE`]); `None`: sy-delta's rule for the
        /// file's length.
        block_size: Option<u32>,
        /// Strong-hash bytes per block (within the negotiated range); `None`: the default.
        strong_len: Option<u8>,
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
    /// Starts a delta that rebuilds `header.path` from the receiver's `basis`: a push (answered
    /// by [`Message::Written`]) or the answer to a delta read. Followed by
    /// [`Message::DeltaChunk`]s, applied as they arrive, and [`Message::DeltaEnd`].
    DeltaBegin {
        /// The file being rebuilt.
        header: FileHeader,
        /// Which version of it the delta applies to.
        basis: Basis,
    },
    /// Delta operations, in order.
    DeltaChunk {
        /// The delta's request.
        id: RequestId,
        /// The next operations (sy-delta's, with their literals in shared buffers).
        ops: Vec<DeltaOp<Bytes>>,
    },
    /// End of a delta (terminal for a read); the receiver verifies the rebuilt file's digest
    /// before the rename.
    DeltaEnd {
        /// The delta's request.
        id: RequestId,
        /// BLAKE3 of the rebuilt file.
        digest: FileDigest,
    },
    /// Apply tree changes in order (batched). Failed items are reported as
    /// [`ErrorScope::Item`] errors; the batch ends with [`Message::Ok`].
    TreeOps {
        /// Request id.
        id: RequestId,
        /// Which attributes `Symlink` and `SetMeta` apply.
        meta: MetaOptions,
        /// The changes.
        ops: Vec<TreeOp>,
    },
    /// BLAKE3 digests of whole files (`-c`). Answered by [`Message::Checksums`] batches,
    /// [`ErrorScope::Item`] errors and a terminal [`Message::Ok`].
    ChecksumRequest {
        /// Request id.
        id: RequestId,
        /// The files.
        paths: Vec<RelPath>,
        /// Follow symbolic links.
        follow_links: bool,
    },
    /// Digests answering a [`Message::ChecksumRequest`].
    Checksums {
        /// The checksum request.
        id: RequestId,
        /// Digests of the items that could be read.
        digests: Vec<ItemDigest>,
    },
}

impl Message {
    /// Bytes of this message's frame (header included), exactly as [`crate::Encoder`] writes it.
    pub fn encoded_len(&self) -> usize {
        crate::frame::HEADER_LEN + crate::encode::body_len(self)
    }

    /// The frame kind this message is sent as.
    pub fn kind(&self) -> FrameKind {
        match self {
            Message::Flush => FrameKind::Flush,
            Message::Goodbye => FrameKind::Goodbye,
            Message::Ok { .. } => FrameKind::Ok,
            Message::Error(_) => FrameKind::Error,
            Message::Written { .. } => FrameKind::Written,
            Message::ScanRequest { .. } => FrameKind::ScanRequest,
            Message::ScanEntries { .. } => FrameKind::ScanEntries,
            Message::ScanLeftovers { .. } => FrameKind::ScanLeftovers,
            Message::ScanDone { .. } => FrameKind::ScanDone,
            Message::FileBegin(_) => FrameKind::FileBegin,
            Message::FileChunk { .. } => FrameKind::FileChunk,
            Message::FileEnd { .. } => FrameKind::FileEnd,
            Message::ReadRequest { .. } => FrameKind::ReadRequest,
            Message::SignatureRequest { .. } => FrameKind::SignatureRequest,
            Message::SignatureChunk { .. } => FrameKind::SignatureChunk,
            Message::SignatureEnd { .. } => FrameKind::SignatureEnd,
            Message::DeltaBegin { .. } => FrameKind::DeltaBegin,
            Message::DeltaChunk { .. } => FrameKind::DeltaChunk,
            Message::DeltaEnd { .. } => FrameKind::DeltaEnd,
            Message::TreeOps { .. } => FrameKind::TreeOps,
            Message::ChecksumRequest { .. } => FrameKind::ChecksumRequest,
            Message::Checksums { .. } => FrameKind::Checksums,
        }
    }

    /// The request this message belongs to; `None` for `Flush` and `Goodbye`.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Message::Flush | Message::Goodbye => None,
            Message::Error(reply) => Some(reply.id),
            Message::FileBegin(header) | Message::DeltaBegin { header, .. } => Some(header.id),
            Message::Ok { id }
            | Message::Written { id, .. }
            | Message::ScanRequest { id, .. }
            | Message::ScanEntries { id, .. }
            | Message::ScanLeftovers { id, .. }
            | Message::ScanDone { id, .. }
            | Message::FileChunk { id, .. }
            | Message::FileEnd { id, .. }
            | Message::ReadRequest { id, .. }
            | Message::SignatureRequest { id, .. }
            | Message::SignatureChunk { id, .. }
            | Message::SignatureEnd { id }
            | Message::DeltaChunk { id, .. }
            | Message::DeltaEnd { id, .. }
            | Message::TreeOps { id, .. }
            | Message::ChecksumRequest { id, .. }
            | Message::Checksums { id, .. } => Some(*id),
        }
    }
}
