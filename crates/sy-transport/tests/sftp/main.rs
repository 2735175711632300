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
    Basis, Cancel, Entry, EntryKind, Error, FileData, FileDigest, FileWrite, LeftoverKind, Local,
    Meta, MetaOptions, MetaTarget, NoProgress, ReadOptions, RelPath, ScanOptions, Sftp,
    SftpOptions, SourceFile, StreamChunk, Timestamp, Transport, TreeOp, WriteOptions,
    describe_error,
};
use tokio::process::Child;

const SERVERS: [&str; 4] = [
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
];

/// `true` when `available`; otherwise the running test is skipped loudly, or fails under
/// `SY_REQUIRE_SSHD=1` (CI: root, with OpenSSH installed) so that CI never passes a test it did
/// not run. The rule of sy-cli's `util::require`.
fn require(available: bool, missing: &str) -> bool {
    if !available {
        // libtest runs each test on a thread named after it.
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("this test");
        assert!(
            std::env::var_os("SY_REQUIRE_SSHD").is_none_or(|v| v != "1"),
            "{test}: SY_REQUIRE_SSHD=1, but it {missing}"
        );
        // Written to stderr itself: libtest would swallow `eprintln!` of a test that passes.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("SKIPPED {test}: it {missing} (SY_REQUIRE_SSHD=1 makes this a failure)\n")
                .as_bytes(),
        );
    }
    available
}

/// OpenSSH's `sftp-server`, or `None` when this machine has none (see [`require`]).
fn sftp_server() -> Option<PathBuf> {
    let found = SERVERS.iter().map(Path::new).find(|p| p.is_file());
    let missing = format!(
        "needs OpenSSH's sftp-server, not found at {SERVERS:?} \
         (apt-get install openssh-sftp-server)"
    );
    require(found.is_some(), &missing);
    found.map(Path::to_path_buf)
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
    /// Renames the server is made to refuse, as if they failed there.
    refuse: &'static [RefuseRename],
}

/// Refuse the `nth` (from 1) `SSH_FXP_RENAME` whose old path contains `from` and whose new path
/// ends with `to`, with `SSH_FX_FAILURE`, without passing it to the server.
struct RefuseRename {
    from: &'static str,
    to: &'static str,
    nth: usize,
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
    let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let options = SftpOptions {
        location: "host:dst".to_owned(),
        root: root.to_owned(),
        create_root: start.create_root,
    };
    let sftp = if start.hide.is_empty() && start.refuse.is_empty() {
        Sftp::new(tokio::io::join(stdout, stdin), options).await
    } else {
        Sftp::new(proxy(stdout, stdin, start.hide, start.refuse), options).await
    };
    Some((sftp.unwrap(), child))
}

/// One SFTP packet, its length included.
async fn read_packet(from: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let len = from.read_u32().await.ok()?;
    let mut packet = len.to_be_bytes().to_vec();
    packet.resize(4 + len as usize, 0);
    from.read_exact(&mut packet[4..]).await.ok()?;
    Some(packet)
}

/// The SSH strings that follow `at` in `packet`.
fn strings(packet: &[u8], mut at: usize) -> Vec<&[u8]> {
    let mut found = Vec::new();
    while at + 4 <= packet.len() {
        let len = u32::from_be_bytes(packet[at..at + 4].try_into().unwrap()) as usize;
        found.push(&packet[at + 4..at + 4 + len]);
        at += 4 + len;
    }
    found
}

/// A man in the middle between the client and the server: takes the extensions in `hide` out
/// of the server's first packet (`SSH_FXP_VERSION`: length, type, version, then pairs of
/// strings), and answers the renames in `refuse` itself with a failure.
fn proxy(
    mut server_out: tokio::process::ChildStdout,
    mut server_in: tokio::process::ChildStdin,
    hide: &'static [&'static str],
    refuse: &'static [RefuseRename],
) -> tokio::io::DuplexStream {
    use tokio::io::AsyncWriteExt;
    let (client, ours) = tokio::io::duplex(1 << 20);
    let (mut from_client, mut to_client) = tokio::io::split(ours);
    let (replies, mut to_send) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let refusals = replies.clone();
    tokio::spawn(async move {
        let mut seen = vec![0; refuse.len()];
        while let Some(packet) = read_packet(&mut from_client).await {
            const RENAME: u8 = 18;
            if packet[4] == RENAME {
                let paths = strings(&packet, 9);
                let (old, new) = (paths[0], paths[1]);
                let refused = refuse.iter().zip(&mut seen).any(|(rule, seen)| {
                    let matches = old
                        .windows(rule.from.len())
                        .any(|w| w == rule.from.as_bytes())
                        && new.ends_with(rule.to.as_bytes());
                    *seen += usize::from(matches);
                    matches && *seen == rule.nth
                });
                if refused {
                    // SSH_FXP_STATUS for the same id: SSH_FX_FAILURE, a message, no language.
                    let mut reply = vec![101];
                    reply.extend_from_slice(&packet[5..9]);
                    reply.extend_from_slice(&4u32.to_be_bytes());
                    reply.extend_from_slice(&14u32.to_be_bytes());
                    reply.extend_from_slice(b"refused (test)");
                    reply.extend_from_slice(&0u32.to_be_bytes());
                    let mut framed = (reply.len() as u32).to_be_bytes().to_vec();
                    framed.extend(reply);
                    refusals.send(framed).unwrap();
                    continue;
                }
            }
            if server_in.write_all(&packet).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let version = read_packet(&mut server_out).await.unwrap();
        let mut kept = version[4..9].to_vec();
        let fields = strings(&version, 9);
        for pair in fields.chunks(2) {
            if !hide.iter().any(|h| pair[0] == h.as_bytes()) {
                for field in pair {
                    kept.extend_from_slice(&(field.len() as u32).to_be_bytes());
                    kept.extend_from_slice(field);
                }
            }
        }
        let mut framed = (kept.len() as u32).to_be_bytes().to_vec();
        framed.extend(kept);
        replies.send(framed).unwrap();
        while let Some(packet) = read_packet(&mut server_out).await {
            if replies.send(packet).is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(packet) = to_send.recv().await {
            if to_client.write_all(&packet).await.is_err() {
                break;
            }
        }
    });
    client
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
