//! --exclude / --include / --exclude-from / --gitignore.

use std::fs;

use crate::util::{Fixture, snapshot};

fn names(f: &Fixture, dir: &str) -> Vec<String> {
    snapshot(&f.path(dir))
        .into_keys()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

fn tree(f: &Fixture) {
    for p in [
        "src/keep.txt",
        "src/drop.o",
        "src/sub/keep.c",
        "src/sub/drop.o",
        "src/build/out",
        "src/sub/build/out",
        "src/logs/a.log",
        "src/logs/important.log",
    ] {
        f.write(p, p);
    }
}

#[test]
fn exclude_patterns_rsync_style() {
    let f = Fixture::new();
    tree(&f);
    f.sync(&[
        "--exclude",
        "*.o",
        "--exclude",
        "/build/",
        "--exclude",
        "logs/*.log",
    ]);
    assert_eq!(
        names(&f, "dst"),
        [
            "keep.txt",
            "logs",
            "sub",
            "sub/build",
            "sub/build/out",
            "sub/keep.c"
        ]
    );
}

#[test]
fn include_before_exclude_wins() {
    let f = Fixture::new();
    tree(&f);
    f.sync(&[
        "--include",
        "important.log",
        "--exclude",
        "*.log",
        "--exclude",
        "build",
    ]);
    assert_eq!(
        names(&f, "dst"),
        [
            "drop.o",
            "keep.txt",
            "logs",
            "logs/important.log",
            "sub",
            "sub/drop.o",
            "sub/keep.c"
        ]
    );
}

#[test]
fn exclude_from_file() {
    let f = Fixture::new();
    tree(&f);
    f.write(
        "rules",
        "# comment\n+ important.log\n- *.log\n*.o\nbuild/\n",
    );
    f.sync(&["--exclude-from", "rules"]);
    assert_eq!(
        names(&f, "dst"),
        [
            "keep.txt",
            "logs",
            "logs/important.log",
            "sub",
            "sub/keep.c"
        ]
    );
}

#[test]
fn gitignore_files_are_honoured() {
    let f = Fixture::new();
    tree(&f);
    f.write("src/.gitignore", "*.o\nbuild/\n");
    f.write("src/logs/.gitignore", "*.log\n!important.log\n");
    f.sync(&["--gitignore"]);
    assert_eq!(
        names(&f, "dst"),
        [
            ".gitignore",
            "keep.txt",
            "logs",
            "logs/.gitignore",
            "logs/important.log",
            "sub",
            "sub/keep.c"
        ]
    );
}

#[test]
fn excluded_destination_files_survive_delete() {
    let f = Fixture::new();
    tree(&f);
    f.write("dst/local.o", "kept: excluded");
    f.write("dst/stale.txt", "removed");
    f.sync(&["--delete", "--exclude", "*.o"]);
    assert!(f.path("dst/local.o").exists());
    assert!(!f.path("dst/stale.txt").exists());
    assert_eq!(fs::read(f.path("dst/keep.txt")).unwrap(), b"src/keep.txt");
}

#[test]
fn an_excluded_source_copies_nothing_and_says_so() {
    let f = Fixture::new();
    tree(&f);
    let out = f
        .sy()
        .args(["--exclude", "src", "src", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(crate::util::stderr(&out).contains("excluded"));
    assert!(!f.path("dst/src").exists());
}

#[test]
fn gitignored_destination_files_survive_delete() {
    let f = Fixture::new();
    f.write("src/.gitignore", "*.log\n");
    f.write("src/kept.txt", "k");
    f.sync(&["--gitignore"]);
    f.write("dst/local.log", "ignored, so never deleted");
    f.write("dst/stale.txt", "removed");
    f.sync(&["--gitignore", "--delete"]);
    assert!(f.path("dst/local.log").exists());
    assert!(!f.path("dst/stale.txt").exists());
}

#[test]
fn a_gitignore_that_is_a_symlink_out_of_the_tree_is_not_read() {
    let f = Fixture::new();
    let rules = f.write("outside/rules", "secret.txt\nlocal.log\n");
    f.write(
        "src/secret.txt",
        "copied: no rule inside the tree excludes it",
    );
    f.symlink(&rules, "src/.gitignore");
    f.symlink(&rules, "dst/.gitignore");
    f.write(
        "dst/local.log",
        "extraneous: no rule inside the tree protects it",
    );
    f.sync(&["--gitignore", "--delete"]);
    assert_eq!(
        fs::read(f.path("dst/secret.txt")).unwrap(),
        b"copied: no rule inside the tree excludes it"
    );
    assert!(!f.path("dst/local.log").exists());
    assert_eq!(fs::read_link(f.path("dst/.gitignore")).unwrap(), rules);
}

/// `src/.rsync-filter` drops `*.o` everywhere; `src/sub/.rsync-filter` lets `sub/drop.o`
/// through and drops `keep.c` beneath `sub`.
fn rsync_filter_files(f: &Fixture) {
    tree(f);
    f.write("src/.rsync-filter", "- *.o\n");
    f.write("src/sub/.rsync-filter", "+ drop.o\n- keep.c\n");
}

const PER_DIRECTORY_RESULT: &[&str] = &[
    "build",
    "build/out",
    "keep.txt",
    "logs",
    "logs/a.log",
    "logs/important.log",
    "sub",
    "sub/build",
    "sub/build/out",
    "sub/drop.o",
];

#[test]
fn per_directory_merge_files_are_read_by_the_agent_of_a_remote_source() {
    let f = Fixture::new();
    rsync_filter_files(&f);
    let rsh = crate::remote::fake_rsh(&f);
    let src = format!("fakehost:{}/", f.src().display());
    let out = crate::remote::remote_sy(&f, &rsh, &["-FF"], &src, &f.dst().display().to_string());
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    assert_eq!(names(&f, "dst"), PER_DIRECTORY_RESULT);
}

#[test]
fn a_bad_line_in_a_per_directory_file_is_a_warning_naming_file_and_line() {
    let f = Fixture::new();
    rsync_filter_files(&f);
    f.write("src/sub/.rsync-filter", "+ drop.o\nbogus rule\n- keep.c\n");
    let out = f.sync(&["-FF"]);
    let err = crate::util::stderr(&out);
    assert!(
        err.contains("sub/.rsync-filter:2: bad filter rule `bogus rule`"),
        "{err}"
    );
    assert_eq!(names(&f, "dst"), PER_DIRECTORY_RESULT);
}

#[test]
fn a_malformed_filter_rule_is_a_usage_error_naming_it() {
    let f = Fixture::new();
    tree(&f);
    for rule in ["x y", "-z *.o", ": a/b", ". missing-rules"] {
        let out = f
            .sy()
            .args(["-f", rule, &f.src_slash(), "dst"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{rule}");
        let err = crate::util::stderr(&out);
        let named = if rule.starts_with('.') {
            "missing-rules"
        } else {
            rule
        };
        assert!(err.contains(named), "{rule}: {err}");
        assert!(!f.path("dst").exists(), "{rule}");
    }
}

#[test]
fn delete_excluded_deletes_what_the_rules_exclude_except_the_protected() {
    let f = Fixture::new();
    tree(&f);
    f.write("dst/stale.o", "excluded, so deleted");
    f.write("dst/old/kept.o", "protected");
    f.write("dst/old/gone.txt", "extraneous");
    f.sync(&["--delete-excluded", "--exclude", "*.o", "-f", "P kept.o"]);
    assert!(!f.path("dst/stale.o").exists());
    assert!(!f.path("dst/old/gone.txt").exists());
    assert_eq!(fs::read(f.path("dst/old/kept.o")).unwrap(), b"protected");
    assert!(!f.path("dst/drop.o").exists());
}

#[test]
fn files_from_stdin_for_a_remote_source_keeps_the_listed_paths() {
    let f = Fixture::new();
    tree(&f);
    let rsh = crate::remote::fake_rsh(&f);
    let out = f
        .sy()
        .args(["-e", &rsh, "--remote-path"])
        .arg(crate::remote::sy_remote())
        .args(["--files-from", "-", "-0"])
        .arg(format!("fakehost:{}", f.src().display()))
        .arg(f.dst())
        .write_stdin("sub/keep.c\0logs\0")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    assert_eq!(names(&f, "dst"), ["logs", "sub", "sub/keep.c"]);
}

#[test]
fn a_missing_files_from_list_is_a_usage_error_naming_it() {
    let f = Fixture::new();
    tree(&f);
    let out = f
        .sy()
        .args(["--files-from", "no-such-list", &f.src_slash(), "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = crate::util::stderr(&out);
    assert!(err.contains("no-such-list"), "{err}");
    assert!(!f.path("dst").exists());
}

/// `--files-from` is rules that exclude what is not listed: with `--delete-excluded` that would
/// delete everything else in DST (rsync deletes only inside listed directories), so it is
/// refused before anything is touched.
#[test]
fn files_from_with_delete_excluded_is_refused_and_nothing_is_deleted() {
    let f = Fixture::new();
    tree(&f);
    f.write("dst/unlisted", "keep me");
    f.write("list", "keep.txt\n");
    let out = f
        .sy()
        .args([
            "--files-from",
            "list",
            "--delete-excluded",
            &f.src_slash(),
            "dst",
        ])
        .output()
        .unwrap();
    let err = crate::util::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--delete-excluded with --files-from"), "{err}");
    assert_eq!(fs::read(f.path("dst/unlisted")).unwrap(), b"keep me");
}
