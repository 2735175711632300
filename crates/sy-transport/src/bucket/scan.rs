//! A scan is one paginated listing of the keys under the prefix: each object a file with its
//! size and `Last-Modified`, each "directory" implied by the keys beneath it. No request per
//! object.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use object_store::ObjectStoreExt;

use super::{Inner, mtime};
use crate::{Entry, EntryKind, Error, Filter, Meta, RelPath, Result, Scan, ScanOptions, Timestamp};

/// The bits a file copied from a bucket gets (objects carry none).
const FILE_MODE: u32 = 0o644;
/// The bits of an implied directory.
const DIR_MODE: u32 = 0o755;

/// Lists everything beneath `options.base`, with the filter rules applied (gitignore files are
/// not read from a bucket).
pub(super) async fn scan(inner: &Inner, options: ScanOptions) -> Result<Scan> {
    let filter = Filter::compile(&options.filter)?;
    let base = options.base;
    if !base.is_root() && (filter.excludes(&base, true) || filter.excludes(&base, false)) {
        return Ok(Scan::default());
    }
    let listed = inner.key(&base)?;
    let list_prefix = (!base.is_root() || !inner.root.is_root()).then_some(&listed);
    let mut objects = inner.store.list(list_prefix);
    let mut tree = Tree::default();
    let mut problems = Vec::new();
    let mut order = Ascending::default();
    while let Some(object) = objects.next().await {
        let object = object.map_err(|e| inner.error("listing", &listed, e))?;
        if !order.next(object.location.as_ref()) {
            return Err(Error::Store {
                action: "listing",
                location: inner.shown(&listed),
                reason: format!(
                    "the server listed {} again or out of order, so the listing might never \
                     end (S3 lists keys in ascending order, each once)",
                    inner.shown(&object.location)
                ),
            });
        }
        match relative(inner, object.location.as_ref()) {
            Some(path) if path.starts_with(&base) && path != base => {
                tree.add_file(&base, path, object.size, mtime::written(&object), &filter);
            }
            // A folder marker for the prefix itself (`p/`, as a console's "create folder"
            // writes it): the directory being listed.
            Some(path) if path == base && object.location.as_ref().ends_with('/') => {}
            _ => problems.push(Error::Store {
                action: "listing",
                location: inner.shown(&object.location),
                reason: "a key that is not a usable file name (skipped)".to_owned(),
            }),
        }
    }
    if tree.entries.is_empty() && !base.is_root() {
        // `base` may be a single object rather than a prefix.
        match inner.store.head(&listed).await {
            Ok(object) => {
                let entry = file_entry(base, object.size, mtime::written(&object));
                return Ok(Scan {
                    entries: vec![entry],
                    problems,
                    leftovers: Vec::new(),
                });
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(inner.error("reading", &listed, e)),
        }
    }
    if !tree.entries.is_empty() {
        let newest = tree.newest;
        tree.add_dir(base, newest);
    }
    let mut entries: Vec<Entry> = tree.entries.into_values().collect();
    inner.saw_dirs(
        entries
            .iter()
            .filter(|e| e.is_dir())
            .map(|e| e.path.clone()),
    );
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(Scan {
        entries,
        problems,
        leftovers: Vec::new(),
    })
}

/// The guard against a listing that goes round in circles: S3 lists keys in ascending order,
/// so a continuation token that does not advance (a faulty or hostile server) shows as a key at
/// or before the last one, and the scan stops there instead of looping or growing for ever.
#[derive(Debug, Default)]
struct Ascending {
    last: Option<String>,
}

impl Ascending {
    /// Takes the next key; false when it does not come after the last one.
    fn next(&mut self, key: &str) -> bool {
        if self.last.as_deref().is_some_and(|last| key <= last) {
            return false;
        }
        self.last = Some(key.to_owned());
        true
    }
}

/// `key` relative to the transport's prefix.
fn relative(inner: &Inner, key: &str) -> Option<RelPath> {
    RelPath::new(key).ok()?.strip_prefix(&inner.root)
}

/// The entries found so far, by path; directories get the newest time beneath them.
#[derive(Default)]
struct Tree {
    entries: BTreeMap<RelPath, Entry>,
    /// The newest object's time.
    newest: Timestamp,
}

impl Tree {
    fn add_file(
        &mut self,
        base: &RelPath,
        path: RelPath,
        size: u64,
        time: Timestamp,
        filter: &Filter,
    ) {
        let mut dirs = Vec::new();
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if !dir.starts_with(base) || dir == *base {
                break;
            }
            parent = dir.parent();
            dirs.push(dir);
        }
        if dirs.iter().any(|dir| filter.excludes(dir, true)) || filter.excludes(&path, false) {
            return;
        }
        for dir in dirs {
            self.add_dir(dir, time);
        }
        self.newest = self.newest.max(time);
        // A key that is also a prefix of others (a "directory marker" other tools write as
        // `dir/`) stands for the directory, which a tree cannot hold beside a file.
        if !self.entries.get(&path).is_some_and(Entry::is_dir) {
            self.entries
                .insert(path.clone(), file_entry(path, size, time));
        }
    }

    fn add_dir(&mut self, path: RelPath, time: Timestamp) {
        let entry = self
            .entries
            .entry(path.clone())
            .and_modify(|e| {
                if !e.is_dir() {
                    *e = entry(e.path.clone(), EntryKind::Dir, 0, DIR_MODE, e.meta.mtime);
                }
            })
            .or_insert_with(|| entry(path, EntryKind::Dir, 0, DIR_MODE, time));
        entry.meta.mtime = entry.meta.mtime.max(time);
    }
}

fn file_entry(path: RelPath, size: u64, time: Timestamp) -> Entry {
    entry(path, EntryKind::File, size, FILE_MODE, time)
}

fn entry(path: RelPath, kind: EntryKind, size: u64, mode: u32, mtime: Timestamp) -> Entry {
    Entry {
        path,
        kind,
        size,
        meta: Meta {
            mode,
            mtime,
            uid: 0,
            gid: 0,
        },
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }

    #[test]
    fn a_listing_that_repeats_or_goes_back_is_caught() {
        let mut order = Ascending::default();
        assert!(order.next("a"));
        assert!(order.next("a/b"));
        assert!(order.next("b"));
        // A page served again: its first key comes round once more.
        assert!(!order.next("a"));
        let mut order = Ascending::default();
        assert!(order.next("k"));
        assert!(!order.next("k"));
    }

    #[test]
    fn keys_imply_directories_and_a_marker_key_is_the_directory() {
        let mut tree = Tree::default();
        let keep = Filter::keep_all();
        let root = RelPath::root();
        tree.add_file(&root, p("d"), 0, t(1), &keep);
        tree.add_file(&root, p("d/e/f.txt"), 3, t(5), &keep);
        tree.add_file(&root, p("d/e"), 0, t(2), &keep);
        let kinds: Vec<(String, bool, i64)> = tree
            .entries
            .values()
            .map(|e| (e.path.to_string(), e.is_dir(), e.meta.mtime.secs))
            .collect();
        assert_eq!(
            kinds,
            [
                ("d".to_owned(), true, 5),
                ("d/e".to_owned(), true, 5),
                ("d/e/f.txt".to_owned(), false, 5)
            ]
        );
        assert_eq!(tree.newest, t(5));
    }
}
