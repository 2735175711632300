//! Walking a remote tree: directories listed several at a time (a listing carries every
//! entry's attributes, so there is no `lstat` per file), links read concurrently.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ignore::gitignore::Gitignore;
use russh_sftp::protocol::FileAttributes;
use sy_protocol::Escaped;
use tokio::task::JoinSet;

use super::read::fetch;
use super::{Inner, entry_from_attrs, is_not_found, kind_of};
use crate::dir_merge::MergedRules;
use crate::filter::{RULES_FILE_LIMIT, gitignore_from_text};
use crate::names::parse_leftover;
use crate::{Entry, EntryKind, Error, Filter, Leftover, RelPath, Result, Scan, ScanOptions};

/// Directories listed at the same time.
const DIRS_AT_ONCE: usize = 16;

/// What the listing tasks share.
struct Walk {
    inner: Arc<Inner>,
    filter: Filter,
    follow: bool,
    /// Real paths of directories entered through links with `-L`, to stop on link loops.
    seen: Mutex<HashSet<String>>,
}

/// One directory's worth of a scan, and the subdirectories still to list.
#[derive(Default)]
struct Listing {
    scan: Scan,
    subdirs: Vec<(RelPath, Vec<Arc<Gitignore>>, MergedRules)>,
}

pub(super) async fn scan(inner: &Arc<Inner>, options: ScanOptions) -> Result<Scan> {
    let mut scan = Scan::default();
    if inner.root.is_none() {
        return Ok(scan);
    }
    let base = options.base;
    let remote = inner.remote(&base)?;
    let found = if options.follow_links {
        inner.session.stat(remote.as_str()).await
    } else {
        inner.session.lstat(remote.as_str()).await
    };
    let attrs = match found {
        Ok(found) => found.attrs,
        Err(e) if is_not_found(&e) => return Ok(scan),
        Err(e) => return Err(inner.sftp_err("reading", &base, e)),
    };
    let walk = Arc::new(Walk {
        inner: Arc::clone(inner),
        filter: Filter::compile(&options.filter)?,
        follow: options.follow_links,
        seen: Mutex::new(HashSet::new()),
    });
    let remote_of_base = remote.clone();
    let entry = walk.entry(base.clone(), remote, &attrs).await?;
    if !base.is_root() && walk.filter.excludes(&base, entry.is_dir()) {
        return Ok(scan);
    }
    let is_dir = entry.is_dir();
    scan.entries.push(entry);
    if is_dir && walk.follow {
        let real = walk.real_path(remote_of_base).await;
        walk.first_visit(real);
    }
    if is_dir {
        walk.walk(base, &mut scan).await;
    }
    scan.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(scan)
}

impl Walk {
    /// Lists the tree under `top`, up to [`DIRS_AT_ONCE`] directories at a time.
    async fn walk(self: &Arc<Self>, top: RelPath, into: &mut Scan) {
        let mut pending = vec![(top, Vec::new(), MergedRules::default())];
        let mut running = JoinSet::new();
        loop {
            while running.len() < DIRS_AT_ONCE {
                let Some((dir, ignores, merged)) = pending.pop() else {
                    break;
                };
                let walk = Arc::clone(self);
                running.spawn(async move { walk.list(dir, ignores, merged).await });
            }
            match running.join_next().await {
                Some(Ok(listing)) => {
                    into.entries.extend(listing.scan.entries);
                    into.problems.extend(listing.scan.problems);
                    into.leftovers.extend(listing.scan.leftovers);
                    pending.extend(listing.subdirs);
                }
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Some(Err(_)) => into.problems.push(Error::Interrupted),
                None => break,
            }
        }
    }

