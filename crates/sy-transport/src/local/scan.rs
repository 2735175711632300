//! Walking a local tree into sorted entries, filters applied on the way.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use ignore::gitignore::Gitignore;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, fstat, openat, readlinkat, statat};
use rustix::io::Errno;

use super::root::{Follow, open_beneath, parent_of};
use super::{Inner, entry_from_stat, kind_of};
use crate::dir_merge::MergedRules;
use crate::filter::{RULES_FILE_LIMIT, gitignore_from_text};
use crate::names::parse_leftover;
use crate::{Entry, EntryKind, Filter, Leftover, RelPath, Result, Scan, ScanOptions};

/// Directories waiting to be read, each with the `.gitignore` matchers and the rules of
/// per-directory merge files that apply in it (from the directories above).
type Pending = Vec<(RelPath, Vec<Arc<Gitignore>>, MergedRules)>;

/// Scanning threads per tree: directory reads are mostly waiting on the file system, so a few
/// threads help even on few cores; more mostly contend.
const MAX_SCAN_THREADS: usize = 4;

/// What the walking threads share (read-only, apart from the loop guard).
struct Walk<'a> {
    inner: &'a Inner,
    root: BorrowedFd<'a>,
    filter: Filter,
    follow: bool,
    /// Directories entered so far with `-L`, to stop on symlink loops.
    seen_dirs: Mutex<HashSet<(u64, u64)>>,
}

/// The queue the walking threads take directories from.
struct Queue {
    pending: Pending,
    /// Threads reading a directory right now (they may add more work).
    busy: usize,
}

impl Inner {
    pub(super) fn scan(&self, options: &ScanOptions) -> Result<Scan> {
        let mut scan = Scan::default();
        let Ok(root) = self.root() else {
            return Ok(scan);
        };
        let walk = Walk {
            inner: self,
            root,
            filter: Filter::compile(&options.filter)?,
            follow: options.follow_links,
            seen_dirs: Mutex::new(HashSet::new()),
        };
        let base = &options.base;
        let st = if base.is_root() {
            fstat(root).map_err(io::Error::from)
        } else {
            parent_of(root, base).and_then(|(dir, name)| Ok(walk.stat(dir.as_fd(), name, base)?))
        };
        let st = match st {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(scan),
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
            return Ok(scan);
        }
        let is_dir = entry.is_dir();
        scan.entries.push(entry);
        if is_dir {
            walk.walk_parallel(base.clone(), &mut scan);
        }
        scan.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(scan)
    }
}

