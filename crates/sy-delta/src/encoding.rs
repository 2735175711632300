//! The binary delta encoding: [`DeltaWriter`] writes it, [`DeltaReader`] reads it back.
//!
//! ```text
//! delta   = "SYD" version:u8 op* 0x00          (version = 1; 0x00 ends the delta)
//! op      = 0x01 shift:varint len-1:varint     Copy len bytes of the basis at
//!                                              offset = end of the previous copy + shift
//!         | 0x02 len-1:varint bytes[len]       Literal
//! varint  = unsigned LEB128, at most 10 bytes
//! shift   = zigzag-encoded signed distance (0 → 0, −1 → 1, 1 → 2, −2 → 3, …);
//!           the "previous copy" of the first copy ends at 0
//! ```
//!
//! Lengths are stored minus one (an op is never empty) and copy offsets relative to the
//! previous copy, so the common case — the next stretch of the basis — costs a byte.
//! A delta without its end byte is truncated and rejected.

use std::io::{BufReader, Read, Write};

use crate::error::{Error, Result};
use crate::op::{DeltaOp, DeltaSink, MAX_LITERAL_LEN};
use crate::varint::{self, MAX_VARINT_LEN};

/// First bytes of every delta; the version byte follows.
pub const DELTA_MAGIC: [u8; 3] = *b"SYD";
/// Version of the delta encoding this build reads and writes.
pub const DELTA_VERSION: u8 = 1;

const OP_END: u8 = 0x00;
const OP_COPY: u8 = 0x01;
const OP_LITERAL: u8 = 0x02;
const WHAT: &str = "delta";

fn zigzag(shift: i64) -> u64 {
    ((shift << 1) ^ (shift >> 63)) as u64
}

fn unzigzag(encoded: u64) -> i64 {
    ((encoded >> 1) as i64) ^ -((encoded & 1) as i64)
}

/// Writes ops in the binary delta encoding (see the [crate docs](crate#the-delta-encoding)).
///
/// Call [`finish`](DeltaWriter::finish) at the end: it writes the end byte, without
/// which the delta is rejected as truncated. Wrap an unbuffered `W` (a `File`, a socket)
/// in a `BufWriter`: ops are written with small writes.
#[derive(Debug)]
pub struct DeltaWriter<W: Write> {
    out: W,
    header_written: bool,
    total: u64,
    copy_end: u64,
}

impl<W: Write> DeltaWriter<W> {
    /// A writer that has written nothing yet.
    pub fn new(out: W) -> Self {
        DeltaWriter {
            out,
            header_written: false,
            total: 0,
            copy_end: 0,
        }
    }

