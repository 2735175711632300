//! Include/exclude rules as data: what a client sends with a scan request, compiled and applied
//! by the side that scans (`sy-transport`'s `Filter`), so excluded trees are never read.

/// Whether a rule keeps or drops what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `--include`: keep (and stop checking further rules).
    Include,
    /// `--exclude`: drop; a dropped directory is not descended into.
    Exclude,
}

/// Filter rules as data, in command-line order, so they can be sent to a remote scanner.
///
/// ```
/// use sy_protocol::{FilterRules, RuleKind};
///
/// let mut rules = FilterRules::default();
/// rules.add_rules_file("# build output\n+ keep.o\n*.o\n");
/// assert_eq!(
///     rules.rules,
///     [(RuleKind::Include, "keep.o".to_owned()), (RuleKind::Exclude, "*.o".to_owned())]
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterRules {
    /// `(kind, pattern)` in command-line order; patterns are rsync-style globs.
    pub rules: Vec<(RuleKind, String)>,
    /// Also honour `.gitignore` files found while scanning.
    pub gitignore: bool,
}

impl FilterRules {
    /// Adds the rules of an `--exclude-from` file: one pattern a line, blank lines and lines
    /// starting with `#` or `;` skipped, `+ PATTERN` includes and `- PATTERN` excludes.
    pub fn add_rules_file(&mut self, text: &str) {
        self.add_rule_lines(text, RuleKind::Exclude);
    }

    /// Adds the rules of an `--include-from` file: as [`add_rules_file`](Self::add_rules_file),
    /// except that a line without `+ ` or `- ` includes.
    pub fn add_include_file(&mut self, text: &str) {
        self.add_rule_lines(text, RuleKind::Include);
    }

    /// One rule a line; `plain` is the kind of a line without `+ ` or `- `.
    fn add_rule_lines(&mut self, text: &str, plain: RuleKind) {
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let rule = if let Some(p) = line.strip_prefix("+ ") {
                (RuleKind::Include, p.to_owned())
            } else if let Some(p) = line.strip_prefix("- ") {
                (RuleKind::Exclude, p.to_owned())
            } else {
                (plain, line.to_owned())
            };
            self.rules.push(rule);
        }
    }
}
