//! rsync-style include/exclude rules, applied while scanning so excluded trees are never read.
//!
//! Rules are checked in the order given; the first that matches decides. A pattern with a
//! leading `/` is anchored at the transfer root (in a per-directory merge file: at that file's
//! directory); one ending in `/` matches only directories; one with no other `/` matches the
//! last component at any depth; otherwise it matches the whole relative path (at any depth).
//! `*` and `?` stop at `/`, `**` crosses it, and `dir/***` matches `dir` and all beneath it.
//! A dir-merge rule stands for the rules of the merge files read so far on the way down
//! ([`MergedRules`]), nearest directory first.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use globset::{Candidate, GlobBuilder, GlobMatcher};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::dir_merge::MergedRules;
use crate::{Entry, Error, FilterRules, RelPath, RuleKind};

/// A `.gitignore` or per-directory merge file larger than this is not read (and a warning
/// says so).
pub(crate) const RULES_FILE_LIMIT: u64 = 1 << 20;

/// The rules of a `.gitignore` whose text was read from `shown`, matching paths beneath
/// `dir`; a line that is not a valid pattern is skipped with a warning.
pub(crate) fn gitignore_from_text(dir: &Path, text: &[u8], shown: &str) -> Option<Gitignore> {
    let mut builder = GitignoreBuilder::new(dir);
    for line in String::from_utf8_lossy(text).lines() {
        if let Err(e) = builder.add_line(None, line) {
            tracing::warn!("{shown}: {e}");
        }
    }
    builder.build().ok()
}

/// One pattern rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    kind: RuleKind,
    dir_only: bool,
    whole_path: bool,
    matcher: GlobMatcher,
}

impl Rule {
    /// Compiles `pattern`; a leading `/` anchors it at `dir` (the transfer root when `None`).
    pub(crate) fn compile(
        kind: RuleKind,
        pattern: &str,
        dir: Option<&RelPath>,
    ) -> Result<Rule, Error> {
        let mut glob = pattern;
        let dir_only = glob.len() > 1 && glob.ends_with('/');
        if dir_only {
            glob = &glob[..glob.len() - 1];
        }
        let anchored = glob.starts_with('/');
        if anchored {
            glob = &glob[1..];
        }
        if glob.is_empty() {
            return Err(Error::Filter {
                pattern: pattern.to_owned(),
                reason: "empty pattern".to_owned(),
            });
        }
        let whole_path = anchored || glob.contains('/') || glob.contains("**");
        // rsync's `dir/***`: the directory itself and everything beneath it.
        let glob = match glob.strip_suffix("/***") {
            Some(dir) if !dir.is_empty() => format!("{{{dir},{dir}/**}}"),
            _ => glob.to_owned(),
        };
        let full = match dir {
            Some(dir) if anchored && !dir.is_root() => {
                let dir = globset::escape(&String::from_utf8_lossy(dir.as_bytes()));
                format!("{dir}/{glob}")
            }
            _ if whole_path && !anchored && !glob.starts_with("**/") => format!("**/{glob}"),
            _ => glob,
        };
        let matcher = GlobBuilder::new(&full)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| Error::Filter {
                pattern: pattern.to_owned(),
                reason: e.kind().to_string(),
            })?
            .compile_matcher();
        Ok(Rule {
            kind,
            dir_only,
            whole_path,
            matcher,
        })
    }

    fn matches(&self, path: &RelPath, is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        let subject = if self.whole_path {
            path.as_bytes()
        } else {
            path.file_name().unwrap_or_default()
        };
        self.matcher
            .is_match_candidate(&Candidate::new(OsStr::from_bytes(subject)))
    }

    /// What this rule says about `path` in a scan: `Include` or `Exclude`, or `None` when it
    /// does not apply (it does not match, or it is about protection, not scanning).
    pub(crate) fn decide(&self, path: &RelPath, is_dir: bool) -> Option<RuleKind> {
        let (matched, decision) = match self.kind {
            RuleKind::Include => (true, RuleKind::Include),
            RuleKind::Exclude => (true, RuleKind::Exclude),
            RuleKind::IncludeOthers => (false, RuleKind::Include),
            RuleKind::ExcludeOthers => (false, RuleKind::Exclude),
            RuleKind::Protect | RuleKind::Risk | RuleKind::DirMerge => return None,
        };
        (self.matches(path, is_dir) == matched).then_some(decision)
    }
}

/// One place in the list: a pattern rule, or the rules of a per-directory merge file.
#[derive(Debug, Clone)]
enum Item {
    Rule(Rule),
    /// The index of the merge file's name in [`Filter::merge_files`].
    DirMerge(usize),
}

/// Compiled [`FilterRules`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    items: Vec<Item>,
    merge_files: Vec<String>,
    gitignore: bool,
}

