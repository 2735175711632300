//! Comparing two scans into a plan: what to create, update, link, fix up, delete or skip.
//!
//! Pure: no I/O, so every rule is unit-tested here. Paths in the plan are keys relative to the
//! transfer's base on each side.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use sy_transport::{Entry, EntryKind, Meta, MetaTarget, RelPath, SpecialKind};

use crate::change::{Change, LinkTo, kind_of, same_time};
use crate::mode::copy_mode;
use crate::observer::Action;
use crate::options::{Compare, SyncOptions};

/// A file whose content must move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAction {
    /// Key relative to the bases.
    pub key: RelPath,
    /// The source file as scanned (path relative to the source root).
    pub src: Entry,
    /// Size of the file it replaces at the destination, if one exists.
    pub replaces: Option<u64>,
}

impl FileAction {
    /// `Update` when it replaces a file, else `Create`.
    pub fn action(&self) -> Action {
        if self.replaces.is_some() {
            Action::Update
        } else {
            Action::Create
        }
    }
}

/// Everything one transfer will do, in the order the executor does it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Destination objects in the way of a different kind (directory ↔ non-directory).
    pub remove_first: Vec<RelPath>,
    /// Existing destination directories that must become writable for the run.
    pub make_writable: Vec<RelPath>,
    /// Directories to create, parents first.
    pub mkdirs: Vec<RelPath>,
    /// Files to copy.
    pub files: Vec<FileAction>,
    /// Symbolic links to create or replace.
    pub symlinks: Vec<NewSymlink>,
    /// Hard links to make.
    pub hard_links: Vec<NewHardLink>,
    /// Unchanged content whose attributes differ.
    pub fix_meta: Vec<MetaFix>,
    /// Directory attributes to set once their contents are final, deepest first.
    pub dir_meta: Vec<DirMeta>,
    /// Extraneous destination entries (only with `--delete`), deepest first.
    pub deletions: Vec<RelPath>,
    /// Source objects that are not copied (FIFOs, sockets, devices).
    pub specials: Vec<Special>,
    /// Non-empty destination directories in the way of a file or link: left alone (and
    /// reported) unless `--delete` allows removing them, as rsync does — and never after the
    /// source could not be read completely (what is missing may be what they hold).
    pub blocked: Vec<RelPath>,
    /// Entries left alone, and why.
    pub unchanged: Vec<LeftAlone>,
    /// How each entry the plan creates, changes or removes differs from what the destination
    /// has (directories whose times are set only because their contents change are not here).
    pub changes: HashMap<RelPath, Change>,
}

/// A symbolic link to create, or to put in place of what is at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSymlink {
    /// Key relative to the bases.
    pub key: RelPath,
    /// What it points to, as stored in the link.
    pub target: Vec<u8>,
    /// Its attributes.
    pub meta: Meta,
    /// It replaces an existing entry.
    pub replaces: bool,
}

/// A hard link to make: `key` becomes another name of `leader`, written earlier in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHardLink {
    /// Key of the new name.
    pub key: RelPath,
    /// Key of the file it links to.
    pub leader: RelPath,
}

/// Attributes to correct on an entry whose content is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaFix {
    /// Key relative to the bases.
    pub key: RelPath,
    /// What kind of entry it is.
    pub target: MetaTarget,
    /// The attributes it gets.
    pub meta: Meta,
}

/// Attributes a directory gets once its contents are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMeta {
    /// Key relative to the bases.
    pub key: RelPath,
    /// The attributes.
    pub meta: Meta,
}

/// A source object that is not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// Key relative to the bases.
    pub key: RelPath,
    /// What it is.
    pub kind: SpecialKind,
}

/// An entry left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    /// Key relative to the bases.
    pub key: RelPath,
    /// Why.
    pub why: Skip,
}

/// Why an entry is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Equal at both ends.
    Unchanged,
    /// It exists at the destination (`--ignore-existing`).
    Existing,
    /// The destination's copy is newer (`-u`).
    Newer,
}

impl Skip {
    /// The word used in JSON.
    pub fn word(self) -> &'static str {
        match self {
            Skip::Unchanged => "unchanged",
            Skip::Existing => "exists",
            Skip::Newer => "newer",
        }
    }
}

