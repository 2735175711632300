//! signature → diff → apply on fuzzer-chosen files and block sizes rebuilds the new file.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sy_delta::{DeltaWriter, Signature, SignatureOptions, apply, diff};

fuzz_target!(|data: &[u8]| {
    let Some((&[block, split_hi, split_lo], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let split = (usize::from(split_hi) << 8 | usize::from(split_lo)).min(rest.len());
    let (old, new) = rest.split_at(split);
    let opts =
        SignatureOptions::for_len(old.len() as u64).with_block_size(u32::from(block % 64) + 1);
    let sig = Signature::calculate(old, opts).expect("valid options");
    let mut writer = DeltaWriter::new(Vec::new());
    diff(&sig.index(), new, &mut writer).expect("diff into memory cannot fail");
    let delta = writer.finish().expect("writing to memory cannot fail");
    let mut out = Vec::new();
    apply(Cursor::new(old), &delta[..], &mut out).expect("own delta applies");
    assert_eq!(out, new);
});
