//! The body layout of each message kind, read back (the layout is described in `encode.rs`).
//!
//! Every length and count is checked against the bytes left in the body before anything is
//! allocated for it; enum tags, flag bits and ranges are checked too, every path must be a
//! clean [`crate::RelPath`], and a body must be used up exactly.

use crate::encode::{
    ENTRY_DIR, ENTRY_FILE, ENTRY_SPECIAL, ENTRY_SYMLINK, OP_COPY, OP_LITERAL, OPT_CLEAR_PARTIAL,
    OPT_OWNER, OPT_SPARSE, OPT_TIMES, SCOPE_ITEM, SCOPE_PROBLEM, SCOPE_REQUEST, TREE_DROP_PARTIAL,
    TREE_HARDLINK, TREE_MAKE_WRITABLE, TREE_MKDIR, TREE_REMOVE, TREE_SET_META, TREE_SYMLINK,
    TREE_TIDY,
};
use crate::error::{ProtocolError, Result};
use crate::frame::{Limits, MAX_BLOCK_SIZE, MIN_STRONG_LEN};
use crate::kind::FrameKind;
use crate::message::{
    ErrorKind, ErrorReply, ErrorScope, FileHeader, ItemDigest, Message, RequestId, WriteOptions,
};
use crate::wire::{BodyReader, MAX_FILTER_RULES, MAX_LIST_ITEMS};
use crate::{
    Basis, Entry, EntryKind, FilterRules, Leftover, LeftoverKind, Meta, MetaOptions, MetaTarget,
    RuleKind, SpecialKind, Timestamp, TreeOp,
};
use bytes::Bytes;
use sy_delta::{DeltaOp, FileDigest};

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Bits of a mode that are permissions; a peer's others are dropped.
const PERMISSION_BITS: u32 = 0o7777;

/// Smallest encodings of list items, used to bound counts before allocating.
const MIN_ENTRY_LEN: usize = 11;
const MIN_LEFTOVER_LEN: usize = 3;
const MIN_RULE_LEN: usize = 2;
const MIN_OP_LEN: usize = 2;
const MIN_PATH_LEN: usize = 1;
const MIN_ITEM_DIGEST_LEN: usize = 1 + FileDigest::LEN;

/// Pre-allocation cap: items are larger in memory than on the wire, so a list grows with the
/// items actually parsed rather than with what its count claims.
const MAX_PREALLOCATED: usize = 1024;

