//! Carrying out a plan with a pair of transports: bounded parallel workers, small files in
//! batches, big files on their own, and an order that never exposes a half-made tree.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use sy_transport::{
    Basis, Cancel, Error, FileWrite, FilterRules, LeftoverKind, MetaOptions, MetaTarget,
    ReadOptions, RelPath, ScanOptions, Transport, TreeOp, WriteOptions, Written,
};
use tokio::task::JoinSet;

use crate::config::{Compare, Job, SyncOptions};
use crate::observer::{Action, Done, Observer};
use crate::plan::{FileAction, Plan, checksum_candidates, plan};

/// Files up to this size travel in memory, many to a batch.
const SMALL_FILE: u64 = 128 << 10;
/// A batch of small files ends at this many files…
const BATCH_FILES: usize = 64;
/// …or this many bytes.
const BATCH_BYTES: u64 = 2 << 20;
/// Tree operations per request.
const OPS_PER_BATCH: usize = 1024;

/// Counters for `--stats` and the JSON summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Entries found in the source.
    pub scanned: u64,
    /// Files created.
    pub created: u64,
    /// Files rewritten.
    pub updated: u64,
    /// Directories created.
    pub dirs: u64,
    /// Symbolic and hard links made.
    pub links: u64,
    /// Entries whose attributes alone were fixed.
    pub meta: u64,
    /// Entries deleted.
    pub deleted: u64,
    /// Entries left alone because they were equal.
    pub unchanged: u64,
    /// Special files skipped.
    pub skipped: u64,
    /// Failures (each reported).
    pub failed: u64,
    /// Content bytes sent from the source.
    pub literal: u64,
    /// Content bytes reused at the destination.
    pub matched: u64,
}

impl Totals {
    /// Adds another job's counts.
    pub fn add(&mut self, o: &Totals) {
        self.scanned += o.scanned;
        self.created += o.created;
        self.updated += o.updated;
        self.dirs += o.dirs;
        self.links += o.links;
        self.meta += o.meta;
        self.deleted += o.deleted;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.literal += o.literal;
        self.matched += o.matched;
    }
}

/// Everything the workers share.
struct Ctx<O: ?Sized> {
    src_base: RelPath,
    dst_base: RelPath,
    read: ReadOptions,
    write: WriteOptions,
    partials: HashSet<RelPath>,
    /// Update changed files by delta against their old version (not when both sides are
    /// local, unless asked: see docs/delta-vs-whole.md).
    delta_updates: bool,
    /// Resume from kept partials by delta (everything but `-W`).
    resume: bool,
    observer: Arc<O>,
}

impl<O: Observer + ?Sized> Ctx<O> {
    fn src_path(&self, key: &RelPath) -> RelPath {
        self.src_base.join_rel(key)
    }

    fn dst_path(&self, key: &RelPath) -> RelPath {
        self.dst_base.join_rel(key)
    }
}

