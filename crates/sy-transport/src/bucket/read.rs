//! Downloads: one GET per object, small ones whole in memory, the rest streamed to the writer
//! as they arrive (constant memory whatever the size), many requests in flight.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::{GetResult, ObjectStoreExt};
use sy_delta::{DeltaOp, FileDigest, FileHasher};
use tokio::sync::mpsc;

use super::{Inner, REQUESTS_IN_FLIGHT, mtime};
use crate::read_batch::STREAM_QUEUE;
use crate::{
    DeltaChunk, DeltaSource, Entry, EntryKind, Error, FileData, ReadOptions, RelPath, Result,
    SourceFile, StreamChunk,
};

/// An object being downloaded: its attributes as the GET answered, and its body.
struct Download {
    entry: Entry,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    key: object_store::path::Path,
}

/// Starts the GET of `path`: the entry has the size the server sent and the time recorded at
/// upload (the server's `Last-Modified` for an object sy did not write).
async fn download(inner: &Inner, path: &RelPath, mode: u32) -> Result<Download> {
    let key = inner.key(path)?;
    let got: GetResult = inner
        .store
        .get(&key)
        .await
        .map_err(|e| inner.error("downloading", &key, e))?;
    let time = mtime::recorded(&got.attributes).unwrap_or_else(|| mtime::written(&got.meta));
    let entry = Entry {
        path: path.clone(),
        kind: EntryKind::File,
        size: got.meta.size,
        meta: crate::Meta {
            mode,
            mtime: time,
            uid: 0,
            gid: 0,
        },
        dev: 0,
        ino: 0,
        nlink: 1,
    };
    Ok(Download {
        entry,
        body: got.into_stream(),
        key,
    })
}

impl Download {
    /// The next piece of the body; `None` at its end. A body shorter or longer than the size
    /// the server announced is an error — a longer one as soon as it passes that size, so a
    /// server cannot make sy hold more than it announced.
    async fn next(&mut self, inner: &Inner, received: &mut u64) -> Result<Option<Bytes>> {
        match self.body.next().await {
            Some(Ok(piece)) => {
                *received += piece.len() as u64;
                if *received > self.entry.size {
                    return Err(self.wrong_size(inner, "more than"));
                }
                Ok(Some(piece))
            }
            Some(Err(e)) => Err(inner.error("downloading", &self.key, e)),
            None if *received == self.entry.size => Ok(None),
            None => Err(self.wrong_size(inner, &format!("{received} bytes, not"))),
        }
    }

    fn wrong_size(&self, inner: &Inner, had: &str) -> Error {
        Error::Store {
            action: "downloading",
            location: inner.shown(&self.key),
            reason: format!("the body had {had} the {} bytes announced", self.entry.size),
        }
    }
}

/// Opens each object for copying, [`REQUESTS_IN_FLIGHT`] GETs at a time.
pub(super) async fn read_files(
    inner: &Arc<Inner>,
    files: Vec<Entry>,
    options: ReadOptions,
) -> Vec<Result<SourceFile>> {
    stream::iter(files)
        .map(|file| {
            let inner = Arc::clone(inner);
            let options = options.clone();
            async move { open(inner, file, options).await }
        })
        .buffered(REQUESTS_IN_FLIGHT)
        .collect()
        .await
}

async fn open(inner: Arc<Inner>, file: Entry, options: ReadOptions) -> Result<SourceFile> {
    options.cancel.check()?;
    let mut download = download(&inner, &file.path, file.meta.mode).await?;
    let entry = download.entry.clone();
    if entry.size <= options.inline_limit {
        let mut whole = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
        let mut received = 0;
        while let Some(piece) = download.next(&inner, &mut received).await? {
            whole.extend_from_slice(&piece);
        }
        return Ok(SourceFile {
            entry,
            data: FileData::Bytes(Bytes::from(whole)),
        });
    }
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(async move {
        let mut received = 0;
        loop {
            let next = match options.cancel.check() {
                Ok(()) => download.next(&inner, &mut received).await,
                Err(e) => Err(e),
            };
            let (chunk, last) = match next {
                Ok(Some(piece)) => (Ok(StreamChunk::Data(piece)), false),
                Ok(None) => (Ok(StreamChunk::End), true),
                Err(e) => (Err(e), true),
            };
            if tx.send(chunk).await.is_err() || last {
                break;
            }
        }
    });
    Ok(SourceFile {
        entry,
        data: FileData::Stream(rx),
    })
}

