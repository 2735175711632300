//! Comparing two scans into a plan: what to create, update, link, fix up, delete or skip.
//!
//! Pure: no I/O, so every rule is unit-tested here. Paths in the plan are keys relative to the
//! transfer's base on each side.

use std::collections::{HashMap, HashSet};

use sy_transport::{Entry, EntryKind, Meta, MetaTarget, RelPath, SpecialKind};

use crate::config::{Compare, SyncOptions};

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
    /// Symbolic links to create or replace: key, target, attributes, replaces an existing one.
    pub symlinks: Vec<(RelPath, Vec<u8>, Meta, bool)>,
    /// Hard links: key, key of the file it links to.
    pub hard_links: Vec<(RelPath, RelPath)>,
    /// Unchanged content whose attributes differ.
    pub fix_meta: Vec<(RelPath, MetaTarget, Meta)>,
    /// Directory attributes to set once their contents are final, deepest first.
    pub dir_meta: Vec<(RelPath, Meta)>,
    /// Extraneous destination entries (only with `--delete`), deepest first.
    pub deletions: Vec<RelPath>,
    /// Source objects that are not copied (FIFOs, sockets, devices).
    pub specials: Vec<(RelPath, SpecialKind)>,
    /// Entries found equal and left alone.
    pub unchanged: u64,
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

fn same_time(a: &Meta, b: &Meta) -> bool {
    // A file system without sub-second times reports 0 ns; compare whole seconds then.
    if a.mtime.nanos == 0 || b.mtime.nanos == 0 {
        a.mtime.secs == b.mtime.secs
    } else {
        a.mtime == b.mtime
    }
}

fn meta_differs(src: &Meta, dst: &Meta, opts: &SyncOptions, times: bool) -> bool {
    src.mode != dst.mode
        || (times && !same_time(src, dst))
        || (opts.owner && (src.uid != dst.uid || src.gid != dst.gid))
}

/// Compares the scans. `equal_content` holds the keys `-c` found identical.
pub fn plan(
    src: &[Entry],
    src_base: &RelPath,
    dst: &[Entry],
    dst_base: &RelPath,
    opts: &SyncOptions,
    equal_content: &HashSet<RelPath>,
) -> Plan {
    let mut plan = Plan::default();
    let dst_map: HashMap<RelPath, &Entry> = keyed(dst, dst_base).collect();
    let src_keys: HashSet<RelPath> = keyed(src, src_base).map(|(k, _)| k).collect();
    // Directories that change (their entries change), so their times must be set again.
    let mut dirty: HashSet<RelPath> = HashSet::new();
    let mut replaced_dirs: HashSet<RelPath> = HashSet::new();
    let mut link_leaders: HashMap<(u64, u64), RelPath> = HashMap::new();
    let mut src_dirs: Vec<(RelPath, Meta, Option<&Entry>)> = Vec::new();

    for (key, s) in keyed(src, src_base) {
        let d = dst_map.get(&key).copied();
        // A directory on one side and something else on the other: the old one goes first.
        if let Some(d) = d
            && d.is_dir() != s.is_dir()
            && !matches!(s.kind, EntryKind::Special(_))
        {
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
                    mark_parent(&mut dirty, &key);
                }
                src_dirs.push((key, s.meta, d));
            }
            EntryKind::File => {
                if opts.hard_links && s.nlink > 1 {
                    let leader = link_leaders
                        .entry((s.dev, s.ino))
                        .or_insert_with(|| key.clone());
                    if *leader != key {
                        let leader = leader.clone();
                        let linked = d
                            .zip(dst_map.get(&leader))
                            .is_some_and(|(d, l)| d.dev == l.dev && d.ino == l.ino);
                        if linked {
                            plan.unchanged += 1;
                        } else {
                            mark_parent(&mut dirty, &key);
                            plan.hard_links.push((key, leader));
                        }
                        continue;
                    }
                }
                match d {
                    Some(d) if d.is_file() => {
                        match file_decision(&key, s, d, opts, equal_content) {
                            Decision::Skip => plan.unchanged += 1,
                            Decision::FixMeta => {
                                plan.fix_meta.push((key, MetaTarget::File, s.meta));
                            }
                            Decision::Transfer => {
                                mark_parent(&mut dirty, &key);
                                plan.files.push(FileAction {
                                    key,
                                    src: s.clone(),
                                    replaces: Some(d.size),
                                });
                            }
                        }
                    }
                    Some(_) if opts.ignore_existing => plan.unchanged += 1,
                    _ => {
                        mark_parent(&mut dirty, &key);
                        plan.files.push(FileAction {
                            key,
                            src: s.clone(),
                            replaces: None,
                        });
                    }
                }
            }
            EntryKind::Symlink { target } => match d.map(|d| &d.kind) {
                Some(EntryKind::Symlink { target: old }) if old == target => {
                    plan.unchanged += 1;
                }
                Some(_) if opts.ignore_existing => plan.unchanged += 1,
                other => {
                    mark_parent(&mut dirty, &key);
                    plan.symlinks
                        .push((key, target.clone(), s.meta, other.is_some()));
                }
            },
            EntryKind::Special(kind) => plan.specials.push((key, *kind)),
        }
    }

    if opts.delete {
        for (key, _) in keyed(dst, dst_base) {
            if src_keys.contains(&key) || under_any(&key, &replaced_dirs) {
                continue;
            }
            // Only the top of an extraneous subtree: removing it removes the rest.
            if key.parent().is_some_and(|p| !src_keys.contains(&p)) {
                continue;
            }
            mark_parent(&mut dirty, &key);
            plan.deletions.push(key);
        }
        plan.deletions.sort_by_key(|k| std::cmp::Reverse(k.depth()));
    }

    for (key, meta, existing) in src_dirs {
        let changed = existing.is_none_or(|d| meta_differs(&meta, &d.meta, opts, true));
        if let Some(d) = existing
            && dirty.contains(&key)
            && d.meta.mode & 0o700 != 0o700
        {
            plan.make_writable.push(key.clone());
        }
        if changed || dirty.contains(&key) {
            plan.dir_meta.push((key, meta));
        }
    }
    plan.dir_meta
        .sort_by_key(|(k, _)| std::cmp::Reverse(k.depth()));
    plan
}

enum Decision {
    Skip,
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
        return Decision::Skip;
    }
    if opts.update && d.meta.mtime > s.meta.mtime {
        return Decision::Skip;
    }
    let same = s.size == d.size
        && match opts.compare {
            Compare::SizeAndTime => same_time(&s.meta, &d.meta),
            Compare::SizeOnly => true,
            Compare::Checksum => equal_content.contains(key),
        };
    if !same {
        Decision::Transfer
    } else if meta_differs(&s.meta, &d.meta, opts, opts.compare != Compare::SizeOnly) {
        Decision::FixMeta
    } else {
        Decision::Skip
    }
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
