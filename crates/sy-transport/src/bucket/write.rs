//! Uploads: one PUT per file, or a multipart upload beyond [`MULTIPART_FROM`] with a bounded
//! number of parts in flight, so memory stays constant whatever the size. An object appears
//! whole or not at all: a failed or interrupted multipart upload is aborted, never completed.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use object_store::path::Path;
use object_store::{PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};
use tokio::sync::mpsc;

use super::{Inner, REQUESTS_IN_FLIGHT, mtime};
use crate::local::entry_from_stat;
use crate::{
    Entry, EntryKind, Error, FileData, FileWrite, RelPath, Result, StreamChunk, WriteOptions,
    Written,
};

/// Files this large or larger go up in parts.
pub(super) const MULTIPART_FROM: u64 = 8 << 20;
/// The smallest part (S3 refuses parts under 5 MiB but the last).
const MIN_PART: u64 = 8 << 20;
/// S3 allows at most 10,000 parts; sy stays below with a margin.
const MAX_PARTS: u64 = 9_000;
/// Parts of one file uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;
/// Bytes read from a local file at a time.
const READ_CHUNK: usize = 1 << 20;

/// Uploads each file, [`REQUESTS_IN_FLIGHT`] at a time; one result per file, in order.
pub(super) async fn write_files(
    inner: &Arc<Inner>,
    files: Vec<FileWrite>,
    options: WriteOptions,
) -> Vec<Result<Written>> {
    stream::iter(files)
        .map(|file| upload(inner, file, &options))
        .buffered(REQUESTS_IN_FLIGHT)
        .collect()
        .await
}

/// The part size for a file of `size` bytes: at least [`MIN_PART`], whole MiB, and few
/// enough parts.
fn part_size(size: u64) -> usize {
    let needed = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    usize::try_from(needed.max(MIN_PART)).unwrap_or(usize::MAX)
}

async fn upload(inner: &Inner, file: FileWrite, options: &WriteOptions) -> Result<Written> {
    let key = inner.key(&file.path)?;
    let entry = file.source.entry;
    let mut source = Source::new(file.source.data, &entry);
    let attributes = mtime::attributes(entry.meta.mtime);
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0u64;
    let mut parts: Option<WriteMultipart> = None;
    let sent = loop {
        let next = match options.cancel.check() {
            Ok(()) => source.next(&file.path).await,
            Err(e) => Err(e),
        };
        let piece = match next {
            Ok(Some(piece)) => piece,
            Ok(None) => break Ok(pending_len),
            Err(e) => break Err(e),
        };
        let len = piece.len() as u64;
        pending_len += len;
        if parts.is_none() && pending_len < MULTIPART_FROM {
            pending.push(piece);
        } else {
            let writer = match &mut parts {
                Some(writer) => writer,
                None => {
                    let opts = PutMultipartOptions {
                        attributes: attributes.clone(),
                        ..Default::default()
                    };
                    let upload = inner
                        .store
                        .put_multipart_opts(&key, opts)
                        .await
                        .map_err(|e| inner.error("uploading", &key, e))?;
                    let mut writer =
                        WriteMultipart::new_with_chunk_size(upload, part_size(entry.size));
                    for earlier in pending.drain(..) {
                        writer.put(earlier);
                    }
                    parts.insert(writer)
                }
            };
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Err(inner.error("uploading", &key, e));
            }
            writer.put(piece);
        }
        options.progress.advance(&file.path, len);
    };
    let finished = match (sent, parts) {
        (Ok(sent), Some(writer)) => writer
            .finish()
            .await
            .map(|_| sent)
            .map_err(|e| inner.error("uploading", &key, e)),
        (Err(e), Some(writer)) => {
            abort(inner, &key, writer).await;
            Err(e)
        }
        (Ok(sent), None) => {
            let payload: PutPayload = pending.into_iter().collect();
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            inner
                .store
                .put_opts(&key, payload, opts)
                .await
                .map(|_| sent)
                .map_err(|e| inner.error("uploading", &key, e))
        }
        (Err(e), None) => Err(e),
    };
    finished.map(|literal| Written {
        literal,
        matched: 0,
    })
}

/// Gives up a multipart upload so that no part is left stored (and billed).
async fn abort(inner: &Inner, key: &Path, writer: WriteMultipart) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(
            "could not abort the multipart upload of {}: {e}",
            inner.shown(key)
        );
    }
}

/// A source file's content as a sequence of pieces.
enum Source {
    /// All of it, not yet taken.
    Bytes(Option<Bytes>),
    /// An open local file, read on the blocking pool; checked against `entry` at its end.
    Local {
        file: Arc<std::fs::File>,
        entry: Box<Entry>,
        read: u64,
    },
    /// Pieces from elsewhere; only [`StreamChunk::End`] makes them complete.
    Stream(mpsc::Receiver<Result<StreamChunk>>),
}

impl Source {
    fn new(data: FileData, entry: &Entry) -> Source {
        match data {
            FileData::Bytes(bytes) => Source::Bytes(Some(bytes)),
            FileData::Local(file) => Source::Local {
                file: Arc::new(file),
                entry: Box::new(entry.clone()),
                read: 0,
            },
            FileData::Stream(rx) => Source::Stream(rx),
        }
    }

    /// The next piece, `None` at a complete end.
    async fn next(&mut self, path: &RelPath) -> Result<Option<Bytes>> {
        match self {
            Source::Bytes(bytes) => Ok(bytes.take().filter(|b| !b.is_empty())),
            Source::Stream(rx) => match rx.recv().await {
                Some(Ok(StreamChunk::Data(piece))) => Ok(Some(piece)),
                Some(Ok(StreamChunk::End)) => Ok(None),
                Some(Err(e)) => Err(e),
                None => Err(Error::Interrupted),
            },
            Source::Local { file, entry, read } => {
                let reader = Arc::clone(file);
                let shown = path.to_string();
                let piece = tokio::task::spawn_blocking(move || read_chunk(&reader))
                    .await
                    .map_err(|e| Error::Io {
                        action: "reading",
                        path: shown.clone(),
                        source: std::io::Error::other(e),
                    })?
                    .map_err(|source| Error::Io {
                        action: "reading",
                        path: shown.clone(),
                        source,
                    })?;
                *read += piece.len() as u64;
                if !piece.is_empty() {
                    return Ok(Some(piece));
                }
                let now = rustix::fs::fstat(&**file).map_err(|e| Error::Io {
                    action: "reading",
                    path: shown.clone(),
                    source: e.into(),
                })?;
                let now = entry_from_stat(path.clone(), &now, EntryKind::File);
                if *read != entry.size
                    || now.size != entry.size
                    || now.meta.mtime != entry.meta.mtime
                {
                    return Err(Error::SourceChanged { path: shown });
                }
                Ok(None)
            }
        }
    }
}

/// Up to [`READ_CHUNK`] bytes from the file's current position (fewer only at its end).
fn read_chunk(file: &std::fs::File) -> std::io::Result<Bytes> {
    let mut buf = vec![0; READ_CHUNK];
    let mut filled = 0;
    let mut reader = file;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}
