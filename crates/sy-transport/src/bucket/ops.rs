//! Tree changes on a bucket. Directories are implied by keys, so creating one, and setting
//! its (or any) attributes, has nothing to store; removing one removes every key beneath it.
//! Links cannot be stored.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{Inner, REQUESTS_IN_FLIGHT};
use crate::{Error, RelPath, Result, TreeOp};

/// Applies `ops` in order, one result each; removals next to each other run together (their
/// order does not matter once those beneath a directory removed with them are left to it).
pub(super) async fn apply(inner: &Inner, ops: Vec<TreeOp>) -> Vec<Result<()>> {
    let mut results = Vec::with_capacity(ops.len());
    let mut removals = Vec::new();
    for op in ops {
        match op {
            TreeOp::Remove { path } => removals.push(path),
            other => {
                results.extend(remove_all(inner, std::mem::take(&mut removals)).await);
                results.push(apply_one(inner, other));
            }
        }
    }
    results.extend(remove_all(inner, removals).await);
    results
}

fn apply_one(inner: &Inner, op: TreeOp) -> Result<()> {
    match op {
        TreeOp::Mkdir { .. }
        | TreeOp::SetMeta { .. }
        | TreeOp::MakeWritable { .. }
        | TreeOp::Tidy(_)
        | TreeOp::DropPartial { .. }
        | TreeOp::Remove { .. } => Ok(()),
        TreeOp::Symlink { path, .. } | TreeOp::HardLink { path, .. } => Err(Error::Store {
            action: "linking",
            location: inner.shown(&inner.key(&path)?),
            reason: "an object store holds only files".to_owned(),
        }),
    }
}

async fn remove_all(inner: &Inner, paths: Vec<RelPath>) -> Vec<Result<()>> {
    // A plan lists every entry of a removed subtree; the directory's bulk delete takes the
    // keys beneath it, so they need no request of their own (nor a race with it).
    let covered: Vec<bool> = paths
        .iter()
        .map(|path| {
            paths
                .iter()
                .any(|other| other != path && path.starts_with(other) && inner.may_be_dir(other))
        })
        .collect();
    stream::iter(paths.into_iter().zip(covered))
        .map(|(path, covered)| async move {
            if covered {
                Ok(())
            } else {
                remove(inner, path).await
            }
        })
        .buffered(REQUESTS_IN_FLIGHT)
        .collect()
        .await
}

/// Deletes the object at `path`, or, for a directory the last scan saw, every object beneath
/// it (in bulk requests). A key that is already gone is no error.
async fn remove(inner: &Inner, path: RelPath) -> Result<()> {
    let key = inner.key(&path)?;
    if !inner.may_be_dir(&path) {
        return match inner.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(inner.error("deleting", &key, e)),
        };
    }
    let beneath = inner
        .store
        .list(Some(&key))
        .map_ok(|object| object.location);
    inner
        .store
        .delete_stream(Box::pin(beneath))
        .try_for_each(|_: Path| async { Ok(()) })
        .await
        .map_err(|e| inner.error("deleting beneath", &key, e))
}
