//! `--files-from FILE` (and `-0`): the listed paths, relative to the source directory, become
//! rules after the command line's — each path's parent directories, the path, and with `-r`
//! everything beneath it included, then everything else excluded — so the scan (local, or the
//! agent's for a remote source) reads only what is listed and the paths keep their places.
//! The list is read here, once, also for a remote source (as rsync does by default).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sy_engine::{FilterRules, RuleKind};

use crate::config::UsageError;

/// How the list is read.
#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    /// `-0`: names end with NUL, and no line is a comment.
    pub nul_separated: bool,
    /// `-r` given: a listed directory comes with everything beneath it.
    pub recursive: bool,
}

/// A source as `--files-from` reads it: the directory whose contents the names are in (with
/// a trailing `/`, as rsync takes it).
pub fn contents_of(source: &OsStr) -> OsString {
    let mut source = source.to_owned();
    if !source.as_bytes().ends_with(b"/") {
        source.push("/");
    }
    source
}

/// Adds the rules for the list in `file` (`-` is standard input).
pub fn add_files_from(
    rules: &mut FilterRules,
    file: &Path,
    options: ListOptions,
) -> Result<(), UsageError> {
    let shown = file.display();
    let text = if file == Path::new("-") {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(|e| UsageError(format!("reading --files-from list from stdin: {e}")))?;
        text
    } else {
        fs::read(file).map_err(|e| UsageError(format!("reading --files-from list {shown}: {e}")))?
    };
    add_list(rules, &text, options).map_err(|e| UsageError(format!("{shown}: {e}")))
}

/// Adds the rules for the list `text`; an error names the bad entry.
fn add_list(rules: &mut FilterRules, text: &[u8], options: ListOptions) -> Result<(), String> {
    let separator = if options.nul_separated { b'\0' } else { b'\n' };
    let mut dirs = HashSet::new();
    for (n, raw) in text.split(|b| *b == separator).enumerate() {
        let raw = if options.nul_separated {
            raw
        } else {
            raw.strip_suffix(b"\r").unwrap_or(raw)
        };
        if raw.is_empty()
            || (!options.nul_separated && (raw.starts_with(b"#") || raw.starts_with(b";")))
        {
            continue;
        }
        let name = std::str::from_utf8(raw)
            .map_err(|_| format!("entry {}: the name is not UTF-8", n + 1))?;
        let parts: Vec<&str> = name
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(format!("entry {}: `{name}` leads out of the source", n + 1));
        }
        let Some((_, parents)) = parts.split_last() else {
            continue;
        };
        let mut path = String::new();
        for part in parents {
            path.push('/');
            path.push_str(&escape(part));
            if dirs.insert(path.clone()) {
                rules.rules.push((RuleKind::Include, format!("{path}/")));
            }
        }
        let whole: String = parts.iter().map(|p| format!("/{}", escape(p))).collect();
        rules.rules.push((RuleKind::Include, whole.clone()));
        if options.recursive {
            rules
                .rules
                .push((RuleKind::Include, format!("{whole}/***")));
        }
    }
    rules.rules.push((RuleKind::Exclude, "*".to_owned()));
    Ok(())
}

/// `name` as a pattern that matches only itself.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\*?[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use sy_engine::{Filter, RelPath};

    use super::*;

    const LINES: ListOptions = ListOptions {
        nul_separated: false,
        recursive: false,
    };

    fn filter(text: &[u8], options: ListOptions) -> Filter {
        let mut rules = FilterRules::default();
        add_list(&mut rules, text, options).unwrap();
        Filter::compile(&rules).unwrap()
    }

    fn kept(f: &Filter, path: &str, is_dir: bool) -> bool {
        !f.excludes(&RelPath::new(path).unwrap(), is_dir)
    }

    #[test]
    fn listed_paths_and_their_parents_are_kept_and_nothing_else() {
        let f = filter(
            b"a.txt\n# comment\n; too\n\n./sub/deep/d.txt\r\nkeep/\n",
            LINES,
        );
        for (path, is_dir) in [
            ("a.txt", false),
            ("sub", true),
            ("sub/deep", true),
            ("sub/deep/d.txt", false),
            ("keep", true),
        ] {
            assert!(kept(&f, path, is_dir), "{path}");
        }
        for (path, is_dir) in [
            ("b.txt", false),
            ("sub/c.txt", false),
            ("keep/k.txt", false),
            ("x/a.txt", false),
            ("# comment", false),
        ] {
            assert!(!kept(&f, path, is_dir), "{path}");
        }
    }

    #[test]
    fn with_r_a_listed_directory_comes_whole() {
        let recursive = ListOptions {
            recursive: true,
            ..LINES
        };
        let f = filter(b"keep\n", recursive);
        assert!(kept(&f, "keep/a/b", false));
        assert!(!kept(&f, "keeper", false));
    }

    #[test]
    fn nul_separated_names_have_no_comments_and_may_hold_newlines() {
        let nul = ListOptions {
            nul_separated: true,
            ..LINES
        };
        let f = filter(b"#odd\0new\nline\0[x]*\0", nul);
        assert!(kept(&f, "#odd", false));
        assert!(kept(&f, "new\nline", false));
        assert!(kept(&f, "[x]*", false));
        assert!(!kept(&f, "xy", false));
    }

    #[test]
    fn names_leading_out_or_not_utf8_are_errors_naming_the_entry() {
        let mut rules = FilterRules::default();
        let err = add_list(&mut rules, b"a\n../etc/passwd\n", LINES).unwrap_err();
        assert!(err.contains("entry 2: `../etc/passwd`"), "{err}");
        let err = add_list(&mut rules, b"\xff\n", LINES).unwrap_err();
        assert!(err.contains("entry 1"), "{err}");
    }
}
