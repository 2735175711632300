//! Hostile or broken input: clear errors, no panic, no allocation beyond one frame limit.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use sy_protocol::{
    Basis, Compressor, Decoder, DeltaOp, Encoder, Endpoint, FrameKind, HEADER_LEN, Hello, Limits,
    MAX_BLOCK, MAX_LIST_ITEMS, Message, ProtocolError, RelPath, RequestId, Role,
};

use crate::util::{encode_all, one_of_each, p};

fn decode_err(bytes: &[u8]) -> ProtocolError {
    let mut buf = BytesMut::from(bytes);
    Decoder::new(Limits::default())
        .decode(&mut buf)
        .expect_err("hostile frame accepted")
}

fn frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.push(kind.code());
    out.extend_from_slice(body);
    out
}

#[test]
fn oversized_length_is_refused_before_allocating() {
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, FrameKind::FileChunk.code()][..]);
    let capacity = buf.capacity();
    let err = Decoder::new(Limits::default())
        .decode(&mut buf)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "FileChunk (0x21) frame announces a 4294967295-byte body, over the 8388608-byte frame limit"
    );
    assert_eq!(
        buf.capacity(),
        capacity,
        "the decoder grew its buffer for a refused frame"
    );

    let limits = Limits {
        max_frame: 1 << 16,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(&frame(FrameKind::Ok, &[0; 1 << 16 | 1])[..HEADER_LEN]);
    assert!(matches!(
        Decoder::new(limits).decode(&mut buf),
        Err(ProtocolError::FrameTooLarge {
            len: 65537,
            max: 65536,
            ..
        })
    ));
}

#[test]
fn encoder_refuses_a_frame_over_the_limit_and_leaves_the_buffer_alone() {
    let limits = Limits {
        max_frame: 1 << 16,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(&b"earlier"[..]);
    let err = Encoder::new(limits)
        .encode(
            &Message::FileChunk {
                id: RequestId(1),
                offset: 0,
                data: vec![0; 1 << 16].into(),
            },
            &mut buf,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("FileChunk (0x21) frame announces a 65541-byte body"),
        "{err}"
    );
    assert_eq!(&buf[..], b"earlier");
}

#[test]
fn unknown_kind_is_refused_from_the_header_alone() {
    let err = decode_err(&[0, 0, 0, 3, 0x7f]);
    assert_eq!(
        err.to_string(),
        "unknown frame kind 0x7f (body of 3 bytes); the peer speaks a different protocol"
    );
}

#[test]
fn hello_after_the_handshake_is_refused() {
    let err = decode_err(&frame(FrameKind::Hello, &[]));
    assert_eq!(
        err.to_string(),
        "unexpected Hello (0x01) frame after the handshake"
    );
}

#[test]
fn every_truncation_of_a_valid_stream_is_reported() {
    let messages = one_of_each();
    let mut boundaries = vec![0];
    for message in &messages {
        let last = *boundaries.last().unwrap();
        boundaries.push(last + encode_all(std::slice::from_ref(message)).len());
    }
    let stream = encode_all(&messages);
    for cut in 0..stream.len() {
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut decoder = Decoder::new(Limits::default());
        let mut decoded = 0;
        let err = loop {
            match decoder.decode_eof(&mut buf) {
                Ok(Some(_)) => decoded += 1,
                Ok(None) => break None,
                Err(err) => break Some(err),
            }
        };
        let frame_start = boundaries[decoded];
        match err {
            None => assert!(
                boundaries.contains(&cut),
                "cut {cut} inside a frame went unnoticed"
            ),
            Some(ProtocolError::TruncatedHeader { have }) => assert_eq!(have, cut - frame_start),
            Some(ProtocolError::Truncated { kind, have, need }) => {
                assert_eq!(kind, messages[decoded].kind());
                assert_eq!(have, cut - frame_start);
                assert_eq!(need, boundaries[decoded + 1] - frame_start);
            }
            Some(other) => panic!("cut {cut}: unexpected error {other}"),
        }
    }
    let mut buf = BytesMut::from(&stream[..stream.len() - 1]);
    let mut decoder = Decoder::new(Limits::default());
    let err = loop {
        if let Err(err) = decoder.decode_eof(&mut buf) {
            break err.to_string();
        }
    };
    assert_eq!(
        err,
        "stream ended inside a Checksums (0x42) frame: 40 of 41 bytes received"
    );
}

#[test]
fn strong_hash_over_the_negotiated_maximum_is_refused_both_ways() {
    let request = Message::SignatureRequest {
        id: RequestId(7),
        path: p("big.db"),
        basis: Basis::Existing,
        block_size: Some(4096),
        strong_len: Some(17),
    };
    let permissive = Limits {
        max_strong_len: u8::MAX,
        ..Limits::default()
    };
    let mut buf = BytesMut::new();
    Encoder::new(permissive).encode(&request, &mut buf).unwrap();
    let err = Decoder::new(Limits::default())
        .decode(&mut buf)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SignatureRequest (0x30) frame asks for a 17-byte strong hash, over the negotiated \
         maximum of 16 bytes"
    );
    let mut out = BytesMut::new();
    assert!(matches!(
        Encoder::new(Limits::default()).encode(&request, &mut out),
        Err(ProtocolError::StrongHashTooLong {
            len: 17,
            max: 16,
            ..
        })
    ));
    assert!(out.is_empty());
}

