//! What the client sends over several frames: files it pushes (small ones collected in memory
//! and written in one batch per client flush, large ones streamed into their writer as chunks
//! arrive), deltas applied as their ops arrive, and the signature that starts a delta read.
//! Every chunk must follow the previous one and stay within the announced size; the digest is
//! checked before the writer may rename the file into place.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sy_delta::{DeltaOp, FileDigest, FileHasher, Signature};
use sy_protocol::{self as wire, RequestId};
use tokio::sync::mpsc;

use super::answer;
use super::tasks::{Reply, Workers, protocol};
use crate::agent::MAX_SIGNATURE;
use crate::{
    Basis, Cancel, DeltaChunk, DeltaSource, Entry, EntryKind, Error, FileData, FileWrite, Meta,
    NoProgress, RelPath, Result, SourceFile, StreamChunk, Transport, WriteOptions,
};

/// Pushed files up to this size are collected in memory and written in batches.
const SMALL_FILE: u64 = 128 << 10;
/// A batch of small files is written once it holds this many bytes…
const SMALL_BATCH_BYTES: u64 = 4 << 20;
/// …or this many files (or when the client flushes).
const SMALL_BATCH_FILES: usize = 256;
/// Chunks queued for a file's writer.
const STREAM_QUEUE: usize = 8;
/// Files, deltas and signatures a client may have open at once: each holds a buffer or a
/// writer (a blocking thread and a temporary file), so a client cannot open them without end.
/// Ours opens at most one per `--jobs` unit.
pub(crate) const MAX_OPEN_TRANSFERS: usize = 256;
/// Signature bytes buffered across every delta read at once (each is at most
/// [`MAX_SIGNATURE`]).
const MAX_SIGNATURES_BUFFERED: usize = 4 * MAX_SIGNATURE;

/// A file being pushed.
enum Upload {
    /// Collected in memory, written with its batch.
    Small {
        header: wire::FileHeader,
        data: BytesMut,
        hasher: FileHasher,
    },
    /// Streamed into its writer as it arrives.
    Stream {
        path: RelPath,
        size: u64,
        received: u64,
        hasher: FileHasher,
        chunks: mpsc::Sender<Result<StreamChunk>>,
    },
    /// A delta streamed into its writer.
    Delta {
        ops: mpsc::Sender<Result<DeltaChunk>>,
    },
    /// Refused at its first frame; the rest of its frames are dropped.
    Refused,
}

/// A small file, complete and verified, waiting for its batch.
struct SmallFile {
    id: RequestId,
    write: FileWrite,
    options: wire::WriteOptions,
}

/// A pull of a delta: the client's signature, arriving.
struct SignatureIn {
    path: RelPath,
    follow_links: bool,
    bytes: BytesMut,
}

/// A delta read whose signature arrived whole: what to diff, against what.
pub(super) struct DeltaRead {
    pub(super) path: RelPath,
    pub(super) signature: Signature,
    pub(super) follow_links: bool,
}

/// Everything the client is in the middle of sending, by request id.
#[derive(Default)]
pub(super) struct Incoming {
    uploads: HashMap<u64, Upload>,
    signatures: HashMap<u64, SignatureIn>,
    /// Bytes held in `signatures`.
    signature_bytes: usize,
    small: Vec<SmallFile>,
    small_bytes: u64,
}

