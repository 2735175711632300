//! `s3://bucket/prefix/` endpoints: the real `sy` against a real S3 server (moto's), over
//! plain HTTP with `AWS_ENDPOINT_URL`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use crate::s3_server::S3Server;
use crate::util::{Fixture, Node, leftovers, partial_of, snapshot, stderr, summary};

/// More than the size from which uploads go in parts (8 MiB).
const LARGE: usize = 12 << 20;

/// Runs `sy ARGS SRC DST` against `server`.
fn sy(f: &Fixture, server: &S3Server, args: &[&str], src: &str, dst: &str) -> Output {
    let mut cmd = f.sy();
    server.env(&mut cmd);
    // sy must not be put off by a CA bundle meant for HTTPS (this environment may set one).
    cmd.env("AWS_CA_BUNDLE", "/nonexistent/ca-bundle.pem");
    cmd.args(args).arg(src).arg(dst).output().unwrap()
}

/// Like [`sy`], expecting success.
fn sy_ok(f: &Fixture, server: &S3Server, args: &[&str], src: &str, dst: &str) -> Output {
    let out = sy(f, server, args, src, dst);
    assert_eq!(out.status.code(), Some(0), "sy failed: {}", stderr(&out));
    out
}

/// Writes a file with mode 0644 (what a copy from a bucket gets) and the given time.
fn file(f: &Fixture, rel: &str, content: &[u8], secs: u64) {
    let path = f.write(rel, content);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let time = SystemTime::UNIX_EPOCH + Duration::new(secs, 123_456_789);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// The edge-case tree: spaces, unicode, an empty file, a deep path, a multipart-sized file.
fn edge_tree(f: &Fixture) -> usize {
    file(f, "src/with space/a b.txt", b"spaces", 1_600_000_000);
    file(
        f,
        "src/unicode/été ✓ 日本.txt",
        "unicode ✓".as_bytes(),
        1_600_000_001,
    );
    file(f, "src/empty", b"", 1_600_000_002);
    file(f, "src/deep/1/2/3/4/5/6/leaf.txt", b"deep", 1_600_000_003);
    let large: Vec<u8> = (0..LARGE).map(|i| (i * 7 + i / 4099) as u8).collect();
    file(f, "src/large.bin", &large, 1_600_000_004);
    // Not kept (a bucket's directories are implied by keys), and not "created" on every run.
    f.mkdir("src/empty dir");
    5
}

/// The regular files beneath `root`, by path.
fn files(root: &Path) -> Vec<(String, Node)> {
    snapshot(root)
        .into_iter()
        .filter(|(_, node)| matches!(node, Node::File { .. }))
        .map(|(path, node)| (String::from_utf8(path).unwrap(), node))
        .collect()
}

#[test]
fn a_tree_pushed_and_pulled_back_keeps_contents_and_times() {
    let Some(server) = S3Server::start("round-trip") else {
        return;
    };
    let f = Fixture::new();
    let count = edge_tree(&f);
    let url = server.url("deep/prefix/");
    let pushed = sy_ok(&f, &server, &["--json"], &f.src_slash(), &url);
    assert_eq!(summary(&pushed)["created"], count);
    let back = f.path("back");
    sy_ok(&f, &server, &[], &url, &format!("{}/", back.display()));
    let (sent, got) = (files(&f.src()), files(&back));
    assert_eq!(sent.len(), count);
    assert_eq!(
        sent, got,
        "contents, modes and times must come back as they were"
    );
}

#[test]
fn nothing_changed_costs_one_listing_and_one_change_one_put() {
    let Some(mut server) = S3Server::start("rerun") else {
        return;
    };
    let f = Fixture::new();
    let count = edge_tree(&f);
    let url = server.url("p/");
    sy_ok(&f, &server, &[], &f.src_slash(), &url);
    server.requests();

    let again = sy_ok(&f, &server, &["--json", "--stats"], &f.src_slash(), &url);
    let totals = summary(&again);
    assert_eq!(
        (
            &totals["created"],
            &totals["updated"],
            &totals["bytes_written"]
        ),
        (&0.into(), &0.into(), &0.into())
    );
    assert_eq!(totals["unchanged"], count);
    assert_eq!(totals["dirs"], 0);
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET /rerun?list-type=2")),
        "a run with nothing to do only lists: {requests:#?}"
    );

    file(
        &f,
        "src/with space/a b.txt",
        b"spaces, changed",
        1_600_000_100,
    );
    let changed = sy_ok(&f, &server, &["--json"], &f.src_slash(), &url);
    assert_eq!(summary(&changed)["updated"], 1);
    assert_eq!(summary(&changed)["created"], 0);
    let puts: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET /rerun?list-type=2"))
        .collect();
    assert_eq!(puts, ["PUT /rerun/p/with%20space/a%20b.txt"]);

    // Pulled into a copy, a rerun leaves everything alone too.
    let back = format!("{}/", f.path("back").display());
    sy_ok(&f, &server, &[], &url, &back);
    let pulled_again = sy_ok(&f, &server, &["--json"], &url, &back);
    assert_eq!(summary(&pulled_again)["bytes_written"], 0);
    assert_eq!(summary(&pulled_again)["unchanged"], count);
}

