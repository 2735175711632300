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
//!
//! The signature may come from a hostile peer, who picks the weak checksums freely. Two
//! things keep the build and every look-up linear in the worst case:
//! - the weak checksum is hashed with a key drawn at random for each index (`WeakKey`),
//!   so a peer cannot choose checksums that pile up in one run of slots;
//! - a group keeps at most `MAX_BLOCKS_PER_WEAK` blocks and a probe walks at most
//!   `MAX_PROBE` slots, so neither the build nor a look-up can be made quadratic; what
//!   does not fit is left out of the index. A block left out only makes a delta less
//!   compact (its data goes as literal bytes), never wrong.

use std::hash::{BuildHasher, RandomState};

use crate::signature::{BlockSum, Signature, StrongHasher, StrongSum};

const MIN_TAG_BITS_LOG2: u32 = 16;
const MAX_TAG_BITS_LOG2: u32 = 23;
/// Measured on random data: 32 bits per block spent a quarter of the rolling time on chance
/// hits; 128 removes most of that; 256 gains nothing more.
const TAG_BITS_PER_BLOCK_LOG2: u32 = 7;
/// Blocks kept per weak checksum (the lowest strong hashes). Distinct blocks of a real
/// file share a 32-bit weak checksum rarely; a crafted signature that puts every block
/// under one checksum costs at most this many candidates per look-up.
const MAX_BLOCKS_PER_WEAK: usize = 64;
/// Slots a probe walks at most. The table is at most half full; with a random key the
/// longest run measured over 4 Mi random or arithmetic-progression checksums was under 64
/// slots. A weak checksum that finds no free slot within this many is left out.
const MAX_PROBE: usize = 256;

/// A [`Signature`] prepared for [`diff`](crate::diff): built once, then read-only
/// (it is `Send + Sync`, so several diffs may share it).
#[derive(Debug, Clone)]
pub struct SignatureIndex {
    sig: Signature,
    hasher: StrongHasher,
    tags: Vec<u64>,
    tag_shift: u32,
    /// Block numbers of the full-size blocks sorted by (weak, strong), one per distinct
    /// (weak, strong) pair: the lowest block number wins, which keeps copies in order. At
    /// most `MAX_BLOCKS_PER_WEAK` per weak checksum.
    order: Vec<u32>,
    /// Open addressing on the weak checksum. Each slot holds the weak checksum itself,
    /// so a probe that the tag table let through costs one memory read, not three.
    slots: Vec<Slot>,
    slot_shift: u32,
    /// Hashes weak checksums to tags and slots.
    key: WeakKey,
    /// The last block when it is shorter than the block size; it can only match the end
    /// of the new file.
    tail: Option<u32>,
}

impl SignatureIndex {
    pub(crate) fn new(sig: Signature) -> Self {
        SignatureIndex::with_key(sig, WeakKey::random())
    }

