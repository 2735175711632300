//! Putting a finished temporary in place of its target, so the target is always its old or its
//! new version, even on a server whose rename cannot replace a file.

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

use super::{Inner, is_not_found, kind_of};
use crate::EntryKind;
use crate::names::aside_name;

/// A rename into place that failed.
#[derive(Debug)]
pub(super) struct Unplaced {
    pub(super) error: SftpError,
    /// Where the target's old version is when it could not be put back: the target is missing,
    /// and the source of the rename is the only copy of the new version, so it must be kept.
    pub(super) old_version_at: Option<String>,
}

impl Unplaced {
    /// The error, saying where both versions are when the target is missing.
    pub(super) fn into_error(self, from: &str) -> SftpError {
        let Some(aside) = self.old_version_at else {
            return self.error;
        };
        let note = format!("the old version is kept as {aside}, the new one as {from}");
        match self.error {
            SftpError::Status(mut status) => {
                status.error_message = if status.error_message.is_empty() {
                    format!("{}; {note}", status.status_code)
                } else {
                    format!("{}; {note}", status.error_message)
                };
                SftpError::Status(status)
            }
            other => SftpError::UnexpectedBehavior(format!("{other}; {note}")),
        }
    }

    /// True when the source of the rename may be removed: the target still holds a version.
    pub(super) fn source_is_spare(&self) -> bool {
        self.old_version_at.is_none()
    }
}

impl From<SftpError> for Unplaced {
    fn from(error: SftpError) -> Unplaced {
        Unplaced {
            error,
            old_version_at: None,
        }
    }
}

impl Inner {
    /// Renames `from` over `to`, replacing it atomically with `posix-rename@openssh.com`.
    ///
    /// Plain SFTP rename refuses an existing target, so without the extension the target is
    /// first renamed aside (`.NAME.sy-old.XXXX`, which a scan reports as a leftover), `from`
    /// takes its place, and the aside copy goes. If `from` cannot take the place, the old
    /// version is renamed back; only if that fails too (the link died between the requests)
    /// is the target left missing, with both versions kept and named in the error.
    pub(super) async fn rename_over(&self, from: &str, to: &str) -> Result<(), Unplaced> {
        if self.features.posix_rename {
            return Ok(self.posix_rename(from, to).await?);
        }
        let refused = match self.session.rename(from, to).await {
            Ok(_) => return Ok(()),
            Err(SftpError::Status(status)) if status.status_code == StatusCode::Failure => {
                SftpError::Status(status)
            }
            Err(e) => return Err(e.into()),
        };
        // A directory in the way is not replaced (nor moved aside): the rename stays refused.
        match self.session.lstat(to).await {
            Ok(found) if kind_of(&found.attrs) == Some(EntryKind::Dir) => {
                return Err(refused.into());
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Ok(self.session.rename(from, to).await.map(drop)?);
            }
            Err(e) => return Err(e.into()),
        }
        let aside_of =
            |name: &str| String::from_utf8_lossy(&aside_name(name.as_bytes())).into_owned();
        let aside = match to.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/{}", aside_of(name)),
            None => aside_of(to),
        };
        match self.session.rename(to, aside.as_str()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Ok(self.session.rename(from, to).await.map(drop)?);
            }
            Err(e) => return Err(e.into()),
        }
        match self.session.rename(from, to).await {
            Ok(_) => {
                // Left behind, it is a leftover that the next run tidies.
                if let Err(e) = self.session.remove(aside.as_str()).await {
                    tracing::debug!("removing the old version {aside}: {e}");
                }
                Ok(())
            }
            Err(error) => match self.session.rename(aside.as_str(), to).await {
                Ok(_) => Err(error.into()),
                Err(_) => Err(Unplaced {
                    error,
                    old_version_at: Some(aside),
                }),
            },
        }
    }
}
