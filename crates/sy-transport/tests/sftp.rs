//! The SFTP backend against OpenSSH's `sftp-server`, run as a child process speaking SFTP on
//! its stdin and stdout (no sshd needed). Without `sftp-server` the tests are skipped loudly,
//! and fail under `SY_REQUIRE_SSHD=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

#[test]
fn scan_matches_the_local_scan_of_the_same_tree() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub dir/deeper")).unwrap();
        for (i, name) in ODD_NAMES.iter().enumerate() {
            fs::write(root.join("sub dir").join(name), content(i as u64, 100 * i)).unwrap();
        }
        fs::write(root.join("empty"), b"").unwrap();
        fs::write(root.join("sub dir/deeper/x"), b"x").unwrap();
        fs::set_permissions(root.join("empty"), fs::Permissions::from_mode(0o640)).unwrap();
        set_mtime(&root.join("empty"), 1_000_000_000);
        symlink("sub dir/with space.txt", root.join("link")).unwrap();
        symlink("sub dir", root.join("dir link")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        fs::write(root.join(".empty.sy-tmp.0123456789abcdef"), b"left").unwrap();
        let Some((sftp, _server)) = connect(root).await else {
            return;
        };
        let remote = sftp.scan(ScanOptions::default()).await.unwrap();
        let local = Local::open(root)
            .unwrap()
            .scan(ScanOptions::default())
            .await
            .unwrap();
        assert!(remote.problems.is_empty(), "{:?}", remote.problems);
        assert_eq!(comparable(&remote.entries), comparable(&local.entries));
        assert_eq!(remote.leftovers, local.leftovers);
        assert!(remote.entries.iter().all(|e| e.meta.mtime.nanos == 0));
        let link = remote.entries.iter().find(|e| e.path == rel("link"));
        assert_eq!(
            link.unwrap().kind,
            EntryKind::Symlink {
                target: b"sub dir/with space.txt".to_vec()
            }
        );
        let empty = remote.entries.iter().find(|e| e.path == rel("empty"));
        assert_eq!(empty.unwrap().meta.mode, 0o640);
        assert_eq!(empty.unwrap().meta.mtime.secs, 1_000_000_000);

        // A subtree, with filters.
        let mut options = ScanOptions {
            base: rel("sub dir"),
            ..ScanOptions::default()
        };
        options.filter.add_rules_file("- deeper/\n");
        let sub = sftp.scan(options).await.unwrap();
        let paths: Vec<String> = sub.entries.iter().map(|e| e.path.to_string()).collect();
        let mut expected = vec!["sub dir".to_owned()];
        let mut odd: Vec<String> = ODD_NAMES.iter().map(|n| format!("sub dir/{n}")).collect();
        odd.sort();
        expected.extend(odd);
        assert_eq!(paths, expected);

        // `.gitignore` files are read over SFTP and applied as locally.
        fs::write(root.join("sub dir/.gitignore"), "*.log\n!keep.log\n").unwrap();
        fs::write(root.join("sub dir/drop.log"), b"x").unwrap();
        fs::write(root.join("sub dir/keep.log"), b"x").unwrap();
        let mut ignoring = ScanOptions::default();
        ignoring.filter.gitignore = true;
        let remote = sftp.scan(ignoring.clone()).await.unwrap();
        let local = Local::open(root).unwrap().scan(ignoring).await.unwrap();
        assert_eq!(comparable(&remote.entries), comparable(&local.entries));
        let kept = |scan: &sy_transport::Scan, name: &str| {
            scan.entries.iter().any(|e| e.path == rel(name))
        };
        assert!(kept(&remote, "sub dir/keep.log") && !kept(&remote, "sub dir/drop.log"));

        // A missing base scans as empty.
        let missing = ScanOptions {
            base: rel("nope"),
            ..ScanOptions::default()
        };
        assert!(sftp.scan(missing).await.unwrap().entries.is_empty());
    });
}

