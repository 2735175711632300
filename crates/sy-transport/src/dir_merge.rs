//! Per-directory merge files (rsync's `: FILE` rules): the rules each scanned directory's FILE
//! adds are in force in that directory and beneath it, at the place of the dir-merge rule, the
//! nearest directory's before those inherited from above; a `!` line drops the inherited ones.
//! A line that is not a rule is skipped with a warning naming the file and line.

use std::path::Path;
use std::sync::Arc;

use crate::filter::Rule;
use crate::{Filter, FilterLine, RelPath, RuleKind};

/// The rules one directory's merge file added, and those of the directories above.
#[derive(Debug)]
struct Node {
    rules: Vec<Rule>,
    parent: Option<Arc<Node>>,
}

/// The rules from per-directory merge files in force in one directory: for each dir-merge
/// rule of the filter, in order, the chain of files read from the root down to here.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergedRules {
    chains: Vec<Option<Arc<Node>>>,
}

impl MergedRules {
    /// The rules of the filter's `i`th dir-merge rule, the nearest directory's first.
    pub(crate) fn rules(&self, i: usize) -> impl Iterator<Item = &Rule> {
        let mut node = self.chains.get(i).and_then(Option::as_deref);
        std::iter::from_fn(move || {
            let here = node?;
            node = here.parent.as_deref();
            Some(here)
        })
        .flat_map(|n| n.rules.iter())
    }

    /// The rules in force in `dir` (shown to the user as `shown_dir`), a directory beneath
    /// the one these are in force in: these, and what `dir`'s merge files add. `read(name)`
    /// is the text of `dir`'s file `name`, `None` when it has none.
    pub(crate) fn enter(
        &self,
        filter: &Filter,
        dir: &RelPath,
        shown_dir: &Path,
        mut read: impl FnMut(&str) -> Option<Vec<u8>>,
    ) -> MergedRules {
        let names = filter.merge_files();
        if names.is_empty() {
            return MergedRules::default();
        }
        let chains = names.iter().enumerate().map(|(i, name)| {
            let inherited = self.chains.get(i).cloned().flatten();
            let Some(text) = read(name) else {
                return inherited;
            };
            let shown = shown_dir.join(name).display().to_string();
            let (rules, cleared) = parse(&text, dir, &shown);
            let parent = if cleared { None } else { inherited };
            Some(Arc::new(Node { rules, parent }))
        });
        MergedRules {
            chains: chains.collect(),
        }
    }
}

/// Rules read from one per-directory merge file at most: each is a compiled pattern tried for
/// every entry beneath, so a file in a tree someone else controls must not make a scan hold or
/// try millions.
pub(crate) const MAX_MERGE_RULES: usize = 10_000;

