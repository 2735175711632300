//! Property: for any old file, any edit and any block size, apply(old, diff(sig(old), new)) == new.

use std::io::Cursor;

use proptest::prelude::*;
use sy_delta::{DeltaOp, Patcher, Result, Signature, SignatureOptions, diff};

use crate::util::{random_bytes, round_trip};

/// An edit turning the old file into the new one. Positions are fractions of the
/// current length (in 1/65536ths) so that they stay valid after earlier edits.
#[derive(Debug, Clone)]
enum Edit {
    Insert { at: u16, len: usize, seed: u64 },
    Delete { at: u16, len: usize },
    Replace { at: u16, len: usize, seed: u64 },
    Move { from: u16, len: usize, to: u16 },
    Truncate { at: u16 },
    Append { len: usize, seed: u64 },
    AllNew { len: usize, seed: u64 },
}

fn position(fraction: u16, len: usize) -> usize {
    (len as u64 * u64::from(fraction) / 65536) as usize
}

impl Edit {
    fn apply(&self, data: &mut Vec<u8>) {
        match *self {
            Edit::Insert { at, len, seed } => {
                let at = position(at, data.len());
                data.splice(at..at, random_bytes(seed, len));
            }
            Edit::Delete { at, len } => {
                let at = position(at, data.len());
                let end = (at + len).min(data.len());
                data.drain(at..end);
            }
            Edit::Replace { at, len, seed } => {
                let at = position(at, data.len());
                let end = (at + len).min(data.len());
                data.splice(at..end, random_bytes(seed, end - at));
            }
            Edit::Move { from, len, to } => {
                let from = position(from, data.len());
                let end = (from + len).min(data.len());
                let moved: Vec<u8> = data.drain(from..end).collect();
                let to = position(to, data.len());
                data.splice(to..to, moved);
            }
            Edit::Truncate { at } => data.truncate(position(at, data.len())),
            Edit::Append { len, seed } => data.extend(random_bytes(seed, len)),
            Edit::AllNew { len, seed } => *data = random_bytes(seed, len),
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let len = prop_oneof![0usize..64, 0usize..8192, 0usize..200_000];
    prop_oneof![
        (any::<u16>(), len.clone(), any::<u64>()).prop_map(|(at, len, seed)| Edit::Insert {
            at,
            len,
            seed
        }),
        (any::<u16>(), len.clone()).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<u16>(), len.clone(), any::<u64>()).prop_map(|(at, len, seed)| Edit::Replace {
            at,
            len,
            seed
        }),
        (any::<u16>(), len.clone(), any::<u16>()).prop_map(|(from, len, to)| Edit::Move {
            from,
            len,
            to
        }),
        any::<u16>().prop_map(|at| Edit::Truncate { at }),
        (len.clone(), any::<u64>()).prop_map(|(len, seed)| Edit::Append { len, seed }),
        (len, any::<u64>()).prop_map(|(len, seed)| Edit::AllNew { len, seed }),
    ]
}

/// Old files from empty to 4 MiB, random or made of a repeated short pattern (many
/// identical blocks).
fn old_file() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![4 => 0usize..4096, 3 => 0usize..256 << 10, 1 => 0usize..4 << 20];
    (len, any::<u64>(), any::<bool>()).prop_map(|(len, seed, repetitive)| {
        if repetitive {
            random_bytes(seed, 13)
                .into_iter()
                .cycle()
                .take(len)
                .collect()
        } else {
            random_bytes(seed, len)
        }
    })
}

/// Block sizes from 1 to larger than the file, picked as a fraction of its length.
fn block_size_for(choice: u8, len: usize) -> u32 {
    let size = match choice % 6 {
        // One-byte blocks hash every position: keep them to small files.
        0 if len <= 64 << 10 => 1,
        0 | 1 => 64,
        2 => SignatureOptions::for_len(len as u64).block_size() as usize,
        3 => 700 + usize::from(choice) * 31,
        4 => len + 1 + usize::from(choice),
        _ => len.max(1) * 2,
    };
    u32::try_from(size.clamp(1, sy_delta::MAX_BLOCK_SIZE as usize)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn apply_of_diff_rebuilds_the_new_file(
        old in old_file(),
        edits in proptest::collection::vec(edit(), 0..4),
        block_choice in any::<u8>(),
        strong_len in 8u8..=16,
        seed in any::<u64>(),
    ) {
        let mut new = old.clone();
        for edit in &edits {
            edit.apply(&mut new);
        }
        let opts = SignatureOptions::for_len(old.len() as u64)
            .with_block_size(block_size_for(block_choice, old.len()))
            .with_strong_len(strong_len)
            .with_seed(seed);
        let result = round_trip(&old, &new, opts);
        if edits.is_empty() && !old.is_empty() {
            prop_assert_eq!(result.stats.literal_bytes, 0);
        }
    }
}

#[test]
fn diff_straight_into_a_patcher_matches_the_encoded_path() {
    let old = random_bytes(7, 300_000);
    let mut new = old.clone();
    new.splice(5000..9000, random_bytes(8, 100));
    new.extend_from_slice(&old[..70_000]);
    let sig = Signature::calculate(&old[..], SignatureOptions::for_len(300_000)).unwrap();
    let mut out = Vec::new();
    let mut patcher = Patcher::new(Cursor::new(&old), &mut out, u64::MAX);
    let stats = diff(&sig.index(), &new[..], &mut patcher).unwrap();
    assert_eq!(patcher.finish().unwrap(), new.len() as u64);
    assert!(out == new);
    assert!(stats.copied_bytes >= 290_000, "{stats:?}");
}

#[test]
fn a_closure_sink_sees_coalesced_copies_and_bounded_literals() {
    let old = random_bytes(9, 1 << 20);
    let mut new = random_bytes(10, 300_000);
    new.extend_from_slice(&old);
    let sig = Signature::calculate(&old[..], SignatureOptions::for_len(1 << 20)).unwrap();
    let mut ops = Vec::new();
    diff(
        &sig.index(),
        &new[..],
        &mut |op: DeltaOp<&[u8]>| -> Result<()> {
            ops.push(match op {
                DeltaOp::Copy { offset, len } => (true, offset, len),
                DeltaOp::Literal(bytes) => {
                    assert!(bytes.len() <= sy_delta::MAX_LITERAL_LEN);
                    (false, 0, bytes.len() as u64)
                }
            });
            Ok(())
        },
    )
    .unwrap();
    let literal: u64 = ops.iter().filter(|op| !op.0).map(|op| op.2).sum();
    assert_eq!(literal, 300_000);
    assert_eq!(ops.iter().filter(|op| !op.0).count(), 3, "{ops:?}");
    assert_eq!(ops.last(), Some(&(true, 0, 1 << 20)));
}
