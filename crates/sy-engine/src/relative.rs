//! `-R/--relative`, rsync's way: a source keeps at the destination the path it was named by
//! (`sy -R src/a/b dst` writes `dst/src/a/b`, without a leading `/`), or the part of it after a
//! `/./` marker (`/x/./a/b` writes `dst/a/b`). The directories above the kept path are implied:
//! they are created at the destination with the source's attributes, but nothing else in them
//! takes part, and nothing in them is deleted.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use sy_transport::{Entry, FilterRules, RelPath, RuleKind, ScanOptions, Transport};

use crate::SyncError;

/// A source path as `-R` reads it: the directory the transport opens and the path beneath it
/// that is kept at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    /// Where the kept path starts: the part before `/./`, else `/` for an absolute path and
    /// `.` for a relative one.
    pub(crate) root: PathBuf,
    /// The kept path (the root itself when empty).
    pub(crate) path: RelPath,
}

/// Splits `path` (a local path or the path of `host:path`) as `-R` does. A trailing slash
/// changes nothing; `.` components and repeated slashes are dropped; `..` in the kept part is
/// refused, since the copy would land outside the destination.
pub(crate) fn split(path: &[u8]) -> Result<Kept, SyncError> {
    let shown = || String::from_utf8_lossy(path).into_owned();
    let (root, rest): (&[u8], &[u8]) = match path.windows(3).position(|w| w == b"/./") {
        Some(0) => (b"/", &path[3..]),
        Some(at) => (&path[..at], &path[at + 3..]),
        None if path.starts_with(b"/") => (b"/", path),
        None => (b".", path),
    };
    let mut kept: Vec<u8> = Vec::with_capacity(rest.len());
    for component in rest.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                return Err(SyncError::Invalid(format!(
                    "--relative: {} climbs out of its directory with '..'; mark where the \
                     kept path starts with /./",
                    shown()
                )));
            }
            name => {
                if !kept.is_empty() {
                    kept.push(b'/');
                }
                kept.extend_from_slice(name);
            }
        }
    }
    let path = RelPath::new(kept)
        .map_err(|e| SyncError::Invalid(format!("--relative: {}: {e}", shown())))?;
    Ok(Kept {
        root: PathBuf::from(OsStr::from_bytes(root)),
        path,
    })
}

/// The directories above `kept`, outermost first: `src` and `src/a` for `src/a/b`.
pub(crate) fn implied_dirs(kept: &RelPath) -> Vec<RelPath> {
    let mut dirs = Vec::new();
    let mut cursor = kept.parent();
    while let Some(dir) = cursor.filter(|d| !d.is_root()) {
        cursor = dir.parent();
        dirs.push(dir);
    }
    dirs.reverse();
    dirs
}

/// Rules under which a scan of the implied directory `dir` reports `dir` alone: everything one
/// level beneath it is excluded (by depth, so no name in the path needs quoting as a pattern).
pub(crate) fn only_itself(dir: &RelPath) -> FilterRules {
    let stars = vec!["*"; dir.depth() + 1].join("/");
    FilterRules {
        rules: vec![(RuleKind::Exclude, format!("/{stars}"))],
        gitignore: false,
    }
}

/// The implied directories above `kept` that `side` has, outermost first (a missing one is
/// left out: it is to be created).
pub(crate) async fn implied_entries<T: Transport>(
    side: &T,
    kept: &RelPath,
    follow_links: bool,
) -> Result<Vec<Entry>, sy_transport::Error> {
    let mut entries = Vec::new();
    for dir in implied_dirs(kept) {
        let scan = side
            .scan(ScanOptions {
                base: dir.clone(),
                filter: only_itself(&dir),
                follow_links,
            })
            .await?;
        entries.extend(scan.entries.into_iter().filter(|e| e.path == dir));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use sy_transport::Filter;

    use super::*;

    fn kept(path: &str) -> (String, String) {
        let kept = split(path.as_bytes()).unwrap();
        (kept.root.display().to_string(), kept.path.to_string())
    }

    #[test]
    fn the_whole_path_is_kept_without_a_leading_slash() {
        assert_eq!(kept("src/a/b/"), (".".into(), "src/a/b".into()));
        assert_eq!(kept("src/a/b"), (".".into(), "src/a/b".into()));
        assert_eq!(kept("/x/a/b"), ("/".into(), "x/a/b".into()));
        assert_eq!(kept("./src//a/b/."), (".".into(), "src/a/b".into()));
        assert_eq!(kept("file.txt"), (".".into(), "file.txt".into()));
    }

    #[test]
    fn a_dot_marker_cuts_the_kept_path() {
        assert_eq!(kept("/x/./a/b"), ("/x".into(), "a/b".into()));
        assert_eq!(kept("src/./sub/"), ("src".into(), "sub".into()));
        assert_eq!(kept("/./a"), ("/".into(), "a".into()));
        assert_eq!(kept("src/./"), ("src".into(), ".".into()), "the root");
    }

    #[test]
    fn climbing_out_is_refused() {
        let err = split(b"a/../../etc").unwrap_err().to_string();
        assert!(err.contains("a/../../etc") && err.contains("'..'"), "{err}");
        assert_eq!(kept("../up/./a"), ("../up".into(), "a".into()));
    }

    #[test]
    fn implied_directories_are_the_ancestors_outermost_first() {
        let dirs = implied_dirs(&RelPath::new("src/a/b").unwrap());
        let names: Vec<String> = dirs.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["src", "src/a"]);
        assert!(implied_dirs(&RelPath::new("top").unwrap()).is_empty());
        assert!(implied_dirs(&RelPath::root()).is_empty());
    }

    #[test]
    fn an_implied_directory_is_scanned_without_its_contents() {
        let dir = RelPath::new("src/a").unwrap();
        let filter = Filter::compile(&only_itself(&dir)).unwrap();
        assert!(!filter.excludes(&dir, true));
        assert!(filter.excludes(&RelPath::new("src/a/b").unwrap(), true));
        assert!(filter.excludes(&RelPath::new("src/a/.hidden").unwrap(), false));
    }
}
