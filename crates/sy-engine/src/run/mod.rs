//! Carrying out one transfer with a pair of transports, phase by phase: scan both sides,
//! compare them into a plan, tidy what an interrupted run left, build the skeleton (what is in
//! the way goes, directories and symbolic links appear), write the files (bounded parallel
//! workers), read them back when asked, finish (hard links, attributes), delete what is
//! extraneous, then drop stale partials and set directory times. The order never exposes a
//! half-made tree, and a cancelled run stops between phases.

mod checksum;
mod dry_run;
mod tree;
mod write_times;

use std::collections::HashSet;
use std::sync::Arc;

use sy_transport::{
    Cancel, Filter, FilterRules, LeftoverKind, MetaOptions, MetaTarget, ReadOptions, RelPath, Scan,
    ScanOptions, Transport, TreeOp, WriteOptions,
};

use self::tree::{Labelled, Unmade, apply_ops, apply_reported};
use crate::SyncError;
use crate::change::Change;
use crate::observer::{Action, Observer, Phase, Planned, ProgressTo};
use crate::options::{Compare, SyncOptions};
use crate::plan::{Plan, plan};
use crate::protect::spare_protected;
use crate::relative;
use crate::resolve::Transfer;
use crate::totals::Totals;
use crate::transfer::{Ctx, SMALL_FILE, copy_files};
use crate::verify::{Unverified, verify_files};

/// Synchronizes one transfer. Failures of single entries are reported and counted; an `Err`
/// means the transfer could not run at all. `unverified` carries the files left to read back
/// from one attempt at the transfer to the next.
pub(crate) async fn sync_transfer<S, D, O>(
    src: Arc<S>,
    dst: Arc<D>,
    transfer: &Transfer,
    opts: &SyncOptions,
    observer: Arc<O>,
    unverified: &Unverified,
    cancel: &Cancel,
) -> Result<Totals, SyncError>
where
    S: Transport,
    D: Transport,
    O: Observer + 'static,
{
    let mut totals = Totals::default();
    let Some((mut src_scan, mut dst_scan)) =
        scan(&*src, &*dst, transfer, opts, &observer, &mut totals).await?
    else {
        return Ok(totals);
    };
    let (src_base, dst_base) = (&transfer.src.base, &transfer.dst.base);
    let any_time = matches!(opts.compare, Compare::Checksum | Compare::SizeOnly);
    if dst.reports_write_times() {
        let links = write_times::storable(&mut src_scan.entries, src_base);
        if links > 0 {
            observer.warning(&format!(
                "skipping {links} symbolic links and special files: {} holds only files",
                dst.location()
            ));
            totals.skipped += links as u64;
        }
        write_times::align(
            (&mut dst_scan.entries, dst_base),
            (&src_scan.entries, src_base),
            any_time,
        );
    } else if src.reports_write_times() {
        write_times::align(
            (&mut src_scan.entries, src_base),
            (&dst_scan.entries, dst_base),
            any_time,
        );
    }
    let mut plan = compare(
        &*src,
        &*dst,
        transfer,
        opts,
        (&src_scan, &dst_scan),
        &observer,
        &mut totals,
    )
    .await;
    if opts.delete {
        let protect = Filter::compile(&opts.filter.protection())?;
        spare_protected(&mut plan, &dst_scan.entries, &transfer.dst.base, &protect);
    }
    guard_deletions(
        &mut plan,
        &dst_scan,
        dst.location(),
        opts,
        &observer,
        &mut totals,
    );
    let ctx = Arc::new(Ctx {
        src_base: transfer.src.base.clone(),
        dst_base: transfer.dst.base.clone(),
        read: ReadOptions {
            inline_limit: SMALL_FILE,
            follow_links: opts.follow_links,
            cancel: cancel.clone(),
        },
        write: WriteOptions {
            meta: MetaOptions {
                times: opts.times,
                owner: opts.owner,
            },
            sparse: opts.sparse,
            cancel: cancel.clone(),
            progress: Arc::new(ProgressTo(Arc::clone(&observer))),
        },
        partials: dst_scan
            .leftovers
            .iter()
            .filter_map(|l| l.file.as_ref()?.strip_prefix(&transfer.dst.base))
            .collect(),
        delta_updates: !opts
            .whole_file
            .unwrap_or(src.prefers_whole_file() && dst.prefers_whole_file()),
        resume: opts.whole_file != Some(true),
        verify: opts.verify,
        changes: std::mem::take(&mut plan.changes),
        observer,
    });

    if opts.dry_run {
        dry_run::report(&plan, &ctx, &mut totals);
        return Ok(totals);
    }
    // Interrupted while scanning: change nothing.
    if cancel.is_cancelled() {
        return Ok(totals);
    }
    tidy(&*dst, &ctx, &dst_scan).await;
    let mut unmade = Unmade::default();
    skeleton(&*dst, &ctx, &plan, &mut totals, &mut unmade).await;
    if unmade.refuses(&ctx.dst_base) {
        return Err(SyncError::Unwritable {
            shown: dst.location().to_owned(),
        });
    }
    if cancel.is_cancelled() {
        return Ok(totals);
    }
    plan.files.retain(|f| !unmade.covers(&ctx.dst_path(&f.key)));
    let carried = if opts.verify {
        unverified.carried(&plan.files)
    } else {
        Vec::new()
    };
    let mut written =
        copy_files(&src, &dst, &ctx, plan.files.clone(), opts.jobs, &mut totals).await;
    if cancel.is_cancelled() {
        return Ok(totals);
    }
    if opts.verify {
        written.extend(carried);
        verify_files(&src, &dst, &ctx, written, opts, unverified, &mut totals).await;
        if cancel.is_cancelled() {
            return Ok(totals);
        }
    }
    finish(&*dst, &ctx, &plan, &mut totals, &mut unmade).await;
    let scan_failed = !src_scan.problems.is_empty();
    delete(&*dst, &ctx, &plan, scan_failed, &mut totals, &mut unmade).await;
    drop_stale_partials(&*dst, &ctx, &plan, &dst_scan).await;
    directory_times(&*dst, &ctx, &plan, &mut totals, &mut unmade).await;
    Ok(totals)
}

