//! Rebuilding the new file from the basis and a delta.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::encoding::DeltaReader;
use crate::error::{Error, Result};
use crate::op::{DeltaOp, DeltaSink};

/// Bytes moved per read when copying from the basis.
const COPY_BUF_LEN: usize = 256 << 10;

/// Applies ops as they arrive — from a [`DeltaReader`], from the network one message at a
/// time, or straight from [`diff`](crate::diff), since it is a [`DeltaSink`].
///
/// Each Copy is checked against the basis length and each op against the output limit
/// before anything is written; memory is one copy buffer of at most 256 KiB, no larger
/// than the largest Copy so far.
///
/// ```
/// use sy_delta::{DeltaOp, Patcher};
/// use std::io::Cursor;
/// let mut out = Vec::new();
/// let mut patcher = Patcher::new(Cursor::new(b"hello world"), &mut out, 1 << 20);
/// patcher.op(DeltaOp::Copy { offset: 0, len: 6 })?;
/// patcher.op(DeltaOp::Literal(b"there"))?;
/// assert_eq!(patcher.finish()?, 11);
/// assert_eq!(out, b"hello there");
/// # Ok::<(), sy_delta::Error>(())
/// ```
#[derive(Debug)]
pub struct Patcher<B, W> {
    basis: B,
    out: W,
    limit: u64,
    written: u64,
    basis_len: Option<u64>,
    /// Where the basis's cursor is, when known, to skip needless seeks.
    basis_pos: Option<u64>,
    buf: Vec<u8>,
}

impl<B: Read + Seek, W: Write> Patcher<B, W> {
    /// A patcher that writes at most `limit` bytes to `out`.
    pub fn new(basis: B, out: W, limit: u64) -> Self {
        Patcher {
            basis,
            out,
            limit,
            written: 0,
            basis_len: None,
            basis_pos: None,
            buf: Vec::new(),
        }
    }

    /// Appends the output of one op.
    pub fn op(&mut self, op: DeltaOp<&[u8]>) -> Result<()> {
        let total = self
            .written
            .checked_add(op.output_len())
            .filter(|&total| total <= self.limit)
            .ok_or(Error::OutputLimit { limit: self.limit })?;
        match op {
            DeltaOp::Copy { offset, len } => self.copy(offset, len)?,
            DeltaOp::Literal(bytes) => self
                .out
                .write_all(bytes)
                .map_err(Error::io("writing the output"))?,
        }
        self.written = total;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the output and returns the bytes written.
    pub fn finish(mut self) -> Result<u64> {
        self.out.flush().map_err(Error::io("flushing the output"))?;
        Ok(self.written)
    }

    /// The basis and the output, e.g. to sync a temporary file before renaming it.
    pub fn into_inner(self) -> (B, W) {
        (self.basis, self.out)
    }

    fn copy(&mut self, offset: u64, len: u64) -> Result<()> {
        let basis_len = match self.basis_len {
            Some(len) => len,
            None => {
                let end = self
                    .basis
                    .seek(SeekFrom::End(0))
                    .map_err(Error::io("measuring the basis"))?;
                self.basis_len = Some(end);
                self.basis_pos = Some(end);
                end
            }
        };
        if offset.checked_add(len).is_none_or(|end| end > basis_len) {
            return Err(Error::CopyOutOfRange {
                offset,
                len,
                basis_len,
            });
        }
        if self.basis_pos != Some(offset) {
            self.basis
                .seek(SeekFrom::Start(offset))
                .map_err(Error::io("seeking in the basis"))?;
        }
        self.basis_pos = None;
        // Our own large buffer rather than `io::copy`: its generic path moves 8 KiB per
        // read, which for a file basis behind a hashing writer means a syscall per 8 KiB.
        let wanted = len.min(COPY_BUF_LEN as u64) as usize;
        if self.buf.len() < wanted {
            self.buf.resize(wanted, 0);
        }
        let mut left = len;
        while left > 0 {
            let piece = left.min(self.buf.len() as u64) as usize;
            let chunk = &mut self.buf[..piece];
            self.basis.read_exact(chunk).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => Error::Truncated {
                    what: "basis",
                    reading: "copied bytes (did the basis shrink?)",
                },
                _ => Error::io("reading the basis")(e),
            })?;
            self.out
                .write_all(chunk)
                .map_err(Error::io("writing the output"))?;
            left -= piece as u64;
        }
        self.basis_pos = Some(offset + len);
        Ok(())
    }
}

impl<B: Read + Seek, W: Write> DeltaSink for Patcher<B, W> {
    fn op(&mut self, op: DeltaOp<&[u8]>) -> Result<()> {
        Patcher::op(self, op)
    }
}

/// Rebuilds the new file into `out` from `basis` and an encoded `delta`; returns the
/// bytes written. Equivalent to [`apply_limited`] with no limit — prefer that one for
/// deltas from elsewhere.
pub fn apply<B: Read + Seek, D: Read, W: Write>(basis: B, delta: D, out: W) -> Result<u64> {
    apply_limited(basis, delta, out, u64::MAX)
}

/// Like [`apply`], but fails with [`Error::OutputLimit`] before writing past `limit` bytes.
pub fn apply_limited<B: Read + Seek, D: Read, W: Write>(
    basis: B,
    delta: D,
    out: W,
    limit: u64,
) -> Result<u64> {
    let mut reader = DeltaReader::new(delta).with_output_limit(limit);
    let mut patcher = Patcher::new(basis, out, limit);
    while let Some(op) = reader.next_op()? {
        patcher.op(op)?;
    }
    patcher.finish()
}
