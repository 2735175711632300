//! Tree operations (directories, links, attributes, removals) sent to the destination in
//! batches, one request per batch, with each result reported.

use std::collections::HashMap;
use std::io;

use sy_transport::{RelPath, Transport, TreeOp};

use crate::change::Change;
use crate::observer::{Action, Done, Observer};
use crate::totals::{Totals, count};
use crate::transfer::Ctx;

/// Tree operations per request.
const OPS_PER_BATCH: usize = 1024;

/// An operation and what its success counts as, with how it changes its path (`None`:
/// housekeeping, not reported).
pub(super) type Labelled = (TreeOp, Option<(Action, Option<Change>)>);

/// Directories of the destination that could not be made (or, for the destination itself, made
/// writable), with the kind of failure of those that could not be created: nothing beneath
/// them is attempted, so one error stands for the directory, not one per entry in it (rsync's
/// "skipping any contents from this failed directory").
#[derive(Debug, Default)]
pub(super) struct Unmade(HashMap<RelPath, Option<io::ErrorKind>>);

impl Unmade {
    /// True when `path` is, or lies beneath, a directory that could not be made.
    pub(super) fn covers(&self, path: &RelPath) -> bool {
        let mut cursor = Some(path.clone());
        while let Some(dir) = cursor {
            if self.0.contains_key(&dir) {
                return true;
            }
            cursor = dir.parent();
        }
        false
    }

    /// True when what failed says that nothing can be written at `root`: `root` itself could
    /// not be made (or made writable), or making a directory directly in it met a read-only
    /// file system. A directory in it refused for lack of permission is not enough: what
    /// already exists beneath `root` may still be writable.
    pub(super) fn refuses(&self, root: &RelPath) -> bool {
        self.0.iter().any(|(dir, kind)| {
            dir == root
                || (dir.parent().as_ref() == Some(root)
                    && *kind == Some(io::ErrorKind::ReadOnlyFilesystem))
        })
    }
}

/// Applies operations in batches; failures are reported, successes counted under `action`.
/// Nothing beneath a directory in `unmade` is attempted, and a directory that fails joins it.
pub(super) async fn apply_reported<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    ops: Vec<Labelled>,
    totals: &mut Totals,
    unmade: &mut Unmade,
) {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<_> = ops
            .by_ref()
            .filter(|(op, _)| !unmade.covers(op.path()))
            .take(OPS_PER_BATCH)
            .collect();
        if batch.is_empty() {
            break;
        }
        let (tree_ops, labels): (Vec<TreeOp>, Vec<_>) = batch.into_iter().unzip();
        let made: Vec<(RelPath, Option<bool>)> = tree_ops
            .iter()
            .map(|op| {
                // A directory that cannot be made writable may still take some writes (and
                // each refused one names its file), unless it is the destination itself.
                let dir = match op {
                    TreeOp::Mkdir { .. } => Some(true),
                    TreeOp::MakeWritable { path } if *path == ctx.dst_base => Some(false),
                    _ => None,
                };
                (op.path().clone(), dir)
            })
            .collect();
        let results = dst.apply(tree_ops, ctx.write.meta).await;
        for ((result, label), (path, dir)) in results.into_iter().zip(labels).zip(made) {
            match (result, label) {
                (Ok(()), Some((action, change))) => {
                    count(totals, action);
                    let done = Done {
                        change,
                        ..Done::default()
                    };
                    ctx.observer.done(action, &path, &done);
                }
                (Ok(()), None) => {}
                // A directory above it failed earlier in this batch: said once, there.
                (Err(_), _) if unmade.covers(&path) => {}
                (Err(e), _) if let Some(created) = dir => {
                    ctx.observer
                        .failed(Some(&path), &format!("{e} (skipping what is beneath it)"));
                    totals.failed += 1;
                    // Only a refused creation says something of the directory above.
                    unmade.0.insert(path, e.io_kind().filter(|_| created));
                }
                (Err(e), _) => {
                    ctx.observer.failed(Some(&path), &e.to_string());
                    totals.failed += 1;
                }
            }
        }
    }
}

/// Applies housekeeping operations; failures are reported but do not fail the run.
pub(super) async fn apply_ops<D: Transport, O: Observer>(dst: &D, ctx: &Ctx<O>, ops: Vec<TreeOp>) {
    for batch in ops.chunks(OPS_PER_BATCH) {
        for result in dst.apply(batch.to_vec(), ctx.write.meta).await {
            if let Err(e) = result {
                ctx.observer.warning(&e.to_string());
            }
        }
    }
}
