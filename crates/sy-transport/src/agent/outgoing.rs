//! What both sides send the same way — a local file's content as `FileChunk`s, a delta as
//! batched `DeltaChunk`s — so the client (push) and the agent (pull) check the same things.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use bytes::Bytes;
use sy_delta::{DeltaOp, FileDigest, FileHasher};
use sy_protocol::{CHUNK_LEN, MAX_LIST_ITEMS, Message, RequestId, worth_compressing};
use tokio::sync::mpsc;

use super::link::Out;
use crate::{Entry, Error, Result};

/// Runs on a blocking thread: reads `file` (opened as `entry`) in chunks straight into the
/// connection's queue as request `id`, calling `after_chunk` with each chunk's length (progress,
/// cancellation), then checks the file did not change while it was read. Returns its BLAKE3.
pub(super) fn send_local_file(
    out: &mpsc::Sender<Out>,
    id: RequestId,
    entry: &Entry,
    mut file: File,
    compressing: bool,
    mut after_chunk: impl FnMut(u64) -> Result<()>,
) -> Result<FileDigest> {
    let reading = |e| Error::Io {
        action: "reading",
        path: entry.path.to_string(),
        source: e,
    };
    let changed = || Error::SourceChanged {
        path: entry.path.to_string(),
    };
    let mut hasher = FileHasher::new();
    let mut offset = 0u64;
    // Judged once, on the first chunk: the rest of the file is as compressible as its start.
    let mut stored = None;
    loop {
        let buf = read_chunk(&mut file).map_err(reading)?;
        let n = buf.len() as u64;
        if n == 0 {
            break;
        }
        if offset + n > entry.size {
            return Err(changed());
        }
        hasher.update(&buf);
        let stored = *stored
            .get_or_insert_with(|| compressing && !worth_compressing(entry.path.as_bytes(), &buf));
        let message = Message::FileChunk {
            id,
            offset,
            data: Bytes::from(buf),
        };
        out.blocking_send(Out { message, stored })
            .map_err(|_| Error::Interrupted)?;
        offset += n;
        after_chunk(n)?;
    }
    let after = file.metadata().map_err(reading)?;
    if offset != entry.size
        || after.len() != entry.size
        || after.mtime() != entry.meta.mtime.secs
        || after.mtime_nsec() != i64::from(entry.meta.mtime.nanos)
    {
        return Err(changed());
    }
    Ok(hasher.finalize())
}

/// The next piece of `file`, up to [`CHUNK_LEN`] bytes (empty at its end), read into a fresh
/// buffer without zeroing it first.
pub(super) fn read_chunk(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(CHUNK_LEN);
    file.take(CHUNK_LEN as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Delta ops per `DeltaChunk` frame (at most [`MAX_LIST_ITEMS`])…
const DELTA_OPS: usize = 4096;
const _: () = assert!(DELTA_OPS <= MAX_LIST_ITEMS);
/// …and literal bytes per frame (the literal that crosses it goes in whole).
const DELTA_LITERAL: usize = CHUNK_LEN;

/// Groups a delta's ops into frames, so a delta of tiny ops costs few frames and a frame stays
/// well under the frame limit.
#[derive(Default)]
pub(super) struct DeltaBatcher {
    ops: Vec<DeltaOp<Bytes>>,
    literal: usize,
}

impl DeltaBatcher {
    /// Adds `op`; returns a full batch when this one filled it.
    pub(super) fn push(&mut self, op: DeltaOp<Bytes>) -> Option<Vec<DeltaOp<Bytes>>> {
        if let DeltaOp::Literal(bytes) = &op {
            self.literal += bytes.len();
        }
        self.ops.push(op);
        (self.ops.len() >= DELTA_OPS || self.literal >= DELTA_LITERAL).then(|| {
            self.literal = 0;
            std::mem::take(&mut self.ops)
        })
    }

    /// The ops not sent yet, if any.
    pub(super) fn rest(self) -> Option<Vec<DeltaOp<Bytes>>> {
        (!self.ops.is_empty()).then_some(self.ops)
    }
}
