//! Writing beside a target and renaming into place. Every local write — a file's content, a
//! symbolic link, a hard link — first makes a temporary `.NAME.sy-tmp.XXXX` in NAME's directory
//! and then renames it over NAME, so NAME is always its old version or its new one, never a
//! mix. A temporary that is not renamed is removed; an interrupted content write may instead
//! keep its prefix as NAME's partial, the delta basis of the next run.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Mode, OFlags, ftruncate, openat, renameat, statat, unlinkat};
use rustix::io::Errno;
use sy_protocol::Escaped;

use super::attrs::set_file_meta;
use crate::names::{partial_name, temp_name};
use crate::{Meta, MetaOptions};

/// A temporary beside `target`, removed when dropped unless it was renamed into place (or
/// kept as the partial).
pub(super) struct Temp<'a> {
    dir: BorrowedFd<'a>,
    target: &'a [u8],
    name: Vec<u8>,
    armed: bool,
}

impl<'a> Temp<'a> {
    /// Takes charge of `name`, just created in `dir` as the next version of `target`.
    pub(super) fn adopt(dir: BorrowedFd<'a>, target: &'a [u8], name: Vec<u8>) -> Self {
        Temp {
            dir,
            target,
            name,
            armed: true,
        }
    }

    /// The temporary's own name in its directory.
    pub(super) fn name(&self) -> &[u8] {
        &self.name
    }

    /// Renames the temporary over its target.
    pub(super) fn rename_into_place(mut self) -> io::Result<()> {
        renameat(self.dir, self.name.as_slice(), self.dir, self.target)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = unlinkat(self.dir, self.name.as_slice(), AtFlags::empty());
        }
    }
}

/// The step of [`Staged::commit`] that failed, and why.
pub(super) struct CommitError {
    /// What was being done, for the message ("renaming into place").
    pub(super) action: &'static str,
    /// The cause.
    pub(super) source: io::Error,
}

/// A file's new content on its way in: written into `file`, then committed.
pub(super) struct Staged<'a> {
    /// The temporary, open for writing.
    pub(super) file: File,
    temp: Temp<'a>,
}

impl<'a> Staged<'a> {
    /// Creates `.TARGET.sy-tmp.XXXX` in `dir` exclusively (never through a symlink), retrying
    /// on a clash.
    pub(super) fn create(dir: BorrowedFd<'a>, target: &'a [u8]) -> io::Result<Self> {
        let mut attempts = 0;
        loop {
            let name = temp_name(target);
            match openat(
                dir,
                name.as_slice(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    return Ok(Staged {
                        file: File::from(fd),
                        temp: Temp::adopt(dir, target, name),
                    });
                }
                Err(Errno::EXIST) if attempts < 8 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// After an interrupt, keeps the first `valid` bytes as the target's partial unless an
    /// existing partial is larger; otherwise the temporary goes.
    pub(super) fn keep_partial(self, valid: u64) {
        let Staged { file, mut temp } = self;
        let Some(partial) = partial_name(temp.target) else {
            return;
        };
        if let Ok(st) = statat(temp.dir, partial.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            && st.st_size as u64 >= valid
        {
            return;
        }
        if ftruncate(&file, valid).is_ok()
            && renameat(temp.dir, temp.name.as_slice(), temp.dir, partial.as_slice()).is_ok()
        {
            temp.armed = false;
        }
    }

    /// Applies `meta`, renames the file over its target and, with `drop_partial`, removes the
    /// target's kept partial (the new version makes it useless).
    pub(super) fn commit(
        self,
        meta: &Meta,
        options: MetaOptions,
        drop_partial: bool,
    ) -> Result<(), CommitError> {
        let Staged { file, temp } = self;
        set_file_meta(&file, meta, options).map_err(|source| CommitError {
            action: "setting attributes of",
            source,
        })?;
        drop(file);
        let (dir, target) = (temp.dir, temp.target);
        temp.rename_into_place().map_err(|source| CommitError {
            action: "renaming into place",
            source,
        })?;
        if drop_partial && let Some(partial) = partial_name(target) {
            match unlinkat(dir, partial.as_slice(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => tracing::warn!("removing the partial of {}: {e}", Escaped(target)),
            }
        }
        Ok(())
    }
}
