//! File content sent to the agent (push): `write_files` streams every file of a batch
//! (FileBegin, chunks, FileEnd) before it waits for any answer; `signature` fetches the agent's
//! block signature and `apply_delta` streams the ops diffed here. The agent checks each file
//! against the BLAKE3 digest sent with it.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sy_delta::{FileDigest, FileHasher};
use sy_protocol::{self as wire, CHUNK_LEN, Message, RequestId, worth_compressing};
use tokio::sync::mpsc;

use super::connection::{Call, Client};
use crate::agent::MAX_SIGNATURE;
use crate::agent::link::Out;
use crate::agent::outgoing::{DeltaBatcher, send_local_file};
use crate::agent::wire_error::error_from_wire;
use crate::{
    Basis, DeltaChunk, DeltaSource, Error, FileData, FileWrite, RelPath, Result, StreamChunk,
    WriteOptions, Written,
};

pub(super) async fn write_files(
    client: &Arc<Client>,
    files: Vec<FileWrite>,
    options: WriteOptions,
) -> Vec<Result<Written>> {
    let mut sent = Vec::with_capacity(files.len());
    for file in files {
        let call = client.open();
        let outcome = send_file(client, call.id, file, &options).await;
        sent.push(outcome.map(|()| call));
    }
    let mut results = Vec::with_capacity(sent.len());
    for outcome in sent {
        results.push(match outcome {
            Ok(mut call) => written(&mut call).await,
            Err(e) => Err(e),
        });
    }
    results
}

async fn written(call: &mut Call) -> Result<Written> {
    match call.next().await? {
        Message::Written {
            literal, matched, ..
        } => Ok(Written { literal, matched }),
        other => Err(call.unexpected(&other)),
    }
}

/// Tells the agent to drop a file whose data will not be completed.
async fn abort(client: &Client, id: RequestId, path: &RelPath, error: &Error) {
    let kind = match error {
        Error::SourceChanged { .. } => wire::ErrorKind::Changed,
        _ => wire::ErrorKind::Io,
    };
    let _ = client
        .send(Message::Error(wire::ErrorReply {
            id,
            scope: wire::ErrorScope::Request,
            kind,
            path: path.as_bytes().to_vec(),
            message: error.to_string(),
        }))
        .await;
}

async fn send_file(
    client: &Arc<Client>,
    id: RequestId,
    file: FileWrite,
    options: &WriteOptions,
) -> Result<()> {
    let entry = &file.source.entry;
    let size = entry.size;
    if let FileData::Bytes(bytes) = &file.source.data
        && bytes.len() as u64 != size
    {
        return Err(Error::SourceChanged {
            path: entry.path.to_string(),
        });
    }
    let header = wire::FileHeader {
        id,
        path: file.path.clone(),
        size,
        meta: entry.meta,
        options: wire::WriteOptions {
            meta: options.meta,
            sparse: options.sparse,
            clear_partial: file.clear_partial,
        },
    };
    client.send(Message::FileBegin(header)).await?;
    let sent = match file.source.data {
        FileData::Bytes(bytes) => send_bytes(client, id, &file.path, bytes, options).await,
        FileData::Local(local) => {
            let sender = client.blocking_sender()?;
            let compressing = client.compressing();
            let path = file.path.clone();
            let source = file.source.entry.clone();
            let options = options.clone();
            match tokio::task::spawn_blocking(move || {
                send_local_file(&sender, id, &source, local, compressing, |n| {
                    options.progress.advance(&path, n);
                    options.cancel.check()
                })
            })
            .await
            {
                Ok(sent) => sent,
                Err(_) => Err(Error::Interrupted),
            }
        }
        FileData::Stream(chunks) => {
            send_stream(client, id, &file.path, size, chunks, options).await
        }
    };
    match sent {
        Ok(digest) => client.send(Message::FileEnd { id, digest }).await,
        Err(e) => {
            // A file cut off because its queue closed names the connection's failure.
            let e = match e {
                Error::Interrupted => client.cut_off(e),
                e => e,
            };
            abort(client, id, &file.path, &e).await;
            Err(e)
        }
    }
}

