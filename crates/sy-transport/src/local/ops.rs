//! Tree operations that move no content: directories, links, attributes, removal, tidying.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Uid, chmodat, chownat, linkat, mkdirat, openat,
    renameat, statat, symlinkat, unlinkat, utimensat,
};
use rustix::io::Errno;

use super::Inner;
use super::attrs::{set_file_meta, timestamps};
use super::root::{DirFd, Follow, open_beneath, parent_of};
use super::staged::Temp;
use crate::names::{partial_name, temp_name};
use crate::{Leftover, LeftoverKind, Meta, MetaOptions, MetaTarget, RelPath, Result, TreeOp};

/// The mode of a directory from its creation until its own is set: owner-only.
const NEW_DIR_MODE: u32 = 0o700;

impl Inner {
    pub(super) fn apply(&self, op: TreeOp, options: MetaOptions) -> Result<()> {
        match op {
            TreeOp::Mkdir { path } => self
                .mkdir(&path)
                .map_err(|e| self.err("creating directory", &path, e)),
            TreeOp::Symlink { path, target, meta } => self
                .symlink(&path, &target, &meta, options)
                .map_err(|e| self.err("creating symbolic link", &path, e)),
            TreeOp::HardLink { path, target } => self
                .hard_link(&path, &target)
                .map_err(|e| self.err("creating hard link", &path, e)),
            TreeOp::SetMeta { path, target, meta } => self
                .set_meta(&path, target, &meta, options)
                .map_err(|e| self.err("setting attributes of", &path, e)),
            TreeOp::MakeWritable { path } => self
                .make_writable(&path)
                .map_err(|e| self.err("making writable", &path, e)),
            TreeOp::Remove { path } => self
                .remove(&path)
                .map_err(|e| self.err("removing", &path, e)),
            TreeOp::DropPartial { file } => self
                .drop_partial(&file)
                .map_err(|e| self.err("removing the partial of", &file, e)),
            TreeOp::Tidy(leftover) => self
                .tidy(&leftover)
                .map_err(|e| self.err("tidying", &leftover.path, e)),
        }
    }

