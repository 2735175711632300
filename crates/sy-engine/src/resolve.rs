//! From the endpoints a user gave to what each transport opens: the directory (root) on
//! each side and the subtree (base) in it that takes part, by rsync's rules.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sy_transport::{ObjectUrl, RelPath};

use crate::endpoint::{RemoteSpec, has_trailing_slash};
use crate::relative;
use crate::{Endpoint, SyncError, SyncOptions};

/// One side of one transfer: a directory and the subtree in it that takes part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Side {
    /// The directory the transport opens (on `remote` when there is one).
    pub(crate) root: PathBuf,
    /// The subtree (the root itself when empty).
    pub(crate) base: RelPath,
    /// The host it is on; `None` on this machine.
    pub(crate) remote: Option<RemoteSpec>,
    /// The bucket it is in (`root` is then the key prefix); `None` for a file system.
    pub(crate) store: Option<ObjectUrl>,
}

/// One source copied to the destination.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// The source as given, for messages.
    pub(crate) shown: String,
    /// Where it is read.
    pub(crate) src: Side,
    /// Where it is written.
    pub(crate) dst: Side,
    /// Source and destination are the same directory: nothing to do.
    pub(crate) same: bool,
    /// With `-R`, the kept path: both bases are then their roots, the scans start at this
    /// path, and the directories above it are implied (see [`crate::relative`]).
    pub(crate) kept: Option<RelPath>,
}

impl Transfer {
    /// The subtree a side's scan starts at: the kept path with `-R`, else the side's base.
    pub(crate) fn scanned<'a>(&'a self, side: &'a Side) -> &'a RelPath {
        self.kept.as_ref().unwrap_or(&side.base)
    }
}

fn split_name(path: &Path) -> Option<(PathBuf, RelPath)> {
    let name = path.file_name()?;
    let base = RelPath::new(name.as_bytes()).ok()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((parent, base))
}

/// Works out which directories the transports open and which subtrees take part.
pub(crate) fn resolve(
    src: &Endpoint,
    dst: &Endpoint,
    single: bool,
    sync: &SyncOptions,
) -> Result<Transfer, SyncError> {
    match (src.remote(), dst.remote(), src.store(), dst.store()) {
        (_, _, Some(_), Some(_)) => Err(SyncError::Invalid(
            "copying between two object-store locations is not supported yet".into(),
        )),
        (Some(_), Some(_), _, _) => Err(SyncError::Invalid(
            "copying between two remote hosts is not supported; run sy on one of them".into(),
        )),
        (Some(_), _, _, Some(_)) | (_, Some(_), Some(_), _) => Err(SyncError::Invalid(
            "copying between an object store and a remote host is not supported yet; run sy \
             on that host"
                .into(),
        )),
        (_, _, Some(_), _) | (_, _, _, Some(_)) if sync.relative => Err(SyncError::Invalid(
            "--relative with an object-store location is not supported yet".into(),
        )),
        (Some(spec), None, _, None) if sync.relative => {
            resolve_pull_relative(spec.clone(), dst.as_os_str())
        }
        (Some(spec), None, _, None) => Ok(resolve_pull(spec.clone(), dst.as_os_str())),
        (None, None, Some(url), None) => resolve_store_pull(url, dst.as_os_str()),
        (None, remote_dst, None, store_dst) => resolve_local(
            src.as_os_str(),
            dst.as_os_str(),
            (remote_dst.cloned(), store_dst),
            single,
            sync,
        ),
    }
}

/// `host:src DST`: the remote source cannot be examined before connecting, so the trailing
/// slash alone decides (with it, the contents; without, the directory or file itself).
fn resolve_pull(spec: RemoteSpec, dst: &OsStr) -> Transfer {
    let shown = spec.shown();
    let contents = spec.path.is_empty() || has_trailing_slash(OsStr::new(&spec.path));
    let src_path = PathBuf::from(&spec.path);
    let (root, base) = match split_name(&src_path) {
        Some(split) if !contents => split,
        _ if spec.path.is_empty() => (PathBuf::from("."), RelPath::root()),
        _ => (src_path, RelPath::root()),
    };
    Transfer {
        shown,
        dst: Side {
            root: PathBuf::from(dst),
            base: base.clone(),
            remote: None,
            store: None,
        },
        src: Side {
            root,
            base,
            remote: Some(spec),
            store: None,
        },
        same: false,
        kept: None,
    }
}