#[test]
fn signature_request_with_bad_block_size_or_short_hash_is_refused() {
    for block_size in [0, sy_protocol::MAX_BLOCK_SIZE + 1] {
        let request = Message::SignatureRequest {
            id: RequestId(7),
            path: RelPath::root(),
            basis: Basis::Existing,
            block_size: Some(block_size),
            strong_len: None,
        };
        let err = Encoder::new(Limits::default())
            .encode(&request, &mut BytesMut::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("block size {block_size} outside")),
            "{err}"
        );
    }
    let request = Message::SignatureRequest {
        id: RequestId(7),
        path: RelPath::root(),
        basis: Basis::Partial,
        block_size: None,
        strong_len: Some(sy_protocol::MIN_STRONG_LEN - 1),
    };
    let err = Encoder::new(Limits::default())
        .encode(&request, &mut BytesMut::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("strong hash length 7 below the minimum of 8"),
        "{err}"
    );
}

#[test]
fn a_frame_of_more_list_items_than_a_sender_makes_is_refused() {
    // 16385 two-byte copy ops fit easily in a frame and would decode to ~650 KiB of ops; a
    // 64 MiB frame of them, to ~1.3 GB.
    let ops = vec![DeltaOp::Copy { offset: 0, len: 1 }; MAX_LIST_ITEMS + 1];
    let mut buf = BytesMut::new();
    Encoder::new(Limits::default())
        .encode(
            &Message::DeltaChunk {
                id: RequestId(1),
                ops,
            },
            &mut buf,
        )
        .unwrap();
    let err = decode_err(&buf).to_string();
    assert_eq!(
        err,
        "malformed DeltaChunk (0x39) frame: field `ops` declares 16385 items, over the 16384 a \
         frame may carry"
    );
}

#[test]
fn a_scan_request_may_carry_more_filter_rules_than_a_list_items() {
    // A user's --exclude-from file goes in one frame, whatever its length.
    let rules = (0..MAX_LIST_ITEMS + 10)
        .map(|i| (sy_protocol::RuleKind::Exclude, format!("*.tmp{i}")))
        .collect();
    let request = Message::ScanRequest {
        id: RequestId(1),
        base: RelPath::root(),
        filter: sy_protocol::FilterRules {
            rules,
            gitignore: false,
        },
        follow_links: false,
    };
    let mut buf = BytesMut::new();
    Encoder::new(Limits::default())
        .encode(&request, &mut buf)
        .unwrap();
    let decoded = Decoder::new(Limits::default()).decode(&mut buf).unwrap();
    assert_eq!(decoded, Some(request));
}