/// Lists both sides at once under the same rules (what they exclude is neither compared nor
/// deleted), except that `--delete-excluded` leaves the receiver's listing whole; protection
/// (`P`, `R`) is no scan's business (`spare_protected` applies it to the plan). `None` when the
/// filter excludes the source itself: nothing to do.
async fn scan<S, D, O>(
    src: &S,
    dst: &D,
    transfer: &Transfer,
    opts: &SyncOptions,
    observer: &Arc<O>,
    totals: &mut Totals,
) -> Result<Option<(Scan, Scan)>, SyncError>
where
    S: Transport,
    D: Transport,
    O: Observer,
{
    let options = |base: &RelPath, filter: FilterRules, follow_links: bool| ScanOptions {
        base: base.clone(),
        filter,
        follow_links,
    };
    let delete_excluded = opts.delete && opts.delete_excluded;
    observer.phase(Phase::Scanning);
    let (src_scan, dst_scan) = tokio::join!(
        src.scan(options(
            transfer.scanned(&transfer.src),
            opts.filter.for_sender(),
            opts.follow_links
        )),
        dst.scan(options(
            transfer.scanned(&transfer.dst),
            opts.filter.for_receiver(delete_excluded),
            false
        )),
    );
    let src_failed = |source| SyncError::Scan {
        side: "source",
        shown: transfer.shown.clone(),
        source: Box::new(source),
    };
    let dst_failed = |source| SyncError::Scan {
        side: "destination",
        shown: dst.location().to_owned(),
        source: Box::new(source),
    };
    let mut src_scan = src_scan.map_err(src_failed)?;
    let mut dst_scan = dst_scan.map_err(dst_failed)?;
    if src_scan.entries.is_empty() {
        // Nothing at the source's path: either the rules exclude it, or it is not there (a
        // remote source cannot be examined before connecting) — which must not pass for a
        // successful sync.
        let base = transfer.scanned(&transfer.src);
        let filter = Filter::compile(&opts.filter)?;
        if base.is_root() || !(filter.excludes(base, true) || filter.excludes(base, false)) {
            return Err(SyncError::Source {
                shown: transfer.shown.clone(),
                source: rustix::io::Errno::NOENT.into(),
            });
        }
        observer.warning(&format!(
            "source {} is excluded by the filter rules",
            transfer.shown
        ));
        return Ok(None);
    }
    if let Some(kept) = &transfer.kept {
        // `-R`: the directories above the kept path take part too, ahead of it (the scans
        // stay sorted by path).
        let (src_implied, dst_implied) = tokio::join!(
            relative::implied_entries(src, kept, opts.follow_links),
            relative::implied_entries(dst, kept, false),
        );
        src_scan
            .entries
            .splice(0..0, src_implied.map_err(src_failed)?);
        dst_scan
            .entries
            .splice(0..0, dst_implied.map_err(dst_failed)?);
    }
    totals.scanned = src_scan.entries.len() as u64;
    for problem in src_scan.problems.iter().chain(&dst_scan.problems) {
        observer.failed(None, &problem.to_string());
        totals.failed += 1;
    }
    // sy's own names carry a check, so these are an interrupted run's, never a user's files.
    for leftover in &src_scan.leftovers {
        observer.warning(&format!(
            "skipping {}: a temporary file of an interrupted sy run",
            leftover.path
        ));
        totals.skipped += 1;
    }
    Ok(Some((src_scan, dst_scan)))
}

