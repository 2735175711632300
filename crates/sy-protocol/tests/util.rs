//! Shared fixtures: message generators and an in-memory link between two endpoints.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sy_protocol::{
    Basis, Decoder, DeltaOp, Encoder, Endpoint, Entry, EntryKind, ErrorKind, ErrorReply,
    ErrorScope, FileDigest, FileHeader, FilterRules, Hello, ItemDigest, Leftover, LeftoverKind,
    Limits, Message, Meta, MetaOptions, MetaTarget, RelPath, RequestId, Role, RuleKind,
    SpecialKind, Timestamp, TreeOp, WriteOptions,
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

/// Any bytes: link targets, error texts.
fn raw() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

/// A clean relative path: up to four components of any bytes but `/` and NUL (`.` and `..`
/// made into other names), or the root.
fn path() -> impl Strategy<Value = RelPath> {
    let byte = any::<u8>().prop_filter("a separator or NUL", |b| *b != b'/' && *b != 0);
    let component = prop::collection::vec(byte, 1..12).prop_map(|mut name| {
        if name == b"." || name == b".." {
            name.push(b'x');
        }
        name
    });
    prop::collection::vec(component, 0..4)
        .prop_map(|components| RelPath::new(components.join(&b'/')).expect("clean components"))
}

pub fn p(path: &str) -> RelPath {
    RelPath::new(path).expect("a clean path")
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

fn meta() -> impl Strategy<Value = Meta> {
    (0..=0o7777u32, timestamp(), any::<u32>(), any::<u32>()).prop_map(|(mode, mtime, uid, gid)| {
        Meta {
            mode,
            mtime,
            uid,
            gid,
        }
    })
}

fn meta_options() -> impl Strategy<Value = MetaOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(times, owner)| MetaOptions { times, owner })
}

fn basis() -> impl Strategy<Value = Basis> {
    prop::sample::select(vec![Basis::Existing, Basis::Partial])
}

fn entry() -> impl Strategy<Value = Entry> {
    let special = prop::sample::select(vec![
        SpecialKind::Fifo,
        SpecialKind::Socket,
        SpecialKind::CharDevice,
        SpecialKind::BlockDevice,
    ]);
    let kind = prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        raw().prop_map(|target| EntryKind::Symlink { target }),
        special.prop_map(EntryKind::Special),
    ];
    (
        (path(), kind, any::<u64>(), meta()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(|((path, kind, size, meta), (dev, ino, nlink))| Entry {
            path,
            kind,
            size,
            meta,
            dev,
            ino,
            nlink,
        })
}

fn leftover() -> impl Strategy<Value = Leftover> {
    (
        path(),
        prop::option::of(path()),
        prop::sample::select(vec![LeftoverKind::Partial, LeftoverKind::Temp]),
    )
        .prop_map(|(path, file, kind)| Leftover { path, file, kind })
}

fn header() -> impl Strategy<Value = FileHeader> {
    (
        id(),
        path(),
        any::<u64>(),
        meta(),
        (meta_options(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(id, path, size, meta, (meta_options, sparse, clear_partial))| FileHeader {
                id,
                path,
                size,
                meta,
                options: WriteOptions {
                    meta: meta_options,
                    sparse,
                    clear_partial,
                },
            },
        )
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop::sample::select(ErrorKind::ALL.to_vec())
}

fn scope() -> impl Strategy<Value = ErrorScope> {
    prop_oneof![
        Just(ErrorScope::Request),
        any::<u32>().prop_map(ErrorScope::Item),
        Just(ErrorScope::Problem),
    ]
}

fn rule() -> impl Strategy<Value = (RuleKind, String)> {
    (prop::sample::select(RuleKind::ALL.to_vec()), ".{0,20}")
}

fn digest() -> impl Strategy<Value = FileDigest> {
    any::<[u8; 32]>().prop_map(FileDigest::from_bytes)
}

fn delta_op() -> impl Strategy<Value = DeltaOp<Bytes>> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(offset, len)| DeltaOp::Copy { offset, len }),
        data().prop_map(DeltaOp::Literal),
    ]
}

