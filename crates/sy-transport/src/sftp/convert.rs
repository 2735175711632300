//! Between SFTP and sy: status codes as `io::Error`s, attributes as entries and back.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, StatusCode};

use crate::{Entry, EntryKind, Meta, MetaOptions, RelPath, SpecialKind, Timestamp};

/// An SFTP failure as an `io::Error` whose kind follows the status code and whose text is the
/// server's message ("Permission denied", "No such file", "Failure", …).
pub(super) fn io_error(error: SftpError) -> io::Error {
    match error {
        SftpError::Status(status) => {
            let kind = match status.status_code {
                StatusCode::NoSuchFile => io::ErrorKind::NotFound,
                StatusCode::PermissionDenied => io::ErrorKind::PermissionDenied,
                StatusCode::OpUnsupported => io::ErrorKind::Unsupported,
                StatusCode::Eof => io::ErrorKind::UnexpectedEof,
                StatusCode::BadMessage => io::ErrorKind::InvalidData,
                StatusCode::NoConnection | StatusCode::ConnectionLost => {
                    io::ErrorKind::ConnectionAborted
                }
                StatusCode::Ok | StatusCode::Failure => io::ErrorKind::Other,
            };
            let text = if status.error_message.is_empty() {
                status.status_code.to_string()
            } else {
                status.error_message
            };
            io::Error::new(kind, text)
        }
        SftpError::Timeout => io::Error::new(
            io::ErrorKind::TimedOut,
            "the SFTP server did not answer in time",
        ),
        SftpError::Limited(why) => io::Error::new(io::ErrorKind::InvalidInput, why),
        other => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the SFTP session failed: {other}"),
        ),
    }
}

/// The entry kind for SFTP attributes (the file-type bits of `permissions`).
pub(super) fn kind_of(attrs: &FileAttributes) -> Option<EntryKind> {
    Some(match attrs.permissions? & 0o170_000 {
        0o100_000 => EntryKind::File,
        0o040_000 => EntryKind::Dir,
        0o120_000 => EntryKind::Symlink { target: Vec::new() },
        0o010_000 => EntryKind::Special(SpecialKind::Fifo),
        0o140_000 => EntryKind::Special(SpecialKind::Socket),
        0o020_000 => EntryKind::Special(SpecialKind::CharDevice),
        0o060_000 => EntryKind::Special(SpecialKind::BlockDevice),
        _ => return None,
    })
}

/// Builds an `Entry` from SFTP attributes: whole-second times, no device or inode.
pub(super) fn entry_from_attrs(path: RelPath, attrs: &FileAttributes, kind: EntryKind) -> Entry {
    Entry {
        path,
        size: if kind == EntryKind::File {
            attrs.size.unwrap_or(0)
        } else {
            0
        },
        kind,
        meta: Meta {
            mode: attrs.permissions.unwrap_or(0) & 0o7777,
            mtime: Timestamp {
                secs: attrs.mtime.map_or(0, i64::from),
                nanos: 0,
            },
            uid: attrs.uid.unwrap_or(0),
            gid: attrs.gid.unwrap_or(0),
        },
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

/// The attributes that give a file or directory its mode and (when asked) its times; the
/// owner goes in a request of its own, before these (a change of owner clears set-id bits).
pub(super) fn mode_and_times(meta: &Meta, options: MetaOptions) -> io::Result<FileAttributes> {
    let mut attrs = FileAttributes {
        permissions: Some(meta.mode & 0o7777),
        ..FileAttributes::default()
    };
    if options.times {
        set_times(&mut attrs, meta)?;
    }
    Ok(attrs)
}

/// Puts `meta`'s modification time (whole seconds) and the current access time into `attrs`.
pub(super) fn set_times(attrs: &mut FileAttributes, meta: &Meta) -> io::Result<()> {
    let mtime = u32::try_from(meta.mtime.secs).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "modification time {} s is outside what SFTP can store (1970 to 2106)",
                meta.mtime.secs
            ),
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    attrs.mtime = Some(mtime);
    attrs.atime = Some(u32::try_from(now).unwrap_or(mtime));
    Ok(())
}

/// The owner attributes of `meta`.
pub(super) fn owner(meta: &Meta) -> FileAttributes {
    FileAttributes {
        uid: Some(meta.uid),
        gid: Some(meta.gid),
        ..FileAttributes::default()
    }
}
