//! `apply` on arbitrary deltas: any input is either a valid delta or an error, never a
//! panic, and never more output than the limit.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let basis: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 251) as u8).collect();
    // Give the fuzzer a head start: most inputs get the valid header prepended.
    let mut delta = Vec::with_capacity(data.len() + 4);
    if data.first().is_some_and(|&b| b & 1 == 0) {
        delta.extend_from_slice(b"SYD\x01");
    }
    delta.extend_from_slice(data.get(1..).unwrap_or_default());
    let mut out = Vec::new();
    if let Ok(written) = sy_delta::apply_limited(Cursor::new(&basis), &delta[..], &mut out, LIMIT) {
        assert_eq!(written, out.len() as u64);
    }
    assert!(out.len() as u64 <= LIMIT);
});
