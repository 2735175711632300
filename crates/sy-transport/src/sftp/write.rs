//! Writing remote files: a temporary beside the target (created exclusively), the content in
//! pipelined writes, mode, owner and times through the handle, then a rename into place.

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use sy_delta::{DeltaOp, FileHasher};
use tokio::sync::mpsc;

use super::parents::Parents;
use super::pipeline::{Handle, Writer};
use super::{FILES_AT_ONCE, Inner, bounded, join, mode_and_times, owner};
use crate::names::{partial_name, temp_name};
use crate::{
    Basis, DeltaChunk, DeltaSource, Error, FileData, FileWrite, Meta, RelPath, Result, SourceFile,
    StreamChunk, Timestamp, WriteOptions, Written,
};

/// Attempts at a fresh temporary name: SFTP v3 reports an existing name as a plain failure.
const TEMP_ATTEMPTS: usize = 4;

pub(super) async fn write_files(
    inner: &Arc<Inner>,
    files: Vec<FileWrite>,
    options: WriteOptions,
) -> Vec<Result<Written>> {
    let parents = Arc::new(Parents::default());
    bounded(files, FILES_AT_ONCE, |file| {
        let inner = Arc::clone(inner);
        let options = options.clone();
        let parents = Arc::clone(&parents);
        async move { write_file(&inner, file, &options, &parents).await }
    })
    .await
}

async fn write_file(
    inner: &Arc<Inner>,
    file: FileWrite,
    options: &WriteOptions,
    parents: &Parents,
) -> Result<Written> {
    let path = file.path;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(inner.err(
            "writing",
            &path,
            io::Error::new(io::ErrorKind::IsADirectory, "the root is a directory"),
        ));
    };
    inner.check_parents(&path, parents).await?;
    let dir = inner.remote(&parent)?;
    let target = inner.remote(&path)?;
    let (temp, handle) = create_temp(inner, &dir, name)
        .await
        .map_err(|e| inner.sftp_err("creating a temporary for", &path, e))?;
    let len = file.source.entry.size;
    let meta = file.source.entry.meta;
    let written = async {
        fill(inner, &handle, &path, file.source, options).await?;
        set_attributes_and_close(inner, handle, &path, &meta, options).await
    }
    .await;
    let placed = match written {
        Ok(()) => inner.rename_over(&temp, &target).await.map_err(|unplaced| {
            // With the target missing, the temporary is the only copy of the new version.
            let spare = unplaced.source_is_spare();
            let error = unplaced.into_error(&temp);
            (spare, inner.sftp_err("renaming into place", &path, error))
        }),
        Err(e) => Err((true, e)),
    };
    if let Err((spare, e)) = placed {
        // Nothing to resume from without deltas: the temporary goes.
        if spare {
            let _ = inner.session.remove(temp).await;
        }
        return Err(e);
    }
    if file.clear_partial
        && let Some(partial) = partial_name(name).and_then(|p| String::from_utf8(p).ok())
    {
        let _ = inner.session.remove(join(&dir, &partial)).await;
    }
    Ok(Written {
        literal: len,
        matched: 0,
    })
}