/// Pairs of same-size files whose contents must be compared (`-c`) before planning.
pub fn checksum_candidates<'a>(
    src: &'a [Entry],
    src_base: &RelPath,
    dst: &'a [Entry],
    dst_base: &RelPath,
) -> Vec<(RelPath, &'a Entry, &'a Entry)> {
    let dst_files: HashMap<RelPath, &Entry> =
        keyed(dst, dst_base).filter(|(_, e)| e.is_file()).collect();
    keyed(src, src_base)
        .filter(|(_, e)| e.is_file())
        .filter_map(|(key, s)| {
            let d = dst_files.get(&key)?;
            (d.size == s.size).then_some((key, s, *d))
        })
        .collect()
}

fn keyed<'a>(
    entries: &'a [Entry],
    base: &RelPath,
) -> impl Iterator<Item = (RelPath, &'a Entry)> + 'a {
    let base = base.clone();
    entries
        .iter()
        .filter_map(move |e| Some((e.path.strip_prefix(&base)?, e)))
}

/// The attributes differ. Times count with `--size-only` too: as rsync does, a file of the
/// same size is left alone but gets the source's time.
fn meta_differs(src: &Meta, dst: &Meta, opts: &SyncOptions) -> bool {
    src.mode != dst.mode
        || !same_time(src, dst, opts.modify_window)
        || (opts.owner && (src.uid != dst.uid || src.gid != dst.gid))
}

/// Compares the scans. `equal_content` holds the keys `-c` found identical; `src_complete` is
/// false when parts of the source could not be read.
pub fn plan(
    src: &[Entry],
    src_base: &RelPath,
    dst: &[Entry],
    dst_base: &RelPath,
    opts: &SyncOptions,
    equal_content: &HashSet<RelPath>,
    src_complete: bool,
) -> Plan {
    let mut plan = Plan::default();
    let dst_map: HashMap<RelPath, &Entry> = keyed(dst, dst_base).collect();
    let src_keys: HashSet<RelPath> = keyed(src, src_base).map(|(k, _)| k).collect();
    let non_empty: HashSet<RelPath> = dst_map.keys().filter_map(RelPath::parent).collect();
    // Directories that change (their entries change), so their times must be set again.
    let mut dirty: HashSet<RelPath> = HashSet::new();
    let mut replaced_dirs: HashSet<RelPath> = HashSet::new();
    let mut link_leaders: HashMap<(u64, u64), RelPath> = HashMap::new();
    // Leaders of hard-link groups whose file is rewritten (a new inode).
    let mut rewritten_leaders: HashSet<RelPath> = HashSet::new();
    let mut src_dirs: Vec<(RelPath, Meta, Option<&Entry>)> = Vec::new();

    for (key, s) in keyed(src, src_base) {
        let d = dst_map.get(&key).copied();
        // --existing: nothing new appears at the destination (nor beneath what is new).
        if opts.existing && d.is_none() {
            continue;
        }
        let copied = as_copied(s, d, opts);
        let s: &Entry = &copied;
        // A directory on one side and something else on the other: the old one goes first.
        if let Some(d) = d
            && d.is_dir() != s.is_dir()
            && !matches!(s.kind, EntryKind::Special(_))
        {
            if d.is_dir() && !(opts.delete && src_complete) && non_empty.contains(&key) {
                plan.blocked.push(key.clone());
                replaced_dirs.insert(key);
                continue;
            }
            plan.remove_first.push(key.clone());
            if d.is_dir() {
                replaced_dirs.insert(key.clone());
            }
            mark_parent(&mut dirty, &key);
        }
        let d = d.filter(|d| d.is_dir() == s.is_dir());
        match &s.kind {
            EntryKind::Dir => {
                if d.is_none() {
                    plan.mkdirs.push(key.clone());
                    plan.changes
                        .insert(key.clone(), Change::created(MetaTarget::Dir));
                    mark_parent(&mut dirty, &key);
                }
                src_dirs.push((key, s.meta, d));
            }
            EntryKind::File if !size_selected(s.size, opts) => {}
            EntryKind::File => {
                if opts.hard_links && s.nlink > 1 {
                    let leader = link_leaders
                        .entry((s.dev, s.ino))
                        .or_insert_with(|| key.clone());
                    if *leader != key {
                        let leader = leader.clone();
                        // Linked already, to a leader that stays: nothing to do. A leader
                        // that is rewritten gets a new inode, so its links are made again.
                        let linked = !rewritten_leaders.contains(&leader)
                            && d.zip(dst_map.get(&leader))
                                .is_some_and(|(d, l)| d.dev == l.dev && d.ino == l.ino);
                        if linked {
                            plan.unchanged.push(LeftAlone {
                                key,
                                why: Skip::Unchanged,
                            });
                        } else {
                            mark_parent(&mut dirty, &key);
                            let change = Change {
                                link: Some(LinkTo::HardLink(leader.clone())),
                                ..Change::created(MetaTarget::File)
                            };
                            plan.changes.insert(key.clone(), change);
                            plan.hard_links.push(NewHardLink { key, leader });
                        }
                        continue;
                    }
                }
                let (files_before, group_leader) = (
                    plan.files.len(),
                    (opts.hard_links && s.nlink > 1).then(|| key.clone()),
                );
                match d {
                    Some(d) if d.is_file() => {
                        match file_decision(&key, s, d, opts, equal_content) {
                            Decision::Skip(why) => plan.unchanged.push(LeftAlone { key, why }),
                            Decision::FixMeta => {
                                let change = Change::between(s, d, opts);
                                plan.changes.insert(key.clone(), change);
                                plan.fix_meta.push(MetaFix {
                                    key,
                                    target: MetaTarget::File,
                                    meta: s.meta,
                                });
                            }
                            Decision::Transfer => {
                                mark_parent(&mut dirty, &key);
                                let change = Change {
                                    content: opts.compare == Compare::Checksum,
                                    ..Change::between(s, d, opts)
                                };
                                plan.changes.insert(key.clone(), change);
                                plan.files.push(FileAction {
                                    key,
                                    src: s.clone(),
                                    replaces: Some(d.size),
                                });
                            }
                        }
                    }
                    Some(_) if opts.ignore_existing => plan.unchanged.push(LeftAlone {
                        key,
                        why: Skip::Existing,
                    }),
                    _ => {
                        mark_parent(&mut dirty, &key);
                        plan.changes
                            .insert(key.clone(), Change::created(MetaTarget::File));
                        plan.files.push(FileAction {
                            key,
                            src: s.clone(),
                            replaces: None,
                        });
                    }
                }
                if let Some(leader) = group_leader
                    && plan.files.len() > files_before
                {
                    rewritten_leaders.insert(leader);
                }
            }
            EntryKind::Symlink { target } => match d.map(|d| &d.kind) {
                Some(EntryKind::Symlink { target: old }) if old == target => {
                    plan.unchanged.push(LeftAlone {
                        key,
                        why: Skip::Unchanged,
                    });
                }
                Some(_) if opts.ignore_existing => plan.unchanged.push(LeftAlone {
                    key,
                    why: Skip::Existing,
                }),
                other => {
                    mark_parent(&mut dirty, &key);
                    let old_link = d.filter(|_| matches!(other, Some(EntryKind::Symlink { .. })));
                    let change = Change {
                        created: old_link.is_none(),
                        content: old_link.is_some(),
                        time: old_link
                            .is_some_and(|d| !same_time(&s.meta, &d.meta, opts.modify_window)),
                        link: Some(LinkTo::Symlink(target.clone())),
                        ..Change::same(MetaTarget::Symlink)
                    };
                    plan.changes.insert(key.clone(), change);
                    plan.symlinks.push(NewSymlink {
                        key,
                        target: target.clone(),
                        meta: s.meta,
                        replaces: other.is_some(),
                    });
                }
            },
            EntryKind::Special(kind) => plan.specials.push(Special { key, kind: *kind }),
        }
    }

    if opts.delete {
        for (key, d) in keyed(dst, dst_base) {
            if src_keys.contains(&key) || under_any(&key, &replaced_dirs) {
                continue;
            }
            // Every entry of an extraneous subtree, deepest first, so each removal is
            // reported (as rsync lists them) and a directory is empty when it goes.
            mark_parent(&mut dirty, &key);
            plan.changes.insert(key.clone(), Change::same(kind_of(d)));
            plan.deletions.push(key);
        }
        // Names in reverse order within a depth, as rsync deletes them (which `--max-delete`
        // makes visible).
        plan.deletions.sort_by(|a, b| {
            b.depth()
                .cmp(&a.depth())
                .then_with(|| b.as_bytes().cmp(a.as_bytes()))
        });
    }

    for (key, meta, existing) in src_dirs {
        let changed = existing.is_none_or(|d| meta_differs(&meta, &d.meta, opts));
        if let Some(d) = existing
            && dirty.contains(&key)
            && d.meta.mode & 0o700 != 0o700
        {
            plan.make_writable.push(key.clone());
        }
        if let Some(d) = existing
            && changed
        {
            let change = Change::attributes(MetaTarget::Dir, &meta, &d.meta, opts);
            plan.changes.insert(key.clone(), change);
        }
        if changed || dirty.contains(&key) {
            plan.dir_meta.push(DirMeta { key, meta });
        }
    }
    plan.dir_meta
        .sort_by_key(|dir| std::cmp::Reverse(dir.key.depth()));
    plan
}

/// `s` with the permission bits its copy gets, so that they are what is compared and set.
fn as_copied<'a>(s: &'a Entry, d: Option<&Entry>, opts: &SyncOptions) -> Cow<'a, Entry> {
    let mode = copy_mode(s, d, opts);
    if mode == s.meta.mode {
        Cow::Borrowed(s)
    } else {
        let mut copied = s.clone();
        copied.meta.mode = mode;
        Cow::Owned(copied)
    }
}

