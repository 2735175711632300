//! Tree operations over SFTP, each after the check that keeps it beneath the root.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, Status, StatusCode};

use super::parents::Parents;
use super::remove::{remove_if_there, remove_tree};
use super::rename::Unplaced;
use super::{
    FILES_AT_ONCE, Inner, bounded, is_not_found, join, kind_of, mode_and_times, owner, set_times,
};
use crate::names::{is_aside, partial_name, temp_name};
use crate::{
    EntryKind, Error, Leftover, LeftoverKind, Meta, MetaOptions, MetaTarget, RelPath, Result,
    TreeOp,
};

/// Applies `ops` in order, except that a run of neighbours that cannot depend on each other
/// goes concurrently (see [`wave`]): a tree of new directories costs a round trip per level,
/// not one per directory.
pub(super) async fn apply(
    inner: &Arc<Inner>,
    ops: Vec<TreeOp>,
    meta: MetaOptions,
) -> Vec<Result<()>> {
    let known = Arc::new(Parents::default());
    let mut results = Vec::with_capacity(ops.len());
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        if wave(&op).is_none() {
            results.push(apply_one(inner, op, meta, &known).await);
            continue;
        }
        // A run: neighbours of one kind, each on a path of its own.
        let kind = std::mem::discriminant(&op);
        let mut paths = HashSet::from([op.path().clone()]);
        let mut run = vec![op];
        while let Some(next) =
            ops.next_if(|next| std::mem::discriminant(next) == kind && !paths.contains(next.path()))
        {
            paths.insert(next.path().clone());
            run.push(next);
        }
        results.extend(apply_run(inner, run, meta, &known).await);
    }
    results
}

/// For the operations that may run alongside their neighbours of the same kind, the order of
/// the waves they run in: directories by depth (parents exist before their children),
/// attributes deepest first (a directory made unreadable last), links all at once.
fn wave(op: &TreeOp) -> Option<usize> {
    match op {
        TreeOp::Mkdir { path } => Some(path.depth()),
        TreeOp::SetMeta { path, .. } => Some(usize::MAX - path.depth()),
        TreeOp::Symlink { .. } => Some(0),
        _ => None,
    }
}

/// Runs operations of one kind, a wave at a time; results in the operations' order.
async fn apply_run(
    inner: &Arc<Inner>,
    run: Vec<TreeOp>,
    meta: MetaOptions,
    known: &Arc<Parents>,
) -> Vec<Result<()>> {
    let mut results: Vec<Option<Result<()>>> = (0..run.len()).map(|_| None).collect();
    let mut waves: Vec<(usize, usize, TreeOp)> = run
        .into_iter()
        .enumerate()
        .map(|(index, op)| (wave(&op).unwrap_or(0), index, op))
        .collect();
    waves.sort_by_key(|(wave, index, _)| (*wave, *index));
    let mut waves = waves.into_iter().peekable();
    while let Some((current, index, op)) = waves.next() {
        let mut members = vec![(index, op)];
        while let Some((_, index, op)) = waves.next_if(|(wave, _, _)| *wave == current) {
            members.push((index, op));
        }
        let (indices, ops): (Vec<usize>, Vec<TreeOp>) = members.into_iter().unzip();
        let done = bounded(ops, FILES_AT_ONCE, |op| {
            let inner = Arc::clone(inner);
            let known = Arc::clone(known);
            async move { apply_one(&inner, op, meta, &known).await }
        })
        .await;
        for (index, result) in indices.into_iter().zip(done) {
            results[index] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Error::Interrupted)))
        .collect()
}