#[test]
fn push_writes_content_mode_and_time_whole_seconds_and_a_rescan_finds_nothing_to_do() {
    run(async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("many")).unwrap();
        for i in 0..300u64 {
            let path = src.path().join(format!("many/f{i:03}"));
            fs::write(&path, content(i, (i as usize * 37) % 5000)).unwrap();
            fs::set_permissions(
                &path,
                fs::Permissions::from_mode(0o600 + (i as u32 % 2) * 0o55),
            )
            .unwrap();
        }
        for name in ODD_NAMES {
            fs::write(src.path().join(name), name.as_bytes()).unwrap();
        }
        fs::write(src.path().join("big"), content(99, 20 << 20)).unwrap();
        fs::set_permissions(src.path().join("big"), fs::Permissions::from_mode(0o751)).unwrap();
        set_mtime(&src.path().join("big"), 1_500_000_000);
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let local = Local::open(src.path()).unwrap();
        let scan = local.scan(ScanOptions::default()).await.unwrap();

        let mkdirs = vec![TreeOp::Mkdir { path: rel("many") }];
        let made = sftp.apply(mkdirs, MetaOptions::default()).await;
        assert!(made.iter().all(Result::is_ok), "{made:?}");
        let files: Vec<Entry> = scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .cloned()
            .collect();
        let opened = local.read_files(files.clone(), read_options()).await;
        let big = opened
            .iter()
            .find(|r| r.as_ref().unwrap().entry.path == rel("big"));
        assert!(matches!(
            big.unwrap().as_ref().unwrap().data,
            FileData::Local(_)
        ));
        let writes = opened
            .into_iter()
            .map(|source| {
                let source = source.unwrap();
                FileWrite {
                    path: source.entry.path.clone(),
                    source,
                    clear_partial: false,
                }
            })
            .collect();
        let written = sftp.write_files(writes, write_options()).await;
        assert!(written.iter().all(Result::is_ok), "{written:?}");

        for file in &files {
            let there = dst.path().join(file.path.as_path());
            let here = src.path().join(file.path.as_path());
            assert_eq!(
                fs::read(&there).unwrap(),
                fs::read(&here).unwrap(),
                "{}",
                file.path
            );
            let meta = fs::symlink_metadata(&there).unwrap();
            assert_eq!(meta.mode() & 0o7777, file.meta.mode, "{}", file.path);
            assert_eq!(meta.mtime(), file.meta.mtime.secs, "{}", file.path);
        }
        assert_eq!(names(&dst.path().join("many")).len(), 300);

        // What the engine compares: same size, and whole seconds (the SFTP side reports 0 ns).
        let rescan = sftp.scan(ScanOptions::default()).await.unwrap();
        let by_path: std::collections::HashMap<_, _> =
            rescan.entries.iter().map(|e| (e.path.clone(), e)).collect();
        for file in &files {
            let there = by_path[&file.path];
            assert_eq!(there.size, file.size);
            assert_eq!(there.meta.mtime.nanos, 0);
            assert_eq!(there.meta.mtime.secs, file.meta.mtime.secs);
        }
        assert!(rescan.leftovers.is_empty());
    });
}

#[test]
fn a_streamed_file_lands_whole_and_a_short_stream_leaves_nothing() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let data = content(7, 3 << 20);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let pieces: Vec<Bytes> = data.chunks(100_003).map(Bytes::copy_from_slice).collect();
        tokio::spawn(async move {
            for piece in pieces {
                tx.send(Ok(StreamChunk::Data(piece))).await.unwrap();
            }
            tx.send(Ok(StreamChunk::End)).await.unwrap();
        });
        let write = FileWrite {
            path: rel("streamed"),
            source: SourceFile {
                entry: file_entry("streamed", data.len() as u64, 0o644, 1_600_000_000),
                data: FileData::Stream(rx),
            },
            clear_partial: false,
        };
        let written = sftp.write_files(vec![write], write_options()).await;
        assert_eq!(written[0].as_ref().unwrap().literal, data.len() as u64);
        assert_eq!(fs::read(dst.path().join("streamed")).unwrap(), data);

        // A stream that ends before its size: the old file stays, no temporary is left.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(Ok(StreamChunk::Data(Bytes::from_static(b"short"))))
            .await
            .unwrap();
        tx.send(Ok(StreamChunk::End)).await.unwrap();
        let write = FileWrite {
            path: rel("streamed"),
            source: SourceFile {
                entry: file_entry("streamed", 10, 0o644, 1_600_000_000),
                data: FileData::Stream(rx),
            },
            clear_partial: false,
        };
        let written = sftp.write_files(vec![write], write_options()).await;
        assert!(
            matches!(written[0], Err(Error::SourceChanged { ref path }) if path == "host:dst/streamed"),
            "{written:?}"
        );
        assert_eq!(fs::read(dst.path().join("streamed")).unwrap(), data);
        assert_eq!(names(dst.path()), ["streamed"]);
    });
}