impl Filter {
    /// Compiles `rules`; a bad pattern is an error naming it.
    pub fn compile(rules: &FilterRules) -> Result<Filter, Error> {
        let mut filter = Filter {
            gitignore: rules.gitignore,
            ..Filter::default()
        };
        for (kind, pattern) in &rules.rules {
            let item = if *kind == RuleKind::DirMerge {
                // A name read in each scanned directory: one component, or a peer could name
                // `/etc/shadow` or `../..` and have its lines quoted back in warnings.
                if let Err(reason) = merge_file_name(pattern) {
                    return Err(Error::Filter {
                        pattern: pattern.clone(),
                        reason: reason.to_owned(),
                    });
                }
                filter.merge_files.push(pattern.clone());
                Item::DirMerge(filter.merge_files.len() - 1)
            } else {
                Item::Rule(Rule::compile(*kind, pattern, None)?)
            };
            filter.items.push(item);
        }
        Ok(filter)
    }

    /// The names of the per-directory merge files to read in each scanned directory, in the
    /// order of their rules.
    pub(crate) fn merge_files(&self) -> &[String] {
        &self.merge_files
    }

    /// A filter that keeps everything.
    pub fn keep_all() -> Filter {
        Filter::default()
    }

    /// What the first matching rule says about `path` (`Include` or `Exclude`), or `None`
    /// when no rule matches; per-directory merge files are not read.
    pub fn decide(&self, path: &RelPath, is_dir: bool) -> Option<RuleKind> {
        self.decide_in(path, is_dir, &MergedRules::default())
    }

    /// As [`decide`](Self::decide), with the rules `merged` from the merge files of the
    /// directories above `path`.
    pub(crate) fn decide_in(
        &self,
        path: &RelPath,
        is_dir: bool,
        merged: &MergedRules,
    ) -> Option<RuleKind> {
        self.items.iter().find_map(|item| match item {
            Item::Rule(rule) => rule.decide(path, is_dir),
            Item::DirMerge(i) => merged.rules(*i).find_map(|rule| rule.decide(path, is_dir)),
        })
    }

    /// True when the rules drop `path`.
    pub fn excludes(&self, path: &RelPath, is_dir: bool) -> bool {
        self.decide(path, is_dir) == Some(RuleKind::Exclude)
    }

    /// True when `.gitignore` files are to be honoured.
    pub fn uses_gitignore(&self) -> bool {
        self.gitignore
    }

    /// Whether a scan keeps `entry`: the rules decide first (with those `merged` from the
    /// per-directory merge files above it); then the `.gitignore` files of the directories
    /// above it, nearest first (`ignores` is ordered from the root down), matched with the
    /// entry's path beneath `root` (the path those files were built with).
    pub(crate) fn keeps(
        &self,
        entry: &Entry,
        merged: &MergedRules,
        ignores: &[Arc<Gitignore>],
        root: &Path,
    ) -> bool {
        let is_dir = entry.is_dir();
        match self.decide_in(&entry.path, is_dir, merged) {
            Some(RuleKind::Include) => return true,
            Some(_) => return false,
            None => {}
        }
        if ignores.is_empty() {
            return true;
        }
        let full = root.join(entry.path.as_path());
        for ignore in ignores.iter().rev() {
            match ignore.matched(&full, is_dir) {
                Match::Ignore(_) => return false,
                Match::Whitelist(_) => return true,
                Match::None => {}
            }
        }
        true
    }
}