/// Compares the two listings into a plan (by content first, when asked) and reports what
/// will be left alone, what cannot be done and what will be.
async fn compare<S, D, O>(
    src: &S,
    dst: &D,
    transfer: &Transfer,
    opts: &SyncOptions,
    (src_scan, dst_scan): (&Scan, &Scan),
    observer: &Arc<O>,
    totals: &mut Totals,
) -> Plan
where
    S: Transport,
    D: Transport,
    O: Observer,
{
    let equal_content = if opts.compare == Compare::Checksum {
        observer.phase(Phase::Checksumming);
        let scans = (src_scan.entries.as_slice(), dst_scan.entries.as_slice());
        checksum::same_content(src, dst, transfer, scans, opts, observer, totals).await
    } else {
        HashSet::new()
    };
    observer.phase(Phase::Comparing);
    let plan = plan(
        &src_scan.entries,
        &transfer.src.base,
        &dst_scan.entries,
        &transfer.dst.base,
        opts,
        &equal_content,
        src_scan.problems.is_empty(),
    );
    let bytes: u64 = plan.files.iter().map(|f| f.src.size).sum();
    tracing::info!(
        "{}: {} files ({bytes} bytes) to write, {} left alone, {} to delete",
        transfer.shown,
        plan.files.len(),
        plan.unchanged.len(),
        plan.deletions.len()
    );
    observer.planned(&Planned {
        source_entries: src_scan.entries.len() as u64,
        destination_entries: dst_scan.entries.len() as u64,
        files: plan.files.len() as u64,
        bytes,
        source_bytes: src_scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .map(|e| e.size)
            .sum(),
    });
    let (src_base, dst_base) = (&transfer.src.base, &transfer.dst.base);
    totals.unchanged = plan.unchanged.len() as u64;
    for left in &plan.unchanged {
        observer.skipped(&dst_base.join_rel(&left.key), left.why.word());
    }
    let why_blocked = if opts.delete {
        "because of the errors reading the source"
    } else {
        "(--delete allows it)"
    };
    for key in &plan.blocked {
        observer.failed(
            Some(&dst_base.join_rel(key)),
            &format!(
                "not replacing non-empty directory {} in {} {why_blocked}",
                dst_base.join_rel(key),
                dst.location()
            ),
        );
        totals.failed += 1;
    }
    for special in &plan.specials {
        observer.warning(&format!(
            "skipping {} {}",
            special.kind.describe(),
            src_base.join_rel(&special.key)
        ));
        observer.skipped(&dst_base.join_rel(&special.key), "special");
        totals.skipped += 1;
    }
    plan
}

/// A destination with fewer entries than this is too small for the warning about deleting
/// most of it to mean anything.
const DELETION_WARNING_MIN: usize = 10;

/// The guards on `--delete`: a loud warning when the run would delete more than half of a
/// destination (a source that is an unmounted disk looks empty), and `--max-delete`, which
/// leaves the deletions past its count (deepest first, so a directory goes only after what
/// was in it) and counts them.
fn guard_deletions<O: Observer>(
    plan: &mut Plan,
    dst_scan: &Scan,
    shown: &str,
    opts: &SyncOptions,
    observer: &Arc<O>,
    totals: &mut Totals,
) {
    // The destination's own directory is not one of its entries.
    let entries = dst_scan.entries.len().saturating_sub(1);
    let deletions = plan.deletions.len();
    if entries >= DELETION_WARNING_MIN && deletions * 2 > entries {
        observer.warning(&format!(
            "this run deletes {deletions} of the {entries} entries in {shown}, more than half: \
             if the source is not what was meant (an unmounted disk looks empty), stop now; \
             --max-delete N limits deletions"
        ));
    }
    let Some(max) = opts.max_delete else {
        return;
    };
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if deletions > max {
        plan.deletions.truncate(max);
        let skipped = deletions - max;
        totals.deletions_skipped = skipped as u64;
        observer.warning(&format!(
            "deletions stopped at --max-delete {max}: {skipped} extraneous entries in {shown} \
             were left"
        ));
    }
}

/// Leftovers of an interrupted run: temps become partials (kept for resuming).
async fn tidy<D: Transport, O: Observer>(dst: &D, ctx: &Ctx<O>, dst_scan: &Scan) {
    let ops = dst_scan
        .leftovers
        .iter()
        .filter(|l| l.kind == LeftoverKind::Temp)
        .map(|l| TreeOp::Tidy(l.clone()))
        .collect();
    apply_ops(dst, ctx, ops).await;
}

