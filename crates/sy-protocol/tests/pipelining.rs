//! Many requests in flight, answered out of order, in one round trip per batch.

use std::collections::HashMap;

use bytes::Bytes;
use sy_protocol::{FileDigest, FileHeader, Hello, Message, Meta, RequestId, WriteOptions};

use crate::util::{connected, deliver, drain, p};

fn content(id: u64) -> Vec<u8> {
    format!("file {id} ")
        .repeat(id as usize % 7 + 1)
        .into_bytes()
}

#[test]
fn a_batch_of_reads_is_answered_interleaved_and_out_of_order() {
    let (mut client, mut agent) = connected(Hello::new(1).with_compression(1), Hello::new(2));
    let ids: Vec<u64> = (1..=200).collect();
    for &id in &ids {
        client
            .send(&Message::ReadRequest {
                id: RequestId(id),
                path: p(&format!("f{id}")),
                follow_links: false,
                delta: false,
            })
            .unwrap();
    }
    client.flush().unwrap();
    deliver(&mut client, &mut agent);

    let requests = drain(&mut agent);
    assert_eq!(
        requests.len(),
        ids.len() + 1,
        "the whole batch arrives at once"
    );
    // The agent answers newest first, and cuts every file in two chunks sent round-robin.
    let answered: Vec<u64> = requests
        .iter()
        .filter_map(|m| m.request_id())
        .rev()
        .map(|id| id.0)
        .collect();
    for &id in &answered {
        agent
            .send(&Message::FileBegin(FileHeader {
                id: RequestId(id),
                path: p(&format!("f{id}")),
                size: content(id).len() as u64,
                meta: Meta {
                    mode: 0o600,
                    ..Meta::default()
                },
                options: WriteOptions::default(),
            }))
            .unwrap();
    }
    for half in 0..2 {
        for &id in &answered {
            let data = content(id);
            let mid = data.len() / 2;
            let (offset, piece) = if half == 0 {
                (0, &data[..mid])
            } else {
                (mid, &data[mid..])
            };
            agent
                .send(&Message::FileChunk {
                    id: RequestId(id),
                    offset: offset as u64,
                    data: Bytes::copy_from_slice(piece),
                })
                .unwrap();
        }
    }
    for &id in &answered {
        agent
            .send(&Message::FileEnd {
                id: RequestId(id),
                digest: FileDigest::from_bytes([0; 32]),
            })
            .unwrap();
    }
    agent.flush().unwrap();
    deliver(&mut agent, &mut client);

    let mut files: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut ended = Vec::new();
    for message in drain(&mut client) {
        match message {
            Message::FileBegin(header) => {
                assert!(files.insert(header.id.0, Vec::new()).is_none());
            }
            Message::FileChunk { id, offset, data } => {
                let file = files.get_mut(&id.0).unwrap();
                assert_eq!(offset, file.len() as u64, "chunks of one id stay in order");
                file.extend_from_slice(&data);
            }
            Message::FileEnd { id, .. } => ended.push(id.0),
            Message::Flush => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ended, answered);
    for id in ids {
        assert_eq!(files[&id], content(id), "file {id}");
    }
}