/// Synchronizes one job. Failures of single entries are reported and counted; an `Err` means
/// the job could not run at all.
pub async fn sync_job<S, D, O>(
    src: Arc<S>,
    dst: Arc<D>,
    job: &Job,
    opts: &SyncOptions,
    observer: Arc<O>,
    cancel: &Cancel,
) -> Result<Totals>
where
    S: Transport,
    D: Transport,
    O: Observer + Send + Sync + 'static,
{
    let mut totals = Totals::default();
    let scan = |base: &RelPath, follow_links: bool| ScanOptions {
        base: base.clone(),
        filter: opts.filter.clone(),
        follow_links,
    };
    let (src_scan, dst_scan) = tokio::join!(
        src.scan(scan(&job.src.base, opts.follow_links)),
        dst.scan(ScanOptions {
            filter: FilterRules {
                gitignore: false,
                ..opts.filter.clone()
            },
            ..scan(&job.dst.base, false)
        }),
    );
    let src_scan = src_scan.with_context(|| format!("scanning source {}", job.shown))?;
    let dst_scan = dst_scan.with_context(|| format!("scanning destination {}", dst.location()))?;
    if src_scan.entries.is_empty() {
        anyhow::bail!("source {} is excluded by the filter rules", job.shown);
    }
    totals.scanned = src_scan.entries.len() as u64;
    let scan_failed = !src_scan.problems.is_empty();
    for problem in src_scan.problems.iter().chain(&dst_scan.problems) {
        observer.failed(None, &problem.to_string());
        totals.failed += 1;
    }

    let equal_content = if opts.compare == Compare::Checksum {
        same_content(
            &*src,
            &*dst,
            job,
            &src_scan.entries,
            &dst_scan.entries,
            opts,
            &observer,
            &mut totals,
        )
        .await
    } else {
        HashSet::new()
    };
    let plan = plan(
        &src_scan.entries,
        &job.src.base,
        &dst_scan.entries,
        &job.dst.base,
        opts,
        &equal_content,
    );
    totals.unchanged = plan.unchanged;
    for key in &plan.blocked {
        observer.failed(
            Some(&job.dst.base.join_rel(key)),
            &format!(
                "not replacing non-empty directory {} in {} (--delete allows it)",
                job.dst.base.join_rel(key),
                dst.location()
            ),
        );
        totals.failed += 1;
    }
    for (key, kind) in &plan.specials {
        observer.warning(&format!(
            "skipping {} {}",
            kind.describe(),
            job.src.base.join_rel(key)
        ));
        totals.skipped += 1;
    }
    let bytes: u64 = plan.files.iter().map(|f| f.src.size).sum();
    observer.planned(plan.files.len() as u64, bytes);

    let ctx = Arc::new(Ctx {
        src_base: job.src.base.clone(),
        dst_base: job.dst.base.clone(),
        read: ReadOptions {
            inline_limit: SMALL_FILE,
            follow_links: opts.follow_links,
            cancel: cancel.clone(),
        },
        write: WriteOptions {
            meta: MetaOptions {
                times: true,
                owner: opts.owner,
            },
            sparse: opts.sparse,
            cancel: cancel.clone(),
            progress: observer.clone(),
        },
        partials: dst_scan
            .leftovers
            .iter()
            .filter_map(|l| l.file.as_ref()?.strip_prefix(&job.dst.base))
            .collect(),
        delta_updates: !opts
            .whole_file
            .unwrap_or(src.prefers_whole_file() && dst.prefers_whole_file()),
        resume: opts.whole_file != Some(true),
        observer,
    });

    if opts.dry_run {
        report_dry_run(&plan, &ctx, &mut totals);
        return Ok(totals);
    }

    // Leftovers of an interrupted run: temps become partials (kept for resuming).
    let tidy: Vec<TreeOp> = dst_scan
        .leftovers
        .iter()
        .filter(|l| l.kind == LeftoverKind::Temp)
        .map(|l| TreeOp::Tidy(l.clone()))
        .collect();
    apply_ops(&*dst, &ctx, tidy).await;

    // The skeleton first: what is in the way goes, directories appear (parents first).
    let mut skeleton = Vec::new();
    for key in &plan.remove_first {
        skeleton.push((
            TreeOp::Remove {
                path: ctx.dst_path(key),
            },
            Some((Action::Delete, key)),
        ));
    }
    for key in &plan.make_writable {
        skeleton.push((
            TreeOp::MakeWritable {
                path: ctx.dst_path(key),
            },
            None,
        ));
    }
    for key in &plan.mkdirs {
        skeleton.push((
            TreeOp::Mkdir {
                path: ctx.dst_path(key),
            },
            Some((Action::Mkdir, key)),
        ));
    }
    for (key, target, meta, _) in &plan.symlinks {
        skeleton.push((
            TreeOp::Symlink {
                path: ctx.dst_path(key),
                target: target.clone(),
                meta: *meta,
            },
            Some((Action::Symlink, key)),
        ));
    }
    apply_reported(&*dst, &ctx, skeleton, &mut totals).await;
    if cancel.is_cancelled() {
        return Ok(totals);
    }

    copy_files(&src, &dst, &ctx, plan.files.clone(), opts.jobs, &mut totals).await;
    if cancel.is_cancelled() {
        return Ok(totals);
    }

    let mut finish = Vec::new();
    for (key, leader) in &plan.hard_links {
        finish.push((
            TreeOp::HardLink {
                path: ctx.dst_path(key),
                target: ctx.dst_path(leader),
            },
            Some((Action::HardLink, key)),
        ));
    }
    for (key, target, meta) in &plan.fix_meta {
        finish.push((
            TreeOp::SetMeta {
                path: ctx.dst_path(key),
                target: *target,
                meta: *meta,
            },
            Some((Action::Meta, key)),
        ));
    }
    apply_reported(&*dst, &ctx, finish, &mut totals).await;

    if !plan.deletions.is_empty() {
        if totals.failed > 0 || scan_failed {
            ctx.observer
                .warning("not deleting extraneous files because of the errors above");
        } else {
            let deletions = plan
                .deletions
                .iter()
                .map(|key| {
                    (
                        TreeOp::Remove {
                            path: ctx.dst_path(key),
                        },
                        Some((Action::Delete, key)),
                    )
                })
                .collect();
            apply_reported(&*dst, &ctx, deletions, &mut totals).await;
        }
    }

    // Partials of files that needed nothing this time are stale.
    let transferred: HashSet<&RelPath> = plan.files.iter().map(|f| &f.key).collect();
    let stale: Vec<TreeOp> = dst_scan
        .leftovers
        .iter()
        .filter(|l| {
            l.file
                .as_ref()
                .and_then(|f| f.strip_prefix(&job.dst.base))
                .is_none_or(|k| !transferred.contains(&k))
        })
        .filter_map(|l| {
            Some(TreeOp::DropPartial {
                file: l.file.clone()?,
            })
        })
        .collect();
    apply_ops(&*dst, &ctx, stale).await;

    // Directory times last, deepest first, so nothing written later changes them.
    let dir_meta = plan
        .dir_meta
        .iter()
        .map(|(key, meta)| {
            (
                TreeOp::SetMeta {
                    path: ctx.dst_path(key),
                    target: MetaTarget::Dir,
                    meta: *meta,
                },
                None,
            )
        })
        .collect();
    apply_reported(&*dst, &ctx, dir_meta, &mut totals).await;
    Ok(totals)
}

