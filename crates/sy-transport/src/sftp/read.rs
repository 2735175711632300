//! Reading remote files (pull): small files of a batch fetched concurrently into memory, large
//! ones streamed one after another; whole-file literal deltas and digests read the same way.
//! Every file is checked afterwards: same size and modification time as when it was scanned,
//! or it changed while being read.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use sy_delta::{DeltaOp, FileDigest, FileHasher};
use tokio::sync::mpsc;

use super::pipeline::{Handle, Reader};
use super::{FILES_AT_ONCE, Inner, bounded, entry_from_attrs, kind_of};
use crate::read_batch::{STREAM_QUEUE, SplitBatch, split_by_size};
use crate::{
    Cancel, DeltaChunk, DeltaSource, Entry, EntryKind, Error, FileData, ReadOptions, RelPath,
    Result, SourceFile, StreamChunk,
};

/// Files hashed at the same time for `checksums`.
const HASHES_AT_ONCE: usize = 8;

pub(super) async fn read_files(
    inner: &Arc<Inner>,
    files: Vec<Entry>,
    options: ReadOptions,
) -> Vec<Result<SourceFile>> {
    let SplitBatch {
        mut results,
        small,
        large,
    } = split_by_size(files, options.inline_limit);
    if !large.is_empty() {
        // One after another: the writer consumes the streams in order.
        let inner = Arc::clone(inner);
        let cancel = options.cancel.clone();
        tokio::spawn(async move {
            for (entry, tx) in large {
                stream_file(&inner, entry, &tx, &cancel).await;
            }
        });
    }
    let (slots, entries): (Vec<usize>, Vec<Entry>) = small.into_iter().unzip();
    let fetched = bounded(entries, FILES_AT_ONCE, |entry| {
        let inner = Arc::clone(inner);
        async move {
            let (data, opened) = fetch(&inner, &entry).await?;
            Ok(SourceFile {
                entry: opened,
                data: FileData::Bytes(Bytes::from(data)),
            })
        }
    })
    .await;
    for (slot, result) in slots.into_iter().zip(fetched) {
        results[slot] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Error::Interrupted)))
        .collect()
}

/// Opens the file at `path` for reading.
async fn open(inner: &Arc<Inner>, path: &RelPath) -> Result<Handle> {
    let remote = inner.remote(path)?;
    inner
        .open(&remote, OpenFlags::READ, FileAttributes::default())
        .await
        .map_err(|e| inner.sftp_err("opening", path, e))
}

/// A read failure: a file that ended early changed; anything else is the server's error.
fn read_err(inner: &Inner, path: &RelPath, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::SourceChanged {
            path: inner.shown(path),
        }
    } else {
        inner.err("reading", path, e)
    }
}

/// The file's attributes now, checked against `expected` (the scan, or the opening): still a
/// regular file of the same size and modification time, or it changed.
async fn verify(inner: &Inner, handle: &Handle, expected: &Entry) -> Result<Entry> {
    let now = inner
        .session
        .fstat(handle.name())
        .await
        .map_err(|e| inner.sftp_err("reading", &expected.path, e))?
        .attrs;
    let entry = entry_from_attrs(expected.path.clone(), &now, EntryKind::File);
    // Compared in whole seconds: all SFTP knows, and what the scan of an SFTP side reports.
    if kind_of(&now) != Some(EntryKind::File)
        || entry.size != expected.size
        || entry.meta.mtime.secs != expected.meta.mtime.secs
    {
        return Err(Error::SourceChanged {
            path: inner.shown(&expected.path),
        });
    }
    Ok(entry)
}

/// The whole content of the file `entry` names and its attributes after reading.
pub(super) async fn fetch(inner: &Arc<Inner>, entry: &Entry) -> Result<(Vec<u8>, Entry)> {
    let handle = open(inner, &entry.path).await?;
    let mut reader = Reader::new(inner, &handle, entry.size);
    let mut data = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
    while let Some(piece) = reader
        .next()
        .await
        .map_err(|e| read_err(inner, &entry.path, e))?
    {
        data.extend_from_slice(&piece);
    }
    let opened = verify(inner, &handle, entry).await?;
    // Closed in the background: nothing was written through it, so its close cannot fail
    // in a way that matters, and waiting for it would cost a round trip per file.
    drop(handle);
    Ok((data, opened))
}

