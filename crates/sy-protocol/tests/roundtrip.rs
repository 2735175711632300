//! Every message survives encode → decode unchanged.

use std::collections::HashSet;

use bytes::BytesMut;
use proptest::prelude::*;
use sy_protocol::{Decoder, Encoder, Entry, FrameKind, HEADER_LEN, Limits, Message};

use crate::util::{decode_all, encode_all, message, one_of_each};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_message_round_trips(original in message()) {
        let mut buf = BytesMut::new();
        Encoder::new(Limits::default()).encode(&original, &mut buf).unwrap();
        let frame_len = buf.len();
        let body_len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        prop_assert_eq!(body_len + HEADER_LEN, frame_len);
        prop_assert_eq!(original.encoded_len(), frame_len);
        prop_assert_eq!(buf[4], original.kind().code());

        let decoded = Decoder::new(Limits::default()).decode(&mut buf).unwrap();
        prop_assert_eq!(decoded.as_ref(), Some(&original));
        prop_assert!(buf.is_empty(), "decoder left {} bytes", buf.len());
    }

    #[test]
    fn message_sequences_round_trip(originals in prop::collection::vec(message(), 0..20)) {
        prop_assert_eq!(decode_all(encode_all(&originals)), originals);
    }
}

#[test]
fn the_fixed_sample_covers_every_kind_but_hello() {
    let covered: HashSet<FrameKind> = one_of_each().iter().map(|m| m.kind()).collect();
    let expected: HashSet<FrameKind> = FrameKind::ALL
        .iter()
        .copied()
        .filter(|kind| *kind != FrameKind::Hello)
        .collect();
    assert_eq!(covered, expected);
    assert_eq!(decode_all(encode_all(&one_of_each())), one_of_each());
}

#[test]
fn kind_codes_are_unique_and_named() {
    let codes: HashSet<u8> = FrameKind::ALL.iter().map(|kind| kind.code()).collect();
    assert_eq!(codes.len(), FrameKind::ALL.len());
    for kind in FrameKind::ALL {
        assert_eq!(FrameKind::from_code(kind.code()), Some(*kind));
    }
    assert_eq!(FrameKind::ScanEntries.to_string(), "ScanEntries (0x11)");
}

#[test]
fn request_ids_are_reported_for_requests_and_not_for_control_frames() {
    for message in one_of_each() {
        let control = matches!(message.kind(), FrameKind::Flush | FrameKind::Goodbye);
        assert_eq!(
            message.request_id().is_none(),
            control,
            "{:?}",
            message.kind()
        );
    }
}

#[test]
fn entry_lengths_add_up_to_the_scan_batch() {
    for message in one_of_each() {
        if let Message::ScanEntries { entries, .. } = &message {
            let entries_len: usize = entries.iter().map(Entry::encoded_len).sum();
            // Header, id 300 (a two-byte varint), count 4 (one byte), the entries.
            assert_eq!(message.encoded_len(), HEADER_LEN + 2 + 1 + entries_len);
            assert_eq!(
                encode_all(std::slice::from_ref(&message)).len(),
                message.encoded_len()
            );
        }
    }
}