fn entry_for(path: RelPath, size: u64, meta: Meta) -> Entry {
    Entry {
        path,
        kind: EntryKind::File,
        size,
        meta,
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

fn write_options(options: wire::WriteOptions) -> WriteOptions {
    WriteOptions {
        meta: options.meta,
        sparse: options.sparse,
        cancel: Cancel::default(),
        progress: Arc::new(NoProgress),
    }
}

impl Incoming {
    /// Why a transfer with request `id` cannot begin: the id is in use, or too many are open.
    fn cannot_open(&self, id: RequestId, path: &RelPath) -> Option<Error> {
        if self.uploads.contains_key(&id.0) || self.signatures.contains_key(&id.0) {
            // Replacing a transfer would drop its stream's sender: an unverified file would
            // then look complete to its writer.
            return Some(protocol(format!(
                "request id {} for {path} is already in use",
                id.0
            )));
        }
        (self.uploads.len() + self.signatures.len() >= MAX_OPEN_TRANSFERS).then(|| {
            protocol(format!(
                "{path}: more than {MAX_OPEN_TRANSFERS} transfers open at once"
            ))
        })
    }

    /// A delta read of `path` begins: its signature follows.
    pub(super) async fn signature_begin(
        &mut self,
        reply: &Reply,
        id: RequestId,
        path: RelPath,
        follow_links: bool,
    ) {
        if let Some(error) = self.cannot_open(id, &path) {
            reply.refuse(id, &error).await;
            return;
        }
        self.signatures.insert(
            id.0,
            SignatureIn {
                path,
                follow_links,
                bytes: BytesMut::new(),
            },
        );
    }

    /// A delta read was refused at its request: drop its signature's frames quietly.
    pub(super) fn refused(&mut self, id: RequestId) {
        // Never over a live transfer, nor past the bound: its frames then get an error each.
        let in_use = self.uploads.contains_key(&id.0) || self.signatures.contains_key(&id.0);
        if !in_use && self.uploads.len() + self.signatures.len() < MAX_OPEN_TRANSFERS {
            self.uploads.insert(id.0, Upload::Refused);
        }
    }

    pub(super) async fn signature_chunk(&mut self, reply: &Reply, id: RequestId, data: Bytes) {
        let Some(incoming) = self.signatures.get_mut(&id.0) else {
            if !matches!(self.uploads.get(&id.0), Some(Upload::Refused)) {
                reply
                    .refuse(
                        id,
                        &protocol(format!(
                            "signature data for request {id}, which is not a delta read"
                        )),
                    )
                    .await;
            }
            return;
        };
        let over = if incoming.bytes.len() + data.len() > MAX_SIGNATURE {
            Some(format!("a signature over {MAX_SIGNATURE} bytes"))
        } else if self.signature_bytes + data.len() > MAX_SIGNATURES_BUFFERED {
            Some(format!(
                "signatures of over {MAX_SIGNATURES_BUFFERED} bytes in all at once"
            ))
        } else {
            None
        };
        if let Some(over) = over {
            if let Some(dropped) = self.signatures.remove(&id.0) {
                self.signature_bytes -= dropped.bytes.len();
            }
            self.uploads.insert(id.0, Upload::Refused);
            reply.refuse(id, &protocol(over)).await;
            return;
        }
        incoming.bytes.extend_from_slice(&data);
        self.signature_bytes += data.len();
    }

    /// The end of a delta read's signature: the read to serve, once the signature is checked.
    pub(super) async fn signature_end(
        &mut self,
        reply: &Reply,
        id: RequestId,
    ) -> Option<DeltaRead> {
        let Some(incoming) = self.signatures.remove(&id.0) else {
            if !matches!(self.uploads.remove(&id.0), Some(Upload::Refused)) {
                reply
                    .refuse(
                        id,
                        &protocol(format!(
                            "end of a signature for request {id}, which is not a delta read"
                        )),
                    )
                    .await;
            }
            return None;
        };
        self.signature_bytes -= incoming.bytes.len();
        let signature = match Signature::from_bytes(&incoming.bytes) {
            Ok(signature) => signature,
            Err(source) => {
                let error = Error::Delta {
                    path: incoming.path.to_string(),
                    source,
                };
                reply.refuse(id, &error).await;
                return None;
            }
        };
        let max = reply.max_strong_len();
        if signature.strong_len() > max {
            let error = protocol(format!(
                "the signature for {} uses {}-byte strong hashes, over the negotiated maximum of {max}",
                incoming.path,
                signature.strong_len()
            ));
            reply.refuse(id, &error).await;
            return None;
        }
        Some(DeltaRead {
            path: incoming.path,
            signature,
            follow_links: incoming.follow_links,
        })
    }

    pub(super) async fn delta_end(&mut self, id: RequestId, digest: FileDigest) {
        if let Some(Upload::Delta { ops }) = self.uploads.remove(&id.0) {
            let _ = ops.send(Ok(DeltaChunk::End { digest })).await;
        }
    }

    /// The client is gone: files it was sending stop as interrupted (their partials are kept
    /// for the next run), and collected small files are written.
    pub(super) async fn finish<T: Transport>(&mut self, workers: &mut Workers<T>) {
        for (_, upload) in self.uploads.drain() {
            match upload {
                Upload::Stream { chunks, .. } => {
                    let _ = chunks.send(Err(Error::Interrupted)).await;
                }
                Upload::Delta { ops } => {
                    let _ = ops.send(Err(Error::Interrupted)).await;
                }
                Upload::Small { .. } | Upload::Refused => {}
            }
        }
        self.flush_small(workers).await;
    }

    pub(super) async fn client_abort(&mut self, reply: wire::ErrorReply) {
        let error = match reply.kind {
            wire::ErrorKind::Changed => Error::SourceChanged {
                path: String::from_utf8_lossy(&reply.path).into_owned(),
            },
            _ => Error::Interrupted,
        };
        match self.uploads.remove(&reply.id.0) {
            Some(Upload::Stream { chunks, .. }) => {
                let _ = chunks.send(Err(error)).await;
            }
            Some(Upload::Delta { ops }) => {
                let _ = ops.send(Err(error)).await;
            }
            _ => {}
        }
    }

    pub(super) async fn file_begin<T: Transport>(
        &mut self,
        workers: &mut Workers<T>,
        header: wire::FileHeader,
    ) {
        let id = header.id;
        let path = header.path.clone();
        if let Some(error) = self.cannot_open(id, &path) {
            workers.reply.refuse(id, &error).await;
            return;
        }
        if header.size <= SMALL_FILE {
            self.uploads.insert(
                id.0,
                Upload::Small {
                    data: BytesMut::with_capacity(header.size as usize),
                    header,
                    hasher: FileHasher::new(),
                },
            );
            return;
        }
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let write = FileWrite {
            path: path.clone(),
            source: SourceFile {
                entry: entry_for(path.clone(), header.size, header.meta),
                data: FileData::Stream(rx),
            },
            clear_partial: header.options.clear_partial,
        };
        let (transport, reply) = workers.for_task();
        let options = write_options(header.options);
        workers.spawn(async move {
            let result = transport
                .write_files(vec![write], options)
                .await
                .pop()
                .unwrap_or(Err(Error::Interrupted));
            answer::written(&reply, id, result).await;
        });
        self.uploads.insert(
            id.0,
            Upload::Stream {
                path,
                size: header.size,
                received: 0,
                hasher: FileHasher::new(),
                chunks: tx,
            },
        );
    }

    pub(super) async fn file_chunk(
        &mut self,
        reply: &Reply,
        id: RequestId,
        offset: u64,
        data: Bytes,
    ) {
        let bad = |have: u64, size: u64| {
            protocol(format!(
                "bytes at offset {offset} (+{}) do not follow the {have} received of a {size}-byte file",
                data.len()
            ))
        };
        match self.uploads.get_mut(&id.0) {
            Some(Upload::Small {
                header,
                data: buf,
                hasher,
                ..
            }) => {
                if offset != buf.len() as u64 || buf.len() as u64 + data.len() as u64 > header.size
                {
                    let error = bad(buf.len() as u64, header.size);
                    self.uploads.insert(id.0, Upload::Refused);
                    reply.refuse(id, &error).await;
                    return;
                }
                hasher.update(&data);
                buf.extend_from_slice(&data);
            }
            Some(Upload::Stream {
                size,
                received,
                hasher,
                chunks,
                ..
            }) => {
                if offset != *received || *received + data.len() as u64 > *size {
                    let error = bad(*received, *size);
                    let _ = chunks.send(Err(error)).await;
                    self.uploads.insert(id.0, Upload::Refused);
                    return;
                }
                *received += data.len() as u64;
                hasher.update(&data);
                let _ = chunks.send(Ok(StreamChunk::Data(data))).await;
            }
            Some(Upload::Refused) => {}
            Some(Upload::Delta { .. }) | None => {
                reply
                    .refuse(
                        id,
                        &protocol(format!(
                            "file data for request {id}, which is not a file being sent"
                        )),
                    )
                    .await;
            }
        }
    }

    pub(super) async fn file_end<T: Transport>(
        &mut self,
        workers: &mut Workers<T>,
        id: RequestId,
        digest: FileDigest,
    ) {
        match self.uploads.remove(&id.0) {
            Some(Upload::Small {
                header,
                data,
                hasher,
            }) => {
                let path = header.path;
                if data.len() as u64 != header.size || hasher.finalize() != digest {
                    let error = Error::DigestMismatch {
                        path: path.to_string(),
                    };
                    workers.reply.refuse(id, &error).await;
                    return;
                }
                self.small_bytes += header.size;
                let entry = entry_for(path.clone(), header.size, header.meta);
                self.small.push(SmallFile {
                    id,
                    options: header.options,
                    write: FileWrite {
                        path,
                        source: SourceFile {
                            entry,
                            data: FileData::Bytes(data.freeze()),
                        },
                        clear_partial: header.options.clear_partial,
                    },
                });
                if self.small_bytes >= SMALL_BATCH_BYTES || self.small.len() >= SMALL_BATCH_FILES {
                    self.flush_small(workers).await;
                }
            }
            Some(Upload::Stream {
                path,
                size,
                received,
                hasher,
                chunks,
            }) => {
                let end = if received != size || hasher.finalize() != digest {
                    Err(Error::DigestMismatch {
                        path: path.to_string(),
                    })
                } else {
                    Ok(StreamChunk::End)
                };
                let _ = chunks.send(end).await;
            }
            Some(Upload::Refused) => {}
            Some(other @ Upload::Delta { .. }) => {
                self.uploads.insert(id.0, other);
            }
            None => {
                workers
                    .reply
                    .refuse(
                        id,
                        &protocol(format!(
                            "end of file for request {id}, which is not a file being sent"
                        )),
                    )
                    .await;
            }
        }
    }

    /// Writes the small files collected so far, one batch per option set.
    pub(super) async fn flush_small<T: Transport>(&mut self, workers: &mut Workers<T>) {
        if self.small.is_empty() {
            return;
        }
        self.small_bytes = 0;
        let mut batches: Vec<(wire::WriteOptions, Vec<SmallFile>)> = Vec::new();
        for file in std::mem::take(&mut self.small) {
            match batches.iter_mut().find(|(o, _)| *o == file.options) {
                Some((_, batch)) => batch.push(file),
                None => batches.push((file.options, vec![file])),
            }
        }
        for (options, batch) in batches {
            let (transport, reply) = workers.for_task();
            workers
                .spawn_bounded(async move {
                    let (ids, writes): (Vec<RequestId>, Vec<FileWrite>) =
                        batch.into_iter().map(|f| (f.id, f.write)).unzip();
                    let results = transport.write_files(writes, write_options(options)).await;
                    for (id, result) in ids.into_iter().zip(results) {
                        answer::written(&reply, id, result).await;
                    }
                })
                .await;
        }
    }

    pub(super) async fn delta_begin<T: Transport>(
        &mut self,
        workers: &mut Workers<T>,
        header: wire::FileHeader,
        basis: Basis,
    ) {
        let id = header.id;
        let path = header.path.clone();
        if let Some(error) = self.cannot_open(id, &path) {
            workers.reply.refuse(id, &error).await;
            return;
        }
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let source = DeltaSource {
            entry: entry_for(path.clone(), header.size, header.meta),
            chunks: rx,
        };
        let (transport, reply) = workers.for_task();
        let options = write_options(header.options);
        workers.spawn(async move {
            let result = transport.apply_delta(path, basis, source, options).await;
            answer::written(&reply, id, result).await;
        });
        self.uploads.insert(id.0, Upload::Delta { ops: tx });
    }

    pub(super) async fn delta_chunk(
        &mut self,
        reply: &Reply,
        id: RequestId,
        ops: Vec<DeltaOp<Bytes>>,
    ) {
        match self.uploads.get(&id.0) {
            Some(Upload::Delta { ops: tx }) => {
                for op in ops {
                    if tx.send(Ok(DeltaChunk::Op(op))).await.is_err() {
                        break;
                    }
                }
            }
            Some(Upload::Refused) => {}
            _ => {
                reply
                    .refuse(
                        id,
                        &protocol(format!(
                            "delta data for request {id}, which is not a delta being sent"
                        )),
                    )
                    .await;
            }
        }
    }
}
