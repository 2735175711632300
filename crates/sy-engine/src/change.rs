//! What a change did to one path, attribute by attribute: what rsync's `--itemize-changes`
//! shows, carried to the [`Observer`](crate::Observer) with each [`Done`](crate::Done).

use sy_transport::{Entry, EntryKind, Meta, MetaTarget, RelPath};

use crate::options::SyncOptions;

/// How one path changed: what it is, whether it is new, and which attributes differ from what
/// the destination had.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// What the entry is (for a deletion, what was removed; anything else counts as a file).
    pub kind: MetaTarget,
    /// The entry did not exist at the destination (as such: a symbolic link that replaces a
    /// file is new).
    pub created: bool,
    /// The contents differ by digest (`-c`), or a symbolic link points elsewhere.
    pub content: bool,
    /// The size differs.
    pub size: bool,
    /// The modification time differs.
    pub time: bool,
    /// The permission bits differ.
    pub perms: bool,
    /// The owner differs (only when owners are kept).
    pub owner: bool,
    /// The group differs (only when owners are kept).
    pub group: bool,
    /// Where a symbolic link points, or the other name a hard link shares.
    pub link: Option<LinkTo>,
}

/// What a symbolic or hard link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkTo {
    /// A symbolic link's target, as stored in the link.
    Symlink(Vec<u8>),
    /// The path (beneath the destination, as [`Observer::done`](crate::Observer::done) names
    /// paths) of the file a hard link shares its contents with.
    HardLink(RelPath),
}

impl Change {
    /// A new entry of `kind`.
    pub(crate) fn created(kind: MetaTarget) -> Change {
        Change {
            created: true,
            ..Change::same(kind)
        }
    }

    /// An existing entry of `kind` whose attributes are unchanged (so far).
    pub(crate) fn same(kind: MetaTarget) -> Change {
        Change {
            kind,
            created: false,
            content: false,
            size: false,
            time: false,
            perms: false,
            owner: false,
            group: false,
            link: None,
        }
    }

    /// How `src` differs from the `dst` it replaces, as `opts` compare them (owners only when
    /// they are kept, times within `--modify-window`).
    pub(crate) fn between(src: &Entry, dst: &Entry, opts: &SyncOptions) -> Change {
        Change {
            size: src.is_file() && src.size != dst.size,
            ..Change::attributes(kind_of(src), &src.meta, &dst.meta, opts)
        }
    }

    /// How the attributes `src` of an entry of `kind` differ from the `dst` it has, as in
    /// [`between`](Self::between).
    pub(crate) fn attributes(
        kind: MetaTarget,
        src: &Meta,
        dst: &Meta,
        opts: &SyncOptions,
    ) -> Change {
        Change {
            time: !same_time(src, dst, opts.modify_window),
            perms: src.mode != dst.mode,
            owner: opts.owner && src.uid != dst.uid,
            group: opts.owner && src.gid != dst.gid,
            ..Change::same(kind)
        }
    }

    /// With the path of a hard link's other name beneath `base` (plans name keys relative to
    /// the transfer's base; observers see paths beneath the destination).
    pub(crate) fn under(mut self, base: &RelPath) -> Change {
        if let Some(LinkTo::HardLink(leader)) = &self.link {
            self.link = Some(LinkTo::HardLink(base.join_rel(leader)));
        }
        self
    }
}

/// The kind of entry `entry` is, as a change names it.
pub(crate) fn kind_of(entry: &Entry) -> MetaTarget {
    match entry.kind {
        EntryKind::Dir => MetaTarget::Dir,
        EntryKind::Symlink { .. } => MetaTarget::Symlink,
        EntryKind::File | EntryKind::Special(_) => MetaTarget::File,
    }
}

/// Equal modification times: within `window` seconds when it is not 0 (`--modify-window`, for
/// file systems that keep times coarsely); else exactly, but in whole seconds where one side
/// reports 0 ns (a file system without sub-second times).
pub(crate) fn same_time(a: &Meta, b: &Meta, window: u64) -> bool {
    if window > 0 {
        a.mtime.secs.abs_diff(b.mtime.secs) <= window
    } else if a.mtime.nanos == 0 || b.mtime.nanos == 0 {
        a.mtime.secs == b.mtime.secs
    } else {
        a.mtime == b.mtime
    }
}
