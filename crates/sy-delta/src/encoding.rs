//! The binary delta encoding: [`DeltaWriter`] writes it, [`DeltaReader`] reads it back.
//!
//! ```text
//! delta   = header op* end
//! header  = "SYDL" version:u8            (version = 1)
//! op      = 0x01 offset:varint len:varint           Copy  (len > 0)
//!         | 0x02 len:varint bytes[len]              Literal (len > 0)
//! end     = 0x00 total:varint                       total output length
//! varint  = unsigned LEB128, at most 10 bytes
//! ```
//!
//! The end marker carries the total output length, so a delta cut short anywhere is an
//! error rather than a shorter file.

use std::io::{BufReader, Read, Write};

use crate::error::{Error, Result};
use crate::op::{DeltaOp, DeltaSink, MAX_LITERAL_LEN};
use crate::varint::{self, MAX_VARINT_LEN};

/// First bytes of every delta.
pub const DELTA_MAGIC: [u8; 4] = *b"SYDL";
/// Version of the delta encoding this build reads and writes.
pub const DELTA_VERSION: u8 = 1;

const OP_END: u8 = 0x00;
const OP_COPY: u8 = 0x01;
const OP_LITERAL: u8 = 0x02;
const WHAT: &str = "delta";

/// Writes ops in the binary delta encoding (see the [crate docs](crate#the-delta-encoding)).
///
/// Call [`finish`](DeltaWriter::finish) at the end: it writes the end marker, without
/// which the delta is rejected as truncated. Wrap an unbuffered `W` (a `File`, a socket)
/// in a `BufWriter`: ops are written with small writes.
#[derive(Debug)]
pub struct DeltaWriter<W: Write> {
    out: W,
    header_written: bool,
    total: u64,
}

impl<W: Write> DeltaWriter<W> {
    /// A writer that has written nothing yet.
    pub fn new(out: W) -> Self {
        DeltaWriter {
            out,
            header_written: false,
            total: 0,
        }
    }

    /// Writes the end marker, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.write_header()?;
        let mut buf = [0u8; 1 + MAX_VARINT_LEN];
        buf[0] = OP_END;
        let len = 1 + encode_into(self.total, &mut buf[1..]);
        self.write(&buf[..len])?;
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
            let mut header = [0u8; 5];
            header[..4].copy_from_slice(&DELTA_MAGIC);
            header[4] = DELTA_VERSION;
            self.write(&header)?;
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
    fn op(&mut self, op: DeltaOp<'_>) -> Result<()> {
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
                let mut used = 1 + encode_into(offset, &mut buf[1..]);
                used += encode_into(len, &mut buf[used..]);
                self.write(&buf[..used])
            }
            DeltaOp::Literal(bytes) => {
                buf[0] = OP_LITERAL;
                let used = 1 + encode_into(len, &mut buf[1..]);
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
/// Every malformed input — bad header, unknown op, zero or overflowing lengths, early
/// end, an end marker that disagrees with the ops — is an [`enum@Error`].
#[derive(Debug)]
pub struct DeltaReader<R: Read> {
    inner: BufReader<R>,
    state: ReaderState,
    literal_left: u64,
    literal: Vec<u8>,
    produced: u64,
    limit: u64,
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
        }
    }

    /// Fails with [`Error::OutputLimit`] as soon as an op header would take the output
    /// past `limit` bytes, before reading that op's literal bytes.
    #[must_use]
    pub fn with_output_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// The next op, or `None` after the end marker (whose total has then been checked).
    pub fn next_op(&mut self) -> Result<Option<DeltaOp<'_>>> {
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

    /// True once the end marker has been read.
    pub fn is_done(&self) -> bool {
        self.state == ReaderState::Done
    }

    fn read_header(&mut self) -> Result<()> {
        let mut header = [0u8; 5];
        varint::read_exact(&mut self.inner, &mut header, WHAT, "header")?;
        let mut found = [0u8; 4];
        found.copy_from_slice(&header[..4]);
        if found != DELTA_MAGIC {
            return Err(Error::BadMagic { what: WHAT, found });
        }
        if header[4] != DELTA_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                version: header[4],
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
                let offset = varint::read(&mut self.inner, WHAT, "copy offset")?;
                let len = varint::read(&mut self.inner, WHAT, "copy length")?;
                self.count(len)?;
                Parsed::Copy { offset, len }
            }
            OP_LITERAL => {
                let len = varint::read(&mut self.inner, WHAT, "literal length")?;
                self.count(len)?;
                Parsed::Literal { len }
            }
            OP_END => {
                let declared = varint::read(&mut self.inner, WHAT, "end marker")?;
                if declared != self.produced {
                    return Err(Error::OutputLength {
                        declared,
                        actual: self.produced,
                    });
                }
                Parsed::End
            }
            tag => return Err(Error::UnknownOp { tag }),
        };
        Ok(parsed)
    }

    fn count(&mut self, len: u64) -> Result<()> {
        if len == 0 {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "zero-length op",
            });
        }
        self.produced = self
            .produced
            .checked_add(len)
            .filter(|&total| total <= self.limit)
            .ok_or(Error::OutputLimit { limit: self.limit })?;
        Ok(())
    }
}

enum Parsed {
    Copy { offset: u64, len: u64 },
    Literal { len: u64 },
    End,
}
