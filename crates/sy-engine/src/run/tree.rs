//! Tree operations (directories, links, attributes, removals) sent to the destination in
//! batches, one request per batch, with each result reported.

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

/// Applies operations in batches; failures are reported, successes counted under `action`.
pub(super) async fn apply_reported<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    ops: Vec<Labelled>,
    totals: &mut Totals,
) {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<_> = ops.by_ref().take(OPS_PER_BATCH).collect();
        let (tree_ops, labels): (Vec<TreeOp>, Vec<_>) = batch.into_iter().unzip();
        let paths: Vec<RelPath> = tree_ops.iter().map(|op| op.path().clone()).collect();
        let results = dst.apply(tree_ops, ctx.write.meta).await;
        for ((result, label), path) in results.into_iter().zip(labels).zip(paths) {
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
