//! Comparing with a side whose scan reports when it wrote each file rather than the time
//! carried from the source (an object store's `Last-Modified`:
//! [`Transport::reports_write_times`](sy_transport::Transport::reports_write_times)), and
//! keeping from such a destination what it cannot hold.
//!
//! A listing has the size and the write time of each object, not the source time recorded
//! with it, so reading that would cost a request per object. Instead, a file and an object of
//! the same size are taken as copies when the file last changed no later (to the second) than
//! the object was written: sending, the object was written after the file's last change;
//! fetching, the copy got the time recorded with the object, which is earlier than its write.
//!
//! Such a pair is made to look equal to the plan (the store's entry takes the other side's
//! attributes), so it is left alone; any other pair compares as usual and is copied. The rules
//! are in docs/object-storage.md with what they trust.

use std::collections::{HashMap, HashSet};

use sy_transport::{Entry, EntryKind, RelPath};

/// Makes each pair that the rule above finds unchanged look equal: `store` is the store's
/// side (source or destination), `other` the file-system side. With `any_time`, every pair of
/// files of the same size does: the comparison does not look at times (`-c`, `--size-only`),
/// and a store cannot take the other side's time without writing the object again, so the
/// plan would otherwise ask for that on every run.
pub(super) fn align(store: (&mut [Entry], &RelPath), other: (&[Entry], &RelPath), any_time: bool) {
    let (other_entries, other_base) = other;
    let by_key: HashMap<RelPath, &Entry> = other_entries
        .iter()
        .filter_map(|e| Some((e.path.strip_prefix(other_base)?, e)))
        .collect();
    let (store_entries, store_base) = store;
    for entry in store_entries.iter_mut() {
        let Some(theirs) = entry
            .path
            .strip_prefix(store_base)
            .and_then(|key| by_key.get(&key))
        else {
            continue;
        };
        let unchanged = match (&entry.kind, &theirs.kind) {
            (EntryKind::Dir, EntryKind::Dir) => true,
            (EntryKind::File, EntryKind::File) => {
                entry.size == theirs.size
                    && (any_time || theirs.meta.mtime.secs <= entry.meta.mtime.secs)
            }
            _ => false,
        };
        if unchanged {
            entry.meta = theirs.meta;
        }
    }
}

/// Takes out of a source scan what a store cannot hold: symbolic links and special files, and
/// directories with no file beneath them (a store's directories are implied by its keys, so
/// they would be "created" on every run). Returns how many links and special files there were.
pub(super) fn storable(entries: &mut Vec<Entry>, base: &RelPath) -> usize {
    let before = entries.len();
    entries.retain(|e| matches!(e.kind, EntryKind::File | EntryKind::Dir));
    let links = before - entries.len();
    let mut holding: HashSet<RelPath> = HashSet::new();
    for file in entries.iter().filter(|e| e.is_file()) {
        let mut parent = file.path.parent();
        while let Some(dir) = parent {
            parent = dir.parent();
            if !holding.insert(dir) {
                break;
            }
        }
    }
    entries.retain(|e| !e.is_dir() || e.path == *base || holding.contains(&e.path));
    links
}

#[cfg(test)]
mod tests {
    use sy_transport::{Meta, Timestamp};

    use super::*;

    fn file(path: &str, size: u64, secs: i64, mode: u32) -> Entry {
        Entry {
            path: RelPath::new(path).unwrap(),
            kind: EntryKind::File,
            size,
            meta: Meta {
                mode,
                mtime: Timestamp { secs, nanos: 7 },
                uid: 0,
                gid: 0,
            },
            dev: 0,
            ino: 0,
            nlink: 1,
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            kind: EntryKind::Dir,
            ..file(path, 0, 1, 0o755)
        }
    }

    #[test]
    fn an_object_written_after_its_file_changed_is_its_copy() {
        let local = [file("d/a", 3, 100, 0o600), file("d/b", 3, 200, 0o600)];
        let mut objects = [
            file("a", 3, 150, 0o644),
            file("b", 3, 150, 0o644),
            file("c", 3, 150, 0o644),
        ];
        let base = RelPath::new("d").unwrap();
        align((&mut objects, &RelPath::root()), (&local, &base), false);
        assert_eq!(objects[0].meta, local[0].meta, "written after the change");
        assert_eq!(
            objects[1].meta.mtime.secs, 150,
            "changed after it was written"
        );
        assert_eq!(objects[2].meta.mode, 0o644, "no local file");
    }

    #[test]
    fn a_local_copy_no_newer_than_its_object_is_unchanged() {
        let local = [
            file("a", 3, 100, 0o600),
            file("b", 3, 300, 0o600),
            file("c", 4, 1, 0),
        ];
        let mut objects = [
            file("a", 3, 150, 0o644),
            file("b", 3, 150, 0o644),
            file("c", 3, 150, 0o644),
        ];
        align(
            (&mut objects, &RelPath::root()),
            (&local, &RelPath::root()),
            false,
        );
        assert_eq!(objects[0].meta, local[0].meta);
        assert_eq!(objects[1].meta.mtime.secs, 150, "changed here since");
        assert_eq!(objects[2].meta.mtime.secs, 150, "another size");
    }

    #[test]
    fn comparing_without_times_any_copy_of_the_same_size_keeps_its_time() {
        // With -c or --size-only, a file touched after its upload is not a change of time
        // the store could record (short of writing the object again).
        let local = [file("b", 3, 300, 0o600), file("c", 4, 1, 0)];
        let mut objects = [file("b", 3, 150, 0o644), file("c", 3, 150, 0o644)];
        align(
            (&mut objects, &RelPath::root()),
            (&local, &RelPath::root()),
            true,
        );
        assert_eq!(objects[0].meta, local[0].meta);
        assert_eq!(objects[1].meta.mtime.secs, 150, "another size");
    }

    #[test]
    fn links_specials_and_directories_without_files_are_taken_out() {
        let mut entries = vec![
            dir("d"),
            dir("d/empty"),
            dir("d/full"),
            file("d/full/a", 1, 1, 0),
            file("d/l", 0, 1, 0),
            dir("d/only-link"),
            file("d/only-link/l", 0, 1, 0),
        ];
        entries[4].kind = EntryKind::Symlink {
            target: b"a".to_vec(),
        };
        entries[6].kind = EntryKind::Special(sy_transport::SpecialKind::Fifo);
        assert_eq!(storable(&mut entries, &RelPath::new("d").unwrap()), 2);
        let kept: Vec<String> = entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(kept, ["d", "d/full", "d/full/a"]);
    }
}
