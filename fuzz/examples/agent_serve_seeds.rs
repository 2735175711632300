//! Writes the seed corpus of the `agent_serve` targets: real client sessions, encoded with
//! sy-protocol's own encoder, against the fixture tree. Run from `fuzz/`:
//! `cargo run --example agent_serve_seeds` (it rewrites `corpus/agent_serve*/seed-*`).

use std::error::Error;
use std::path::Path;

use sy_fuzz::{big_file, client_hello};
use sy_protocol::bytes::{Bytes, BytesMut};
use sy_protocol::{
    Basis, DeltaOp, Encoder, FileDigest, FileHeader, FilterRules, Limits, Message, Meta,
    MetaOptions, MetaTarget, RelPath, RequestId, RuleKind, TreeOp, WriteOptions,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let sessions = [
        ("seed-scan", scan()?),
        ("seed-push", push()?),
        ("seed-tree-ops", tree_ops()?),
        ("seed-delta-push", delta_push()?),
        ("seed-delta-read", delta_read()?),
    ];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, hello) in [
        ("agent_serve", Vec::new()),
        ("agent_serve_raw", client_hello()),
    ] {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, messages) in &sessions {
            let mut bytes = hello.clone();
            bytes.extend_from_slice(&encode(messages)?);
            std::fs::write(dir.join(name), bytes)?;
        }
    }
    Ok(())
}

/// The frames a client sends for `messages` (uncompressed, as negotiated by `client_hello`).
fn encode(messages: &[Message]) -> Result<Vec<u8>> {
    let mut encoder = Encoder::new(Limits::default());
    let mut out = BytesMut::new();
    for message in messages {
        encoder.encode(message, &mut out)?;
    }
    Ok(out.to_vec())
}

fn path(text: &str) -> Result<RelPath> {
    Ok(RelPath::new(text)?)
}

fn header(id: u64, file: &str, size: usize) -> Result<FileHeader> {
    Ok(FileHeader {
        id: RequestId(id),
        path: path(file)?,
        size: size as u64,
        meta: Meta {
            mode: 0o644,
            ..Meta::default()
        },
        options: WriteOptions {
            meta: MetaOptions {
                times: true,
                owner: false,
            },
            ..WriteOptions::default()
        },
    })
}

/// The whole tree, then `dir` following links with an exclude rule.
fn scan() -> Result<Vec<Message>> {
    Ok(vec![
        Message::ScanRequest {
            id: RequestId(1),
            base: RelPath::root(),
            filter: FilterRules::default(),
            follow_links: false,
        },
        Message::ScanRequest {
            id: RequestId(2),
            base: path("dir")?,
            filter: FilterRules {
                rules: vec![(RuleKind::Exclude, "*.bin".to_owned())],
                gitignore: true,
            },
            follow_links: true,
        },
        Message::Flush,
        Message::Goodbye,
    ])
}

/// A small file pushed whole into a new subdirectory.
fn push() -> Result<Vec<Message>> {
    let data = b"pushed by the client\n";
    Ok(vec![
        Message::TreeOps {
            id: RequestId(1),
            meta: MetaOptions::default(),
            ops: vec![TreeOp::Mkdir { path: path("new")? }],
        },
        Message::Flush,
        Message::FileBegin(header(2, "new/pushed.txt", data.len())?),
        Message::FileChunk {
            id: RequestId(2),
            offset: 0,
            data: Bytes::from_static(data),
        },
        Message::FileEnd {
            id: RequestId(2),
            digest: FileDigest::of_bytes(data),
        },
        Message::Flush,
        Message::Goodbye,
    ])
}

/// Links, modes and removals.
fn tree_ops() -> Result<Vec<Message>> {
    let meta = Meta {
        mode: 0o600,
        ..Meta::default()
    };
    Ok(vec![
        Message::TreeOps {
            id: RequestId(1),
            meta: MetaOptions {
                times: true,
                owner: false,
            },
            ops: vec![
                TreeOp::Symlink {
                    path: path("dir/to-a")?,
                    target: b"../a.txt".to_vec(),
                    meta,
                },
                TreeOp::HardLink {
                    path: path("hard")?,
                    target: path("a.txt")?,
                },
                TreeOp::SetMeta {
                    path: path("a.txt")?,
                    target: MetaTarget::File,
                    meta,
                },
                TreeOp::MakeWritable { path: path("dir")? },
                TreeOp::Remove {
                    path: path("dir/empty")?,
                },
            ],
        },
        Message::Flush,
        Message::Goodbye,
    ])
}

/// A push by delta: the basis's signature, then ops that keep its first half and replace the
/// rest.
fn delta_push() -> Result<Vec<Message>> {
    let big = big_file();
    let half = big.len() / 2;
    let tail = b"a new ending for the big file\n";
    let mut new = big[..half].to_vec();
    new.extend_from_slice(tail);
    Ok(vec![
        Message::SignatureRequest {
            id: RequestId(1),
            path: path("dir/big.bin")?,
            basis: Basis::Existing,
            block_size: None,
            strong_len: None,
        },
        Message::Flush,
        Message::DeltaBegin {
            header: header(2, "dir/big.bin", new.len())?,
            basis: Basis::Existing,
        },
        Message::DeltaChunk {
            id: RequestId(2),
            ops: vec![
                DeltaOp::Copy {
                    offset: 0,
                    len: half as u64,
                },
                DeltaOp::Literal(Bytes::from_static(tail)),
            ],
        },
        Message::DeltaEnd {
            id: RequestId(2),
            digest: FileDigest::of_bytes(&new),
        },
        Message::Flush,
        Message::Goodbye,
    ])
}

/// A pull: scan, then a delta read against an older basis, a whole read and checksums.
fn delta_read() -> Result<Vec<Message>> {
    let mut basis = big_file();
    basis.truncate(basis.len() - 1000);
    let options = sy_delta::SignatureOptions::for_len(basis.len() as u64);
    let signature = sy_delta::Signature::calculate(&basis[..], options)?;
    Ok(vec![
        Message::ScanRequest {
            id: RequestId(1),
            base: RelPath::root(),
            filter: FilterRules::default(),
            follow_links: false,
        },
        Message::Flush,
        Message::ReadRequest {
            id: RequestId(2),
            path: path("dir/big.bin")?,
            follow_links: false,
            delta: true,
        },
        Message::SignatureChunk {
            id: RequestId(2),
            data: Bytes::from(signature.to_bytes()),
        },
        Message::SignatureEnd { id: RequestId(2) },
        Message::ReadRequest {
            id: RequestId(3),
            path: path("a.txt")?,
            follow_links: false,
            delta: false,
        },
        Message::ChecksumRequest {
            id: RequestId(4),
            paths: vec![path("a.txt")?, path("link")?],
            follow_links: true,
        },
        Message::Flush,
        Message::Goodbye,
    ])
}
