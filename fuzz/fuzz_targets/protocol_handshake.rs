//! Handshake decoder and negotiation on arbitrary bytes, then whatever follows the Hello through
//! an endpoint: never panics; a Hello it accepts survives encode/decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sy_protocol::bytes::BytesMut;
use sy_protocol::{Endpoint, Hello, PROTOCOL_VERSIONS, Role, negotiate};

fuzz_target!(|data: &[u8]| {
    let mut input = BytesMut::from(data);
    if let Ok(Some(peer)) = Hello::decode(&mut input, true, PROTOCOL_VERSIONS) {
        let mut encoded = BytesMut::new();
        peer.encode(&mut encoded);
        let again = Hello::decode(&mut encoded, true, PROTOCOL_VERSIONS)
            .expect("a re-encoded Hello must decode")
            .expect("a re-encoded Hello is complete");
        assert_eq!(again, peer);
        let local = Hello::new(1).with_compression(3);
        for role in [Role::Client, Role::Agent] {
            if let Ok(session) = negotiate(role, &local, &peer) {
                assert!(session.max_strong_len <= sy_protocol::MAX_STRONG_LEN);
                assert!(session.max_frame <= sy_protocol::MAX_MAX_FRAME);
            }
        }
    }

    let mut endpoint = Endpoint::new(Role::Client, Hello::new(1).with_compression(3));
    endpoint.receive(data);
    endpoint.receive_eof();
    while let Ok(Some(_)) = endpoint.poll_message() {}
});
