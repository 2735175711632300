//! The body layout of each message kind.
//!
//! Integers are LEB128 varints (signed ones zigzag-mapped), byte strings are a varint length and
//! the bytes, digests are 32 raw bytes, lists are a varint count and the items. Optional fields
//! are preceded by a presence flag (or gathered in one flag byte).

use bytes::Bytes;

use crate::error::{ProtocolError, Result};
use crate::frame::{Limits, MAX_BLOCK_SIZE, MIN_STRONG_LEN};
use crate::kind::FrameKind;
use crate::message::{
    DIGEST_LEN, Entry, EntryKind, ErrorKind, ErrorReply, FileHeader, Message, MetadataUpdate,
    NewDir, NewLink, RequestId, Timestamp,
};
use crate::wire::{BodyReader, Counter, Sink, put_bytes, put_signed, put_varint};

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Smallest encodings, used to bound list counts before allocating.
const MIN_ENTRY_LEN: usize = 12;
const MIN_DIR_LEN: usize = 2;
const MIN_LINK_LEN: usize = 2;
const MIN_UPDATE_LEN: usize = 2;
const MIN_PATH_LEN: usize = 1;

const ENTRY_FILE: u8 = 0;
const ENTRY_DIR: u8 = 1;
const ENTRY_SYMLINK: u8 = 2;
const ENTRY_OTHER: u8 = 3;

const HAS_MODE: u8 = 1;
const HAS_MTIME: u8 = 2;
const HAS_UID: u8 = 4;
const HAS_GID: u8 = 8;

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
        Message::Error(reply) => {
            put_id(dst, reply.id);
            match reply.item {
                Some(item) => {
                    dst.put_u8(1);
                    put_varint(dst, u64::from(item));
                }
                None => dst.put_u8(0),
            }
            dst.put_u8(reply.kind as u8);
            put_bytes(dst, &reply.path);
            put_bytes(dst, reply.message.as_bytes());
        }
        Message::ScanRequest {
            id,
            path,
            recursive,
            checksum,
        } => {
            put_id(dst, *id);
            put_bytes(dst, path);
            dst.put_u8(u8::from(*recursive));
            dst.put_u8(u8::from(*checksum));
        }
        Message::ScanEntries { id, entries } => {
            put_id(dst, *id);
            put_varint(dst, entries.len() as u64);
            for entry in entries {
                put_entry(dst, entry);
            }
        }
        Message::ScanDone { id, entries } => {
            put_id(dst, *id);
            put_varint(dst, *entries);
        }
        Message::FileBegin(header) | Message::DeltaBegin(header) => {
            put_id(dst, header.id);
            put_bytes(dst, &header.path);
            put_varint(dst, header.size);
            put_varint(dst, u64::from(header.mode));
            put_time(dst, header.mtime);
        }
        Message::FileChunk { id, offset, data } => {
            put_id(dst, *id);
            put_varint(dst, *offset);
            put_bytes(dst, data);
        }
        Message::FileEnd { id, digest } | Message::DeltaEnd { id, digest } => {
            put_id(dst, *id);
            dst.put_slice(digest);
        }
        Message::ReadRequest { id, path, delta } => {
            put_id(dst, *id);
            put_bytes(dst, path);
            dst.put_u8(u8::from(*delta));
        }
        Message::SignatureRequest {
            id,
            path,
            block_size,
            strong_len,
        } => {
            put_id(dst, *id);
            put_bytes(dst, path);
            put_varint(dst, u64::from(*block_size));
            dst.put_u8(*strong_len);
        }
        Message::SignatureChunk { id, data } | Message::DeltaChunk { id, data } => {
            put_id(dst, *id);
            put_bytes(dst, data);
        }
        Message::Mkdir { id, dirs } => {
            put_id(dst, *id);
            put_varint(dst, dirs.len() as u64);
            for dir in dirs {
                put_bytes(dst, &dir.path);
                put_varint(dst, u64::from(dir.mode));
            }
        }
        Message::Symlink { id, links } | Message::Hardlink { id, links } => {
            put_id(dst, *id);
            put_varint(dst, links.len() as u64);
            for link in links {
                put_bytes(dst, &link.path);
                put_bytes(dst, &link.target);
            }
        }
        Message::SetMetadata { id, updates } => {
            put_id(dst, *id);
            put_varint(dst, updates.len() as u64);
            for update in updates {
                put_update(dst, update);
            }
        }
        Message::Remove { id, paths } => {
            put_id(dst, *id);
            put_varint(dst, paths.len() as u64);
            for path in paths {
                put_bytes(dst, path);
            }
        }
    }
}

fn put_id(dst: &mut impl Sink, id: RequestId) {
    put_varint(dst, id.0);
}

fn put_time(dst: &mut impl Sink, time: Timestamp) {
    put_signed(dst, time.secs);
    put_varint(dst, u64::from(time.nanos));
}