impl Walk<'_> {
    /// The status of `name` in `dirfd` (which is `path`), through a link as far as this walk
    /// follows links: a link leading out of a root that confines them is `EXDEV`.
    fn stat(&self, dirfd: BorrowedFd<'_>, name: &[u8], path: &RelPath) -> rustix::io::Result<Stat> {
        match self.inner.follow(self.follow) {
            Follow::Never => statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW),
            Follow::Anywhere => statat(dirfd, name, AtFlags::empty()),
            Follow::Beneath => {
                let fd = open_beneath(
                    self.root,
                    path,
                    OFlags::PATH,
                    Mode::empty(),
                    Follow::Beneath,
                )
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
                fstat(&fd)
            }
        }
    }

    /// Reads the tree under `top` on a few threads taking directories from one queue; each
    /// thread collects into its own `Scan`, merged at the end (the caller sorts).
    fn walk_parallel(&self, top: RelPath, into: &mut Scan) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_SCAN_THREADS);
        let queue = Mutex::new(Queue {
            pending: vec![(top, Vec::new(), MergedRules::default())],
            busy: 0,
        });
        let wake = Condvar::new();
        let parts: Vec<Scan> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| self.worker(&queue, &wake)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for part in parts {
            into.entries.extend(part.entries);
            into.problems.extend(part.problems);
            into.leftovers.extend(part.leftovers);
        }
    }

    fn worker(&self, queue: &Mutex<Queue>, wake: &Condvar) -> Scan {
        let mut scan = Scan::default();
        loop {
            let next = {
                let Ok(mut q) = queue.lock() else { break };
                loop {
                    if let Some(dir) = q.pending.pop() {
                        q.busy += 1;
                        break Some(dir);
                    }
                    if q.busy == 0 {
                        break None;
                    }
                    q = match wake.wait(q) {
                        Ok(q) => q,
                        Err(_) => break None,
                    };
                }
            };
            let Some((dir, ignores, merged)) = next else {
                wake.notify_all();
                break;
            };
            let found = self.read_dir(&dir, ignores, &merged, &mut scan);
            let Ok(mut q) = queue.lock() else { break };
            q.busy -= 1;
            q.pending.extend(found);
            drop(q);
            wake.notify_all();
        }
        scan
    }

    /// Reads one directory into `scan`; returns its subdirectories to visit.
    fn read_dir(
        &self,
        dir_path: &RelPath,
        mut ignores: Vec<Arc<Gitignore>>,
        merged: &MergedRules,
        scan: &mut Scan,
    ) -> Pending {
        let mut subdirs = Vec::new();
        let fd = match open_beneath(
            self.root,
            dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
            self.inner.follow(self.follow),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                scan.problems
                    .push(self.inner.err("reading directory", dir_path, e));
                return subdirs;
            }
        };
        if self.follow
            && let Ok(st) = fstat(&fd)
            && let Ok(mut seen) = self.seen_dirs.lock()
            && !seen.insert((st.st_dev, st.st_ino))
        {
            return subdirs;
        }
        let shown_dir = self.inner.root_path.join(dir_path.as_path());
        if self.filter.uses_gitignore()
            && let Some(text) = read_rules_file(fd.as_fd(), &shown_dir, ".gitignore")
            && let Some(gi) = gitignore_from_text(
                &shown_dir,
                &text,
                &shown_dir.join(".gitignore").display().to_string(),
            )
        {
            ignores.push(Arc::new(gi));
        }
        let merged = merged.enter(&self.filter, dir_path, &shown_dir, |name| {
            read_rules_file(fd.as_fd(), &shown_dir, name)
        });
        let mut dir = match Dir::new(fd) {
            Ok(dir) => dir,
            Err(e) => {
                scan.problems
                    .push(self.inner.err("reading directory", dir_path, e.into()));
                return subdirs;
            }
        };
        while let Some(item) = dir.read() {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    scan.problems
                        .push(self.inner.err("reading directory", dir_path, e.into()));
                    break;
                }
            };
            let name = item.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let path = match dir_path.join(name) {
                Ok(path) => path,
                Err(e) => {
                    scan.problems.push(e.into());
                    continue;
                }
            };
            if let Some((kind, file)) = parse_leftover(name) {
                scan.leftovers.push(Leftover {
                    file: file.and_then(|f| dir_path.join(f).ok()),
                    path,
                    kind,
                });
                continue;
            }
            let Ok(dirfd) = dir.fd() else { continue };
            if let Some(entry) = self.entry(dirfd, name, path, scan)
                && self
                    .filter
                    .keeps(&entry, &merged, &ignores, &self.inner.root_path)
            {
                if entry.is_dir() {
                    subdirs.push((entry.path.clone(), ignores.clone(), merged.clone()));
                }
                scan.entries.push(entry);
            }
        }
        subdirs
    }

    fn entry(
        &self,
        dirfd: BorrowedFd<'_>,
        name: &[u8],
        path: RelPath,
        scan: &mut Scan,
    ) -> Option<Entry> {
        let st = match self.stat(dirfd, name, &path) {
            Ok(st) => st,
            // With -L a dangling link has nothing to follow: keep it as the link it is.
            Err(Errno::NOENT) if self.follow => {
                match statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(e) => {
                        scan.problems
                            .push(self.inner.err("reading", &path, e.into()));
                        return None;
                    }
                }
            }
            Err(Errno::NOENT) => return None,
            Err(e) => {
                scan.problems
                    .push(self.inner.err("reading", &path, e.into()));
                return None;
            }
        };
        let mut entry = entry_from_stat(path, &st, kind_of(&st));
        if let EntryKind::Symlink { target } = &mut entry.kind {
            match readlinkat(dirfd, name, Vec::new()) {
                Ok(t) => *target = t.into_bytes(),
                Err(e) => {
                    scan.problems
                        .push(self.inner.err("reading link", &entry.path, e.into()));
                    return None;
                }
            }
        }
        Some(entry)
    }
}

/// The text of the rules file `name` in `dir_fd` (shown as `dir`), read without following a
/// symbolic link (as git does), so the rules always come from a file inside the tree; `None`
/// when there is none, or (with a warning) when it cannot be read or is too large.
fn read_rules_file(dir_fd: BorrowedFd<'_>, dir: &Path, name: &str) -> Option<Vec<u8>> {
    let shown = dir.join(name).display().to_string();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match openat(dir_fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return None,
        Err(Errno::LOOP) => {
            tracing::warn!("{shown}: a symbolic link, not followed to read rules from");
            return None;
        }
        Err(e) => {
            tracing::warn!("{shown}: {}", io::Error::from(e));
            return None;
        }
    };
    match fstat(&fd) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
            tracing::warn!("{shown}: not a regular file, no rules read from it");
            return None;
        }
        Ok(st) if st.st_size.unsigned_abs() > RULES_FILE_LIMIT => {
            tracing::warn!("{shown}: too large to read rules from");
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!("{shown}: {}", io::Error::from(e));
            return None;
        }
    }
    let mut text = Vec::new();
    if let Err(e) = File::from(fd).take(RULES_FILE_LIMIT).read_to_end(&mut text) {
        tracing::warn!("{shown}: {e}");
        return None;
    }
    Some(text)
}
