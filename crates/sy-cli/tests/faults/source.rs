//! A source file rewritten in place by another process while sy copies it (the transfer is
//! paced with --bwlimit so the rewrites land inside it). Whatever the timing, the copy is one
//! complete version of the file, or the old one with the file reported as changed (exit 23):
//! never a mix of two versions.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Rng, relayed_sy, remote_dst, remote_src};
use crate::util::{Fixture, assert_same_tree, leftovers, stderr};

/// Larger than what the link buffers (about 6 MiB), so a remote sender's reading is paced too.
const SIZE: usize = 16 << 20;
const CHUNK: usize = 256 << 10;

fn version(k: u64) -> Vec<u8> {
    Rng::new(1000 + k).bytes(SIZE)
}

/// Rewrites `path` in place with versions 1..=`versions`, a chunk every 20 ms (so no two
/// writes share a timestamp tick), after a seeded pause; stops early when told.
fn rewriter(
    path: std::path::PathBuf,
    versions: u64,
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        std::thread::sleep(pause);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        let mut last = 0;
        for k in 1..=versions {
            let content = version(k);
            for (i, chunk) in content.chunks(CHUNK).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    return last;
                }
                file.write_all_at(chunk, (i * CHUNK) as u64).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            last = k;
        }
        last
    })
}

#[test]
fn a_file_rewritten_during_its_transfer_is_never_copied_as_a_mix() {
    let mut outcomes = Vec::new();
    for (seed, direction) in [(1, "local"), (2, "push"), (3, "pull")] {
        let f = Fixture::new();
        let mut rng = Rng::new(seed);
        let old = version(0);
        f.write("src/big", &old);
        f.write("src/steady", "steady");
        let (src, dst) = match direction {
            "local" => (f.src_slash(), f.dst().display().to_string()),
            "push" => (f.src_slash(), remote_dst(&f)),
            _ => (remote_src(&f), f.dst().display().to_string()),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let pause = Duration::from_millis(rng.range(0, 400));
        let writer = rewriter(f.src().join("big"), 2, pause, Arc::clone(&stop));
        let out = relayed_sy(&f, "")
            .args(["--bwlimit", "4M"])
            .arg(&src)
            .arg(&dst)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let err = stderr(&out);
        let context = format!("seed {seed} {direction}, pause {pause:?}: {err}");
        assert_eq!(
            std::fs::read(f.path("dst/steady")).unwrap(),
            b"steady",
            "{context}"
        );
        assert!(
            leftovers(&f.dst())
                .iter()
                .all(|l| l.to_string_lossy().ends_with(".sy-partial")),
            "{context}"
        );
        let outcome = match out.status.code() {
            Some(0) => {
                let copy = std::fs::read(f.path("dst/big")).unwrap();
                let k = (0..=2)
                    .find(|&k| copy == version(k))
                    .unwrap_or_else(|| panic!("{context}: the copy is a mix of versions"));
                format!("version {k}")
            }
            Some(23) => {
                assert!(err.contains("big changed while being copied"), "{context}");
                assert!(!f.path("dst/big").exists(), "{context}");
                "reported as changed".to_owned()
            }
            other => panic!("{context}: exit {other:?}"),
        };
        outcomes.push(format!("{direction}: {outcome}"));
        // Once the file is quiet, the next run copies it.
        let out = relayed_sy(&f, "").arg(&src).arg(&dst).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_same_tree(&f.src(), &f.dst());
    }
    eprintln!("concurrent rewrites: {outcomes:?}");
}
