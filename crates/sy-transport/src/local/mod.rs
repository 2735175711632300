//! `Local`: a directory tree on this machine.

mod attrs;
mod delta;
mod ops;
mod read;
mod root;
mod scan;
mod staged;
#[cfg(test)]
mod tests;
mod within;
mod write;
mod write_behind;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use root::Follow;

use crate::{
    Basis, DeltaSource, Entry, EntryKind, Error, FileDigest, FileWrite, Meta, MetaOptions,
    ReadOptions, RelPath, Result, Scan, ScanOptions, SourceFile, SpecialKind, Timestamp, Transport,
    TreeOp, WriteOptions, Written,
};

/// A directory on the local file system. Cheap to clone; all blocking work runs on tokio's
/// blocking pool, one task per batch.
#[derive(Clone)]
pub struct Local {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when the root does not exist (yet): it scans as empty.
    root: Option<OwnedFd>,
    root_path: PathBuf,
    location: String,
    /// What following links (`-L`) means for reads here: anywhere, or only beneath the root.
    follow_links: Follow,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("root", &self.inner.root_path)
            .finish()
    }
}

impl Local {
    /// Opens `root`, which must be a directory (symbolic links to one are followed here, once,
    /// as the user named it). A missing root is allowed: it scans as empty and refuses writes.
    /// Reads asked to follow links (`-L`) follow them wherever they lead.
    pub fn open(root: impl Into<PathBuf>) -> Result<Local> {
        Local::open_following(root.into(), Follow::Anywhere)
    }

    /// Opens `root` to serve it to a peer (the agent's root): like [`Local::open`], except that
    /// reads asked to follow links (`-L`) follow one only while it stays beneath the root. A
    /// link to an absolute path, or one climbing out with `..`, is refused
    /// ([`Error::LinkLeavesRoot`]), so a peer that planted `x -> /etc/shadow` cannot read it.
    pub fn open_confined(root: impl Into<PathBuf>) -> Result<Local> {
        Local::open_following(root.into(), Follow::Beneath)
    }

    fn open_following(root_path: PathBuf, follow_links: Follow) -> Result<Local> {
        let location = root_path.display().to_string();
        let fd = match rustix::fs::open(
            &root_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Some(fd),
            Err(Errno::NOENT) => None,
            Err(e) => {
                return Err(Error::Io {
                    action: "opening directory",
                    path: location,
                    source: e.into(),
                });
            }
        };
        Ok(Local::from_fd(fd, root_path, follow_links))
    }

    fn from_fd(root: Option<OwnedFd>, root_path: PathBuf, follow_links: Follow) -> Local {
        Local {
            inner: Arc::new(Inner {
                root,
                location: root_path.display().to_string(),
                root_path,
                follow_links,
            }),
        }
    }

    /// The root directory as given.
    pub fn root_path(&self) -> &Path {
        &self.inner.root_path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || work(&inner)).await {
            Ok(value) => Ok(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Interrupted),
        }
    }

    async fn blocking_batch<T: Send + 'static>(
        &self,
        len: usize,
        work: impl FnOnce(&Inner) -> Vec<Result<T>> + Send + 'static,
    ) -> Vec<Result<T>> {
        match self.blocking(work).await {
            Ok(results) => results,
            Err(_) => (0..len).map(|_| Err(Error::Interrupted)).collect(),
        }
    }
}

impl Inner {
    fn root(&self) -> io::Result<BorrowedFd<'_>> {
        self.root.as_ref().map(AsFd::as_fd).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the destination directory does not exist",
            )
        })
    }

    /// How a read follows links: not at all, or (`-L`) as this root allows.
    fn follow(&self, follow_links: bool) -> Follow {
        if follow_links {
            self.follow_links
        } else {
            Follow::Never
        }
    }

    /// An `Error::Io` for `path`, phrased as "`action` `path` on `location`: cause".
    fn shown(&self, path: &RelPath) -> String {
        if path.is_root() {
            self.location.clone()
        } else {
            let root = self.location.trim_end_matches('/');
            format!("{root}/{path}")
        }
    }

    fn err(&self, action: &'static str, path: &RelPath, source: io::Error) -> Error {
        let shown = self.shown(path);
        if source.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
            return Error::ThroughSymlink { path: shown };
        }
        if source.raw_os_error() == Some(Errno::XDEV.raw_os_error()) {
            return Error::LinkLeavesRoot { path: shown };
        }
        Error::Io {
            action,
            path: shown,
            source: explain(source),
        }
    }
}

