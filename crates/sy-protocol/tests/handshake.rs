//! Two endpoints in memory negotiating a session.

use bytes::BytesMut;
use sy_protocol::{
    Basis, Compression, CompressionKind, Endpoint, HashSupport, Hello, MIN_MAX_FRAME, Message,
    PROTOCOL_VERSIONS, ProtocolError, RequestId, Role, StrongHash, VersionRange,
};

use crate::util::{connected, deliver, drain, p};

#[test]
fn compatible_peers_agree_on_the_same_session() {
    let mut agent_hello = Hello::new(0xaaaa);
    agent_hello.max_frame = 1 << 20;
    agent_hello.hashes = vec![HashSupport {
        kind: StrongHash::Xxh3_128,
        max_len: 8,
    }];
    let (client, agent) = connected(Hello::new(0x1111).with_compression(7), agent_hello);
    let session = *client.session().unwrap();
    assert_eq!(agent.session(), Some(&session));
    assert_eq!(session.version, PROTOCOL_VERSIONS.max);
    assert_eq!(session.max_frame, 1 << 20);
    assert_eq!(session.max_strong_len, 8);
    assert_eq!(session.strong_hash, StrongHash::Xxh3_128);
    assert_eq!(
        session.compression,
        Some(Compression {
            kind: CompressionKind::Zstd,
            level: 7
        })
    );
    assert_ne!(session.seed, 0x1111, "the agent's half must count");
    assert_ne!(session.seed, 0xaaaa, "the client's half must count");
}

#[test]
fn compression_is_the_clients_choice_clamped_to_the_agents_levels() {
    let (client, _) = connected(Hello::new(1), Hello::new(2).with_compression(9));
    assert_eq!(
        client.session().unwrap().compression,
        None,
        "agent's wish ignored"
    );

    let mut agent = Hello::new(2);
    agent.compression[0].max_level = 4;
    let (client, _) = connected(Hello::new(1).with_compression(19), agent);
    assert_eq!(client.session().unwrap().compression.unwrap().level, 4);

    let mut agent = Hello::new(2);
    agent.compression.clear();
    let (client, agent) = connected(Hello::new(1).with_compression(3), agent);
    assert_eq!(client.session().unwrap().compression, None);
    assert_eq!(agent.session().unwrap().compression, None);
}

