//! `SyncJob` end to end: what lands at the destination, what the totals say, what an observer
//! hears — the same whether the destination is local or behind the agent.

use std::sync::Arc;

use sy_engine::{Endpoint, RuleKind, SyncError, SyncJob, SyncOptions};

use crate::util::{Recorder, Via, read_tree, write_tree};

const TREE: &[(&str, &str)] = &[
    ("a.txt", "alpha"),
    ("sub/b.txt", "bravo bravo"),
    ("sub/deeper/c.txt", "charlie"),
];

fn source() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), TREE);
    src
}

fn contents_of(dir: &std::path::Path) -> Endpoint {
    Endpoint::parse(format!("{}/", dir.display())).unwrap()
}

#[test]
fn a_sync_copies_the_tree_and_counts_it() {
    for via in Via::ALL {
        let src = source();
        let dst = tempfile::tempdir().unwrap();
        let (to, opts) = via.destination(dst.path());
        let totals = SyncJob::new(vec![contents_of(src.path())], to, opts)
            .run()
            .unwrap();
        assert_eq!(read_tree(dst.path()), read_tree(src.path()), "{via:?}");
        assert_eq!(totals.files_written, 3, "{via:?}");
        assert_eq!(totals.files_created, 3, "{via:?}");
        assert_eq!(totals.bytes_literal, 5 + 11 + 7, "{via:?}");
        assert!(totals.is_complete(), "{via:?}");
    }
}

#[test]
fn delete_removes_what_the_source_does_not_have() {
    for via in Via::ALL {
        let src = source();
        let dst = tempfile::tempdir().unwrap();
        write_tree(dst.path(), &[("stale.txt", "old"), ("gone/x", "old")]);
        let (to, mut opts) = via.destination(dst.path());
        opts.delete = true;
        let totals = SyncJob::new(vec![contents_of(src.path())], to, opts)
            .run()
            .unwrap();
        assert_eq!(read_tree(dst.path()), read_tree(src.path()), "{via:?}");
        // Each entry of an extraneous subtree counts, as in rsync: gone/x, gone, stale.txt.
        assert_eq!(totals.deleted, 3, "{via:?}");
    }
}