async fn send_bytes(
    client: &Client,
    id: RequestId,
    path: &RelPath,
    bytes: Bytes,
    options: &WriteOptions,
) -> Result<FileDigest> {
    let digest = FileDigest::of_bytes(&bytes);
    let stored = client.compressing() && !worth_compressing(path.as_bytes(), &bytes);
    let mut offset = 0;
    while offset < bytes.len() {
        options.cancel.check()?;
        let end = (offset + CHUNK_LEN).min(bytes.len());
        client
            .send_out(Out {
                message: Message::FileChunk {
                    id,
                    offset: offset as u64,
                    data: bytes.slice(offset..end),
                },
                stored,
            })
            .await?;
        options.progress.advance(path, (end - offset) as u64);
        offset = end;
    }
    Ok(digest)
}

async fn send_stream(
    client: &Client,
    id: RequestId,
    path: &RelPath,
    size: u64,
    mut chunks: mpsc::Receiver<Result<StreamChunk>>,
    options: &WriteOptions,
) -> Result<FileDigest> {
    let mut hasher = FileHasher::new();
    let mut offset = 0u64;
    loop {
        let data = match chunks.recv().await.unwrap_or(Err(Error::Interrupted))? {
            StreamChunk::Data(data) => data,
            StreamChunk::End => break,
        };
        options.cancel.check()?;
        if offset + data.len() as u64 > size {
            return Err(Error::SourceChanged {
                path: path.to_string(),
            });
        }
        hasher.update(&data);
        let len = data.len() as u64;
        client.send(Message::FileChunk { id, offset, data }).await?;
        options.progress.advance(path, len);
        offset += len;
    }
    if offset != size {
        return Err(Error::SourceChanged {
            path: path.to_string(),
        });
    }
    Ok(hasher.finalize())
}

pub(super) async fn signature(
    client: &Arc<Client>,
    path: RelPath,
    basis: Basis,
) -> Result<Option<sy_delta::Signature>> {
    let mut call = client.open();
    client
        .send(Message::SignatureRequest {
            id: call.id,
            path: path.clone(),
            basis,
            block_size: None,
            strong_len: None,
        })
        .await?;
    let mut bytes = BytesMut::new();
    loop {
        match call.next_raw().await? {
            Message::SignatureChunk { data, .. } => {
                if bytes.len() + data.len() > MAX_SIGNATURE {
                    return Err(client.protocol_error(format!(
                        "the signature of {path} is over {MAX_SIGNATURE} bytes"
                    )));
                }
                bytes.extend_from_slice(&data);
            }
            Message::SignatureEnd { .. } => {
                return sy_delta::Signature::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|source| Error::Delta {
                        path: client.shown(&path),
                        source,
                    });
            }
            Message::Error(reply) if reply.kind == wire::ErrorKind::NotFound => return Ok(None),
            Message::Error(reply) => return Err(error_from_wire(&client.location, reply)),
            other => return Err(call.unexpected(&other)),
        }
    }
}

pub(super) async fn apply_delta(
    client: &Arc<Client>,
    path: RelPath,
    basis: Basis,
    mut delta: DeltaSource,
    options: WriteOptions,
) -> Result<Written> {
    let mut call = client.open();
    let id = call.id;
    let header = wire::FileHeader {
        id,
        path: path.clone(),
        size: delta.entry.size,
        meta: delta.entry.meta,
        options: wire::WriteOptions {
            meta: options.meta,
            sparse: options.sparse,
            clear_partial: false,
        },
    };
    client.send(Message::DeltaBegin { header, basis }).await?;
    let streamed = stream_ops(client, id, &path, &mut delta, &options).await;
    if let Err(e) = streamed {
        abort(client, id, &path, &e).await;
        return Err(e);
    }
    written(&mut call).await
}

async fn stream_ops(
    client: &Client,
    id: RequestId,
    path: &RelPath,
    delta: &mut DeltaSource,
    options: &WriteOptions,
) -> Result<()> {
    let mut batcher = DeltaBatcher::default();
    while let Some(chunk) = delta.chunks.recv().await {
        options.cancel.check()?;
        let op = match chunk? {
            DeltaChunk::Op(op) => {
                options.progress.advance(path, op.output_len());
                op
            }
            DeltaChunk::End { digest } => {
                if let Some(ops) = batcher.rest() {
                    client.send(Message::DeltaChunk { id, ops }).await?;
                }
                return client.send(Message::DeltaEnd { id, digest }).await;
            }
        };
        if let Some(ops) = batcher.push(op) {
            client.send(Message::DeltaChunk { id, ops }).await?;
        }
    }
    Err(Error::Interrupted)
}