#[test]
fn delete_removes_extra_objects_and_a_dry_run_changes_nothing() {
    let Some(mut server) = S3Server::start("deletions") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/keep.txt", b"keep", 1_600_000_000);
    file(&f, "src/dir/gone.txt", b"gone", 1_600_000_000);
    let url = server.url("");
    sy_ok(&f, &server, &[], &f.src_slash(), &url);
    fs::remove_dir_all(f.path("src/dir")).unwrap();
    file(&f, "src/new.txt", b"new", 1_600_000_000);
    server.requests();

    let planned = sy_ok(
        &f,
        &server,
        &["-n", "--delete", "--json"],
        &f.src_slash(),
        &url,
    );
    assert_eq!(summary(&planned)["dry_run"], true);
    let requests = server.requests();
    assert!(
        requests.iter().all(|r| r.starts_with("GET ")),
        "-n changes nothing: {requests:#?}"
    );

    let deleted = sy_ok(&f, &server, &["--delete", "--json"], &f.src_slash(), &url);
    // dir/ and dir/gone.txt: each entry of a removed subtree counts, as rsync lists them.
    assert_eq!(summary(&deleted)["deleted"], 2);
    assert_eq!(summary(&deleted)["created"], 1);
    let back = f.path("back");
    sy_ok(&f, &server, &[], &url, &format!("{}/", back.display()));
    let names: Vec<String> = files(&back).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["keep.txt", "new.txt"]);
}

#[test]
fn symbolic_links_are_skipped_with_one_warning() {
    let Some(server) = S3Server::start("links") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/a.txt", b"a", 1_600_000_000);
    f.symlink("a.txt", "src/l1");
    f.symlink("missing", "src/l2");
    let out = sy_ok(&f, &server, &[], &f.src_slash(), &server.url(""));
    let text = stderr(&out);
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("symbolic links"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&out));
    assert!(warnings[0].contains("skipping 2 "), "{}", warnings[0]);
}

#[test]
fn a_missing_bucket_or_missing_credentials_are_named() {
    let Some(server) = S3Server::start("creds") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/a.txt", b"a", 1_600_000_000);

    let missing = sy(&f, &server, &[], &f.src_slash(), "s3://no-such-bucket/x/");
    assert_ne!(missing.status.code(), Some(0));
    let message = stderr(&missing);
    assert!(message.contains("s3://no-such-bucket/x"), "{message}");
    assert!(message.contains("NoSuchBucket"), "{message}");

    let mut cmd = f.sy();
    server.env(&mut cmd);
    let out = cmd
        .env_remove("AWS_ACCESS_KEY_ID")
        .arg(f.src_slash())
        .arg(server.url(""))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let message = stderr(&out);
    assert!(message.contains("s3://creds"), "{message}");
    assert!(message.contains("AWS_ACCESS_KEY_ID"), "{message}");
}

#[test]
fn wrong_credentials_fail_naming_the_bucket_and_the_servers_code() {
    let Some(server) = S3Server::start_checking_credentials("guarded") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/a.txt", b"a", 1_600_000_000);
    for (src, dst) in [
        (f.src_slash(), server.url("in/")),
        (server.url("in/"), f.dst().display().to_string()),
    ] {
        let out = sy(&f, &server, &[], &src, &dst);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(message.contains("s3://guarded/in"), "{message}");
        assert!(
            message.contains("403 Forbidden: InvalidAccessKeyId"),
            "{message}"
        );
        assert!(!message.contains("sy-test-secret"), "{message}");
    }
}

#[test]
fn odd_names_round_trip_and_a_name_no_key_can_hold_is_one_clear_error() {
    let Some(server) = S3Server::start("names") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/a #%?&+=.txt", b"1", 1_600_000_000);
    file(&f, "src/b[1]{x}~^|`.txt", b"2", 1_600_000_000);
    file(&f, "src/c\nnewline.txt", b"3", 1_600_000_000);
    let url = server.url("odd/");
    let out = sy(&f, &server, &[], &f.src_slash(), &url);
    assert_eq!(out.status.code(), Some(23), "{}", stderr(&out));
    let message = stderr(&out);
    assert_eq!(
        message.lines().count(),
        1,
        "one line, the newline escaped: {message}"
    );
    assert!(
        message.contains("s3://names/odd/c\\nnewline.txt: an object key cannot hold control"),
        "{message}"
    );
    let back = f.path("back");
    sy_ok(&f, &server, &[], &url, &format!("{}/", back.display()));
    let names: Vec<String> = files(&back).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["a #%?&+=.txt", "b[1]{x}~^|`.txt"]);
}