async fn apply_one(
    inner: &Arc<Inner>,
    op: TreeOp,
    options: MetaOptions,
    known: &Parents,
) -> Result<()> {
    let path = op.path().clone();
    inner.check_parents(&path, known).await?;
    let (dir, name) = split(inner, &path)?;
    let remote = join(&dir, &name);
    let shown = &path;
    let at = |action: &'static str| move |e: SftpError| inner.sftp_err(action, shown, e);
    match op {
        TreeOp::Mkdir { .. } => mkdir(inner, &path, &remote)
            .await
            .map_err(at("creating directory")),
        TreeOp::Symlink { target, meta, .. } => {
            known.forget(&path);
            let target = String::from_utf8(target).map_err(|_| Error::InvalidPath {
                path: path.to_string(),
                reason: "the link's target is not valid UTF-8, which SFTP needs here",
            })?;
            let attrs = link_attrs(inner, &meta, options)
                .map_err(|e| inner.err("creating symbolic link", &path, e))?;
            let temp = join(&dir, &temp_of(&name));
            symlink(inner, &remote, &temp, &target, attrs.as_ref())
                .await
                .map_err(at("creating symbolic link"))
        }
        TreeOp::HardLink { target, .. } => {
            if !inner.features.hardlink {
                return Err(inner.err(
                    "creating hard link",
                    &path,
                    io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the SFTP server does not offer hardlink@openssh.com",
                    ),
                ));
            }
            inner.check_parents(&target, known).await?;
            known.forget(&path);
            let existing = inner.remote(&target)?;
            let temp = join(&dir, &temp_of(&name));
            hard_link(inner, &remote, &temp, &existing)
                .await
                .map_err(at("creating hard link"))
        }
        TreeOp::SetMeta { target, meta, .. } => {
            set_meta(inner, &path, &remote, target, &meta, options).await
        }
        TreeOp::MakeWritable { .. } => make_writable(inner, &remote)
            .await
            .map_err(at("making writable")),
        TreeOp::Remove { .. } => {
            known.forget(&path);
            remove_tree(Arc::clone(inner), remote, None)
                .await
                .map_err(|failed| {
                    // Name what could not be removed, when it lies deeper in the tree.
                    let at = inner.relative(&failed.remote).unwrap_or(path.clone());
                    inner.sftp_err("removing", &at, failed.error)
                })
        }
        TreeOp::DropPartial { .. } => {
            let Some(partial) = partial_name(name.as_bytes()) else {
                return Ok(());
            };
            let partial = join(&dir, &String::from_utf8_lossy(&partial));
            remove_if_there(inner, partial)
                .await
                .map_err(at("removing the partial of"))
        }
        TreeOp::Tidy(leftover) => tidy(inner, &dir, &remote, &leftover)
            .await
            .map_err(at("tidying")),
    }
}

/// `path`'s directory and its name in it, as remote strings (the root is its own directory).
fn split(inner: &Inner, path: &RelPath) -> Result<(String, String)> {
    let dir = inner.remote(&path.parent().unwrap_or_default())?;
    // `remote` checked the whole path is UTF-8, so its last component is too.
    let name = String::from_utf8_lossy(path.file_name().unwrap_or_default()).into_owned();
    Ok((dir, name))
}

/// A fresh temporary name for `name` (UTF-8 in, UTF-8 out: the decoration is ASCII).
fn temp_of(name: &str) -> String {
    String::from_utf8_lossy(&temp_name(name.as_bytes())).into_owned()
}

/// A new directory is owner-only until the run's last step gives it its mode, so a run
/// stopped in between (or a lost link) never leaves it more open than its source.
async fn mkdir(inner: &Inner, path: &RelPath, remote: &str) -> Result<(), SftpError> {
    if path.is_root() {
        return Ok(());
    }
    let attrs = FileAttributes {
        permissions: Some(0o700),
        ..FileAttributes::default()
    };
    match inner.session.mkdir(remote, attrs).await {
        Ok(_) => Ok(()),
        // SFTP v3 has no "already exists": look at what is there.
        Err(e) => match inner.session.lstat(remote).await {
            Ok(found) if kind_of(&found.attrs) == Some(EntryKind::Dir) => Ok(()),
            Ok(_) => Err(SftpError::Status(Status {
                id: 0,
                status_code: StatusCode::Failure,
                error_message: "something that is not a directory is in the way".to_owned(),
                language_tag: String::new(),
            })),
            Err(_) => Err(e),
        },
    }
}

/// A new link at a temporary name, its own attributes, then renamed over `remote`.
async fn symlink(
    inner: &Inner,
    remote: &str,
    temp: &str,
    target: &str,
    attrs: Option<&FileAttributes>,
) -> Result<(), SftpError> {
    // OpenSSH's sftp-server reads SSH_FXP_SYMLINK's two paths in the reverse of the draft's
    // order (target first), and other servers followed it; `russh-sftp` sends them as given.
    inner.session.symlink(target, temp).await?;
    let placed = async {
        if let Some(attrs) = attrs {
            inner.lsetstat(temp, attrs).await?;
        }
        inner.rename_over(temp, remote).await
    }
    .await;
    match placed {
        Ok(()) => Ok(()),
        Err(unplaced) => {
            if unplaced.source_is_spare() {
                let _ = inner.session.remove(temp).await;
            }
            Err(unplaced.into_error(temp))
        }
    }
}

