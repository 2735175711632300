//! Putting `sy-remote` on a host that lacks it: when the host runs the same OS and CPU as this
//! one, the local binary is copied over SFTP to `~/.cache/sy/sy-remote-<version>`.
//!
//! The copy is written under a temporary name with mode 0700, read back and compared by BLAKE3
//! with what was sent, then renamed into place, so the final name only ever holds a whole,
//! verified binary. Later runs reuse it when its size matches the local binary (a rebuilt
//! binary of the same version almost always differs in size; checking its digest would cost
//! reading it back on every run).

use std::path::Path;

use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use sy_delta::{FileDigest, FileHasher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::channel::RemoteExit;
use super::session::SshSession;
use crate::error::{Error, Result};

/// Bytes per read of the local binary (and per SFTP write).
const CHUNK: usize = 256 << 10;

/// Where a deployed agent lives, relative to the remote home directory (where both the login
/// shell and OpenSSH's SFTP server start).
pub fn deployed_agent_path() -> String {
    format!(".cache/sy/sy-remote-{}", env!("CARGO_PKG_VERSION"))
}

/// What came of a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deployed {
    /// The agent is at `path` (relative to the remote home); `uploaded` when this run put it
    /// there rather than finding it from an earlier run.
    Ready {
        /// Home-relative path of the binary.
        path: String,
        /// This run copied it.
        uploaded: bool,
    },
    /// The host cannot run the local binary; the reason says what it runs.
    Unsuitable(String),
}

/// True when `uname -sm` output names the OS and CPU this binary was built for.
pub fn platform_matches(uname: &str) -> bool {
    let mut words = uname.split_whitespace();
    let (Some(os), Some(arch)) = (words.next(), words.next()) else {
        return false;
    };
    let os_matches = match std::env::consts::OS {
        "linux" => os == "Linux",
        "macos" => os == "Darwin",
        "freebsd" => os == "FreeBSD",
        "netbsd" => os == "NetBSD",
        "openbsd" => os == "OpenBSD",
        _ => false,
    };
    let arch_matches = match std::env::consts::ARCH {
        "x86_64" => matches!(arch, "x86_64" | "amd64"),
        "aarch64" => matches!(arch, "aarch64" | "arm64"),
        other => arch == other,
    };
    os_matches && arch_matches && words.next().is_none()
}

/// Copies `local` (a `sy-remote` binary for this OS and CPU) to the host unless it is there
/// already, after checking with `uname -sm` that the host can run it.
pub async fn deploy_agent(session: &SshSession, local: &Path) -> Result<Deployed> {
    let (uname, end) = session.output("uname -sm").await?;
    let uname = String::from_utf8_lossy(&uname).trim().to_owned();
    if end.exit != RemoteExit::Status(0) || !platform_matches(&uname) {
        let runs = if uname.is_empty() {
            "an unknown system".to_owned()
        } else {
            uname
        };
        return Ok(Deployed::Unsuitable(format!(
            "the host runs {runs}, and this sy-remote is for {} {}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )));
    }
    let local_error = |action: &'static str| {
        let path = local.display().to_string();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let local_len = std::fs::metadata(local)
        .map_err(local_error("reading"))?
        .len();
    let sftp_error = |doing: String| {
        let host = session.options().shown.clone();
        move |e: russh_sftp::client::error::Error| Error::Ssh {
            host,
            reason: format!("{doing} over SFTP: {e}"),
        }
    };
    let stream = session.subsystem("sftp").await?;
    let sftp = SftpSession::new(stream)
        .await
        .map_err(sftp_error("starting a session".to_owned()))?;
    let path = deployed_agent_path();
    if let Ok(found) = sftp.metadata(path.as_str()).await
        && found.size == Some(local_len)
    {
        return Ok(Deployed::Ready {
            path,
            uploaded: false,
        });
    }
    for dir in [".cache", ".cache/sy"] {
        // An existing directory refuses mkdir; whether it is usable shows on the upload.
        let _ = sftp.create_dir(dir).await;
    }
    let temp = format!(
        ".cache/sy/.sy-remote-{}.{}.tmp",
        env!("CARGO_PKG_VERSION"),
        crate::seed::random_seed()
    );
    let written = upload(&sftp, local, &temp).await;
    let verified = match written {
        Ok(sent) => read_back(&sftp, &temp).await.map(|got| (sent, got)),
        Err(e) => Err(e),
    };
    let outcome = match verified {
        Ok((sent, got)) if sent == got => Ok(()),
        Ok(_) => Err(Error::Ssh {
            host: session.options().shown.clone(),
            reason: format!("the copy of sy-remote at ~/{temp} differs from what was sent"),
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        let _ = sftp.remove_file(temp.as_str()).await;
        return Err(e);
    }
    // SFTP's rename refuses an existing target; a stale copy of another size is replaced.
    let _ = sftp.remove_file(path.as_str()).await;
    sftp.rename(temp.as_str(), path.as_str())
        .await
        .map_err(sftp_error(format!("renaming ~/{temp} to ~/{path}")))?;
    let _ = sftp.close().await;
    Ok(Deployed::Ready {
        path,
        uploaded: true,
    })
}

/// Writes `local` to `remote` (mode 0700) and returns the BLAKE3 digest of what was sent.
async fn upload(sftp: &SftpSession, local: &Path, remote: &str) -> Result<FileDigest> {
    let io_error = |action: &'static str, path: String| {
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let attributes = FileAttributes {
        permissions: Some(0o700),
        ..FileAttributes::empty()
    };
    let mut file = sftp
        .open_with_flags_and_attributes(
            remote,
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
            attributes,
        )
        .await
        .map_err(|e| Error::Io {
            action: "creating",
            path: format!("~/{remote}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let mut source = tokio::fs::File::open(local)
        .await
        .map_err(io_error("reading", local.display().to_string()))?;
    let mut hasher = FileHasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = source
            .read(&mut buf)
            .await
            .map_err(io_error("reading", local.display().to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .await
            .map_err(io_error("writing", format!("~/{remote}")))?;
    }
    file.shutdown()
        .await
        .map_err(io_error("writing", format!("~/{remote}")))?;
    Ok(hasher.finalize())
}

/// The BLAKE3 digest of `remote` as the host has it.
async fn read_back(sftp: &SftpSession, remote: &str) -> Result<FileDigest> {
    let io_error = |source| Error::Io {
        action: "reading back",
        path: format!("~/{remote}"),
        source,
    };
    let mut file = sftp.open(remote).await.map_err(|e| Error::Io {
        action: "reading back",
        path: format!("~/{remote}"),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut hasher = FileHasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(io_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uname_of_this_machine_matches_and_others_do_not() {
        let this = std::process::Command::new("uname")
            .arg("-sm")
            .output()
            .unwrap();
        let this = String::from_utf8(this.stdout).unwrap();
        assert!(platform_matches(this.trim()), "{this}");
        assert!(!platform_matches("Plan9 mips"));
        assert!(!platform_matches(""));
        assert!(!platform_matches("Linux"));
    }
}