/// `-R host:src DST`: the kept path is read from the remote path as typed.
fn resolve_pull_relative(spec: RemoteSpec, dst: &OsStr) -> Result<Transfer, SyncError> {
    let kept = relative::split(spec.path.as_bytes())?;
    Ok(Transfer {
        shown: spec.shown(),
        dst: Side {
            root: PathBuf::from(dst),
            base: RelPath::root(),
            remote: None,
            store: None,
        },
        src: Side {
            root: kept.root,
            base: RelPath::root(),
            remote: Some(spec),
            store: None,
        },
        same: false,
        kept: Some(kept.path),
    })
}

/// `s3://bucket/prefix DST`: as with a remote source, the trailing slash alone decides
/// (`prefix/`, or no prefix: its contents; `prefix`: the "directory" or object itself).
fn resolve_store_pull(url: &ObjectUrl, dst: &OsStr) -> Result<Transfer, SyncError> {
    let prefix = url
        .prefix_path()
        .map_err(|e| SyncError::Invalid(e.to_string()))?;
    let (root, base) = match (url.names_contents(), prefix.parent(), prefix.file_name()) {
        (false, Some(parent), Some(name)) => (
            parent,
            RelPath::new(name.to_vec()).map_err(sy_transport::Error::from)?,
        ),
        _ => (prefix, RelPath::root()),
    };
    Ok(Transfer {
        shown: url.to_string(),
        dst: Side {
            root: PathBuf::from(dst),
            base: base.clone(),
            remote: None,
            store: None,
        },
        src: Side {
            root: root.as_path().to_path_buf(),
            base,
            remote: None,
            store: Some(url.with_prefix(&root)),
        },
        same: false,
        kept: None,
    })
}

fn resolve_local(
    src: &OsStr,
    dst: &OsStr,
    (remote_dst, store_dst): (Option<RemoteSpec>, Option<&ObjectUrl>),
    single: bool,
    sync: &SyncOptions,
) -> Result<Transfer, SyncError> {
    let src_path = PathBuf::from(src);
    let shown = src_path.display().to_string();
    let meta = if sync.follow_links {
        fs::metadata(&src_path)
    } else {
        fs::symlink_metadata(&src_path)
    }
    .map_err(|source| SyncError::Source {
        shown: shown.clone(),
        source,
    })?;
    let kept = sync
        .relative
        .then(|| relative::split(src.as_bytes()))
        .transpose()?;
    let contents = has_trailing_slash(src);
    let (src_root, src_base) = match (&kept, split_name(&src_path)) {
        (Some(kept), _) => (kept.root.clone(), RelPath::root()),
        (None, Some(split)) if !contents => split,
        (None, _) => (src_path.clone(), RelPath::root()),
    };
    let (dst_path, dst_is_dir) = match (&remote_dst, store_dst) {
        // A prefix is a directory when it ends in `/` or is empty.
        (_, Some(url)) => (
            url.prefix_path()
                .map_err(|e| SyncError::Invalid(e.to_string()))?
                .as_path()
                .to_path_buf(),
            url.names_contents(),
        ),
        // A remote directory cannot be examined first: a trailing slash (or no path, the
        // login directory) says it is one.
        (Some(spec), None) => (
            PathBuf::from(if spec.path.is_empty() {
                "."
            } else {
                &spec.path
            }),
            spec.path.is_empty() || has_trailing_slash(OsStr::new(&spec.path)),
        ),
        (None, None) => {
            let path = PathBuf::from(dst);
            let is_dir = has_trailing_slash(dst) || path.is_dir();
            (path, is_dir)
        }
    };
    let store_at = |root: &Path| {
        store_dst.map(|url| url.with_prefix(&RelPath::from_path(root).unwrap_or_default()))
    };
    let dst_end = if !meta.is_dir() && single && !dst_is_dir && kept.is_none() {
        // `sy file.txt new-name`: the copy takes DST's name.
        split_name(&dst_path)
            .map(|(root, base)| Side {
                store: store_at(&root),
                root,
                base,
                remote: remote_dst.clone(),
            })
            .ok_or_else(|| {
                SyncError::Invalid(format!("{} is not a usable file name", dst_path.display()))
            })?
    } else {
        Side {
            store: store_at(&dst_path),
            root: dst_path.clone(),
            base: src_base.clone(),
            remote: remote_dst.clone(),
        }
    };
    let src_end = Side {
        root: src_root,
        base: src_base,
        remote: None,
        store: None,
    };
    let kept = kept.map(|k| k.path);
    let scanned = |side: &Side| {
        side.root
            .join(kept.as_ref().unwrap_or(&side.base).as_path())
    };
    let mut same = false;
    if meta.is_dir() && remote_dst.is_none() && store_dst.is_none() {
        let src_real = fs::canonicalize(scanned(&src_end)).map_err(|source| SyncError::Source {
            shown: shown.clone(),
            source,
        })?;
        let dst_real = canonical_prefix(&scanned(&dst_end));
        if dst_real == src_real {
            same = true;
        } else if dst_real.starts_with(&src_real) {
            return Err(SyncError::Invalid(format!(
                "destination {} is inside source {shown}; refusing to copy a tree into itself",
                dst_path.display()
            )));
        } else if sync.delete && src_real.starts_with(&dst_real) {
            return Err(SyncError::Invalid(format!(
                "source {shown} is inside destination {}; --delete would remove it",
                dst_path.display()
            )));
        }
    }
    Ok(Transfer {
        shown,
        src: src_end,
        dst: dst_end,
        same,
        kept,
    })
}

