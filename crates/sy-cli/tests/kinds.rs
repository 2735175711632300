//! Every kind of entry: empty ones, links of all sorts, kind changes, special files, modes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;

use crate::util::{Fixture, assert_same_tree, require_root, stderr};

#[test]
fn empty_files_and_directories() {
    let f = Fixture::new();
    f.write("src/empty", "");
    f.mkdir("src/empty-dir");
    f.mkdir("src/nested/empty/dirs");
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    assert_eq!(fs::metadata(f.path("dst/empty")).unwrap().len(), 0);
}

#[test]
fn symlinks_are_copied_as_links_never_followed() {
    let f = Fixture::new();
    f.write("outside/secret", "not to be copied");
    f.write("src/file", "data");
    f.symlink("file", "src/relative");
    f.symlink("/etc/passwd", "src/absolute");
    f.symlink("does/not/exist", "src/dangling");
    f.symlink("../outside/secret", "src/out-of-tree");
    f.symlink("../../outside", "src/dir/out-dir");
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    for link in [
        "relative",
        "absolute",
        "dangling",
        "out-of-tree",
        "dir/out-dir",
    ] {
        assert!(
            fs::symlink_metadata(f.dst().join(link))
                .unwrap()
                .is_symlink()
        );
    }
    // A changed target is replaced; an unchanged one left alone.
    fs::remove_file(f.path("src/relative")).unwrap();
    f.symlink("elsewhere", "src/relative");
    f.sync(&[]);
    assert_eq!(
        fs::read_link(f.path("dst/relative")).unwrap().to_str(),
        Some("elsewhere")
    );
}