    /// Writes the end byte, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.write_header()?;
        self.write(&[OP_END])?;
        self.out.flush().map_err(Error::io("flushing the delta"))?;
        Ok(self.out)
    }

    /// Output bytes described by the ops written so far.
    pub fn output_len(&self) -> u64 {
        self.total
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn write_header(&mut self) -> Result<()> {
        if !self.header_written {
            let [a, b, c] = DELTA_MAGIC;
            self.write(&[a, b, c, DELTA_VERSION])?;
            self.header_written = true;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(Error::io("writing the delta"))
    }
}

impl<W: Write> DeltaSink for DeltaWriter<W> {
    fn op(&mut self, op: DeltaOp<&[u8]>) -> Result<()> {
        let len = op.output_len();
        if len == 0 {
            return Ok(());
        }
        self.write_header()?;
        self.total = self
            .total
            .checked_add(len)
            .ok_or(Error::OutputLimit { limit: u64::MAX })?;
        let mut buf = [0u8; 1 + 2 * MAX_VARINT_LEN];
        match op {
            DeltaOp::Copy { offset, len } => {
                buf[0] = OP_COPY;
                let shift = zigzag(offset.wrapping_sub(self.copy_end) as i64);
                let mut used = 1 + encode_into(shift, &mut buf[1..]);
                used += encode_into(len - 1, &mut buf[used..]);
                self.copy_end = offset.wrapping_add(len);
                self.write(&buf[..used])
            }
            DeltaOp::Literal(bytes) => {
                buf[0] = OP_LITERAL;
                let used = 1 + encode_into(len - 1, &mut buf[1..]);
                self.write(&buf[..used])?;
                self.write(bytes)
            }
        }
    }
}

fn encode_into(value: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let len = varint::encode(value, &mut tmp);
    out[..len].copy_from_slice(&tmp[..len]);
    len
}

/// Decodes the binary delta encoding one op at a time, in constant memory: a literal of
/// any declared length comes back in pieces of at most [`MAX_LITERAL_LEN`] bytes.
///
/// Every malformed input — bad header, unknown op, overflowing lengths, early end — is
/// an [`enum@Error`]. Bytes after the end byte are left unread.
#[derive(Debug)]
pub struct DeltaReader<R: Read> {
    inner: BufReader<R>,
    state: ReaderState,
    literal_left: u64,
    literal: Vec<u8>,
    produced: u64,
    limit: u64,
    copy_end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Header,
    Ops,
    Done,
}

impl<R: Read> DeltaReader<R> {
    /// A reader positioned at the start of a delta.
    pub fn new(inner: R) -> Self {
        DeltaReader {
            inner: BufReader::with_capacity(64 << 10, inner),
            state: ReaderState::Header,
            literal_left: 0,
            literal: Vec::new(),
            produced: 0,
            limit: u64::MAX,
            copy_end: 0,
        }
    }

    /// Fails with [`Error::OutputLimit`] as soon as an op header would take the output
    /// past `limit` bytes, before reading that op's literal bytes.
    #[must_use]
    pub fn with_output_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// The next op, or `None` after the end byte.
    pub fn next_op(&mut self) -> Result<Option<DeltaOp<&[u8]>>> {
        if self.state == ReaderState::Header {
            self.read_header()?;
        }
        if self.literal_left == 0 {
            if self.state == ReaderState::Done {
                return Ok(None);
            }
            match self.read_op()? {
                Parsed::Copy { offset, len } => return Ok(Some(DeltaOp::Copy { offset, len })),
                Parsed::Literal { len } => self.literal_left = len,
                Parsed::End => {
                    self.state = ReaderState::Done;
                    return Ok(None);
                }
            }
        }
        let piece = self.literal_left.min(MAX_LITERAL_LEN as u64) as usize;
        if self.literal.len() < piece {
            self.literal.resize(piece, 0);
        }
        varint::read_exact(
            &mut self.inner,
            &mut self.literal[..piece],
            WHAT,
            "literal bytes",
        )?;
        self.literal_left -= piece as u64;
        Ok(Some(DeltaOp::Literal(&self.literal[..piece])))
    }

    /// Output bytes described by the ops read so far.
    pub fn output_len(&self) -> u64 {
        self.produced
    }

    /// True once the end byte has been read.
    pub fn is_done(&self) -> bool {
        self.state == ReaderState::Done
    }

    fn read_header(&mut self) -> Result<()> {
        let mut header = [0u8; 4];
        varint::read_exact(&mut self.inner, &mut header, WHAT, "header")?;
        if header[..3] != DELTA_MAGIC {
            return Err(Error::BadMagic {
                what: WHAT,
                found: header,
            });
        }
        if header[3] != DELTA_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                version: header[3],
                supported: DELTA_VERSION,
            });
        }
        self.state = ReaderState::Ops;
        Ok(())
    }

    fn read_op(&mut self) -> Result<Parsed> {
        let tag = varint::read_byte(&mut self.inner, WHAT, "op tag")?;
        let parsed = match tag {
            OP_COPY => {
                let shift = varint::read(&mut self.inner, WHAT, "copy offset")?;
                let len = self.read_len("copy length")?;
                let offset = self.copy_end.wrapping_add(unzigzag(shift) as u64);
                self.copy_end = offset.wrapping_add(len);
                Parsed::Copy { offset, len }
            }
            OP_LITERAL => Parsed::Literal {
                len: self.read_len("literal length")?,
            },
            OP_END => Parsed::End,
            tag => return Err(Error::UnknownOp { tag }),
        };
        Ok(parsed)
    }

    /// Reads a stored `len − 1` and counts `len` against the output limit.
    fn read_len(&mut self, reading: &'static str) -> Result<u64> {
        let stored = varint::read(&mut self.inner, WHAT, reading)?;
        let len = stored.checked_add(1).ok_or(Error::Malformed {
            what: WHAT,
            reason: "op length does not fit in 64 bits",
        })?;
        self.produced = self
            .produced
            .checked_add(len)
            .filter(|&total| total <= self.limit)
            .ok_or(Error::OutputLimit { limit: self.limit })?;
        Ok(len)
    }
}

enum Parsed {
    Copy { offset: u64, len: u64 },
    Literal { len: u64 },
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_signed_distances() {
        for shift in [
            0i64,
            -1,
            1,
            -2,
            2,
            i64::MIN,
            i64::MAX,
            123_456_789,
            -987_654_321,
        ] {
            assert_eq!(unzigzag(zigzag(shift)), shift);
        }
        assert_eq!([zigzag(0), zigzag(-1), zigzag(1), zigzag(-2)], [0, 1, 2, 3]);
    }

    #[test]
    fn copies_far_and_near_round_trip() {
        let ops: [DeltaOp<&[u8]>; 5] = [
            DeltaOp::Copy {
                offset: 1 << 40,
                len: 5,
            },
            DeltaOp::Literal(b"abc"),
            DeltaOp::Copy {
                offset: 3,
                len: u64::MAX - (1 << 41),
            },
            DeltaOp::Copy { offset: 0, len: 1 },
            DeltaOp::Copy {
                offset: u64::MAX,
                len: 1,
            },
        ];
        let mut writer = DeltaWriter::new(Vec::new());
        for op in ops {
            writer.op(op).unwrap();
        }
        let bytes = writer.finish().unwrap();
        let mut reader = DeltaReader::new(&bytes[..]);
        for op in ops {
            assert_eq!(reader.next_op().unwrap(), Some(op));
        }
        assert_eq!(reader.next_op().unwrap(), None);
        assert!(reader.is_done());
    }

    #[test]
    fn the_next_block_costs_three_bytes() {
        let mut writer = DeltaWriter::new(Vec::new());
        writer
            .op(DeltaOp::Copy {
                offset: 0,
                len: 100,
            })
            .unwrap();
        writer.op(DeltaOp::Literal(b"x")).unwrap();
        writer
            .op(DeltaOp::Copy {
                offset: 101,
                len: 100,
            })
            .unwrap();
        let bytes = writer.finish().unwrap();
        assert_eq!(bytes, b"SYD\x01\x01\x00\x63\x02\x00x\x01\x02\x63\x00");
    }
}
