//! Protection from `--delete` (rsync's `P`/`R` rules): a planned deletion the protection
//! rules exclude is dropped, with everything beneath it (a protected directory is kept whole)
//! and the directories above it (which cannot go while it stays). Matched as rsync's
//! receiving side matches them, with the destination entry's path beneath the root.

use std::collections::{HashMap, HashSet};

use sy_transport::{Entry, Filter, RelPath};

use crate::plan::Plan;

/// Drops from `plan` the deletions `protect` (compiled from `FilterRules::protection`)
/// forbids; `dst` is the destination's listing, `dst_base` its transfer base.
pub(crate) fn spare_protected(
    plan: &mut Plan,
    dst: &[Entry],
    dst_base: &RelPath,
    protect: &Filter,
) {
    if plan.deletions.is_empty() {
        return;
    }
    let doomed: HashSet<&RelPath> = plan.deletions.iter().collect();
    let by_key: HashMap<RelPath, &Entry> = dst
        .iter()
        .filter_map(|e| Some((e.path.strip_prefix(dst_base)?, e)))
        .filter(|(key, _)| doomed.contains(key))
        .collect();
    let protected: HashSet<RelPath> = by_key
        .iter()
        .filter(|(_, e)| protect.excludes(&e.path, e.is_dir()))
        .map(|(key, _)| key.clone())
        .collect();
    if protected.is_empty() {
        return;
    }
    let holders: HashSet<RelPath> = protected
        .iter()
        .flat_map(|key| std::iter::successors(key.parent(), RelPath::parent))
        .collect();
    let spared = |key: &RelPath| {
        holders.contains(key)
            || std::iter::successors(Some(key.clone()), RelPath::parent)
                .any(|k| protected.contains(&k))
    };
    let (kept, deleted): (Vec<RelPath>, Vec<RelPath>) =
        plan.deletions.drain(..).partition(|key| spared(key));
    plan.deletions = deleted;
    for key in kept {
        plan.changes.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use sy_transport::{EntryKind, FilterRules, Meta, MetaTarget, RuleKind, Timestamp};

    use super::*;
    use crate::change::Change;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: p(path),
            kind,
            size: 0,
            meta: Meta {
                mode: 0o644,
                mtime: Timestamp { secs: 1, nanos: 0 },
                uid: 0,
                gid: 0,
            },
            dev: 1,
            ino: 0,
            nlink: 1,
        }
    }

    /// The deletions left of `doomed` (all in the destination, beneath `base`) under `rules`.
    fn left(rules: &[(RuleKind, &str)], base: &str, doomed: &[(&str, bool)]) -> Vec<String> {
        let protect = Filter::compile(
            &FilterRules {
                rules: rules.iter().map(|(k, s)| (*k, (*s).to_owned())).collect(),
                gitignore: false,
            }
            .protection(),
        )
        .unwrap();
        let base = if base.is_empty() {
            RelPath::root()
        } else {
            p(base)
        };
        let dst: Vec<Entry> = doomed
            .iter()
            .map(|(path, is_dir)| {
                let kind = if *is_dir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                entry(&base.join_rel(&p(path)).to_string(), kind)
            })
            .collect();
        let mut plan = Plan::default();
        for (path, _) in doomed {
            plan.deletions.push(p(path));
            plan.changes.insert(p(path), Change::same(MetaTarget::File));
        }
        spare_protected(&mut plan, &dst, &base, &protect);
        for key in &plan.deletions {
            assert!(plan.changes.contains_key(key));
        }
        assert_eq!(plan.changes.len(), plan.deletions.len());
        plan.deletions.iter().map(ToString::to_string).collect()
    }

    const TREE: &[(&str, bool)] = &[
        ("old/keep", false),
        ("old/x", false),
        ("old", true),
        ("kept/a", false),
        ("kept", true),
        ("top.log", false),
    ];

    #[test]
    fn a_protected_entry_keeps_its_directories_and_a_protected_directory_its_contents() {
        let rules = [(RuleKind::Protect, "keep"), (RuleKind::Protect, "kept/")];
        assert_eq!(left(&rules, "", TREE), ["old/x", "top.log"]);
    }

    #[test]
    fn risk_before_protect_lets_a_match_go_and_other_rules_do_not_count() {
        let rules = [
            (RuleKind::Exclude, "top.log"),
            (RuleKind::Risk, "old/keep"),
            (RuleKind::Protect, "keep"),
            (RuleKind::Protect, "*.log"),
        ];
        assert_eq!(
            left(&rules, "", TREE),
            ["old/keep", "old/x", "old", "kept/a", "kept"]
        );
    }

    #[test]
    fn patterns_match_the_path_beneath_the_root_not_the_base() {
        let rules = [(RuleKind::Protect, "/src/top.log")];
        assert_eq!(left(&rules, "src", TREE).len(), 5);
        assert_eq!(left(&rules, "", TREE).len(), 6);
    }
}
