//! The file workers: small files in batches, big files alone (by delta where it pays), at most
//! `-j` units in flight (at least 6 batches of small files when a side is remote), and neither
//! kind starving the other.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use sy_transport::{
    Basis, Error, FileWrite, ReadOptions, RelPath, Transport, WriteOptions, Written,
};
use tokio::task::JoinSet;

use crate::change::Change;
use crate::observer::{Done, Observer};
use crate::plan::FileAction;
use crate::totals::Totals;
use crate::totals::count;
use crate::vanished::source_vanished;

/// Files up to this size travel in memory, many to a batch.
pub(crate) const SMALL_FILE: u64 = 128 << 10;
/// Copies of a file that changed while being read, before it is reported as changing.
const SOURCE_CHANGE_ATTEMPTS: u8 = 3;
/// A batch of small files ends at this many files…
const BATCH_FILES: usize = 64;
/// …or this many bytes.
const BATCH_BYTES: u64 = 1 << 20;
/// Units in flight, at least, when a side is remote (`--jobs` still bounds the big files).
/// 10k small files at 100 Mbit/s, 20 ms: 2 units 6.7 s, 4 units 7.0 s, 6 units 5.7 s (peak
/// RSS 29 MiB), 8 units 5.9 s (34 MiB).
const LINK_UNITS: usize = 6;

/// Everything the workers share.
pub(crate) struct Ctx<O: ?Sized> {
    pub(crate) src_base: RelPath,
    pub(crate) dst_base: RelPath,
    pub(crate) read: ReadOptions,
    pub(crate) write: WriteOptions,
    pub(crate) partials: HashSet<RelPath>,
    /// Update changed files by delta against their old version (not when both sides are
    /// local, unless asked: see docs/delta-vs-whole.md).
    pub(crate) delta_updates: bool,
    /// Resume from kept partials by delta (everything but `-W`).
    pub(crate) resume: bool,
    /// `--verify`: keep the list of written files to read them back.
    pub(crate) verify: bool,
    /// How each entry of the plan changes, by key ([`Plan::changes`](crate::plan::Plan)).
    pub(crate) changes: HashMap<RelPath, Change>,
    pub(crate) observer: Arc<O>,
}

impl<O: Observer + ?Sized> Ctx<O> {
    pub(crate) fn src_path(&self, key: &RelPath) -> RelPath {
        self.src_base.join_rel(key)
    }

    pub(crate) fn dst_path(&self, key: &RelPath) -> RelPath {
        self.dst_base.join_rel(key)
    }

    /// How the entry at `key` changes, with paths as the observer sees them.
    pub(crate) fn change_of(&self, key: &RelPath) -> Option<Change> {
        let change = self.changes.get(key)?.clone();
        Some(change.under(&self.dst_base))
    }
}

/// One unit of work for a file worker.
struct Work {
    files: Vec<FileAction>,
    large: bool,
    /// Which attempt this is (from 1): the source changed during the ones before.
    attempt: u8,
}

/// What a worker hands back.
struct Finished {
    large: bool,
    attempt: u8,
    results: Vec<(FileAction, Result<Written, Error>)>,
    elapsed: std::time::Duration,
}

