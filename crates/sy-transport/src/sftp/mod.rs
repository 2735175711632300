//! `Sftp`: a directory on a host that speaks SFTP but has no `sy-remote` agent.
//!
//! The fallback when the agent cannot run on the far side: any SFTP byte stream (an SSH
//! channel's `sftp` subsystem, or a local `sftp-server` child in the tests) driven through
//! `russh-sftp`'s raw client, with the requests pipelined here.
//!
//! What it does:
//! - Whole files only: [`Transport::signature`] answers `None`, so the engine sends files whole,
//!   and [`Sftp::prefers_whole_file`](Transport::prefers_whole_file) is true, so the engine does
//!   not ask for deltas it could not use. A delta needs the agent; reading or hashing a remote
//!   file means moving all of its bytes.
//! - Many requests in flight: reads and writes of up to 256 KiB each (less when the server's
//!   `limits@openssh.com` says so: OpenSSH accepts 255 KiB), up to 64 per file and 128 per
//!   session; small files of a batch, directory listings and link reads run
//!   concurrently, so a tree costs a few round trips per directory level, not one per file.
//! - Writes go to `.NAME.sy-tmp.XXXX` beside the target (created exclusively, mode 0600), get
//!   their mode, owner and times through the open handle, and are renamed into place with
//!   `posix-rename@openssh.com` (plain SFTP rename refuses an existing target; without the
//!   extension the target is renamed aside first, which leaves a moment with no file at all,
//!   and its old version is put back if the new one cannot take its place).
//!
//! What SFTP cannot do, and what that means:
//! - Times are whole seconds (SFTP v3): scans report 0 ns, which the engine reads as "compare
//!   seconds only" (as rsync's `--modify-window` would), so nothing is resent for nanoseconds.
//!   Times must lie in 1970..2106. Setting a modification time also sets the access time (SFTP
//!   sets both): to the current time. Link times need `lsetstat@openssh.com`; without it links
//!   keep the time they were made with.
//! - No device or inode numbers: every entry reports `nlink` 1, so hard links are not detected
//!   on an SFTP source; making one at the destination needs `hardlink@openssh.com`.
//! - Names travel as UTF-8 strings in `russh-sftp`: a remote name that is not UTF-8 is reported
//!   as a scan problem and skipped, and a path that is not UTF-8 cannot be written.
//! - No `openat`: paths are resolved by the server, which follows symbolic links. Before writing
//!   or changing anything, every directory between the root and the target is checked with
//!   `lstat` and a symbolic link among them is refused ([`crate::Error::ThroughSymlink`]); but
//!   another process on the server that swaps a directory for a link between that check and the
//!   write is not stopped, as it would be by the `openat` resolution of the local backend. Reads
//!   likewise follow a link swapped in after the scan; the size and time check after reading
//!   rejects a file that is not the one scanned.
//! - Interrupted files are not kept as partials (there is no delta to resume with): their
//!   temporaries are removed. `--sparse` is ignored.
//! - `russh-sftp` carries handles as strings and OpenSSH's are four binary bytes, so at most 64
//!   files and directories are open at once (one past 127 would not survive
//!   the string).

mod convert;
mod extension;
mod ops;
mod parents;
mod pipeline;
mod read;
mod remote_path;
mod remove;
mod rename;
mod scan;
mod session;
mod write;

use std::io;
use std::sync::Arc;

use russh_sftp::client::Config;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use convert::{entry_from_attrs, io_error, kind_of, mode_and_times, owner, set_times};
use pipeline::bounded;
use remote_path::{join, relative_to};
use session::Session;

use crate::{
    Basis, DeltaSource, Entry, EntryKind, Error, FileDigest, FileWrite, MetaOptions, ReadOptions,
    RelPath, Result, Scan, ScanOptions, SourceFile, Transport, TreeOp, WriteOptions, Written,
};

/// Largest read or write request: 256 KiB, or the server's limit when it states a smaller one.
const REQUEST_LEN: u64 = 256 << 10;
/// Request size for a server that states no limits: what OpenSSH has always accepted (its
/// messages are at most 256 KiB, and a write carries its header in the same message).
const UNSTATED_REQUEST_LEN: u64 = 255 << 10;
/// Largest packet accepted from the server (a read reply carries `REQUEST_LEN` plus a header).
const MAX_PACKET: u32 = 1 << 20;
/// Requests in flight for one file.
const WINDOW: usize = 64;
/// Requests in flight for the whole session (all files together).
const IN_FLIGHT: usize = 128;
/// Files and directories open at once for the whole session (fewer if the server says so).
const OPEN_HANDLES: usize = 64;
/// Small files of one batch read or written at the same time.
const FILES_AT_ONCE: usize = 32;
/// A request the server has not answered in this long fails the file. Generous: a link that
/// dies is noticed by the SSH layer (keepalives end the channel, which fails every request at
/// once); this only catches a server that hangs, and must not fire on a slow link with
/// `IN_FLIGHT` requests of `REQUEST_LEN` queued (32 MiB drain in 600 s at 55 kB/s).
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// How to open an [`Sftp`] transport.
#[derive(Debug, Clone, Default)]
pub struct SftpOptions {
    /// Where this side is, for messages (`host:path`).
    pub location: String,
    /// The remote directory: absolute, or relative to the login directory (`~` is not
    /// expanded); empty for the login directory itself.
    pub root: String,
    /// Create the root (its last component) when it does not exist. Otherwise a missing root
    /// scans as empty and refuses writes.
    pub create_root: bool,
}

