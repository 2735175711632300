//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while computing, encoding, decoding or applying a
/// signature or a delta.
///
/// Malformed input from a peer is always reported through one of these variants,
/// never by a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying reader or writer failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the engine was doing, e.g. "reading the basis file".
        context: &'static str,
        /// The error reported by the operating system or the stream.
        #[source]
        source: io::Error,
    },

    /// A block size outside `1..=MAX_BLOCK_SIZE` was requested or received.
    #[error("invalid block size {block_size} (must be 1..={max})", max = crate::MAX_BLOCK_SIZE)]
    InvalidBlockSize {
        /// The rejected block size.
        block_size: u32,
    },

    /// A strong hash length outside `MIN_STRONG_LEN..=MAX_STRONG_LEN` was requested or received.
    #[error(
        "invalid strong hash length {strong_len} (must be {min}..={max})",
        min = crate::MIN_STRONG_LEN,
        max = crate::MAX_STRONG_LEN
    )]
    InvalidStrongLen {
        /// The rejected length in bytes.
        strong_len: u8,
    },

    /// The input does not start with the expected magic bytes.
    #[error("not a sy-delta {what}: bad magic bytes {found:02x?}")]
    BadMagic {
        /// "signature" or "delta".
        what: &'static str,
        /// The first four bytes found.
        found: [u8; 4],
    },

    /// The input has a format version this build does not understand.
    #[error("unsupported {what} format version {version} (this build reads version {supported})")]
    UnsupportedVersion {
        /// "signature" or "delta".
        what: &'static str,
        /// The version found in the header.
        version: u8,
        /// The version this build reads and writes.
        supported: u8,
    },

    /// The input ended before a complete structure was read.
    #[error("truncated {what}: input ended while reading {reading}")]
    Truncated {
        /// "signature" or "delta".
        what: &'static str,
        /// The part being read when the input ended.
        reading: &'static str,
    },

    /// A structurally invalid field (bad reserved bits, oversized varint, ...).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// "signature" or "delta".
        what: &'static str,
        /// Why the field was rejected.
        reason: &'static str,
    },

    /// A serialised signature's length does not match the block count its header implies.
    #[error(
        "signature length mismatch: header implies {expected} bytes of block sums, found {actual}"
    )]
    SignatureLength {
        /// Bytes of block sums the header implies.
        expected: u64,
        /// Bytes of block sums present.
        actual: u64,
    },

    /// A signature describes more blocks than the caller allows.
    #[error("signature has {blocks} blocks, more than the limit of {limit}")]
    SignatureTooLarge {
        /// Blocks the header declares.
        blocks: u64,
        /// The caller's limit.
        limit: u64,
    },

    /// A delta op tag that this version does not know.
    #[error("unknown delta op tag {tag:#04x}")]
    UnknownOp {
        /// The tag byte found.
        tag: u8,
    },

    /// A Copy op refers to bytes outside the basis.
    #[error("copy of {len} bytes at offset {offset} is outside the basis of {basis_len} bytes")]
    CopyOutOfRange {
        /// Offset in the basis.
        offset: u64,
        /// Length of the copy.
        len: u64,
        /// Length of the basis.
        basis_len: u64,
    },

    /// Applying the delta would write more than the caller's limit.
    #[error("delta output would exceed the limit of {limit} bytes")]
    OutputLimit {
        /// The limit in bytes.
        limit: u64,
    },
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { context, source }
    }
}
