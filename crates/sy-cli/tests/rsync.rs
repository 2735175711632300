//! The same tree through `rsync -a` and `sy -a` gives the same result.

use std::process::Command;

use crate::util::{Fixture, assert_same_tree, require_tool};

#[test]
fn same_result_as_rsync_archive() {
    if !require_tool("rsync", "rsync") {
        return;
    }
    let f = Fixture::new();
    f.write("src/a.txt", "alpha");
    f.write("src/empty", "");
    f.mkdir("src/empty-dir");
    f.write("src/deep/er/file", vec![3u8; 200_000]);
    f.write("src/with space", "s");
    f.symlink("a.txt", "src/link");
    f.symlink("/nowhere", "src/dangling");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.path("src/empty"), std::fs::Permissions::from_mode(0o600)).unwrap();

    // rsync does not set a directory's time when it is already within the same second as the
    // source's (it ignores nanoseconds there), nor the time of a destination it had to create:
    // so give the source directories older times and both sides an existing destination.
    f.mkdir("by-rsync");
    f.mkdir("by-sy");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for dir in ["src/deep/er", "src/deep", "src/empty-dir", "src"] {
        std::fs::File::open(f.path(dir))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let status = Command::new("rsync")
        .arg("-a")
        .arg(f.src_slash())
        .arg(f.path("by-rsync"))
        .status()
        .unwrap();
    assert!(status.success());
    f.sy()
        .args(["-a", &f.src_slash(), "by-sy"])
        .assert()
        .success();
    // (Hard links are left out: `rsync -aH` forgets to restore directory times after linking.)
    assert_same_tree(&f.path("by-rsync"), &f.path("by-sy"));
}
