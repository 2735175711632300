//! OpenSSH's SFTP extensions that `russh-sftp` has no call for: requests built here.

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, Packet, StatusCode};

use super::Inner;

impl Inner {
    /// `posix-rename@openssh.com`: `rename(2)`, which replaces `to` atomically.
    pub(super) async fn posix_rename(&self, from: &str, to: &str) -> Result<(), SftpError> {
        let mut data = Vec::with_capacity(from.len() + to.len() + 8);
        put_string(&mut data, from);
        put_string(&mut data, to);
        let reply = self
            .session
            .extended("posix-rename@openssh.com", data)
            .await?;
        expect_ok(reply)
    }

    /// Sets attributes through the `lsetstat@openssh.com` extension (a link itself).
    pub(super) async fn lsetstat(
        &self,
        remote: &str,
        attrs: &FileAttributes,
    ) -> Result<(), SftpError> {
        let mut data = Vec::new();
        put_string(&mut data, remote);
        data.extend_from_slice(&russh_sftp::ser::to_bytes(attrs).map_err(SftpError::from)?);
        let reply = self.session.extended("lsetstat@openssh.com", data).await?;
        expect_ok(reply)
    }
}

/// Appends an SSH `string` (u32 length, bytes), as extension requests carry their arguments.
fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn expect_ok(reply: Packet) -> Result<(), SftpError> {
    match reply {
        Packet::Status(status) if status.status_code == StatusCode::Ok => Ok(()),
        Packet::Status(status) => Err(SftpError::Status(status)),
        _ => Err(SftpError::UnexpectedPacket),
    }
}