/// Copies files with at most `jobs` units in flight. Big files get their own unit and at most
/// half the workers while small batches are waiting, so neither kind starves the other.
/// Returns the files written (with `--verify`, for reading back; else nothing is kept).
pub(crate) async fn copy_files<S: Transport, D: Transport, O: Observer + Send + Sync + 'static>(
    src: &Arc<S>,
    dst: &Arc<D>,
    ctx: &Arc<Ctx<O>>,
    files: Vec<FileAction>,
    jobs: usize,
    totals: &mut Totals,
) -> Vec<FileAction> {
    let mut written_files = Vec::new();
    let (mut large, mut small) = schedule(files);
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut large_running = 0usize;
    // Over a link, a batch of small files spends most of its time waiting for the round trip
    // (its bytes take a few milliseconds, the answer a whole RTT): more of them keep it full.
    let units = if src.prefers_whole_file() && dst.prefers_whole_file() {
        jobs
    } else {
        jobs.max(LINK_UNITS)
    };
    loop {
        while running.len() < units && !ctx.write.cancel.is_cancelled() {
            let next = match next_lane(jobs, large_running, large.len(), small.len()) {
                Some(Lane::Large) => large.pop_front(),
                Some(Lane::Small) => small.pop_front(),
                None => None,
            };
            let Some(work) = next else { break };
            if work.large {
                large_running += 1;
            }
            let (src, dst, ctx) = (Arc::clone(src), Arc::clone(dst), Arc::clone(ctx));
            running.spawn(async move {
                for file in &work.files {
                    ctx.observer
                        .started(file.action(), &ctx.dst_path(&file.key), file.src.size);
                }
                let started = Instant::now();
                let results = match delta_basis(&ctx, &work.files) {
                    Some(basis) => copy_by_delta(&*src, &*dst, &ctx, work.files, basis).await,
                    None => copy_batch(&*src, &*dst, &ctx, work.files).await,
                };
                Finished {
                    large: work.large,
                    attempt: work.attempt,
                    results,
                    elapsed: started.elapsed(),
                }
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let finished = match joined {
            Ok(finished) => finished,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => continue,
        };
        if finished.large {
            large_running -= 1;
        }
        for (file, result) in finished.results {
            let path = ctx.dst_path(&file.key);
            match result {
                Ok(written) => {
                    let action = file.action();
                    count(totals, action);
                    totals.bytes_literal += written.literal;
                    totals.bytes_matched += written.matched;
                    let done = Done {
                        literal: written.literal,
                        matched: written.matched,
                        elapsed: finished.elapsed,
                        change: ctx.change_of(&file.key),
                    };
                    ctx.observer.done(action, &path, &done);
                    if ctx.verify {
                        written_files.push(file);
                    }
                }
                Err(Error::SourceChanged { .. }) if finished.attempt < SOURCE_CHANGE_ATTEMPTS => {
                    large.push_back(Work {
                        files: vec![file],
                        large: true,
                        attempt: finished.attempt + 1,
                    });
                }
                // Ctrl-C: the file stays as it was (or as a partial) and the run exits 130. Any
                // other "interrupted" (a lost link, a short answer) is a failure of this file.
                Err(e) if e.is_interrupted() && ctx.write.cancel.is_cancelled() => {}
                Err(e) if e.is_interrupted() => {
                    let message = format!("{path}: transfer cut short (kept as a partial)");
                    ctx.observer.failed(Some(&path), &message);
                    totals.failed += 1;
                }
                Err(e) => {
                    if source_vanished(&**src, ctx, &file, &e).await {
                        let shown = ctx.src_base.join_rel(&file.key);
                        ctx.observer
                            .warning(&format!("file has vanished: {}/{shown}", src.location()));
                        totals.vanished += 1;
                    } else {
                        ctx.observer.failed(Some(&path), &e.to_string());
                        totals.failed += 1;
                    }
                }
            }
        }
    }
    written_files
}

/// The two queues of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Large,
    Small,
}

/// Which queue feeds the next free worker: big files may take at most half the workers while
/// small batches wait (so thousands of small files are not stuck behind a few huge ones), and
/// small batches never hold back a big file when a worker is left (so the reverse holds too).
/// Either lane takes every worker once the other is empty.
fn next_lane(jobs: usize, large_running: usize, large: usize, small: usize) -> Option<Lane> {
    let large_cap = if small == 0 { jobs } else { (jobs / 2).max(1) };
    if large > 0 && large_running < large_cap {
        Some(Lane::Large)
    } else if small > 0 {
        Some(Lane::Small)
    } else {
        None
    }
}

/// Splits files into big ones (one unit each) and batches of small ones.
fn schedule(files: Vec<FileAction>) -> (VecDeque<Work>, VecDeque<Work>) {
    let mut large = VecDeque::new();
    let mut small = VecDeque::new();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for f in files {
        if f.src.size > SMALL_FILE {
            large.push_back(Work {
                files: vec![f],
                large: true,
                attempt: 1,
            });
            continue;
        }
        batch_bytes += f.src.size;
        batch.push(f);
        if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
            small.push_back(Work {
                files: std::mem::take(&mut batch),
                large: false,
                attempt: 1,
            });
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        small.push_back(Work {
            files: batch,
            large: false,
            attempt: 1,
        });
    }
    (large, small)
}

/// The basis to update a lone big file from by delta, if a delta is worth it.
fn delta_basis<O: ?Sized>(ctx: &Ctx<O>, files: &[FileAction]) -> Option<Basis> {
    let [file] = files else { return None };
    if file.src.size <= SMALL_FILE {
        None
    } else if ctx.resume && ctx.partials.contains(&file.key) {
        Some(Basis::Partial)
    } else if ctx.delta_updates && file.replaces.is_some_and(|len| len > 0) {
        Some(Basis::Existing)
    } else {
        None
    }
}

/// Sends one file as a delta against `basis` at the destination (whole, if the basis is gone).
async fn copy_by_delta<S: Transport, D: Transport, O: Observer + ?Sized>(
    src: &S,
    dst: &D,
    ctx: &Ctx<O>,
    mut files: Vec<FileAction>,
    basis: Basis,
) -> Vec<(FileAction, Result<Written, Error>)> {
    let Some(file) = files.pop() else {
        return Vec::new();
    };
    let dst_path = ctx.dst_path(&file.key);
    let signature = match dst.signature(dst_path.clone(), basis).await {
        Ok(Some(signature)) => signature,
        Ok(None) => return copy_batch(src, dst, ctx, vec![file]).await,
        Err(e) => return vec![(file, Err(e))],
    };
    let entry = sy_transport::Entry {
        path: ctx.src_path(&file.key),
        ..file.src.clone()
    };
    let result = match src.delta(entry, signature, ctx.read.clone()).await {
        Ok(mut delta) => {
            // The plan decided the copy's bits, whatever the source says now.
            delta.entry.meta.mode = file.src.meta.mode;
            dst.apply_delta(dst_path, basis, delta, ctx.write.clone())
                .await
        }
        Err(e) => Err(e),
    };
    vec![(file, result)]
}

/// Opens a batch at the source and writes it at the destination: two requests per batch.
async fn copy_batch<S: Transport, D: Transport, O: Observer + ?Sized>(
    src: &S,
    dst: &D,
    ctx: &Ctx<O>,
    files: Vec<FileAction>,
) -> Vec<(FileAction, Result<Written, Error>)> {
    let entries = files
        .iter()
        .map(|f| sy_transport::Entry {
            path: ctx.src_path(&f.key),
            ..f.src.clone()
        })
        .collect();
    let opened = src.read_files(entries, ctx.read.clone()).await;
    let mut results: Vec<Option<Result<Written, Error>>> = Vec::with_capacity(files.len());
    let mut writes = Vec::new();
    for (file, source) in files.iter().zip(opened) {
        match source {
            Ok(mut source) => {
                source.entry.meta.mode = file.src.meta.mode;
                writes.push(FileWrite {
                    path: ctx.dst_path(&file.key),
                    source,
                    clear_partial: ctx.partials.contains(&file.key),
                });
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let mut written = dst.write_files(writes, ctx.write.clone()).await.into_iter();
    files
        .into_iter()
        .zip(results)
        .map(|(file, result)| {
            let result =
                result.unwrap_or_else(|| written.next().unwrap_or(Err(Error::Interrupted)));
            (file, result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `jobs` workers from queues of the given lengths; returns how many of each run.
    fn fill(jobs: usize, large: usize, small: usize) -> (usize, usize) {
        fill_units(jobs, jobs, large, small)
    }

    /// The same with `units` in flight (more than `jobs` when a side is remote).
    fn fill_units(units: usize, jobs: usize, mut large: usize, mut small: usize) -> (usize, usize) {
        let (mut running_large, mut running_small) = (0, 0);
        while running_large + running_small < units {
            match next_lane(jobs, running_large, large, small) {
                Some(Lane::Large) => {
                    large -= 1;
                    running_large += 1;
                }
                Some(Lane::Small) => {
                    small -= 1;
                    running_small += 1;
                }
                None => break,
            }
        }
        (running_large, running_small)
    }

    #[test]
    fn big_files_leave_workers_for_small_batches() {
        assert_eq!(fill(2, 10, 100), (1, 1));
        assert_eq!(fill(8, 10, 100), (4, 4));
        assert_eq!(fill(3, 10, 100), (1, 2));
    }

    #[test]
    fn over_a_link_more_small_batches_fly_but_big_files_keep_their_bound() {
        assert_eq!(fill_units(LINK_UNITS, 2, 0, 100), (0, LINK_UNITS));
        assert_eq!(fill_units(LINK_UNITS, 2, 10, 100), (1, LINK_UNITS - 1));
        assert_eq!(fill_units(LINK_UNITS, 2, 10, 0), (2, 0));
    }

    #[test]
    fn small_batches_leave_a_worker_for_big_files() {
        assert_eq!(fill(2, 1, 1000), (1, 1));
        assert_eq!(fill(1, 1, 1000), (1, 0));
    }

    #[test]
    fn one_lane_alone_takes_every_worker() {
        assert_eq!(fill(4, 10, 0), (4, 0));
        assert_eq!(fill(4, 0, 10), (0, 4));
        assert_eq!(fill(4, 0, 0), (0, 0));
    }

    fn action(size: u64) -> FileAction {
        let entry = sy_transport::Entry {
            path: RelPath::new("f").unwrap(),
            kind: sy_transport::EntryKind::File,
            size,
            meta: sy_transport::Meta::default(),
            dev: 0,
            ino: 0,
            nlink: 1,
        };
        FileAction {
            key: RelPath::new("f").unwrap(),
            src: entry,
            replaces: None,
        }
    }

    #[test]
    fn small_files_are_batched_big_ones_travel_alone() {
        let mut files: Vec<FileAction> = (0..130).map(|_| action(10)).collect();
        files.push(action(SMALL_FILE + 1));
        files.extend((0..20).map(|_| action(100 << 10)));
        let (large, small) = schedule(files);
        assert_eq!(large.len(), 1);
        let sizes: Vec<usize> = small.iter().map(|w| w.files.len()).collect();
        // 64 files a batch, or 1 MiB, whichever comes first.
        assert_eq!(sizes, [64, 64, 13, 9]);
    }
}
