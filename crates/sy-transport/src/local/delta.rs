//! Delta transfers on the local side: signatures of a basis, diffing a source file, and
//! rebuilding a file from a basis plus a delta stream (verified by BLAKE3 before the rename).

use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroU64;
use std::os::fd::AsFd;

use bytes::{Bytes, BytesMut};
use rustix::fs::{Advice, FileType, Mode, OFlags, fadvise, fstat, ftruncate};
use sy_delta::{DeltaOp, FileDigest, FileHasher, Patcher, Signature, SignatureOptions, diff};
use tokio::sync::mpsc;

use super::root::{Follow, open_beneath, parent_of};
use super::staged::Staged;
use super::write::{Out, cancelled, is_cancelled};
use super::write_behind::{WriteBehind, write_behind};
use super::{Inner, entry_from_stat};
use crate::names::partial_name;
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
                parent.join(&partial)?
            }
        };
        let fd = match open_beneath(
            root,
            &target,
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
            Follow::Never,
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
    ) -> Result<FileDigest> {
        let path = &entry.path;
        let index = signature.into_index();
        let mut reader = Hashing {
            cancel,
            inner: file,
            hasher: FileDigest::hasher(),
            bytes: 0,
        };
        let mut literal = BytesMut::new();
        let send = |op: DeltaOp<Bytes>| {
            tx.blocking_send(Ok(DeltaChunk::Op(op)))
                .map_err(|_| sy_delta::Error::Io {
                    context: "sending the delta",
                    source: io::ErrorKind::BrokenPipe.into(),
                })
        };
        let mut sink = |op: DeltaOp<&[u8]>| -> sy_delta::Result<()> {
            match op {
                DeltaOp::Copy { offset, len } => {
                    if !literal.is_empty() {
                        send(DeltaOp::Literal(literal.split().freeze()))?;
                    }
                    send(DeltaOp::Copy { offset, len })
                }
                DeltaOp::Literal(bytes) => {
                    literal.extend_from_slice(bytes);
                    if literal.len() >= LITERAL_CHUNK {
                        send(DeltaOp::Literal(literal.split().freeze()))?;
                    }
                    Ok(())
                }
            }
        };
        diff(&index, &mut reader, &mut sink).map_err(|e| self.delta_err(path, e))?;
        if !literal.is_empty() {
            send(DeltaOp::Literal(literal.split().freeze()))
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
        Ok(reader.hasher.finalize())
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
        let staged = Staged::create(dir.as_fd(), name)
            .map_err(|e| self.err("creating a temporary for", path, e))?;
        let len = delta.entry.size;
        let mut out = Out::new(&staged.file, options, path);
        let mut written = Written::default();
        let mut hasher = FileDigest::hasher();
        let (patched, wrote) = write_behind(&mut out, &staged.file, &mut hasher, |behind| {
            self.patch(path, &basis_file, &mut delta, behind, &mut written)
        });
        let result = match (patched, wrote) {
            // The writer's own error, not the patcher's "the writer stopped".
            (_, Err(e)) => Err(self.delta_err(
                path,
                sy_delta::Error::Io {
                    context: "writing the output",
                    source: e,
                },
            )),
            (Err(e), Ok(())) => Err(e),
            (Ok(digest), Ok(())) if hasher.finalize() == digest => Ok(()),
            (Ok(_), Ok(())) => Err(Error::DigestMismatch {
                path: self.shown(path),
            }),
        };
        let valid = out.pos;
        if let Err(error) = result {
            tracing::debug!(pos = valid, "delta into {path} stopped: {error}");
            if error.is_interrupted() && valid > 0 {
                staged.keep_partial(valid);
            }
            return Err(error);
        }
        ftruncate(&staged.file, len).map_err(|e| self.err("writing", path, e.into()))?;
        staged
            .commit(&delta.entry.meta, options.meta, true)
            .map_err(|e| self.err(e.action, path, e.source))?;
        Ok(written)
    }

    /// Rebuilds the file from the basis and the delta's chunks into `behind`; returns the
    /// digest the sender announced, once the delta has produced exactly the file's length.
    fn patch(
        &self,
        path: &RelPath,
        basis_file: &File,
        delta: &mut DeltaSource,
        behind: WriteBehind<'_>,
        written: &mut Written,
    ) -> Result<FileDigest> {
        let len = delta.entry.size;
        let mut patcher = Patcher::new(basis_file, behind, len);
        let mut behind_copies = CacheDrop {
            file: basis_file,
            from: 0,
        };
        loop {
            let chunk = delta.chunks.blocking_recv().ok_or_else(|| {
                self.err(
                    "receiving the delta for",
                    path,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the delta stream ended early"),
                )
            })??;
            match chunk {
                DeltaChunk::Op(op) => {
                    patcher
                        .op(op.as_borrowed())
                        .map_err(|e| self.delta_err(path, e))?;
                    match op {
                        DeltaOp::Copy { offset, len } => {
                            written.matched += len;
                            behind_copies.passed(offset, len);
                        }
                        DeltaOp::Literal(bytes) => written.literal += bytes.len() as u64,
                    }
                }
                DeltaChunk::End { digest } => {
                    let total = patcher.finish().map_err(|e| self.delta_err(path, e))?;
                    if total != len {
                        return Err(Error::DigestMismatch {
                            path: self.shown(path),
                        });
                    }
                    return Ok(digest);
                }
            }
        }
    }
}