/// A per-directory merge file's name is one path component: not empty, not `.` or `..`, no
/// `/` and no NUL.
fn merge_file_name(name: &str) -> Result<(), &'static str> {
    match name {
        "" | "." | ".." => Err("a per-directory merge file must be a file name"),
        _ if name.contains('/') || name.contains('\0') => {
            Err("a per-directory merge file must be a name without `/`")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent compiles the rules a client sends: a per-directory merge file naming a path
    /// (`/etc/shadow`, `../../x`) would be opened beside each scanned directory, outside the
    /// served root, and its lines quoted back in warnings.
    #[test]
    fn a_merge_file_that_is_not_a_plain_name_is_refused() {
        for name in [
            "/etc/shadow",
            "../../etc/passwd",
            "a/b",
            "..",
            ".",
            "",
            "x\0y",
        ] {
            let rules = FilterRules {
                rules: vec![(RuleKind::DirMerge, name.to_owned())],
                ..FilterRules::default()
            };
            assert!(Filter::compile(&rules).is_err(), "{name:?}");
        }
        let rules = FilterRules {
            rules: vec![(RuleKind::DirMerge, ".rsync-filter".to_owned())],
            ..FilterRules::default()
        };
        assert!(Filter::compile(&rules).is_ok());
    }

    fn filter(rules: &[(RuleKind, &str)]) -> Filter {
        Filter::compile(&FilterRules {
            rules: rules.iter().map(|(k, p)| (*k, (*p).to_owned())).collect(),
            gitignore: false,
        })
        .unwrap()
    }

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    use RuleKind::{Exclude, Include};

    #[test]
    fn bare_name_matches_at_any_depth() {
        let f = filter(&[(Exclude, "*.o")]);
        assert!(f.excludes(&p("a.o"), false));
        assert!(f.excludes(&p("x/y/a.o"), false));
        assert!(!f.excludes(&p("a.c"), false));
        assert!(!f.excludes(&p("a.o/x.c"), false));
    }

    #[test]
    fn leading_slash_anchors_at_root() {
        let f = filter(&[(Exclude, "/build")]);
        assert!(f.excludes(&p("build"), true));
        assert!(!f.excludes(&p("src/build"), true));
    }

    #[test]
    fn trailing_slash_matches_directories_only() {
        let f = filter(&[(Exclude, "cache/")]);
        assert!(f.excludes(&p("a/cache"), true));
        assert!(!f.excludes(&p("a/cache"), false));
    }

    #[test]
    fn star_stops_at_slash_double_star_crosses() {
        let f = filter(&[(Exclude, "/a/*.txt")]);
        assert!(f.excludes(&p("a/x.txt"), false));
        assert!(!f.excludes(&p("a/b/x.txt"), false));
        let f = filter(&[(Exclude, "/a/**/x.txt")]);
        assert!(f.excludes(&p("a/b/c/x.txt"), false));
        assert!(f.excludes(&p("a/x.txt"), false));
    }

    #[test]
    fn path_pattern_matches_at_any_depth() {
        let f = filter(&[(Exclude, "sub/foo")]);
        assert!(f.excludes(&p("sub/foo"), false));
        assert!(f.excludes(&p("x/sub/foo"), false));
        assert!(!f.excludes(&p("xsub/foo"), false));
    }

    #[test]
    fn first_matching_rule_wins() {
        let f = filter(&[(Include, "keep.log"), (Exclude, "*.log")]);
        assert!(!f.excludes(&p("keep.log"), false));
        assert!(f.excludes(&p("other.log"), false));
        assert_eq!(f.decide(&p("keep.log"), false), Some(Include));
        assert_eq!(f.decide(&p("a.c"), false), None);
    }

    #[test]
    fn non_utf8_names_match() {
        let f = filter(&[(Exclude, "*.bin")]);
        assert!(f.excludes(&RelPath::new(&b"\xff.bin"[..]).unwrap(), false));
    }

    #[test]
    fn rules_file_syntax() {
        let mut rules = FilterRules::default();
        rules.add_rules_file("# comment\n\n; also\n+ keep.tmp\n- *.tmp\nlogs/\n");
        let f = Filter::compile(&rules).unwrap();
        assert!(!f.excludes(&p("keep.tmp"), false));
        assert!(f.excludes(&p("a.tmp"), false));
        assert!(f.excludes(&p("logs"), true));
        assert_eq!(rules.rules.len(), 3);
    }

    #[test]
    fn triple_star_matches_the_directory_and_all_beneath() {
        let f = filter(&[(Include, "keep/***"), (Exclude, "*")]);
        assert_eq!(f.decide(&p("keep"), true), Some(Include));
        assert_eq!(f.decide(&p("keep/k.txt"), false), Some(Include));
        assert_eq!(f.decide(&p("keep/a/b"), false), Some(Include));
        assert_eq!(f.decide(&p("keeper"), true), Some(Exclude));
        assert_eq!(f.decide(&p("x/keep/k"), false), Some(Include));
        let anchored = filter(&[(Exclude, "/sub/***")]);
        assert!(anchored.excludes(&p("sub"), true));
        assert!(anchored.excludes(&p("sub/deep/d.txt"), false));
        assert!(!anchored.excludes(&p("x/sub"), true));
    }

    #[test]
    fn negated_rules_match_what_the_pattern_does_not() {
        let f = filter(&[(RuleKind::ExcludeOthers, "*/")]);
        assert!(f.excludes(&p("a.txt"), false));
        assert_eq!(f.decide(&p("sub"), true), None);
        let f = filter(&[(RuleKind::IncludeOthers, "*.log"), (Exclude, "*")]);
        assert_eq!(f.decide(&p("a.txt"), false), Some(Include));
        assert_eq!(f.decide(&p("a.log"), false), Some(Exclude));
    }

    #[test]
    fn protection_does_not_decide_a_scan() {
        let f = filter(&[(RuleKind::Protect, "*.txt"), (RuleKind::Risk, "*.log")]);
        assert_eq!(f.decide(&p("a.txt"), false), None);
        assert_eq!(f.decide(&p("a.log"), false), None);
    }

    #[test]
    fn bad_pattern_is_an_error_naming_it() {
        let err = Filter::compile(&FilterRules {
            rules: vec![(Exclude, "a[".to_owned())],
            gitignore: false,
        })
        .unwrap_err();
        assert!(err.to_string().contains("a["), "{err}");
    }
}
