//! `--verify`: once the files are in place, each is read back at the destination and its BLAKE3
//! digest compared with the source's — end to end, through whatever transports the job uses,
//! a batch of files per request on each side. A file that differs is copied once more and
//! checked again; if it still differs, it is reported.

use std::sync::Arc;

use sy_transport::Transport;

use crate::config::SyncOptions;
use crate::execute::Totals;
use crate::observer::Observer;
use crate::plan::FileAction;
use crate::transfer::{Ctx, copy_files};

/// Files whose digests are asked for in one request per side.
const VERIFY_BATCH: usize = 256;

/// Verifies `files` (just written), copying a mismatch once more before reporting it.
pub(crate) async fn verify_files<S, D, O>(
    src: &Arc<S>,
    dst: &Arc<D>,
    ctx: &Arc<Ctx<O>>,
    files: Vec<FileAction>,
    opts: &SyncOptions,
    totals: &mut Totals,
) where
    S: Transport,
    D: Transport,
    O: Observer + Send + Sync + 'static,
{
    let differing = compare(&**src, &**dst, ctx, files, opts, totals).await;
    if differing.is_empty() {
        return;
    }
    for file in &differing {
        ctx.observer.warning(&format!(
            "{} differs from the source after the copy (--verify); copying it again",
            ctx.dst_path(&file.key)
        ));
    }
    // The second copy's files were counted as written the first time already.
    let mut again = Totals::default();
    let rewritten = copy_files(src, dst, ctx, differing, opts.jobs, &mut again).await;
    totals.literal += again.literal;
    totals.matched += again.matched;
    totals.failed += again.failed;
    for file in compare(&**src, &**dst, ctx, rewritten, opts, totals).await {
        let path = ctx.dst_path(&file.key);
        ctx.observer.failed(
            Some(&path),
            &format!(
                "{path} in {} differs from the source after two copies (--verify)",
                dst.location()
            ),
        );
        totals.failed += 1;
    }
}

/// Compares digests at both ends; returns the files that differ (errors are reported).
async fn compare<S: Transport, D: Transport, O: Observer + ?Sized>(
    src: &S,
    dst: &D,
    ctx: &Ctx<O>,
    files: Vec<FileAction>,
    opts: &SyncOptions,
    totals: &mut Totals,
) -> Vec<FileAction> {
    let mut differing = Vec::new();
    for chunk in files.chunks(VERIFY_BATCH) {
        let src_paths = chunk.iter().map(|f| ctx.src_path(&f.key)).collect();
        let dst_paths = chunk.iter().map(|f| ctx.dst_path(&f.key)).collect();
        let (at_src, at_dst) = tokio::join!(
            src.checksums(src_paths, opts.follow_links),
            dst.checksums(dst_paths, false)
        );
        for ((file, a), b) in chunk.iter().zip(at_src).zip(at_dst) {
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => totals.verified += 1,
                (Ok(_), Ok(_)) => differing.push(file.clone()),
                (Err(e), _) | (_, Err(e)) => {
                    ctx.observer
                        .failed(Some(&ctx.dst_path(&file.key)), &format!("verifying: {e}"));
                    totals.failed += 1;
                }
            }
        }
    }
    differing
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
