//! `RelPath`: a path beneath a transfer root, checked once when it is made.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path refused by [`RelPath::new`] or [`RelPath::join`]: absolute, with a `.` or `..`
/// component, an empty component, or a NUL byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?}: {reason}")]
pub struct PathError {
    /// The offending path, lossily decoded.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A relative path beneath a transfer root, as raw bytes (Unix file names need not be UTF-8).
///
/// Every `RelPath` is valid by construction: no leading `/`, no `.` or `..` components, no
/// empty components (so no `//` and no trailing `/`), no NUL byte. The empty path is the root
/// itself. The protocol's decoder makes every path a peer sends through [`RelPath::new`], so a
/// hostile peer cannot name anything outside the root.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(Box<[u8]>);

impl RelPath {
    /// The root of the transfer (the empty path).
    pub fn root() -> Self {
        RelPath(Box::default())
    }

    /// Checks `bytes` and wraps them; refuses absolute paths, `.`/`..`, empty components and NUL.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, PathError> {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            for component in bytes.split(|&b| b == b'/') {
                check_component(component).map_err(|reason| PathError {
                    path: String::from_utf8_lossy(&bytes).into_owned(),
                    reason,
                })?;
            }
        }
        Ok(RelPath(bytes.into_boxed_slice()))
    }

    /// Converts a relative filesystem path (as typed by a user) into a `RelPath`.
    pub fn from_path(path: &Path) -> Result<Self, PathError> {
        RelPath::new(path.as_os_str().as_bytes())
    }

    /// This path joined with one more file name, which must be a single valid component.
    pub fn join(&self, name: &[u8]) -> Result<Self, PathError> {
        let one = if name.contains(&b'/') {
            Err("`/` in a file name")
        } else {
            check_component(name)
        };
        one.map_err(|reason| PathError {
            path: String::from_utf8_lossy(name).into_owned(),
            reason,
        })?;
        Ok(self.join_valid(name))
    }

    /// Joins a component (or several) already known to be valid.
    fn join_valid(&self, name: &[u8]) -> Self {
        if self.0.is_empty() {
            return RelPath(name.into());
        }
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0);
        bytes.push(b'/');
        bytes.extend_from_slice(name);
        RelPath(bytes.into_boxed_slice())
    }

    /// `other` appended beneath this path (both already valid).
    pub fn join_rel(&self, other: &RelPath) -> Self {
        if other.is_root() {
            return self.clone();
        }
        self.join_valid(&other.0)
    }

    /// This path with `prefix` removed from its front, if it lies at or beneath `prefix`.
    pub fn strip_prefix(&self, prefix: &RelPath) -> Option<RelPath> {
        if prefix.is_root() {
            return Some(self.clone());
        }
        if self == prefix {
            return Some(RelPath::root());
        }
        let rest = self.0.strip_prefix(&*prefix.0)?.strip_prefix(b"/")?;
        Some(RelPath(rest.into()))
    }

    /// True for the root (empty) path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw bytes, components separated by `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as a `std::path::Path` (relative; join it to a root before use).
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        })
    }

    /// The parent directory, or `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => RelPath(self.0[..i].into()),
            None => RelPath::root(),
        })
    }

    /// The components in order (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// Number of components (0 for the root).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// True when `self` is `ancestor` or lies beneath it.
    pub fn starts_with(&self, ancestor: &RelPath) -> bool {
        self.strip_prefix(ancestor).is_some()
    }
}

fn check_component(component: &[u8]) -> Result<(), &'static str> {
    match component {
        b"" => Err("empty component (absolute path, `//` or trailing `/`)"),
        b"." | b".." => Err("`.` or `..` component"),
        c if c.contains(&0) => Err("NUL byte"),
        _ => Ok(()),
    }
}

impl fmt::Display for RelPath {
    /// Shows the path for messages: invalid UTF-8 as `\xNN`, control characters escaped, so a
    /// file name with a newline cannot forge a line of output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        Escaped(&self.0).fmt(f)
    }
}

/// Bytes shown safely on a terminal: invalid UTF-8 as `\xNN`, control characters escaped.
/// For anything a peer or a file name supplies that ends up in a message, so it cannot forge
/// a line of output or move the cursor.
///
/// ```
/// use sy_protocol::Escaped;
/// assert_eq!(Escaped(b"a\nb\xff").to_string(), "a\\nb\\xff");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            &b"a"[..],
            b"a/b/c",
            b"-x",
            b"with space/\n",
            b"\xff\xfe/x",
            b"..a/b..",
        ] {
            let p = RelPath::new(ok).unwrap();
            assert_eq!(p.as_bytes(), ok);
        }
        assert!(RelPath::new("").unwrap().is_root());
    }

    #[test]
    fn refuses_escapes_and_malformed_paths() {
        for bad in [
            &b"/etc/passwd"[..],
            b"..",
            b"a/../b",
            b"a/./b",
            b".",
            b"a//b",
            b"a/",
            b"/",
            b"a\0b",
        ] {
            let err = RelPath::new(bad).unwrap_err();
            assert_eq!(
                err.path,
                String::from_utf8_lossy(bad),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn join_refuses_separators_and_dots() {
        let base = RelPath::new("d").unwrap();
        assert_eq!(base.join(b"f").unwrap().as_bytes(), b"d/f");
        assert!(base.join(b"a/b").is_err());
        assert!(base.join(b"..").is_err());
        assert_eq!(RelPath::root().join(b"f").unwrap().as_bytes(), b"f");
    }

    #[test]
    fn parent_file_name_and_prefixes() {
        let p = RelPath::new("a/b/c").unwrap();
        assert_eq!(p.file_name(), Some(&b"c"[..]));
        assert_eq!(p.parent().unwrap().as_bytes(), b"a/b");
        assert_eq!(RelPath::new("a").unwrap().parent(), Some(RelPath::root()));
        assert_eq!(RelPath::root().parent(), None);
        assert_eq!(p.depth(), 3);
        let a = RelPath::new("a").unwrap();
        assert_eq!(p.strip_prefix(&a).unwrap().as_bytes(), b"b/c");
        assert!(RelPath::new("ab/c").unwrap().strip_prefix(&a).is_none());
        assert!(p.starts_with(&a));
        assert_eq!(a.join_rel(&RelPath::new("b/c").unwrap()), p);
    }

    #[test]
    fn display_escapes_control_and_invalid_bytes() {
        let p = RelPath::new(&b"a\nb/\xff"[..]).unwrap();
        assert_eq!(p.to_string(), "a\\nb/\\xff");
    }
}