/// A directory on a host reached over SFTP, for hosts without `sy-remote`: whole-file
/// transfers with many requests in flight, temporaries renamed into place, nothing written
/// through a symbolic link. Times are whole seconds, hard links are not detected, names must
/// be UTF-8. Cheap to clone; all clones share one SFTP session.
///
/// ```no_run
/// use std::process::Stdio;
/// use sy_transport::{ScanOptions, Sftp, SftpOptions, Transport};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Any byte stream to an SFTP server will do: here OpenSSH's `ssh -s host sftp`.
/// let mut ssh = tokio::process::Command::new("ssh")
///     .args(["-s", "host", "sftp"])
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let stream = tokio::io::join(
///     ssh.stdout.take().ok_or("no stdout")?,
///     ssh.stdin.take().ok_or("no stdin")?,
/// );
/// let options = SftpOptions {
///     location: "host:backup".to_owned(),
///     root: "backup".to_owned(),
///     create_root: true,
/// };
/// let sftp = Sftp::new(stream, options).await?;
/// let scan = sftp.scan(ScanOptions::default()).await?;
/// println!("{} entries in {}", scan.entries.len(), sftp.location());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sftp {
    inner: Arc<Inner>,
}

/// What the server offers beyond SFTP v3.
#[derive(Debug, Clone, Copy)]
struct Features {
    posix_rename: bool,
    hardlink: bool,
    lsetstat: bool,
    read_len: u32,
    write_len: u32,
}

struct Inner {
    session: Session,
    /// The absolute remote root, or `None` when it does not exist (yet).
    root: Option<String>,
    location: String,
    features: Features,
    /// Bounds the requests on the wire (and so the memory they hold).
    in_flight: Arc<Semaphore>,
    /// Bounds the open handles (see the module documentation).
    handles: Arc<Semaphore>,
}

impl std::fmt::Debug for Sftp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sftp")
            .field("location", &self.inner.location)
            .field("root", &self.inner.root)
            .field("features", &self.inner.features)
            .finish_non_exhaustive()
    }
}

impl Sftp {
    /// Starts an SFTP session over `stream` (an SSH channel in the `sftp` subsystem, or any
    /// byte stream to an SFTP server), learns the server's extensions and limits, and resolves
    /// the root to an absolute path (creating it when asked).
    pub async fn new<S>(stream: S, options: SftpOptions) -> Result<Sftp>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let location = options.location.clone();
        let failed = |action: &'static str, e: SftpError| Error::Io {
            action,
            path: location.clone(),
            source: io_error(e),
        };
        let config = Config {
            max_packet_len: MAX_PACKET,
            request_timeout_secs: REQUEST_TIMEOUT_SECS,
            ..Config::default()
        };
        let mut session = Session::new(stream, config);
        let version = session
            .init()
            .await
            .map_err(|e| failed("starting SFTP at", e))?;
        let offers = |name: &str| version.extensions.get(name).is_some_and(|v| v == "1");
        let (mut read_len, mut write_len) = (UNSTATED_REQUEST_LEN, UNSTATED_REQUEST_LEN);
        let mut open_handles = OPEN_HANDLES;
        if offers("limits@openssh.com") {
            let limits = session
                .limits()
                .await
                .map_err(|e| failed("asking the SFTP limits of", e))?;
            let packet = limits.max_packet_len;
            let cap = |stated: u64| {
                let mut len = REQUEST_LEN;
                if stated > 0 {
                    len = len.min(stated);
                }
                // The request's own header must fit in a packet, too.
                if packet > 1024 {
                    len = len.min(packet - 1024);
                }
                len
            };
            read_len = cap(limits.max_read_len);
            write_len = cap(limits.max_write_len);
            if limits.max_open_handles > 0 {
                let stated = usize::try_from(limits.max_open_handles).unwrap_or(usize::MAX);
                open_handles = open_handles.min(stated);
            }
            session.set_limits(russh_sftp::client::rawsession::Limits::from(limits));
        }
        let features = Features {
            posix_rename: offers("posix-rename@openssh.com"),
            hardlink: offers("hardlink@openssh.com"),
            lsetstat: offers("lsetstat@openssh.com"),
            read_len: u32::try_from(read_len.max(1)).unwrap_or(u32::MAX),
            write_len: u32::try_from(write_len.max(1)).unwrap_or(u32::MAX),
        };
        tracing::debug!(?features, "SFTP session at {location}");
        let mut inner = Inner {
            session,
            root: None,
            location,
            features,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            handles: Arc::new(Semaphore::new(open_handles.max(1))),
        };
        inner.root = inner.resolve_root(&options).await?;
        Ok(Sftp {
            inner: Arc::new(inner),
        })
    }

    /// The absolute remote path of the root, or `None` when it does not exist.
    pub fn root_path(&self) -> Option<&str> {
        self.inner.root.as_deref()
    }
}