/// Creates `.NAME.sy-tmp.XXXX` in `dir` exclusively (`O_EXCL` never follows a link), mode 0600.
async fn create_temp(
    inner: &Arc<Inner>,
    dir: &str,
    name: &[u8],
) -> Result<(String, Handle), SftpError> {
    let mut attempt = 1;
    loop {
        // `name` is UTF-8 (it came from a checked remote path) and the decoration is ASCII.
        let temp = join(dir, &String::from_utf8_lossy(&temp_name(name)));
        let attrs = FileAttributes {
            permissions: Some(0o600),
            ..FileAttributes::default()
        };
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        match inner.open(&temp, flags, attrs).await {
            Ok(handle) => return Ok((temp, handle)),
            Err(SftpError::Status(status))
                if status.status_code == StatusCode::Failure && attempt < TEMP_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends the source's bytes; fails with `SourceChanged` when they do not add up to its size.
async fn fill(
    inner: &Arc<Inner>,
    handle: &Handle,
    path: &RelPath,
    source: SourceFile,
    options: &WriteOptions,
) -> Result<()> {
    let len = source.entry.size;
    let changed = || Error::SourceChanged {
        path: inner.shown(path),
    };
    let failed = |e: io::Error| inner.err("writing", path, e);
    let mut out = Writer::new(inner, handle);
    let push = async |out: &mut Writer, data: &[u8]| -> Result<()> {
        options.cancel.check()?;
        if out.len() + data.len() as u64 > len {
            return Err(changed());
        }
        out.push(data).await.map_err(failed)?;
        options.progress.advance(path, data.len() as u64);
        Ok(())
    };
    let request = inner.features.write_len as usize;
    match source.data {
        FileData::Bytes(bytes) => {
            if bytes.len() as u64 != len {
                return Err(changed());
            }
            for piece in bytes.chunks(request) {
                push(&mut out, piece).await?;
            }
        }
        FileData::Local(file) => {
            // Read straight into the buffers that are sent (one copy, not three).
            let file = Arc::new(file);
            loop {
                options.cancel.check()?;
                let offset = out.len();
                let source = Arc::clone(&file);
                let piece = match tokio::task::spawn_blocking(move || {
                    read_at_most(&source, offset, request)
                })
                .await
                {
                    Ok(read) => read.map_err(|e| inner.err("reading the source of", path, e))?,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => return Err(Error::Interrupted),
                };
                if piece.is_empty() {
                    break;
                }
                let n = piece.len() as u64;
                if out.len() + n > len {
                    return Err(changed());
                }
                out.push_owned(piece).await.map_err(failed)?;
                options.progress.advance(path, n);
            }
            let after = file
                .metadata()
                .map_err(|e| inner.err("reading the source of", path, e))?;
            let mtime = Timestamp {
                secs: after.mtime(),
                nanos: u32::try_from(after.mtime_nsec()).unwrap_or(0),
            };
            if out.len() != len || after.len() != len || mtime != source.entry.meta.mtime {
                return Err(changed());
            }
        }
        FileData::Stream(mut chunks) => loop {
            match chunks.recv().await {
                Some(Ok(StreamChunk::Data(data))) => push(&mut out, &data).await?,
                Some(Ok(StreamChunk::End)) if out.len() == len => break,
                Some(Ok(StreamChunk::End)) => return Err(changed()),
                Some(Err(e)) => return Err(e),
                None => return Err(Error::Interrupted),
            }
        },
    }
    out.finish().await.map_err(failed)
}

/// Up to `len` bytes of `file` from `offset`: fewer only at its end.
fn read_at_most(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Gives the written file its attributes through the handle (so nothing swapped in at the
/// temporary's name can take them) and closes it: owner first (a change of owner clears
/// set-id bits), then mode and times, then the close. All three go out at once (one round
/// trip, not three), after every write was acknowledged so no write can follow the times.
/// OpenSSH handles requests in the order they come; a server that reordered these would fail
/// a request made on a closed handle — an error, never a wrong time.
async fn set_attributes_and_close(
    inner: &Inner,
    handle: Handle,
    path: &RelPath,
    meta: &Meta,
    options: &WriteOptions,
) -> Result<()> {
    let attrs = mode_and_times(meta, options.meta)
        .map_err(|e| inner.err("setting attributes of", path, e))?;
    let name = handle.name().to_owned();
    let set_owner = async {
        if options.meta.owner {
            inner.session.fsetstat(name.as_str(), owner(meta)).await?;
        }
        Ok(())
    };
    let set_rest = inner.session.fsetstat(name.as_str(), attrs);
    // Biased: polled first in this order, so the requests go out in this order.
    let (owned, rest, closed) = tokio::join!(biased; set_owner, set_rest, handle.close());
    let failed = |e| inner.sftp_err("setting attributes of", path, e);
    owned.map_err(failed)?;
    rest.map_err(failed)?;
    closed.map_err(|e| inner.sftp_err("writing", path, e))
}

/// Writes a delta that has only literals (all a peer can send without a signature), checking
/// its digest before the file is renamed into place.
pub(super) async fn write_literal_delta(
    inner: &Arc<Inner>,
    path: RelPath,
    delta: DeltaSource,
    basis: Basis,
    options: WriteOptions,
) -> Result<Written> {
    let (tx, rx) = mpsc::channel(8);
    let mut chunks = delta.chunks;
    let shown = inner.shown(&path);
    tokio::spawn(async move {
        let mut hasher = FileHasher::new();
        loop {
            let next = match chunks.recv().await {
                Some(Ok(DeltaChunk::Op(DeltaOp::Literal(data)))) => {
                    hasher.update(&data);
                    Ok(StreamChunk::Data(data))
                }
                Some(Ok(DeltaChunk::End { digest })) => {
                    if hasher.finalize() == digest {
                        Ok(StreamChunk::End)
                    } else {
                        Err(Error::DigestMismatch {
                            path: shown.clone(),
                        })
                    }
                }
                Some(Ok(DeltaChunk::Op(DeltaOp::Copy { .. }))) => Err(Error::Io {
                    action: "applying a delta to",
                    path: shown.clone(),
                    source: io::Error::new(
                        io::ErrorKind::Unsupported,
                        "over SFTP there is no basis to copy from",
                    ),
                }),
                Some(Err(e)) => Err(e),
                None => break,
            };
            let last = !matches!(next, Ok(StreamChunk::Data(_)));
            if tx.send(next).await.is_err() || last {
                break;
            }
        }
    });
    let file = FileWrite {
        path,
        source: SourceFile {
            entry: delta.entry,
            data: FileData::Stream(rx),
        },
        clear_partial: basis == Basis::Partial,
    };
    write_file(inner, file, &options, &Parents::default()).await
}
