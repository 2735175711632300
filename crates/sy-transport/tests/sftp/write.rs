//! Pushing files: content, attributes, atomic replacement, refusals.

use super::*;

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
        let as_user = unprivileged();
        give_away(dst.path(), as_user);
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
fn a_cancelled_write_leaves_the_old_file_and_no_temporary() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("f"), b"old").unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let options = write_options();
        options.cancel.cancel();
        let written = sftp
            .write_files(vec![bytes_write("f", vec![1; 1 << 20], 0o644, 1)], options)
            .await;
        assert!(matches!(written[0], Err(Error::Interrupted)), "{written:?}");
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"old");
        assert_eq!(names(dst.path()), ["f"]);
    });
}

#[test]
fn many_batches_at_once_stay_within_the_handles_the_session_can_carry() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        // Eight workers' batches at once, as `-j 8` would send them: more files than the 127
        // handles that survive russh-sftp's string handles, were they all open together.
        let batches = (0..8).map(|batch| {
            let sftp = sftp.clone();
            tokio::spawn(async move {
                let files = (0..64)
                    .map(|i| {
                        let name = format!("b{batch}-f{i}");
                        bytes_write(&name, content(batch * 64 + i, 3000), 0o644, 1)
                    })
                    .collect();
                sftp.write_files(files, write_options()).await
            })
        });
        for batch in batches.collect::<Vec<_>>() {
            let written = batch.await.unwrap();
            assert!(written.iter().all(Result::is_ok), "{written:?}");
        }
        assert_eq!(names(dst.path()).len(), 8 * 64);
        let sample = fs::read(dst.path().join("b7-f63")).unwrap();
        assert_eq!(sample, content(7 * 64 + 63, 3000));
    });
}

#[test]
fn owner_then_mode_keeps_set_id_bits() {
    run(async {
        if !require(
            rustix::process::geteuid().is_root(),
            "needs root to change owners (run the tests as root)",
        ) {
            return;
        }
        let dst = tempfile::tempdir().unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let mut write = bytes_write("setuid", b"#!/bin/true\n".to_vec(), 0o4755, 1_000_000);
        write.source.entry.meta.uid = 65534;
        write.source.entry.meta.gid = 65534;
        let mut options = write_options();
        options.meta.owner = true;
        let written = sftp.write_files(vec![write], options).await;
        assert!(written[0].is_ok(), "{written:?}");
        let meta = fs::metadata(dst.path().join("setuid")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(
            meta.mode() & 0o7777,
            0o4755,
            "a change of owner after the mode clears set-id"
        );
        assert_eq!(meta.mtime(), 1_000_000);
    });
}
