//! rsync's filter rule syntax (`--filter`, merge files): `+ PAT`, `- PAT`, `P PAT`, `R PAT`,
//! `!`, `. FILE`, `: FILE` and their long names (`include`, `exclude`, `protect`, `risk`,
//! `clear`, `merge`, `dir-merge`), a modifier `!` on `+`/`-` (match what the pattern does
//! not), and a space or `_` before the pattern.

use crate::RuleKind;

/// One rule as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterLine {
    /// A rule for the list.
    Rule(RuleKind, String),
    /// `!`: forget the rules before this one.
    Clear,
    /// `. FILE`: the rules of FILE, read once, in this rule's place.
    Merge(String),
}

/// A rule that does not follow rsync's syntax, or asks for what sy does not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad filter rule `{rule}`: {reason}")]
pub struct RuleSyntaxError {
    /// The rule as given.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FilterLine {
    /// Reads one rule in rsync's syntax.
    ///
    /// ```
    /// use sy_protocol::{FilterLine, RuleKind};
    ///
    /// assert_eq!(
    ///     FilterLine::parse("-! */").unwrap(),
    ///     FilterLine::Rule(RuleKind::ExcludeOthers, "*/".to_owned())
    /// );
    /// assert_eq!(
    ///     FilterLine::parse("dir-merge /.rsync-filter").unwrap(),
    ///     FilterLine::Rule(RuleKind::DirMerge, ".rsync-filter".to_owned())
    /// );
    /// assert!(FilterLine::parse("x foo").is_err());
    /// ```
    pub fn parse(rule: &str) -> Result<FilterLine, RuleSyntaxError> {
        let fail = |reason: &str| RuleSyntaxError {
            rule: rule.to_owned(),
            reason: reason.to_owned(),
        };
        let short = rule
            .chars()
            .next()
            .filter(|c| "+-.:PRHS!".contains(*c))
            .ok_or(());
        let (name, rest) = match short {
            Ok(c) => (&rule[..c.len_utf8()], &rule[c.len_utf8()..]),
            Err(()) => {
                let end = rule.find([',', ' ', '_']).unwrap_or(rule.len());
                let rest = &rule[end..];
                (&rule[..end], rest.strip_prefix(',').unwrap_or(rest))
            }
        };
        let end = rest.find([' ', '_']).unwrap_or(rest.len());
        let modifiers = &rest[..end];
        let pattern = rest.get(end + 1..).unwrap_or_default();
        let negate = match modifiers {
            "" => false,
            "!" => true,
            other => {
                return Err(fail(&format!(
                    "modifier `{other}` is not supported (sy knows `!` on `+` and `-`)"
                )));
            }
        };
        let kind = match (name, negate) {
            ("!" | "clear", false) if pattern.is_empty() => return Ok(FilterLine::Clear),
            ("!" | "clear", false) => return Err(fail("`!` (clear) takes no pattern")),
            ("+" | "include", false) => RuleKind::Include,
            ("+" | "include", true) => RuleKind::IncludeOthers,
            ("-" | "exclude", false) => RuleKind::Exclude,
            ("-" | "exclude", true) => RuleKind::ExcludeOthers,
            ("P" | "protect", false) => RuleKind::Protect,
            ("R" | "risk", false) => RuleKind::Risk,
            ("." | "merge", false) => {
                if pattern.is_empty() {
                    return Err(fail("no file to merge"));
                }
                return Ok(FilterLine::Merge(pattern.to_owned()));
            }
            (":" | "dir-merge", false) => RuleKind::DirMerge,
            ("H" | "hide" | "S" | "show", _) => {
                return Err(fail("hide and show rules are not supported"));
            }
            (_, true) => return Err(fail("modifier `!` goes only with `+` and `-`")),
            _ => {
                return Err(fail(
                    "unknown rule (rsync's: + - P R ! . : and their names)",
                ));
            }
        };
        if pattern.is_empty() {
            return Err(fail("no pattern"));
        }
        if kind == RuleKind::DirMerge {
            // rsync's leading `/` also reads the parents of the transfer's root: sy reads the
            // file from the root down (docs/rsync-differences.md).
            let file = pattern.strip_prefix('/').unwrap_or(pattern);
            if file.is_empty() || file.contains('/') {
                return Err(fail(
                    "a per-directory merge file is a name, with no directory",
                ));
            }
            return Ok(FilterLine::Rule(kind, file.to_owned()));
        }
        Ok(FilterLine::Rule(kind, pattern.to_owned()))
    }

