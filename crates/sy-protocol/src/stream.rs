//! The block layer that carries a compressed session's byte stream (layout in the crate docs,
//! "Wire format").
//!
//! The writer keeps one zstd context for the whole direction and cuts blocks at
//! [`BLOCK_TARGET`], mode switches and flushes; the reader decodes them in order, a bounded
//! amount at a time, so a small block that inflates hugely cannot fill memory.

use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};

use crate::adapt::ZstdTotals;
use crate::compress::{Compressor, Decompressor};
use crate::error::{ProtocolError, Result};

/// Block header: mode and length.
const BLOCK_HEADER_LEN: usize = 5;

/// A block is sent once its payload reaches this size.
pub const BLOCK_TARGET: usize = 128 << 10;

/// Largest block payload a receiver accepts.
pub const MAX_BLOCK: usize = 1 << 20;

/// Frames up to this size stay in a stored block rather than switch back to zstd.
const SMALL_FRAME: usize = 256;

const MODE_STORED: u8 = 0;
const MODE_ZSTD: u8 = 1;

/// Bytes of one direction: what the protocol carried, and what crossed the wire for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes of frames (handshake included), before compression.
    pub logical: u64,
    /// Bytes on the wire, after compression and block headers.
    pub wire: u64,
    /// Of `logical`, the bytes that went through zstd (the rest was stored or uncompressed).
    pub compressed: u64,
}

/// Traffic in both directions of an [`crate::Endpoint`], for `--stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// What this side sent.
    pub sent: Traffic,
    /// What this side received (frames fully decoded so far).
    pub received: Traffic,
    /// Lowest and highest zstd level this side compressed with (none if it compressed
    /// nothing); an adaptive session moves between them.
    pub sent_levels: Option<(i8, i8)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stored,
    Zstd,
}

/// Sender side of the block layer.
#[derive(Debug)]
pub(crate) struct BlockWriter {
    compressor: Compressor,
    mode: Mode,
    block: BytesMut,
    zstd_unflushed: bool,
    /// The level to switch to before compressing more.
    next_level: Option<i32>,
    zstd: ZstdTotals,
}

impl BlockWriter {
    pub(crate) fn new(compressor: Compressor) -> Self {
        Self {
            compressor,
            mode: Mode::Zstd,
            block: BytesMut::new(),
            zstd_unflushed: false,
            next_level: None,
            zstd: ZstdTotals::default(),
        }
    }

    /// What the compressor has done so far.
    pub(crate) fn zstd_totals(&self) -> ZstdTotals {
        self.zstd
    }

    /// Compresses what comes next at `level` (taking effect with the next compressed frame).
    pub(crate) fn set_level(&mut self, level: i8) {
        let level = i32::from(level);
        self.next_level = (level != self.compressor.level()).then_some(level);
    }

    /// Starts a stored block that the caller writes one frame into, straight after the returned
    /// offset of its header in `out` — no copy of the frame. [`BlockWriter::end_stored`] closes
    /// it.
    pub(crate) fn begin_stored(&mut self, out: &mut BytesMut) -> Result<usize> {
        if self.mode == Mode::Zstd {
            self.finish_zstd(out)?;
            self.mode = Mode::Stored;
        } else {
            self.emit(out);
        }
        let at = out.len();
        out.put_u8(MODE_STORED);
        out.put_u32(0);
        Ok(at)
    }