#[test]
fn incompatible_versions_fail_on_both_sides_naming_both() {
    let mut future = Hello::new(2);
    future.versions = VersionRange { min: 2, max: 3 };
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent = Endpoint::new(Role::Agent, future);
    deliver(&mut client, &mut agent);
    deliver(&mut agent, &mut client);

    let err = client.poll_message().unwrap_err();
    assert!(
        matches!(err, ProtocolError::IncompatibleVersion { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "incompatible protocol versions: this side speaks protocol version 1, the peer speaks \
         protocol versions 2 to 3; install matching versions of sy and sy-remote"
    );
    let err = agent.poll_message().unwrap_err().to_string();
    assert!(
        err.contains(
            "this side speaks protocol versions 2 to 3, the peer speaks protocol version 1"
        ),
        "{err}"
    );
}

#[test]
fn version_error_wins_over_a_hello_body_we_cannot_read() {
    // A future Hello: versions 5..=6, then a layout we do not know (truncated here).
    let mut bytes = BytesMut::from(&sy_protocol::MAGIC[..]);
    bytes.extend_from_slice(&[0, 0, 0, 4, 0x01, 0, 5, 0, 6]);
    let err = Hello::decode(&mut bytes, false, PROTOCOL_VERSIONS).unwrap_err();
    assert!(
        matches!(err, ProtocolError::IncompatibleVersion { .. }),
        "{err:?}"
    );
}

#[test]
fn no_common_hash_is_refused() {
    let mut agent = Hello::new(2);
    agent.hashes.clear();
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent = Endpoint::new(Role::Agent, agent);
    deliver(&mut agent, &mut client);
    let err = client.poll_message().unwrap_err().to_string();
    assert_eq!(
        err,
        "no strong hash in common: this side offers xxh3-128 up to 16 bytes, the peer offers none"
    );
}

#[test]
fn tiny_frame_limit_is_refused() {
    let mut agent = Hello::new(2);
    agent.max_frame = MIN_MAX_FRAME - 1;
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent = Endpoint::new(Role::Agent, agent);
    deliver(&mut agent, &mut client);
    let err = client.poll_message().unwrap_err().to_string();
    assert!(
        err.contains("the peer offers a 1048575-byte frame limit, below the minimum of 1048576"),
        "{err}"
    );
}

#[test]
fn hello_split_at_every_byte_boundary() {
    let mut bytes = BytesMut::new();
    let hello = Hello::new(42).with_compression(11);
    hello.encode(&mut bytes);
    for cut in 0..=bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        let first = Hello::decode(&mut buf, false, PROTOCOL_VERSIONS).unwrap();
        let decoded = match first {
            Some(decoded) => decoded,
            None => {
                assert_eq!(buf.len(), cut, "partial Hello consumed");
                buf.extend_from_slice(&bytes[cut..]);
                Hello::decode(&mut buf, false, PROTOCOL_VERSIONS)
                    .unwrap()
                    .unwrap()
            }
        };
        assert_eq!(decoded, hello, "cut at {cut}");
        assert!(buf.is_empty());
    }
}

#[test]
fn connection_closed_during_handshake() {
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent_bytes = Endpoint::new(Role::Agent, Hello::new(2)).take_output();
    client.receive(&agent_bytes.split_to(11));
    assert_eq!(client.poll_message().unwrap(), None);
    client.receive_eof();
    let err = client.poll_message().unwrap_err().to_string();
    assert_eq!(
        err,
        "connection closed before the handshake completed (11 bytes received from the peer)"
    );

    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    client.receive_eof();
    assert!(matches!(
        client.poll_message(),
        Err(ProtocolError::ClosedDuringHandshake { received: 0 })
    ));
}

#[test]
fn messages_sent_before_the_handshake_are_held_then_delivered_in_order() {
    let mut client = Endpoint::new(Role::Client, Hello::new(1).with_compression(3));
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    for id in 0..5 {
        client.send(&Message::Ok { id: RequestId(id) }).unwrap();
    }
    client.flush().unwrap();
    deliver(&mut client, &mut agent);
    assert_eq!(drain(&mut agent), vec![], "only the Hello can have left");
    deliver(&mut agent, &mut client);
    assert_eq!(drain(&mut client), vec![]);
    deliver(&mut client, &mut agent);
    let mut expected: Vec<Message> = (0..5).map(|id| Message::Ok { id: RequestId(id) }).collect();
    expected.push(Message::Flush);
    assert_eq!(drain(&mut agent), expected);
}

#[test]
fn held_message_over_the_agreed_limit_fails_when_the_handshake_completes() {
    let mut agent = Hello::new(2);
    agent.hashes[0].max_len = 8;
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent = Endpoint::new(Role::Agent, agent);
    client
        .send(&Message::SignatureRequest {
            id: RequestId(1),
            path: p("f"),
            basis: Basis::Existing,
            block_size: Some(700),
            strong_len: Some(16),
        })
        .unwrap();
    deliver(&mut agent, &mut client);
    let err = client.poll_message().unwrap_err().to_string();
    assert_eq!(
        err,
        "SignatureRequest (0x30) frame asks for a 16-byte strong hash, over the negotiated \
         maximum of 8 bytes"
    );
}

#[test]
fn strong_hash_shorter_than_sy_delta_accepts_is_no_common_hash() {
    let mut agent = Hello::new(2);
    agent.hashes[0].max_len = sy_protocol::MIN_STRONG_LEN - 1;
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent = Endpoint::new(Role::Agent, agent);
    deliver(&mut agent, &mut client);
    let err = client.poll_message().unwrap_err().to_string();
    assert!(
        err.contains("the peer offers xxh3-128 up to 7 bytes"),
        "{err}"
    );
}
