//! Tree changes on a bucket. Directories are implied by keys, so creating one, and setting
//! its (or any) attributes, has nothing to store; removing one removes every key beneath it.
//! Links cannot be stored.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::{Inner, REQUESTS_IN_FLIGHT};
use crate::{Error, Result, TreeOp};

/// Applies `ops` in order, one result each.
pub(super) async fn apply(inner: &Inner, ops: Vec<TreeOp>) -> Vec<Result<()>> {
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply_one(inner, op).await);
    }
    results
}

async fn apply_one(inner: &Inner, op: TreeOp) -> Result<()> {
    match op {
        TreeOp::Mkdir { .. }
        | TreeOp::SetMeta { .. }
        | TreeOp::MakeWritable { .. }
        | TreeOp::Tidy(_)
        | TreeOp::DropPartial { .. } => Ok(()),
        TreeOp::Remove { path } => remove(inner, &inner.key(&path)?).await,
        TreeOp::Symlink { path, .. } | TreeOp::HardLink { path, .. } => Err(Error::Store {
            action: "linking",
            location: inner.shown(&inner.key(&path)?),
            reason: "an object store holds only files".to_owned(),
        }),
    }
}

/// Deletes the object `key` and every object beneath `key/` (a "directory"), several
/// requests at a time. A key that is already gone is no error.
async fn remove(inner: &Inner, key: &Path) -> Result<()> {
    let beneath: Vec<Path> = inner
        .store
        .list(Some(key))
        .map_ok(|object| object.location)
        .try_collect()
        .await
        .map_err(|e| inner.error("listing", key, e))?;
    let deleted: Vec<Result<()>> = stream::iter(beneath.into_iter().chain([key.clone()]))
        .map(|victim| async move {
            match inner.store.delete(&victim).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(inner.error("deleting", &victim, e)),
            }
        })
        .buffer_unordered(REQUESTS_IN_FLIGHT)
        .collect()
        .await;
    deleted.into_iter().collect()
}
