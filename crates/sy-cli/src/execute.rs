//! Carrying out a plan with a pair of transports: bounded parallel workers, small files in
//! batches, big files on their own, and an order that never exposes a half-made tree.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context, Result};
use sy_transport::{
    Cancel, LeftoverKind, MetaOptions, MetaTarget, ReadOptions, RelPath, ScanOptions, Transport,
    TreeOp, WriteOptions,
};

use crate::config::{Compare, Job, SyncOptions};
use crate::observer::{Action, Done, Observer, Phase, Planned};
use crate::plan::{Plan, checksum_candidates, plan};
use crate::transfer::{Ctx, SMALL_FILE, copy_files};
use crate::verify::verify_files;

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
    /// Files read back at the destination with the source's digest (`--verify`).
    pub verified: u64,
    /// Protocol bytes to and from a remote agent, before and after compression.
    pub traffic: Traffic,
}

/// What crossed the connection to a remote agent (all zero when both sides are local).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent, as encoded before compression.
    pub sent: u64,
    /// Bytes sent on the wire.
    pub wire_sent: u64,
    /// Bytes received, after decompression.
    pub received: u64,
    /// Bytes received on the wire.
    pub wire_received: u64,
}

impl Traffic {
    /// Adds another connection's counts.
    pub fn add(&mut self, o: &Traffic) {
        self.sent += o.sent;
        self.wire_sent += o.wire_sent;
        self.received += o.received;
        self.wire_received += o.wire_received;
    }
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
        self.verified += o.verified;
        self.traffic.add(&o.traffic);
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
    observer.phase(Phase::Scanning);
    // The same rules on both sides: what they exclude is neither compared nor deleted.
    let (src_scan, dst_scan) = tokio::join!(
        src.scan(scan(&job.src.base, opts.follow_links)),
        dst.scan(scan(&job.dst.base, false)),
    );
    let src_scan = src_scan.with_context(|| format!("scanning source {}", job.shown))?;
    let dst_scan = dst_scan.with_context(|| format!("scanning destination {}", dst.location()))?;
    if src_scan.entries.is_empty() {
        observer.warning(&format!(
            "source {} is excluded by the filter rules",
            job.shown
        ));
        return Ok(totals);
    }
    totals.scanned = src_scan.entries.len() as u64;
    let scan_failed = !src_scan.problems.is_empty();
    for problem in src_scan.problems.iter().chain(&dst_scan.problems) {
        observer.failed(None, &problem.to_string());
        totals.failed += 1;
    }

    let equal_content = if opts.compare == Compare::Checksum {
        observer.phase(Phase::Checksumming);
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
    observer.phase(Phase::Comparing);
    let plan = plan(
        &src_scan.entries,
        &job.src.base,
        &dst_scan.entries,
        &job.dst.base,
        opts,
        &equal_content,
    );
    totals.unchanged = plan.unchanged.len() as u64;
    for (key, why) in &plan.unchanged {
        observer.skipped(&job.dst.base.join_rel(key), why.word());
    }
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
        observer.skipped(&job.dst.base.join_rel(key), "special");
        totals.skipped += 1;
    }
    tracing::info!(
        "{}: {} files ({} bytes) to write, {} left alone, {} to delete",
        job.shown,
        plan.files.len(),
        plan.files.iter().map(|f| f.src.size).sum::<u64>(),
        plan.unchanged.len(),
        plan.deletions.len()
    );
    observer.planned(&Planned {
        source_entries: src_scan.entries.len() as u64,
        destination_entries: dst_scan.entries.len() as u64,
        files: plan.files.len() as u64,
        bytes: plan.files.iter().map(|f| f.src.size).sum(),
        source_bytes: src_scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .map(|e| e.size)
            .sum(),
    });

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
        verify: opts.verify,
        observer,
    });

    if opts.dry_run {
        report_dry_run(&plan, &ctx, &mut totals);
        return Ok(totals);
    }
    // Interrupted while scanning: change nothing.
    if cancel.is_cancelled() {
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

    let written = copy_files(&src, &dst, &ctx, plan.files.clone(), opts.jobs, &mut totals).await;
    if cancel.is_cancelled() {
        return Ok(totals);
    }
    if opts.verify {
        verify_files(&src, &dst, &ctx, written, opts, &mut totals).await;
        if cancel.is_cancelled() {
            return Ok(totals);
        }
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

pub(crate) fn count(totals: &mut Totals, action: Action) {
    match action {
        Action::Create => totals.created += 1,
        Action::Update => totals.updated += 1,
        Action::Mkdir => totals.dirs += 1,
        Action::Symlink | Action::HardLink => totals.links += 1,
        Action::Meta => totals.meta += 1,
        Action::Delete => totals.deleted += 1,
    }
}
