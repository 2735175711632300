//! Hostile input: every malformed delta or signature is an `Err`, never a panic.

use std::io::Cursor;

use proptest::prelude::*;
use sy_delta::{
    DeltaOp, DeltaReader, DeltaSink, DeltaWriter, Error, Patcher, Signature, SignatureOptions,
    apply, apply_limited, diff,
};

use crate::util::random_bytes;

const HEADER: &[u8] = b"SYD\x01";

fn basis() -> Vec<u8> {
    random_bytes(21, 50_000)
}

fn valid_delta(old: &[u8]) -> Vec<u8> {
    let mut new = old.to_vec();
    new.splice(10_000..10_100, random_bytes(22, 3000));
    new.extend_from_slice(b"tail");
    let sig = Signature::calculate(old, SignatureOptions::for_len(old.len() as u64)).unwrap();
    let mut writer = DeltaWriter::new(Vec::new());
    diff(&sig.index(), &new[..], &mut writer).unwrap();
    writer.finish().unwrap()
}

fn apply_to_vec(old: &[u8], delta: &[u8]) -> sy_delta::Result<Vec<u8>> {
    let mut out = Vec::new();
    apply(Cursor::new(old), delta, &mut out).map(|_| out)
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// The first Copy op of a delta (its offset is relative to 0).
fn first_copy(offset: u64, len: u64) -> Vec<u8> {
    let shift = offset as i64;
    let mut op = vec![0x01];
    op.extend(varint(((shift << 1) ^ (shift >> 63)) as u64));
    op.extend(varint(len - 1));
    op
}

fn literal_header(len: u64) -> Vec<u8> {
    let mut op = vec![0x02];
    op.extend(varint(len - 1));
    op
}

fn delta_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

#[test]
fn a_delta_truncated_at_any_byte_is_an_error() {
    let old = basis();
    let delta = valid_delta(&old);
    assert!(apply_to_vec(&old, &delta).is_ok());
    for cut in 0..delta.len() {
        let result = apply_to_vec(&old, &delta[..cut]);
        assert!(
            matches!(result, Err(Error::Truncated { .. })),
            "cut at {cut} of {}: {result:?}",
            delta.len()
        );
    }
}

#[test]
fn huge_literal_lengths_fail_without_allocating_them() {
    let old = basis();
    for len in [1u64 << 32, u64::MAX] {
        let delta = delta_of(&[&literal_header(len), b"only a few bytes"]);
        assert!(matches!(
            apply_to_vec(&old, &delta),
            Err(Error::Truncated { .. })
        ));
        let mut out = Vec::new();
        let limited = apply_limited(Cursor::new(&old), &delta[..], &mut out, 1 << 20);
        assert!(
            matches!(limited, Err(Error::OutputLimit { limit: 1_048_576 })),
            "{limited:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn copies_outside_the_basis_are_refused() {
    let old = basis();
    let end = old.len() as u64;
    for (offset, len) in [
        (0, end + 1),
        (end, 1),
        (1 << 32, 1),
        (u64::MAX, 1),
        (1, u64::MAX),
        (0, 1 << 32),
    ] {
        let delta = delta_of(&[&first_copy(offset, len), &[0x00]]);
        let result = apply_to_vec(&old, &delta);
        assert!(
            matches!(result, Err(Error::CopyOutOfRange { .. })),
            "copy {offset}+{len}: {result:?}"
        );
    }
}

#[test]
fn output_over_the_limit_is_refused_before_it_is_written() {
    let old = basis();
    let delta = valid_delta(&old);
    let mut out = Vec::new();
    let result = apply_limited(Cursor::new(&old), &delta[..], &mut out, 20_000);
    assert!(
        matches!(result, Err(Error::OutputLimit { limit: 20_000 })),
        "{result:?}"
    );
    assert!(out.len() <= 20_000);

    let mut out = Vec::new();
    let mut patcher = Patcher::new(Cursor::new(&old), &mut out, 10);
    assert!(patcher.op(DeltaOp::Literal(b"0123456789")).is_ok());
    assert!(matches!(
        patcher.op(DeltaOp::Literal(b"x")),
        Err(Error::OutputLimit { limit: 10 })
    ));
    assert!(matches!(
        patcher.op(DeltaOp::Copy {
            offset: 0,
            len: u64::MAX
        }),
        Err(Error::OutputLimit { .. })
    ));
}

#[test]
fn bad_headers_unknown_ops_and_overflowing_fields_are_typed_errors() {
    let old = basis();
    assert!(matches!(
        apply_to_vec(&old, b"RSYN\x01\x00"),
        Err(Error::BadMagic { .. })
    ));
    assert!(matches!(
        apply_to_vec(&old, b"SYD\x02\x00"),
        Err(Error::UnsupportedVersion { version: 2, .. })
    ));
    assert!(matches!(
        apply_to_vec(&old, &delta_of(&[&[0x07]])),
        Err(Error::UnknownOp { tag: 7 })
    ));
    // A stored length of 2^64 − 1 means 2^64 bytes.
    let too_long = delta_of(&[&[0x02], &varint(u64::MAX), &[0x00]]);
    assert!(matches!(
        apply_to_vec(&old, &too_long),
        Err(Error::Malformed { .. })
    ));
    let overlong_varint = delta_of(&[&[0x02], &[0xff; 10], &[0x01]]);
    assert!(matches!(
        apply_to_vec(&old, &overlong_varint),
        Err(Error::Malformed { .. })
    ));
    assert_eq!(apply_to_vec(&old, &delta_of(&[&[0x00]])).unwrap(), b"");
    let two_ops = delta_of(&[&first_copy(5, 3), &literal_header(2), b"xy", &[0x00]]);
    assert_eq!(
        apply_to_vec(&old, &two_ops).unwrap(),
        [&old[5..8], b"xy"].concat()
    );
}

#[test]
fn the_reader_streams_a_long_literal_in_bounded_pieces() {
    let payload = random_bytes(23, 300_000);
    let mut writer = DeltaWriter::new(Vec::new());
    writer.op(DeltaOp::Literal(&payload)).unwrap();
    let delta = writer.finish().unwrap();
    let mut reader = DeltaReader::new(&delta[..]);
    let mut pieces = Vec::new();
    while let Some(op) = reader.next_op().unwrap() {
        let DeltaOp::Literal(bytes) = op else {
            panic!("unexpected {op:?}")
        };
        pieces.push(bytes.to_vec());
    }
    assert!(reader.is_done());
    assert!(pieces.iter().all(|p| p.len() <= sy_delta::MAX_LITERAL_LEN));
    assert_eq!(pieces.concat(), payload);
}

fn signature_bytes() -> Vec<u8> {
    let data = random_bytes(24, 20_000);
    Signature::calculate(
        &data[..],
        SignatureOptions::for_len(20_000).with_block_size(1000),
    )
    .unwrap()
    .to_bytes()
}

#[test]
fn a_signature_truncated_at_any_byte_is_an_error() {
    let bytes = signature_bytes();
    for cut in 0..bytes.len() {
        assert!(
            Signature::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
        assert!(
            Signature::read_from(&mut &bytes[..cut], u64::MAX).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Signature::from_bytes(&longer),
        Err(Error::SignatureLength { .. })
    ));
}

#[test]
fn signature_headers_with_absurd_fields_are_refused() {
    let bytes = signature_bytes();
    let with = |at: usize, field: &[u8]| {
        let mut copy = bytes.clone();
        copy[at..at + field.len()].copy_from_slice(field);
        copy
    };
    let cases = [
        with(0, b"SYSX"),
        with(4, &[9]),
        with(5, &[7]),
        with(5, &[17]),
        with(6, &[1]),
        with(8, &0u32.to_le_bytes()),
        with(8, &u32::MAX.to_le_bytes()),
        with(20, &(1u64 << 32).to_le_bytes()),
        with(20, &u64::MAX.to_le_bytes()),
        with(8, &1u32.to_le_bytes()),
    ];
    for (i, case) in cases.iter().enumerate() {
        assert!(Signature::from_bytes(case).is_err(), "case {i}");
        assert!(
            Signature::read_from(&mut &case[..], u64::MAX).is_err(),
            "case {i}"
        );
    }
    assert!(matches!(
        Signature::read_from(&mut &bytes[..], 3),
        Err(Error::SignatureTooLarge {
            blocks: 20,
            limit: 3
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_deltas_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let old = basis();
        let _ = apply_to_vec(&old, &delta_of(&[&tail]));
        let _ = apply_to_vec(&old, &tail);
    }

    #[test]
    fn random_signatures_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        strong_len in 0u8..20,
        block_size in prop_oneof![0u32..4, 0u32..2000, any::<u32>()],
        file_len in prop_oneof![0u64..10_000, any::<u64>()],
    ) {
        let mut bytes = b"SYSG\x01".to_vec();
        bytes.push(strong_len);
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&block_size.to_le_bytes());
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(&file_len.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(sig) = Signature::from_bytes(&bytes) {
            // A signature that decodes is fully usable.
            let mut writer = DeltaWriter::new(Vec::new());
            diff(&sig.index(), &body[..], &mut writer).unwrap();
        }
        let _ = Signature::read_from(&mut &bytes[..], 1 << 16);
        let _ = Signature::from_bytes(&body);
    }
}

/// Blocks crafted to share the weak checksum of a basis block but not its content: +1
/// and −1 on neighbours at two places keep both Adler sums unchanged.
fn weak_collisions(block: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() * count);
    let half = block.len() / 2;
    for n in 0..count {
        let (i, j) = (n % (half - 1), half + n / (half - 1));
        let mut variant = block.to_vec();
        variant[i] += 1;
        variant[i + 1] -= 1;
        variant[j] -= 1;
        variant[j + 1] += 1;
        out.extend_from_slice(&variant);
    }
    out
}

#[test]
fn crafted_weak_collisions_stop_being_hashed_but_never_break_the_result() {
    // Bytes in 1..=254 so that ±1 stays a byte.
    let block: Vec<u8> = random_bytes(25, 64).iter().map(|b| b % 254 + 1).collect();
    let opts = SignatureOptions::for_len(64).with_block_size(64);
    let sig = Signature::calculate(&block[..], opts).unwrap();

    let mut few = weak_collisions(&block, 10);
    few.extend_from_slice(&block);
    let mut writer = DeltaWriter::new(Vec::new());
    let stats = diff(&sig.index(), &few[..], &mut writer).unwrap();
    assert_eq!(stats.literal_bytes, 10 * 64, "the real block still matches");
    assert_eq!(
        apply_to_vec(&block, &writer.finish().unwrap()).unwrap(),
        few
    );

    let mut many = weak_collisions(&block, 300);
    many.extend_from_slice(&block);
    let mut writer = DeltaWriter::new(Vec::new());
    let stats = diff(&sig.index(), &many[..], &mut writer).unwrap();
    assert_eq!(
        stats.literal_bytes,
        301 * 64,
        "that weak checksum is ignored by now"
    );
    assert_eq!(
        apply_to_vec(&block, &writer.finish().unwrap()).unwrap(),
        many
    );
}

#[test]
fn errors_explain_themselves() {
    let old = basis();
    let copy = delta_of(&[&first_copy(50_000, 1), &[0x00]]);
    assert_eq!(
        apply_to_vec(&old, &copy).unwrap_err().to_string(),
        "copy of 1 bytes at offset 50000 is outside the basis of 50000 bytes"
    );
    assert_eq!(
        apply_to_vec(&old, &delta_of(&[&literal_header(3), b"ab"]))
            .unwrap_err()
            .to_string(),
        "truncated delta: input ended while reading literal bytes"
    );
    assert_eq!(
        Signature::from_bytes(b"SYSG\x01\x07")
            .unwrap_err()
            .to_string(),
        "truncated signature: input ended while reading header"
    );
}
