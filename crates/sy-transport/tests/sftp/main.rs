//! The SFTP backend against OpenSSH's `sftp-server`, run as a child process speaking SFTP on
//! its stdin and stdout (no sshd needed). Without `sftp-server` the tests are skipped loudly,
//! and fail under `SY_REQUIRE_SSHD=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod measure;
mod ops;
mod read;
mod scan;
mod write;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use sy_transport::{
    Basis, Cancel, Entry, EntryKind, Error, FileData, FileWrite, Local, Meta, MetaOptions,
    MetaTarget, NoProgress, ReadOptions, RelPath, ScanOptions, Sftp, SftpOptions, SourceFile,
    StreamChunk, Timestamp, Transport, TreeOp, WriteOptions, describe_error,
};
use tokio::process::Child;

const SERVERS: [&str; 4] = [
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
];

/// OpenSSH's `sftp-server`, or `None` (said loudly) when this machine has none.
fn sftp_server() -> Option<PathBuf> {
    if let Some(found) = SERVERS.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(found.to_path_buf());
    }
    if std::env::var_os("SY_REQUIRE_SSHD").is_some_and(|v| v == "1") {
        panic!("SY_REQUIRE_SSHD=1 but no sftp-server found (tried {SERVERS:?})");
    }
    eprintln!(
        "SKIPPED: no OpenSSH sftp-server found (tried {SERVERS:?}); \
         set SY_REQUIRE_SSHD=1 to make this a failure"
    );
    None
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `test` with a deadline, so a deadlock fails instead of hanging the suite.
fn run<F: Future<Output = ()>>(test: F) {
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(120), test)
            .await
            .expect("the test timed out");
    });
}

/// How to start the server.
#[derive(Default)]
struct Start {
    /// The server's start (login) directory.
    home: Option<PathBuf>,
    /// Run it as this user and group (to see permission errors while the tests run as root).
    as_user: Option<u32>,
    create_root: bool,
    /// Extensions to hide from the client, as if the server did not offer them.
    hide: &'static [&'static str],
}

/// An `sftp-server` child and the `Sftp` transport talking to it over its stdin and stdout.
async fn connect_with(root: &str, start: Start) -> Option<(Sftp, Child)> {
    let server = sftp_server()?;
    let mut command = tokio::process::Command::new(server);
    if let Some(home) = &start.home {
        command.arg("-d").arg(home);
    }
    if let Some(id) = start.as_user {
        command.uid(id).gid(id);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stream = tokio::io::join(
        hide_extensions(stdout, start.hide),
        child.stdin.take().unwrap(),
    );
    let options = SftpOptions {
        location: "host:dst".to_owned(),
        root: root.to_owned(),
        create_root: start.create_root,
    };
    let sftp = Sftp::new(stream, options).await.unwrap();
    Some((sftp, child))
}

/// The server's output with the extensions named in `hide` taken out of its first packet
/// (`SSH_FXP_VERSION`: length, type, version, then pairs of strings).
fn hide_extensions(
    mut from: tokio::process::ChildStdout,
    hide: &'static [&'static str],
) -> tokio::io::DuplexStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut to, out) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let len = from.read_u32().await.unwrap();
        let mut body = vec![0; len as usize];
        from.read_exact(&mut body).await.unwrap();
        let mut kept = body[..5].to_vec();
        let mut rest = &body[5..];
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_at(4);
            let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
            fields.push(&rest[..4 + len]);
            rest = &tail[len..];
        }
        for pair in fields.chunks(2) {
            if !hide.iter().any(|h| &pair[0][4..] == h.as_bytes()) {
                kept.extend(pair.concat());
            }
        }
        to.write_u32(kept.len() as u32).await.unwrap();
        to.write_all(&kept).await.unwrap();
        let _ = tokio::io::copy(&mut from, &mut to).await;
    });
    out
}

async fn connect(root: &Path) -> Option<(Sftp, Child)> {
    connect_with(root.to_str().unwrap(), Start::default()).await
}

fn rel(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

fn write_options() -> WriteOptions {
    WriteOptions {
        meta: MetaOptions {
            times: true,
            owner: false,
        },
        sparse: false,
        cancel: Cancel::default(),
        progress: Arc::new(NoProgress),
    }
}

fn read_options() -> ReadOptions {
    ReadOptions {
        inline_limit: 128 << 10,
        follow_links: false,
        cancel: Cancel::default(),
    }
}

/// Bytes that differ from file to file and position to position.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// An entry for a file to write: its size, mode and time (the rest does not matter here).
fn file_entry(path: &str, size: u64, mode: u32, secs: i64) -> Entry {
    Entry {
        path: rel(path),
        kind: EntryKind::File,
        size,
        meta: Meta {
            mode,
            mtime: Timestamp {
                secs,
                nanos: 123_456_789,
            },
            uid: 0,
            gid: 0,
        },
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

fn bytes_write(path: &str, data: Vec<u8>, mode: u32, secs: i64) -> FileWrite {
    FileWrite {
        path: rel(path),
        source: SourceFile {
            entry: file_entry(path, data.len() as u64, mode, secs),
            data: FileData::Bytes(Bytes::from(data)),
        },
        clear_partial: false,
    }
}

/// What a scan says, reduced to what SFTP can carry (whole seconds, no inode).
fn comparable(entries: &[Entry]) -> Vec<(String, EntryKind, u64, u32, i64)> {
    entries
        .iter()
        .map(|e| {
            (
                e.path.to_string(),
                e.kind.clone(),
                e.size,
                e.meta.mode,
                e.meta.mtime.secs,
            )
        })
        .collect()
}

/// Root ignores permissions: tests about them run the server as `nobody` then (see
/// [`give_away`]); `None` when this process is not root.
fn unprivileged() -> Option<u32> {
    rustix::process::geteuid().is_root().then_some(65534)
}

/// Makes `user` the owner of everything under `dir`, so a server running as them can work there.
fn give_away(dir: &Path, user: Option<u32>) {
    let Some(id) = user else {
        return;
    };
    std::os::unix::fs::lchown(dir, Some(id), Some(id)).unwrap();
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        for entry in fs::read_dir(dir).unwrap() {
            give_away(&entry.unwrap().path(), user);
        }
    }
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

const ODD_NAMES: [&str; 4] = [
    "with space.txt",
    "it's \"quoted\".txt",
    "$(touch pwned) `x`.txt",
    "ünïcødé ☃.txt",
];