/// The system's words for a destination that is full or closed to writing are terse ("File
/// too large"); this says what they mean for a sync, keeping the original words and kind.
fn explain(source: io::Error) -> io::Error {
    match hint(&source) {
        Some(hint) => io::Error::new(source.kind(), format!("{hint} ({source})")),
        None => source,
    }
}

/// True for the errors [`explain`] has words for.
pub(super) fn explains(source: &io::Error) -> bool {
    hint(source).is_some()
}

fn hint(source: &io::Error) -> Option<&'static str> {
    Some(match Errno::from_io_error(source)? {
        Errno::FBIG => "file too large for the destination (size limit)",
        Errno::NOSPC => "no space left on the destination's device",
        Errno::DQUOT => "disk quota exceeded at the destination",
        Errno::ROFS => "the destination is a read-only file system",
        _ => return None,
    })
}

/// Builds an `Entry` from `stat`; the symlink target is filled in by the caller.
pub(crate) fn entry_from_stat(path: RelPath, st: &Stat, kind: EntryKind) -> Entry {
    Entry {
        path,
        size: if kind == EntryKind::File {
            st.st_size as u64
        } else {
            0
        },
        kind,
        meta: Meta {
            mode: st.st_mode & 0o7777,
            mtime: Timestamp {
                secs: st.st_mtime,
                nanos: st.st_mtime_nsec as u32,
            },
            uid: st.st_uid,
            gid: st.st_gid,
        },
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
    }
}

/// The entry kind for a stat's file type (symlink targets are read separately).
pub(crate) fn kind_of(st: &Stat) -> EntryKind {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Dir,
        FileType::Symlink => EntryKind::Symlink { target: Vec::new() },
        FileType::Fifo => EntryKind::Special(SpecialKind::Fifo),
        FileType::Socket => EntryKind::Special(SpecialKind::Socket),
        FileType::CharacterDevice => EntryKind::Special(SpecialKind::CharDevice),
        _ => EntryKind::Special(SpecialKind::BlockDevice),
    }
}

impl Transport for Local {
    fn location(&self) -> &str {
        &self.inner.location
    }

    fn prefers_whole_file(&self) -> bool {
        true
    }

    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        self.blocking(move |inner| inner.scan(&options)).await?
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        let len = files.len();
        self.blocking_batch(len, move |inner| {
            files
                .into_iter()
                .map(|entry| inner.read_file(entry, &options))
                .collect()
        })
        .await
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        let len = files.len();
        self.blocking_batch(len, move |inner| {
            let mut parents = root::ParentCache::default();
            files
                .into_iter()
                .map(|file| inner.write_file(file, &options, &mut parents))
                .collect()
        })
        .await
    }

    async fn signature(&self, path: RelPath, basis: Basis) -> Result<Option<sy_delta::Signature>> {
        self.blocking(move |inner| inner.signature(&path, basis))
            .await?
    }

    async fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        let (file, opened) = self
            .blocking({
                let path = entry.path.clone();
                move |inner| inner.open_source(&path, options.follow_links)
            })
            .await??;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let inner = Arc::clone(&self.inner);
        let entry = opened.clone();
        tokio::task::spawn_blocking(move || {
            inner.diff_into(file, &entry, signature, &options.cancel, &tx);
        });
        Ok(DeltaSource {
            entry: opened,
            chunks: rx,
        })
    }

    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        self.blocking(move |inner| inner.apply_delta(&path, basis, delta, &options))
            .await?
    }

    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        let len = paths.len();
        self.blocking_batch(len, move |inner| {
            paths
                .iter()
                .map(|path| inner.checksum(path, follow_links))
                .collect()
        })
        .await
    }

    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        let len = ops.len();
        self.blocking_batch(len, move |inner| {
            ops.into_iter().map(|op| inner.apply(op, meta)).collect()
        })
        .await
    }
}
