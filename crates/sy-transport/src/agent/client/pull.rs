//! File content fetched from the agent (pull): `read_files` asks for every small file of a
//! batch at once and collects each in memory, large files stream one after another; `delta`
//! sends the local signature and streams back the ops the agent diffs. Every file is checked
//! against the BLAKE3 digest the agent announced.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sy_delta::{FileDigest, FileHasher};
use sy_protocol::{self as wire, CHUNK_LEN, Message};
use tokio::sync::mpsc;

use super::connection::{Call, Client, STREAM_QUEUE};
use crate::read_batch::{SplitBatch, split_by_size};
use crate::{
    DeltaChunk, DeltaSource, Entry, Error, FileData, ReadOptions, Result, SourceFile, StreamChunk,
};

pub(super) async fn read_files(
    client: &Arc<Client>,
    files: Vec<Entry>,
    options: ReadOptions,
) -> Vec<Result<SourceFile>> {
    let SplitBatch {
        mut results,
        small: to_ask,
        large,
    } = split_by_size(files, options.inline_limit);
    let mut small = Vec::with_capacity(to_ask.len());
    for (slot, entry) in to_ask {
        let call = client.open();
        let request = Message::ReadRequest {
            id: call.id,
            path: entry.path.clone(),
            follow_links: options.follow_links,
            delta: false,
        };
        match client.send(request).await {
            Ok(()) => small.push((slot, entry, call)),
            Err(e) => results[slot] = Some(Err(e)),
        }
    }
    if !large.is_empty() {
        // One after another: the writer consumes streams in order, so a second stream filling
        // up while the first waits would stall the connection.
        tokio::spawn(stream_files(
            Arc::clone(client),
            large,
            options.follow_links,
        ));
    }
    // Received concurrently, not in order: the router hands each answer to its file's bounded
    // queue and waits when it is full, so a file still streaming (one that grew since the scan)
    // must never wait behind a file whose answers come later.
    let receivers: Vec<_> = small
        .into_iter()
        .map(|(index, entry, call)| {
            let client = Arc::clone(client);
            let task = tokio::spawn(async move { receive_whole(&client, call, entry).await });
            (index, task)
        })
        .collect();
    for (index, task) in receivers {
        results[index] = Some(task.await.unwrap_or_else(|_| Err(client.lost())));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(client.lost())))
        .collect()
}

async fn expect_header(
    client: &Client,
    call: &mut Call,
    entry: &Entry,
) -> Result<wire::FileHeader> {
    match call.next().await? {
        Message::FileBegin(header) if header.path == entry.path => {
            if header.size != entry.size {
                return Err(Error::SourceChanged {
                    path: client.shown(&entry.path),
                });
            }
            Ok(header)
        }
        other => Err(call.unexpected(&other)),
    }
}

async fn receive_whole(client: &Arc<Client>, mut call: Call, entry: Entry) -> Result<SourceFile> {
    let header = expect_header(client, &mut call, &entry).await?;
    let mut data = BytesMut::with_capacity(header.size as usize);
    loop {
        match call.next().await? {
            Message::FileChunk {
                offset,
                data: bytes,
                ..
            } => {
                if offset != data.len() as u64 || (data.len() + bytes.len()) as u64 > header.size {
                    return Err(client.protocol_error(format!(
                        "bytes at offset {offset} of {} do not fit its {} bytes",
                        entry.path, header.size
                    )));
                }
                data.extend_from_slice(&bytes);
            }
            Message::FileEnd { digest, .. } => {
                if data.len() as u64 != header.size {
                    return Err(Error::SourceChanged {
                        path: client.shown(&entry.path),
                    });
                }
                if FileDigest::of_bytes(&data) != digest {
                    return Err(Error::DigestMismatch {
                        path: client.shown(&entry.path),
                    });
                }
                return Ok(SourceFile {
                    entry: Entry {
                        meta: header.meta,
                        ..entry
                    },
                    data: FileData::Bytes(data.freeze()),
                });
            }
            other => return Err(call.unexpected(&other)),
        }
    }
}

