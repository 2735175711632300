//! The check that keeps every change beneath the root: no directory on the way to a path may
//! be a symbolic link.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};

use super::{Inner, bounded, kind_of};
use crate::{EntryKind, Error, RelPath, Result};

/// Directories beneath the root already found to be real directories (not links) during one
/// batch, so a batch checks each directory once.
#[derive(Default)]
pub(super) struct Parents(Mutex<HashSet<RelPath>>);

impl Parents {
    fn contains(&self, dir: &RelPath) -> bool {
        self.0.lock().is_ok_and(|known| known.contains(dir))
    }

    fn insert(&self, dir: RelPath) {
        if let Ok(mut known) = self.0.lock() {
            known.insert(dir);
        }
    }

    /// Forgets `path` and everything beneath it (it was removed or replaced).
    pub(super) fn forget(&self, path: &RelPath) {
        if let Ok(mut known) = self.0.lock() {
            known.retain(|dir| !dir.starts_with(path));
        }
    }
}

impl Inner {
    /// Checks that every directory between the root and `path` is a directory and not a
    /// symbolic link (all of them at once: one round trip). The server resolves paths itself,
    /// following links, so this is what keeps writes beneath the root; see the module
    /// documentation for the race it cannot close.
    pub(super) async fn check_parents(
        self: &Arc<Self>,
        path: &RelPath,
        known: &Parents,
    ) -> Result<()> {
        let mut unchecked = Vec::new();
        let mut dir = path.parent();
        while let Some(current) = dir {
            if current.is_root() || known.contains(&current) {
                break;
            }
            dir = current.parent();
            unchecked.push(current);
        }
        if unchecked.is_empty() {
            return Ok(());
        }
        let found = bounded(unchecked.clone(), unchecked.len(), |dir| {
            let inner = Arc::clone(self);
            async move {
                let remote = inner.remote(&dir)?;
                inner
                    .session
                    .lstat(remote)
                    .await
                    .map(|attrs| attrs.attrs)
                    .map_err(|e| inner.sftp_err("opening directory", &dir, e))
            }
        })
        .await;
        for (dir, attrs) in unchecked.into_iter().zip(found) {
            match kind_of(&attrs?) {
                Some(EntryKind::Dir) => known.insert(dir),
                Some(EntryKind::Symlink { .. }) => {
                    return Err(Error::ThroughSymlink {
                        path: self.shown(path),
                    });
                }
                _ => {
                    return Err(self.err(
                        "opening directory",
                        &dir,
                        io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                    ));
                }
            }
        }
        Ok(())
    }
}
