//! `agent_serve` without the head start: the input is the client's stream from its first byte,
//! handshake included.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sy_fuzz::run_session(data));
