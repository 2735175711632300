//! Streaming delta computation: the new file against a basis's signature.
//!
//! The new file passes once through a bounded buffer. At each position the engine tries,
//! in order: the block after the last match (hashing that one block, no rolling — this is
//! what makes unchanged data fast), then the index under the window's weak checksum, and
//! on a miss it rolls the weak checksum forward byte by byte, touching only the tag table
//! until something may match.

use std::collections::HashMap;
use std::io::Read;

use crate::error::Result;
use crate::index::SignatureIndex;
use crate::op::{DeltaSink, DiffStats, Emitter, MAX_LITERAL_LEN};
use crate::rolling::{Rolling, weak_sum};
use crate::signature::read_full;

/// Fresh bytes read per refill at least.
const READ_SPAN: usize = 256 << 10;

/// After this many weak hits whose strong hash differs, a weak checksum is ignored: data
/// crafted to collide on the (unseeded) weak sum cannot make `diff` hash every position.
const MAX_FALSE_HITS_PER_WEAK: u32 = 256;

/// Computes the delta that turns the basis described by `index` into `new`, handing each
/// op to `sink` as soon as it is known.
///
/// Memory is constant: a buffer of 128 KiB + 256 KiB + the block size (twice), whatever
/// the length of `new`. Adjacent copies are coalesced; literal runs are split into ops of
/// at most [`MAX_LITERAL_LEN`] bytes.
pub fn diff<R: Read, S: DeltaSink + ?Sized>(
    index: &SignatureIndex,
    new: R,
    sink: &mut S,
) -> Result<DiffStats> {
    let block_size = index.block_size() as usize;
    let mut input = Input::new(new, block_size);
    let mut emit = Emitter::new(sink);
    let mut matcher = Matcher {
        index,
        false_hits: HashMap::new(),
    };
    // The block to try first: the one after the last match.
    let mut expected: Option<u32> = None;
    // Weak sums of the window at `input.pos`, when known.
    let mut rolling: Option<Rolling> = None;

    loop {
        if input.end - input.pos < block_size {
            if input.eof {
                break;
            }
            input.fill()?;
            continue;
        }
        let window = &input.buf[input.pos..input.pos + block_size];
        let next_match = expected
            .take()
            .and_then(|block| {
                let sum = index.full_block(block)?;
                (index.hasher().hash(window) == sum.strong).then_some(block)
            })
            .or_else(|| {
                let weak = rolling.get_or_insert_with(|| Rolling::of(window)).digest();
                if index.maybe_contains(weak) {
                    matcher.lookup(weak, window)
                } else {
                    None
                }
            });
        if let Some(block) = next_match {
            emit.literal(&input.buf[input.start..input.pos])?;
            emit.copy(index.offset_of(block), block_size as u64)?;
            input.pos += block_size;
            input.start = input.pos;
            expected = block.checked_add(1);
            rolling = None;
            continue;
        }

        // A miss: roll forward while the tag table rules every position out.
        let limit = (input.end - block_size).min(input.start + MAX_LITERAL_LEN);
        if input.pos >= limit {
            if input.pos - input.start >= MAX_LITERAL_LEN {
                emit.literal(&input.buf[input.start..input.pos])?;
                input.start = input.pos;
            } else if input.eof {
                break;
            } else {
                input.fill()?;
            }
            continue;
        }
        if index.has_no_full_blocks() {
            // Nothing to roll towards: every byte up to the limit is literal.
            input.pos = limit;
            rolling = None;
            continue;
        }
        let window = &input.buf[input.pos..input.pos + block_size];
        let sums = rolling.get_or_insert_with(|| Rolling::of(window));
        let steps = limit - input.pos;
        let outgoing = &input.buf[input.pos..limit];
        let incoming = &input.buf[input.pos + block_size..limit + block_size];
        let mut advanced = 0;
        while advanced < steps {
            sums.roll(outgoing[advanced], incoming[advanced]);
            advanced += 1;
            if index.maybe_contains(sums.digest()) {
                break;
            }
        }
        input.pos += advanced;
    }

    finish_tail(index, &input, &mut emit)?;
    emit.finish()
}

/// The end of the new file, shorter than a block (or a block that did not match): it
/// may still end with the basis's short last block.
fn finish_tail<S: DeltaSink + ?Sized>(
    index: &SignatureIndex,
    input: &Input<impl Read>,
    emit: &mut Emitter<'_, S>,
) -> Result<()> {
    let rest = &input.buf[input.pos..input.end];
    if let Some((block, len, sum)) = index.tail()
        && let Some(candidate) = rest.len().checked_sub(len).map(|at| &rest[at..])
        && weak_sum(candidate) == sum.weak
        && index.hasher().hash(candidate) == sum.strong
    {
        emit.literal(&input.buf[input.start..input.end - len])?;
        return emit.copy(index.offset_of(block), len as u64);
    }
    emit.literal(&input.buf[input.start..input.end])
}

/// Index look-ups that give up on weak checksums that keep colliding.
struct Matcher<'i> {
    index: &'i SignatureIndex,
    false_hits: HashMap<u32, u32>,
}

impl Matcher<'_> {
    fn lookup(&mut self, weak: u32, window: &[u8]) -> Option<u32> {
        let group = self.index.group(weak);
        if group.is_empty() {
            return None;
        }
        if !self.false_hits.is_empty()
            && self.false_hits.get(&weak).copied().unwrap_or(0) >= MAX_FALSE_HITS_PER_WEAK
        {
            return None;
        }
        let strong = self.index.hasher().hash(window);
        let found = self.index.find_strong(group, strong);
        if found.is_none() {
            *self.false_hits.entry(weak).or_default() += 1;
        }
        found
    }
}

/// The new file's bytes in a bounded buffer: `buf[start..pos]` is the pending literal,
/// `buf[pos..pos + block]` the window, `buf[..end]` what has been read.
struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    pos: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Input<R> {
    fn new(reader: R, block_size: usize) -> Self {
        // A pending literal (≤ MAX_LITERAL_LEN) plus a window (≤ one block) survive each
        // refill; the rest is room for fresh data.
        let capacity = MAX_LITERAL_LEN + block_size + READ_SPAN.max(block_size);
        Input {
            reader,
            buf: vec![0; capacity],
            start: 0,
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    /// Moves the unconsumed bytes to the front and reads until the buffer is full or
    /// the stream ends.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.pos -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        let read = read_full(
            &mut self.reader,
            &mut self.buf[self.end..],
            "reading the new file",
        )?;
        self.end += read;
        self.eof = self.end < self.buf.len();
        Ok(())
    }
}