    /// The entries of one directory (filtered), its leftovers and what could not be read.
    async fn list(
        self: Arc<Self>,
        dir: RelPath,
        mut ignores: Vec<Arc<Gitignore>>,
        merged: MergedRules,
    ) -> Listing {
        let inner = &self.inner;
        let mut listing = Listing::default();
        let files = match inner.remote(&dir) {
            Ok(remote) => inner
                .list(&remote)
                .await
                .map_err(|e| inner.sftp_err("reading directory", &dir, e)),
            Err(e) => Err(e),
        };
        let files = match files {
            Ok(files) => files,
            Err(e) => {
                listing.scan.problems.push(e);
                return listing;
            }
        };
        let mut found = Vec::with_capacity(files.len());
        for file in files {
            let name = file.filename;
            if name == "." || name == ".." {
                continue;
            }
            if name.contains('\u{fffd}') {
                // `russh-sftp` decoded a name that is not UTF-8 lossily: it names nothing.
                let shown = Escaped(name.as_bytes());
                listing.scan.problems.push(Error::InvalidPath {
                    path: if dir.is_root() {
                        shown.to_string()
                    } else {
                        format!("{dir}/{shown}")
                    },
                    reason: "not valid UTF-8, which SFTP names must be here",
                });
                continue;
            }
            // A hostile server could send `..` or `a/b`: `join` refuses those.
            let path = match dir.join(name.as_bytes()) {
                Ok(path) => path,
                Err(e) => {
                    listing.scan.problems.push(e.into());
                    continue;
                }
            };
            if let Some((kind, file)) = parse_leftover(name.as_bytes()) {
                listing.scan.leftovers.push(Leftover {
                    file: file.and_then(|f| dir.join(f).ok()),
                    path,
                    kind,
                });
                continue;
            }
            found.push((path, file.attrs));
        }
        // Matched as absolute paths beneath a virtual `/` standing for the root.
        let ignore_dir = Path::new("/").join(dir.as_path());
        if self.filter.uses_gitignore()
            && let Some((text, shown)) = self.rules_file_in(&found, ".gitignore").await
            && let Some(ignore) = gitignore_from_text(&ignore_dir, &text, &shown)
        {
            ignores.push(Arc::new(ignore));
        }
        let mut texts = Vec::new();
        for name in self.filter.merge_files() {
            let text = self.rules_file_in(&found, name).await.map(|(text, _)| text);
            texts.push((name.as_str(), text));
        }
        let shown_dir = Path::new(&self.inner.shown(&dir)).to_path_buf();
        let merged = merged.enter(&self.filter, &dir, &shown_dir, |name| {
            let (_, text) = texts.iter().find(|(n, _)| *n == name)?;
            text.clone()
        });
        // Links need one more request each (their target), and with `-L` a directory needs its
        // real path (to stop on loops): all of them at once; the rest are ready as listed.
        let mut kept = Vec::new();
        let mut pending = JoinSet::new();
        for (index, (path, attrs)) in found.into_iter().enumerate() {
            let kind = match kind_of(&attrs) {
                Some(kind) => kind,
                None => {
                    listing.scan.problems.push(unknown_kind(inner, &path));
                    continue;
                }
            };
            let needs_more = match kind {
                EntryKind::Symlink { .. } => true,
                EntryKind::Dir => self.follow,
                _ => false,
            };
            if !needs_more {
                kept.push((index, entry_from_attrs(path, &attrs, kind), None));
                continue;
            }
            let walk = Arc::clone(&self);
            pending.spawn(async move {
                let remote = walk.inner.remote(&path)?;
                let entry = walk.entry(path, remote.clone(), &attrs).await?;
                let real = if walk.follow && entry.is_dir() {
                    walk.real_path(remote).await
                } else {
                    None
                };
                Ok((index, entry, real))
            });
        }
        while let Some(done) = pending.join_next().await {
            match done {
                Ok(Ok(done)) => kept.push(done),
                Ok(Err(e)) => listing.scan.problems.push(e),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => listing.scan.problems.push(Error::Interrupted),
            }
        }
        kept.sort_unstable_by_key(|(index, _, _)| *index);
        for (_, entry, real) in kept {
            if !self.filter.keeps(&entry, &merged, &ignores, Path::new("/")) {
                continue;
            }
            if entry.is_dir() && self.first_visit(real) {
                listing
                    .subdirs
                    .push((entry.path.clone(), ignores.clone(), merged.clone()));
            }
            listing.scan.entries.push(entry);
        }
        listing
    }

    /// The entry for `path` from its listed (or `lstat`) attributes: with `-L` a link is
    /// reported as what it points to (a dangling one stays a link); a link's target is read.
    async fn entry(&self, path: RelPath, remote: String, attrs: &FileAttributes) -> Result<Entry> {
        let inner = &self.inner;
        let unknown = || unknown_kind(inner, &path);
        let mut kind = kind_of(attrs).ok_or_else(unknown)?;
        let mut attrs = attrs.clone();
        if self.follow && matches!(kind, EntryKind::Symlink { .. }) {
            match inner.session.stat(remote.as_str()).await {
                Ok(target) => {
                    attrs = target.attrs;
                    kind = kind_of(&attrs).ok_or_else(unknown)?;
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(inner.sftp_err("reading", &path, e)),
            }
        }
        if let EntryKind::Symlink { target } = &mut kind {
            let name = inner
                .session
                .readlink(remote)
                .await
                .map_err(|e| inner.sftp_err("reading link", &path, e))?;
            *target = name
                .files
                .into_iter()
                .next()
                .map(|f| f.filename.into_bytes())
                .unwrap_or_default();
        }
        Ok(entry_from_attrs(path, &attrs, kind))
    }

    /// What the server resolves `remote` to, links and all (`None` if it cannot).
    async fn real_path(&self, remote: String) -> Option<String> {
        let name = self.inner.session.realpath(remote).await.ok()?;
        name.files.into_iter().next().map(|f| f.filename)
    }

    /// True unless `-L` reached a directory already entered (a link loop), known by its real
    /// path (SFTP has no inode numbers); without `-L`, or without a real path, always true.
    fn first_visit(&self, real: Option<String>) -> bool {
        match (real, self.seen.lock()) {
            (Some(real), Ok(mut seen)) => seen.insert(real),
            _ => true,
        }
    }

    /// The text of the rules file `name` in the directory `found` lists, and the file as
    /// shown; `None` when there is none or (with a warning) it cannot be read.
    async fn rules_file_in(
        &self,
        found: &[(RelPath, FileAttributes)],
        name: &str,
    ) -> Option<(Vec<u8>, String)> {
        let (path, attrs) = found
            .iter()
            .find(|(p, a)| p.file_name() == Some(name.as_bytes()) && a.is_regular())?;
        let shown = self.inner.shown(path);
        let entry = entry_from_attrs(path.clone(), attrs, EntryKind::File);
        if entry.size > RULES_FILE_LIMIT {
            tracing::warn!("{shown}: too large to read rules from");
            return None;
        }
        match fetch(&self.inner, &entry).await {
            Ok((text, _)) => Some((text, shown)),
            Err(e) => {
                tracing::warn!("{}", crate::describe_error(&e));
                None
            }
        }
    }
}

fn unknown_kind(inner: &Inner, path: &RelPath) -> Error {
    inner.err(
        "reading",
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the server did not say what kind of file this is",
        ),
    )
}