/// Bytes of the basis passed between two requests to drop them from the page cache.
const CACHE_DROP_STEP: u64 = 8 << 20;

/// Drops the basis's cached pages behind the copies, step by step. The old version goes
/// away once the new one is renamed into place, and the kernel then frees its cache when the
/// last descriptor closes: 0.1-0.15 s for 1 GiB, after everything else, on the critical path.
/// Freed as the copies pass, that work overlaps the transfer, and the old and new versions
/// do not both sit in memory. A later copy from a dropped range still works: it reads the disk.
struct CacheDrop<'f> {
    file: &'f File,
    /// Everything before this offset has been dropped already.
    from: u64,
}

impl CacheDrop<'_> {
    fn passed(&mut self, offset: u64, len: u64) {
        let end = offset.saturating_add(len);
        if offset >= self.from && end - self.from >= CACHE_DROP_STEP {
            // Only advice: a failure costs memory, never correctness.
            let _ = fadvise(
                self.file,
                self.from,
                NonZeroU64::new(end - self.from),
                Advice::DontNeed,
            );
            self.from = end;
        }
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use tokio::sync::mpsc;

    use super::super::Local;
    use crate::{
        Basis, Cancel, DeltaChunk, DeltaOp, DeltaSource, Entry, Error, FileDigest, MetaOptions,
        NoProgress, RelPath, ScanOptions, Transport, WriteOptions,
    };

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    fn write_options(cancel: &Cancel) -> WriteOptions {
        WriteOptions {
            meta: MetaOptions {
                times: true,
                owner: false,
            },
            sparse: false,
            cancel: cancel.clone(),
            progress: Arc::new(NoProgress),
        }
    }

    /// `old` as `f` at the destination, `new` as `f` at the source; the source's entry.
    async fn setup(old: &[u8], new: &[u8]) -> (tempfile::TempDir, Local, Entry) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::create_dir_all(dir.path().join("dst")).unwrap();
        fs::write(dir.path().join("src/f"), new).unwrap();
        fs::write(dir.path().join("dst/f"), old).unwrap();
        let src = Local::open(dir.path().join("src")).unwrap();
        let dst = Local::open(dir.path().join("dst")).unwrap();
        let scan = src.scan(ScanOptions::default()).await.unwrap();
        let entry = scan.entries.into_iter().find(|e| e.path.as_bytes() == b"f");
        (dir, dst, entry.unwrap())
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    const MIB: usize = 1 << 20;

    /// 20 MiB: several writeback and cache-drop steps, many pieces through the writing thread.
    fn old_and_new() -> (Vec<u8>, Vec<u8>, Vec<DeltaChunk>) {
        let old = noise(20 * MIB, 1);
        let fresh = noise(300 << 10, 2);
        let mut new = old[..10 * MIB].to_vec();
        new.extend_from_slice(&fresh);
        new.extend_from_slice(&old[11 * MIB..]);
        // Back to a range whose cache the forward copies dropped.
        new.extend_from_slice(&old[MIB..2 * MIB]);
        let chunks = vec![
            DeltaChunk::Op(DeltaOp::Copy {
                offset: 0,
                len: 10 * MIB as u64,
            }),
            DeltaChunk::Op(DeltaOp::Literal(Bytes::from(fresh))),
            DeltaChunk::Op(DeltaOp::Copy {
                offset: 11 * MIB as u64,
                len: 9 * MIB as u64,
            }),
            DeltaChunk::Op(DeltaOp::Copy {
                offset: MIB as u64,
                len: MIB as u64,
            }),
        ];
        (old, new, chunks)
    }

    async fn apply(dst: &Local, entry: Entry, chunks: Vec<DeltaChunk>) -> crate::Result<()> {
        let (tx, rx) = mpsc::channel(chunks.len());
        for chunk in chunks {
            tx.send(Ok(chunk)).await.unwrap();
        }
        let delta = DeltaSource { entry, chunks: rx };
        let options = write_options(&Cancel::default());
        let path = RelPath::new("f").unwrap();
        dst.apply_delta(path, Basis::Existing, delta, options)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn a_delta_through_the_writing_thread_rebuilds_the_file() {
        let (old, new, mut chunks) = old_and_new();
        let (dir, dst, entry) = setup(&old, &new).await;
        chunks.push(DeltaChunk::End {
            digest: FileDigest::of_bytes(&new),
        });
        apply(&dst, entry, chunks).await.unwrap();
        assert!(fs::read(dir.path().join("dst/f")).unwrap() == new);
        assert_eq!(names(&dir.path().join("dst")), ["f"]);
    }

    #[tokio::test]
    async fn a_wrong_digest_keeps_the_old_file_and_no_temporary() {
        let (old, new, mut chunks) = old_and_new();
        let (dir, dst, entry) = setup(&old, &new).await;
        chunks.push(DeltaChunk::End {
            digest: FileDigest::of_bytes(&old),
        });
        let result = apply(&dst, entry, chunks).await;
        assert!(
            matches!(result, Err(Error::DigestMismatch { .. })),
            "{result:?}"
        );
        assert!(fs::read(dir.path().join("dst/f")).unwrap() == old);
        assert_eq!(names(&dir.path().join("dst")), ["f"]);
    }

    #[tokio::test]
    async fn cancelling_keeps_what_was_written_as_a_partial() {
        let (old, new, chunks) = old_and_new();
        let (dir, dst, entry) = setup(&old, &new).await;
        let cancel = Cancel::default();
        let (tx, rx) = mpsc::channel(4);
        let delta = DeltaSource { entry, chunks: rx };
        let applying = tokio::spawn({
            let options = write_options(&cancel);
            async move {
                dst.apply_delta(RelPath::new("f").unwrap(), Basis::Existing, delta, options)
                    .await
            }
        });
        // The first copy goes through the writing thread…
        tx.send(Ok(chunks[0].clone())).await.unwrap();
        let dst_dir = dir.path().join("dst");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !fs::read_dir(&dst_dir).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().contains("sy-tmp")
                && e.metadata().unwrap().len() == 10 * MIB as u64
        }) {
            assert!(Instant::now() < deadline, "the copy was never written");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // …then Ctrl-C: the next write stops, and the written part stays as a partial. (The
        // writing thread stops on it; the patcher notices at its next write or when the
        // stream ends, as it does when the sender stops too.)
        cancel.cancel();
        tx.send(Ok(chunks[1].clone())).await.unwrap();
        drop(tx);
        let result = applying.await.unwrap();
        assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
        assert!(fs::read(dst_dir.join("f")).unwrap() == old);
        let partial = String::from_utf8(crate::partial_name(b"f").unwrap()).unwrap();
        assert_eq!(names(&dst_dir), [partial.as_str(), "f"]);
        assert!(fs::read(dst_dir.join(&partial)).unwrap() == old[..10 * MIB]);
    }
}
