//! Compressed sessions: batches, shared context, stored payloads, byte counts.

use bytes::{Bytes, BytesMut};
use sy_protocol::{
    Compressor, FileDigest, FileHeader, Hello, Message, Meta, RequestId, Timestamp, WriteOptions,
};

use crate::util::{connected, deliver, drain, p};

/// A small source file, similar to its neighbours but not equal.
fn small_file(index: usize) -> Vec<u8> {
    format!(
        "//! Module {index} of the generated tree.\n\n\
         use std::collections::HashMap;\n\n\
         pub struct Record{index} {{\n    pub name: String,\n    pub size: u64,\n    \
         pub tags: HashMap<String, String>,\n}}\n\n\
         impl Record{index} {{\n    pub fn new(name: &str) -> Self {{\n        \
         Self {{ name: name.to_owned(), size: {size}, tags: HashMap::new() }}\n    }}\n}}\n",
        size = index * 7919 % 100_003
    )
    .into_bytes()
}

fn file_messages(index: usize) -> Vec<Message> {
    let id = RequestId(index as u64);
    let data = small_file(index);
    vec![
        Message::FileBegin(FileHeader {
            id,
            path: p(&format!("src/module_{index}.rs")),
            size: data.len() as u64,
            meta: Meta {
                mode: 0o644,
                mtime: Timestamp {
                    secs: 1_700_000_000 + index as i64,
                    nanos: 0,
                },
                uid: 1000,
                gid: 1000,
            },
            options: WriteOptions::default(),
        }),
        Message::FileChunk {
            id,
            offset: 0,
            data: Bytes::from(data),
        },
        Message::FileEnd {
            id,
            digest: FileDigest::from_bytes([index as u8; 32]),
        },
    ]
}

#[test]
fn many_small_frames_round_trip_batch_by_batch() {
    let (mut client, mut agent) = connected(Hello::new(1).with_compression(3), Hello::new(2));
    for batch in 0..20 {
        let mut sent = Vec::new();
        for index in batch * 50..(batch + 1) * 50 {
            for message in file_messages(index) {
                client.send(&message).unwrap();
                sent.push(message);
            }
        }
        client.flush().unwrap();
        sent.push(Message::Flush);
        deliver(&mut client, &mut agent);
        assert_eq!(drain(&mut agent), sent, "batch {batch}");
    }
    let (sent, received) = (client.stats().sent, agent.stats().received);
    assert_eq!(sent, received, "both ends count the same bytes");
    assert!(
        sent.wire * 5 < sent.logical,
        "1000 similar files: {} wire bytes for {} logical",
        sent.wire,
        sent.logical
    );
}

#[test]
fn output_waits_for_the_batch_flush() {
    let (mut client, mut agent) = connected(Hello::new(1).with_compression(3), Hello::new(2));
    for message in file_messages(1) {
        client.send(&message).unwrap();
    }
    assert!(
        !client.has_output(),
        "small frames should stay in the compressor until the flush"
    );
    client.flush().unwrap();
    assert!(client.has_output());
    deliver(&mut client, &mut agent);
    assert_eq!(drain(&mut agent).len(), 4);
}

#[test]
fn similar_small_files_compress_better_sharing_one_context() {
    let files: Vec<Vec<u8>> = (0..300).map(small_file).collect();
    let logical: usize = files.iter().map(Vec::len).sum();

    let mut shared = Compressor::new(3).unwrap();
    let mut shared_out = BytesMut::new();
    for file in &files {
        shared.compress(file, &mut shared_out).unwrap();
        shared.flush(&mut shared_out).unwrap();
    }

    let mut separate_len = 0;
    for file in &files {
        let mut alone = Compressor::new(3).unwrap();
        let mut out = BytesMut::new();
        alone.compress(file, &mut out).unwrap();
        alone.flush(&mut out).unwrap();
        separate_len += out.len();
    }

    assert!(
        shared_out.len() * 3 < separate_len,
        "{logical} bytes: shared context {} bytes, separate contexts {separate_len} bytes",
        shared_out.len()
    );
}

fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn stored_payloads_pass_through_a_compressed_stream_in_order() {
    let (mut client, mut agent) = connected(Hello::new(1).with_compression(3), Hello::new(2));
    let random = Bytes::from(noise(1 << 20, 7));
    let mut sent = Vec::new();
    for (index, chunk) in random.chunks(256 << 10).enumerate() {
        let id = RequestId(1);
        let data_frame = Message::FileChunk {
            id,
            offset: (index * (256 << 10)) as u64,
            data: random.slice_ref(chunk),
        };
        client.send_stored(&data_frame).unwrap();
        // Small control frames between stored data and compressed files keep their order.
        let control = Message::Ok {
            id: RequestId(100 + index as u64),
        };
        client.send(&control).unwrap();
        let text = file_messages(index);
        for message in &text {
            client.send(message).unwrap();
        }
        sent.push(data_frame);
        sent.push(control);
        sent.extend(text);
    }
    client.flush().unwrap();
    sent.push(Message::Flush);
    deliver(&mut client, &mut agent);
    assert_eq!(drain(&mut agent), sent);

    let stats = client.stats().sent;
    let overhead = stats.wire as i64 - stats.logical as i64;
    assert!(
        overhead < 200 && stats.wire > 1 << 20,
        "1 MiB stored: {} wire bytes for {} logical",
        stats.wire,
        stats.logical
    );
}

#[test]
fn uncompressed_session_counts_wire_equal_to_logical() {
    let (mut client, mut agent) = connected(Hello::new(1), Hello::new(2));
    assert_eq!(client.session().unwrap().compression, None);
    for message in file_messages(3) {
        client.send(&message).unwrap();
    }
    assert!(
        client.has_output(),
        "without compression frames go out at once"
    );
    deliver(&mut client, &mut agent);
    assert_eq!(drain(&mut agent), file_messages(3));
    assert_eq!(client.stats().sent.wire, client.stats().sent.logical);
    assert_eq!(agent.stats().received, client.stats().sent);
}