pub(crate) fn decode_body(kind: FrameKind, body: Bytes, limits: &Limits) -> Result<Message> {
    let mut r = BodyReader::new(kind, body);
    let message = match kind {
        FrameKind::Hello => {
            return Err(ProtocolError::UnexpectedFrame {
                kind,
                context: "after the handshake",
            });
        }
        FrameKind::Flush => Message::Flush,
        FrameKind::Goodbye => Message::Goodbye,
        FrameKind::Ok => Message::Ok { id: id(&mut r)? },
        FrameKind::Error => Message::Error(error_reply(&mut r)?),
        FrameKind::Written => Message::Written {
            id: id(&mut r)?,
            literal: r.varint("literal")?,
            matched: r.varint("matched")?,
        },
        FrameKind::ScanRequest => Message::ScanRequest {
            id: id(&mut r)?,
            base: r.path("base")?,
            filter: FilterRules {
                rules: list_at_most(&mut r, "filter", MIN_RULE_LEN, MAX_FILTER_RULES, rule)?,
                gitignore: r.bool("gitignore")?,
            },
            follow_links: r.bool("follow_links")?,
        },
        FrameKind::ScanEntries => Message::ScanEntries {
            id: id(&mut r)?,
            entries: list(&mut r, "entries", MIN_ENTRY_LEN, entry)?,
        },
        FrameKind::ScanLeftovers => Message::ScanLeftovers {
            id: id(&mut r)?,
            leftovers: list(&mut r, "leftovers", MIN_LEFTOVER_LEN, leftover)?,
        },
        FrameKind::ScanDone => Message::ScanDone {
            id: id(&mut r)?,
            entries: r.varint("entries")?,
        },
        FrameKind::FileBegin => Message::FileBegin(header(&mut r)?),
        FrameKind::FileChunk => Message::FileChunk {
            id: id(&mut r)?,
            offset: r.varint("offset")?,
            data: r.bytes("data")?,
        },
        FrameKind::FileEnd => Message::FileEnd {
            id: id(&mut r)?,
            digest: digest(&mut r)?,
        },
        FrameKind::ReadRequest => Message::ReadRequest {
            id: id(&mut r)?,
            path: r.path("path")?,
            follow_links: r.bool("follow_links")?,
            delta: r.bool("delta")?,
        },
        FrameKind::SignatureRequest => signature_request(&mut r, limits)?,
        FrameKind::SignatureChunk => Message::SignatureChunk {
            id: id(&mut r)?,
            data: r.bytes("data")?,
        },
        FrameKind::SignatureEnd => Message::SignatureEnd { id: id(&mut r)? },
        FrameKind::DeltaBegin => Message::DeltaBegin {
            header: header(&mut r)?,
            basis: basis(&mut r)?,
        },
        FrameKind::DeltaChunk => Message::DeltaChunk {
            id: id(&mut r)?,
            ops: list(&mut r, "ops", MIN_OP_LEN, delta_op)?,
        },
        FrameKind::DeltaEnd => Message::DeltaEnd {
            id: id(&mut r)?,
            digest: digest(&mut r)?,
        },
        FrameKind::TreeOps => Message::TreeOps {
            id: id(&mut r)?,
            meta: {
                let bits = option_bits(&mut r, OPT_TIMES | OPT_OWNER)?;
                meta_options(bits)
            },
            ops: list(&mut r, "ops", MIN_OP_LEN, tree_op)?,
        },
        FrameKind::ChecksumRequest => Message::ChecksumRequest {
            id: id(&mut r)?,
            paths: list(&mut r, "paths", MIN_PATH_LEN, |r| r.path("path"))?,
            follow_links: r.bool("follow_links")?,
        },
        FrameKind::Checksums => Message::Checksums {
            id: id(&mut r)?,
            digests: list(&mut r, "digests", MIN_ITEM_DIGEST_LEN, |r| {
                Ok(ItemDigest {
                    item: r.u32("item")?,
                    digest: digest(r)?,
                })
            })?,
        },
    };
    r.finish()?;
    Ok(message)
}

fn list<T>(
    r: &mut BodyReader,
    field: &str,
    min_item_len: usize,
    item: impl FnMut(&mut BodyReader) -> Result<T>,
) -> Result<Vec<T>> {
    list_at_most(r, field, min_item_len, MAX_LIST_ITEMS, item)
}

fn list_at_most<T>(
    r: &mut BodyReader,
    field: &str,
    min_item_len: usize,
    max: usize,
    mut item: impl FnMut(&mut BodyReader) -> Result<T>,
) -> Result<Vec<T>> {
    let count = r.count(field, min_item_len, max)?;
    let mut items = Vec::with_capacity(count.min(MAX_PREALLOCATED));
    for _ in 0..count {
        items.push(item(r)?);
    }
    Ok(items)
}

fn id(r: &mut BodyReader) -> Result<RequestId> {
    Ok(RequestId(r.varint("id")?))
}

fn digest(r: &mut BodyReader) -> Result<FileDigest> {
    Ok(FileDigest::from_bytes(r.array("digest")?))
}

fn time(r: &mut BodyReader) -> Result<Timestamp> {
    let secs = r.signed("mtime_secs")?;
    let nanos = r.u32("mtime_nanos")?;
    if nanos >= NANOS_PER_SEC {
        return Err(r.error(format!("mtime nanoseconds {nanos} not below one second")));
    }
    Ok(Timestamp { secs, nanos })
}

