//! The body layout of each message kind, written.
//!
//! Integers are LEB128 varints (signed ones zigzag-mapped), byte strings are a varint length and
//! the bytes, digests are 32 raw bytes, lists are a varint count and the items, enums and option
//! flags are one byte. `decode.rs` reads exactly this.

use bytes::Bytes;
use sy_delta::DeltaOp;

use crate::message::{ErrorReply, ErrorScope, FileHeader, Message, RequestId, WriteOptions};
use crate::wire::{Counter, Sink, put_bytes, put_signed, put_varint};
use crate::{
    Basis, Entry, EntryKind, Leftover, LeftoverKind, Meta, MetaOptions, MetaTarget, RelPath,
    RuleKind, SpecialKind, Timestamp, TreeOp,
};

pub(crate) const ENTRY_FILE: u8 = 0;
pub(crate) const ENTRY_DIR: u8 = 1;
pub(crate) const ENTRY_SYMLINK: u8 = 2;
pub(crate) const ENTRY_SPECIAL: u8 = 3;

pub(crate) const SCOPE_REQUEST: u8 = 0;
pub(crate) const SCOPE_ITEM: u8 = 1;
pub(crate) const SCOPE_PROBLEM: u8 = 2;

pub(crate) const OP_COPY: u8 = 0;
pub(crate) const OP_LITERAL: u8 = 1;

pub(crate) const TREE_MKDIR: u8 = 0;
pub(crate) const TREE_SYMLINK: u8 = 1;
pub(crate) const TREE_HARDLINK: u8 = 2;
pub(crate) const TREE_SET_META: u8 = 3;
pub(crate) const TREE_MAKE_WRITABLE: u8 = 4;
pub(crate) const TREE_REMOVE: u8 = 5;
pub(crate) const TREE_TIDY: u8 = 6;
pub(crate) const TREE_DROP_PARTIAL: u8 = 7;

/// Bits of the option byte of `FileHeader` and `TreeOps`.
pub(crate) const OPT_TIMES: u8 = 1;
pub(crate) const OPT_OWNER: u8 = 2;
pub(crate) const OPT_SPARSE: u8 = 4;
pub(crate) const OPT_CLEAR_PARTIAL: u8 = 8;

/// Bytes `message`'s body takes on the wire.
pub(crate) fn body_len(message: &Message) -> usize {
    let mut counter = Counter::default();
    encode_body(message, &mut counter);
    counter.0
}

/// Bytes `entry` adds to a [`Message::ScanEntries`] body.
pub(crate) fn entry_len(entry: &Entry) -> usize {
    let mut counter = Counter::default();
    put_entry(&mut counter, entry);
    counter.0
}