/// `-c`: digests of same-size pairs on both sides at once; returns the keys that match.
#[allow(clippy::too_many_arguments)]
async fn same_content<S: Transport, D: Transport, O: Observer + ?Sized>(
    src: &S,
    dst: &D,
    job: &Job,
    src_entries: &[sy_transport::Entry],
    dst_entries: &[sy_transport::Entry],
    opts: &SyncOptions,
    observer: &Arc<O>,
    totals: &mut Totals,
) -> HashSet<RelPath> {
    let mut equal = HashSet::new();
    let candidates = checksum_candidates(src_entries, &job.src.base, dst_entries, &job.dst.base);
    for chunk in candidates.chunks(256) {
        let src_paths = chunk.iter().map(|(_, s, _)| s.path.clone()).collect();
        let dst_paths = chunk.iter().map(|(_, _, d)| d.path.clone()).collect();
        let (a, b) = tokio::join!(
            src.checksums(src_paths, opts.follow_links),
            dst.checksums(dst_paths, false)
        );
        for (((key, _, _), a), b) in chunk.iter().zip(a).zip(b) {
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => {
                    equal.insert(key.clone());
                }
                (Ok(_), Ok(_)) => {}
                (Err(e), _) | (_, Err(e)) => {
                    observer.failed(Some(key), &e.to_string());
                    totals.failed += 1;
                }
            }
        }
    }
    equal
}

fn report_dry_run<O: Observer + ?Sized>(plan: &Plan, ctx: &Ctx<O>, totals: &mut Totals) {
    let done = Done::default();
    let obs = &ctx.observer;
    for key in &plan.remove_first {
        obs.done(Action::Delete, &ctx.dst_path(key), &done);
    }
    for key in &plan.mkdirs {
        obs.done(Action::Mkdir, &ctx.dst_path(key), &done);
        totals.dirs += 1;
    }
    for (key, ..) in &plan.symlinks {
        obs.done(Action::Symlink, &ctx.dst_path(key), &done);
        totals.links += 1;
    }
    for f in &plan.files {
        let action = if f.replaces.is_some() {
            totals.updated += 1;
            Action::Update
        } else {
            totals.created += 1;
            Action::Create
        };
        obs.done(action, &ctx.dst_path(&f.key), &done);
    }
    for (key, _) in &plan.hard_links {
        obs.done(Action::HardLink, &ctx.dst_path(key), &done);
        totals.links += 1;
    }
    for (key, ..) in &plan.fix_meta {
        obs.done(Action::Meta, &ctx.dst_path(key), &done);
        totals.meta += 1;
    }
    for key in &plan.deletions {
        obs.done(Action::Delete, &ctx.dst_path(key), &done);
        totals.deleted += 1;
    }
}

