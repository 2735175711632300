//! Shared fixtures: message generators and an in-memory link between two endpoints.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sy_protocol::{
    Decoder, Encoder, Endpoint, Entry, EntryKind, ErrorKind, ErrorReply, FileHeader, Hello, Limits,
    Message, MetadataUpdate, NewDir, NewLink, RequestId, Role, Timestamp,
};

pub fn encode_all(messages: &[Message]) -> BytesMut {
    let mut encoder = Encoder::new(Limits::default());
    let mut buf = BytesMut::new();
    for message in messages {
        encoder.encode(message, &mut buf).unwrap();
    }
    buf
}

/// Decodes a whole buffer, requiring it to end on a frame boundary.
pub fn decode_all(mut buf: BytesMut) -> Vec<Message> {
    let mut decoder = Decoder::new(Limits::default());
    let mut out = Vec::new();
    while let Some(message) = decoder.decode_eof(&mut buf).unwrap() {
        out.push(message);
    }
    out
}

/// A connected client/agent pair, handshake done.
pub fn connected(client: Hello, agent: Hello) -> (Endpoint, Endpoint) {
    let mut client = Endpoint::new(Role::Client, client);
    let mut agent = Endpoint::new(Role::Agent, agent);
    deliver(&mut client, &mut agent);
    deliver(&mut agent, &mut client);
    assert_eq!(client.poll_message().unwrap(), None);
    assert_eq!(agent.poll_message().unwrap(), None);
    assert!(client.session().is_some() && agent.session().is_some());
    (client, agent)
}

/// Moves everything `from` has to send into `to`.
pub fn deliver(from: &mut Endpoint, to: &mut Endpoint) {
    let bytes = from.take_output();
    to.receive(&bytes);
}

/// Every message `endpoint` can decode from what it has received.
pub fn drain(endpoint: &mut Endpoint) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(message) = endpoint.poll_message().unwrap() {
        out.push(message);
    }
    out
}

fn path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

fn data() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<i64>(), 0..1_000_000_000u32).prop_map(|(secs, nanos)| Timestamp { secs, nanos })
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        path().prop_map(|target| EntryKind::Symlink { target }),
        Just(EntryKind::Other),
    ];
    (
        (path(), kind, any::<u64>(), timestamp()),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        prop::option::of(any::<[u8; 32]>()),
    )
        .prop_map(
            |((path, kind, size, mtime), (mode, uid, gid), (dev, ino, nlink), digest)| Entry {
                path,
                kind,
                size,
                mtime,
                mode,
                uid,
                gid,
                dev,
                ino,
                nlink,
                digest,
            },
        )
}

fn header() -> impl Strategy<Value = FileHeader> {
    (id(), path(), any::<u64>(), any::<u32>(), timestamp()).prop_map(
        |(id, path, size, mode, mtime)| FileHeader {
            id,
            path,
            size,
            mode,
            mtime,
        },
    )
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop::sample::select(vec![
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists,
        ErrorKind::NoSpace,
        ErrorKind::ReadOnly,
        ErrorKind::InvalidPath,
        ErrorKind::Changed,
        ErrorKind::DigestMismatch,
        ErrorKind::Unsupported,
        ErrorKind::Protocol,
        ErrorKind::Io,
    ])
}

fn links() -> impl Strategy<Value = Vec<NewLink>> {
    prop::collection::vec(
        (path(), path()).prop_map(|(path, target)| NewLink { path, target }),
        0..6,
    )
}