async fn stream_files(
    client: Arc<Client>,
    files: Vec<(Entry, mpsc::Sender<Result<StreamChunk>>)>,
    follow_links: bool,
) {
    for (entry, tx) in files {
        let mut call = client.open();
        let request = Message::ReadRequest {
            id: call.id,
            path: entry.path.clone(),
            follow_links,
            delta: false,
        };
        let outcome = match client.send(request).await {
            Ok(()) => stream_one(&client, &mut call, &entry, &tx).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            let _ = tx.send(Err(client.cut_off(e))).await;
        }
    }
}

async fn stream_one(
    client: &Client,
    call: &mut Call,
    entry: &Entry,
    tx: &mpsc::Sender<Result<StreamChunk>>,
) -> Result<()> {
    let header = expect_header(client, call, entry).await?;
    if header.meta.mtime != entry.meta.mtime {
        return Err(Error::SourceChanged {
            path: client.shown(&entry.path),
        });
    }
    let mut hasher = FileHasher::new();
    let mut received = 0u64;
    loop {
        match call.next().await? {
            Message::FileChunk { offset, data, .. } => {
                if offset != received || received + data.len() as u64 > header.size {
                    return Err(client.protocol_error(format!(
                        "bytes at offset {offset} of {} do not fit its {} bytes",
                        entry.path, header.size
                    )));
                }
                received += data.len() as u64;
                hasher.update(&data);
                if tx.send(Ok(StreamChunk::Data(data))).await.is_err() {
                    // The writer gave up on this file; its error is reported there.
                    return Ok(());
                }
            }
            Message::FileEnd { digest, .. } => {
                if received != header.size {
                    return Err(Error::SourceChanged {
                        path: client.shown(&entry.path),
                    });
                }
                if hasher.finalize() != digest {
                    return Err(Error::DigestMismatch {
                        path: client.shown(&entry.path),
                    });
                }
                // A writer that gave up has its own error to report.
                let _ = tx.send(Ok(StreamChunk::End)).await;
                return Ok(());
            }
            other => return Err(call.unexpected(&other)),
        }
    }
}

pub(super) async fn delta(
    client: &Arc<Client>,
    entry: Entry,
    signature: sy_delta::Signature,
    options: ReadOptions,
) -> Result<DeltaSource> {
    let mut call = client.open();
    let id = call.id;
    client
        .send(Message::ReadRequest {
            id,
            path: entry.path.clone(),
            follow_links: options.follow_links,
            delta: true,
        })
        .await?;
    let bytes = Bytes::from(signature.to_bytes());
    for start in (0..bytes.len()).step_by(CHUNK_LEN) {
        let data = bytes.slice(start..(start + CHUNK_LEN).min(bytes.len()));
        client.send(Message::SignatureChunk { id, data }).await?;
    }
    client.send(Message::SignatureEnd { id }).await?;
    let header = match call.next().await? {
        Message::DeltaBegin { header, .. } if header.path == entry.path => header,
        other => return Err(call.unexpected(&other)),
    };
    let entry = Entry {
        size: header.size,
        meta: header.meta,
        ..entry
    };
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let client = Arc::clone(client);
    tokio::spawn(async move {
        if let Err(e) = forward_delta(&mut call, &tx).await {
            let _ = tx.send(Err(client.cut_off(e))).await;
        }
    });
    Ok(DeltaSource { entry, chunks: rx })
}

async fn forward_delta(call: &mut Call, tx: &mpsc::Sender<Result<DeltaChunk>>) -> Result<()> {
    loop {
        match call.next().await? {
            Message::DeltaChunk { ops, .. } => {
                for op in ops {
                    if tx.send(Ok(DeltaChunk::Op(op))).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Message::DeltaEnd { digest, .. } => {
                let _ = tx.send(Ok(DeltaChunk::End { digest })).await;
                return Ok(());
            }
            other => return Err(call.unexpected(&other)),
        }
    }
}
