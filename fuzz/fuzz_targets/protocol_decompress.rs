//! The compressed stream on arbitrary bytes: the block layer and zstd behind a valid Hello, and
//! the bare decompressor with bounded output. Never panics, never inflates past its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sy_protocol::bytes::BytesMut;
use sy_protocol::{Decompressor, Endpoint, Hello, Role};

const STEP: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&Endpoint::new(Role::Client, Hello::new(1).with_compression(3)).take_output());
    agent.receive(data);
    agent.receive_eof();
    while let Ok(Some(_)) = agent.poll_message() {}

    let Ok(mut decompressor) = Decompressor::new() else {
        return;
    };
    let mut offset = 0;
    let mut total = 0usize;
    while total < 64 << 20 {
        let mut out = BytesMut::new();
        let Ok(step) = decompressor.decompress(&data[offset..], &mut out, STEP) else {
            break;
        };
        assert!(
            step.produced <= 2 * STEP,
            "one step produced {} bytes",
            step.produced
        );
        assert_eq!(step.produced, out.len());
        offset += step.consumed;
        total += step.produced;
        if step.consumed == 0 && step.produced == 0 {
            break;
        }
    }
});
