//! Removing remote files and whole trees, never following a link, many entries at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::FileAttributes;
use tokio::task::JoinSet;

use super::{FILES_AT_ONCE, Inner, is_not_found, join, kind_of};
use crate::EntryKind;

/// Where a removal failed (the remote path, deep inside the tree perhaps) and why.
pub(super) struct RemoveFailed {
    pub(super) remote: String,
    pub(super) error: SftpError,
}

/// Removes `remote` — a directory with everything in it — never following a link.
/// `attrs` are its attributes when a listing already gave them.
pub(super) fn remove_tree(
    inner: Arc<Inner>,
    remote: String,
    attrs: Option<FileAttributes>,
) -> Pin<Box<dyn Future<Output = Result<(), RemoveFailed>> + Send>> {
    Box::pin(async move {
        let failed = |error| RemoveFailed {
            remote: remote.clone(),
            error,
        };
        let attrs = match attrs {
            Some(attrs) => attrs,
            None => match inner.session.lstat(remote.as_str()).await {
                Ok(found) => found.attrs,
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(failed(e)),
            },
        };
        if kind_of(&attrs) != Some(EntryKind::Dir) {
            return remove_if_there(&inner, remote.clone())
                .await
                .map_err(failed);
        }
        // A read-only directory must become writable before its entries can go.
        let mode = attrs.permissions.unwrap_or(0) & 0o7777;
        if mode & 0o300 != 0o300 {
            let writable = FileAttributes {
                permissions: Some(mode | 0o700),
                ..FileAttributes::default()
            };
            inner
                .session
                .setstat(remote.as_str(), writable)
                .await
                .map_err(failed)?;
        }
        let children = inner.list(&remote).await.map_err(failed)?;
        let mut running = JoinSet::new();
        let mut failure = None;
        for child in children {
            // `.`, `..` and anything a hostile server might name beyond this directory.
            if child.filename == "." || child.filename == ".." || child.filename.contains('/') {
                continue;
            }
            if running.len() >= FILES_AT_ONCE {
                note(running.join_next().await, &mut failure, &remote);
            }
            let child_remote = join(&remote, &child.filename);
            running.spawn(remove_tree(
                Arc::clone(&inner),
                child_remote,
                Some(child.attrs),
            ));
        }
        while let Some(done) = running.join_next().await {
            note(Some(done), &mut failure, &remote);
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        match inner.session.rmdir(remote.as_str()).await {
            Err(e) if !is_not_found(&e) => Err(failed(e)),
            _ => Ok(()),
        }
    })
}

/// Keeps the first failure of a finished removal task beneath `dir`.
fn note(
    done: Option<Result<Result<(), RemoveFailed>, tokio::task::JoinError>>,
    failure: &mut Option<RemoveFailed>,
    dir: &str,
) {
    match done {
        Some(Ok(Err(e))) => {
            failure.get_or_insert(e);
        }
        Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Some(Err(_)) => {
            failure.get_or_insert(RemoveFailed {
                remote: dir.to_owned(),
                error: SftpError::UnexpectedBehavior("interrupted".to_owned()),
            });
        }
        _ => {}
    }
}

/// Removes the file (or link) `remote`; one already gone is no failure.
pub(super) async fn remove_if_there(inner: &Inner, remote: String) -> Result<(), SftpError> {
    match inner.session.remove(remote).await {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}