enum Decision {
    Skip(Skip),
    FixMeta,
    Transfer,
}

fn file_decision(
    key: &RelPath,
    s: &Entry,
    d: &Entry,
    opts: &SyncOptions,
    equal_content: &HashSet<RelPath>,
) -> Decision {
    if opts.ignore_existing {
        return Decision::Skip(Skip::Existing);
    }
    if opts.update && d.meta.mtime > s.meta.mtime {
        return Decision::Skip(Skip::Newer);
    }
    let same = s.size == d.size
        && match opts.compare {
            Compare::SizeAndTime => same_time(&s.meta, &d.meta, opts.modify_window),
            Compare::SizeOnly => true,
            Compare::Checksum => equal_content.contains(key),
            Compare::Never => false,
        };
    if !same {
        Decision::Transfer
    } else if meta_differs(&s.meta, &d.meta, opts) {
        Decision::FixMeta
    } else {
        Decision::Skip(Skip::Unchanged)
    }
}

/// A file of `size` bytes is within `--min-size` and `--max-size`.
fn size_selected(size: u64, opts: &SyncOptions) -> bool {
    opts.max_size.is_none_or(|max| size <= max) && opts.min_size.is_none_or(|min| size >= min)
}

fn mark_parent(dirty: &mut HashSet<RelPath>, key: &RelPath) {
    if let Some(parent) = key.parent() {
        dirty.insert(parent);
    }
}

