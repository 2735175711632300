//! The look-up structure `diff` probes at every byte position that misses.
//!
//! Three layers, cheapest first:
//! 1. a bitset (the *tag table*) on a hash of the weak checksum, about 128 bits per block
//!    (64 Ki bits ..= 8 Mi bits, i.e. 8 KiB ..= 1 MiB) — a miss, by far the common case
//!    while rolling, costs one memory read that stays in cache, and fewer than 1 in 100
//!    positions get past it by chance;
//! 2. an open-addressing table from the weak checksum (stored in the slot, so a chance
//!    hit costs one more read) to a group of blocks;
//! 3. within a group (blocks sharing a weak checksum), the strong hashes, sorted, so even a
//!    file of identical blocks costs a binary search, never a scan.

use crate::signature::{BlockSum, Signature, StrongHasher, StrongSum};

const MIN_TAG_BITS_LOG2: u32 = 16;
const MAX_TAG_BITS_LOG2: u32 = 23;
/// Measured on random data: 32 bits per block spent a quarter of the rolling time on chance
/// hits; 128 removes most of that; 256 gains nothing more.
const TAG_BITS_PER_BLOCK_LOG2: u32 = 7;

/// A [`Signature`] prepared for [`diff`](crate::diff): built once, then read-only
/// (it is `Send + Sync`, so several diffs may share it).
#[derive(Debug, Clone)]
pub struct SignatureIndex {
    sig: Signature,
    hasher: StrongHasher,
    tags: Vec<u64>,
    tag_shift: u32,
    /// Block numbers of the full-size blocks sorted by (weak, strong), one per distinct
    /// (weak, strong) pair: the lowest block number wins, which keeps copies in order.
    order: Vec<u32>,
    /// Open addressing on the weak checksum. Each slot holds the weak checksum itself,
    /// so a probe that the tag table let through costs one memory read, not three.
    slots: Vec<Slot>,
    slot_shift: u32,
    /// The last block when it is shorter than the block size; it can only match the end
    /// of the new file.
    tail: Option<u32>,
}

impl SignatureIndex {
    pub(crate) fn new(sig: Signature) -> Self {
        let hasher = StrongHasher::new(sig.seed, sig.strong_len);
        let full_blocks = if sig.file_len.is_multiple_of(u64::from(sig.block_size)) {
            sig.blocks.len()
        } else {
            sig.blocks.len() - 1
        };
        let tail = (full_blocks < sig.blocks.len()).then_some(full_blocks as u32);

        let mut order: Vec<u32> = (0..full_blocks as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let b = sig.blocks[i as usize];
            (b.weak, b.strong, i)
        });
        order.dedup_by_key(|&mut i| {
            let b = sig.blocks[i as usize];
            (b.weak, b.strong)
        });

        let tag_bits_log2 = (order.len().max(1).next_power_of_two().ilog2()
            + TAG_BITS_PER_BLOCK_LOG2)
            .clamp(MIN_TAG_BITS_LOG2, MAX_TAG_BITS_LOG2);
        let tag_shift = 32 - tag_bits_log2;
        let mut tags = vec![0u64; 1 << (tag_bits_log2 - 6)];

        // At most half full (but never over 2³² slots, which a u32 hash cannot address).
        let slot_log2 = (order.len().max(1) * 2)
            .next_power_of_two()
            .ilog2()
            .clamp(1, 32);
        let slot_shift = 32 - slot_log2;
        let mut slots = vec![Slot::EMPTY; 1 << slot_log2];
        let mask = slots.len() - 1;

        let mut previous_weak = None;
        for (pos, &block) in order.iter().enumerate() {
            let weak = sig.blocks[block as usize].weak;
            if previous_weak == Some(weak) {
                continue;
            }
            previous_weak = Some(weak);
            let tag = (mix(weak) >> tag_shift) as usize;
            tags[tag / 64] |= 1 << (tag % 64);
            let mut slot = (mix(weak) >> slot_shift) as usize;
            while slots[slot] != Slot::EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = Slot {
                weak,
                group_start: pos as u32,
            };
        }

        SignatureIndex {
            sig,
            hasher,
            tags,
            tag_shift,
            order,
            slots,
            slot_shift,
            tail,
        }
    }

    /// Block size of the signature.
    pub fn block_size(&self) -> u32 {
        self.sig.block_size
    }

    /// Length of the basis file the signature describes.
    pub fn file_len(&self) -> u64 {
        self.sig.file_len
    }

    /// The signature this index was built from.
    pub fn signature(&self) -> &Signature {
        &self.sig
    }

    pub(crate) fn hasher(&self) -> &StrongHasher {
        &self.hasher
    }

    /// The block `block` when it exists and is a full block.
    #[inline]
    pub(crate) fn full_block(&self, block: u32) -> Option<BlockSum> {
        let sum = self.sig.blocks.get(block as usize)?;
        (Some(block) != self.tail).then_some(*sum)
    }

    /// True when no full-size block exists, so no window can ever match.
    pub(crate) fn has_no_full_blocks(&self) -> bool {
        self.order.is_empty()
    }

    /// The short last block and its length, if the basis ends with one.
    pub(crate) fn tail(&self) -> Option<(u32, usize, BlockSum)> {
        let block = self.tail?;
        let len = self.sig.file_len % u64::from(self.sig.block_size);
        Some((block, len as usize, self.sig.blocks[block as usize]))
    }

    /// Offset of `block` in the basis.
    pub(crate) fn offset_of(&self, block: u32) -> u64 {
        u64::from(block) * u64::from(self.sig.block_size)
    }

    /// False when no full block has this weak checksum (one memory read); true means "maybe".
    #[inline(always)]
    pub(crate) fn maybe_contains(&self, weak: u32) -> bool {
        let tag = (mix(weak) >> self.tag_shift) as usize;
        // The shift leaves exactly as many bits as the table has, so the index is in range.
        self.tags
            .get(tag / 64)
            .is_some_and(|word| word & (1 << (tag % 64)) != 0)
    }

    /// The blocks sharing this weak checksum, sorted by strong hash (empty if none).
    pub(crate) fn group(&self, weak: u32) -> &[u32] {
        let mask = self.slots.len() - 1;
        let mut slot = (mix(weak) >> self.slot_shift) as usize;
        loop {
            let Slot {
                weak: found,
                group_start,
            } = self.slots[slot];
            if group_start == Slot::EMPTY.group_start {
                return &[];
            }
            if found == weak {
                let start = group_start as usize;
                let len = self.order[start..]
                    .iter()
                    .take_while(|&&b| self.sig.blocks[b as usize].weak == weak)
                    .count();
                return &self.order[start..start + len];
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The block in `group` whose strong hash is `strong`.
    pub(crate) fn find_strong(&self, group: &[u32], strong: StrongSum) -> Option<u32> {
        group
            .binary_search_by_key(&strong, |&b| self.sig.blocks[b as usize].strong)
            .ok()
            .map(|i| group[i])
    }
}

/// One entry of the weak-checksum table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    weak: u32,
    /// Where the group of blocks with this weak checksum starts in `order`.
    group_start: u32,
}

impl Slot {
    /// No block has more than `u32::MAX` blocks before it, so this start never occurs.
    const EMPTY: Slot = Slot {
        weak: 0,
        group_start: u32::MAX,
    };
}

/// Fibonacci hashing: spreads the weak checksum's entropy into the top bits.
#[inline(always)]
fn mix(weak: u32) -> u32 {
    weak.wrapping_mul(0x9e37_79b1)
}
