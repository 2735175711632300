//! Delta transfers on the local side: signatures of a basis, diffing a source file, and
//! rebuilding a file from a basis plus a delta stream (verified by BLAKE3 before the rename).

use std::fs::File;
use std::io::{self, Read, Write};

use bytes::BytesMut;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, fstat, ftruncate, renameat, unlinkat};
use rustix::io::Errno;
use sy_delta::{DeltaOp, FileDigest, FileHasher, Patcher, Signature, SignatureOptions, diff};
use tokio::sync::mpsc;

use super::names::partial_name;
use super::root::{open_beneath, parent_of};
use super::write::{
    Out, TempGuard, cancelled, create_temp, is_cancelled, keep_partial, set_file_meta,
};
use super::{Inner, entry_from_stat};
use crate::{
    Basis, Cancel, DeltaChunk, DeltaSource, Entry, EntryKind, Error, RelPath, Result, WriteOptions,
    Written,
};

/// Literal bytes are sent in pieces of about this size.
const LITERAL_CHUNK: usize = 256 << 10;
/// Threads hashing a large basis.
const SIGNATURE_THREADS: usize = 2;

impl Inner {
    fn delta_err(&self, path: &RelPath, source: sy_delta::Error) -> Error {
        match source {
            sy_delta::Error::Io { source, .. } if is_cancelled(&source) => Error::Interrupted,
            // A full or closed destination is named as such, like a failed plain write.
            sy_delta::Error::Io { source, .. } if super::explains(&source) => {
                self.err("writing", path, source)
            }
            source => Error::Delta {
                path: self.shown(path),
                source,
            },
        }
    }

