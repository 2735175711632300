//! File names that trip up tools: spaces, newlines, leading dashes, non-UTF-8 bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::util::{Fixture, assert_same_tree, json_events};

#[test]
fn awkward_names_are_copied_exactly() {
    let f = Fixture::new();
    f.write("src/with space.txt", "1");
    f.write("src/new\nline", "2");
    f.write("src/-leading-dash", "3");
    f.write("src/--delete", "4");
    f.write(OsStr::from_bytes(b"src/latin1-\xe9t\xe9"), "5");
    f.write(OsStr::from_bytes(b"src/dir \xff/inner\tname"), "6");
    f.write("src/ünïcødé ✓", "7");
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn a_destination_starting_with_a_dash_works_after_double_dash() {
    let f = Fixture::new();
    f.write("src/a", "a");
    f.sy().args(["--", "src/", "-dst"]).assert().success();
    assert_same_tree(&f.src(), &f.path("-dst"));
}

#[test]
fn json_reports_non_utf8_names_exactly_in_hex() {
    let f = Fixture::new();
    f.write(OsStr::from_bytes(b"src/\xff"), "x");
    let out = f.sync(&["--json"]);
    let event = json_events(&out)
        .into_iter()
        .find(|e| e["event"] == "file")
        .unwrap();
    assert_eq!(event["path_hex"], "ff");
    assert_eq!(event["path"], "\u{fffd}");
}