#[test]
fn counts_and_lengths_beyond_the_body_are_refused() {
    // ScanEntries id 1, count 2^63: would be a huge Vec::with_capacity if trusted.
    let body = [
        1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
    ];
    let err = decode_err(&frame(FrameKind::ScanEntries, &body)).to_string();
    assert_eq!(
        err,
        "malformed ScanEntries (0x11) frame: field `entries` declares 9223372036854775808 items \
         but the 0 bytes left hold at most 0"
    );
    // ChecksumRequest id 1, one path claiming 1000 bytes with 2 present.
    let body = [1, 1, 0xe8, 0x07, b'a', b'b'];
    let err = decode_err(&frame(FrameKind::ChecksumRequest, &body)).to_string();
    assert_eq!(
        err,
        "malformed ChecksumRequest (0x41) frame: field `path` declares 1000 bytes but only 2 \
         remain in the body"
    );
}

#[test]
fn out_of_range_fields_and_trailing_bytes_are_refused() {
    let cases: [(FrameKind, &[u8], &str); 9] = [
        (
            FrameKind::Ok,
            &[1, 0],
            "1 unexpected bytes after the last field",
        ),
        (
            FrameKind::ScanRequest,
            &[1, 0, 0, 2, 0],
            "field `gitignore`: 2 is not a boolean",
        ),
        (
            FrameKind::ScanRequest,
            &[1, 0, 1, 0, 1, 0xff, 0, 0],
            "field `pattern` is not UTF-8",
        ),
        (FrameKind::Error, &[1, 0, 99, 0, 0], "unknown error kind 99"),
        (
            FrameKind::FileBegin,
            &[1, 0, 0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0],
            "mtime nanoseconds 1000000000 not below one second",
        ),
        (
            FrameKind::TreeOps,
            &[1, 0, 1, 3, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10],
            "does not fit in 32 bits",
        ),
        (
            FrameKind::TreeOps,
            &[1, 0x10, 0],
            "unknown option bits 0x10",
        ),
        (
            FrameKind::TreeOps,
            &[1, 0, 1, 9, 0],
            "field `tree_op`: unknown code 9",
        ),
        (
            FrameKind::SignatureRequest,
            &[1, 0, 2, 0, 0],
            "field `basis`: unknown code 2",
        ),
    ];
    for (kind, body, expected) in cases {
        let err = decode_err(&frame(kind, body)).to_string();
        assert!(
            err.starts_with(&format!("malformed {kind} frame: ")),
            "{err}"
        );
        assert!(err.contains(expected), "{kind}: {err}");
    }
}

/// `bytes` as a length-prefixed field (short ones only: a one-byte length).
fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(bytes.len()).unwrap()];
    out.extend_from_slice(bytes);
    out
}

#[test]
fn unsafe_paths_from_a_peer_are_refused_while_decoding() {
    let unsafe_paths: [&[u8]; 8] = [
        b"../x",
        b"a/../../b",
        b"/etc/passwd",
        b"a//b",
        b"a/",
        b"./a",
        b"..",
        b"nul\0byte",
    ];
    for bad in unsafe_paths {
        // Meta: mode, mtime secs, nanos, uid, gid.
        let meta = [0; 5];
        let mut cases: Vec<(FrameKind, &str, Vec<u8>)> = Vec::new();
        // ReadRequest id 1: path, follow_links, delta.
        cases.push((
            FrameKind::ReadRequest,
            "path",
            [&[1][..], &field(bad), &[0, 0]].concat(),
        ));
        // ScanRequest id 1: base, no rules, gitignore, follow_links.
        cases.push((
            FrameKind::ScanRequest,
            "base",
            [&[1][..], &field(bad), &[0, 0, 0]].concat(),
        ));
        // ScanEntries id 1, one file entry: path, kind, size, meta, dev, ino, nlink.
        cases.push((
            FrameKind::ScanEntries,
            "path",
            [&[1, 1][..], &field(bad), &[0, 0], &meta, &[0, 0, 1]].concat(),
        ));
        // ScanLeftovers id 1, one partial whose file is the bad path.
        cases.push((
            FrameKind::ScanLeftovers,
            "file",
            [
                &[1, 1][..],
                &field(b".x.sy-partial"),
                &[1],
                &field(bad),
                &[0],
            ]
            .concat(),
        ));
        // FileBegin id 1: path, size, meta, options.
        cases.push((
            FrameKind::FileBegin,
            "path",
            [&[1][..], &field(bad), &[0], &meta, &[0]].concat(),
        ));
        // TreeOps id 1, no options, one hard link from a clean name to the bad path.
        cases.push((
            FrameKind::TreeOps,
            "target",
            [&[1, 0, 1, 2][..], &field(b"h"), &field(bad)].concat(),
        ));
        // ChecksumRequest id 1: a clean path, then the bad one.
        cases.push((
            FrameKind::ChecksumRequest,
            "path",
            [&[1, 2][..], &field(b"ok"), &field(bad), &[0]].concat(),
        ));
        for (kind, expected_field, body) in cases {
            match decode_err(&frame(kind, &body)) {
                ProtocolError::InvalidPath {
                    kind: got,
                    field,
                    source,
                } => {
                    assert_eq!((got, field), (kind, expected_field), "{bad:?}");
                    assert_eq!(source.path, String::from_utf8_lossy(bad));
                }
                other => panic!("{kind} with {bad:?}: {other}"),
            }
        }
    }
    // The same layouts with clean paths decode, so the refusals above are about the paths.
    let clean = [&[1][..], &field(b"d/f"), &[0, 0]].concat();
    let mut buf = BytesMut::from(&frame(FrameKind::ReadRequest, &clean)[..]);
    let message = Decoder::new(Limits::default()).decode(&mut buf).unwrap();
    assert_eq!(
        message,
        Some(Message::ReadRequest {
            id: RequestId(1),
            path: RelPath::new("d/f").unwrap(),
            follow_links: false,
            delta: false,
        })
    );
}

