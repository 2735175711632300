//! Byte counts, not times: how much a delta carries for typical changes.

use sy_delta::{Signature, SignatureOptions};

use crate::util::{random_bytes, round_trip};

const EIGHT_MIB: usize = 8 << 20;

#[test]
fn identical_files_need_no_literal_bytes_and_a_tiny_delta() {
    let old = random_bytes(1, EIGHT_MIB);
    let result = round_trip(&old, &old, SignatureOptions::for_len(old.len() as u64));
    assert_eq!(result.stats.literal_bytes, 0);
    assert_eq!(result.stats.ops, 1, "one coalesced copy");
    assert!(
        result.delta.len() < 1024,
        "delta is {} bytes",
        result.delta.len()
    );
}

#[test]
fn one_percent_changed_in_ten_places_costs_at_most_two_percent() {
    let old = random_bytes(2, EIGHT_MIB);
    let mut new = old.clone();
    let changed_per_place = EIGHT_MIB / 100 / 10;
    for place in 0..10 {
        let at = place * (EIGHT_MIB / 10) + 12_345;
        let fresh = random_bytes(100 + place as u64, changed_per_place);
        new[at..at + changed_per_place].copy_from_slice(&fresh);
    }
    let result = round_trip(&old, &new, SignatureOptions::for_len(old.len() as u64));
    let limit = EIGHT_MIB as u64 / 50;
    assert!(
        result.stats.literal_bytes <= limit,
        "{} literal bytes, limit {limit}",
        result.stats.literal_bytes
    );
    assert!(result.stats.literal_bytes >= (changed_per_place * 10) as u64);
    assert!((result.delta.len() as u64) < limit + 1024);
}

#[test]
fn scattered_edits_cost_fewer_bytes_than_with_rsyncs_block_size() {
    // 32 MiB with 1% rewritten in 100 places: the shape of the benchmark's W2, smaller.
    let len = 32 << 20;
    let old = random_bytes(11, len);
    let mut new = old.clone();
    let stretch = len / 10_000;
    for place in 0..100 {
        let at = place * (len / 100) + (place * 7919) % (len / 100 - stretch);
        new[at..at + stretch].copy_from_slice(&random_bytes(200 + place as u64, stretch));
    }
    let wire = |opts: SignatureOptions| {
        let sig = Signature::calculate(&old[..], opts)
            .unwrap()
            .to_bytes()
            .len();
        sig + round_trip(&old, &new, opts).delta.len()
    };
    let default = SignatureOptions::for_len(len as u64);
    let rsyncs = default.with_block_size((len as u64).isqrt() as u32);
    assert_eq!(default.block_size() * 2, rsyncs.block_size());
    let (ours, theirs) = (wire(default), wire(rsyncs));
    // Each stretch drags about one block of unchanged bytes into the literals; halving the
    // block saves more of those than the larger signature costs.
    assert!(
        ours * 100 < theirs * 95,
        "{ours} bytes with the default, {theirs} with sqrt(len) blocks"
    );
}

#[test]
fn an_insertion_shifts_nothing_else_into_literals() {
    let old = random_bytes(3, 1 << 20);
    let mut new = old.clone();
    new.splice(100_000..100_000, random_bytes(4, 17));
    let opts = SignatureOptions::for_len(old.len() as u64);
    let result = round_trip(&old, &new, opts);
    // The insertion plus the rest of the block it landed in.
    assert!(result.stats.literal_bytes <= 17 + u64::from(opts.block_size()));
}

#[test]
fn repeated_blocks_still_coalesce_into_one_copy() {
    let old = vec![0u8; 1 << 20];
    let result = round_trip(&old, &old, SignatureOptions::for_len(old.len() as u64));
    assert_eq!(result.stats.literal_bytes, 0);
    assert_eq!(result.stats.ops, 1);
}

#[test]
fn long_unchanged_stretches_are_cut_into_bounded_copies() {
    let len = 2 * sy_delta::MAX_COPY_LEN as usize + 4096;
    let old = random_bytes(3, len);
    let result = round_trip(&old, &old, SignatureOptions::for_len(len as u64));
    assert_eq!(result.stats.literal_bytes, 0);
    assert_eq!(result.stats.ops, 3, "16 MiB + 16 MiB + the rest");
    assert!(result.delta.len() < 1024);
}
