//! Writing a file's content into its temporary ([`super::staged::Staged`]): whole from memory,
//! copied from a local file (`copy_file_range`, holes kept), or streamed; `--sparse` makes holes
//! of zeros.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use rustix::fs::{SeekFrom, copy_file_range, fstat, ftruncate, seek};
use rustix::io::Errno;

use super::root::ParentCache;
use super::staged::Staged;
use super::{Inner, entry_from_stat};
use crate::{
    Cancel, EntryKind, Error, FileData, FileWrite, Progress, RelPath, Result, StreamChunk,
    WriteOptions, Written,
};

/// `copy_file_range` is asked for at most this much at a time, so Ctrl-C is noticed quickly.
const COPY_STEP: usize = 8 << 20;
/// Buffer for copies that cannot use `copy_file_range` and for `--sparse`.
const BUFFER: usize = 256 << 10;
/// Granularity of zero detection with `--sparse`.
const SPARSE_BLOCK: usize = 4096;

/// A failed fill: the error and how many leading bytes of the temporary are already right.
struct Failure {
    error: Error,
    valid: u64,
}

impl Inner {
    pub(super) fn write_file(
        &self,
        file: FileWrite,
        options: &WriteOptions,
        parents: &mut ParentCache,
    ) -> Result<Written> {
        let path = &file.path;
        let root = self.root().map_err(|e| self.err("writing", path, e))?;
        let (dir, name) = parents
            .parent_of(root, path)
            .map_err(|e| self.err("writing", path, e))?;
        let staged = Staged::create(dir.as_fd(), name)
            .map_err(|e| self.err("creating a temporary for", path, e))?;
        let meta = file.source.entry.meta;
        let len = file.source.entry.size;
        if let Err(Failure { error, valid }) = self.fill(&staged.file, path, file.source, options) {
            if error.is_interrupted() && valid > 0 {
                staged.keep_partial(valid);
            }
            return Err(error);
        }
        staged
            .commit(&meta, options.meta, file.clear_partial)
            .map_err(|e| self.err(e.action, path, e.source))?;
        Ok(Written {
            literal: len,
            matched: 0,
        })
    }

    fn fill(
        &self,
        tmp: &File,
        path: &RelPath,
        source: crate::SourceFile,
        options: &WriteOptions,
    ) -> Result<(), Failure> {
        let mut out = Out::new(tmp, options, path);
        let len = source.entry.size;
        let io_failure = |out: &Out<'_>, action, e: io::Error| Failure {
            error: if is_cancelled(&e) {
                Error::Interrupted
            } else {
                self.err(action, path, e)
            },
            valid: out.pos,
        };
        let changed = |out: &Out<'_>| Failure {
            error: Error::SourceChanged {
                path: self.shown(path),
            },
            valid: out.pos,
        };
        match source.data {
            FileData::Bytes(bytes) => {
                if bytes.len() as u64 != len {
                    return Err(changed(&out));
                }
                out.write(&bytes)
                    .map_err(|e| io_failure(&out, "writing", e))?;
                if !options.sparse {
                    // Written end to end: the length is already right.
                    return Ok(());
                }
            }
            FileData::Local(src) => {
                let complete =
                    copy_local(&src, len, &mut out).map_err(|e| io_failure(&out, "copying", e))?;
                let after = fstat(&src).map_err(|e| io_failure(&out, "reading", e.into()))?;
                let after = entry_from_stat(path.clone(), &after, EntryKind::File);
                if !complete || after.size != len || after.meta.mtime != source.entry.meta.mtime {
                    return Err(changed(&out));
                }
            }
            FileData::Stream(mut chunks) => loop {
                let chunk = chunks.blocking_recv().unwrap_or(Err(Error::Interrupted));
                match chunk.map_err(|error| Failure {
                    error,
                    valid: out.pos,
                })? {
                    StreamChunk::Data(data) => {
                        if out.pos + data.len() as u64 > len {
                            return Err(changed(&out));
                        }
                        out.write(&data)
                            .map_err(|e| io_failure(&out, "writing", e))?;
                    }
                    StreamChunk::End if out.pos == len => break,
                    StreamChunk::End => return Err(changed(&out)),
                }
            },
        }
        ftruncate(tmp, len).map_err(|e| io_failure(&out, "writing", e.into()))?;
        Ok(())
    }
}

