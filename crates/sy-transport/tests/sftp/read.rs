//! Pulling files, digests and literal deltas.

use super::*;

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
        assert_eq!(sums[0].as_ref().unwrap(), &FileDigest::of_bytes(&data));
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
fn a_server_that_goes_away_fails_requests_at_once_with_a_clear_error() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"f").unwrap();
        let Some((sftp, mut server)) = connect(dir.path()).await else {
            return;
        };
        server.kill().await.unwrap();
        let started = std::time::Instant::now();
        let error = sftp.scan(ScanOptions::default()).await.unwrap_err();
        let written = sftp
            .write_files(
                vec![bytes_write("g", b"g".to_vec(), 0o644, 1)],
                write_options(),
            )
            .await;
        assert!(started.elapsed() < Duration::from_secs(30));
        for message in [
            describe_error(&error),
            describe_error(written[0].as_ref().unwrap_err()),
        ] {
            assert!(
                message.contains("host:dst") && message.contains("SFTP session"),
                "{message}"
            );
        }
        assert!(!dir.path().join("g").exists());
    });
}