fn tree_op() -> impl Strategy<Value = TreeOp> {
    let target = prop::sample::select(vec![MetaTarget::File, MetaTarget::Dir, MetaTarget::Symlink]);
    prop_oneof![
        path().prop_map(|path| TreeOp::Mkdir { path }),
        (path(), raw(), meta()).prop_map(|(path, target, meta)| TreeOp::Symlink {
            path,
            target,
            meta
        }),
        (path(), path()).prop_map(|(path, target)| TreeOp::HardLink { path, target }),
        (path(), target, meta()).prop_map(|(path, target, meta)| TreeOp::SetMeta {
            path,
            target,
            meta
        }),
        path().prop_map(|path| TreeOp::MakeWritable { path }),
        path().prop_map(|path| TreeOp::Remove { path }),
        leftover().prop_map(TreeOp::Tidy),
        path().prop_map(|file| TreeOp::DropPartial { file }),
    ]
}

/// Any message of any kind, with field values over their whole ranges.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Flush),
        Just(Message::Goodbye),
        id().prop_map(|id| Message::Ok { id }),
        (id(), scope(), error_kind(), raw(), ".{0,40}").prop_map(
            |(id, scope, kind, path, message)| Message::Error(ErrorReply {
                id,
                scope,
                kind,
                path,
                message,
            })
        ),
        (id(), any::<u64>(), any::<u64>()).prop_map(|(id, literal, matched)| Message::Written {
            id,
            literal,
            matched
        }),
        (
            id(),
            path(),
            prop::collection::vec(rule(), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(id, base, rules, gitignore, follow_links)| {
                Message::ScanRequest {
                    id,
                    base,
                    filter: FilterRules { rules, gitignore },
                    follow_links,
                }
            }),
        (id(), prop::collection::vec(entry(), 0..5))
            .prop_map(|(id, entries)| Message::ScanEntries { id, entries }),
        (id(), prop::collection::vec(leftover(), 0..4))
            .prop_map(|(id, leftovers)| Message::ScanLeftovers { id, leftovers }),
        (id(), any::<u64>()).prop_map(|(id, entries)| Message::ScanDone { id, entries }),
        header().prop_map(Message::FileBegin),
        (id(), any::<u64>(), data()).prop_map(|(id, offset, data)| Message::FileChunk {
            id,
            offset,
            data
        }),
        (id(), digest()).prop_map(|(id, digest)| Message::FileEnd { id, digest }),
        (id(), path(), any::<bool>(), any::<bool>()).prop_map(|(id, path, follow_links, delta)| {
            Message::ReadRequest {
                id,
                path,
                follow_links,
                delta,
            }
        }),
        (
            id(),
            path(),
            basis(),
            prop::option::of(1..=sy_protocol::MAX_BLOCK_SIZE),
            prop::option::of(sy_protocol::MIN_STRONG_LEN..=sy_protocol::MAX_STRONG_LEN),
        )
            .prop_map(|(id, path, basis, block_size, strong_len)| {
                Message::SignatureRequest {
                    id,
                    path,
                    basis,
                    block_size,
                    strong_len,
                }
            }),
        (id(), data()).prop_map(|(id, data)| Message::SignatureChunk { id, data }),
        id().prop_map(|id| Message::SignatureEnd { id }),
        (header(), basis()).prop_map(|(header, basis)| Message::DeltaBegin { header, basis }),
        (id(), prop::collection::vec(delta_op(), 0..6))
            .prop_map(|(id, ops)| Message::DeltaChunk { id, ops }),
        (id(), digest()).prop_map(|(id, digest)| Message::DeltaEnd { id, digest }),
        (id(), meta_options(), prop::collection::vec(tree_op(), 0..6))
            .prop_map(|(id, meta, ops)| Message::TreeOps { id, meta, ops }),
        (id(), prop::collection::vec(path(), 0..6), any::<bool>()).prop_map(
            |(id, paths, follow_links)| Message::ChecksumRequest {
                id,
                paths,
                follow_links,
            }
        ),
        (
            id(),
            prop::collection::vec(
                (any::<u32>(), digest()).prop_map(|(item, digest)| ItemDigest { item, digest }),
                0..5
            )
        )
            .prop_map(|(id, digests)| Message::Checksums { id, digests }),
    ]
}

