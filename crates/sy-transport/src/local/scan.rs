//! Walking a local tree into sorted entries, filters applied on the way.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustix::fs::{AtFlags, Dir, Mode, OFlags, readlinkat, statat};
use rustix::io::Errno;

use super::names::parse_leftover;
use super::root::{open_beneath, parent_of};
use super::{Inner, entry_from_stat, kind_of};
use crate::{Entry, EntryKind, Filter, Leftover, RelPath, Result, RuleKind, Scan, ScanOptions};

struct Walk<'a> {
    inner: &'a Inner,
    filter: Filter,
    follow: bool,
    scan: Scan,
    /// Directories entered so far with `-L`, to stop on symlink loops.
    seen_dirs: HashSet<(u64, u64)>,
}

impl Inner {
    pub(super) fn scan(&self, options: &ScanOptions) -> Result<Scan> {
        let mut walk = Walk {
            inner: self,
            filter: options.filter.compile()?,
            follow: options.follow_links,
            scan: Scan::default(),
            seen_dirs: HashSet::new(),
        };
        let Ok(root) = self.root() else {
            return Ok(walk.scan);
        };
        let base = &options.base;
        let stat_flags = walk.stat_flags();
        let st = if base.is_root() {
            rustix::fs::fstat(root).map_err(io::Error::from)
        } else {
            parent_of(root, base).and_then(|(dir, name)| Ok(statat(&dir, name, stat_flags)?))
        };
        let st = match st {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(walk.scan),
            Err(e) => return Err(self.err("reading", base, e)),
        };
        let mut entry = entry_from_stat(base.clone(), &st, kind_of(&st));
        if let EntryKind::Symlink { target } = &mut entry.kind {
            let (dir, name) = parent_of(root, base).map_err(|e| self.err("reading", base, e))?;
            *target = readlinkat(&dir, name, Vec::new())
                .map_err(|e| self.err("reading link", base, e.into()))?
                .into_bytes();
        }
        if !base.is_root() && walk.filter.excludes(base, entry.is_dir()) {
            return Ok(walk.scan);
        }
        let is_dir = entry.is_dir();
        walk.scan.entries.push(entry);
        if is_dir {
            walk.walk(root, base.clone());
        }
        let mut scan = walk.scan;
        scan.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(scan)
    }
}

impl Walk<'_> {
    fn stat_flags(&self) -> AtFlags {
        if self.follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        }
    }

    /// Depth-first over directories; one open directory at a time.
    fn walk(&mut self, root: std::os::fd::BorrowedFd<'_>, top: RelPath) {
        let mut stack: Vec<(RelPath, Vec<Arc<Gitignore>>)> = vec![(top, Vec::new())];
        while let Some((dir_path, mut ignores)) = stack.pop() {
            let fd = match open_beneath(
                root,
                &dir_path,
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
                self.follow,
            ) {
                Ok(fd) => fd,
                Err(e) => {
                    self.scan
                        .problems
                        .push(self.inner.err("reading directory", &dir_path, e));
                    continue;
                }
            };
            if self.follow
                && let Ok(st) = rustix::fs::fstat(&fd)
                && !self.seen_dirs.insert((st.st_dev, st.st_ino))
            {
                continue;
            }
            if self.filter.uses_gitignore()
                && let Some(gi) = self.gitignore_in(&dir_path)
            {
                ignores.push(Arc::new(gi));
            }
            let mut dir = match Dir::new(fd) {
                Ok(dir) => dir,
                Err(e) => {
                    self.scan.problems.push(self.inner.err(
                        "reading directory",
                        &dir_path,
                        e.into(),
                    ));
                    continue;
                }
            };
            let mut subdirs = Vec::new();
            while let Some(item) = dir.read() {
                let item = match item {
                    Ok(item) => item,
                    Err(e) => {
                        self.scan.problems.push(self.inner.err(
                            "reading directory",
                            &dir_path,
                            e.into(),
                        ));
                        break;
                    }
                };
                let name = item.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let path = dir_path.join_checked(name);
                if let Some((kind, file)) = parse_leftover(name) {
                    self.scan.leftovers.push(Leftover {
                        file: file.map(|f| dir_path.join_checked(f)),
                        path,
                        kind,
                    });
                    continue;
                }
                let Ok(dirfd) = dir.fd() else { continue };
                if let Some(entry) = self.entry(dirfd, name, path)
                    && self.keep(&entry, &ignores)
                {
                    if entry.is_dir() {
                        subdirs.push(entry.path.clone());
                    }
                    self.scan.entries.push(entry);
                }
            }
            // Reverse so the stack pops them in name order (keeps output stable, not required).
            stack.extend(subdirs.into_iter().rev().map(|d| (d, ignores.clone())));
        }
    }

    fn entry(
        &mut self,
        dirfd: std::os::fd::BorrowedFd<'_>,
        name: &[u8],
        path: RelPath,
    ) -> Option<Entry> {
        let st = match statat(dirfd, name, self.stat_flags()) {
            Ok(st) => st,
            // With -L a dangling link has nothing to follow: keep it as the link it is.
            Err(Errno::NOENT) if self.follow => {
                match statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(e) => {
                        self.scan
                            .problems
                            .push(self.inner.err("reading", &path, e.into()));
                        return None;
                    }
                }
            }
            Err(Errno::NOENT) => return None,
            Err(e) => {
                self.scan
                    .problems
                    .push(self.inner.err("reading", &path, e.into()));
                return None;
            }
        };
        let mut entry = entry_from_stat(path, &st, kind_of(&st));
        if let EntryKind::Symlink { target } = &mut entry.kind {
            match readlinkat(dirfd, name, Vec::new()) {
                Ok(t) => *target = t.into_bytes(),
                Err(e) => {
                    self.scan
                        .problems
                        .push(self.inner.err("reading link", &entry.path, e.into()));
                    return None;
                }
            }
        }
        Some(entry)
    }

    fn keep(&self, entry: &Entry, ignores: &[Arc<Gitignore>]) -> bool {
        let is_dir = entry.is_dir();
        match self.filter.decide(&entry.path, is_dir) {
            Some(RuleKind::Include) => return true,
            Some(RuleKind::Exclude) => return false,
            None => {}
        }
        if ignores.is_empty() {
            return true;
        }
        let full = self.inner.root_path.join(entry.path.as_path());
        for gi in ignores.iter().rev() {
            match gi.matched(&full, is_dir) {
                Match::Ignore(_) => return false,
                Match::Whitelist(_) => return true,
                Match::None => {}
            }
        }
        true
    }

    fn gitignore_in(&self, dir: &RelPath) -> Option<Gitignore> {
        let dir_path = self.inner.root_path.join(dir.as_path());
        let file = dir_path.join(".gitignore");
        if !file.is_file() {
            return None;
        }
        let mut builder = GitignoreBuilder::new(&dir_path);
        if let Some(e) = builder.add(&file) {
            tracing::warn!("{}: {e}", file.display());
        }
        builder.build().ok()
    }
}