#[test]
fn mode_bits_beyond_the_permissions_are_dropped() {
    // FileBegin id 1, path "f", size 0, mode 0o100644 (a regular file's st_mode), no options.
    let mut body = vec![1];
    body.extend(field(b"f"));
    body.extend([0, 0xa4, 0x83, 0x02, 0, 0, 0, 0, 0]);
    let mut buf = BytesMut::from(&frame(FrameKind::FileBegin, &body)[..]);
    match Decoder::new(Limits::default()).decode(&mut buf).unwrap() {
        Some(Message::FileBegin(header)) => assert_eq!(header.meta.mode, 0o644),
        other => panic!("{other:?}"),
    }
}

#[test]
fn banner_before_the_handshake_is_shown_and_blamed_on_the_remote_shell() {
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    let mut agent_bytes = b"Welcome to Ubuntu 24.04 LTS\r\n\x1b[1mLast login\x00".to_vec();
    agent_bytes.extend_from_slice(&Endpoint::new(Role::Agent, Hello::new(2)).take_output());
    client.receive(&agent_bytes);
    let err = client.poll_message().unwrap_err();
    assert!(matches!(err, ProtocolError::JunkBeforeHandshake { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the remote shell printed text before the sy-remote handshake (first 80 of 83 \
             bytes: \"Welcome to Ubuntu 24.04 LTS\\r\\n\\x1b[1mLast login\\x00\\x89SYWIRE\\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("make the remote login print nothing"),
        "{text}"
    );
}

#[test]
fn short_junk_waits_for_a_line_then_errors() {
    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    client.receive(b"motd");
    assert_eq!(
        client.poll_message().unwrap(),
        None,
        "a line might still be coming"
    );
    client.receive(b"!\n");
    let err = client.poll_message().unwrap_err().to_string();
    assert!(err.contains("(first 6 of 6 bytes: \"motd!\\n\")"), "{err}");

    let mut client = Endpoint::new(Role::Client, Hello::new(1));
    client.receive(b"sh: 1: sy-remote: not found");
    client.receive_eof();
    let err = client.poll_message().unwrap_err().to_string();
    assert!(err.contains("\"sh: 1: sy-remote: not found\""), "{err}");
}

#[test]
fn wrong_frame_or_oversized_hello_after_the_magic_is_refused() {
    let mut bytes = BytesMut::from(&sy_protocol::MAGIC[..]);
    bytes.extend_from_slice(&frame(FrameKind::Ok, &[1]));
    let err = Hello::decode(&mut bytes, false, sy_protocol::PROTOCOL_VERSIONS).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected Ok (0x04) frame where the handshake should be"
    );

    let mut bytes = BytesMut::from(&sy_protocol::MAGIC[..]);
    bytes.extend_from_slice(&[0x7f, 0, 0, 0, FrameKind::Hello.code()]);
    let err = Hello::decode(&mut bytes, false, sy_protocol::PROTOCOL_VERSIONS).unwrap_err();
    assert!(
        matches!(err, ProtocolError::FrameTooLarge { max: 4096, .. }),
        "{err}"
    );
}

/// An agent whose peer (the client) asked for compression, fed `blocks` after the Hello.
fn compressed_agent_fed(blocks: &[u8]) -> Endpoint {
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&Endpoint::new(Role::Client, Hello::new(1).with_compression(3)).take_output());
    agent.receive(blocks);
    agent
}

fn block(mode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn corrupt_compressed_streams_are_refused() {
    let err = compressed_agent_fed(&block(7, b"x"))
        .poll_message()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupt compressed stream: unknown block mode 0x07"
    );

    let mut huge = vec![1];
    huge.extend_from_slice(&(MAX_BLOCK as u32 + 1).to_be_bytes());
    let err = compressed_agent_fed(&huge)
        .poll_message()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "corrupt compressed stream: block of 1048577 bytes, over the 1048576-byte block limit"
    );

    let err = compressed_agent_fed(&block(1, b"\x28\xb5\x2f\xfd this is not zstd at all"))
        .poll_message()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("zstd decompression failed: "), "{err}");

    let mut agent = compressed_agent_fed(&block(0, &frame(FrameKind::Ok, &[5]))[..3]);
    assert_eq!(agent.poll_message().unwrap(), None);
    agent.receive_eof();
    let err = agent.poll_message().unwrap_err().to_string();
    assert_eq!(err, "stream ended inside a compressed block, 2 bytes short");

    // A zstd block cut short right after a whole frame: the frame is delivered, then the cut
    // is still noticed.
    let mut compressor = Compressor::new(3).unwrap();
    let mut payload = BytesMut::new();
    compressor
        .compress(&frame(FrameKind::Ok, &[5]), &mut payload)
        .unwrap();
    compressor.flush(&mut payload).unwrap();
    let mut cut_block = block(1, &payload);
    cut_block[4] += 10;
    let mut agent = compressed_agent_fed(&cut_block);
    assert_eq!(
        agent.poll_message().unwrap(),
        Some(Message::Ok { id: RequestId(5) })
    );
    agent.receive_eof();
    let err = agent.poll_message().unwrap_err().to_string();
    assert_eq!(
        err,
        "stream ended inside a compressed block, 10 bytes short"
    );

    let mut agent = compressed_agent_fed(&block(0, &frame(FrameKind::Ok, &[5]))[..9]);
    assert_eq!(agent.poll_message().unwrap(), None);
    agent.receive_eof();
    let err = agent.poll_message().unwrap_err().to_string();
    assert_eq!(err, "stream ended inside a compressed block, 2 bytes short");
}

