//! `--filter` rules (and `-F`'s) into the list: rsync's syntax read, `!` clearing the list so
//! far, a merge file's rules read in the rule's place. A malformed rule is a usage error
//! naming it (and the merge file and line it came from).

use std::fs;
use std::path::Path;

use sy_engine::{FilterLine, FilterRules};

use crate::config::UsageError;

/// Merge files within merge files, at most this deep (a file merging itself is an error, not
/// a loop).
const MAX_MERGE_DEPTH: usize = 8;

/// Adds the `--filter` rule `rule` to `rules`.
pub fn add_filter_rule(rules: &mut FilterRules, rule: &str) -> Result<(), UsageError> {
    let line = FilterLine::parse(rule).map_err(|e| UsageError(e.to_string()))?;
    add_line(rules, line, 0)
}

fn add_line(rules: &mut FilterRules, line: FilterLine, depth: usize) -> Result<(), UsageError> {
    match line {
        FilterLine::Rule(kind, pattern) => rules.rules.push((kind, pattern)),
        FilterLine::Clear => rules.rules.clear(),
        FilterLine::Merge(file) => merge(rules, Path::new(&file), depth)?,
    }
    Ok(())
}

/// Adds the rules of the merge file `file`, one a line.
fn merge(rules: &mut FilterRules, file: &Path, depth: usize) -> Result<(), UsageError> {
    let shown = file.display();
    if depth >= MAX_MERGE_DEPTH {
        return Err(UsageError(format!(
            "merge file {shown}: merge files nested more than {MAX_MERGE_DEPTH} deep"
        )));
    }
    let text = fs::read_to_string(file)
        .map_err(|e| UsageError(format!("reading merge file {shown}: {e}")))?;
    for (n, line) in FilterLine::parse_lines(&text) {
        let line = line.map_err(|e| UsageError(format!("{shown}:{n}: {e}")))?;
        add_line(rules, line, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sy_engine::RuleKind;

    use super::*;

    fn rules_of(args: &[&str]) -> Result<Vec<(RuleKind, String)>, UsageError> {
        let mut rules = FilterRules::default();
        for rule in args {
            add_filter_rule(&mut rules, rule)?;
        }
        Ok(rules.rules)
    }

    #[test]
    fn clear_forgets_the_rules_before_it() {
        let rules = rules_of(&["- a", "!", "+ b"]).unwrap();
        assert_eq!(rules, [(RuleKind::Include, "b".to_owned())]);
    }

    #[test]
    fn a_merge_file_s_rules_take_the_rule_s_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.txt");
        fs::write(&file, "# comment\n- *.log\n: .f\n").unwrap();
        let merge = format!(". {}", file.display());
        let rules = rules_of(&["+ keep.log", &merge, "- x"]).unwrap();
        assert_eq!(
            rules,
            [
                (RuleKind::Include, "keep.log".to_owned()),
                (RuleKind::Exclude, "*.log".to_owned()),
                (RuleKind::DirMerge, ".f".to_owned()),
                (RuleKind::Exclude, "x".to_owned()),
            ]
        );
    }

    #[test]
    fn errors_name_the_rule_or_the_file_and_line() {
        let err = rules_of(&["x y"]).unwrap_err().to_string();
        assert!(err.contains("`x y`"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.txt");
        fs::write(&file, "- ok\nbogus\n").unwrap();
        let err = rules_of(&[&format!("merge {}", file.display())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rules.txt:2: bad filter rule `bogus`"),
            "{err}"
        );
        let err = rules_of(&[". /nonexistent/rules"]).unwrap_err().to_string();
        assert!(
            err.contains("reading merge file /nonexistent/rules"),
            "{err}"
        );
        fs::write(&file, format!(". {}\n", file.display())).unwrap();
        let err = rules_of(&[&format!(". {}", file.display())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested more than"), "{err}");
    }
}