#[test]
fn overwriting_replaces_the_file_by_rename_and_leaves_no_temporary() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("f");
        fs::write(&target, b"old content").unwrap();
        let old_inode = fs::metadata(&target).unwrap().ino();
        // A reader that opened the old file keeps seeing it whole: it was never rewritten.
        let mut reader = fs::File::open(&target).unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let written = sftp
            .write_files(
                vec![bytes_write("f", b"new!".to_vec(), 0o444, 1_700_000_000)],
                write_options(),
            )
            .await;
        assert!(written[0].is_ok(), "{written:?}");
        assert_eq!(fs::read(&target).unwrap(), b"new!");
        let meta = fs::metadata(&target).unwrap();
        assert_ne!(meta.ino(), old_inode, "written in place, not renamed");
        assert_eq!(meta.mode() & 0o7777, 0o444);
        assert_eq!(meta.mtime(), 1_700_000_000);
        let mut old = String::new();
        std::io::Read::read_to_string(&mut reader, &mut old).unwrap();
        assert_eq!(old, "old content");
        assert_eq!(names(dst.path()), ["f"]);
    });
}

#[test]
fn pull_reads_small_and_streamed_files_and_notices_a_changed_source() {
    run(async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(src.path().join("small"), content(1, 1000)).unwrap();
        fs::write(src.path().join("empty"), b"").unwrap();
        fs::write(src.path().join("large"), content(2, (5 << 20) + 17)).unwrap();
        let Some((sftp, _server)) = connect(src.path()).await else {
            return;
        };
        let scan = sftp.scan(ScanOptions::default()).await.unwrap();
        let files: Vec<Entry> = scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .cloned()
            .collect();
        let opened = sftp.read_files(files.clone(), read_options()).await;
        let mut writes = Vec::new();
        for source in opened {
            let source = source.unwrap();
            let streamed = matches!(source.data, FileData::Stream(_));
            assert_eq!(streamed, source.entry.path == rel("large"));
            writes.push(FileWrite {
                path: source.entry.path.clone(),
                source,
                clear_partial: false,
            });
        }
        let local = Local::open(dst.path()).unwrap();
        let written = local.write_files(writes, write_options()).await;
        assert!(written.iter().all(Result::is_ok), "{written:?}");
        for name in ["small", "empty", "large"] {
            assert_eq!(
                fs::read(dst.path().join(name)).unwrap(),
                fs::read(src.path().join(name)).unwrap()
            );
        }

        // The file grew after the scan: both forms say so instead of copying a mix.
        fs::write(src.path().join("small"), content(1, 2000)).unwrap();
        fs::write(src.path().join("large"), content(3, 6 << 20)).unwrap();
        let opened = sftp.read_files(files, read_options()).await;
        for source in opened {
            match source {
                Ok(SourceFile {
                    data: FileData::Stream(mut rx),
                    entry,
                }) => {
                    let mut last = None;
                    while let Some(chunk) = rx.recv().await {
                        last = Some(chunk);
                    }
                    assert!(
                        matches!(last, Some(Err(Error::SourceChanged { .. }))),
                        "{}: {last:?}",
                        entry.path
                    );
                }
                Ok(SourceFile { entry, .. }) if entry.path == rel("empty") => {}
                other => assert!(
                    matches!(other, Err(Error::SourceChanged { ref path }) if path == "host:dst/small"),
                    "{other:?}"
                ),
            }
        }
    });
}

