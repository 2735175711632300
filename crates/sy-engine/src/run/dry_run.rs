//! A dry run: every action of the plan reported as done, nothing changed.

use crate::observer::{Action, Done, Observer};
use crate::plan::Plan;
use crate::totals::Totals;
use crate::transfer::Ctx;

/// Reports what the plan would do, as if it had been done.
pub(super) fn report<O: Observer>(plan: &Plan, ctx: &Ctx<O>, totals: &mut Totals) {
    let done = Done::default();
    let obs = &ctx.observer;
    for key in &plan.remove_first {
        obs.done(Action::Delete, &ctx.dst_path(key), &done);
    }
    for key in &plan.mkdirs {
        obs.done(Action::Mkdir, &ctx.dst_path(key), &done);
        totals.dirs += 1;
    }
    for link in &plan.symlinks {
        obs.done(Action::Symlink, &ctx.dst_path(&link.key), &done);
        totals.links += 1;
    }
    for f in &plan.files {
        let action = if f.replaces.is_some() {
            totals.files_written += 1;
            Action::Update
        } else {
            totals.files_written += 1;
            totals.files_created += 1;
            Action::Create
        };
        obs.done(action, &ctx.dst_path(&f.key), &done);
    }
    for link in &plan.hard_links {
        obs.done(Action::HardLink, &ctx.dst_path(&link.key), &done);
        totals.links += 1;
    }
    for fix in &plan.fix_meta {
        obs.done(Action::Meta, &ctx.dst_path(&fix.key), &done);
        totals.meta += 1;
    }
    for key in &plan.deletions {
        obs.done(Action::Delete, &ctx.dst_path(key), &done);
        totals.deleted += 1;
    }
}