pub(crate) fn encode_body(message: &Message, dst: &mut impl Sink) {
    match message {
        Message::Flush | Message::Goodbye => {}
        Message::Ok { id } | Message::SignatureEnd { id } => put_id(dst, *id),
        Message::Error(reply) => put_error(dst, reply),
        Message::Written {
            id,
            literal,
            matched,
        } => {
            put_id(dst, *id);
            put_varint(dst, *literal);
            put_varint(dst, *matched);
        }
        Message::ScanRequest {
            id,
            base,
            filter,
            follow_links,
        } => {
            put_id(dst, *id);
            put_path(dst, base);
            put_list(dst, &filter.rules, put_rule);
            put_bool(dst, filter.gitignore);
            put_bool(dst, *follow_links);
        }
        Message::ScanEntries { id, entries } => {
            put_id(dst, *id);
            put_list(dst, entries, put_entry);
        }
        Message::ScanLeftovers { id, leftovers } => {
            put_id(dst, *id);
            put_list(dst, leftovers, put_leftover);
        }
        Message::ScanDone { id, entries } => {
            put_id(dst, *id);
            put_varint(dst, *entries);
        }
        Message::FileBegin(header) => put_header(dst, header),
        Message::FileChunk { id, offset, data } => {
            put_id(dst, *id);
            put_varint(dst, *offset);
            put_bytes(dst, data);
        }
        Message::FileEnd { id, digest } | Message::DeltaEnd { id, digest } => {
            put_id(dst, *id);
            dst.put_slice(digest.as_bytes());
        }
        Message::ReadRequest {
            id,
            path,
            follow_links,
            delta,
        } => {
            put_id(dst, *id);
            put_path(dst, path);
            put_bool(dst, *follow_links);
            put_bool(dst, *delta);
        }
        Message::SignatureRequest {
            id,
            path,
            basis,
            block_size,
            strong_len,
        } => {
            put_id(dst, *id);
            put_path(dst, path);
            put_basis(dst, *basis);
            put_varint(dst, u64::from(block_size.unwrap_or(0)));
            dst.put_u8(strong_len.unwrap_or(0));
        }
        Message::SignatureChunk { id, data } => {
            put_id(dst, *id);
            put_bytes(dst, data);
        }
        Message::DeltaBegin { header, basis } => {
            put_header(dst, header);
            put_basis(dst, *basis);
        }
        Message::DeltaChunk { id, ops } => {
            put_id(dst, *id);
            put_list(dst, ops, put_delta_op);
        }
        Message::TreeOps { id, meta, ops } => {
            put_id(dst, *id);
            dst.put_u8(meta_bits(*meta));
            put_list(dst, ops, put_tree_op);
        }
        Message::ChecksumRequest {
            id,
            paths,
            follow_links,
        } => {
            put_id(dst, *id);
            put_list(dst, paths, put_path);
            put_bool(dst, *follow_links);
        }
        Message::Checksums { id, digests } => {
            put_id(dst, *id);
            put_list(dst, digests, |dst, item| {
                put_varint(dst, u64::from(item.item));
                dst.put_slice(item.digest.as_bytes());
            });
        }
    }
}

fn put_list<S: Sink, T>(dst: &mut S, items: &[T], mut put: impl FnMut(&mut S, &T)) {
    put_varint(dst, items.len() as u64);
    for item in items {
        put(dst, item);
    }
}

fn put_bool(dst: &mut impl Sink, value: bool) {
    dst.put_u8(u8::from(value));
}

fn put_path(dst: &mut impl Sink, path: &RelPath) {
    put_bytes(dst, path.as_bytes());
}

fn put_id(dst: &mut impl Sink, id: RequestId) {
    put_varint(dst, id.0);
}

fn put_time(dst: &mut impl Sink, time: Timestamp) {
    put_signed(dst, time.secs);
    put_varint(dst, u64::from(time.nanos));
}

fn put_meta(dst: &mut impl Sink, meta: &Meta) {
    put_varint(dst, u64::from(meta.mode));
    put_time(dst, meta.mtime);
    put_varint(dst, u64::from(meta.uid));
    put_varint(dst, u64::from(meta.gid));
}

fn meta_bits(meta: MetaOptions) -> u8 {
    (if meta.times { OPT_TIMES } else { 0 }) | (if meta.owner { OPT_OWNER } else { 0 })
}

fn put_basis(dst: &mut impl Sink, basis: Basis) {
    dst.put_u8(match basis {
        Basis::Existing => 0,
        Basis::Partial => 1,
    });
}

fn put_header(dst: &mut impl Sink, header: &FileHeader) {
    put_id(dst, header.id);
    put_path(dst, &header.path);
    put_varint(dst, header.size);
    put_meta(dst, &header.meta);
    let WriteOptions {
        meta,
        sparse,
        clear_partial,
    } = header.options;
    dst.put_u8(
        meta_bits(meta)
            | (if sparse { OPT_SPARSE } else { 0 })
            | (if clear_partial { OPT_CLEAR_PARTIAL } else { 0 }),
    );
}

fn put_error(dst: &mut impl Sink, reply: &ErrorReply) {
    put_id(dst, reply.id);
    match reply.scope {
        ErrorScope::Request => dst.put_u8(SCOPE_REQUEST),
        ErrorScope::Item(item) => {
            dst.put_u8(SCOPE_ITEM);
            put_varint(dst, u64::from(item));
        }
        ErrorScope::Problem => dst.put_u8(SCOPE_PROBLEM),
    }
    dst.put_u8(reply.kind as u8);
    put_bytes(dst, &reply.path);
    put_bytes(dst, reply.message.as_bytes());
}

