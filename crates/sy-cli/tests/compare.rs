//! How unchanged files are recognised: size+mtime, -c, --size-only, -u, --ignore-existing.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::util::{Fixture, assert_same_tree, summary};

fn set_mtime(path: &std::path::Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Source and destination with the same size and time but different content.
fn same_size_same_time(f: &Fixture) {
    f.write("src/f", "new content");
    f.write("dst/f", "old content");
    set_mtime(&f.path("src/f"), fixed_time());
    set_mtime(&f.path("dst/f"), fixed_time());
}

#[test]
fn size_and_time_equal_is_trusted_by_default() {
    let f = Fixture::new();
    same_size_same_time(&f);
    f.sync(&[]);
    assert_eq!(fs::read(f.path("dst/f")).unwrap(), b"old content");
}

#[test]
fn checksum_compares_contents() {
    let f = Fixture::new();
    same_size_same_time(&f);
    f.write("src/same", "identical");
    f.write("dst/same", "identical");
    set_mtime(&f.path("src/same"), fixed_time());
    set_mtime(&f.path("dst/same"), fixed_time() + Duration::from_secs(5));
    // The two top directories' times are those of their last file, equal only when both were
    // written within one tick of the kernel's clock: on a loaded machine the destination's
    // then got an attribute fix too (meta 2), so give them the same time.
    for dir in [f.src(), f.dst()] {
        fs::File::open(dir)
            .unwrap()
            .set_modified(fixed_time())
            .unwrap();
    }
    let out = f.sync(&["-c", "--json"]);
    assert_eq!(fs::read(f.path("dst/f")).unwrap(), b"new content");
    // Same content, different time: only the time is fixed.
    let s = summary(&out);
    assert_eq!(s["updated"], 1);
    assert_eq!(s["meta"], 1);
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn size_only_ignores_times() {
    let f = Fixture::new();
    f.write("src/f", "aaaa");
    f.write("dst/f", "bbbb");
    f.write("src/g", "longer");
    f.write("dst/g", "short");
    f.sync(&["--size-only"]);
    assert_eq!(fs::read(f.path("dst/f")).unwrap(), b"bbbb");
    assert_eq!(fs::read(f.path("dst/g")).unwrap(), b"longer");
}

#[test]
fn update_skips_newer_destination_files() {
    let f = Fixture::new();
    f.write("src/older", "from src");
    f.write("dst/older", "newer in dst");
    f.write("src/newer", "newer in src");
    f.write("dst/newer", "old");
    set_mtime(&f.path("src/older"), fixed_time());
    set_mtime(&f.path("dst/older"), fixed_time() + Duration::from_secs(60));
    set_mtime(&f.path("dst/newer"), fixed_time());
    f.sync(&["-u"]);
    assert_eq!(fs::read(f.path("dst/older")).unwrap(), b"newer in dst");
    assert_eq!(fs::read(f.path("dst/newer")).unwrap(), b"newer in src");
}

#[test]
fn ignore_existing_only_creates() {
    let f = Fixture::new();
    f.write("src/exists", "new");
    f.write("dst/exists", "old!");
    f.write("src/fresh", "fresh");
    f.sync(&["--ignore-existing"]);
    assert_eq!(fs::read(f.path("dst/exists")).unwrap(), b"old!");
    assert_eq!(fs::read(f.path("dst/fresh")).unwrap(), b"fresh");
}