/// One fixed message of every kind, for tests that walk every byte of a stream.
pub fn one_of_each() -> Vec<Message> {
    let id = RequestId(300);
    let meta = Meta {
        mode: 0o644,
        mtime: Timestamp {
            secs: -86_400,
            nanos: 999_999_999,
        },
        uid: 1000,
        gid: 100,
    };
    let header = FileHeader {
        id,
        path: RelPath::new(&b"dir/new \xff name"[..]).expect("a clean path"),
        size: 1 << 40,
        meta,
        options: WriteOptions {
            meta: MetaOptions {
                times: true,
                owner: false,
            },
            sparse: true,
            clear_partial: true,
        },
    };
    let entry = |path: &str, kind| Entry {
        path: p(path),
        kind,
        size: 5,
        meta,
        dev: 2049,
        ino: 1 << 33,
        nlink: 2,
    };
    let leftover = Leftover {
        path: p(".a.sy-partial"),
        file: Some(p("a")),
        kind: LeftoverKind::Partial,
    };
    vec![
        Message::Flush,
        Message::Goodbye,
        Message::Ok { id },
        Message::Error(ErrorReply {
            id,
            scope: ErrorScope::Item(3),
            kind: ErrorKind::PermissionDenied,
            path: b"docs/a.txt".to_vec(),
            message: "Permission denied (os error 13)".to_owned(),
        }),
        Message::Written {
            id,
            literal: 4096,
            matched: 1 << 30,
        },
        Message::ScanRequest {
            id,
            base: RelPath::root(),
            filter: FilterRules {
                rules: vec![(RuleKind::Exclude, "target/".to_owned())],
                gitignore: true,
            },
            follow_links: false,
        },
        Message::ScanEntries {
            id,
            entries: vec![
                entry("a", EntryKind::File),
                entry("b", EntryKind::Dir),
                entry(
                    "c",
                    EntryKind::Symlink {
                        target: b"/abs".to_vec(),
                    },
                ),
                entry("d", EntryKind::Special(SpecialKind::Fifo)),
            ],
        },
        Message::ScanLeftovers {
            id,
            leftovers: vec![leftover.clone()],
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
            digest: FileDigest::from_bytes([1; 32]),
        },
        Message::ReadRequest {
            id,
            path: p("pull/me"),
            follow_links: true,
            delta: true,
        },
        Message::SignatureRequest {
            id,
            path: p("big.db"),
            basis: Basis::Partial,
            block_size: Some(4096),
            strong_len: None,
        },
        Message::SignatureChunk {
            id,
            data: Bytes::from_static(b"sig"),
        },
        Message::SignatureEnd { id },
        Message::DeltaBegin {
            header,
            basis: Basis::Existing,
        },
        Message::DeltaChunk {
            id,
            ops: vec![
                DeltaOp::Copy {
                    offset: 0,
                    len: 1 << 20,
                },
                DeltaOp::Literal(Bytes::from_static(b"delta bytes")),
            ],
        },
        Message::DeltaEnd {
            id,
            digest: FileDigest::from_bytes([2; 32]),
        },
        Message::TreeOps {
            id,
            meta: MetaOptions {
                times: true,
                owner: true,
            },
            ops: vec![
                TreeOp::Mkdir { path: p("x/y") },
                TreeOp::Symlink {
                    path: p("l"),
                    target: b"../t".to_vec(),
                    meta,
                },
                TreeOp::HardLink {
                    path: p("h"),
                    target: p("a"),
                },
                TreeOp::SetMeta {
                    path: p("x"),
                    target: MetaTarget::Dir,
                    meta,
                },
                TreeOp::MakeWritable { path: p("ro") },
                TreeOp::Tidy(leftover),
                TreeOp::DropPartial { file: p("a") },
                TreeOp::Remove { path: p("old") },
            ],
        },
        Message::ChecksumRequest {
            id,
            paths: vec![p("a"), p("b")],
            follow_links: false,
        },
        Message::Checksums {
            id,
            digests: vec![ItemDigest {
                item: 1,
                digest: FileDigest::from_bytes([3; 32]),
            }],
        },
    ]
}