impl Inner {
    async fn resolve_root(&self, options: &SftpOptions) -> Result<Option<String>> {
        let named = if options.root.is_empty() {
            "."
        } else {
            options.root.as_str()
        };
        let root_err = |action: &'static str, e: SftpError| Error::Io {
            action,
            path: self.location.clone(),
            source: io_error(e),
        };
        // The root itself may be a link, followed once as the user named it (like `Local`).
        match self.session.stat(named).await {
            Ok(attrs) if kind_of(&attrs.attrs) == Some(EntryKind::Dir) => {}
            Ok(_) => {
                return Err(Error::Io {
                    action: "opening directory",
                    path: self.location.clone(),
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                });
            }
            Err(e) if is_not_found(&e) && options.create_root => {
                let attrs = FileAttributes {
                    permissions: Some(0o755),
                    ..FileAttributes::default()
                };
                self.session
                    .mkdir(named, attrs)
                    .await
                    .map_err(|e| root_err("creating directory", e))?;
            }
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(root_err("opening directory", e)),
        }
        let name = self
            .session
            .realpath(named)
            .await
            .map_err(|e| root_err("resolving", e))?;
        match name.files.into_iter().next() {
            Some(file) => Ok(Some(file.filename)),
            None => Err(root_err(
                "resolving",
                SftpError::UnexpectedBehavior("the server named no path".to_owned()),
            )),
        }
    }

    /// The root, or the error every write gets while it does not exist.
    fn root(&self) -> io::Result<&str> {
        self.root.as_deref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the destination directory does not exist",
            )
        })
    }

    /// The remote path of `path`.
    fn remote(&self, path: &RelPath) -> Result<String> {
        let root = self.root().map_err(|e| self.err("opening", path, e))?;
        let rel = std::str::from_utf8(path.as_bytes()).map_err(|_| Error::InvalidPath {
            path: path.to_string(),
            reason: "not valid UTF-8, which SFTP names must be here",
        })?;
        Ok(join(root, rel))
    }

    /// The path beneath the root that the remote path `remote` names, if it lies there.
    fn relative(&self, remote: &str) -> Option<RelPath> {
        relative_to(self.root.as_deref()?, remote)
    }

    /// `path` as the user would name it: `host:root/path`.
    fn shown(&self, path: &RelPath) -> String {
        if path.is_root() {
            self.location.clone()
        } else if self.location.ends_with(':') || self.location.ends_with('/') {
            format!("{}{path}", self.location)
        } else {
            format!("{}/{path}", self.location)
        }
    }

    fn err(&self, action: &'static str, path: &RelPath, source: io::Error) -> Error {
        Error::Io {
            action,
            path: self.shown(path),
            source,
        }
    }

    fn sftp_err(&self, action: &'static str, path: &RelPath, source: SftpError) -> Error {
        self.err(action, path, io_error(source))
    }

    /// Waits for a handle slot; it is freed when the permit drops, after the close.
    async fn handle_slot(&self) -> Result<OwnedSemaphorePermit, SftpError> {
        Arc::clone(&self.handles)
            .acquire_owned()
            .await
            .map_err(|_| SftpError::UnexpectedBehavior("the SFTP session ended".to_owned()))
    }

    /// Waits for room for one more request on the wire.
    async fn request_slot(&self) -> io::Result<OwnedSemaphorePermit> {
        Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| session_closed())
    }
}

impl Transport for Sftp {
    fn location(&self) -> &str {
        &self.inner.location
    }

    /// True: a delta would need the agent, and reading a remote file to diff it moves every
    /// byte anyway, so whole files are the cheapest form here.
    fn prefers_whole_file(&self) -> bool {
        true
    }

    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        scan::scan(&self.inner, options).await
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        read::read_files(&self.inner, files, options).await
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        write::write_files(&self.inner, files, options).await
    }

    /// Always `None`: no block signatures without the agent, so the engine sends whole files.
    async fn signature(
        &self,
        _path: RelPath,
        _basis: Basis,
    ) -> Result<Option<sy_delta::Signature>> {
        Ok(None)
    }

    /// A delta made only of literals (the whole file, then its digest): when the other side
    /// asks for a delta from an SFTP source, the bytes have to come over anyway.
    async fn delta(
        &self,
        entry: Entry,
        _signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        read::literal_delta(&self.inner, entry, options).await
    }

    /// Never reached (there are no signatures to diff against); writes the delta's literals
    /// whole, and refuses one that copies from a basis.
    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        write::write_literal_delta(&self.inner, path, delta, basis, options).await
    }

    /// Reads each file whole and hashes it here (slow: every byte crosses the link, but right).
    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        read::checksums(&self.inner, paths, follow_links).await
    }

    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        ops::apply(&self.inner, ops, meta).await
    }
}

fn is_not_found(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

fn session_closed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the SFTP session ended")
}
