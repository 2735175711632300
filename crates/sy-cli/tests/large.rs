//! Files of 4 GiB and more (sparse, so the test is cheap), and hole handling.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};

use crate::util::{Fixture, allocated, assert_same_tree};

const GIB: u64 = 1 << 30;

/// A sparse file of `len` bytes with a little data at a few places.
fn sparse_file(path: &std::path::Path, len: u64) {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .unwrap();
    for at in [0, GIB, 4 * GIB - 3, len - 5] {
        file.seek(SeekFrom::Start(at)).unwrap();
        file.write_all(b"DATA!").unwrap();
    }
    file.set_len(len).unwrap();
}

#[test]
fn files_over_4_gib_are_copied_exactly_and_stay_sparse() {
    let f = Fixture::new();
    let len = 4 * GIB + 12_345;
    sparse_file(&f.path("src/huge.img"), len);
    f.sync(&[]);
    let copy = f.path("dst/huge.img");
    assert_eq!(fs::metadata(&copy).unwrap().len(), len);
    assert!(
        allocated(&copy) < 64 << 20,
        "holes were filled: {} bytes",
        allocated(&copy)
    );
    // Compares the content by streaming (Content::Large), plus mode and times.
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn sparse_flag_turns_zero_runs_into_holes() {
    let f = Fixture::new();
    // Written zeros (not holes) in the source.
    let mut data = vec![0u8; 8 << 20];
    data[0] = 1;
    data[(6 << 20) + 7] = 2;
    f.write("src/zeros", &data);
    assert!(allocated(&f.path("src/zeros")) >= 8 << 20);
    f.sync(&["--sparse"]);
    let copy = f.path("dst/zeros");
    assert_eq!(fs::read(&copy).unwrap(), data);
    assert!(
        allocated(&copy) < 1 << 20,
        "not sparse: {} bytes",
        allocated(&copy)
    );
    // Without --sparse the zeros are written out (but the content is the same either way).
    f.sy().args([&f.src_slash(), "plain"]).assert().success();
    assert_eq!(fs::read(f.path("plain/zeros")).unwrap(), data);
}
