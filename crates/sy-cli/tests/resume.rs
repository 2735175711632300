//! Interrupted runs: leftovers are recognised, reused and tidied.

use std::fs;

use crate::util::{Fixture, assert_same_tree, leftovers};

#[test]
fn a_stray_temp_from_a_killed_run_is_tidied_and_never_taken_for_the_file() {
    let f = Fixture::new();
    f.write("src/file", vec![5u8; 100_000]);
    f.write("src/other", "other");
    // What `kill -9` in the middle of writing `file` leaves behind.
    f.write("dst/.file.sy-tmp.0123456789abcdef", vec![5u8; 40_000]);
    // …and a temp whose file is no longer in the source.
    f.write("dst/.gone.sy-tmp.fedcba9876543210", "x");
    f.sync(&["--delete"]);
    assert_same_tree(&f.src(), &f.dst());
    assert!(leftovers(&f.dst()).is_empty(), "{:?}", leftovers(&f.dst()));
}

#[test]
fn a_stale_partial_is_removed() {
    let f = Fixture::new();
    f.write("src/file", "complete");
    f.sync(&[]);
    f.write("dst/.file.sy-partial", "stale");
    f.sync(&[]);
    assert!(leftovers(&f.dst()).is_empty());
    assert_eq!(fs::read(f.path("dst/file")).unwrap(), b"complete");
}
