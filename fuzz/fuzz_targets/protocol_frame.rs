//! Frame decoder on arbitrary bytes: never panics, and every message it accepts re-encodes to a
//! frame of its `encoded_len` that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sy_protocol::bytes::BytesMut;
use sy_protocol::{Decoder, Encoder, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut decoder = Decoder::new(limits);
    let mut input = BytesMut::from(data);
    while let Ok(Some(message)) = decoder.decode_eof(&mut input) {
        let mut frame = BytesMut::new();
        Encoder::new(limits)
            .encode(&message, &mut frame)
            .expect("a message the decoder accepted must re-encode");
        assert_eq!(message.encoded_len(), frame.len());
        let again = Decoder::new(limits)
            .decode(&mut frame)
            .expect("a re-encoded message must decode")
            .expect("a re-encoded message is one whole frame");
        assert_eq!(again, message);
        assert!(frame.is_empty());
    }
});