    /// Reads the rules of a merge file's text, one a line; blank lines and lines starting
    /// with `#` or `;` are skipped. Each item is the line's number (from 1) and what it says.
    pub fn parse_lines(
        text: &str,
    ) -> impl Iterator<Item = (usize, Result<FilterLine, RuleSyntaxError>)> + '_ {
        text.lines()
            .enumerate()
            .map(|(n, line)| (n + 1, line.trim_end_matches('\r')))
            .filter(|(_, line)| {
                !(line.trim().is_empty() || line.starts_with('#') || line.starts_with(';'))
            })
            .map(|(n, line)| (n, FilterLine::parse(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: RuleKind, pattern: &str) -> FilterLine {
        FilterLine::Rule(kind, pattern.to_owned())
    }

    #[test]
    fn short_and_long_names() {
        for (text, expected) in [
            ("+ keep/***", rule(RuleKind::Include, "keep/***")),
            ("include keep", rule(RuleKind::Include, "keep")),
            ("- *.log", rule(RuleKind::Exclude, "*.log")),
            ("exclude *.log", rule(RuleKind::Exclude, "*.log")),
            ("-_*.log", rule(RuleKind::Exclude, "*.log")),
            ("P keep", rule(RuleKind::Protect, "keep")),
            ("protect keep", rule(RuleKind::Protect, "keep")),
            ("R keep", rule(RuleKind::Risk, "keep")),
            ("risk keep", rule(RuleKind::Risk, "keep")),
            ("-! */", rule(RuleKind::ExcludeOthers, "*/")),
            ("exclude,! */", rule(RuleKind::ExcludeOthers, "*/")),
            ("+! *.txt", rule(RuleKind::IncludeOthers, "*.txt")),
            (": .rsync-filter", rule(RuleKind::DirMerge, ".rsync-filter")),
            (
                ": /.rsync-filter",
                rule(RuleKind::DirMerge, ".rsync-filter"),
            ),
            ("dir-merge .f", rule(RuleKind::DirMerge, ".f")),
            (". rules.txt", FilterLine::Merge("rules.txt".to_owned())),
            ("merge rules.txt", FilterLine::Merge("rules.txt".to_owned())),
            ("!", FilterLine::Clear),
            ("clear", FilterLine::Clear),
            ("- with space", rule(RuleKind::Exclude, "with space")),
        ] {
            assert_eq!(FilterLine::parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn malformed_rules_are_errors_naming_them() {
        for (text, reason) in [
            ("x foo", "unknown rule"),
            ("-", "no pattern"),
            ("+ ", "no pattern"),
            ("-x foo", "modifier `x`"),
            ("P! foo", "`!` goes only with"),
            ("! foo", "takes no pattern"),
            (": a/b", "a name, with no directory"),
            ("H foo", "hide and show"),
            (".", "no file to merge"),
        ] {
            let err = FilterLine::parse(text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&format!("`{text}`")), "{shown}");
            assert!(shown.contains(reason), "{text}: {shown}");
        }
    }

    #[test]
    fn lines_skip_comments_and_number_from_one() {
        let lines: Vec<_> = FilterLine::parse_lines("# c\n\n- a\r\n; c\n+ b\n")
            .map(|(n, r)| (n, r.unwrap()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, rule(RuleKind::Exclude, "a")),
                (5, rule(RuleKind::Include, "b"))
            ]
        );
    }
}