    /// Closes the stored block begun at `at`: its length, or several blocks when the frame is
    /// over the block limit. Returns the frame's length.
    pub(crate) fn end_stored(&mut self, out: &mut BytesMut, at: usize) -> usize {
        let len = out.len() - at - BLOCK_HEADER_LEN;
        if len <= MAX_BLOCK {
            out[at + 1..at + BLOCK_HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        } else {
            let frame = out.split_off(at + BLOCK_HEADER_LEN);
            out.truncate(at);
            self.block.extend_from_slice(&frame);
            self.emit(out);
        }
        len
    }

    /// Adds one encoded frame to compress (a small one right after stored blocks stays stored
    /// rather than pay for a zstd flush).
    pub(crate) fn push(&mut self, frame: &[u8], out: &mut BytesMut) -> Result<()> {
        if self.mode == Mode::Stored && frame.len() <= SMALL_FRAME {
            self.block.extend_from_slice(frame);
        } else {
            if self.mode == Mode::Stored {
                self.emit(out);
                self.mode = Mode::Zstd;
            }
            let started = Instant::now();
            let before = self.block.len();
            if let Some(level) = self.next_level.take() {
                // Ends the frame: everything so far is decodable, nothing left to flush.
                self.compressor.set_level(level, &mut self.block)?;
                self.zstd_unflushed = false;
            }
            self.compressor.compress(frame, &mut self.block)?;
            self.zstd_unflushed = true;
            self.zstd.input += frame.len() as u64;
            self.zstd.output += (self.block.len() - before) as u64;
            self.zstd.time += started.elapsed();
        }
        if self.block.len() >= BLOCK_TARGET {
            self.emit(out);
        }
        Ok(())
    }

    /// Makes everything pushed so far decodable by the peer.
    pub(crate) fn flush(&mut self, out: &mut BytesMut) -> Result<()> {
        match self.mode {
            Mode::Zstd => self.finish_zstd(out),
            Mode::Stored => {
                self.emit(out);
                Ok(())
            }
        }
    }

    fn finish_zstd(&mut self, out: &mut BytesMut) -> Result<()> {
        if self.zstd_unflushed {
            let started = Instant::now();
            let before = self.block.len();
            self.compressor.flush(&mut self.block)?;
            self.zstd_unflushed = false;
            self.zstd.output += (self.block.len() - before) as u64;
            self.zstd.time += started.elapsed();
        }
        self.emit(out);
        Ok(())
    }

    fn emit(&mut self, out: &mut BytesMut) {
        let mode = match self.mode {
            Mode::Stored => MODE_STORED,
            Mode::Zstd => MODE_ZSTD,
        };
        while !self.block.is_empty() {
            let piece = self.block.split_to(self.block.len().min(MAX_BLOCK));
            out.reserve(BLOCK_HEADER_LEN + piece.len());
            out.put_u8(mode);
            out.put_u32(piece.len() as u32);
            out.extend_from_slice(&piece);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ReadState {
    Header,
    Stored { remaining: usize },
    Zstd { remaining: usize },
}

/// Receiver side of the block layer.
#[derive(Debug)]
pub(crate) struct BlockReader {
    decompressor: Decompressor,
    state: ReadState,
    decompressed: u64,
}

impl BlockReader {
    pub(crate) fn new(decompressor: Decompressor) -> Self {
        Self {
            decompressor,
            state: ReadState::Header,
            decompressed: 0,
        }
    }

    /// Plain bytes that came out of zstd blocks so far.
    pub(crate) fn decompressed(&self) -> u64 {
        self.decompressed
    }

    /// Bytes still needed to finish the current block when `buffered` bytes are waiting:
    /// non-zero at the end of the stream means it was cut inside a block.
    pub(crate) fn missing(&self, buffered: usize) -> usize {
        match self.state {
            ReadState::Header if buffered == 0 => 0,
            ReadState::Header => BLOCK_HEADER_LEN.saturating_sub(buffered),
            ReadState::Stored { remaining } | ReadState::Zstd { remaining } => {
                remaining.saturating_sub(buffered)
            }
        }
    }

    /// Moves plain bytes from `wire` to `plain` until about `want` were produced or `wire` runs
    /// dry. Returns how many plain bytes were produced.
    pub(crate) fn fill(
        &mut self,
        wire: &mut BytesMut,
        plain: &mut BytesMut,
        want: usize,
    ) -> Result<usize> {
        let mut produced = 0;
        while produced < want {
            match self.state {
                ReadState::Header => {
                    let Some(header) = wire.get(..BLOCK_HEADER_LEN) else {
                        break;
                    };
                    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                    let remaining = len as usize;
                    if remaining > MAX_BLOCK {
                        return Err(ProtocolError::CorruptBlock {
                            reason: format!(
                                "block of {len} bytes, over the {MAX_BLOCK}-byte block limit"
                            ),
                        });
                    }
                    self.state = match header[0] {
                        MODE_STORED => ReadState::Stored { remaining },
                        MODE_ZSTD => ReadState::Zstd { remaining },
                        other => {
                            return Err(ProtocolError::CorruptBlock {
                                reason: format!("unknown block mode 0x{other:02x}"),
                            });
                        }
                    };
                    wire.advance(BLOCK_HEADER_LEN);
                }
                ReadState::Stored { remaining } if plain.is_empty() => {
                    // A whole block moves over without a copy: wait until it is all here.
                    if wire.len() < remaining {
                        break;
                    }
                    *plain = wire.split_to(remaining);
                    produced += remaining;
                    self.state = ReadState::Header;
                }
                ReadState::Stored { remaining } => {
                    let take = remaining.min(wire.len()).min(want - produced);
                    if take == 0 && remaining > 0 {
                        break;
                    }
                    plain.extend_from_slice(&wire.split_to(take));
                    produced += take;
                    self.state = match remaining - take {
                        0 => ReadState::Header,
                        remaining => ReadState::Stored { remaining },
                    };
                }
                ReadState::Zstd { remaining } => {
                    let available = remaining.min(wire.len());
                    if available == 0 && !self.decompressor.has_pending_output() {
                        if remaining > 0 {
                            break;
                        }
                        self.state = ReadState::Header;
                        continue;
                    }
                    let step =
                        self.decompressor
                            .decompress(&wire[..available], plain, want - produced)?;
                    wire.advance(step.consumed);
                    produced += step.produced;
                    self.decompressed += step.produced as u64;
                    self.state = ReadState::Zstd {
                        remaining: remaining - step.consumed,
                    };
                    if step.consumed == 0 && step.produced == 0 && remaining > 0 {
                        break;
                    }
                }
            }
        }
        Ok(produced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_changes_and_stored_blocks_decode_as_one_stream() {
        let mut writer = BlockWriter::new(Compressor::new(3).unwrap());
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        let (mut text_len, mut stored_len) = (0, 0);
        for (step, level) in [3i8, -5, 6, 1, -1].into_iter().enumerate() {
            writer.set_level(level);
            let text = format!("line {step} of some text that repeats\n").repeat(2000);
            writer.push(text.as_bytes(), &mut wire).unwrap();
            expected.extend_from_slice(text.as_bytes());
            text_len += text.len();
            // A stored frame written in place; the last one over the block limit.
            let stored = vec![step as u8; if step == 4 { MAX_BLOCK + 1000 } else { 300 }];
            let at = writer.begin_stored(&mut wire).unwrap();
            wire.extend_from_slice(&stored);
            assert_eq!(writer.end_stored(&mut wire, at), stored.len());
            expected.extend_from_slice(&stored);
            stored_len += stored.len();
        }
        writer.flush(&mut wire).unwrap();
        assert!(
            wire.len() < stored_len + text_len / 10,
            "{} wire bytes for {stored_len} stored and {text_len} compressible",
            wire.len()
        );

        let mut reader = BlockReader::new(Decompressor::new().unwrap());
        let mut plain = BytesMut::new();
        let mut decoded = Vec::new();
        while reader.fill(&mut wire, &mut plain, 64 << 10).unwrap() > 0 {
            decoded.extend_from_slice(&plain.split());
        }
        assert!(decoded == expected, "decoded stream differs");
        assert_eq!(reader.missing(wire.len()), 0);
        assert!(reader.decompressed() >= 5 * 2000 * 30);
    }
}