/// `path` with its longest existing ancestor canonicalized (the rest may not exist yet).
fn canonical_prefix(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut cursor = absolute.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(cursor) {
            let mut out = real;
            for name in missing.iter().rev() {
                out.push(name);
            }
            return out;
        }
        match (cursor.parent(), cursor.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                cursor = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_splits_into_parent_and_base() {
        let (parent, base) = split_name(Path::new("x/y")).unwrap();
        assert_eq!(parent, Path::new("x"));
        assert_eq!(base.as_bytes(), b"y");
        let (parent, _) = split_name(Path::new("y")).unwrap();
        assert_eq!(parent, Path::new("."));
        assert!(split_name(Path::new("/")).is_none());
    }

    #[test]
    fn relative_keeps_the_path_beneath_both_roots() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("x/a/b")).unwrap();
        let opts = SyncOptions {
            relative: true,
            ..SyncOptions::default()
        };
        let src = Endpoint::local(format!("{}/./a/b/", dir.path().join("x").display()));
        let dst = Endpoint::local(dir.path().join("out"));
        let t = resolve(&src, &dst, true, &opts).unwrap();
        assert_eq!(
            (t.src.root.as_path(), t.dst.root.as_path()),
            (
                dir.path().join("x").as_path(),
                dir.path().join("out").as_path()
            )
        );
        assert!(t.src.base.is_root() && t.dst.base.is_root());
        assert_eq!(t.scanned(&t.dst).to_string(), "a/b");
        let pull = resolve(
            &Endpoint::parse("h:/srv/./data/").unwrap(),
            &dst,
            true,
            &opts,
        )
        .unwrap();
        assert_eq!(pull.src.root, Path::new("/srv"));
        assert_eq!(pull.scanned(&pull.src).to_string(), "data");
        let store = Endpoint::parse("s3://bucket/p/").unwrap();
        let err = resolve(&src, &store, true, &opts).unwrap_err().to_string();
        assert!(err.contains("--relative"), "{err}");
    }

    #[test]
    fn canonical_prefix_keeps_missing_tail() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            canonical_prefix(&dir.path().join("a/b")),
            real.join("a").join("b")
        );
    }
}
