//! Putting `sy-remote` on a host that lacks it: when the host runs the same OS and CPU as this
//! one, the local binary is copied over SFTP into `~/.cache/sy` under its content-addressed
//! name ([`LocalAgent`], which also says what is checked before a copy runs).
//!
//! Where the host has `zstd`, the copy travels compressed (a stripped agent shrinks to about
//! 40 %) and a remote `zstd -d` unpacks it, checking the frame's checksum, so what it writes is
//! what was read here; elsewhere the binary goes as it is and is read back and compared by
//! BLAKE3. Either way it is written under a temporary name with mode 0700, then renamed into
//! place over whatever held the name, so the final name only ever holds a whole, verified
//! binary. The directory is made private first: one of ours with another mode is set to 0700;
//! anything else there (a file, a link, another user's directory) is moved aside.

use std::io::Write;

use bytes::Bytes;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use sy_delta::{FileDigest, FileHasher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::agent_cache::{AGENT_DIR, LocalAgent};
use super::channel::RemoteExit;
use super::session::SshSession;
use crate::error::{Error, Result};

/// Bytes per read when reading the copy back.
const CHUNK: usize = 256 << 10;

/// zstd level of the copy on the wire: the default level packs a stripped agent to about 40 %
/// in a few milliseconds; higher levels save a few percent more for hundreds of them.
const ZSTD_LEVEL: i32 = 3;

/// Run first on the host: its OS and CPU, the login user's id (the owner the deployed agent
/// must have) and whether `zstd` is there to unpack a compressed copy.
const PROBE: &str =
    "sh -c 'uname -sm; id -u; if command -v zstd >/dev/null 2>&1; then echo zstd; fi'";

/// What came of a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deployed {
    /// The agent is at `path` (relative to the remote home), copied by this run.
    Ready {
        /// Home-relative path of the binary.
        path: String,
        /// Bytes of the binary sent (fewer than its size when compressed).
        sent: u64,
        /// It went zstd-compressed.
        compressed: bool,
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

/// What [`PROBE`] found on the host.
struct Host {
    uname: String,
    uid: Option<u32>,
    zstd: bool,
}

impl Host {
    fn parse(output: &[u8]) -> Host {
        let text = String::from_utf8_lossy(output);
        let mut lines = text.lines().map(str::trim);
        Host {
            uname: lines.next().unwrap_or_default().to_owned(),
            uid: lines.next().and_then(|line| line.parse().ok()),
            zstd: lines.next() == Some("zstd"),
        }
    }
}

/// Copies `agent` (a `sy-remote` binary for this OS and CPU) to the host, replacing whatever
/// holds its name there, after checking with `uname -sm` that the host can run it.
pub async fn deploy_agent(session: &SshSession, agent: &LocalAgent) -> Result<Deployed> {
    let (output, end) = session.output(PROBE).await?;
    let host = Host::parse(&output);
    let uid = match host.uid {
        Some(uid) if end.exit == RemoteExit::Status(0) && platform_matches(&host.uname) => uid,
        _ => {
            let runs = if host.uname.is_empty() {
                "an unknown system".to_owned()
            } else {
                host.uname
            };
            return Ok(Deployed::Unsuitable(format!(
                "the host runs {runs}, and this sy-remote is for {} {}",
                std::env::consts::OS,
                std::env::consts::ARCH
            )));
        }
    };
    let binary = load(agent).await?;
    let stream = session.subsystem("sftp").await?;
    let sftp = SftpSession::new(stream)
        .await
        .map_err(sftp_error(session, "starting a session".to_owned()))?;
    let path = agent.remote_path();
    let temp = format!(
        "{AGENT_DIR}/.{}.{}.tmp",
        agent.file_name(),
        crate::seed::random_seed()
    );
    let outcome = async {
        private_dir(session, &sftp, uid).await?;
        let packed = if host.zstd {
            upload_compressed(session, &sftp, &binary, &temp).await
        } else {
            None
        };
        let (sent, compressed) = match packed {
            Some(sent) => (sent, true),
            None => {
                upload_plain(session, &sftp, &binary, &temp, agent.digest()).await?;
                (agent.len(), false)
            }
        };
        let private = FileAttributes {
            permissions: Some(0o700),
            ..FileAttributes::empty()
        };
        sftp.set_metadata(temp.as_str(), private)
            .await
            .map_err(sftp_error(session, format!("setting the mode of ~/{temp}")))?;
        // SFTP's rename refuses an existing target: a stale or planted file there goes first.
        let _ = sftp.remove_file(path.as_str()).await;
        sftp.rename(temp.as_str(), path.as_str())
            .await
            .map_err(sftp_error(
                session,
                format!("renaming ~/{temp} to ~/{path}"),
            ))?;
        Ok::<_, Error>((sent, compressed))
    }
    .await;
    if outcome.is_err() {
        let _ = sftp.remove_file(temp.as_str()).await;
    }
    let _ = sftp.close().await;
    let (sent, compressed) = outcome?;
    Ok(Deployed::Ready {
        path,
        sent,
        compressed,
    })
}

/// The local binary's bytes, checked against the digest its name was made from.
async fn load(agent: &LocalAgent) -> Result<Bytes> {
    let shown = agent.path().display().to_string();
    let binary = tokio::fs::read(agent.path())
        .await
        .map_err(|source| Error::Io {
            action: "reading",
            path: shown.clone(),
            source,
        })?;
    if FileDigest::of_bytes(&binary) != agent.digest() {
        return Err(Error::Io {
            action: "reading",
            path: shown,
            source: std::io::Error::other("the file changed since sy started"),
        });
    }
    Ok(Bytes::from(binary))
}

/// An SFTP failure while `doing` something on the host.
fn sftp_error(
    session: &SshSession,
    doing: String,
) -> impl FnOnce(russh_sftp::client::error::Error) -> Error {
    let host = session.options().shown.clone();
    move |e| Error::Ssh {
        host,
        reason: format!("{doing} over SFTP: {e}"),
    }
}

/// Makes [`AGENT_DIR`] a directory of the user `uid`'s with mode 0700: creates it, sets the
/// mode of one of theirs, or moves anything else aside (it cannot be trusted, nor always
/// removed) and creates a fresh one.
async fn private_dir(session: &SshSession, sftp: &SftpSession, uid: u32) -> Result<()> {
    // An existing `.cache` refuses mkdir; whether it is usable shows on the next steps.
    let _ = sftp.create_dir(".cache").await;
    let private = FileAttributes {
        permissions: Some(0o700),
        ..FileAttributes::empty()
    };
    if let Ok(found) = sftp.symlink_metadata(AGENT_DIR).await {
        let mode = found.permissions.unwrap_or_default();
        if mode & 0o170_000 == 0o040_000 && found.uid == Some(uid) {
            if mode & 0o7777 != 0o700 {
                sftp.set_metadata(AGENT_DIR, private)
                    .await
                    .map_err(sftp_error(session, format!("making ~/{AGENT_DIR} private")))?;
            }
            return Ok(());
        }
        let aside = format!("{AGENT_DIR}.untrusted-{}", crate::seed::random_seed());
        sftp.rename(AGENT_DIR, aside.as_str())
            .await
            .map_err(sftp_error(session, format!("moving ~/{AGENT_DIR} aside")))?;
        tracing::warn!(
            "~/{AGENT_DIR} on {} was not a private directory of the login user (mode {mode:o}, \
             owner {}); moved it to ~/{aside}",
            session.options().shown,
            found
                .uid
                .map_or_else(|| "unknown".to_owned(), |o| o.to_string())
        );
    }
    sftp.create_dir(AGENT_DIR)
        .await
        .map_err(sftp_error(session, format!("creating ~/{AGENT_DIR}")))?;
    sftp.set_metadata(AGENT_DIR, private)
        .await
        .map_err(sftp_error(session, format!("making ~/{AGENT_DIR} private")))
}

/// Sends `binary` zstd-compressed to `temp.zst` and has the host's `zstd` unpack it to `temp`;
/// returns the bytes sent, or `None` (said at debug level) when that failed and the binary
/// has to go as it is.
async fn upload_compressed(
    session: &SshSession,
    sftp: &SftpSession,
    binary: &Bytes,
    temp: &str,
) -> Option<u64> {
    let packed = match compress(binary.clone()).await {
        Ok(packed) => packed,
        Err(e) => {
            tracing::debug!("compressing sy-remote failed, sending it as it is: {e}");
            return None;
        }
    };
    let zst = format!("{temp}.zst");
    if let Err(e) = write_new(sftp, &zst, &packed).await {
        tracing::debug!("sending sy-remote compressed failed, sending it as it is: {e}");
        let _ = sftp.remove_file(zst.as_str()).await;
        return None;
    }
    // Both names are ours, made of hex digits, dots and `.cache/sy/`: nothing to quote. They
    // are relative to HOME, as for the launcher (SFTP starts there; a shell need not).
    let unpack = format!(
        "sh -c 'cd \"$HOME\" || exit; umask 077; zstd -dqc -- \"$1\" > \"$2\"; s=$?; rm -f -- \"$1\"; \
         [ $s = 0 ] || rm -f -- \"$2\"; exit $s' sy {zst} {temp}"
    );
    match session.exec(&unpack).await {
        Ok(channel) => match channel.output().await {
            Ok((_, end)) if end.exit == RemoteExit::Status(0) => Some(packed.len() as u64),
            Ok((_, end)) => {
                tracing::debug!(
                    "unpacking sy-remote with zstd on the host ended with {}: {}; sending it \
                     as it is",
                    end.exit,
                    String::from_utf8_lossy(&end.stderr).trim()
                );
                None
            }
            Err(e) => {
                tracing::debug!("unpacking sy-remote on the host failed: {e}");
                None
            }
        },
        Err(e) => {
            tracing::debug!("unpacking sy-remote on the host failed: {e}");
            None
        }
    }
}

/// `binary` as one zstd frame with its content checksum (which `zstd -d` checks).
async fn compress(binary: Bytes) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        encoder.set_pledged_src_size(Some(binary.len() as u64))?;
        encoder.write_all(&binary)?;
        encoder.finish()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Sends `binary` as it is to `temp`, then reads it back and compares it with `digest`.
async fn upload_plain(
    session: &SshSession,
    sftp: &SftpSession,
    binary: &[u8],
    temp: &str,
    digest: FileDigest,
) -> Result<()> {
    write_new(sftp, temp, binary).await?;
    if read_back(sftp, temp).await? != digest {
        return Err(Error::Ssh {
            host: session.options().shown.clone(),
            reason: format!("the copy of sy-remote at ~/{temp} differs from what was sent"),
        });
    }
    Ok(())
}

/// Writes `bytes` to `remote`, which must not exist yet, with mode 0700.
async fn write_new(sftp: &SftpSession, remote: &str, bytes: &[u8]) -> Result<()> {
    let error = |source| Error::Io {
        action: "writing",
        path: format!("~/{remote}"),
        source,
    };
    let attributes = FileAttributes {
        permissions: Some(0o700),
        ..FileAttributes::empty()
    };
    let mut file = sftp
        .open_with_flags_and_attributes(
            remote,
            OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE,
            attributes,
        )
        .await
        .map_err(|e| Error::Io {
            action: "creating",
            path: format!("~/{remote}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    file.write_all(bytes).await.map_err(error)?;
    file.shutdown().await.map_err(error)
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

    #[test]
    fn the_probe_gives_the_platform_the_user_id_and_whether_zstd_is_there() {
        let host = Host::parse(b"Linux x86_64\n1000\nzstd\n");
        assert_eq!(
            (host.uname.as_str(), host.uid, host.zstd),
            ("Linux x86_64", Some(1000), true)
        );
        let host = Host::parse(b"Linux x86_64\n0\n");
        assert_eq!((host.uid, host.zstd), (Some(0), false));
        let host = Host::parse(b"");
        assert_eq!((host.uname.as_str(), host.uid), ("", None));
    }
}