/// The whole object as a delta of literals, then its digest (for a destination that asks for
/// a delta, as when it resumes from a partial).
pub(super) async fn literal_delta(
    inner: &Arc<Inner>,
    entry: Entry,
    options: ReadOptions,
) -> Result<DeltaSource> {
    let mut download = download(inner, &entry.path, entry.meta.mode).await?;
    let opened = download.entry.clone();
    let inner = Arc::clone(inner);
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(async move {
        let mut hasher = FileHasher::new();
        let mut received = 0;
        loop {
            let next = match options.cancel.check() {
                Ok(()) => download.next(&inner, &mut received).await,
                Err(e) => Err(e),
            };
            let (chunk, last) = match next {
                Ok(Some(piece)) => {
                    hasher.update(&piece);
                    (Ok(DeltaChunk::Op(DeltaOp::Literal(piece))), false)
                }
                Ok(None) => {
                    let digest = hasher.finalize();
                    (Ok(DeltaChunk::End { digest }), true)
                }
                Err(e) => (Err(e), true),
            };
            if tx.send(chunk).await.is_err() || last {
                break;
            }
        }
    });
    Ok(DeltaSource {
        entry: opened,
        chunks: rx,
    })
}

/// BLAKE3 digests of whole objects, downloaded here.
pub(super) async fn checksums(inner: &Arc<Inner>, paths: Vec<RelPath>) -> Vec<Result<FileDigest>> {
    stream::iter(paths)
        .map(|path| async move {
            let mut download = download(inner, &path, 0).await?;
            let mut hasher = FileHasher::new();
            let mut received = 0;
            while let Some(piece) = download.next(inner, &mut received).await? {
                hasher.update(&piece);
            }
            Ok(hasher.finalize())
        })
        .buffered(REQUESTS_IN_FLIGHT)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;

    /// A body of `pieces` for a file the server said holds `size` bytes.
    fn download(size: u64, pieces: &[&'static [u8]]) -> Download {
        let body = stream::iter(
            pieces
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        );
        Download {
            entry: Entry {
                path: RelPath::new("f").unwrap(),
                kind: EntryKind::File,
                size,
                meta: crate::Meta::default(),
                dev: 0,
                ino: 0,
                nlink: 1,
            },
            body: body.boxed(),
            key: object_store::path::Path::from("p/f"),
        }
    }

    fn inner() -> Inner {
        Inner {
            store: Arc::new(object_store::memory::InMemory::new()),
            root: RelPath::new("p").unwrap(),
            location: "s3://b/p".to_owned(),
            bucket: "s3://b".to_owned(),
            dirs: Mutex::new(HashSet::new()),
        }
    }

    /// A server that sends more than it announced is cut off at the piece that passes the
    /// size, before sy holds the rest; one that sends less is caught at the end.
    #[tokio::test]
    async fn a_body_of_another_size_than_announced_is_refused() {
        let inner = inner();
        let mut long = download(4, &[b"abc", b"defg", b"never read"]);
        let mut received = 0;
        assert!(long.next(&inner, &mut received).await.unwrap().is_some());
        let err = long.next(&inner, &mut received).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "downloading s3://b/p/f: the body had more than the 4 bytes announced"
        );
        let mut short = download(4, &[b"abc"]);
        let mut received = 0;
        assert!(short.next(&inner, &mut received).await.unwrap().is_some());
        let err = short.next(&inner, &mut received).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "downloading s3://b/p/f: the body had 3 bytes, not the 4 bytes announced"
        );
    }
}