fn under_any(key: &RelPath, dirs: &HashSet<RelPath>) -> bool {
    let mut cursor = key.parent();
    while let Some(p) = cursor {
        if dirs.contains(&p) {
            return true;
        }
        cursor = p.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use sy_transport::Timestamp;

    use super::*;

    fn opts() -> SyncOptions {
        SyncOptions {
            jobs: 2,
            ..SyncOptions::default()
        }
    }

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn entry(path: &str, kind: EntryKind, size: u64, mtime: i64, mode: u32) -> Entry {
        Entry {
            path: p(path),
            kind,
            size,
            meta: Meta {
                mode,
                mtime: Timestamp {
                    secs: mtime,
                    nanos: 5,
                },
                uid: 0,
                gid: 0,
            },
            dev: 1,
            ino: 0,
            nlink: 1,
        }
    }

    fn file(path: &str, size: u64, mtime: i64) -> Entry {
        entry(path, EntryKind::File, size, mtime, 0o644)
    }

    fn dir(path: &str) -> Entry {
        entry(path, EntryKind::Dir, 0, 100, 0o755)
    }

    fn run(src: &[Entry], dst: &[Entry], opts: &SyncOptions) -> Plan {
        plan(
            src,
            &RelPath::root(),
            dst,
            &RelPath::root(),
            opts,
            &HashSet::new(),
            true,
        )
    }

    fn keys(list: &[RelPath]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn new_entries_are_created_parents_first() {
        let src = [dir(""), dir("d"), file("d/f", 3, 1), file("g", 1, 1)];
        let plan = run(&src, &[dir("")], &opts());
        assert_eq!(keys(&plan.mkdirs), ["d"]);
        let files: Vec<_> = plan
            .files
            .iter()
            .map(|f| (f.key.to_string(), f.replaces))
            .collect();
        assert_eq!(files, [("d/f".to_owned(), None), ("g".to_owned(), None)]);
        // Both directories get their times once their contents are in, deepest first.
        let dirs: Vec<_> = plan.dir_meta.iter().map(|d| d.key.to_string()).collect();
        assert_eq!(dirs, ["d", "."]);
    }

    #[test]
    fn same_size_and_time_is_unchanged_without_reading() {
        let src = [dir(""), file("f", 3, 1)];
        let plan = run(&src, &src, &opts());
        assert_eq!(
            plan.unchanged,
            [LeftAlone {
                key: RelPath::new("f").unwrap(),
                why: Skip::Unchanged
            }]
        );
        assert!(plan.files.is_empty() && plan.fix_meta.is_empty() && plan.dir_meta.is_empty());
    }

    #[test]
    fn changed_size_or_time_is_a_transfer_mode_alone_a_fix() {
        let src = [
            dir(""),
            file("a", 3, 1),
            file("b", 3, 2),
            entry("c", EntryKind::File, 3, 1, 0o600),
        ];
        let dst = [dir(""), file("a", 4, 1), file("b", 3, 1), file("c", 3, 1)];
        let plan = run(&src, &dst, &opts());
        let files: Vec<_> = plan
            .files
            .iter()
            .map(|f| (f.key.to_string(), f.replaces))
            .collect();
        assert_eq!(
            files,
            [("a".to_owned(), Some(4)), ("b".to_owned(), Some(3))]
        );
        assert_eq!(plan.fix_meta.len(), 1);
        assert_eq!(plan.fix_meta[0].key.to_string(), "c");
    }

    #[test]
    fn update_and_ignore_existing_skip() {
        let src = [dir(""), file("older", 3, 1), file("newer", 3, 9)];
        let dst = [dir(""), file("older", 4, 5), file("newer", 4, 5)];
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                update: true,
                ..opts()
            },
        );
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.files[0].key.to_string(), "newer");
        assert_eq!(
            plan.unchanged,
            [LeftAlone {
                key: RelPath::new("older").unwrap(),
                why: Skip::Newer
            }]
        );
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                ignore_existing: true,
                ..opts()
            },
        );
        assert!(plan.files.is_empty());
        assert!(plan.unchanged.iter().all(|l| l.why == Skip::Existing));
        assert_eq!(plan.unchanged.len(), 2);
    }

    #[test]
    fn checksum_trusts_only_equal_digests() {
        let src = [dir(""), file("same", 3, 1), file("differs", 3, 1)];
        let equal: HashSet<RelPath> = [p("same")].into();
        let o = SyncOptions {
            compare: Compare::Checksum,
            ..opts()
        };
        let plan = plan(
            &src,
            &RelPath::root(),
            &src,
            &RelPath::root(),
            &o,
            &equal,
            true,
        );
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.files[0].key.to_string(), "differs");
        let cands = checksum_candidates(&src, &RelPath::root(), &src, &RelPath::root());
        assert_eq!(cands.len(), 2);
    }

    #[test]
    fn kind_changes_remove_first_and_skip_the_old_subtree() {
        let src = [dir(""), file("x", 1, 1), dir("y")];
        let dst = [dir(""), dir("x"), file("x/inner", 1, 1), file("y", 1, 1)];
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                delete: true,
                ..opts()
            },
        );
        assert_eq!(keys(&plan.remove_first), ["x", "y"]);
        assert_eq!(keys(&plan.mkdirs), ["y"]);
        assert_eq!(plan.files[0].key.to_string(), "x");
        assert_eq!(plan.files[0].replaces, None);
        assert!(plan.deletions.is_empty(), "{:?}", plan.deletions);
    }

    #[test]
    fn a_non_empty_directory_in_the_way_needs_delete() {
        let src = [dir(""), file("empty", 1, 1), file("x", 1, 1)];
        let dst = [dir(""), dir("empty"), dir("x"), file("x/inner", 1, 1)];
        let plan = run(&src, &dst, &opts());
        assert_eq!(keys(&plan.blocked), ["x"]);
        assert_eq!(keys(&plan.remove_first), ["empty"]);
        assert_eq!(plan.files.len(), 1);
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                delete: true,
                ..opts()
            },
        );
        assert!(plan.blocked.is_empty());
        assert_eq!(keys(&plan.remove_first), ["empty", "x"]);
        // A source read with errors never costs a non-empty directory, even with --delete.
        let incomplete = super::plan(
            &src,
            &RelPath::root(),
            &dst,
            &RelPath::root(),
            &SyncOptions {
                delete: true,
                ..opts()
            },
            &HashSet::new(),
            false,
        );
        assert_eq!(keys(&incomplete.blocked), ["x"]);
        assert_eq!(keys(&incomplete.remove_first), ["empty"]);
        assert!(
            incomplete.deletions.is_empty(),
            "{:?}",
            incomplete.deletions
        );
    }

    #[test]
    fn delete_lists_each_extraneous_entry_deepest_first() {
        let src = [dir(""), dir("keep")];
        let dst = [
            dir(""),
            dir("keep"),
            file("keep/old", 1, 1),
            dir("gone"),
            file("gone/a", 1, 1),
            file("top", 1, 1),
        ];
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                delete: true,
                ..opts()
            },
        );
        assert_eq!(keys(&plan.deletions), ["keep/old", "gone/a", "top", "gone"]);
        let plan = run(&src, &dst, &opts());
        assert!(plan.deletions.is_empty());
    }

    #[test]
    fn hard_links_link_followers_to_the_first_name() {
        let mut a = file("a", 3, 1);
        a.ino = 7;
        a.nlink = 2;
        let mut b = a.clone();
        b.path = p("b");
        let src = [dir(""), a, b];
        let plan = run(
            &src,
            &[dir("")],
            &SyncOptions {
                hard_links: true,
                ..opts()
            },
        );
        assert_eq!(plan.files.len(), 1);
        assert_eq!(
            plan.hard_links,
            [NewHardLink {
                key: p("b"),
                leader: p("a")
            }]
        );
        let plan = run(&src, &[dir("")], &opts());
        assert_eq!(plan.files.len(), 2);
        // Already linked at the destination: nothing to do…
        let mut dst = src.clone();
        dst[1].ino = 9;
        dst[2].ino = 9;
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                hard_links: true,
                ..opts()
            },
        );
        assert!(plan.files.is_empty() && plan.hard_links.is_empty());
        // …unless the leader is rewritten (a new inode): then the link is made again.
        dst[1].size = 1;
        dst[2].size = 1;
        let plan = run(
            &src,
            &dst,
            &SyncOptions {
                hard_links: true,
                ..opts()
            },
        );
        assert_eq!(plan.files.len(), 1);
        assert_eq!(
            plan.hard_links,
            [NewHardLink {
                key: p("b"),
                leader: p("a")
            }]
        );
    }

    #[test]
    fn symlinks_compare_targets_and_specials_are_listed() {
        let link = |t: &str| entry("l", EntryKind::Symlink { target: t.into() }, 0, 1, 0o777);
        let fifo = entry("p", EntryKind::Special(SpecialKind::Fifo), 0, 1, 0o644);
        let plan = run(
            &[dir(""), link("a"), fifo.clone()],
            &[dir(""), link("a")],
            &opts(),
        );
        assert!(plan.symlinks.is_empty());
        assert_eq!(
            plan.specials,
            [Special {
                key: p("p"),
                kind: SpecialKind::Fifo
            }]
        );
        let plan = run(&[dir(""), link("b")], &[dir(""), link("a")], &opts());
        assert_eq!(plan.symlinks.len(), 1);
        assert!(plan.symlinks[0].replaces, "replaces the old link");
    }

    #[test]
    fn read_only_destination_directories_are_opened_up_while_they_change() {
        let src = [dir(""), dir("ro"), file("ro/new", 1, 1)];
        let dst = [dir(""), entry("ro", EntryKind::Dir, 0, 100, 0o555)];
        let plan = run(&src, &dst, &opts());
        assert_eq!(keys(&plan.make_writable), ["ro"]);
        assert!(
            plan.dir_meta
                .iter()
                .any(|d| d.key.to_string() == "ro" && d.meta.mode == 0o755)
        );
    }

    #[test]
    fn bases_map_source_names_to_destination_names() {
        let src = [dir("src"), file("src/f", 1, 1)];
        let dst = [dir("src"), file("src/f", 2, 1), file("other", 1, 1)];
        let plan = plan(
            &src,
            &p("src"),
            &dst,
            &p("src"),
            &SyncOptions {
                delete: true,
                ..opts()
            },
            &HashSet::new(),
            true,
        );
        assert_eq!(plan.files[0].key.to_string(), "f");
        assert!(
            plan.deletions.is_empty(),
            "entries outside the base are not ours"
        );
    }
}
