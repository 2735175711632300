//! The local backend's guarantees, tested directly: confinement beneath the root, change
//! detection, leftovers.

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::Arc;

use super::Local;
use crate::{
    Basis, Cancel, Error, FileData, FileWrite, LeftoverKind, Meta, MetaOptions, MetaTarget,
    NoProgress, ReadOptions, RelPath, ScanOptions, SourceFile, StreamChunk, Timestamp, Transport,
    TreeOp, WriteOptions,
};

fn p(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// The name sy keeps `name`'s partial under.
fn partial(name: &str) -> String {
    String::from_utf8(crate::partial_name(name.as_bytes()).unwrap()).unwrap()
}

fn read_options(inline_limit: u64) -> ReadOptions {
    ReadOptions {
        inline_limit,
        follow_links: false,
        cancel: Cancel::default(),
    }
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

/// A source tree with one file, and an empty destination.
fn setup(content: &[u8]) -> (tempfile::TempDir, Local, Local) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    fs::create_dir_all(dir.path().join("dst")).unwrap();
    fs::create_dir_all(dir.path().join("outside")).unwrap();
    fs::write(dir.path().join("src/f"), content).unwrap();
    let src = Local::open(dir.path().join("src")).unwrap();
    let dst = Local::open(dir.path().join("dst")).unwrap();
    (dir, src, dst)
}

async fn copy(src: &Local, dst: &Local, from: &str, to: &str, inline: u64) -> crate::Result<()> {
    let scan = src.scan(ScanOptions::default()).await.unwrap();
    let entry = scan
        .entries
        .into_iter()
        .find(|e| e.path == p(from))
        .unwrap();
    let source = src
        .read_files(vec![entry], read_options(inline))
        .await
        .pop()
        .unwrap()?;
    let write = FileWrite {
        path: p(to),
        source,
        clear_partial: false,
    };
    dst.write_files(vec![write], write_options())
        .await
        .pop()
        .unwrap()
        .map(|_| ())
}

#[tokio::test]
async fn writes_never_follow_a_symlink_out_of_the_root() {
    let (dir, src, dst) = setup(b"data");
    symlink(dir.path().join("outside"), dir.path().join("dst/link")).unwrap();
    let err = copy(&src, &dst, "f", "link/f", 1 << 20).await.unwrap_err();
    assert!(matches!(err, Error::ThroughSymlink { .. }), "{err}");
    assert!(
        fs::read_dir(dir.path().join("outside"))
            .unwrap()
            .next()
            .is_none()
    );
    // A relative link inside the tree is refused too: no link is followed at all.
    fs::create_dir(dir.path().join("dst/real")).unwrap();
    symlink("real", dir.path().join("dst/inner")).unwrap();
    let err = copy(&src, &dst, "f", "inner/f", 1 << 20).await.unwrap_err();
    assert!(matches!(err, Error::ThroughSymlink { .. }), "{err}");
}

#[tokio::test]
async fn tree_ops_do_not_follow_links_either() {
    let (dir, _src, dst) = setup(b"");
    fs::write(dir.path().join("outside/keep"), "keep").unwrap();
    symlink(dir.path().join("outside"), dir.path().join("dst/link")).unwrap();
    let results = dst
        .apply(
            vec![
                TreeOp::Mkdir {
                    path: p("link/new"),
                },
                TreeOp::Remove {
                    path: p("link/keep"),
                },
                TreeOp::Remove { path: p("link") },
            ],
            MetaOptions::default(),
        )
        .await;
    assert!(results[0].is_err() && results[1].is_err(), "{results:?}");
    assert!(results[2].is_ok());
    // Removing the link removed the link, not what it pointed to.
    assert_eq!(fs::read(dir.path().join("outside/keep")).unwrap(), b"keep");
    assert!(!dir.path().join("outside/new").exists());
    assert!(fs::symlink_metadata(dir.path().join("dst/link")).is_err());
}

#[tokio::test]
async fn new_directories_stay_owner_only_until_their_mode_is_set() {
    use std::os::unix::fs::PermissionsExt;

    let (dir, _src, dst) = setup(b"");
    let mode_of = |path: &str| {
        fs::metadata(dir.path().join("dst").join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    let made = dst
        .apply(
            vec![
                TreeOp::Mkdir { path: p("private") },
                TreeOp::Mkdir {
                    path: p("private/inner"),
                },
            ],
            MetaOptions::default(),
        )
        .await;
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    // A run stopped here leaves them as closed as the most private source could be.
    assert_eq!(mode_of("private") & 0o077, 0, "{:o}", mode_of("private"));
    assert_eq!(mode_of("private/inner") & 0o077, 0);

    let meta = Meta {
        mode: 0o755,
        mtime: Timestamp {
            secs: 1_000_000,
            nanos: 0,
        },
        uid: 0,
        gid: 0,
    };
    let set = dst
        .apply(
            vec![TreeOp::SetMeta {
                path: p("private/inner"),
                target: MetaTarget::Dir,
                meta,
            }],
            MetaOptions::default(),
        )
        .await;
    assert!(set[0].is_ok(), "{set:?}");
    assert_eq!(mode_of("private/inner"), 0o755, "the last step opens it");
}

#[tokio::test]
async fn a_file_that_grows_between_open_and_copy_is_refused() {
    let (dir, src, dst) = setup(&[1u8; 4096]);
    let scan = src.scan(ScanOptions::default()).await.unwrap();
    let entry = scan.entries.into_iter().find(|e| e.path == p("f")).unwrap();
    // inline_limit 0: the open file itself is handed to the writer…
    let source = src
        .read_files(vec![entry], read_options(0))
        .await
        .pop()
        .unwrap()
        .unwrap();
    // …and the file changes before the writer copies it.
    fs::write(dir.path().join("src/f"), [2u8; 8192]).unwrap();
    let result = dst
        .write_files(
            vec![FileWrite {
                path: p("f"),
                source,
                clear_partial: false,
            }],
            write_options(),
        )
        .await
        .pop()
        .unwrap();
    assert!(
        matches!(result, Err(Error::SourceChanged { .. })),
        "{result:?}"
    );
    assert!(
        fs::read_dir(dir.path().join("dst"))
            .unwrap()
            .next()
            .is_none(),
        "no file, no temp"
    );
}

#[tokio::test]
async fn stray_temps_become_partials_and_partials_are_not_entries() {
    let (dir, _src, dst) = setup(b"");
    let temp = String::from_utf8(crate::temp_name(b"f")).unwrap();
    fs::write(dir.path().join("dst").join(temp), "half").unwrap();
    // Only looks like one of sy's: an ordinary file.
    fs::write(dir.path().join("dst/.g.sy-tmp.0123456789abcdef"), "mine").unwrap();
    fs::write(dir.path().join("dst/real"), "x").unwrap();
    let scan = dst.scan(ScanOptions::default()).await.unwrap();
    let names: Vec<String> = scan.entries.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(names, [".", ".g.sy-tmp.0123456789abcdef", "real"]);
    assert_eq!(scan.leftovers.len(), 1);
    assert_eq!(scan.leftovers[0].kind, LeftoverKind::Temp);
    assert_eq!(scan.leftovers[0].file, Some(p("f")));
    let results = dst
        .apply(
            vec![TreeOp::Tidy(scan.leftovers[0].clone())],
            MetaOptions::default(),
        )
        .await;
    assert!(results[0].is_ok());
    assert_eq!(
        fs::read(dir.path().join("dst").join(partial("f"))).unwrap(),
        b"half"
    );
    let scan = dst.scan(ScanOptions::default()).await.unwrap();
    assert_eq!(scan.leftovers[0].kind, LeftoverKind::Partial);
}

#[tokio::test]
async fn a_missing_root_scans_empty_and_refuses_writes() {
    let (dir, src, _dst) = setup(b"x");
    let missing = Local::open(dir.path().join("nope")).unwrap();
    assert!(
        missing
            .scan(ScanOptions::default())
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let err = copy(&src, &missing, "f", "f", 1 << 20).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn every_signature_gets_a_fresh_seed() {
    let (_dir, src, _dst) = setup(&[7u8; 4096]);
    let first = src
        .signature(p("f"), Basis::Existing)
        .await
        .unwrap()
        .unwrap();
    let second = src
        .signature(p("f"), Basis::Existing)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        first.seed(),
        second.seed(),
        "a fixed seed lets a sender craft collisions"
    );
    assert_ne!(first.to_bytes(), second.to_bytes());
}

/// Writes `f` (4 KiB) from a stream that sends every byte, then `End` or nothing.
async fn write_streamed(with_end: bool) -> (tempfile::TempDir, crate::Result<()>) {
    let (dir, src, dst) = setup(&[5u8; 4096]);
    let entry = src.scan(ScanOptions::default()).await.unwrap().entries;
    let entry = entry.into_iter().find(|e| e.path == p("f")).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(Ok(StreamChunk::Data(vec![5u8; 4096].into())))
        .await
        .unwrap();
    if with_end {
        tx.send(Ok(StreamChunk::End)).await.unwrap();
    }
    drop(tx);
    let write = FileWrite {
        path: p("f"),
        source: SourceFile {
            entry,
            data: FileData::Stream(rx),
        },
        clear_partial: false,
    };
    let result = dst.write_files(vec![write], write_options()).await.pop();
    (dir, result.unwrap().map(|_| ()))
}

#[tokio::test]
async fn a_stream_is_committed_only_after_its_end_marker() {
    let (dir, result) = write_streamed(true).await;
    result.unwrap();
    assert_eq!(fs::read(dir.path().join("dst/f")).unwrap(), [5u8; 4096]);

    // Every byte arrived, but the sender never vouched for them (its digest check did not run).
    let (dir, result) = write_streamed(false).await;
    assert!(result.unwrap_err().is_interrupted());
    assert!(!dir.path().join("dst/f").exists());
    assert_eq!(
        fs::read(dir.path().join("dst").join(partial("f")))
            .unwrap()
            .len(),
        4096,
        "what arrived is kept to resume from"
    );
}

#[tokio::test]
async fn a_tree_five_thousand_levels_deep_is_removed() {
    use rustix::fs::{Mode, OFlags, mkdirat, openat};

    let (dir, _src, dst) = setup(b"");
    // Built through descriptors: its paths are far longer than PATH_MAX.
    let open_dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut at = openat(
        rustix::fs::CWD,
        dir.path().join("dst"),
        open_dir,
        Mode::empty(),
    )
    .unwrap();
    let create = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
    for level in 0..5_000 {
        mkdirat(&at, "d", Mode::from_raw_mode(0o755)).unwrap();
        at = openat(&at, "d", open_dir, Mode::empty()).unwrap();
        // Now and then a second, read-only branch with a file in it.
        if level % 1_000 == 999 {
            mkdirat(&at, "side", Mode::from_raw_mode(0o755)).unwrap();
            let side = openat(&at, "side", open_dir, Mode::empty()).unwrap();
            openat(&side, "f", create, Mode::from_raw_mode(0o644)).unwrap();
            rustix::fs::fchmod(&side, Mode::from_raw_mode(0o500)).unwrap();
        }
    }
    openat(&at, "f", create, Mode::from_raw_mode(0o644)).unwrap();
    drop(at);

    let removed = dst
        .apply(
            vec![TreeOp::Remove { path: p("d") }],
            MetaOptions::default(),
        )
        .await;
    assert!(removed[0].is_ok(), "{removed:?}");
    assert!(!dir.path().join("dst/d").exists());
    assert_eq!(fs::read_dir(dir.path().join("dst")).unwrap().count(), 0);
}
