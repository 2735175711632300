//! Scans of a remote tree, and how the root is found.

use super::*;

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

        // So are per-directory merge files (`-F`): a `/` anchors at the file's directory.
        fs::write(root.join("sub dir/.rules"), "- /keep.log\n").unwrap();
        let mut merging = ScanOptions::default();
        merging
            .filter
            .rules
            .push((sy_transport::RuleKind::DirMerge, ".rules".to_owned()));
        let remote = sftp.scan(merging.clone()).await.unwrap();
        let local = Local::open(root).unwrap().scan(merging).await.unwrap();
        assert_eq!(comparable(&remote.entries), comparable(&local.entries));
        assert!(!kept(&remote, "sub dir/keep.log") && kept(&remote, "sub dir/drop.log"));

        // A missing base scans as empty.
        let missing = ScanOptions {
            base: rel("nope"),
            ..ScanOptions::default()
        };
        assert!(sftp.scan(missing).await.unwrap().entries.is_empty());
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

#[test]
fn following_links_reports_their_targets_and_stops_at_a_loop() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("g"), b"g").unwrap();
        let root = dir.path();
        symlink(outside.path(), root.join("ext link")).unwrap();
        symlink(".", root.join("up")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        let Some((sftp, _server)) = connect(root).await else {
            return;
        };
        let options = ScanOptions {
            follow_links: true,
            ..ScanOptions::default()
        };
        let remote = sftp.scan(options.clone()).await.unwrap();
        let local = Local::open(root).unwrap().scan(options).await.unwrap();
        assert_eq!(comparable(&remote.entries), comparable(&local.entries));
        let paths: Vec<String> = remote.entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, [".", "dangling", "ext link", "ext link/g", "up"]);
    });
}

#[test]
fn a_name_that_is_not_utf8_is_a_problem_not_an_entry() {
    run(async {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"bad \xff name");
        fs::write(dir.path().join(bad), b"x").unwrap();
        fs::write(dir.path().join("good"), b"x").unwrap();
        let Some((sftp, _server)) = connect(dir.path()).await else {
            return;
        };
        let scan = sftp.scan(ScanOptions::default()).await.unwrap();
        let paths: Vec<String> = scan.entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, [".", "good"]);
        assert_eq!(scan.problems.len(), 1);
        let problem = scan.problems[0].to_string();
        assert!(
            problem.contains("bad") && problem.contains("not valid UTF-8"),
            "{problem}"
        );
    });
}
