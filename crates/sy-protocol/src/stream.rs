//! The block layer that carries a compressed session's byte stream (layout in the crate docs,
//! "Wire format").
//!
//! The writer keeps one zstd context for the whole direction and cuts blocks at
//! [`BLOCK_TARGET`], mode switches and flushes; the reader decodes them in order, a bounded
//! amount at a time, so a small block that inflates hugely cannot fill memory.

use bytes::{Buf, BufMut, BytesMut};

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
}

/// Traffic in both directions of an [`crate::Endpoint`], for `--stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// What this side sent.
    pub sent: Traffic,
    /// What this side received (frames fully decoded so far).
    pub received: Traffic,
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
}

impl BlockWriter {
    pub(crate) fn new(compressor: Compressor) -> Self {
        Self {
            compressor,
            mode: Mode::Zstd,
            block: BytesMut::new(),
            zstd_unflushed: false,
        }
    }

    /// Adds one encoded frame; `store` keeps it out of zstd.
    pub(crate) fn push(&mut self, frame: &[u8], store: bool, out: &mut BytesMut) -> Result<()> {
        let stored = store || (self.mode == Mode::Stored && frame.len() <= SMALL_FRAME);
        if stored {
            if self.mode == Mode::Zstd {
                self.finish_zstd(out)?;
                self.mode = Mode::Stored;
            }
            self.block.extend_from_slice(frame);
        } else {
            if self.mode == Mode::Stored {
                self.emit(out);
                self.mode = Mode::Zstd;
            }
            self.compressor.compress(frame, &mut self.block)?;
            self.zstd_unflushed = true;
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
            self.compressor.flush(&mut self.block)?;
            self.zstd_unflushed = false;
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
}

impl BlockReader {
    pub(crate) fn new(decompressor: Decompressor) -> Self {
        Self {
            decompressor,
            state: ReadState::Header,
        }
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