#[test]
fn checksums_and_literal_deltas_carry_the_whole_file() {
    run(async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let data = content(5, (1 << 20) + 5);
        fs::write(src.path().join("f"), &data).unwrap();
        fs::write(dst.path().join("f"), content(6, 1 << 20)).unwrap();
        let Some((sftp, _server)) = connect(src.path()).await else {
            return;
        };
        let sums = sftp.checksums(vec![rel("f"), rel("nope")], false).await;
        assert_eq!(sums[0].as_ref().unwrap(), blake3::hash(&data).as_bytes());
        let missing = describe_error(sums[1].as_ref().unwrap_err());
        assert!(
            missing.contains("host:dst/nope") && missing.contains("No such file"),
            "{missing}"
        );

        assert!(
            sftp.signature(rel("f"), Basis::Existing)
                .await
                .unwrap()
                .is_none()
        );
        let local = Local::open(dst.path()).unwrap();
        let signature = local
            .signature(rel("f"), Basis::Existing)
            .await
            .unwrap()
            .unwrap();
        let entry = sftp.scan(ScanOptions::default()).await.unwrap().entries[1].clone();
        let delta = sftp.delta(entry, signature, read_options()).await.unwrap();
        let written = local
            .apply_delta(rel("f"), Basis::Existing, delta, write_options())
            .await
            .unwrap();
        assert_eq!(written.literal, data.len() as u64);
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), data);
    });
}

#[test]
fn tree_operations() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), b"keep").unwrap();
        fs::create_dir_all(dst.path().join("old/ro/inner")).unwrap();
        fs::write(dst.path().join("old/ro/inner/f"), b"f").unwrap();
        symlink(outside.path(), dst.path().join("old/out")).unwrap();
        fs::set_permissions(dst.path().join("old/ro"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::write(dst.path().join("file"), b"data").unwrap();
        fs::write(dst.path().join(".file.sy-partial"), b"da").unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let meta = Meta {
            mode: 0o750,
            mtime: Timestamp {
                secs: 1_234_567_890,
                nanos: 5,
            },
            uid: 0,
            gid: 0,
        };
        let options = MetaOptions {
            times: true,
            owner: false,
        };
        let ops = vec![
            TreeOp::Mkdir { path: rel("a") },
            TreeOp::Mkdir { path: rel("a/b c") },
            TreeOp::Mkdir { path: rel("a") },
            TreeOp::Symlink {
                path: rel("a/link"),
                target: b"../file".to_vec(),
                meta,
            },
            TreeOp::Symlink {
                path: rel("a/link"),
                target: b"b c".to_vec(),
                meta,
            },
            TreeOp::HardLink {
                path: rel("a/hard"),
                target: rel("file"),
            },
            TreeOp::SetMeta {
                path: rel("a/b c"),
                target: MetaTarget::Dir,
                meta,
            },
            TreeOp::SetMeta {
                path: rel("file"),
                target: MetaTarget::Dir,
                meta,
            },
            TreeOp::Remove { path: rel("old") },
            TreeOp::Remove {
                path: rel("not there"),
            },
            TreeOp::DropPartial { file: rel("file") },
            TreeOp::Mkdir { path: rel("file") },
        ];
        let results = sftp.apply(ops, options).await;
        let failed: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].is_err())
            .collect();
        assert_eq!(failed, [7, 11], "{results:?}");
        let kind = describe_error(results[7].as_ref().unwrap_err());
        assert!(
            kind.contains("host:dst/file") && kind.contains("changed kind"),
            "{kind}"
        );

        let root = dst.path();
        assert!(root.join("a/b c").is_dir());
        assert_eq!(
            fs::read_link(root.join("a/link")).unwrap(),
            Path::new("b c")
        );
        let link_time = fs::symlink_metadata(root.join("a/link")).unwrap().mtime();
        assert_eq!(link_time, 1_234_567_890, "lsetstat sets a link's own time");
        assert_eq!(
            fs::metadata(root.join("a/hard")).unwrap().ino(),
            fs::metadata(root.join("file")).unwrap().ino()
        );
        let dir = fs::metadata(root.join("a/b c")).unwrap();
        assert_eq!((dir.mode() & 0o7777, dir.mtime()), (0o750, 1_234_567_890));
        assert!(!root.join("old").exists());
        assert_eq!(fs::read(outside.path().join("keep")).unwrap(), b"keep");
        assert_eq!(names(root), ["a", "file"]);
        assert_eq!(names(&root.join("a")), ["b c", "hard", "link"]);

        // A read-only directory becomes writable for the run.
        fs::set_permissions(root.join("a/b c"), fs::Permissions::from_mode(0o500)).unwrap();
        let made = sftp
            .apply(vec![TreeOp::MakeWritable { path: rel("a/b c") }], options)
            .await;
        assert!(made[0].is_ok(), "{made:?}");
        assert_eq!(
            fs::metadata(root.join("a/b c")).unwrap().mode() & 0o777,
            0o700
        );
    });
}