fn update() -> impl Strategy<Value = MetadataUpdate> {
    (
        path(),
        prop::option::of(any::<u32>()),
        prop::option::of(timestamp()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(path, mode, mtime, uid, gid)| MetadataUpdate {
            path,
            mode,
            mtime,
            uid,
            gid,
        })
}

/// Any message of any kind, with field values over their whole ranges.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Flush),
        Just(Message::Goodbye),
        id().prop_map(|id| Message::Ok { id }),
        (
            id(),
            prop::option::of(any::<u32>()),
            error_kind(),
            path(),
            ".{0,40}"
        )
            .prop_map(
                |(id, item, kind, path, message)| Message::Error(ErrorReply {
                    id,
                    item,
                    kind,
                    path,
                    message,
                })
            ),
        (id(), path(), any::<bool>(), any::<bool>()).prop_map(|(id, path, recursive, checksum)| {
            Message::ScanRequest {
                id,
                path,
                recursive,
                checksum,
            }
        }),
        (id(), prop::collection::vec(entry(), 0..5))
            .prop_map(|(id, entries)| Message::ScanEntries { id, entries }),
        (id(), any::<u64>()).prop_map(|(id, entries)| Message::ScanDone { id, entries }),
        header().prop_map(Message::FileBegin),
        (id(), any::<u64>(), data()).prop_map(|(id, offset, data)| Message::FileChunk {
            id,
            offset,
            data
        }),
        (id(), any::<[u8; 32]>()).prop_map(|(id, digest)| Message::FileEnd { id, digest }),
        (id(), path(), any::<bool>()).prop_map(|(id, path, delta)| Message::ReadRequest {
            id,
            path,
            delta
        }),
        (
            id(),
            path(),
            1..=sy_protocol::MAX_BLOCK_SIZE,
            sy_protocol::MIN_STRONG_LEN..=sy_protocol::MAX_STRONG_LEN
        )
            .prop_map(
                |(id, path, block_size, strong_len)| Message::SignatureRequest {
                    id,
                    path,
                    block_size,
                    strong_len,
                }
            ),
        (id(), data()).prop_map(|(id, data)| Message::SignatureChunk { id, data }),
        id().prop_map(|id| Message::SignatureEnd { id }),
        header().prop_map(Message::DeltaBegin),
        (id(), data()).prop_map(|(id, data)| Message::DeltaChunk { id, data }),
        (id(), any::<[u8; 32]>()).prop_map(|(id, digest)| Message::DeltaEnd { id, digest }),
        (
            id(),
            prop::collection::vec(
                (path(), any::<u32>()).prop_map(|(path, mode)| NewDir { path, mode }),
                0..6
            )
        )
            .prop_map(|(id, dirs)| Message::Mkdir { id, dirs }),
        (id(), links()).prop_map(|(id, links)| Message::Symlink { id, links }),
        (id(), links()).prop_map(|(id, links)| Message::Hardlink { id, links }),
        (id(), prop::collection::vec(update(), 0..5))
            .prop_map(|(id, updates)| Message::SetMetadata { id, updates }),
        (id(), prop::collection::vec(path(), 0..6))
            .prop_map(|(id, paths)| Message::Remove { id, paths }),
    ]
}

/// One fixed message of every kind, for tests that walk every byte of a stream.
pub fn one_of_each() -> Vec<Message> {
    let id = RequestId(300);
    let mtime = Timestamp {
        secs: -86_400,
        nanos: 999_999_999,
    };
    let header = FileHeader {
        id,
        path: b"dir/new \xff name".to_vec(),
        size: 1 << 40,
        mode: 0o100644,
        mtime,
    };
    let entry = |path: &[u8], kind| Entry {
        path: path.to_vec(),
        kind,
        size: 5,
        mtime,
        mode: 0o755,
        uid: 1000,
        gid: 100,
        dev: 2049,
        ino: 1 << 33,
        nlink: 2,
        digest: Some([7; 32]),
    };
    let link = NewLink {
        path: b"l".to_vec(),
        target: b"../t".to_vec(),
    };
    vec![
        Message::Flush,
        Message::Goodbye,
        Message::Ok { id },
        Message::Error(ErrorReply {
            id,
            item: Some(3),
            kind: ErrorKind::PermissionDenied,
            path: b"docs/a.txt".to_vec(),
            message: "Permission denied (os error 13)".to_owned(),
        }),
        Message::ScanRequest {
            id,
            path: Vec::new(),
            recursive: true,
            checksum: true,
        },
        Message::ScanEntries {
            id,
            entries: vec![
                entry(b"a", EntryKind::File),
                entry(b"b", EntryKind::Dir),
                entry(
                    b"c",
                    EntryKind::Symlink {
                        target: b"/abs".to_vec(),
                    },
                ),
                entry(b"d", EntryKind::Other),
            ],
        },
        Message::ScanDone { id, entries: 4 },
        Message::FileBegin(header.clone()),
        Message::FileChunk {
            id,
            offset: 1 << 35,
            data: Bytes::from_static(b"some file bytes"),
        },
        Message::FileEnd {
            id,
            digest: [1; 32],
        },
        Message::ReadRequest {
            id,
            path: b"pull/me".to_vec(),
            delta: true,
        },
        Message::SignatureRequest {
            id,
            path: b"big.db".to_vec(),
            block_size: 4096,
            strong_len: 16,
        },
        Message::SignatureChunk {
            id,
            data: Bytes::from_static(b"sig"),
        },
        Message::SignatureEnd { id },
        Message::DeltaBegin(header),
        Message::DeltaChunk {
            id,
            data: Bytes::from_static(b"delta ops"),
        },
        Message::DeltaEnd {
            id,
            digest: [2; 32],
        },
        Message::Mkdir {
            id,
            dirs: vec![NewDir {
                path: b"x/y".to_vec(),
                mode: 0o700,
            }],
        },
        Message::Symlink {
            id,
            links: vec![link.clone()],
        },
        Message::Hardlink {
            id,
            links: vec![link],
        },
        Message::SetMetadata {
            id,
            updates: vec![
                MetadataUpdate {
                    path: b"x".to_vec(),
                    mode: Some(0o644),
                    mtime: Some(mtime),
                    uid: None,
                    gid: Some(5),
                },
                MetadataUpdate::default(),
            ],
        },
        Message::Remove {
            id,
            paths: vec![b"old".to_vec(), b"older/".to_vec()],
        },
    ]
}