fn meta(r: &mut BodyReader) -> Result<Meta> {
    Ok(Meta {
        mode: r.u32("mode")? & PERMISSION_BITS,
        mtime: time(r)?,
        uid: r.u32("uid")?,
        gid: r.u32("gid")?,
    })
}

fn option_bits(r: &mut BodyReader, known: u8) -> Result<u8> {
    let bits = r.u8("options")?;
    if bits & !known != 0 {
        return Err(r.error(format!("unknown option bits 0x{bits:02x}")));
    }
    Ok(bits)
}

fn meta_options(bits: u8) -> MetaOptions {
    MetaOptions {
        times: bits & OPT_TIMES != 0,
        owner: bits & OPT_OWNER != 0,
    }
}

/// One-byte enum tag, mapped through `table` (index = code).
fn tag<T: Copy>(r: &mut BodyReader, field: &str, table: &[T]) -> Result<T> {
    let code = r.u8(field)?;
    table
        .get(usize::from(code))
        .copied()
        .ok_or_else(|| r.error(format!("field `{field}`: unknown code {code}")))
}

fn basis(r: &mut BodyReader) -> Result<Basis> {
    tag(r, "basis", &[Basis::Existing, Basis::Partial])
}

fn header(r: &mut BodyReader) -> Result<FileHeader> {
    let id = id(r)?;
    let path = r.path("path")?;
    let size = r.varint("size")?;
    let meta = meta(r)?;
    let bits = option_bits(r, OPT_TIMES | OPT_OWNER | OPT_SPARSE | OPT_CLEAR_PARTIAL)?;
    Ok(FileHeader {
        id,
        path,
        size,
        meta,
        options: WriteOptions {
            meta: meta_options(bits),
            sparse: bits & OPT_SPARSE != 0,
            clear_partial: bits & OPT_CLEAR_PARTIAL != 0,
        },
    })
}

fn error_reply(r: &mut BodyReader) -> Result<ErrorReply> {
    let id = id(r)?;
    let scope = match r.u8("scope")? {
        SCOPE_REQUEST => ErrorScope::Request,
        SCOPE_ITEM => ErrorScope::Item(r.u32("item")?),
        SCOPE_PROBLEM => ErrorScope::Problem,
        other => return Err(r.error(format!("field `scope`: unknown code {other}"))),
    };
    let code = r.u8("error_kind")?;
    let kind =
        ErrorKind::from_code(code).ok_or_else(|| r.error(format!("unknown error kind {code}")))?;
    Ok(ErrorReply {
        id,
        scope,
        kind,
        path: r.vec("path")?,
        message: String::from_utf8_lossy(&r.bytes("message")?).into_owned(),
    })
}

fn rule(r: &mut BodyReader) -> Result<(RuleKind, String)> {
    let kind = tag(r, "rule_kind", &RuleKind::ALL)?;
    let pattern = r.bytes("pattern")?;
    let pattern = std::str::from_utf8(&pattern)
        .map_err(|_| r.error("field `pattern` is not UTF-8"))?
        .to_owned();
    Ok((kind, pattern))
}

fn entry(r: &mut BodyReader) -> Result<Entry> {
    let path = r.path("path")?;
    let kind = match r.u8("entry_kind")? {
        ENTRY_FILE => EntryKind::File,
        ENTRY_DIR => EntryKind::Dir,
        ENTRY_SYMLINK => EntryKind::Symlink {
            target: r.vec("symlink_target")?,
        },
        ENTRY_SPECIAL => EntryKind::Special(tag(
            r,
            "special_kind",
            &[
                SpecialKind::Fifo,
                SpecialKind::Socket,
                SpecialKind::CharDevice,
                SpecialKind::BlockDevice,
            ],
        )?),
        other => return Err(r.error(format!("field `entry_kind`: unknown code {other}"))),
    };
    Ok(Entry {
        path,
        kind,
        size: r.varint("size")?,
        meta: meta(r)?,
        dev: r.varint("dev")?,
        ino: r.varint("ino")?,
        nlink: r.varint("nlink")?,
    })
}

