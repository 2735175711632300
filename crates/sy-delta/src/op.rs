//! Delta operations and where they go.

use crate::error::Result;

/// Longest literal op `diff` emits (128 KiB); longer runs of new bytes become several ops.
pub const MAX_LITERAL_LEN: usize = 128 << 10;

/// Longest Copy op `diff` emits (16 MiB). Adjacent matches are coalesced up to this length
/// and no further, so a receiver applying ops as they arrive keeps writing through long
/// unchanged stretches (an interrupted transfer then leaves a useful partial behind).
pub const MAX_COPY_LEN: u64 = 16 << 20;

/// One instruction for rebuilding the new file: output bytes come either from the basis
/// or from the delta itself.
///
/// `L` holds a literal's bytes: [`diff`](crate::diff) and the [`DeltaSink`]s borrow them
/// (`DeltaOp<&[u8]>`, no copy while diffing); a caller that ships ops elsewhere keeps them in a
/// buffer of its own (`sy-protocol` sends `DeltaOp<bytes::Bytes>`) and lends them back with
/// [`DeltaOp::as_borrowed`].
///
/// ```
/// use sy_delta::DeltaOp;
/// let owned: DeltaOp<Vec<u8>> = DeltaOp::Literal(b"new bytes".to_vec());
/// assert_eq!(owned.as_borrowed(), DeltaOp::Literal(&b"new bytes"[..]));
/// assert_eq!(owned.output_len(), 9);
/// let copy: DeltaOp<Vec<u8>> = DeltaOp::Copy { offset: 0, len: 4096 };
/// assert_eq!(copy.output_len(), 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeltaOp<L> {
    /// Append `len` bytes of the basis, starting at `offset`.
    Copy {
        /// Offset in the basis.
        offset: u64,
        /// Bytes to copy.
        len: u64,
    },
    /// Append these bytes.
    Literal(L),
}

impl<L: AsRef<[u8]>> DeltaOp<L> {
    /// Bytes this op appends to the output.
    pub fn output_len(&self) -> u64 {
        match self {
            DeltaOp::Copy { len, .. } => *len,
            DeltaOp::Literal(bytes) => bytes.as_ref().len() as u64,
        }
    }

    /// The same op with its literal borrowed, as a [`DeltaSink`] takes it.
    pub fn as_borrowed(&self) -> DeltaOp<&[u8]> {
        match self {
            DeltaOp::Copy { offset, len } => DeltaOp::Copy {
                offset: *offset,
                len: *len,
            },
            DeltaOp::Literal(bytes) => DeltaOp::Literal(bytes.as_ref()),
        }
    }
}

/// Receives the ops of a delta, in order.
///
/// Implemented by [`DeltaWriter`](crate::DeltaWriter) (the binary encoding),
/// [`Patcher`](crate::Patcher) (apply as you go) and by any closure
/// `FnMut(DeltaOp<&[u8]>) -> Result<()>` for callers that ship ops themselves:
///
/// ```
/// use sy_delta::{DeltaOp, Result, Signature, SignatureOptions, diff};
/// let old = b"the quick brown fox jumps over the lazy dog";
/// let sig = Signature::calculate(&old[..], SignatureOptions::for_len(43).with_block_size(8))?;
/// let mut ops = Vec::new();
/// diff(&sig.index(), &b"the quick brown cat jumps over the lazy dog"[..], &mut |op: DeltaOp<&[u8]>| {
///     ops.push(format!("{op:?}"));
///     Ok(())
/// })?;
/// assert_eq!(ops.first().map(String::as_str), Some("Copy { offset: 0, len: 16 }"));
/// # Ok::<(), sy_delta::Error>(())
/// ```
pub trait DeltaSink {
    /// Takes the next op. A Literal's bytes are only borrowed for the call.
    fn op(&mut self, op: DeltaOp<&[u8]>) -> Result<()>;
}

impl<F> DeltaSink for F
where
    F: FnMut(DeltaOp<&[u8]>) -> Result<()>,
{
    fn op(&mut self, op: DeltaOp<&[u8]>) -> Result<()> {
        self(op)
    }
}

/// What a [`diff`](crate::diff) produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DiffStats {
    /// Bytes sent as literals.
    pub literal_bytes: u64,
    /// Bytes to be copied from the basis.
    pub copied_bytes: u64,
    /// Ops handed to the sink (after coalescing).
    pub ops: u64,
}

/// Coalesces adjacent copies and splits literals before they reach the sink.
pub(crate) struct Emitter<'s, S: ?Sized> {
    sink: &'s mut S,
    pending_copy: Option<(u64, u64)>,
    pub(crate) stats: DiffStats,
}

impl<'s, S: DeltaSink + ?Sized> Emitter<'s, S> {
    pub(crate) fn new(sink: &'s mut S) -> Self {
        Emitter {
            sink,
            pending_copy: None,
            stats: DiffStats::default(),
        }
    }

    pub(crate) fn copy(&mut self, offset: u64, len: u64) -> Result<()> {
        self.stats.copied_bytes += len;
        match &mut self.pending_copy {
            Some((start, run)) if *start + *run == offset && *run + len <= MAX_COPY_LEN => {
                *run += len
            }
            _ => {
                self.flush_copy()?;
                self.pending_copy = Some((offset, len));
            }
        }
        Ok(())
    }

    pub(crate) fn literal(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.flush_copy()?;
        for chunk in bytes.chunks(MAX_LITERAL_LEN) {
            self.stats.literal_bytes += chunk.len() as u64;
            self.stats.ops += 1;
            self.sink.op(DeltaOp::Literal(chunk))?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<DiffStats> {
        self.flush_copy()?;
        Ok(self.stats)
    }

    fn flush_copy(&mut self) -> Result<()> {
        if let Some((offset, len)) = self.pending_copy.take() {
            self.stats.ops += 1;
            self.sink.op(DeltaOp::Copy { offset, len })?;
        }
        Ok(())
    }
}
