//! The agent's request handling on a hostile client's bytes: a valid Hello (so the fuzzer
//! starts past the handshake), then the input, into `sy_transport::serve` on a fresh tree.
//! Never panics, never hangs, never creates anything outside its root.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = sy_fuzz::client_hello();
    input.extend_from_slice(data);
    sy_fuzz::run_session(&input);
});
