//! rsync-style include/exclude rules, applied while scanning so excluded trees are never read.
//!
//! Rules are checked in the order given; the first that matches decides. A pattern with a
//! leading `/` is anchored at the transfer root; one ending in `/` matches only directories;
//! one with no other `/` matches the last component at any depth; otherwise it matches the
//! whole relative path (at any depth). `*` and `?` stop at `/`, `**` crosses it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use globset::{Candidate, GlobBuilder, GlobMatcher};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::{Entry, Error, FilterRules, RelPath, RuleKind};

/// A `.gitignore` larger than this is not read (and a warning says so).
pub(crate) const GITIGNORE_LIMIT: u64 = 1 << 20;

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

#[derive(Debug, Clone)]
struct Rule {
    kind: RuleKind,
    dir_only: bool,
    whole_path: bool,
    matcher: GlobMatcher,
}

impl Rule {
    fn compile(kind: RuleKind, pattern: &str) -> Result<Rule, Error> {
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
        let full = if whole_path && !anchored && !glob.starts_with("**/") {
            format!("**/{glob}")
        } else {
            glob.to_owned()
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
}

/// Compiled [`FilterRules`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    rules: Vec<Rule>,
    gitignore: bool,
}

impl Filter {
    /// Compiles `rules`; a bad pattern is an error naming it.
    pub fn compile(rules: &FilterRules) -> Result<Filter, Error> {
        let compiled = rules
            .rules
            .iter()
            .map(|(kind, pattern)| Rule::compile(*kind, pattern))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            rules: compiled,
            gitignore: rules.gitignore,
        })
    }

    /// A filter that keeps everything.
    pub fn keep_all() -> Filter {
        Filter::default()
    }

    /// What the first matching rule says about `path`, or `None` when no rule matches.
    pub fn decide(&self, path: &RelPath, is_dir: bool) -> Option<RuleKind> {
        self.rules
            .iter()
            .find(|r| r.matches(path, is_dir))
            .map(|r| r.kind)
    }

    /// True when the rules drop `path`.
    pub fn excludes(&self, path: &RelPath, is_dir: bool) -> bool {
        self.decide(path, is_dir) == Some(RuleKind::Exclude)
    }

    /// True when `.gitignore` files are to be honoured.
    pub fn uses_gitignore(&self) -> bool {
        self.gitignore
    }

    /// Whether a scan keeps `entry`: the rules decide first; then the `.gitignore` files of
    /// the directories above it, nearest first (`ignores` is ordered from the root down),
    /// matched with the entry's path beneath `root` (the path those files were built with).
    pub(crate) fn keeps(&self, entry: &Entry, ignores: &[Arc<Gitignore>], root: &Path) -> bool {
        let is_dir = entry.is_dir();
        match self.decide(&entry.path, is_dir) {
            Some(RuleKind::Include) => return true,
            Some(RuleKind::Exclude) => return false,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_pattern_is_an_error_naming_it() {
        let err = Filter::compile(&FilterRules {
            rules: vec![(Exclude, "a[".to_owned())],
            gitignore: false,
        })
        .unwrap_err();
        assert!(err.to_string().contains("a["), "{err}");
    }
}
