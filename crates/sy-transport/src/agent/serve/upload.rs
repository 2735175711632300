//! Files the client pushes: whole files (small ones collected in memory and written in one
//! batch per client flush, large ones streamed into their writer as chunks arrive) and deltas
//! applied as their ops arrive. Every chunk must follow the previous one and stay within the
//! announced size; the digest is checked before the writer may rename the file into place.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sy_delta::{DeltaOp, FileDigest, FileHasher};
use sy_protocol::{self as wire, RequestId};
use tokio::sync::mpsc;

use super::{
    SMALL_BATCH_BYTES, SMALL_BATCH_FILES, SMALL_FILE, STREAM_QUEUE, Server, entry_for, protocol,
    write_options,
};
use crate::agent::serve_send;
use crate::{
    DeltaChunk, DeltaSource, Error, FileData, FileWrite, RelPath, Result, SourceFile, StreamChunk,
    Transport,
};

/// A file being pushed.
pub(super) enum Upload {
    /// Collected in memory, written with its batch.
    Small {
        path: RelPath,
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
pub(super) struct SmallFile {
    id: RequestId,
    write: FileWrite,
    options: wire::WriteOptions,
}

impl<T: Transport> Server<T> {
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

    pub(super) async fn file_begin(&mut self, header: wire::FileHeader) {
        let id = header.id;
        let path = header.path.clone();
        if self.uploads.contains_key(&id.0) {
            // Replacing the upload would drop its stream's sender: an unverified file would
            // then look complete to its writer.
            let error = protocol(format!("request id {} for {path} is already in use", id.0));
            self.refuse(id, &error).await;
            return;
        }
        if header.size <= SMALL_FILE {
            self.uploads.insert(
                id.0,
                Upload::Small {
                    path,
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
        let (transport, reply) = (Arc::clone(&self.transport), self.reply());
        let options = write_options(header.options);
        self.tasks.spawn(async move {
            let result = transport
                .write_files(vec![write], options)
                .await
                .pop()
                .unwrap_or(Err(Error::Interrupted));
            serve_send::answer_written(&reply, id, result).await;
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

    pub(super) async fn file_chunk(&mut self, id: RequestId, offset: u64, data: Bytes) {
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
                    self.refuse(id, &error).await;
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
                self.refuse(
                    id,
                    &protocol(format!(
                        "file data for request {id}, which is not a file being sent"
                    )),
                )
                .await;
            }
        }
    }

    pub(super) async fn file_end(&mut self, id: RequestId, digest: FileDigest) {
        match self.uploads.remove(&id.0) {
            Some(Upload::Small {
                path,
                header,
                data,
                hasher,
            }) => {
                if data.len() as u64 != header.size || hasher.finalize() != digest {
                    let error = Error::DigestMismatch {
                        path: path.to_string(),
                    };
                    self.refuse(id, &error).await;
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
                    self.flush_small().await;
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
                self.refuse(
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
    pub(super) async fn flush_small(&mut self) {
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
            let (transport, reply) = (Arc::clone(&self.transport), self.reply());
            self.spawn_bounded(async move {
                let (ids, writes): (Vec<RequestId>, Vec<FileWrite>) =
                    batch.into_iter().map(|f| (f.id, f.write)).unzip();
                let results = transport.write_files(writes, write_options(options)).await;
                for (id, result) in ids.into_iter().zip(results) {
                    serve_send::answer_written(&reply, id, result).await;
                }
            })
            .await;
        }
    }

    pub(super) async fn delta_begin(&mut self, header: wire::FileHeader, basis: wire::Basis) {
        let id = header.id;
        let path = header.path.clone();
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let source = DeltaSource {
            entry: entry_for(path.clone(), header.size, header.meta),
            chunks: rx,
        };
        let (transport, reply) = (Arc::clone(&self.transport), self.reply());
        let options = write_options(header.options);
        self.tasks.spawn(async move {
            let result = transport.apply_delta(path, basis, source, options).await;
            serve_send::answer_written(&reply, id, result).await;
        });
        self.uploads.insert(id.0, Upload::Delta { ops: tx });
    }

    pub(super) async fn delta_chunk(&mut self, id: RequestId, ops: Vec<DeltaOp<Bytes>>) {
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
                self.refuse(
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
