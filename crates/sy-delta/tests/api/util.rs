//! Shared fixtures: deterministic data and a checked round trip.

use std::io::Cursor;

use sy_delta::{DeltaWriter, DiffStats, Signature, SignatureOptions, apply, diff};

/// `len` pseudo-random bytes from `seed` (xorshift; fast even in debug builds).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What one round trip produced.
pub struct RoundTrip {
    pub delta: Vec<u8>,
    pub stats: DiffStats,
}

/// Signature (through its serialised form) → diff → encoded delta → apply, asserting that
/// the output is `new` byte for byte.
pub fn round_trip(old: &[u8], new: &[u8], opts: SignatureOptions) -> RoundTrip {
    let sig = Signature::calculate(old, opts).unwrap();
    assert_eq!(sig.file_len(), old.len() as u64);
    let sig = Signature::from_bytes(&sig.to_bytes()).unwrap();
    let mut writer = DeltaWriter::new(Vec::new());
    let stats = diff(&sig.index(), new, &mut writer).unwrap();
    let delta = writer.finish().unwrap();
    assert_eq!(stats.literal_bytes + stats.copied_bytes, new.len() as u64);
    let mut out = Vec::new();
    let written = apply(Cursor::new(old), &delta[..], &mut out).unwrap();
    assert_eq!(written, new.len() as u64);
    assert!(out == new, "rebuilt file differs from the new file");
    RoundTrip { delta, stats }
}