#[test]
fn copy_links_follows_them() {
    let f = Fixture::new();
    f.write("outside/secret", "followed");
    f.write("src/file", "data");
    f.symlink("file", "src/relative");
    f.symlink("../outside", "src/dir-link");
    f.symlink("nowhere", "src/dangling");
    f.sy()
        .args(["-L", &f.src_slash(), "dst"])
        .assert()
        .success();
    let meta = fs::symlink_metadata(f.path("dst/relative")).unwrap();
    assert!(meta.is_file());
    assert_eq!(fs::read(f.path("dst/relative")).unwrap(), b"data");
    assert_eq!(
        fs::read(f.path("dst/dir-link/secret")).unwrap(),
        b"followed"
    );
    assert!(
        fs::symlink_metadata(f.path("dst/dangling"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn file_replaced_by_directory_and_back() {
    let f = Fixture::new();
    f.write("src/thing", "a file");
    f.mkdir("src/other/sub");
    f.write("src/other/sub/x", "x");
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());

    fs::remove_file(f.path("src/thing")).unwrap();
    f.write("src/thing/inside", "now a dir");
    fs::remove_dir_all(f.path("src/other")).unwrap();
    f.write("src/other", "now a file");
    // A non-empty directory is only replaced with --delete (rsync's rule), else reported.
    let out = f.sy().arg(f.src_slash()).arg(f.dst()).output().unwrap();
    assert_eq!(out.status.code(), Some(23));
    assert!(
        stderr(&out).contains("not replacing non-empty directory other"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(f.path("dst/other/sub/x")).unwrap(), b"x");
    assert_eq!(fs::read(f.path("dst/thing/inside")).unwrap(), b"now a dir");
    f.sync(&["--delete"]);
    assert_same_tree(&f.src(), &f.dst());

    // A symlink where a directory was, too.
    fs::remove_dir_all(f.path("src/thing")).unwrap();
    f.symlink("other", "src/thing");
    f.sync(&["--delete"]);
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn fifos_and_sockets_are_skipped_with_a_warning() {
    let f = Fixture::new();
    f.write("src/regular", "r");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        f.path("src/pipe"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let _listener = UnixListener::bind(f.path("src/sock")).unwrap();
    let out = f.sync(&[]);
    let err = stderr(&out);
    assert!(err.contains("skipping FIFO pipe"), "{err}");
    assert!(err.contains("skipping socket sock"), "{err}");
    assert!(!f.path("dst/pipe").exists());
    assert!(!f.path("dst/sock").exists());
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn read_only_source_files_and_directories() {
    let f = Fixture::new();
    f.write("src/ro-dir/file", "inside a read-only dir");
    f.write("src/ro-file", "read only");
    fs::set_permissions(f.path("src/ro-file"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(f.path("src/ro-dir"), fs::Permissions::from_mode(0o555)).unwrap();
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    // Updating inside the read-only directory works too, and it ends read-only again.
    fs::set_permissions(f.path("src/ro-dir"), fs::Permissions::from_mode(0o755)).unwrap();
    f.write("src/ro-dir/file", "changed");
    f.write("src/ro-dir/new", "new");
    fs::set_permissions(f.path("src/ro-dir"), fs::Permissions::from_mode(0o555)).unwrap();
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    fs::set_permissions(f.path("src/ro-dir"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(f.path("dst/ro-dir"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn modes_and_times_are_kept_and_fixed_without_recopying() {
    let f = Fixture::new();
    f.write("src/script", "#!/bin/sh\n");
    fs::set_permissions(f.path("src/script"), fs::Permissions::from_mode(0o750)).unwrap();
    f.write("src/setgid-dir/x", "x");
    fs::set_permissions(f.path("src/setgid-dir"), fs::Permissions::from_mode(0o2775)).unwrap();
    f.sync(&[]);
    assert_same_tree(&f.src(), &f.dst());
    fs::set_permissions(f.path("src/script"), fs::Permissions::from_mode(0o700)).unwrap();
    let out = f.sync(&["--json"]);
    let s = crate::util::summary(&out);
    assert_eq!(s["meta"], 1);
    assert_eq!(s["bytes_literal"], 0);
    assert_same_tree(&f.src(), &f.dst());
}

#[test]
fn hard_links_are_kept_with_h() {
    let f = Fixture::new();
    f.write("src/a", "shared");
    f.mkdir("src/sub");
    fs::hard_link(f.path("src/a"), f.path("src/sub/b")).unwrap();
    f.write("src/single", "s");
    f.sync(&["-H"]);
    assert_same_tree(&f.src(), &f.dst());
    let a = fs::metadata(f.path("dst/a")).unwrap();
    let b = fs::metadata(f.path("dst/sub/b")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    // A second run leaves them linked and does nothing.
    let out = f.sync(&["-H", "--json"]);
    assert_eq!(crate::util::summary(&out)["links"], 0);
    // New content (written in place, so still one inode): both names show it, still linked.
    fs::write(f.path("src/a"), "shared, changed").unwrap();
    f.sync(&["-H"]);
    assert_same_tree(&f.src(), &f.dst());
    assert_eq!(fs::read(f.path("dst/sub/b")).unwrap(), b"shared, changed");
    assert_eq!(
        fs::metadata(f.path("dst/a")).unwrap().ino(),
        fs::metadata(f.path("dst/sub/b")).unwrap().ino()
    );
    // Without -H they are separate files.
    f.sy().args([&f.src_slash(), "plain"]).assert().success();
    assert_ne!(
        fs::metadata(f.path("plain/a")).unwrap().ino(),
        fs::metadata(f.path("plain/sub/b")).unwrap().ino()
    );
}

#[test]
fn archive_keeps_owner_and_group_when_root() {
    if !require_root("give files away") {
        return;
    }
    let f = Fixture::new();
    f.write("src/owned", "x");
    f.symlink("owned", "src/link");
    chown(&f.path("src/owned"), 1234, 4321);
    chown(&f.path("src/link"), 1235, 4322);
    f.sync(&["-a"]);
    let m = fs::metadata(f.path("dst/owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 4321));
    let l = fs::symlink_metadata(f.path("dst/link")).unwrap();
    assert_eq!((l.uid(), l.gid()), (1235, 4322));
    // Without -a, ownership is the runner's.
    f.sy().args([&f.src_slash(), "plain"]).assert().success();
    assert_eq!(fs::metadata(f.path("plain/owned")).unwrap().uid(), 0);
}

/// cp's and rsync's rule: a copy whose owner is not kept loses set-user-id and set-group-id,
/// so as root a user's set-id program never becomes root's.
#[test]
fn set_id_bits_are_kept_only_with_the_owner() {
    if !require_root("give files away") {
        return;
    }
    let f = Fixture::new();
    f.write("src/prog", "#!/bin/sh\n");
    chown(&f.path("src/prog"), 1000, 1000);
    // After the chown, which clears set-id bits.
    fs::set_permissions(f.path("src/prog"), fs::Permissions::from_mode(0o6755)).unwrap();
    f.sync(&[]);
    let m = fs::metadata(f.path("dst/prog")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o755));
    // Nothing left to fix on a second run: the stripped bits are what the copy should have.
    let out = f.sync(&["--json"]);
    assert_eq!(crate::util::summary(&out)["meta"], 0);
    assert_eq!(
        fs::metadata(f.path("dst/prog")).unwrap().mode() & 0o7777,
        0o755
    );

    f.sy()
        .args(["-a", &f.src_slash(), "kept"])
        .assert()
        .success();
    let m = fs::metadata(f.path("kept/prog")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (1000, 0o6755));
}

/// rsync's --no-perms: new files get the source's access bits masked by the umask (no set-id
/// bits), existing files keep their own.
#[test]
fn no_perms_masks_new_files_by_the_umask_and_leaves_existing_ones() {
    let f = Fixture::new();
    f.write("src/new", "new");
    fs::set_permissions(f.path("src/new"), fs::Permissions::from_mode(0o6777)).unwrap();
    f.write("src/old", "changed");
    fs::set_permissions(f.path("src/old"), fs::Permissions::from_mode(0o755)).unwrap();
    f.write("dst/old", "old");
    fs::set_permissions(f.path("dst/old"), fs::Permissions::from_mode(0o600)).unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 027 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_sy"))
        .args(["--no-perms", &f.src_slash()])
        .arg(f.dst())
        .current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |p: &str| fs::metadata(f.path(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("dst/new"), 0o750);
    assert_eq!(mode("dst/old"), 0o600);
    assert_eq!(fs::read(f.path("dst/old")).unwrap(), b"changed");
}

fn chown(path: &std::path::Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

#[test]
fn a_symlink_planted_in_dst_never_redirects_writes() {
    let f = Fixture::new();
    f.write("src/sub/f", "data");
    f.write("src/sub/deeper/g", "more");
    f.mkdir("outside");
    f.symlink("../outside", "dst/sub");
    f.sync(&[]);
    assert!(fs::read_dir(f.path("outside")).unwrap().next().is_none());
    assert!(fs::symlink_metadata(f.path("dst/sub")).unwrap().is_dir());
    assert_same_tree(&f.src(), &f.dst());
}