#[test]
fn a_tree_of_new_directories_and_their_modes_in_one_batch() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let dirs = ["d", "d/e", "d/e/f", "d/e/f/g", "x", "x/y", "x/z"];
        let mut ops: Vec<TreeOp> = dirs
            .iter()
            .map(|d| TreeOp::Mkdir { path: rel(d) })
            .collect();
        for (i, dir) in dirs.iter().enumerate().rev() {
            ops.push(TreeOp::SetMeta {
                path: rel(dir),
                target: MetaTarget::Dir,
                meta: Meta {
                    mode: 0o700 | (i as u32 * 0o11),
                    mtime: Timestamp {
                        secs: 1_000_000 + i as i64,
                        nanos: 0,
                    },
                    uid: 0,
                    gid: 0,
                },
            });
        }
        let options = MetaOptions {
            times: true,
            owner: false,
        };
        let results = sftp.apply(ops, options).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        for (i, dir) in dirs.iter().enumerate() {
            let meta = fs::metadata(dst.path().join(dir)).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.mode() & 0o7777, 0o700 | (i as u32 * 0o11), "{dir}");
            assert_eq!(meta.mtime(), 1_000_000 + i as i64, "{dir}");
        }
    });
}

#[test]
fn nothing_is_written_through_a_symlinked_directory() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim"), b"safe").unwrap();
        symlink(outside.path(), dst.path().join("escape")).unwrap();
        fs::create_dir(dst.path().join("real")).unwrap();
        symlink("../escape", dst.path().join("real/nested")).unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let written = sftp
            .write_files(
                vec![
                    bytes_write("escape/new", b"x".to_vec(), 0o644, 1),
                    bytes_write("real/nested/victim", b"pwned".to_vec(), 0o644, 1),
                    bytes_write("real/fine", b"fine".to_vec(), 0o644, 1),
                ],
                write_options(),
            )
            .await;
        for result in &written[..2] {
            assert!(
                matches!(result, Err(Error::ThroughSymlink { .. })),
                "{written:?}"
            );
        }
        assert!(written[2].is_ok());
        let message = written[1].as_ref().unwrap_err().to_string();
        assert_eq!(
            message,
            "refusing to follow a symbolic link on the way to host:dst/real/nested/victim"
        );
        let ops = vec![
            TreeOp::Mkdir {
                path: rel("escape/dir"),
            },
            TreeOp::Remove {
                path: rel("escape/victim"),
            },
            TreeOp::SetMeta {
                path: rel("real/nested/victim"),
                target: MetaTarget::File,
                meta: Meta::default(),
            },
        ];
        let results = sftp.apply(ops, MetaOptions::default()).await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(Error::ThroughSymlink { .. }))),
            "{results:?}"
        );
        assert_eq!(names(outside.path()), ["victim"]);
        assert_eq!(fs::read(outside.path().join("victim")).unwrap(), b"safe");
        let mode = fs::metadata(outside.path().join("victim")).unwrap().mode();
        assert_ne!(mode & 0o777, 0);
    });
}

#[test]
fn a_refused_write_names_the_file_and_the_cause() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let ro = dst.path().join("ro");
        fs::create_dir(&ro).unwrap();
        // Root ignores permissions: run the server as `nobody` then, owning the tree.
        let as_user = rustix::process::geteuid().is_root().then_some(65534);
        if let Some(id) = as_user {
            std::os::unix::fs::chown(dst.path(), Some(id), Some(id)).unwrap();
            std::os::unix::fs::chown(&ro, Some(id), Some(id)).unwrap();
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let start = Start {
            as_user,
            ..Start::default()
        };
        let Some((sftp, _server)) = connect_with(dst.path().to_str().unwrap(), start).await else {
            return;
        };
        let written = sftp
            .write_files(
                vec![bytes_write("ro/f", b"x".to_vec(), 0o644, 1)],
                write_options(),
            )
            .await;
        let message = describe_error(written[0].as_ref().unwrap_err());
        assert_eq!(
            message,
            "creating a temporary for host:dst/ro/f: Permission denied"
        );
        let made = sftp
            .apply(
                vec![TreeOp::Mkdir { path: rel("ro/d") }],
                MetaOptions::default(),
            )
            .await;
        let message = describe_error(made[0].as_ref().unwrap_err());
        assert_eq!(
            message,
            "creating directory host:dst/ro/d: Permission denied"
        );
        assert!(names(&ro).is_empty());
    });
}