/// Streams the file `entry` names into `tx`, ending with `End` once it checked out, or with
/// the error that stopped it.
async fn stream_file(
    inner: &Arc<Inner>,
    entry: Entry,
    tx: &mpsc::Sender<Result<StreamChunk>>,
    cancel: &Cancel,
) {
    let sent = async {
        let handle = open(inner, &entry.path).await?;
        let mut reader = Reader::new(inner, &handle, entry.size);
        while let Some(piece) = reader
            .next()
            .await
            .map_err(|e| read_err(inner, &entry.path, e))?
        {
            cancel.check()?;
            if tx
                .send(Ok(StreamChunk::Data(Bytes::from(piece))))
                .await
                .is_err()
            {
                return Err(Error::Interrupted);
            }
        }
        verify(inner, &handle, &entry).await?;
        drop(handle);
        Ok(())
    }
    .await;
    let last = match sent {
        Ok(()) => Ok(StreamChunk::End),
        Err(e) => Err(e),
    };
    let _ = tx.send(last).await;
}

/// A delta of literals only: the whole file, then its BLAKE3 digest.
pub(super) async fn literal_delta(
    inner: &Arc<Inner>,
    entry: Entry,
    options: ReadOptions,
) -> Result<DeltaSource> {
    let handle = open(inner, &entry.path).await?;
    let attrs = inner
        .session
        .fstat(handle.name())
        .await
        .map_err(|e| inner.sftp_err("reading", &entry.path, e))?
        .attrs;
    if kind_of(&attrs) != Some(EntryKind::File) {
        return Err(inner.err(
            "reading",
            &entry.path,
            io::Error::new(io::ErrorKind::InvalidInput, "no longer a regular file"),
        ));
    }
    let opened = entry_from_attrs(entry.path.clone(), &attrs, EntryKind::File);
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let task_inner = Arc::clone(inner);
    let task_entry = opened.clone();
    tokio::spawn(async move {
        let inner = task_inner;
        let entry = task_entry;
        let sent = async {
            let mut reader = Reader::new(&inner, &handle, entry.size);
            let mut hasher = FileHasher::new();
            while let Some(piece) = reader
                .next()
                .await
                .map_err(|e| read_err(&inner, &entry.path, e))?
            {
                options.cancel.check()?;
                hasher.update(&piece);
                if tx
                    .send(Ok(DeltaChunk::Op(DeltaOp::Literal(Bytes::from(piece)))))
                    .await
                    .is_err()
                {
                    return Err(Error::Interrupted);
                }
            }
            verify(&inner, &handle, &entry).await?;
            drop(handle);
            Ok(hasher.finalize())
        }
        .await;
        let last = sent.map(|digest| DeltaChunk::End { digest });
        let _ = tx.send(last).await;
    });
    Ok(DeltaSource {
        entry: opened,
        chunks: rx,
    })
}

pub(super) async fn checksums(
    inner: &Arc<Inner>,
    paths: Vec<RelPath>,
    follow_links: bool,
) -> Vec<Result<FileDigest>> {
    bounded(paths, HASHES_AT_ONCE, |path| {
        let inner = Arc::clone(inner);
        async move { checksum(&inner, path, follow_links).await }
    })
    .await
}

/// Reads the file at `path` whole and hashes it.
async fn checksum(inner: &Arc<Inner>, path: RelPath, follow_links: bool) -> Result<FileDigest> {
    let remote = inner.remote(&path)?;
    let attrs = if follow_links {
        inner.session.stat(remote).await
    } else {
        inner.session.lstat(remote).await
    }
    .map_err(|e| inner.sftp_err("reading", &path, e))?
    .attrs;
    if kind_of(&attrs) != Some(EntryKind::File) {
        return Err(inner.err(
            "reading",
            &path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let entry = entry_from_attrs(path, &attrs, EntryKind::File);
    let handle = open(inner, &entry.path).await?;
    let mut reader = Reader::new(inner, &handle, entry.size);
    let mut hasher = FileHasher::new();
    while let Some(piece) = reader
        .next()
        .await
        .map_err(|e| read_err(inner, &entry.path, e))?
    {
        hasher.update(&piece);
    }
    verify(inner, &handle, &entry).await?;
    drop(handle);
    Ok(hasher.finalize())
}
