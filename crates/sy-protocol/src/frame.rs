//! Framing: how a [`Message`] becomes bytes and back (layout in the crate docs, "Wire format").
//!
//! The per-kind body layouts are in `encode.rs` and `decode.rs`. [`Decoder`] and [`Encoder`] work on the plain
//! (uncompressed) stream; [`crate::Endpoint`] puts the handshake and compression around them.

use bytes::{Buf, BufMut, BytesMut};

use crate::decode::{check_outgoing, decode_body};
use crate::encode::encode_body;
use crate::error::{ProtocolError, Result};
use crate::kind::FrameKind;
use crate::message::Message;

/// Bytes of a frame header: `u32` length and `u8` kind.
pub const HEADER_LEN: usize = 5;

/// Frame limit until the handshake agrees on another: 8 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 8 << 20;

/// Smallest frame limit a peer may ask for: room for a [`CHUNK_LEN`] chunk and a useful batch
/// of scan entries.
pub const MIN_MAX_FRAME: u32 = 1 << 20;

/// Largest frame limit this side accepts from a handshake, whatever the peer offers.
pub const MAX_MAX_FRAME: u32 = 64 << 20;

/// Largest block size a signature request may name (sy-delta's bound on its window).
pub const MAX_BLOCK_SIZE: u32 = sy_delta::MAX_BLOCK_SIZE;

/// Longest strong hash per block this version computes (a whole XXH3-128).
pub const MAX_STRONG_LEN: u8 = sy_delta::MAX_STRONG_LEN;

/// Shortest strong hash per block that sy-delta accepts; shorter offers are unusable.
pub const MIN_STRONG_LEN: u8 = sy_delta::MIN_STRONG_LEN;

/// Data bytes per chunk frame that senders should use: large enough that the 5-byte header and
/// varints vanish, small enough that many files interleave and memory stays flat. A chunk frame
/// of this size fits any negotiated frame limit.
pub const CHUNK_LEN: usize = 256 << 10;

const _: () = assert!(CHUNK_LEN + 64 <= MIN_MAX_FRAME as usize);

/// The bounds a decoder enforces and an encoder respects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame body, in bytes.
    pub max_frame: u32,
    /// Largest strong-hash length a signature request may ask for.
    pub max_strong_len: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_strong_len: MAX_STRONG_LEN,
        }
    }
}

/// Turns bytes into [`Message`]s, one complete frame at a time.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    limits: Limits,
}

impl Decoder {
    /// A decoder that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits (after the handshake agreed on them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Takes one frame off the front of `src` and decodes it.
    ///
    /// Returns `Ok(None)` when `src` holds only part of a frame (nothing is consumed then; read
    /// more and call again). Errors are final: the stream cannot be resynchronised.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>> {
        let Some((kind, len)) = self.header(src)? else {
            return Ok(None);
        };
        let frame_len = HEADER_LEN + len;
        if src.len() < frame_len {
            // Bounded by the frame limit, which `header` already checked.
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let body = src.split_to(len).freeze();
        decode_body(kind, body, &self.limits).map(Some)
    }

    /// Like [`Decoder::decode`], for when the stream has ended: leftover bytes are an error
    /// naming the unfinished frame instead of `Ok(None)`.
    pub fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if src.is_empty() {
            return Ok(None);
        }
        match self.header(src)? {
            Some((kind, len)) => Err(ProtocolError::Truncated {
                kind,
                have: src.len(),
                need: HEADER_LEN + len,
            }),
            None => Err(ProtocolError::TruncatedHeader { have: src.len() }),
        }
    }

    /// Parses and checks the header at the front of `src` without consuming it.
    fn header(&self, src: &[u8]) -> Result<Option<(FrameKind, usize)>> {
        let Some(header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = FrameKind::from_code(header[4]).ok_or(ProtocolError::UnknownFrameKind {
            kind: header[4],
            len,
        })?;
        if len > self.limits.max_frame {
            return Err(ProtocolError::FrameTooLarge {
                kind,
                len: u64::from(len),
                max: self.limits.max_frame,
            });
        }
        Ok(Some((kind, len as usize)))
    }
}

/// Turns [`Message`]s into frames.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    limits: Limits,
}

impl Encoder {
    /// An encoder that refuses frames over `limits` (the peer's limits).
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// Changes the limits (after the handshake agreed on them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Appends `message` as one frame to `dst`.
    ///
    /// A message whose body would exceed the frame limit, or that the peer would refuse (a strong
    /// hash over the maximum), is an error and leaves `dst` as it was: split data into chunks of
    /// [`CHUNK_LEN`] and scan entries into batches.
    pub fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<()> {
        check_outgoing(message, &self.limits)?;
        let start = dst.len();
        dst.put_u32(0);
        dst.put_u8(message.kind().code());
        encode_body(message, dst);
        let body_len = dst.len() - start - HEADER_LEN;
        match u32::try_from(body_len) {
            Ok(len) if len <= self.limits.max_frame => {
                dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            _ => {
                dst.truncate(start);
                Err(ProtocolError::FrameTooLarge {
                    kind: message.kind(),
                    len: body_len as u64,
                    max: self.limits.max_frame,
                })
            }
        }
    }
}
