//! The agent's request tasks, each answering one request: scans, file reads and deltas for
//! pulls, signatures for pushes, checksums, and the outcome of tree operations and writes.

use std::sync::Arc;

use bytes::Bytes;
use sy_delta::{FileDigest, FileHasher};
use sy_protocol::{self as wire, CHUNK_LEN, ErrorScope, Message, RequestId, worth_compressing};

use super::receive::DeltaRead;
use super::tasks::Reply;
use crate::agent::link::Out;
use crate::agent::outgoing::{DeltaBatcher, send_local_file};
use crate::{
    Basis, Cancel, DeltaChunk, Entry, EntryKind, Error, FileData, Meta, MetaOptions, ReadOptions,
    RelPath, Result, ScanOptions, StreamChunk, Transport, TreeOp, Written,
};

/// Entries per frame stay below this many encoded bytes (well under any frame limit).
const SCAN_FRAME: usize = 256 << 10;
/// Files read into memory whole for a pull, up to this size.
const INLINE: u64 = CHUNK_LEN as u64;

fn source_entry(path: RelPath) -> Entry {
    Entry {
        path,
        kind: EntryKind::File,
        size: 0,
        meta: Meta::default(),
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

fn header(id: RequestId, entry: &Entry) -> wire::FileHeader {
    wire::FileHeader {
        id,
        path: entry.path.clone(),
        size: entry.size,
        meta: entry.meta,
        options: wire::WriteOptions::default(),
    }
}

/// The answer to a pushed file or delta: what writing it did, or why it failed.
pub(super) async fn written(reply: &Reply, id: RequestId, result: Result<Written>) {
    match result {
        Ok(written) => {
            reply
                .send(Message::Written {
                    id,
                    literal: written.literal,
                    matched: written.matched,
                })
                .await;
        }
        Err(e) => reply.error(id, ErrorScope::Request, &e).await,
    }
}

pub(super) async fn scan<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    options: ScanOptions,
) {
    let scan = match transport.scan(options).await {
        Ok(scan) => scan,
        Err(e) => return reply.error(id, ErrorScope::Request, &e).await,
    };
    for problem in &scan.problems {
        reply.error(id, ErrorScope::Problem, problem).await;
    }
    let mut batch = Vec::new();
    let mut bytes = 0;
    let total = scan.entries.len() as u64;
    for entry in scan.entries {
        bytes += entry.encoded_len();
        batch.push(entry);
        if bytes >= SCAN_FRAME || batch.len() >= wire::MAX_LIST_ITEMS {
            let entries = std::mem::take(&mut batch);
            bytes = 0;
            reply.send(Message::ScanEntries { id, entries }).await;
        }
    }
    if !batch.is_empty() {
        reply
            .send(Message::ScanEntries { id, entries: batch })
            .await;
    }
    for leftovers in scan.leftovers.chunks(wire::MAX_LIST_ITEMS) {
        let leftovers = leftovers.to_vec();
        reply.send(Message::ScanLeftovers { id, leftovers }).await;
    }
    reply.send(Message::ScanDone { id, entries: total }).await;
}

pub(super) async fn read<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    path: RelPath,
    follow_links: bool,
) {
    let options = ReadOptions {
        inline_limit: INLINE,
        follow_links,
        cancel: Cancel::default(),
    };
    let opened = transport
        .read_files(vec![source_entry(path)], options)
        .await
        .pop()
        .unwrap_or(Err(Error::Interrupted));
    let source = match opened {
        Ok(source) => source,
        Err(e) => return reply.error(id, ErrorScope::Request, &e).await,
    };
    reply
        .send(Message::FileBegin(header(id, &source.entry)))
        .await;
    let sent = match source.data {
        FileData::Bytes(bytes) => send_bytes(&reply, id, &source.entry.path, bytes).await,
        FileData::Local(file) => {
            let (reply, entry) = (reply.clone(), source.entry.clone());
            tokio::task::spawn_blocking(move || {
                send_local_file(
                    &reply.out,
                    id,
                    &entry,
                    file,
                    reply.compressing(),
                    |_| Ok(()),
                )
            })
            .await
            .unwrap_or(Err(Error::Interrupted))
        }
        FileData::Stream(mut chunks) => {
            let mut hasher = FileHasher::new();
            let mut offset = 0u64;
            let mut failed = None;
            loop {
                match chunks.recv().await.unwrap_or(Err(Error::Interrupted)) {
                    Ok(StreamChunk::Data(data)) => {
                        hasher.update(&data);
                        let len = data.len() as u64;
                        reply.send(Message::FileChunk { id, offset, data }).await;
                        offset += len;
                    }
                    Ok(StreamChunk::End) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(hasher.finalize()),
            }
        }
    };
    match sent {
        Ok(digest) => reply.send(Message::FileEnd { id, digest }).await,
        Err(e) => reply.error(id, ErrorScope::Request, &e).await,
    }
}

async fn send_bytes(
    reply: &Reply,
    id: RequestId,
    path: &RelPath,
    bytes: Bytes,
) -> Result<FileDigest> {
    let digest = FileDigest::of_bytes(&bytes);
    let stored = reply.compressing() && !worth_compressing(path.as_bytes(), &bytes);
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + CHUNK_LEN).min(bytes.len());
        let message = Message::FileChunk {
            id,
            offset: offset as u64,
            data: bytes.slice(offset..end),
        };
        let _ = reply.out.send(Out { message, stored }).await;
        offset = end;
    }
    Ok(digest)
}

