//! A dry run: every action of the plan reported as done, nothing changed.

use sy_transport::RelPath;

use crate::observer::{Action, Done, Observer};
use crate::plan::Plan;
use crate::totals::{Totals, count};
use crate::transfer::Ctx;

/// Reports what the plan would do, as if it had been done.
pub(super) fn report<O: Observer>(plan: &Plan, ctx: &Ctx<O>, totals: &mut Totals) {
    let done = |action: Action, key: &RelPath, totals: &mut Totals| {
        let done = Done {
            change: ctx.change_of(key),
            ..Done::default()
        };
        ctx.observer.done(action, &ctx.dst_path(key), &done);
        count(totals, action);
    };
    for key in &plan.remove_first {
        ctx.observer
            .done(Action::Delete, &ctx.dst_path(key), &Done::default());
    }
    for key in &plan.mkdirs {
        done(Action::Mkdir, key, totals);
    }
    for link in &plan.symlinks {
        done(Action::Symlink, &link.key, totals);
    }
    for f in &plan.files {
        done(f.action(), &f.key, totals);
        totals.bytes_planned += f.src.size;
    }
    for link in &plan.hard_links {
        done(Action::HardLink, &link.key, totals);
    }
    for fix in &plan.fix_meta {
        done(Action::Meta, &fix.key, totals);
    }
    for dir in &plan.dir_meta {
        if ctx.changes.get(&dir.key).is_some_and(|c| !c.created) {
            done(Action::Meta, &dir.key, totals);
        }
    }
    for key in &plan.deletions {
        done(Action::Delete, key, totals);
    }
}