#[test]
fn decompression_bomb_is_cut_off_by_the_frame_limit() {
    // 64 MiB that claims to be one frame: its header is refused long before it is inflated.
    let mut plain = BytesMut::new();
    plain.put_u32(u32::MAX);
    plain.put_u8(FrameKind::FileChunk.code());
    plain.resize(64 << 20, 0);
    let mut compressor = Compressor::new(19).unwrap();
    let mut compressed = BytesMut::new();
    compressor.compress(&plain, &mut compressed).unwrap();
    compressor.flush(&mut compressed).unwrap();
    assert!(compressed.len() < MAX_BLOCK);
    let err = compressed_agent_fed(&block(1, &compressed))
        .poll_message()
        .unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(Limits::default());
        while let Ok(Some(_)) = decoder.decode_eof(&mut buf) {}
        let mut endpoint = compressed_agent_fed(&bytes);
        endpoint.receive_eof();
        while let Ok(Some(_)) = endpoint.poll_message() {}
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = Hello::decode(&mut buf, true, sy_protocol::PROTOCOL_VERSIONS);
    }

    #[test]
    fn mutated_valid_streams_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut stream = encode_all(&one_of_each());
        for (index, value) in flips {
            let at = index.index(stream.len());
            stream[at] = value;
        }
        let mut decoder = Decoder::new(Limits::default());
        while let Ok(Some(_)) = decoder.decode_eof(&mut stream) {}
    }
}