#[test]
fn relative_missing_and_created_roots() {
    run(async {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir(home.path().join("there")).unwrap();
        fs::write(home.path().join("there/f"), b"f").unwrap();
        let start = || Start {
            home: Some(home.path().to_path_buf()),
            ..Start::default()
        };
        let Some((sftp, _server)) = connect_with("there", start()).await else {
            return;
        };
        let real = fs::canonicalize(home.path().join("there")).unwrap();
        assert_eq!(sftp.root_path(), real.to_str());
        let scan = sftp.scan(ScanOptions::default()).await.unwrap();
        assert_eq!(scan.entries.len(), 2);

        let (login, _server) = connect_with("", start()).await.unwrap();
        let home_real = fs::canonicalize(home.path()).unwrap();
        assert_eq!(login.root_path(), home_real.to_str());

        let (missing, _server) = connect_with("new", start()).await.unwrap();
        assert_eq!(missing.root_path(), None);
        assert!(
            missing
                .scan(ScanOptions::default())
                .await
                .unwrap()
                .entries
                .is_empty()
        );
        let written = missing
            .write_files(
                vec![bytes_write("f", b"x".to_vec(), 0o644, 1)],
                write_options(),
            )
            .await;
        let message = describe_error(written[0].as_ref().unwrap_err());
        assert!(message.contains("does not exist"), "{message}");

        let created = Start {
            create_root: true,
            ..start()
        };
        let (made, _server) = connect_with("new", created).await.unwrap();
        assert!(home.path().join("new").is_dir());
        let written = made
            .write_files(
                vec![bytes_write("f", b"x".to_vec(), 0o644, 1)],
                write_options(),
            )
            .await;
        assert!(written[0].is_ok());
        assert_eq!(fs::read(home.path().join("new/f")).unwrap(), b"x");
    });
}

/// Rough throughput through a local `sftp-server` (not a benchmark: run it by hand with
/// `cargo test --release -p sy-transport --test sftp -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, run by hand"]
fn throughput_of_one_large_file() {
    run(async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let len: usize = std::env::var("SY_SFTP_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512)
            << 20;
        fs::write(src.path().join("big"), content(11, len)).unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let local = Local::open(src.path()).unwrap();
        let scan = local.scan(ScanOptions::default()).await.unwrap();
        let opened = local
            .read_files(vec![scan.entries[1].clone()], read_options())
            .await;
        let source = opened.into_iter().next().unwrap().unwrap();
        let write = FileWrite {
            path: rel("big"),
            source,
            clear_partial: false,
        };
        let started = std::time::Instant::now();
        sftp.write_files(vec![write], write_options()).await[0]
            .as_ref()
            .unwrap();
        let put = started.elapsed();

        let entry = sftp.scan(ScanOptions::default()).await.unwrap().entries[1].clone();
        let back = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let opened = sftp.read_files(vec![entry], read_options()).await;
        let source = opened.into_iter().next().unwrap().unwrap();
        let write = FileWrite {
            path: rel("big"),
            source,
            clear_partial: false,
        };
        Local::open(back.path())
            .unwrap()
            .write_files(vec![write], write_options())
            .await[0]
            .as_ref()
            .unwrap();
        let get = started.elapsed();

        // The same, drained into memory: the SFTP side alone.
        let entry = sftp.scan(ScanOptions::default()).await.unwrap().entries[1].clone();
        let started = std::time::Instant::now();
        let opened = sftp.read_files(vec![entry], read_options()).await;
        let Some(Ok(SourceFile {
            data: FileData::Stream(mut chunks),
            ..
        })) = opened.into_iter().next()
        else {
            panic!("not streamed");
        };
        let mut drained = 0;
        while let Some(chunk) = chunks.recv().await {
            if let StreamChunk::Data(data) = chunk.unwrap() {
                drained += data.len();
            }
        }
        assert_eq!(drained, len);
        let drain = started.elapsed();
        let mb = len as f64 / 1e6;
        eprintln!(
            "{} MiB: put {:.0} MB/s, get {:.0} MB/s, get into memory {:.0} MB/s",
            len >> 20,
            mb / put.as_secs_f64(),
            mb / get.as_secs_f64(),
            mb / drain.as_secs_f64()
        );
    });
}