fn put_entry(dst: &mut impl Sink, entry: &Entry) {
    put_bytes(dst, &entry.path);
    match &entry.kind {
        EntryKind::File => dst.put_u8(ENTRY_FILE),
        EntryKind::Dir => dst.put_u8(ENTRY_DIR),
        EntryKind::Symlink { target } => {
            dst.put_u8(ENTRY_SYMLINK);
            put_bytes(dst, target);
        }
        EntryKind::Other => dst.put_u8(ENTRY_OTHER),
    }
    put_varint(dst, entry.size);
    put_time(dst, entry.mtime);
    for field in [entry.mode, entry.uid, entry.gid] {
        put_varint(dst, u64::from(field));
    }
    for field in [entry.dev, entry.ino, entry.nlink] {
        put_varint(dst, field);
    }
    match &entry.digest {
        Some(digest) => {
            dst.put_u8(1);
            dst.put_slice(digest);
        }
        None => dst.put_u8(0),
    }
}

fn put_update(dst: &mut impl Sink, update: &MetadataUpdate) {
    put_bytes(dst, &update.path);
    let flags = [
        (update.mode.is_some(), HAS_MODE),
        (update.mtime.is_some(), HAS_MTIME),
        (update.uid.is_some(), HAS_UID),
        (update.gid.is_some(), HAS_GID),
    ]
    .into_iter()
    .filter(|(present, _)| *present)
    .fold(0, |flags, (_, bit)| flags | bit);
    dst.put_u8(flags);
    if let Some(mode) = update.mode {
        put_varint(dst, u64::from(mode));
    }
    if let Some(mtime) = update.mtime {
        put_time(dst, mtime);
    }
    for field in [update.uid, update.gid].into_iter().flatten() {
        put_varint(dst, u64::from(field));
    }
}

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
        FrameKind::Error => Message::Error(ErrorReply {
            id: id(&mut r)?,
            item: if r.bool("has_item")? {
                Some(r.u32("item")?)
            } else {
                None
            },
            kind: {
                let code = r.u8("error_kind")?;
                ErrorKind::from_code(code)
                    .ok_or_else(|| r.error(format!("unknown error kind {code}")))?
            },
            path: r.vec("path")?,
            message: String::from_utf8_lossy(&r.bytes("message")?).into_owned(),
        }),
        FrameKind::ScanRequest => Message::ScanRequest {
            id: id(&mut r)?,
            path: r.vec("path")?,
            recursive: r.bool("recursive")?,
            checksum: r.bool("checksum")?,
        },
        FrameKind::ScanEntries => {
            let id = id(&mut r)?;
            let count = r.count("entries", MIN_ENTRY_LEN)?;
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                entries.push(entry(&mut r)?);
            }
            Message::ScanEntries { id, entries }
        }
        FrameKind::ScanDone => Message::ScanDone {
            id: id(&mut r)?,
            entries: r.varint("entries")?,
        },
        FrameKind::FileBegin => Message::FileBegin(header(&mut r)?),
        FrameKind::DeltaBegin => Message::DeltaBegin(header(&mut r)?),
        FrameKind::FileChunk => Message::FileChunk {
            id: id(&mut r)?,
            offset: r.varint("offset")?,
            data: r.bytes("data")?,
        },
        FrameKind::FileEnd => Message::FileEnd {
            id: id(&mut r)?,
            digest: r.array("digest")?,
        },
        FrameKind::DeltaEnd => Message::DeltaEnd {
            id: id(&mut r)?,
            digest: r.array::<DIGEST_LEN>("digest")?,
        },
        FrameKind::ReadRequest => Message::ReadRequest {
            id: id(&mut r)?,
            path: r.vec("path")?,
            delta: r.bool("delta")?,
        },
        FrameKind::SignatureRequest => signature_request(&mut r, limits)?,
        FrameKind::SignatureChunk => Message::SignatureChunk {
            id: id(&mut r)?,
            data: r.bytes("data")?,
        },
        FrameKind::SignatureEnd => Message::SignatureEnd { id: id(&mut r)? },
        FrameKind::DeltaChunk => Message::DeltaChunk {
            id: id(&mut r)?,
            data: r.bytes("data")?,
        },
        FrameKind::Mkdir => {
            let id = id(&mut r)?;
            let count = r.count("dirs", MIN_DIR_LEN)?;
            let mut dirs = Vec::with_capacity(count);
            for _ in 0..count {
                dirs.push(NewDir {
                    path: r.vec("path")?,
                    mode: r.u32("mode")?,
                });
            }
            Message::Mkdir { id, dirs }
        }
        FrameKind::Symlink | FrameKind::Hardlink => {
            let id = id(&mut r)?;
            let links = links(&mut r)?;
            if kind == FrameKind::Symlink {
                Message::Symlink { id, links }
            } else {
                Message::Hardlink { id, links }
            }
        }
        FrameKind::SetMetadata => {
            let id = id(&mut r)?;
            let count = r.count("updates", MIN_UPDATE_LEN)?;
            let mut updates = Vec::with_capacity(count);
            for _ in 0..count {
                updates.push(update(&mut r)?);
            }
            Message::SetMetadata { id, updates }
        }
        FrameKind::Remove => {
            let id = id(&mut r)?;
            let count = r.count("paths", MIN_PATH_LEN)?;
            let mut paths = Vec::with_capacity(count);
            for _ in 0..count {
                paths.push(r.vec("path")?);
            }
            Message::Remove { id, paths }
        }
    };
    r.finish()?;
    Ok(message)
}

