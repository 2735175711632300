//! Resolving paths beneath the root without following symbolic links.
//!
//! Every path is opened relative to the root's directory descriptor with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so neither `..` nor a symlink planted in the tree can
//! lead a write elsewhere (the rsync CVE-2024-12087/12088 class). On kernels without `openat2`
//! the same rule is applied one component at a time with `O_NOFOLLOW`.
//!
//! Reads that follow links (`-L`) either follow them anywhere (a local source, as the user
//! named it) or, for a root served to a peer, only while they stay beneath the root:
//! `RESOLVE_BENEATH` alone, which refuses a link to an absolute path or one climbing out with
//! `..` (`EXDEV`). Without `openat2` such a root follows no links at all.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags, openat, openat2};
use rustix::io::Errno;

use crate::RelPath;

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A directory descriptor: the root itself (borrowed) or one opened beneath it.
pub(crate) enum DirFd<'a> {
    Root(BorrowedFd<'a>),
    Sub(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Root(fd) => *fd,
            DirFd::Sub(fd) => fd.as_fd(),
        }
    }
}

/// Which symbolic links a lookup follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    /// None: any link on the way is an `ELOOP` error (every write, and reads without `-L`).
    Never,
    /// Only while the path stays beneath the root; a link leading out is an `EXDEV` error
    /// (reads with `-L` from a root served to a peer).
    Beneath,
    /// Wherever they lead (reads with `-L` from a local source).
    Anywhere,
}

/// Opens `path` beneath `root`, following symbolic links as `follow` says.
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    path: &RelPath,
    flags: OFlags,
    mode: Mode,
    follow: Follow,
) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    if path.is_root() {
        return Ok(openat(root, c".", flags, mode)?);
    }
    if follow == Follow::Anywhere {
        return Ok(openat(root, path.as_path(), flags, mode)?);
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let (flags, resolve) = if follow == Follow::Beneath {
            (flags, ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS)
        } else {
            (
                flags | OFlags::NOFOLLOW,
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )
        };
        match openat2(root, path.as_path(), flags, mode, resolve) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // openat2 asks callers to retry on EAGAIN (a rename raced the lookup).
            Err(Errno::AGAIN) => return open_by_components(root, path, flags, mode),
            other => return Ok(other?),
        }
    }
    open_by_components(root, path, flags, mode)
}

fn open_by_components(
    root: BorrowedFd<'_>,
    path: &RelPath,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    let mut components = path.components().peekable();
    let mut dir: Option<OwnedFd> = None;
    while let Some(name) = components.next() {
        let at = dir.as_ref().map_or(root, AsFd::as_fd);
        if components.peek().is_none() {
            return Ok(openat(at, name, flags | OFlags::NOFOLLOW, mode)?);
        }
        let next = openat(
            at,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        dir = Some(next);
    }
    Ok(openat(root, c".", flags, mode)?)
}

/// The last parent directory opened, reused while consecutive paths share it (a batch of
/// small files is usually one directory's worth).
#[derive(Default)]
pub(crate) struct ParentCache {
    dir: Option<(RelPath, OwnedFd)>,
}

impl ParentCache {
    /// Like [`parent_of`], reusing the previous directory when it is the same.
    pub(crate) fn parent_of<'a, 'p>(
        &'a mut self,
        root: BorrowedFd<'a>,
        path: &'p RelPath,
    ) -> io::Result<(DirFd<'a>, &'p [u8])> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return parent_of(root, path);
        };
        if parent.is_root() {
            return Ok((DirFd::Root(root), name));
        }
        let cached = self.dir.as_ref().is_some_and(|(p, _)| *p == parent);
        if !cached {
            let fd = open_dir_beneath(root, &parent)?;
            self.dir = Some((parent, fd));
        }
        match &self.dir {
            Some((_, fd)) => Ok((DirFd::Root(fd.as_fd()), name)),
            None => parent_of(root, path),
        }
    }
}

/// The directory holding `path` and `path`'s last component. The root has no parent here.
pub(crate) fn parent_of<'a, 'p>(
    root: BorrowedFd<'a>,
    path: &'p RelPath,
) -> io::Result<(DirFd<'a>, &'p [u8])> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the transfer root has no parent here",
        ));
    };
    if parent.is_root() {
        return Ok((DirFd::Root(root), name));
    }
    Ok((DirFd::Sub(open_dir_beneath(root, &parent)?), name))
}

/// Opens the directory `path` beneath `root` (as `O_PATH`). A symbolic link in its place is
/// reported as such (`ELOOP`), not as "not a directory".
fn open_dir_beneath(root: BorrowedFd<'_>, path: &RelPath) -> io::Result<OwnedFd> {
    match open_beneath(
        root,
        path,
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
        Follow::Never,
    ) {
        Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
            let fd = open_beneath(root, path, OFlags::PATH, Mode::empty(), Follow::Never)?;
            let st = rustix::fs::fstat(&fd)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
                Err(Errno::LOOP.into())
            } else {
                Err(e)
            }
        }
        other => other,
    }
}