#[test]
fn filters_decide_what_is_sent_fetched_and_deleted() {
    let Some(mut server) = S3Server::start("filters") else {
        return;
    };
    let f = Fixture::new();
    file(&f, "src/keep.txt", b"keep", 1_600_000_000);
    file(&f, "src/noise.log", b"log", 1_600_000_000);
    file(&f, "src/cache/blob", b"blob", 1_600_000_000);
    let url = server.url("f/");
    sy_ok(&f, &server, &[], &f.src_slash(), &url);
    server.requests();

    fs::remove_file(f.path("src/noise.log")).unwrap();
    fs::remove_dir_all(f.path("src/cache")).unwrap();
    let args = ["--delete", "--exclude", "*.log", "--json"];
    let out = sy_ok(&f, &server, &args, &f.src_slash(), &url);
    assert_eq!(
        summary(&out)["deleted"],
        2,
        "cache/ and cache/blob go, the excluded log stays"
    );
    let changes: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET /filters?list-type=2"))
        .collect();
    // One bulk delete (DeleteObjects) for the directory's keys; nothing for the log.
    assert_eq!(changes, ["POST /filters?delete"]);

    let back = f.path("back");
    let args = ["--exclude", "*.txt"];
    sy_ok(&f, &server, &args, &url, &format!("{}/", back.display()));
    let names: Vec<String> = files(&back).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["noise.log"]);
}

#[test]
fn a_pull_interrupted_earlier_resumes_from_its_partial() {
    let Some(server) = S3Server::start("resume") else {
        return;
    };
    let f = Fixture::new();
    let large: Vec<u8> = (0..LARGE).map(|i| (i * 13 + i / 65_537) as u8).collect();
    file(&f, "src/large.bin", &large, 1_600_000_000);
    let url = server.url("r/");
    sy_ok(&f, &server, &[], &f.src_slash(), &url);
    // What an interrupted pull keeps: the start of the file, as its partial.
    f.write(
        format!("dst/{}", partial_of("large.bin")),
        &large[..3 << 20],
    );

    let dst = format!("{}/", f.dst().display());
    let out = sy_ok(&f, &server, &["--json"], &url, &dst);
    assert_eq!(summary(&out)["created"], 1);
    assert!(fs::read(f.path("dst/large.bin")).unwrap() == large);
    assert_eq!(leftovers(&f.dst()), Vec::<std::path::PathBuf>::new());
}

/// An object deleted between the listing and its download is rsync's vanished file: a warning
/// naming it, the rest copied, exit 24 — not a failure (23).
#[test]
fn an_object_deleted_during_a_pull_is_vanished_exit_24() {
    let Some(server) = S3Server::start("vanish") else {
        return;
    };
    let f = Fixture::new();
    let big: Vec<u8> = (0..(3 << 20))
        .map(|i: usize| (i * 31 + i / 977) as u8)
        .collect();
    file(&f, "src/a.bin", &big, 1_600_000_000);
    file(&f, "src/b.bin", &big, 1_600_000_000);
    let url = server.url("v/");
    sy_ok(&f, &server, &[], &f.src_slash(), &url);
    // One file at a time, slowly: b.bin is fetched only after a.bin.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sy"));
    cmd.env("XDG_CONFIG_HOME", f.path(".config"))
        .env("AWS_CA_BUNDLE", "/nonexistent/ca-bundle.pem");
    let mut child = server
        .env_std(&mut cmd)
        .args(["-j", "1", "--bwlimit", "1M", &url])
        .arg(f.dst())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while crate::util::bytes_in_temporaries(&f.dst()) == 0
        && std::time::Instant::now() < deadline
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Another sy deletes b.bin behind the first one's back.
    f.mkdir("empty");
    let empty = format!("{}/", f.path("empty").display());
    sy_ok(
        &f,
        &server,
        &["--delete", "--exclude", "a.bin"],
        &empty,
        &url,
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(24), "{err}");
    assert!(err.contains("b.bin"), "{err}");
    assert_eq!(fs::read(f.path("dst/a.bin")).unwrap(), big);
    assert!(!f.path("dst/b.bin").exists());
}
