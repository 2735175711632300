//! The wire protocol between `sy` and `sy-remote`, without I/O.
//!
//! This crate turns [`Message`]s into bytes and bytes into messages; it never touches a socket,
//! a pipe or a runtime. The transport (`sy-transport`'s `Agent`, `sy-remote`'s main loop) moves
//! the bytes; everything about their shape, limits, handshake and compression lives here, so the
//! same code is tested in memory, fuzzed, and run over SSH.
//!
//! - [`Endpoint`]: one side of a connection. Queues the handshake, negotiates a [`Session`],
//!   (de)compresses, frames. Most callers need only this.
//! - [`Decoder`] / [`Encoder`]: the framing alone (`u32` length, `u8` kind, body), shaped like
//!   `tokio_util::codec` (`decode`, `decode_eof`, `encode` on a `BytesMut`) so an adapter is a
//!   few lines. They see the plain stream: with compression, use [`Endpoint`].
//! - [`Compressor`] / [`Decompressor`] / [`worth_compressing`]: streaming zstd, one context per
//!   direction, flushed at batch boundaries. [`CompressionPolicy`]: what the client asks for —
//!   never, always at a level, or auto (each direction compresses only while the link, not the
//!   CPU, is what limits it).
//! - sy's file vocabulary, defined once here and re-exported by `sy-transport`: [`RelPath`]
//!   (a path beneath a root, checked when it is made), [`Entry`] and its [`Meta`],
//!   [`Leftover`], [`TreeOp`], [`FilterRules`]. The decoder checks every path a peer sends as
//!   it reads it, so a frame naming `../x`, an absolute path or a NUL byte is a
//!   [`ProtocolError::InvalidPath`], never a value.
//!
//! # Wire format
//!
//! Each direction is one byte stream: the sender's Hello, then frames. When the session is
//! compressed, the frames after the Hello travel inside blocks.
//!
//! ```text
//!  stream:  magic | Hello frame | frame | frame | …             (no compression)
//!           magic | Hello frame | block | block | …             (compression agreed)
//!
//!  frame:   +--------------------+-----------+----------------------------------+
//!           | body length        | kind (u8) | body: the fields of `kind`       |
//!           | (u32, big-endian)  |           | (varints, length-prefixed bytes) |
//!           +--------------------+-----------+----------------------------------+
//!
//!  magic:   89 'S' 'Y' 'W' 'I' 'R' 'E' 0a   (8 bytes)
//!
//!  Hello:   a frame of kind 0x01 whose body has fixed-width big-endian fields:
//!           u16 version_min | u16 version_max | u64 seed half | u32 max_frame
//!           u8 n, n x (u8 compression kind, i8 min level, i8 max level)
//!           u8 wanted compression kind (0 = none) | i8 wanted level
//!           u8 n, n x (u8 strong hash kind, u8 max length)
//!           u8 flags: bit 0 = can run an adaptive session, bit 1 = (client) asks for one
//!             [appended later: a Hello that ends before it has no flags]
//!           [fields a later version appends; ignored]
//!
//!  block:   +-----------+--------------------+------------------------------------+
//!           | mode (u8) | length             | payload (at most 1 MiB)            |
//!           |           | (u32, big-endian)  |                                    |
//!           +-----------+--------------------+------------------------------------+
//!           mode 0x00 stored: payload is plain frame bytes
//!           mode 0x01 zstd:   payload is the next piece of this direction's one zstd stream
//! ```
//!
//! - A frame's length counts the body only and is checked against the frame limit (8 MiB unless
//!   the handshake agreed on another) as soon as the five header bytes are in, before any buffer
//!   grows; an unknown kind is refused as early. Inside a body every length and count is checked
//!   against the bytes left, so a peer can make a decoder allocate at most one frame limit.
//! - The magic's first byte has the high bit set and its last is a newline, so text printed by a
//!   remote shell (banner, motd, `.bashrc` output), a 7-bit channel or newline translation is
//!   caught at once and quoted in [`ProtocolError::JunkBeforeHandshake`]. Versions come first in
//!   the Hello and are checked before the rest, so a peer of another version gets an error
//!   naming both ranges even if the rest of its Hello has another layout.
//! - Blocks are pieces of a stream, not frames: a frame may span blocks, and zstd blocks continue
//!   the single zstd context of their direction, so each small file compresses against the ones
//!   before it. A block ends at 128 KiB, at a switch between modes (zstd is flushed first, so
//!   order holds) and at every [`Message::Flush`]. Data the sender judged not worth compressing
//!   ([`worth_compressing`], [`Endpoint::send_stored`]) goes in stored blocks and costs no CPU on
//!   either side; small frames right after it stay stored rather than pay for a zstd flush.
//! - Compression is agreed in the Hellos: a client's fixed wish (`-z`: zstd at a level, both
//!   directions), or an adaptive session when the client asks for one and the agent can
//!   (`--compress=auto`; an agent that predates it agrees on no compression). In an adaptive
//!   session each writer chooses per block between stored and zstd, and the zstd level
//!   (within [`AUTO_LEVELS`]), from the time its link keeps it blocked and the time it spends
//!   compressing. A level change ends the zstd frame and starts the next at the new level;
//!   the reader sees only consecutive frames of one zstd stream.
//!
//! # Message flow
//!
//! Requests carry a [`RequestId`]; many are in flight at once and their answers come back in any
//! order. A batch of requests ends with [`Message::Flush`]; the peer answers the batch and
//! flushes in turn. So a whole tree costs a handful of round trips, not one per file.
//!
//! A push (`sy src/ host:dst/`), client on the left, agent on the right:
//!
//! ```text
//!  Hello ───────────────────────────────▶ ◀─────────────────────────────── Hello
//!  ScanRequest #1 "" [filters], Flush ──▶
//!                                       ◀── ScanEntries #1 […] …, ScanLeftovers #1 […],
//!                                           ScanDone #1, Flush
//!  (plan: compare with the local scan)
//!  TreeOps #2 [Mkdir…, Tidy…]           ─▶
//!  FileBegin #3 new.txt, FileChunk #3 …,
//!  FileEnd #3 digest                    ─▶   (whole new files, no waiting)
//!  SignatureRequest #4 big.db,
//!  SignatureRequest #5 gone.db, Flush   ─▶
//!                                       ◀── Ok #2, Written #3, SignatureChunk #4 …,
//!                                           SignatureEnd #4, Error #5 NotFound, Flush
//!  DeltaBegin #6 big.db,
//!  DeltaChunk #6 [Copy, Literal, …] …,
//!  DeltaEnd #6 digest                   ─▶   (applied into a temp file as ops arrive)
//!  TreeOps #7 [SetMeta…, Remove…], Flush ▶
//!                                       ◀── Written #6, Error #7 item 3 …, Ok #7, Flush
//!  Goodbye ─────────────────────────────▶ ◀────────────────────────────── Goodbye
//! ```
//!
//! A pull (`sy host:src/ dst/`): the agent sends, the client writes locally.
//!
//! ```text
//!  Hello ───────────────────────────────▶ ◀─────────────────────────────── Hello
//!  ScanRequest #1 "", Flush ────────────▶
//!                                       ◀── ScanEntries #1 […] …, ScanDone #1, Flush
//!  ReadRequest #2 new.txt,
//!  ReadRequest #3 big.db delta,
//!  SignatureChunk #3 … SignatureEnd #3
//!  (signature of the local copy), Flush ─▶
//!                                       ◀── FileBegin #2, FileChunk #2 …, FileEnd #2 digest,
//!                                           DeltaBegin #3, DeltaChunk #3 …, DeltaEnd #3
//!                                           digest, Flush
//!  Goodbye ─────────────────────────────▶ ◀────────────────────────────── Goodbye
//! ```
//!
//! Each request maps onto one `sy-transport` `Transport` call: `scan` → `ScanRequest`,
//! `read_files` → `ReadRequest`s, `write_files` → `FileBegin`…, `signature` →
//! `SignatureRequest`, `delta` → `ReadRequest { delta: true }`, `apply_delta` → `DeltaBegin`…,
//! `checksums` → `ChecksumRequest`, `apply` → `TreeOps`.
//!
//! # Example
//!
//! Two endpoints in memory: the handshake (with compression), then a request and its answer.
//!
//! ```
//! use sy_protocol::{Endpoint, FilterRules, Hello, Message, RelPath, RequestId, Role};
//!
//! let mut client = Endpoint::new(Role::Client, Hello::new(0x5eed).with_compression(3));
//! let mut agent = Endpoint::new(Role::Agent, Hello::new(0xa9e7));
//!
//! // The client need not wait for the handshake: this is held until the agent's Hello arrives.
//! client.send(&Message::ScanRequest {
//!     id: RequestId(1),
//!     base: RelPath::root(),
//!     filter: FilterRules::default(),
//!     follow_links: false,
//! })?;
//! client.flush()?;
//!
//! // Each side writes its Hello at once; the "wire" here is just a copy.
//! agent.receive(&client.take_output());
//! client.receive(&agent.take_output());
//!
//! assert_eq!(client.poll_message()?, None); // handshake done, nothing else arrived yet
//! let session = *client.session().expect("handshake complete");
//! assert_eq!(session.compression.map(|c| c.level), Some(3));
//! agent.receive(&client.take_output()); // the held request, now compressed
//!
//! assert!(matches!(agent.poll_message()?, Some(Message::ScanRequest { id: RequestId(1), .. })));
//! assert_eq!(agent.poll_message()?, Some(Message::Flush));
//! assert_eq!(agent.session(), Some(&session)); // both sides agree
//!
//! agent.send(&Message::ScanDone { id: RequestId(1), entries: 0 })?;
//! agent.flush()?;
//! client.receive(&agent.take_output());
//! assert_eq!(client.poll_message()?, Some(Message::ScanDone { id: RequestId(1), entries: 0 }));
//! # Ok::<(), sy_protocol::ProtocolError>(())
//! ```
#![deny(missing_docs)]

