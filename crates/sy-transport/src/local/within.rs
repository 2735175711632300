//! Opening a root that a peer names beneath a directory it is restricted to
//! (`sy-remote --restrict TOP`): the peer's path is read relative to `TOP` (an absolute one must
//! lie under it), `..` is refused outright, and the lookup follows a symbolic link only while it
//! stays beneath `TOP`, so no name the peer chooses, and no link planted in the tree, leads out.
//! Directories created on the way (`--mkdir`) are made one at a time inside the directory
//! just resolved beneath `TOP`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::Local;
use super::root::{Follow, open_beneath};
use crate::{Error, RelPath, Result};

impl Local {
    /// Opens `requested`, a directory a peer named, beneath `top`, to serve it as
    /// [`Local::open_confined`] does. A relative `requested` is taken relative to `top`; an
    /// absolute one must start with `top` as given; a `..` anywhere is refused; a symbolic link
    /// on the way is followed only while it stays beneath `top`. With `create`, missing
    /// directories are made, beneath `top` only. A `requested` that does not exist (without
    /// `create`) scans as empty and refuses writes, as with [`Local::open`].
    pub fn open_within(top: &Path, requested: &Path, create: bool) -> Result<Local> {
        let relative = beneath(top, requested)?;
        let root_path = top.join(relative.as_path());
        let top_fd = rustix::fs::open(
            top,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::Io {
            action: "opening the restricted directory",
            path: top.display().to_string(),
            source: e.into(),
        })?;
        let opened = if create {
            make_dirs(top_fd.as_fd(), &relative).and_then(|()| open_dir(&top_fd, &relative))
        } else {
            open_dir(&top_fd, &relative)
        };
        let fd = match opened {
            Ok(fd) => Some(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => None,
            Err(e) if e.raw_os_error() == Some(Errno::XDEV.raw_os_error()) => {
                return Err(Error::LinkLeavesRoot {
                    path: root_path.display().to_string(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: if create {
                        "creating directory"
                    } else {
                        "opening directory"
                    },
                    path: root_path.display().to_string(),
                    source,
                });
            }
        };
        Ok(Local::from_fd(fd, root_path, Follow::Beneath))
    }
}

/// `requested` as a path beneath `top`, by its words alone (the lookup then keeps it there).
fn beneath(top: &Path, requested: &Path) -> Result<RelPath> {
    let refused = |reason| Error::InvalidPath {
        path: requested.display().to_string(),
        reason,
    };
    let rest = if requested.is_absolute() {
        requested
            .strip_prefix(top)
            .map_err(|_| refused("outside the directory this agent is restricted to"))?
    } else {
        requested
    };
    let mut relative = RelPath::root();
    for component in rest.components() {
        match component {
            Component::Normal(name) => relative = relative.join(name.as_encoded_bytes())?,
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refused("`..` is not allowed by a restricted agent"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused("outside the directory this agent is restricted to"));
            }
        }
    }
    Ok(relative)
}

/// Opens the directory `path` beneath `top`, following links only while they stay there.
fn open_dir(top: &OwnedFd, path: &RelPath) -> io::Result<OwnedFd> {
    open_beneath(
        top.as_fd(),
        path,
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
        Follow::Beneath,
    )
}

/// Makes each missing directory of `path` beneath `top`, inside its parent as just resolved
/// beneath `top` (so a link on the way cannot move the new directory elsewhere).
fn make_dirs(top: std::os::fd::BorrowedFd<'_>, path: &RelPath) -> io::Result<()> {
    let mut parent: Option<OwnedFd> = None;
    let mut prefix = RelPath::root();
    for name in path.components() {
        prefix = prefix
            .join(name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let dir = match open_beneath(top, &prefix, flags, Mode::empty(), Follow::Beneath) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let at = parent.as_ref().map_or(top, AsFd::as_fd);
                match rustix::fs::mkdirat(at, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                open_beneath(top, &prefix, flags, Mode::empty(), Follow::Beneath)?
            }
            other => other?,
        };
        parent = Some(dir);
    }
    Ok(())
}