    /// A new directory is owner-only until the run's last step gives it its mode, so a
    /// run stopped in between never leaves it more open than its source.
    fn mkdir(&self, path: &RelPath) -> io::Result<()> {
        let root = self.root()?;
        if path.is_root() {
            return Ok(());
        }
        let (dir, name) = parent_of(root, path)?;
        match mkdirat(&dir, name, Mode::from_raw_mode(NEW_DIR_MODE)) {
            Err(Errno::EXIST) => {
                let st = statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    Ok(())
                } else {
                    Err(Errno::EXIST.into())
                }
            }
            other => Ok(other?),
        }
    }

    fn symlink(
        &self,
        path: &RelPath,
        target: &[u8],
        meta: &Meta,
        options: MetaOptions,
    ) -> io::Result<()> {
        let root = self.root()?;
        let (dir, name) = parent_of(root, path)?;
        let tmp = temp_name(name);
        symlinkat(target, &dir, tmp.as_slice())?;
        let tmp = Temp::adopt(dir.as_fd(), name, tmp);
        set_link_meta(&dir, tmp.name(), meta, options)?;
        tmp.rename_into_place()
    }

    fn hard_link(&self, path: &RelPath, target: &RelPath) -> io::Result<()> {
        let root = self.root()?;
        let (tdir, tname) = parent_of(root, target)?;
        let (dir, name) = parent_of(root, path)?;
        let existing = statat(&tdir, tname, AtFlags::SYMLINK_NOFOLLOW)?;
        if let Ok(current) = statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            // rename() between two names of one inode does nothing and would leave the temp.
            if current.st_ino == existing.st_ino && current.st_dev == existing.st_dev {
                return Ok(());
            }
        }
        let tmp = temp_name(name);
        linkat(&tdir, tname, &dir, tmp.as_slice(), AtFlags::empty())?;
        Temp::adopt(dir.as_fd(), name, tmp).rename_into_place()
    }

    fn set_meta(
        &self,
        path: &RelPath,
        target: MetaTarget,
        meta: &Meta,
        options: MetaOptions,
    ) -> io::Result<()> {
        let root = self.root()?;
        if target == MetaTarget::Symlink {
            let (dir, name) = parent_of(root, path)?;
            return set_link_meta(&dir, name, meta, options);
        }
        let expected = if target == MetaTarget::Dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        };
        let check = |st: &rustix::fs::Stat| {
            if FileType::from_raw_mode(st.st_mode) == expected {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "changed kind during the run",
                ))
            }
        };
        // Opened without following a link, the object itself takes the attributes.
        match open_beneath(
            root,
            path,
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
            Follow::Never,
        ) {
            Ok(fd) => {
                check(&rustix::fs::fstat(&fd)?)?;
                set_file_meta(&std::fs::File::from(fd), meta, options)
            }
            // Unreadable to us (mode 000, not root): pin it with O_PATH and set the attributes
            // through /proc/self/fd, which a symlink swapped in meanwhile cannot redirect.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let fd = open_beneath(root, path, OFlags::PATH, Mode::empty(), Follow::Never)?;
                check(&rustix::fs::fstat(&fd)?)?;
                set_meta_by_proc(&fd, meta, options)
            }
            Err(e) => Err(e),
        }
    }

    fn make_writable(&self, path: &RelPath) -> io::Result<()> {
        let root = self.root()?;
        let fd = open_beneath(
            root,
            path,
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
            Follow::Never,
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if st.st_mode & 0o700 == 0o700 {
            return Ok(());
        }
        let mode = Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700);
        match open_beneath(
            root,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
            Follow::Never,
        ) {
            Ok(dir) => Ok(rustix::fs::fchmod(&dir, mode)?),
            Err(_) => Ok(chmodat(
                rustix::fs::CWD,
                proc_path(&fd).as_str(),
                mode,
                AtFlags::empty(),
            )?),
        }
    }

    fn remove(&self, path: &RelPath) -> io::Result<()> {
        let root = self.root()?;
        let (dir, name) = parent_of(root, path)?;
        remove_at(&dir, name)
    }

    fn drop_partial(&self, file: &RelPath) -> io::Result<()> {
        let root = self.root()?;
        let (dir, name) = parent_of(root, file)?;
        let Some(partial) = partial_name(name) else {
            return Ok(());
        };
        match unlinkat(&dir, partial.as_slice(), AtFlags::empty()) {
            Err(Errno::NOENT) => Ok(()),
            other => Ok(other?),
        }
    }

    fn tidy(&self, leftover: &Leftover) -> io::Result<()> {
        let root = self.root()?;
        let (dir, name) = parent_of(root, &leftover.path)?;
        if leftover.kind == LeftoverKind::Temp
            && let Some(partial) = leftover
                .file
                .as_ref()
                .and_then(|f| f.file_name())
                .and_then(partial_name)
        {
            let temp_len = statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?.st_size;
            let partial_len = match statat(&dir, partial.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st.st_size),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(e.into()),
            };
            if temp_len > 0 && partial_len.is_none_or(|p| p < temp_len) {
                return Ok(renameat(&dir, name, &dir, partial.as_slice())?);
            }
        }
        match unlinkat(&dir, name, AtFlags::empty()) {
            Err(Errno::NOENT) => Ok(()),
            other => Ok(other?),
        }
    }
}