fn id(r: &mut BodyReader) -> Result<RequestId> {
    Ok(RequestId(r.varint("id")?))
}

fn time(r: &mut BodyReader) -> Result<Timestamp> {
    let secs = r.signed("mtime_secs")?;
    let nanos = r.u32("mtime_nanos")?;
    if nanos >= NANOS_PER_SEC {
        return Err(r.error(format!("mtime nanoseconds {nanos} not below one second")));
    }
    Ok(Timestamp { secs, nanos })
}

fn header(r: &mut BodyReader) -> Result<FileHeader> {
    Ok(FileHeader {
        id: id(r)?,
        path: r.vec("path")?,
        size: r.varint("size")?,
        mode: r.u32("mode")?,
        mtime: time(r)?,
    })
}

fn entry(r: &mut BodyReader) -> Result<Entry> {
    let path = r.vec("path")?;
    let kind = match r.u8("entry_kind")? {
        ENTRY_FILE => EntryKind::File,
        ENTRY_DIR => EntryKind::Dir,
        ENTRY_SYMLINK => EntryKind::Symlink {
            target: r.vec("symlink_target")?,
        },
        ENTRY_OTHER => EntryKind::Other,
        other => return Err(r.error(format!("unknown entry kind {other}"))),
    };
    Ok(Entry {
        path,
        kind,
        size: r.varint("size")?,
        mtime: time(r)?,
        mode: r.u32("mode")?,
        uid: r.u32("uid")?,
        gid: r.u32("gid")?,
        dev: r.varint("dev")?,
        ino: r.varint("ino")?,
        nlink: r.varint("nlink")?,
        digest: if r.bool("has_digest")? {
            Some(r.array::<DIGEST_LEN>("digest")?)
        } else {
            None
        },
    })
}

fn links(r: &mut BodyReader) -> Result<Vec<NewLink>> {
    let count = r.count("links", MIN_LINK_LEN)?;
    let mut links = Vec::with_capacity(count);
    for _ in 0..count {
        links.push(NewLink {
            path: r.vec("path")?,
            target: r.vec("target")?,
        });
    }
    Ok(links)
}

fn update(r: &mut BodyReader) -> Result<MetadataUpdate> {
    let path = r.vec("path")?;
    let flags = r.u8("flags")?;
    if flags & !(HAS_MODE | HAS_MTIME | HAS_UID | HAS_GID) != 0 {
        return Err(r.error(format!("unknown metadata flags 0x{flags:02x}")));
    }
    let mode = if flags & HAS_MODE != 0 {
        Some(r.u32("mode")?)
    } else {
        None
    };
    let mtime = if flags & HAS_MTIME != 0 {
        Some(time(r)?)
    } else {
        None
    };
    let uid = if flags & HAS_UID != 0 {
        Some(r.u32("uid")?)
    } else {
        None
    };
    let gid = if flags & HAS_GID != 0 {
        Some(r.u32("gid")?)
    } else {
        None
    };
    Ok(MetadataUpdate {
        path,
        mode,
        mtime,
        uid,
        gid,
    })
}

fn signature_request(r: &mut BodyReader, limits: &Limits) -> Result<Message> {
    let id = id(r)?;
    let path = r.vec("path")?;
    let block_size = r.u32("block_size")?;
    let strong_len = r.u8("strong_len")?;
    check_signature_params(r.kind(), block_size, strong_len, limits)?;
    Ok(Message::SignatureRequest {
        id,
        path,
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
    block_size: u32,
    strong_len: u8,
    limits: &Limits,
) -> Result<()> {
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(ProtocolError::malformed(
            kind,
            format!("block size {block_size} outside 1..={MAX_BLOCK_SIZE}"),
        ));
    }
    if strong_len < MIN_STRONG_LEN {
        return Err(ProtocolError::malformed(
            kind,
            format!("strong hash length {strong_len} below the minimum of {MIN_STRONG_LEN}"),
        ));
    }
    if strong_len > limits.max_strong_len {
        return Err(ProtocolError::StrongHashTooLong {
            kind,
            len: strong_len,
            max: limits.max_strong_len,
        });
    }
    Ok(())
}