/// Times and owner for a link itself, when there are any to set and the server offers
/// `lsetstat@openssh.com` (elsewhere a link keeps the times it was made with). Never a mode:
/// Linux has none for links.
fn link_attrs(
    inner: &Inner,
    meta: &Meta,
    options: MetaOptions,
) -> io::Result<Option<FileAttributes>> {
    if !inner.features.lsetstat || !(options.times || options.owner) {
        return Ok(None);
    }
    let mut attrs = if options.owner {
        owner(meta)
    } else {
        FileAttributes::default()
    };
    if options.times {
        set_times(&mut attrs, meta)?;
    }
    Ok(Some(attrs))
}

async fn hard_link(
    inner: &Inner,
    remote: &str,
    temp: &str,
    existing: &str,
) -> Result<(), SftpError> {
    inner.session.hardlink(existing, temp).await?;
    let placed = inner.rename_over(temp, remote).await;
    // Renaming one name of a file over another name of the same file does nothing and keeps
    // the temporary: it goes either way, unless it stands in for a missing target.
    if placed.as_ref().err().is_none_or(Unplaced::source_is_spare) {
        let _ = inner.session.remove(temp).await;
    }
    placed.map_err(|unplaced| unplaced.into_error(temp))
}

async fn set_meta(
    inner: &Inner,
    path: &RelPath,
    remote: &str,
    target: MetaTarget,
    meta: &Meta,
    options: MetaOptions,
) -> Result<()> {
    let failed = |e| inner.sftp_err("setting attributes of", path, e);
    if target == MetaTarget::Symlink {
        let attrs = link_attrs(inner, meta, options)
            .map_err(|e| inner.err("setting attributes of", path, e))?;
        if let Some(attrs) = attrs {
            inner.lsetstat(remote, &attrs).await.map_err(failed)?;
        }
        return Ok(());
    }
    let expected = if target == MetaTarget::Dir {
        EntryKind::Dir
    } else {
        EntryKind::File
    };
    // `setstat` follows links: look first (a link swapped in after this is not stopped).
    let found = inner.session.lstat(remote).await.map_err(failed)?.attrs;
    if kind_of(&found) != Some(expected) {
        return Err(inner.err(
            "setting attributes of",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "changed kind during the run"),
        ));
    }
    if options.owner {
        inner
            .session
            .setstat(remote, owner(meta))
            .await
            .map_err(failed)?;
    }
    let attrs =
        mode_and_times(meta, options).map_err(|e| inner.err("setting attributes of", path, e))?;
    inner.session.setstat(remote, attrs).await.map_err(failed)?;
    Ok(())
}

async fn make_writable(inner: &Inner, remote: &str) -> Result<(), SftpError> {
    let found = inner.session.lstat(remote).await?.attrs;
    let mode = found.permissions.unwrap_or(0) & 0o7777;
    if kind_of(&found) != Some(EntryKind::Dir) || mode & 0o700 == 0o700 {
        return Ok(());
    }
    let writable = FileAttributes {
        permissions: Some(mode | 0o700),
        ..FileAttributes::default()
    };
    inner.session.setstat(remote, writable).await?;
    Ok(())
}

/// A stray temporary becomes its file's partial (unless a larger one exists) or goes. An old
/// version moved aside goes back in place when its file is missing (a run was cut between the
/// renames of [`Inner::rename_over`]), else it goes.
async fn tidy(
    inner: &Inner,
    dir: &str,
    remote: &str,
    leftover: &Leftover,
) -> Result<(), SftpError> {
    let file_name = leftover.file.as_ref().and_then(|f| f.file_name());
    if leftover.path.file_name().is_some_and(is_aside)
        && let Some(name) = file_name
    {
        let target = join(dir, &String::from_utf8_lossy(name));
        return match inner.session.lstat(target.as_str()).await {
            Err(e) if is_not_found(&e) => inner.session.rename(remote, target).await.map(drop),
            Err(e) => Err(e),
            Ok(_) => remove_if_there(inner, remote.to_owned()).await,
        };
    }
    if leftover.kind == LeftoverKind::Temp
        && let Some(partial) = file_name.and_then(partial_name)
    {
        let partial = join(dir, &String::from_utf8_lossy(&partial));
        let temp_len = inner.session.lstat(remote).await?.attrs.size.unwrap_or(0);
        let partial_len = match inner.session.lstat(partial.as_str()).await {
            Ok(found) => Some(found.attrs.size.unwrap_or(0)),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        if temp_len > 0 && partial_len.is_none_or(|p| p < temp_len) {
            return inner
                .rename_over(remote, &partial)
                .await
                .map_err(|unplaced| unplaced.into_error(remote));
        }
    }
    remove_if_there(inner, remote.to_owned()).await
}
