//! `--verify`: once the files are in place, each is read back at the destination and its BLAKE3
//! digest compared with the source's — end to end, through whatever transports the job uses,
//! a batch of files per request on each side. A file that differs is copied once more and
//! checked again; if it still differs, it is reported.
//!
//! The files still to read back are kept across the attempts of a job ([`Unverified`]): when
//! the link breaks after a file's rename but before its read-back, the next attempt finds the
//! file unchanged and would otherwise never look at it again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use sy_transport::{Error, RelPath, Transport};

use crate::observer::Observer;
use crate::options::SyncOptions;
use crate::plan::FileAction;
use crate::totals::Totals;
use crate::transfer::{Ctx, copy_files};

/// Files whose digests are asked for in one request per side.
const VERIFY_BATCH: usize = 256;

/// The files of one job written at the destination and not yet read back, by key; shared by
/// the job's attempts.
#[derive(Debug, Default)]
pub struct Unverified(Mutex<HashMap<RelPath, FileAction>>);

impl Unverified {
    /// Records the files this attempt is about to write as awaiting their read-back, and
    /// returns those that earlier attempts began and this one does not write again: they are
    /// in place (the plan found them unchanged) but unchecked, whether the link broke before
    /// their read-back or before the answer to their rename arrived.
    pub(crate) fn carried(&self, planned: &[FileAction]) -> Vec<FileAction> {
        let mut waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh: HashSet<&RelPath> = planned.iter().map(|f| &f.key).collect();
        let carried = waiting
            .values()
            .filter(|f| !fresh.contains(&f.key))
            .cloned()
            .collect();
        for file in planned {
            waiting.insert(file.key.clone(), file.clone());
        }
        carried
    }

    fn checked(&self, key: &RelPath) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

/// Verifies `files` (just written, or left unchecked by an earlier attempt), copying a
/// mismatch once more before reporting it. A file whose digests match leaves `unverified`.
pub(crate) async fn verify_files<S, D, O>(
    src: &Arc<S>,
    dst: &Arc<D>,
    ctx: &Arc<Ctx<O>>,
    files: Vec<FileAction>,
    opts: &SyncOptions,
    unverified: &Unverified,
    totals: &mut Totals,
) where
    S: Transport,
    D: Transport,
    O: Observer + Send + Sync + 'static,
{
    let differing = compare(&**src, &**dst, ctx, files, opts, unverified, totals).await;
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
    totals.bytes_literal += again.bytes_literal;
    totals.bytes_matched += again.bytes_matched;
    totals.failed += again.failed;
    for file in compare(&**src, &**dst, ctx, rewritten, opts, unverified, totals).await {
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
    unverified: &Unverified,
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
        let (mut at_src, mut at_dst) = (at_src.into_iter(), at_dst.into_iter());
        for file in chunk {
            // A transport that answers for fewer files than asked has not checked the rest.
            let a = at_src.next().unwrap_or(Err(Error::Interrupted));
            let b = at_dst.next().unwrap_or(Err(Error::Interrupted));
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => {
                    totals.verified += 1;
                    unverified.checked(&file.key);
                }
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