    fn with_key(sig: Signature, key: WeakKey) -> Self {
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
        // One pass: drop repeated (weak, strong) pairs and all but the first blocks of a
        // weak checksum shared by too many.
        let mut previous: Option<BlockSum> = None;
        let mut group_len = 0;
        order.retain(|&i| {
            let b = sig.blocks[i as usize];
            if previous == Some(b) {
                return false;
            }
            let same_weak = previous.is_some_and(|p| p.weak == b.weak);
            previous = Some(b);
            group_len = if same_weak { group_len + 1 } else { 1 };
            group_len <= MAX_BLOCKS_PER_WEAK
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
            let home = (key.slot(weak) >> slot_shift) as usize;
            let Some(slot) = (0..MAX_PROBE)
                .map(|step| (home + step) & mask)
                .find(|&slot| slots[slot] == Slot::EMPTY)
            else {
                continue;
            };
            slots[slot] = Slot {
                weak,
                group_start: pos as u32,
            };
            let tag = (key.tag(weak) >> tag_shift) as usize;
            tags[tag / 64] |= 1 << (tag % 64);
        }

        SignatureIndex {
            sig,
            hasher,
            tags,
            tag_shift,
            order,
            slots,
            slot_shift,
            key,
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
        let tag = (self.key.tag(weak) >> self.tag_shift) as usize;
        // The shift leaves exactly as many bits as the table has, so the index is in range.
        self.tags
            .get(tag / 64)
            .is_some_and(|word| word & (1 << (tag % 64)) != 0)
    }

    /// The blocks sharing this weak checksum, sorted by strong hash (empty if none).
    pub(crate) fn group(&self, weak: u32) -> &[u32] {
        let mask = self.slots.len() - 1;
        let home = (self.key.slot(weak) >> self.slot_shift) as usize;
        for step in 0..MAX_PROBE {
            let Slot {
                weak: found,
                group_start,
            } = self.slots[(home + step) & mask];
            if group_start == Slot::EMPTY.group_start {
                return &[];
            }
            if found == weak {
                let start = group_start as usize;
                let len = self.order[start..]
                    .iter()
                    .take(MAX_BLOCKS_PER_WEAK)
                    .take_while(|&&b| self.sig.blocks[b as usize].weak == weak)
                    .count();
                return &self.order[start..start + len];
            }
        }
        &[]
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

/// The key of the two hashes from weak checksums, drawn at random per index.
#[derive(Debug, Clone, Copy)]
struct WeakKey {
    tag_mul: u64,
    tag_add: u64,
    slot: u64,
}

impl WeakKey {
    /// A fresh key from the OS's randomness (std's `RandomState` is seeded from it and
    /// differs per call), so no two indexes, and no two runs, share one.
    fn random() -> Self {
        let state = RandomState::new();
        WeakKey {
            tag_mul: state.hash_one(0u8),
            tag_add: state.hash_one(1u8),
            slot: state.hash_one(2u8),
        }
    }

    /// Where the tag table looks: multiply-add-shift (Dietzfelbinger), the top 32 bits of
    /// `tag_mul·weak + tag_add`. It runs at every rolled byte, so it is one multiply;
    /// structure a peer could exploit costs nothing here, since tags sharing a bit only
    /// set fewer bits.
    #[inline(always)]
    fn tag(self, weak: u32) -> u32 {
        (u64::from(weak)
            .wrapping_mul(self.tag_mul)
            .wrapping_add(self.tag_add)
            >> 32) as u32
    }

    /// Where the slot table looks: MurmurHash3's 64-bit finaliser of the keyed checksum.
    /// Multiply-shift is not enough here: on checksums in arithmetic progression, which a
    /// peer may send, it leaves runs of occupied slots thousands long for some keys.
    #[inline]
    fn slot(self, weak: u32) -> u32 {
        let mut x = u64::from(weak) ^ self.slot;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        (x >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::{DeltaWriter, SignatureOptions, apply, diff};

    const BLOCK_SIZE: u32 = 700;

    /// A signature with these weak checksums and a distinct strong hash per block.
    fn signature_of(weaks: impl IntoIterator<Item = u32>) -> Signature {
        let blocks: Vec<BlockSum> = weaks
            .into_iter()
            .enumerate()
            .map(|(i, weak)| {
                let mut strong = [0u8; 16];
                strong[..8].copy_from_slice(&(i as u64).to_le_bytes());
                BlockSum { weak, strong }
            })
            .collect();
        Signature {
            block_size: BLOCK_SIZE,
            strong_len: 16,
            seed: 0,
            file_len: blocks.len() as u64 * u64::from(BLOCK_SIZE),
            blocks,
        }
    }

    /// The most slots any insertion walked past its home slot.
    fn longest_displacement(index: &SignatureIndex) -> usize {
        let mask = index.slots.len() - 1;
        index
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| **slot != Slot::EMPTY)
            .map(|(at, slot)| {
                let home = (index.key.slot(slot.weak) >> index.slot_shift) as usize;
                at.wrapping_sub(home) & mask
            })
            .max()
            .unwrap_or(0)
    }

    /// Weak checksums that the former unkeyed hash (`weak · 0x9e3779b1`, top bits) sent
    /// to one home slot: the multiples of its inverse, so that it mapped them to 0, 1, 2…
    fn crafted_against_the_unkeyed_hash(count: u32) -> impl Iterator<Item = u32> {
        const MULTIPLIER: u32 = 0x9e37_79b1;
        let mut inverse = MULTIPLIER;
        for _ in 0..5 {
            inverse = inverse.wrapping_mul(2u32.wrapping_sub(MULTIPLIER.wrapping_mul(inverse)));
        }
        assert_eq!(MULTIPLIER.wrapping_mul(inverse), 1);
        (0..count).map(move |i| i.wrapping_mul(inverse))
    }

    #[test]
    fn weak_sums_crafted_to_share_a_slot_spread_out_and_all_stay_findable() {
        let count = 40_000;
        let index = signature_of(crafted_against_the_unkeyed_hash(count)).into_index();
        // Unkeyed, all of them started in the first two slots: runs of 20 000.
        let longest = longest_displacement(&index);
        assert!(longest < 64, "an insertion walked {longest} slots");
        for weak in crafted_against_the_unkeyed_hash(count) {
            assert_eq!(index.group(weak).len(), 1, "weak sum {weak:#x} lost");
            assert!(index.maybe_contains(weak));
        }
    }

    #[test]
    fn probes_stay_bounded_even_when_every_checksum_shares_a_home_slot() {
        // The worst a peer could do if it knew the key: found by search here.
        let key = WeakKey {
            tag_mul: 3,
            tag_add: 5,
            slot: 0x0123_4567_89ab_cdef,
        };
        let count = 1_000;
        // 1 000 blocks get 2 048 slots: the top 11 bits of the hash pick the home slot.
        let weaks: Vec<u32> = (0u32..)
            .filter(|&weak| key.slot(weak) >> 21 == 0)
            .take(count)
            .collect();
        let index = SignatureIndex::with_key(signature_of(weaks.iter().copied()), key);
        assert_eq!(index.slots.len(), 2_048);
        assert!(longest_displacement(&index) < MAX_PROBE);
        let indexed = weaks
            .iter()
            .filter(|&&w| !index.group(w).is_empty())
            .count();
        assert_eq!(indexed, MAX_PROBE, "the run of slots stops at the bound");
        let tagged = weaks.iter().filter(|&&w| index.maybe_contains(w)).count();
        assert!(tagged >= indexed);
    }

    #[test]
    fn blocks_sharing_one_weak_sum_are_capped() {
        let index = signature_of(std::iter::repeat_n(7, 10_000)).into_index();
        assert_eq!(index.group(7).len(), MAX_BLOCKS_PER_WEAK);
        let strongs: Vec<StrongSum> = index
            .group(7)
            .iter()
            .map(|&b| index.sig.blocks[b as usize].strong)
            .collect();
        assert!(strongs.is_sorted(), "a group is sorted by strong hash");
        for &block in index.group(7) {
            let strong = index.sig.blocks[block as usize].strong;
            assert_eq!(index.find_strong(index.group(7), strong), Some(block));
        }
    }

    /// A block of 100s with +1 at `k` and `k + 3` and −1 at `k + 1` and `k + 2`: both
    /// rolling sums, so the weak checksum, are those of the plain block, for every `k`.
    fn block_with_weak_collision(k: usize) -> Vec<u8> {
        let mut block = vec![100u8; BLOCK_SIZE as usize];
        block[k] += 1;
        block[k + 1] -= 1;
        block[k + 2] -= 1;
        block[k + 3] += 1;
        block
    }

    #[test]
    fn a_delta_stays_correct_when_blocks_are_left_out_of_the_index() {
        let blocks = 200;
        let old: Vec<u8> = (0..blocks).flat_map(block_with_weak_collision).collect();
        let opts = SignatureOptions::for_len(old.len() as u64)
            .with_block_size(BLOCK_SIZE)
            .with_seed(1);
        let sig = Signature::calculate(&old[..], opts).expect("signature of bytes in memory");
        let weak = sig.blocks[0].weak;
        assert!(sig.blocks.iter().all(|b| b.weak == weak));
        let index = sig.into_index();
        let kept = index.group(weak).to_vec();
        assert_eq!(kept.len(), MAX_BLOCKS_PER_WEAK);
        // The kept blocks backwards, so the index must find each, then one left out (not
        // the block after the last one copied, which `diff` tries without the index).
        let after_last = kept[0] as usize + 1;
        let left_out = (0..blocks)
            .find(|&k| !kept.contains(&(k as u32)) && k != after_last)
            .expect("200 blocks, 64 kept");
        let new: Vec<u8> = kept
            .iter()
            .rev()
            .map(|&k| k as usize)
            .chain([left_out])
            .flat_map(block_with_weak_collision)
            .collect();
        let mut writer = DeltaWriter::new(Vec::new());
        let stats = diff(&index, &new[..], &mut writer).expect("diff in memory");
        let delta = writer.finish().expect("delta in memory");
        let mut rebuilt = Vec::new();
        apply(Cursor::new(&old), &delta[..], &mut rebuilt).expect("apply in memory");
        assert!(rebuilt == new, "rebuilt file differs from the new file");
        let block = u64::from(BLOCK_SIZE);
        assert_eq!(
            stats.copied_bytes,
            MAX_BLOCKS_PER_WEAK as u64 * block,
            "{stats:?}"
        );
        assert_eq!(stats.literal_bytes, block, "{stats:?}");
    }
}