fn leftover(r: &mut BodyReader) -> Result<Leftover> {
    let path = r.path("path")?;
    let file = if r.bool("has_file")? {
        Some(r.path("file")?)
    } else {
        None
    };
    let kind = tag(
        r,
        "leftover_kind",
        &[LeftoverKind::Partial, LeftoverKind::Temp],
    )?;
    Ok(Leftover { path, file, kind })
}

fn delta_op(r: &mut BodyReader) -> Result<DeltaOp<Bytes>> {
    match r.u8("op")? {
        OP_COPY => Ok(DeltaOp::Copy {
            offset: r.varint("offset")?,
            len: r.varint("len")?,
        }),
        OP_LITERAL => Ok(DeltaOp::Literal(r.bytes("literal")?)),
        other => Err(r.error(format!("field `op`: unknown code {other}"))),
    }
}

fn tree_op(r: &mut BodyReader) -> Result<TreeOp> {
    Ok(match r.u8("tree_op")? {
        TREE_MKDIR => TreeOp::Mkdir {
            path: r.path("path")?,
        },
        TREE_SYMLINK => TreeOp::Symlink {
            path: r.path("path")?,
            target: r.vec("target")?,
            meta: meta(r)?,
        },
        TREE_HARDLINK => TreeOp::HardLink {
            path: r.path("path")?,
            target: r.path("target")?,
        },
        TREE_SET_META => TreeOp::SetMeta {
            path: r.path("path")?,
            target: tag(
                r,
                "meta_target",
                &[MetaTarget::File, MetaTarget::Dir, MetaTarget::Symlink],
            )?,
            meta: meta(r)?,
        },
        TREE_MAKE_WRITABLE => TreeOp::MakeWritable {
            path: r.path("path")?,
        },
        TREE_REMOVE => TreeOp::Remove {
            path: r.path("path")?,
        },
        TREE_TIDY => TreeOp::Tidy(leftover(r)?),
        TREE_DROP_PARTIAL => TreeOp::DropPartial {
            file: r.path("file")?,
        },
        other => return Err(r.error(format!("field `tree_op`: unknown code {other}"))),
    })
}

fn signature_request(r: &mut BodyReader, limits: &Limits) -> Result<Message> {
    let id = id(r)?;
    let path = r.path("path")?;
    let basis = basis(r)?;
    let block_size = Some(r.u32("block_size")?).filter(|size| *size != 0);
    let strong_len = Some(r.u8("strong_len")?).filter(|len| *len != 0);
    check_signature_params(r.kind(), block_size, strong_len, limits)?;
    Ok(Message::SignatureRequest {
        id,
        path,
        basis,
        block_size,
        strong_len,
    })
}

/// Checks the fields whose ranges the encoder can see, so a bad message fails at the sender with
/// the same error the receiver would give.
pub(crate) fn check_outgoing(message: &Message, limits: &Limits) -> Result<()> {
    match message {
        Message::SignatureRequest {
            block_size,
            strong_len,
            ..
        } => check_signature_params(
            FrameKind::SignatureRequest,
            *block_size,
            *strong_len,
            limits,
        ),
        _ => Ok(()),
    }
}

fn check_signature_params(
    kind: FrameKind,
    block_size: Option<u32>,
    strong_len: Option<u8>,
    limits: &Limits,
) -> Result<()> {
    if let Some(block_size) = block_size
        && !(1..=MAX_BLOCK_SIZE).contains(&block_size)
    {
        return Err(ProtocolError::malformed(
            kind,
            format!("block size {block_size} outside 1..={MAX_BLOCK_SIZE}"),
        ));
    }
    match strong_len {
        Some(len) if len < MIN_STRONG_LEN => Err(ProtocolError::malformed(
            kind,
            format!("strong hash length {len} below the minimum of {MIN_STRONG_LEN}"),
        )),
        Some(len) if len > limits.max_strong_len => Err(ProtocolError::StrongHashTooLong {
            kind,
            len,
            max: limits.max_strong_len,
        }),
        _ => Ok(()),
    }
}