#[test]
fn without_openssh_extensions_files_are_still_replaced_and_missing_features_are_named() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("f"), b"old").unwrap();
        fs::write(dst.path().join("g"), b"g").unwrap();
        symlink("old target", dst.path().join("link")).unwrap();
        let start = Start {
            hide: &[
                "posix-rename@openssh.com",
                "hardlink@openssh.com",
                "lsetstat@openssh.com",
            ],
            ..Start::default()
        };
        let Some((sftp, _server)) = connect_with(dst.path().to_str().unwrap(), start).await else {
            return;
        };
        let written = sftp
            .write_files(
                vec![bytes_write("f", b"new".to_vec(), 0o600, 1_000)],
                write_options(),
            )
            .await;
        assert!(written[0].is_ok(), "{written:?}");
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"new");
        let ops = vec![
            TreeOp::Symlink {
                path: rel("link"),
                target: b"new target".to_vec(),
                meta: Meta::default(),
            },
            TreeOp::HardLink {
                path: rel("h"),
                target: rel("g"),
            },
        ];
        let options = MetaOptions {
            times: true,
            owner: false,
        };
        let results = sftp.apply(ops, options).await;
        assert!(results[0].is_ok(), "{results:?}");
        assert_eq!(
            fs::read_link(dst.path().join("link")).unwrap(),
            Path::new("new target")
        );
        assert_eq!(
            describe_error(results[1].as_ref().unwrap_err()),
            "creating hard link host:dst/h: the SFTP server does not offer hardlink@openssh.com"
        );
        assert_eq!(names(dst.path()), ["f", "g", "link"]);
    });
}

/// Rough time to scan and to push 10 000 small files in 100 directories through a local
/// `sftp-server` (run by hand, like the throughput measurement above).
#[test]
#[ignore = "a measurement, run by hand"]
fn many_small_files() {
    run(async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        for d in 0..100 {
            let dir = src.path().join(format!("d{d:02}"));
            fs::create_dir(&dir).unwrap();
            for f in 0..100 {
                fs::write(dir.join(format!("f{f:02}")), content(d * 100 + f, 1000)).unwrap();
            }
        }
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let local = Local::open(src.path()).unwrap();
        let scan = local.scan(ScanOptions::default()).await.unwrap();
        let started = std::time::Instant::now();
        let dirs = scan
            .entries
            .iter()
            .filter(|e| e.is_dir())
            .map(|e| TreeOp::Mkdir {
                path: e.path.clone(),
            })
            .collect();
        assert!(
            sftp.apply(dirs, MetaOptions::default())
                .await
                .iter()
                .all(Result::is_ok)
        );
        let files: Vec<Entry> = scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .cloned()
            .collect();
        for batch in files.chunks(64) {
            let opened = local.read_files(batch.to_vec(), read_options()).await;
            let writes = opened
                .into_iter()
                .map(|source| {
                    let source = source.unwrap();
                    FileWrite {
                        path: source.entry.path.clone(),
                        source,
                        clear_partial: false,
                    }
                })
                .collect();
            let written = sftp.write_files(writes, write_options()).await;
            assert!(written.iter().all(Result::is_ok));
        }
        let pushed = started.elapsed();
        let started = std::time::Instant::now();
        let remote = sftp.scan(ScanOptions::default()).await.unwrap();
        let scanned = started.elapsed();
        assert_eq!(remote.entries.len(), scan.entries.len());
        eprintln!("10 000 files: push (64 a batch, one at a time) {pushed:?}, scan {scanned:?}");
    });
}