pub(super) async fn signature<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    path: RelPath,
    basis: Basis,
) {
    let bytes = match transport.signature(path.clone(), basis).await {
        Ok(Some(signature)) => Bytes::from(signature.to_bytes()),
        Ok(None) => {
            reply
                .send(Message::Error(wire::ErrorReply {
                    id,
                    scope: ErrorScope::Request,
                    kind: wire::ErrorKind::NotFound,
                    path: path.as_bytes().to_vec(),
                    message: format!("no basis for {path}"),
                }))
                .await;
            return;
        }
        Err(e) => return reply.error(id, ErrorScope::Request, &e).await,
    };
    for start in (0..bytes.len()).step_by(CHUNK_LEN) {
        let data = bytes.slice(start..(start + CHUNK_LEN).min(bytes.len()));
        reply.send(Message::SignatureChunk { id, data }).await;
    }
    reply.send(Message::SignatureEnd { id }).await;
}

pub(super) async fn delta<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    read: DeltaRead,
) {
    let DeltaRead {
        path,
        signature,
        follow_links,
    } = read;
    let options = ReadOptions {
        inline_limit: 0,
        follow_links,
        cancel: Cancel::default(),
    };
    let mut source = match transport
        .delta(source_entry(path), signature, options)
        .await
    {
        Ok(source) => source,
        Err(e) => return reply.error(id, ErrorScope::Request, &e).await,
    };
    reply
        .send(Message::DeltaBegin {
            header: header(id, &source.entry),
            basis: Basis::Existing,
        })
        .await;
    let mut batcher = DeltaBatcher::default();
    while let Some(chunk) = source.chunks.recv().await {
        let op = match chunk {
            Ok(DeltaChunk::Op(op)) => op,
            Ok(DeltaChunk::End { digest }) => {
                if let Some(ops) = batcher.rest() {
                    reply.send(Message::DeltaChunk { id, ops }).await;
                }
                return reply.send(Message::DeltaEnd { id, digest }).await;
            }
            Err(e) => return reply.error(id, ErrorScope::Request, &e).await,
        };
        if let Some(ops) = batcher.push(op) {
            reply.send(Message::DeltaChunk { id, ops }).await;
        }
    }
    reply
        .error(id, ErrorScope::Request, &Error::Interrupted)
        .await;
}

pub(super) async fn checksums<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    paths: Vec<(u32, RelPath)>,
    follow_links: bool,
) {
    let (items, paths): (Vec<u32>, Vec<RelPath>) = paths.into_iter().unzip();
    let results = transport.checksums(paths, follow_links).await;
    let mut digests = Vec::new();
    for (item, result) in items.into_iter().zip(results) {
        match result {
            Ok(digest) => digests.push(wire::ItemDigest { item, digest }),
            Err(e) => reply.error(id, ErrorScope::Item(item), &e).await,
        }
    }
    for batch in digests.chunks(4096) {
        reply
            .send(Message::Checksums {
                id,
                digests: batch.to_vec(),
            })
            .await;
    }
    reply.send(Message::Ok { id }).await;
}

/// Applies the tree operations the policy let through, each with its item number in the
/// request (refused ones were answered already), then ends the request.
pub(super) async fn tree_ops<T: Transport>(
    transport: Arc<T>,
    reply: Reply,
    id: RequestId,
    ops: Vec<(u32, TreeOp)>,
    meta: MetaOptions,
) {
    let (items, ops): (Vec<u32>, Vec<TreeOp>) = ops.into_iter().unzip();
    let results = transport.apply(ops, meta).await;
    for (item, result) in items.into_iter().zip(results) {
        if let Err(e) = result {
            reply.error(id, ErrorScope::Item(item), &e).await;
        }
    }
    reply.send(Message::Ok { id }).await;
}
