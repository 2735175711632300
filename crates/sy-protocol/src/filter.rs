//! Include/exclude rules as data: what a client sends with a scan request, compiled and applied
//! by the side that scans (`sy-transport`'s `Filter`), so excluded trees are never read.

/// What a rule does with what it matches (rsync's filter rule kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `--include`, `+ PAT`: keep (and stop checking further rules).
    Include,
    /// `--exclude`, `- PAT`: drop; a dropped directory is not descended into.
    Exclude,
    /// `P PAT`: never delete what matches from the destination (the receiving side's
    /// exclude, as in rsync).
    Protect,
    /// `R PAT`: what matches is not protected by a later `P` rule (the receiving side's
    /// include).
    Risk,
    /// `: NAME`: each scanned directory's file NAME holds more rules, in force at this rule's
    /// place for that directory and beneath it (the pattern is the file's name).
    DirMerge,
    /// `-! PAT`: drop what does NOT match.
    ExcludeOthers,
    /// `+! PAT`: keep what does NOT match.
    IncludeOthers,
}

impl RuleKind {
    /// Every kind, in the order of their wire codes.
    pub const ALL: [RuleKind; 7] = [
        RuleKind::Include,
        RuleKind::Exclude,
        RuleKind::Protect,
        RuleKind::Risk,
        RuleKind::DirMerge,
        RuleKind::ExcludeOthers,
        RuleKind::IncludeOthers,
    ];
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
    /// The rules for scanning the sending side: protection (`P`, `R`) concerns only the
    /// receiver.
    pub fn for_sender(&self) -> FilterRules {
        FilterRules {
            rules: self
                .rules
                .iter()
                .filter(|(kind, _)| !matches!(kind, RuleKind::Protect | RuleKind::Risk))
                .cloned()
                .collect(),
            gitignore: self.gitignore,
        }
    }

    /// The rules for scanning the receiving side: what the selecting rules exclude is hidden
    /// there too (so `--delete` leaves it alone), unless `delete_excluded` asks that it be
    /// deleted (then per-directory merge files are not read there either); protection
    /// is not decided by a scan ([`protection`](Self::protection)).
    pub fn for_receiver(&self, delete_excluded: bool) -> FilterRules {
        if delete_excluded {
            return FilterRules::default();
        }
        self.for_sender()
    }

    /// What `--delete` may not remove: `P` as an exclude, `R` as an include (rsync's
    /// receiving-side rules), first match deciding; the other rules left out.
    pub fn protection(&self) -> FilterRules {
        let rules = self.rules.iter().filter_map(|(kind, pattern)| {
            let kind = match kind {
                RuleKind::Protect => RuleKind::Exclude,
                RuleKind::Risk => RuleKind::Include,
                _ => return None,
            };
            Some((kind, pattern.clone()))
        });
        FilterRules {
            rules: rules.collect(),
            gitignore: false,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(RuleKind, &str)]) -> FilterRules {
        FilterRules {
            rules: list.iter().map(|(k, p)| (*k, (*p).to_owned())).collect(),
            gitignore: false,
        }
    }

    #[test]
    fn sides_see_the_rules_they_act_on() {
        use RuleKind::{DirMerge, Exclude, Include, Protect, Risk};
        let all = rules(&[
            (Protect, "keep"),
            (Risk, "keep/x"),
            (Exclude, "*.log"),
            (DirMerge, ".f"),
            (Include, "a"),
        ]);
        assert_eq!(
            all.for_sender(),
            rules(&[(Exclude, "*.log"), (DirMerge, ".f"), (Include, "a")])
        );
        assert_eq!(all.for_receiver(false), all.for_sender());
        assert_eq!(all.for_receiver(true), FilterRules::default());
        assert_eq!(
            all.protection(),
            rules(&[(Exclude, "keep"), (Include, "keep/x")])
        );
    }
}
