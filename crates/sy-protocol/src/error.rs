//! The one error type of this crate.

use std::io;
use std::sync::Arc;

use crate::handshake::VersionRange;
use crate::kind::FrameKind;
use crate::relpath::PathError;

/// Everything that can go wrong while encoding, decoding, negotiating or (de)compressing, and a
/// peer's messages that break the conversation's rules.
///
/// Every variant says which frame kind or which side of the handshake it is about, so a log line
/// is enough to tell a broken peer from a broken link. Cheap to clone, so a connection can
/// record the error that ended it and hand it to every call that was waiting.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame header announced a body longer than the agreed maximum; nothing was allocated.
    #[error("{kind} frame announces a {len}-byte body, over the {max}-byte frame limit")]
    FrameTooLarge {
        /// Kind byte of the offending frame.
        kind: FrameKind,
        /// Body length the header (or the encoder) asked for.
        len: u64,
        /// The limit in force.
        max: u32,
    },

    /// A frame header carried a kind byte this version does not know.
    #[error(
        "unknown frame kind 0x{kind:02x} (body of {len} bytes); the peer speaks a different protocol"
    )]
    UnknownFrameKind {
        /// The kind byte received.
        kind: u8,
        /// Body length announced with it.
        len: u32,
    },

    /// A frame body did not parse: a length or count past the end of the body, a bad enum tag,
    /// trailing bytes, an out-of-range value.
    #[error("malformed {kind} frame: {reason}")]
    Malformed {
        /// Kind of the frame being decoded.
        kind: FrameKind,
        /// What exactly was wrong, naming the field.
        reason: String,
    },

    /// A frame named a path that is not a clean relative path: absolute, with a `.` or `..`
    /// component, an empty component or a NUL byte. A hostile or broken peer; nothing acted on
    /// the path.
    #[error("{kind} frame names an unsafe path in field `{field}`: {source}")]
    InvalidPath {
        /// Kind of the frame being decoded.
        kind: FrameKind,
        /// The field that held the path.
        field: &'static str,
        /// The path and what is wrong with it.
        #[source]
        source: PathError,
    },

    /// A signature request asked for a strong hash longer than the handshake allowed
    /// (the CVE-2024-12084 class of bug: a length that would overflow the receiver's buffers).
    #[error(
        "{kind} frame asks for a {len}-byte strong hash, over the negotiated maximum of {max} bytes"
    )]
    StrongHashTooLong {
        /// Kind of the offending frame.
        kind: FrameKind,
        /// Length requested.
        len: u8,
        /// Negotiated maximum.
        max: u8,
    },

    /// A frame arrived where the protocol does not allow it (a second handshake, for example).
    #[error("unexpected {kind} frame {context}")]
    UnexpectedFrame {
        /// Kind of the frame received.
        kind: FrameKind,
        /// Where it arrived.
        context: &'static str,
    },

    /// The byte stream ended in the middle of a frame.
    #[error("stream ended inside a {kind} frame: {have} of {need} bytes received")]
    Truncated {
        /// Kind of the unfinished frame, when its header was complete.
        kind: FrameKind,
        /// Bytes of the frame received (header included).
        have: usize,
        /// Bytes the frame needs (header included).
        need: usize,
    },

    /// The byte stream ended before a frame header was complete.
    #[error("stream ended inside a frame header: {have} of 5 header bytes received")]
    TruncatedHeader {
        /// Bytes of the header received.
        have: usize,
    },

    /// The peer printed something other than the protocol's magic bytes before its handshake:
    /// a remote shell's banner, motd, or output of a login script.
    #[error(
        "the remote shell printed text before the sy-remote handshake (first {shown_len} of \
         {received} bytes: \"{shown}\"); make the remote login print nothing for non-interactive \
         shells (.bashrc, motd, banners on stdout), or check --remote-path"
    )]
    JunkBeforeHandshake {
        /// The first bytes received, escaped for display.
        shown: String,
        /// How many raw bytes `shown` stands for.
        shown_len: usize,
        /// How many bytes had been received in all.
        received: usize,
    },

    /// The stream ended before the peer's handshake arrived in full.
    #[error(
        "connection closed before the handshake completed ({received} bytes received from the peer)"
    )]
    ClosedDuringHandshake {
        /// How many bytes the peer sent.
        received: usize,
    },

    /// The two sides have no protocol version in common.
    #[error(
        "incompatible protocol versions: this side speaks {local}, the peer speaks {remote}; install matching versions of sy and sy-remote"
    )]
    IncompatibleVersion {
        /// Versions this side speaks.
        local: VersionRange,
        /// Versions the peer speaks.
        remote: VersionRange,
    },

    /// The two sides share no strong-hash algorithm.
    #[error("no strong hash in common: this side offers {local}, the peer offers {remote}")]
    NoCommonHash {
        /// Hash kinds this side offers.
        local: String,
        /// Hash kinds the peer offers.
        remote: String,
    },

    /// A handshake field was outside what this side accepts (a frame limit too small, for example).
    #[error("handshake refused: {reason}")]
    BadHandshake {
        /// What was wrong.
        reason: String,
    },

    /// The compressed block layer carried something impossible.
    #[error("corrupt compressed stream: {reason}")]
    CorruptBlock {
        /// What was wrong.
        reason: String,
    },

    /// The byte stream ended inside a block of a compressed session.
    #[error("stream ended inside a compressed block, {missing} bytes short")]
    TruncatedBlock {
        /// Bytes of the block (header or payload) that never arrived.
        missing: usize,
    },

    /// zstd itself failed (corrupt data, or out of memory while creating a context).
    #[error("zstd {operation} failed: {source}")]
    Zstd {
        /// Which operation: "compression", "decompression", "flush", "setup".
        operation: &'static str,
        /// The error zstd reported.
        #[source]
        source: Arc<io::Error>,
    },

    /// The peer's messages, each well formed, broke the rules of the conversation: an answer
    /// that does not fit its request, a count that does not add up, file data beyond the size
    /// it announced.
    #[error("protocol violation: {reason}")]
    Violation {
        /// What the peer did.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

impl ProtocolError {
    /// A [`ProtocolError::Violation`] saying what the peer did.
    pub fn violation(reason: impl Into<String>) -> Self {
        Self::Violation {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(kind: FrameKind, reason: impl Into<String>) -> Self {
        Self::Malformed {
            kind,
            reason: reason.into(),
        }
    }
}