fn put_rule(dst: &mut impl Sink, (kind, pattern): &(RuleKind, String)) {
    // The codes are the kinds' places in `RuleKind::ALL`, which the decoder reads by.
    dst.put_u8(match kind {
        RuleKind::Include => 0,
        RuleKind::Exclude => 1,
        RuleKind::Protect => 2,
        RuleKind::Risk => 3,
        RuleKind::DirMerge => 4,
        RuleKind::ExcludeOthers => 5,
        RuleKind::IncludeOthers => 6,
    });
    put_bytes(dst, pattern.as_bytes());
}

fn put_entry(dst: &mut impl Sink, entry: &Entry) {
    put_path(dst, &entry.path);
    match &entry.kind {
        EntryKind::File => dst.put_u8(ENTRY_FILE),
        EntryKind::Dir => dst.put_u8(ENTRY_DIR),
        EntryKind::Symlink { target } => {
            dst.put_u8(ENTRY_SYMLINK);
            put_bytes(dst, target);
        }
        EntryKind::Special(special) => {
            dst.put_u8(ENTRY_SPECIAL);
            dst.put_u8(match special {
                SpecialKind::Fifo => 0,
                SpecialKind::Socket => 1,
                SpecialKind::CharDevice => 2,
                SpecialKind::BlockDevice => 3,
            });
        }
    }
    put_varint(dst, entry.size);
    put_meta(dst, &entry.meta);
    for field in [entry.dev, entry.ino, entry.nlink] {
        put_varint(dst, field);
    }
}

fn put_leftover(dst: &mut impl Sink, leftover: &Leftover) {
    put_path(dst, &leftover.path);
    match &leftover.file {
        Some(file) => {
            dst.put_u8(1);
            put_path(dst, file);
        }
        None => dst.put_u8(0),
    }
    dst.put_u8(match leftover.kind {
        LeftoverKind::Partial => 0,
        LeftoverKind::Temp => 1,
    });
}

fn put_delta_op(dst: &mut impl Sink, op: &DeltaOp<Bytes>) {
    match op {
        DeltaOp::Copy { offset, len } => {
            dst.put_u8(OP_COPY);
            put_varint(dst, *offset);
            put_varint(dst, *len);
        }
        DeltaOp::Literal(bytes) => {
            dst.put_u8(OP_LITERAL);
            put_bytes(dst, bytes);
        }
    }
}

fn put_tree_op(dst: &mut impl Sink, op: &TreeOp) {
    match op {
        TreeOp::Mkdir { path } => {
            dst.put_u8(TREE_MKDIR);
            put_path(dst, path);
        }
        TreeOp::Symlink { path, target, meta } => {
            dst.put_u8(TREE_SYMLINK);
            put_path(dst, path);
            put_bytes(dst, target);
            put_meta(dst, meta);
        }
        TreeOp::HardLink { path, target } => {
            dst.put_u8(TREE_HARDLINK);
            put_path(dst, path);
            put_path(dst, target);
        }
        TreeOp::SetMeta { path, target, meta } => {
            dst.put_u8(TREE_SET_META);
            put_path(dst, path);
            dst.put_u8(match target {
                MetaTarget::File => 0,
                MetaTarget::Dir => 1,
                MetaTarget::Symlink => 2,
            });
            put_meta(dst, meta);
        }
        TreeOp::MakeWritable { path } => {
            dst.put_u8(TREE_MAKE_WRITABLE);
            put_path(dst, path);
        }
        TreeOp::Remove { path } => {
            dst.put_u8(TREE_REMOVE);
            put_path(dst, path);
        }
        TreeOp::Tidy(leftover) => {
            dst.put_u8(TREE_TIDY);
            put_leftover(dst, leftover);
        }
        TreeOp::DropPartial { file } => {
            dst.put_u8(TREE_DROP_PARTIAL);
            put_path(dst, file);
        }
    }
}