/// The rules of a merge file in `dir`, and whether it clears those inherited (`!`).
fn parse(text: &[u8], dir: &RelPath, shown: &str) -> (Vec<Rule>, bool) {
    let text = String::from_utf8_lossy(text);
    let mut rules = Vec::new();
    let mut cleared = false;
    for (n, line) in FilterLine::parse_lines(&text) {
        if rules.len() == MAX_MERGE_RULES {
            tracing::warn!(
                "{shown}:{n}: more than {MAX_MERGE_RULES} rules; the rest of the file is skipped"
            );
            break;
        }
        match line {
            Ok(FilterLine::Rule(RuleKind::DirMerge, _) | FilterLine::Merge(_)) => {
                tracing::warn!(
                    "{shown}:{n}: merge rules are not read from a per-directory merge file; \
                     line skipped"
                );
            }
            Ok(FilterLine::Rule(kind, pattern)) => match Rule::compile(kind, &pattern, Some(dir)) {
                Ok(rule) => rules.push(rule),
                Err(e) => tracing::warn!("{shown}:{n}: {e}; line skipped"),
            },
            Ok(FilterLine::Clear) => {
                rules.clear();
                cleared = true;
            }
            Err(e) => tracing::warn!("{shown}:{n}: {e}; line skipped"),
        }
    }
    (rules, cleared)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::FilterRules;

    #[test]
    fn a_merge_file_gives_at_most_its_share_of_rules() {
        let text = "- *.x\n".repeat(MAX_MERGE_RULES + 5);
        let (rules, _) = parse(text.as_bytes(), &RelPath::root(), "big/.f");
        assert_eq!(rules.len(), MAX_MERGE_RULES);
    }

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    /// The filter `rules`, and the merged rules in force in `dir` after reading `files`
    /// (directory, text of its `.f`) from the root down.
    fn walk(
        rules: &[(RuleKind, &str)],
        files: &[(&str, &str)],
        dir: &str,
    ) -> (Filter, MergedRules) {
        let filter = Filter::compile(&FilterRules {
            rules: rules.iter().map(|(k, p)| (*k, (*p).to_owned())).collect(),
            gitignore: false,
        })
        .unwrap();
        let texts: HashMap<&str, &str> = files.iter().copied().collect();
        let mut merged = MergedRules::default();
        let mut here = String::new();
        for part in std::iter::once("").chain(dir.split('/').filter(|s| !s.is_empty())) {
            if !part.is_empty() {
                if !here.is_empty() {
                    here.push('/');
                }
                here.push_str(part);
            }
            let rel = if here.is_empty() {
                RelPath::root()
            } else {
                p(&here)
            };
            merged = merged.enter(&filter, &rel, Path::new("/t"), |name| {
                assert_eq!(name, ".f");
                texts.get(here.as_str()).map(|t| t.as_bytes().to_vec())
            });
        }
        (filter, merged)
    }

    fn decision(f: &(Filter, MergedRules), path: &str) -> Option<RuleKind> {
        f.0.decide_in(&p(path), false, &f.1)
    }

    #[test]
    fn a_directory_s_rules_apply_beneath_it_nearest_first() {
        let files = [("", "- *.log\n"), ("sub", "+ keep.log\n- *.txt\n")];
        let rules = [(RuleKind::DirMerge, ".f")];
        let top = walk(&rules, &files, "");
        assert_eq!(decision(&top, "a.log"), Some(RuleKind::Exclude));
        assert_eq!(decision(&top, "a.txt"), None);
        let sub = walk(&rules, &files, "sub");
        assert_eq!(decision(&sub, "sub/keep.log"), Some(RuleKind::Include));
        assert_eq!(decision(&sub, "sub/x.log"), Some(RuleKind::Exclude));
        assert_eq!(decision(&sub, "sub/x.txt"), Some(RuleKind::Exclude));
    }

    #[test]
    fn merged_rules_sit_at_the_dir_merge_rule_s_place() {
        let files = [("", "- *.txt\n")];
        let rules = [
            (RuleKind::Include, "a.txt"),
            (RuleKind::DirMerge, ".f"),
            (RuleKind::Include, "*"),
        ];
        let f = walk(&rules, &files, "");
        assert_eq!(decision(&f, "a.txt"), Some(RuleKind::Include));
        assert_eq!(decision(&f, "b.txt"), Some(RuleKind::Exclude));
        assert_eq!(decision(&f, "b.c"), Some(RuleKind::Include));
    }

    #[test]
    fn anchored_patterns_are_relative_to_the_file_s_directory() {
        let files = [("sub", "- /x\n")];
        let f = walk(&[(RuleKind::DirMerge, ".f")], &files, "sub/deep");
        assert_eq!(decision(&f, "sub/x"), Some(RuleKind::Exclude));
        assert_eq!(decision(&f, "sub/deep/x"), None);
    }

    #[test]
    fn clear_drops_inherited_rules_and_bad_lines_are_skipped() {
        let files = [("", "- *.log\n"), ("sub", "!\nbogus line\n- *.txt\n")];
        let f = walk(&[(RuleKind::DirMerge, ".f")], &files, "sub");
        assert_eq!(decision(&f, "sub/a.log"), None);
        assert_eq!(decision(&f, "sub/a.txt"), Some(RuleKind::Exclude));
    }
}