fn set_link_meta(
    dir: &DirFd<'_>,
    name: &[u8],
    meta: &Meta,
    options: MetaOptions,
) -> io::Result<()> {
    if options.owner {
        chownat(
            dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
    }
    if options.times {
        utimensat(dir, name, &timestamps(meta), AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// `/proc/self/fd/N`: the object an `O_PATH` descriptor pins, for calls that need a path.
fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd))
}

fn set_meta_by_proc(fd: &OwnedFd, meta: &Meta, options: MetaOptions) -> io::Result<()> {
    let proc_path = proc_path(fd);
    if options.owner {
        chownat(
            rustix::fs::CWD,
            proc_path.as_str(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::empty(),
        )?;
    }
    chmodat(
        rustix::fs::CWD,
        proc_path.as_str(),
        Mode::from_raw_mode(meta.mode),
        AtFlags::empty(),
    )?;
    if options.times {
        utimensat(
            rustix::fs::CWD,
            proc_path.as_str(),
            &timestamps(meta),
            AtFlags::empty(),
        )?;
    }
    Ok(())
}

/// Removes `name` in `dir`; a directory with everything in it, never following a link.
///
/// Iterative, so no depth of tree exhausts the stack, and it holds two descriptors at any
/// depth: it climbs back out through `..`, checked to be the directory it came from.
fn remove_at(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    let Some((mut current, top)) = enter(dir, name.to_vec())? else {
        return Ok(());
    };
    // The directories from `name` down to `current`, each still being emptied.
    let mut levels = vec![top];
    while let Some(mut level) = levels.pop() {
        if let Some(child) = level.subdirs.pop() {
            levels.push(level);
            if let Some((fd, entered)) = enter(&current, child)? {
                current = fd;
                levels.push(entered);
            }
            continue;
        }
        // `level` is empty: climb to its parent and remove it there.
        match levels.last() {
            Some(parent) => {
                current = leave(&current, parent)?;
                remove_dir(&current, &level.name)?;
            }
            None => remove_dir(dir, &level.name)?,
        }
    }
    Ok(())
}

/// A directory being emptied by [`remove_at`].
struct Level {
    name: Vec<u8>,
    /// Device and inode, to recognise it when climbing back through `..`.
    id: (u64, u64),
    /// Its subdirectories not yet removed (its other entries are already gone).
    subdirs: Vec<Vec<u8>>,
}

/// Opens the directory `name` in `parent`, makes it writable, removes all but its
/// subdirectories, and returns it with them. Something else there is just removed.
fn enter(parent: &impl AsFd, name: Vec<u8>) -> io::Result<Option<(OwnedFd, Level)>> {
    let st = match statat(parent, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        unlink_if_there(parent, &name)?;
        return Ok(None);
    }
    let fd = openat(
        parent,
        name.as_slice(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    // A read-only directory must become writable before its entries can go.
    if st.st_mode & 0o300 != 0o300 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700))?;
    }
    let mut names = Vec::new();
    let mut entries = Dir::read_from(&fd)?;
    while let Some(item) = entries.read() {
        let item = item?;
        let child = item.file_name().to_bytes();
        if child != b"." && child != b".." {
            names.push(child.to_vec());
        }
    }
    let mut subdirs = Vec::new();
    for child in names {
        match statat(&fd, child.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                subdirs.push(child);
            }
            Ok(_) => unlink_if_there(&fd, &child)?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let level = Level {
        name,
        id: (st.st_dev, st.st_ino),
        subdirs,
    };
    Ok(Some((fd, level)))
}

/// The parent of `dir` through `..`, refused unless it is `parent`: a directory moved
/// elsewhere meanwhile must not lead the removal out of the tree.
fn leave(dir: &OwnedFd, parent: &Level) -> io::Result<OwnedFd> {
    let up = openat(
        dir,
        "..",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&up)?;
    if (st.st_dev, st.st_ino) == parent.id {
        Ok(up)
    } else {
        Err(io::Error::other(
            "a directory was moved elsewhere while it was being removed",
        ))
    }
}

fn unlink_if_there(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Err(Errno::NOENT) => Ok(()),
        other => Ok(other?),
    }
}

fn remove_dir(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Err(Errno::NOENT) => Ok(()),
        other => Ok(other?),
    }
}