    /// The basis file for `path`, or `None` when it does not exist (or is not a file).
    fn open_basis(&self, path: &RelPath, basis: Basis) -> Result<Option<(File, u64)>> {
        let root = self.root().map_err(|e| self.err("opening", path, e))?;
        let target = match basis {
            Basis::Existing => path.clone(),
            Basis::Partial => {
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    return Ok(None);
                };
                let Some(partial) = partial_name(name) else {
                    return Ok(None);
                };
                parent.join_checked(&partial)
            }
        };
        let fd = match open_beneath(
            root,
            &target,
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
            false,
        ) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("opening", &target, e)),
        };
        let st = fstat(&fd).map_err(|e| self.err("reading", &target, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(None);
        }
        Ok(Some((File::from(fd), st.st_size as u64)))
    }

    pub(super) fn signature(&self, path: &RelPath, basis: Basis) -> Result<Option<Signature>> {
        let Some((file, len)) = self.open_basis(path, basis)? else {
            return Ok(None);
        };
        let options = SignatureOptions::for_len(len)
            .with_threads(SIGNATURE_THREADS)
            .with_seed(crate::seed::random_seed());
        Signature::calculate(&file, options)
            .map(Some)
            .map_err(|e| self.delta_err(path, e))
    }

    /// Runs on a blocking thread: diffs `file` and sends the chunks, then `End` or the error.
    pub(super) fn diff_into(
        &self,
        file: File,
        entry: &Entry,
        signature: Signature,
        cancel: &Cancel,
        tx: &mpsc::Sender<Result<DeltaChunk>>,
    ) {
        let last = match self.diff_file(&file, entry, signature, cancel, tx) {
            Ok(digest) => Ok(DeltaChunk::End { digest }),
            Err(e) => Err(e),
        };
        // The receiver may have gone (the destination failed or was interrupted): nothing to do.
        let _ = tx.blocking_send(last);
    }

    fn diff_file(
        &self,
        file: &File,
        entry: &Entry,
        signature: Signature,
        cancel: &Cancel,
        tx: &mpsc::Sender<Result<DeltaChunk>>,
    ) -> Result<[u8; 32]> {
        let path = &entry.path;
        let index = signature.into_index();
        let mut reader = Hashing {
            cancel,
            inner: file,
            hasher: FileDigest::hasher(),
            bytes: 0,
        };
        let mut literal = BytesMut::new();
        let send = |chunk: DeltaChunk| {
            tx.blocking_send(Ok(chunk))
                .map_err(|_| sy_delta::Error::Io {
                    context: "sending the delta",
                    source: io::ErrorKind::BrokenPipe.into(),
                })
        };
        let mut sink = |op: DeltaOp<'_>| -> sy_delta::Result<()> {
            match op {
                DeltaOp::Copy { offset, len } => {
                    if !literal.is_empty() {
                        send(DeltaChunk::Literal(literal.split().freeze()))?;
                    }
                    send(DeltaChunk::Copy { offset, len })
                }
                DeltaOp::Literal(bytes) => {
                    literal.extend_from_slice(bytes);
                    if literal.len() >= LITERAL_CHUNK {
                        send(DeltaChunk::Literal(literal.split().freeze()))?;
                    }
                    Ok(())
                }
            }
        };
        diff(&index, &mut reader, &mut sink).map_err(|e| self.delta_err(path, e))?;
        if !literal.is_empty() {
            send(DeltaChunk::Literal(literal.split().freeze()))
                .map_err(|e| self.delta_err(path, e))?;
        }
        let after = fstat(file).map_err(|e| self.err("reading", path, e.into()))?;
        let after = entry_from_stat(path.clone(), &after, EntryKind::File);
        if reader.bytes != entry.size
            || after.size != entry.size
            || after.meta.mtime != entry.meta.mtime
        {
            return Err(Error::SourceChanged {
                path: self.shown(path),
            });
        }
        Ok(*reader.hasher.finalize().as_bytes())
    }

    pub(super) fn apply_delta(
        &self,
        path: &RelPath,
        basis: Basis,
        mut delta: DeltaSource,
        options: &WriteOptions,
    ) -> Result<Written> {
        let root = self.root().map_err(|e| self.err("writing", path, e))?;
        let (dir, name) = parent_of(root, path).map_err(|e| self.err("writing", path, e))?;
        let Some((basis_file, _)) = self.open_basis(path, basis)? else {
            return Err(self.err(
                "opening the basis of",
                path,
                io::Error::new(io::ErrorKind::NotFound, "the old version disappeared"),
            ));
        };
        let (tmp_name, tmp) =
            create_temp(&dir, name).map_err(|e| self.err("creating a temporary for", path, e))?;
        let mut guard = TempGuard {
            dir: rustix::fd::AsFd::as_fd(&dir),
            name: tmp_name,
            armed: true,
        };
        let len = delta.entry.size;
        let mut out = Out::new(&tmp, options, path);
        let mut written = Written::default();
        let mut hasher = FileDigest::hasher();
        let result = (|| -> Result<()> {
            let mut patcher = Patcher::new(
                &basis_file,
                HashingOut {
                    out: &mut out,
                    hasher: &mut hasher,
                },
                len,
            );
            loop {
                let chunk = delta.chunks.blocking_recv().ok_or_else(|| {
                    self.err(
                        "receiving the delta for",
                        path,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the delta stream ended early",
                        ),
                    )
                })??;
                match chunk {
                    DeltaChunk::Copy { offset, len } => {
                        patcher
                            .op(DeltaOp::Copy { offset, len })
                            .map_err(|e| self.delta_err(path, e))?;
                        written.matched += len;
                    }
                    DeltaChunk::Literal(bytes) => {
                        patcher
                            .op(DeltaOp::Literal(&bytes))
                            .map_err(|e| self.delta_err(path, e))?;
                        written.literal += bytes.len() as u64;
                    }
                    DeltaChunk::End { digest } => {
                        let total = patcher.finish().map_err(|e| self.delta_err(path, e))?;
                        if total != len || *hasher.finalize().as_bytes() != digest {
                            return Err(Error::DigestMismatch {
                                path: self.shown(path),
                            });
                        }
                        return Ok(());
                    }
                }
            }
        })();
        if let Err(error) = result {
            tracing::debug!(pos = out.pos, "delta into {path} stopped: {error}");
            if error.is_interrupted() && out.pos > 0 {
                keep_partial(&dir, name, &tmp, &guard.name, out.pos, &mut guard.armed);
            }
            return Err(error);
        }
        ftruncate(&tmp, len).map_err(|e| self.err("writing", path, e.into()))?;
        set_file_meta(&tmp, &delta.entry.meta, options.meta)
            .map_err(|e| self.err("setting attributes of", path, e))?;
        drop(tmp);
        renameat(&dir, &guard.name, &dir, name)
            .map_err(|e| self.err("renaming into place", path, e.into()))?;
        guard.armed = false;
        if let Some(partial) = partial_name(name) {
            match unlinkat(&dir, partial, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => tracing::warn!("removing the partial of {path}: {e}"),
            }
        }
        Ok(written)
    }
}

/// Hashes what is read through it (the source side's digest, in the same pass as the diff),
/// and stops the diff when the run is cancelled.
struct Hashing<'a> {
    cancel: &'a Cancel,
    inner: &'a File,
    hasher: FileHasher,
    bytes: u64,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Hashes what is written through it, then hands it to the positional writer.
struct HashingOut<'a, 'o> {
    out: &'a mut Out<'o>,
    hasher: &'a mut FileHasher,
}

impl Write for HashingOut<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)?;
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