mod adapt;
mod compress;
mod decode;
mod encode;
mod endpoint;
mod entry;
mod error;
mod filter;
mod filter_syntax;
mod frame;
mod handshake;
mod kind;
mod message;
mod relpath;
mod stream;
mod tree;
mod wire;

/// The `bytes` crate whose `BytesMut` and `Bytes` this API takes and returns, re-exported so
/// callers (fuzz targets, benches, transports) use the same version.
pub use adapt::{AUTO_LEVELS, AUTO_START_LEVEL};
pub use bytes;
pub use compress::{Compressor, Decompressor, Progress, SAMPLE_LEN, worth_compressing};
pub use endpoint::Endpoint;
pub use entry::{
    Entry, EntryKind, Leftover, LeftoverKind, Meta, MetaOptions, SpecialKind, Timestamp,
};
pub use error::{ProtocolError, Result};
pub use filter::{FilterRules, RuleKind};
pub use filter_syntax::{FilterLine, RuleSyntaxError};
pub use frame::{
    CHUNK_LEN, DEFAULT_MAX_FRAME, Decoder, Encoder, HEADER_LEN, Limits, MAX_BLOCK_SIZE,
    MAX_MAX_FRAME, MAX_STRONG_LEN, MIN_MAX_FRAME, MIN_STRONG_LEN,
};
pub use handshake::{
    Compression, CompressionKind, CompressionPolicy, CompressionSupport, DEFAULT_ZSTD_LEVEL,
    HashSupport, Hello, MAGIC, PROTOCOL_VERSIONS, Role, Session, StrongHash, VersionRange,
    ZSTD_LEVELS, negotiate,
};
pub use kind::FrameKind;
pub use message::{
    ErrorKind, ErrorReply, ErrorScope, FileHeader, ItemDigest, Message, RequestId, WriteOptions,
};
pub use relpath::{Escaped, PathError, RelPath};
pub use stream::{BLOCK_TARGET, MAX_BLOCK, Traffic, TrafficStats};
/// sy-delta's op and whole-file digest, as the wire carries them (a [`Message::DeltaChunk`]'s
/// literals are `Bytes` sliced out of the frame, without a copy).
pub use sy_delta::{DeltaOp, FileDigest};
pub use tree::{Basis, MetaTarget, TreeOp};
pub use wire::{MAX_FILTER_RULES, MAX_LIST_ITEMS};