/// What is in the way goes, directories appear (parents first), symbolic links are made.
async fn skeleton<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    plan: &Plan,
    totals: &mut Totals,
    unmade: &mut Unmade,
) {
    let mut ops: Vec<Labelled> = Vec::new();
    for key in &plan.remove_first {
        let path = ctx.dst_path(key);
        // What is in the way is a directory where the source has something else, or the
        // other way round.
        let removed = match ctx.changes.get(key).map(|c| c.kind) {
            Some(MetaTarget::Dir) => MetaTarget::File,
            _ => MetaTarget::Dir,
        };
        let change = Change::same(removed);
        ops.push((
            TreeOp::Remove { path },
            Some((Action::Delete, Some(change))),
        ));
    }
    for key in &plan.make_writable {
        let path = ctx.dst_path(key);
        ops.push((TreeOp::MakeWritable { path }, None));
    }
    for key in &plan.mkdirs {
        let path = ctx.dst_path(key);
        ops.push((TreeOp::Mkdir { path }, reported(ctx, Action::Mkdir, key)));
    }
    for link in &plan.symlinks {
        let op = TreeOp::Symlink {
            path: ctx.dst_path(&link.key),
            target: link.target.clone(),
            meta: link.meta,
        };
        ops.push((op, reported(ctx, Action::Symlink, &link.key)));
    }
    apply_reported(dst, ctx, ops, totals, unmade).await;
}

/// Once the files are written: hard links to them, and attributes of unchanged entries.
async fn finish<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    plan: &Plan,
    totals: &mut Totals,
    unmade: &mut Unmade,
) {
    let mut ops: Vec<Labelled> = Vec::new();
    for link in &plan.hard_links {
        let op = TreeOp::HardLink {
            path: ctx.dst_path(&link.key),
            target: ctx.dst_path(&link.leader),
        };
        ops.push((op, reported(ctx, Action::HardLink, &link.key)));
    }
    for fix in &plan.fix_meta {
        let op = TreeOp::SetMeta {
            path: ctx.dst_path(&fix.key),
            target: fix.target,
            meta: fix.meta,
        };
        ops.push((op, reported(ctx, Action::Meta, &fix.key)));
    }
    apply_reported(dst, ctx, ops, totals, unmade).await;
}

/// Removes extraneous entries — unless something failed: a source that could not be read
/// completely must not cost the destination its copies.
async fn delete<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    plan: &Plan,
    scan_failed: bool,
    totals: &mut Totals,
    unmade: &mut Unmade,
) {
    if plan.deletions.is_empty() {
        return;
    }
    if totals.failed > 0 || scan_failed {
        ctx.observer
            .warning("not deleting extraneous files because of the errors above");
        return;
    }
    let ops = plan
        .deletions
        .iter()
        .map(|key| {
            let path = ctx.dst_path(key);
            (TreeOp::Remove { path }, reported(ctx, Action::Delete, key))
        })
        .collect();
    apply_reported(dst, ctx, ops, totals, unmade).await;
}

/// `action` on the entry at `key`, reported with how it changes.
fn reported<O: Observer>(
    ctx: &Ctx<O>,
    action: Action,
    key: &RelPath,
) -> Option<(Action, Option<Change>)> {
    Some((action, ctx.change_of(key)))
}

/// Partials of files that needed nothing this time are stale.
async fn drop_stale_partials<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    plan: &Plan,
    dst_scan: &Scan,
) {
    let transferred: HashSet<&RelPath> = plan.files.iter().map(|f| &f.key).collect();
    let stale = dst_scan
        .leftovers
        .iter()
        .filter(|l| {
            l.file
                .as_ref()
                .and_then(|f| f.strip_prefix(&ctx.dst_base))
                .is_none_or(|k| !transferred.contains(&k))
        })
        .filter_map(|l| {
            Some(TreeOp::DropPartial {
                file: l.file.clone()?,
            })
        })
        .collect();
    apply_ops(dst, ctx, stale).await;
}

/// Directory times last, deepest first, so nothing written later changes them.
async fn directory_times<D: Transport, O: Observer>(
    dst: &D,
    ctx: &Ctx<O>,
    plan: &Plan,
    totals: &mut Totals,
    unmade: &mut Unmade,
) {
    let ops = plan
        .dir_meta
        .iter()
        .map(|dir| {
            let op = TreeOp::SetMeta {
                path: ctx.dst_path(&dir.key),
                target: MetaTarget::Dir,
                meta: dir.meta,
            };
            // Reported when the directory existed with other attributes; not when it is new,
            // nor when only its contents changed.
            let changed = ctx.changes.get(&dir.key).is_some_and(|c| !c.created);
            (op, changed.then(|| (Action::Meta, ctx.change_of(&dir.key))))
        })
        .collect();
    apply_reported(dst, ctx, ops, totals, unmade).await;
}
