//! Rough figures, run by hand: `cargo test --release -p sy-transport --test sftp -- --ignored --nocapture`.

use super::*;

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
