//! Building the look-up index of a signature, and diffing against it, when the signature
//! comes from a hostile peer: checksums crafted to pile up in the index's hash table
//! (what the former unkeyed hash sent to one slot), or one weak checksum for every block —
//! against a benign signature of the same size. Each should take about the same time.
//!
//! `SY_FLOOD_SIG_MIB` sets the size of the serialised signature (default 4; 64 is the
//! issue's figure): `cargo bench -p sy-benches --bench index_flood`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sy_delta::{DeltaWriter, SIGNATURE_MAGIC, SIGNATURE_VERSION, Signature, diff};

const STRONG_LEN: u8 = 8;
const BLOCK_SIZE: u32 = 700;
/// Bytes of the new file each diff reads.
const NEW_LEN: usize = 16 << 20;

fn signature_mib() -> usize {
    std::env::var("SY_FLOOD_SIG_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(4)
}

/// xorshift64: deterministic and fast.
struct Xorshift(u64);

impl Xorshift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The inverse of the former unkeyed multiplier `0x9e3779b1` modulo 2³² (Newton's
/// iteration doubles the correct low bits each step).
const UNKEYED_INVERSE: u32 = {
    const MULTIPLIER: u32 = 0x9e37_79b1;
    let mut inverse = MULTIPLIER;
    let mut step = 0;
    while step < 5 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(MULTIPLIER.wrapping_mul(inverse)));
        step += 1;
    }
    inverse
};

#[derive(Clone, Copy)]
enum Kind {
    /// Random checksums, as a real file's are.
    Benign,
    /// Multiples of the inverse of the former unkeyed multiplier `0x9e3779b1`, which it
    /// hashed to 0, 1, 2…: all in one run of slots.
    CraftedSlots,
    /// Every block under one weak checksum, with distinct strong hashes.
    CraftedOneWeak,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Benign => "benign",
            Kind::CraftedSlots => "crafted-colliding-slots",
            Kind::CraftedOneWeak => "crafted-one-weak-sum",
        }
    }

    fn weak(self, block: u32, rng: &mut Xorshift) -> u32 {
        match self {
            Kind::Benign => rng.next_u64() as u32,
            Kind::CraftedSlots => block.wrapping_mul(UNKEYED_INVERSE),
            Kind::CraftedOneWeak => 0x5eed,
        }
    }
}

/// A serialised signature of about `bytes` bytes, as a peer would send it.
fn signature_bytes(kind: Kind, bytes: usize) -> Vec<u8> {
    let entry = 4 + usize::from(STRONG_LEN);
    let blocks = (bytes - 28) / entry;
    let mut out = Vec::with_capacity(28 + blocks * entry);
    out.extend_from_slice(&SIGNATURE_MAGIC);
    out.extend_from_slice(&[SIGNATURE_VERSION, STRONG_LEN, 0, 0]);
    out.extend_from_slice(&BLOCK_SIZE.to_le_bytes());
    out.extend_from_slice(&7u64.to_le_bytes());
    out.extend_from_slice(&(blocks as u64 * u64::from(BLOCK_SIZE)).to_le_bytes());
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    for block in 0..blocks as u32 {
        out.extend_from_slice(&kind.weak(block, &mut rng).to_le_bytes());
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = Xorshift(42);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

fn benches(c: &mut Criterion) {
    let sig_len = signature_mib() << 20;
    let kinds = [Kind::Benign, Kind::CraftedSlots, Kind::CraftedOneWeak];
    let signatures: Vec<(Kind, Signature)> = kinds
        .iter()
        .map(|&kind| {
            let sig = Signature::from_bytes(&signature_bytes(kind, sig_len)).unwrap();
            (kind, sig)
        })
        .collect();

    let mut g = c.benchmark_group(format!("index-build-{}MiB-signature", sig_len >> 20));
    g.throughput(Throughput::Bytes(sig_len as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (kind, sig) in &signatures {
        g.bench_function(kind.name(), |b| {
            b.iter_batched(|| sig.clone(), Signature::into_index, BatchSize::LargeInput)
        });
    }
    g.finish();

    let new = random_bytes(NEW_LEN);
    let mut g = c.benchmark_group(format!("diff-against-{}MiB-signature", sig_len >> 20));
    g.throughput(Throughput::Bytes(NEW_LEN as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (kind, sig) in &signatures {
        let index = sig.index();
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                let mut writer = DeltaWriter::new(Vec::with_capacity(NEW_LEN + NEW_LEN / 64));
                diff(&index, black_box(&new[..]), &mut writer).unwrap();
                writer.finish().unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(index_flood, benches);
criterion_main!(index_flood);
