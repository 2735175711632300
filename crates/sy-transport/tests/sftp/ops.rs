//! Tree operations, with and without the OpenSSH extensions.

use super::*;

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
        fs::write(dst.path().join(partial("file")), b"da").unwrap();
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
        assert_eq!(
            describe_error(results[11].as_ref().unwrap_err()),
            "creating directory host:dst/file: something that is not a directory is in the way"
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
fn new_directories_stay_owner_only_until_their_mode_is_set() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let Some((sftp, _server)) = connect(dst.path()).await else {
            return;
        };
        let results = sftp
            .apply(
                vec![
                    TreeOp::Mkdir {
                        path: rel("private"),
                    },
                    TreeOp::Mkdir {
                        path: rel("private/inner"),
                    },
                ],
                MetaOptions::default(),
            )
            .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        // A run stopped here (or a lost link) leaves them no more open than their source.
        for dir in ["private", "private/inner"] {
            let mode = fs::metadata(dst.path().join(dir)).unwrap().mode() & 0o7777;
            assert_eq!(mode & 0o077, 0, "{dir} is {mode:o}");
        }
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

const NO_POSIX_RENAME: &[&str] = &["posix-rename@openssh.com"];

#[test]
fn without_posix_rename_a_failed_replace_keeps_the_old_version() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("f"), b"old").unwrap();
        // The first rename is refused as the target exists; the target goes aside; then the
        // temporary's second rename fails.
        let start = Start {
            hide: NO_POSIX_RENAME,
            refuse: &[RefuseRename {
                from: ".f.sy-tmp.",
                to: "/f",
                nth: 2,
            }],
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
        assert_eq!(
            describe_error(written[0].as_ref().unwrap_err()),
            "renaming into place host:dst/f: refused (test)"
        );
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"old");
        assert_eq!(names(dst.path()), ["f"], "no temporary or aside copy left");
    });
}

#[test]
fn without_posix_rename_a_cut_replace_keeps_both_versions_and_tidying_restores_the_old() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("f"), b"old").unwrap();
        // As if the link died after the target went aside: neither the new version nor the
        // old one can be renamed into place.
        let start = Start {
            hide: NO_POSIX_RENAME,
            refuse: &[
                RefuseRename {
                    from: ".f.sy-tmp.",
                    to: "/f",
                    nth: 2,
                },
                RefuseRename {
                    from: ".f.sy-old.",
                    to: "/f",
                    nth: 1,
                },
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
        let error = describe_error(written[0].as_ref().unwrap_err());
        assert!(
            error.starts_with(
                "renaming into place host:dst/f: refused (test); the old version is kept as "
            ),
            "{error}"
        );
        let left = names(dst.path());
        assert_eq!(left.len(), 2, "{left:?}");
        let (aside, temp) = (&left[0], &left[1]);
        assert!(aside.starts_with(".f.sy-old."), "{left:?}");
        assert!(temp.starts_with(".f.sy-tmp."), "{left:?}");
        assert!(
            error.contains(aside.as_str()) && error.contains(temp.as_str()),
            "{error}"
        );
        assert_eq!(fs::read(dst.path().join(aside)).unwrap(), b"old");
        assert_eq!(fs::read(dst.path().join(temp)).unwrap(), b"new");

        // The next run's scan finds both as sy's leftovers of `f`; tidying puts the old
        // version back and keeps the new one as the partial.
        let scan = sftp.scan(ScanOptions::default()).await.unwrap();
        assert!(scan.entries.iter().all(|e| e.path.is_root()), "{scan:?}");
        let mut leftovers = scan.leftovers.clone();
        leftovers.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let found: Vec<_> = leftovers
            .iter()
            .map(|l| (l.path.to_string(), l.file.clone(), l.kind))
            .collect();
        assert_eq!(
            found,
            [
                (aside.clone(), Some(rel("f")), LeftoverKind::Temp),
                (temp.clone(), Some(rel("f")), LeftoverKind::Temp),
            ]
        );
        let ops = leftovers.into_iter().map(TreeOp::Tidy).collect();
        let tidied = sftp.apply(ops, MetaOptions::default()).await;
        assert!(tidied.iter().all(Result::is_ok), "{tidied:?}");
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"old");
        assert_eq!(fs::read(dst.path().join(partial("f"))).unwrap(), b"new");
        assert_eq!(names(dst.path()), [partial("f").as_str(), "f"]);
    });
}

#[test]
fn read_only_directories_are_opened_for_the_run_and_removed_whole() {
    run(async {
        let dst = tempfile::tempdir().unwrap();
        let root = dst.path();
        fs::create_dir(root.join("keep")).unwrap();
        fs::create_dir_all(root.join("gone/ro/inner")).unwrap();
        fs::write(root.join("gone/ro/inner/f"), b"f").unwrap();
        let as_user = unprivileged();
        give_away(root, as_user);
        let mode = |path: &str, mode: u32| {
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).unwrap();
        };
        mode("keep", 0o555);
        mode("gone/ro/inner", 0o500);
        mode("gone/ro", 0o555);
        let start = Start {
            as_user,
            ..Start::default()
        };
        let Some((sftp, _server)) = connect_with(root.to_str().unwrap(), start).await else {
            return;
        };
        let ops = vec![TreeOp::MakeWritable { path: rel("keep") }];
        let made = sftp.apply(ops, MetaOptions::default()).await;
        assert!(made[0].is_ok(), "{made:?}");
        assert_eq!(
            fs::metadata(root.join("keep")).unwrap().mode() & 0o777,
            0o755
        );
        let written = sftp
            .write_files(
                vec![bytes_write("keep/f", b"x".to_vec(), 0o644, 1)],
                write_options(),
            )
            .await;
        assert!(written[0].is_ok(), "{written:?}");
        let removed = sftp
            .apply(
                vec![TreeOp::Remove { path: rel("gone") }],
                MetaOptions::default(),
            )
            .await;
        assert!(removed[0].is_ok(), "{removed:?}");
        assert_eq!(names(root), ["keep"]);

        // Something the server's user may not change, deep in a tree: the error names it.
        if as_user.is_some() {
            fs::create_dir_all(root.join("tree/locked")).unwrap();
            fs::write(root.join("tree/locked/f"), b"f").unwrap();
            std::os::unix::fs::chown(root.join("tree"), as_user, as_user).unwrap();
            mode("tree/locked", 0o555);
            let removed = sftp
                .apply(
                    vec![TreeOp::Remove { path: rel("tree") }],
                    MetaOptions::default(),
                )
                .await;
            assert_eq!(
                describe_error(removed[0].as_ref().unwrap_err()),
                "removing host:dst/tree/locked: Permission denied"
            );
        }
    });
}

/// The name sy keeps `name`'s partial under.
fn partial(name: &str) -> String {
    String::from_utf8(sy_transport::partial_name(name.as_bytes()).unwrap()).unwrap()
}