/// The cause carried by the `io::Error` that stops a write on Ctrl-C. Not
/// `ErrorKind::Interrupted`: `write_all` and friends retry that one forever.
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Cancelled {}

/// The error that stops work once the run is cancelled.
pub(super) fn cancelled() -> io::Error {
    io::Error::other(Cancelled)
}

/// True for the error [`cancelled`] makes.
pub(super) fn is_cancelled(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Cancelled>())
}

/// Where file content goes: positional writes into the temporary, holes where allowed.
pub(super) struct Out<'a> {
    file: &'a File,
    pub(super) pos: u64,
    sparse: bool,
    cancel: &'a Cancel,
    progress: &'a dyn Progress,
    path: &'a RelPath,
}

impl<'a> Out<'a> {
    pub(super) fn new(file: &'a File, options: &'a WriteOptions, path: &'a RelPath) -> Out<'a> {
        Out {
            file,
            pos: 0,
            sparse: options.sparse,
            cancel: &options.cancel,
            progress: options.progress.as_ref(),
            path,
        }
    }

    fn check(&self) -> io::Result<()> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        Ok(())
    }

    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(BUFFER) {
            self.check()?;
            if self.sparse {
                self.write_sparse(piece)?;
            } else {
                self.file.write_all_at(piece, self.pos)?;
                self.pos += piece.len() as u64;
            }
            self.progress.advance(self.path, piece.len() as u64);
        }
        Ok(())
    }

    /// Writes the non-zero blocks; all-zero blocks become holes (the final `ftruncate` sets
    /// the length, so trailing zeros are a hole too).
    fn write_sparse(&mut self, data: &[u8]) -> io::Result<()> {
        let mut run_start: Option<usize> = None;
        let mut offset = 0;
        for block in data.chunks(SPARSE_BLOCK) {
            let zero = is_zero(block);
            match (zero, run_start) {
                (false, None) => run_start = Some(offset),
                (true, Some(start)) => {
                    self.file
                        .write_all_at(&data[start..offset], self.pos + start as u64)?;
                    run_start = None;
                }
                _ => {}
            }
            offset += block.len();
        }
        if let Some(start) = run_start {
            self.file
                .write_all_at(&data[start..], self.pos + start as u64)?;
        }
        self.pos += data.len() as u64;
        Ok(())
    }
}

fn is_zero(block: &[u8]) -> bool {
    block.iter().all(|&b| b == 0)
}

/// Copies `len` bytes of `src` into `out`, skipping holes in the source. Returns false when
/// the source turned out shorter than `len` (it shrank while being copied).
fn copy_local(src: &File, len: u64, out: &mut Out<'_>) -> io::Result<bool> {
    let mut pos = 0u64;
    let mut use_cfr = !out.sparse;
    let mut buf = Vec::new();
    while pos < len {
        out.check()?;
        let start = match seek(src, SeekFrom::Data(pos)) {
            Ok(offset) => offset,
            Err(Errno::NXIO) => len,
            Err(_) => pos,
        };
        if start >= len {
            break;
        }
        let end = match seek(src, SeekFrom::Hole(start)) {
            Ok(offset) => offset.min(len),
            Err(_) => len,
        };
        if start > pos {
            out.progress.advance(out.path, start - pos);
        }
        out.pos = start;
        let mut offset = start;
        while offset < end {
            out.check()?;
            let want = (end - offset).min(COPY_STEP as u64) as usize;
            if use_cfr {
                let mut off_in = offset;
                let mut off_out = offset;
                match copy_file_range(src, Some(&mut off_in), out.file, Some(&mut off_out), want) {
                    Ok(0) => return Ok(false),
                    Ok(n) => {
                        offset += n as u64;
                        out.pos = offset;
                        out.progress.advance(out.path, n as u64);
                        continue;
                    }
                    Err(
                        Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM,
                    ) if offset == start => {
                        use_cfr = false;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if buf.is_empty() {
                buf = vec![0; BUFFER];
            }
            let want = want.min(BUFFER);
            let n = src.read_at(&mut buf[..want], offset)?;
            if n == 0 {
                return Ok(false);
            }
            out.write(&buf[..n])?;
            offset += n as u64;
        }
        pos = end;
    }
    out.pos = len;
    Ok(true)
}
