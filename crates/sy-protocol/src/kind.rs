//! The kind byte of each frame.

use std::fmt;

macro_rules! frame_kinds {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// The `u8` that follows a frame's length and says how to read its body.
        ///
        /// Codes are grouped by purpose: `0x0_` control, `0x1_` scan, `0x2_` whole files,
        /// `0x3_` signatures and deltas, `0x4_` tree operations and checksums.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum FrameKind {
            $($(#[$doc])* $name = $code,)*
        }

        impl FrameKind {
            /// Every kind this version knows, in code order.
            pub const ALL: &'static [FrameKind] = &[$(FrameKind::$name,)*];

            /// The kind for a code byte, or `None` for a code this version does not know.
            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some(FrameKind::$name),)*
                    _ => None,
                }
            }

            /// The name used in error messages and logs.
            pub fn name(self) -> &'static str {
                match self {
                    $(FrameKind::$name => stringify!($name),)*
                }
            }
        }
    };
}

frame_kinds! {
    /// Handshake: magic, versions, capabilities, seed. Only ever the first frame.
    Hello = 0x01,
    /// End of a batch: the sender flushed its compressor; the receiver may now answer the batch.
    Flush = 0x02,
    /// The sender will send nothing more.
    Goodbye = 0x03,
    /// A request that returns nothing succeeded.
    Ok = 0x04,
    /// A request, or one item of a batched request, failed.
    Error = 0x05,
    /// A pushed file or delta is in place.
    Written = 0x06,
    /// List a tree.
    ScanRequest = 0x10,
    /// A batch of entries answering a scan.
    ScanEntries = 0x11,
    /// A batch of leftovers of interrupted runs answering a scan.
    ScanLeftovers = 0x12,
    /// The last frame of a scan's answer.
    ScanDone = 0x13,
    /// Start of a whole file.
    FileBegin = 0x20,
    /// Bytes of a whole file at an offset.
    FileChunk = 0x21,
    /// End of a whole file, with its digest.
    FileEnd = 0x22,
    /// Ask the peer to send a file (pulls).
    ReadRequest = 0x23,
    /// Ask the peer for the signature of its copy of a file.
    SignatureRequest = 0x30,
    /// Bytes of a serialized signature.
    SignatureChunk = 0x31,
    /// End of a signature.
    SignatureEnd = 0x32,
    /// Start of a delta that rebuilds a file.
    DeltaBegin = 0x38,
    /// Delta operations: copies from the basis and literal bytes.
    DeltaChunk = 0x39,
    /// End of a delta, with the digest of the rebuilt file.
    DeltaEnd = 0x3a,
    /// Tree changes: directories, links, metadata, removals, leftovers.
    TreeOps = 0x40,
    /// Ask for whole-file digests.
    ChecksumRequest = 0x41,
    /// Whole-file digests.
    Checksums = 0x42,
}

impl FrameKind {
    /// The code byte on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.code())
    }
}