/// Applies operations in batches; failures are reported, successes counted under `action`.
async fn apply_reported<D: Transport, O: Observer + ?Sized>(
    dst: &D,
    ctx: &Ctx<O>,
    ops: Vec<(TreeOp, Option<(Action, &RelPath)>)>,
    totals: &mut Totals,
) {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<_> = ops.by_ref().take(OPS_PER_BATCH).collect();
        let (tree_ops, labels): (Vec<TreeOp>, Vec<_>) = batch.into_iter().unzip();
        let paths: Vec<RelPath> = tree_ops.iter().map(op_path).collect();
        let results = dst.apply(tree_ops, ctx.write.meta).await;
        for ((result, label), path) in results.into_iter().zip(labels).zip(paths) {
            match (result, label) {
                (Ok(()), Some((action, _))) => {
                    count(totals, action);
                    ctx.observer.done(action, &path, &Done::default());
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
async fn apply_ops<D: Transport, O: Observer + ?Sized>(dst: &D, ctx: &Ctx<O>, ops: Vec<TreeOp>) {
    for batch in ops.chunks(OPS_PER_BATCH) {
        for result in dst.apply(batch.to_vec(), ctx.write.meta).await {
            if let Err(e) = result {
                ctx.observer.warning(&e.to_string());
            }
        }
    }
}

fn op_path(op: &TreeOp) -> RelPath {
    match op {
        TreeOp::Mkdir { path }
        | TreeOp::Symlink { path, .. }
        | TreeOp::HardLink { path, .. }
        | TreeOp::SetMeta { path, .. }
        | TreeOp::MakeWritable { path }
        | TreeOp::Remove { path }
        | TreeOp::DropPartial { file: path } => path.clone(),
        TreeOp::Tidy(l) => l.path.clone(),
    }
}

fn count(totals: &mut Totals, action: Action) {
    match action {
        Action::Create => totals.created += 1,
        Action::Update => totals.updated += 1,
        Action::Mkdir => totals.dirs += 1,
        Action::Symlink | Action::HardLink => totals.links += 1,
        Action::Meta => totals.meta += 1,
        Action::Delete => totals.deleted += 1,
    }
}

/// One unit of work for a file worker.
struct Work {
    files: Vec<FileAction>,
    large: bool,
    /// A second attempt after the source changed during the first.
    retry: bool,
}

/// What a worker hands back.
struct Finished {
    large: bool,
    retry: bool,
    results: Vec<(FileAction, Result<Written, Error>)>,
    elapsed: std::time::Duration,
}

/// Copies files with at most `jobs` units in flight. Big files get their own unit and at most
/// half the workers while small batches are waiting, so neither kind starves the other.
async fn copy_files<S: Transport, D: Transport, O: Observer + Send + Sync + 'static>(
    src: &Arc<S>,
    dst: &Arc<D>,
    ctx: &Arc<Ctx<O>>,
    files: Vec<FileAction>,
    jobs: usize,
    totals: &mut Totals,
) {
    let (mut large, mut small) = schedule(files);
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut large_running = 0usize;
    loop {
        while running.len() < jobs && !ctx.write.cancel.is_cancelled() {
            let large_cap = if small.is_empty() {
                jobs
            } else {
                (jobs / 2).max(1)
            };
            let next = if large_running < large_cap && !large.is_empty() {
                large.pop_front()
            } else {
                small.pop_front().or_else(|| large.pop_front())
            };
            let Some(work) = next else { break };
            if work.large {
                large_running += 1;
            }
            let (src, dst, ctx) = (Arc::clone(src), Arc::clone(dst), Arc::clone(ctx));
            running.spawn(async move {
                let started = Instant::now();
                let results = match delta_basis(&ctx, &work.files) {
                    Some(basis) => copy_by_delta(&*src, &*dst, &ctx, work.files, basis).await,
                    None => copy_batch(&*src, &*dst, &ctx, work.files).await,
                };
                Finished {
                    large: work.large,
                    retry: work.retry,
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
                    let action = if file.replaces.is_some() {
                        Action::Update
                    } else {
                        Action::Create
                    };
                    count(totals, action);
                    totals.literal += written.literal;
                    totals.matched += written.matched;
                    let done = Done {
                        literal: written.literal,
                        matched: written.matched,
                        elapsed: finished.elapsed,
                    };
                    ctx.observer.done(action, &path, &done);
                }
                Err(Error::SourceChanged { .. }) if !finished.retry => {
                    large.push_back(Work {
                        files: vec![file],
                        large: true,
                        retry: true,
                    });
                }
                Err(e) if e.is_interrupted() => {}
                Err(e) => {
                    ctx.observer.failed(Some(&path), &e.to_string());
                    totals.failed += 1;
                }
            }
        }
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
                retry: false,
            });
            continue;
        }
        batch_bytes += f.src.size;
        batch.push(f);
        if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
            small.push_back(Work {
                files: std::mem::take(&mut batch),
                large: false,
                retry: false,
            });
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        small.push_back(Work {
            files: batch,
            large: false,
            retry: false,
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
        Ok(delta) => {
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
            Ok(source) => {
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
