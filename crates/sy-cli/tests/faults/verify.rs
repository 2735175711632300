//! `--verify`: every written file is read back at the destination and compared with the source.

use std::fs;
use std::time::{Duration, Instant};

use super::{Rng, relayed_sy, remote_dst, remote_src};
use crate::util::{Fixture, assert_same_tree, stderr, stdout, summary};

fn tree(f: &Fixture) -> u64 {
    let mut rng = Rng::new(42);
    f.write("src/big", rng.bytes(3 << 20));
    for i in 0..40 {
        let len = rng.range(0, 5000) as usize;
        f.write(format!("src/d/f{i}"), rng.bytes(len));
    }
    41
}

#[test]
fn every_written_file_is_read_back_locally_and_over_the_agent() {
    for direction in ["local", "push", "pull"] {
        let f = Fixture::new();
        let files = tree(&f);
        // Something to update too: the old version differs.
        f.write("dst/d/f0", "old");
        let (src, dst) = match direction {
            "local" => (f.src_slash(), f.dst().display().to_string()),
            "push" => (f.src_slash(), remote_dst(&f)),
            _ => (remote_src(&f), f.dst().display().to_string()),
        };
        let out = relayed_sy(&f, "")
            .args(["--verify", "--json"])
            .arg(&src)
            .arg(&dst)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{direction}: {}", stderr(&out));
        assert_eq!(summary(&out)["verified"], files, "{direction}");
        assert_same_tree(&f.src(), &f.dst());
        // Unchanged files are not read back; --stats says what was.
        f.write("src/d/f1", "changed");
        let out = relayed_sy(&f, "")
            .args(["--verify", "--stats"])
            .arg(&src)
            .arg(&dst)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{direction}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("verify: 1 files read back at the destination"),
            "{direction}: {}",
            stdout(&out)
        );
    }
}

/// The source of a file changes after its copy is in place but before the read-back (`-j 1`
/// and a paced second file keep the run going for seconds after the first one lands): the
/// digests differ, the file is copied again and then matches.
#[test]
fn a_file_that_differs_when_read_back_is_copied_again() {
    let f = Fixture::new();
    let mut rng = Rng::new(7);
    let first = rng.bytes(1 << 20);
    let later = rng.bytes(1 << 20);
    f.write("src/a", &first);
    f.write("src/b", rng.bytes(3 << 20));
    let watcher = {
        let copied = f.path("dst/a");
        let source = f.src().join("a");
        let later = later.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !copied.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            fs::write(source, later).unwrap();
        })
    };
    let out = f
        .sy()
        .args(["--verify", "--json", "--bwlimit", "1M", "-j", "1"])
        .arg(f.src_slash())
        .arg(f.dst())
        .output()
        .unwrap();
    watcher.join().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("a differs from the source after the copy (--verify); copying it again"),
        "{err}"
    );
    assert!(fs::read(f.path("dst/a")).unwrap() == later);
    assert_eq!(summary(&out)["verified"], 2);
}