#[test]
fn without_delete_extra_files_stay() {
    let src = source();
    let dst = tempfile::tempdir().unwrap();
    write_tree(dst.path(), &[("mine.txt", "keep")]);
    SyncJob::new(
        vec![contents_of(src.path())],
        Endpoint::parse(dst.path()).unwrap(),
        SyncOptions::default(),
    )
    .run()
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.path().join("mine.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn a_dry_run_reports_everything_and_writes_nothing() {
    for via in Via::ALL {
        let src = source();
        let dst = tempfile::tempdir().unwrap();
        write_tree(
            dst.path(),
            &[("stale.txt", "old"), ("a.txt", "an older alpha")],
        );
        let before = read_tree(dst.path());
        let (to, mut opts) = via.destination(dst.path());
        opts.dry_run = true;
        opts.delete = true;
        let recorder = Arc::new(Recorder::default());
        let totals = SyncJob::new(vec![contents_of(src.path())], to, opts)
            .observer(Arc::clone(&recorder))
            .run()
            .unwrap();
        assert_eq!(
            read_tree(dst.path()),
            before,
            "{via:?}: a dry run changed the tree"
        );
        assert_eq!(
            (totals.files_written, totals.files_created, totals.deleted),
            (3, 2, 1),
            "{via:?}"
        );
        let events = recorder.events();
        for expected in [
            "update a.txt literal 0",
            "create sub/b.txt literal 0",
            "delete stale.txt literal 0",
        ] {
            assert!(
                events.iter().any(|e| e == expected),
                "{via:?}: no {expected:?} in {events:#?}"
            );
        }
    }
}

#[test]
fn an_observer_hears_every_step_in_order() {
    for via in Via::ALL {
        let src = source();
        let dst = tempfile::tempdir().unwrap();
        write_tree(dst.path(), &[("a.txt", "alpha")]);
        let a = dst.path().join("a.txt");
        let mtime = std::fs::metadata(src.path().join("a.txt"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (to, opts) = via.destination(dst.path());
        let recorder = Arc::new(Recorder::default());
        SyncJob::new(vec![contents_of(src.path())], to, opts)
            .observer(Arc::clone(&recorder))
            .run()
            .unwrap();
        let events = recorder.events();
        let position = |wanted: &str| {
            events
                .iter()
                .position(|e| e == wanted)
                .unwrap_or_else(|| panic!("{via:?}: no {wanted:?} in {events:#?}"))
        };
        let scanning = position("phase scanning");
        let comparing = position("phase comparing");
        let skipped = position("skip a.txt unchanged");
        let planned = position("planned 2 files 18 bytes");
        let mkdir = position("mkdir sub literal 0");
        let created = position("create sub/deeper/c.txt literal 7");
        assert!(
            scanning < comparing && comparing < planned && planned < skipped,
            "{via:?}: {events:#?}"
        );
        assert!(planned < mkdir && mkdir < created, "{via:?}: {events:#?}");
        assert!(
            !events.iter().any(|e| e.starts_with("failed")),
            "{via:?}: {events:#?}"
        );
    }
}

#[test]
fn a_missing_source_is_an_error_that_names_it_and_changes_nothing() {
    let dst = tempfile::tempdir().unwrap();
    let missing = dst.path().join("no-such-dir");
    let err = SyncJob::new(
        vec![Endpoint::parse(&missing).unwrap()],
        Endpoint::parse(dst.path().join("out")).unwrap(),
        SyncOptions::default(),
    )
    .run()
    .unwrap_err();
    assert!(matches!(err, SyncError::Source { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(!dst.path().join("out").exists());
}

#[test]
fn a_missing_source_on_either_side_is_an_error_never_an_empty_success() {
    for via in Via::ALL {
        let dir = tempfile::tempdir().unwrap();
        let missing = format!("{}/no-such-file", dir.path().display());
        let (from, opts) = via.endpoint(&missing);
        let err = SyncJob::new(
            vec![from],
            Endpoint::parse(dir.path().join("out")).unwrap(),
            opts,
        )
        .run()
        .unwrap_err();
        assert!(matches!(err, SyncError::Source { .. }), "{via:?}: {err:?}");
        assert!(err.to_string().contains("no-such-file"), "{via:?}: {err}");
    }
}

#[test]
fn a_source_the_rules_exclude_is_a_warning_not_an_error() {
    let src = source();
    let dst = tempfile::tempdir().unwrap();
    let (from, mut opts) = Via::Agent.endpoint(&format!("{}/sub", src.path().display()));
    opts.filter
        .rules
        .push((RuleKind::Exclude, "sub".to_owned()));
    let recorder = Arc::new(Recorder::default());
    let totals = SyncJob::new(vec![from], Endpoint::parse(dst.path()).unwrap(), opts)
        .observer(Arc::clone(&recorder))
        .run()
        .unwrap();
    assert_eq!(totals.files_written, 0);
    assert!(
        recorder
            .events()
            .iter()
            .any(|e| e.contains("excluded by the filter rules")),
        "{:?}",
        recorder.events()
    );
}

#[test]
fn a_destination_inside_its_source_is_refused() {
    let src = source();
    let err = SyncJob::new(
        vec![contents_of(src.path())],
        Endpoint::parse(src.path().join("sub/copy")).unwrap(),
        SyncOptions::default(),
    )
    .run()
    .unwrap_err();
    assert!(err.is_invalid(), "{err:?}");
    assert!(err.to_string().contains("inside source"), "{err}");
    assert!(!src.path().join("sub/copy").exists());
}

#[test]
fn endpoints_follow_the_command_lines_rules() {
    let remote = Endpoint::parse("backup@nas:/srv/photos/").unwrap();
    let spec = remote.remote().unwrap();
    assert_eq!(
        (spec.user.as_deref(), spec.host.as_str(), spec.path.as_str()),
        (Some("backup"), "nas", "/srv/photos/")
    );
    assert!(remote.names_contents());
    assert!(Endpoint::parse("./host:path").unwrap().remote().is_none());
    assert!(!Endpoint::parse("photos").unwrap().names_contents());
    assert!(Endpoint::parse("photos/").unwrap().names_contents());
    assert!(Endpoint::parse("-oProxyCommand=x:y").is_err());
}
