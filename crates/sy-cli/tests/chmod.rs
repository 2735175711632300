//! `--chmod`: the permissions the copies get, in rsync's syntax, locally and through the agent.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::remote::{fake_rsh, remote_sy};
use crate::util::{Fixture, stderr, stdout};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn chmod_through_the_agent_sets_new_and_updated_entries() {
    let f = Fixture::new();
    f.write("src/run.sh", "#!/bin/sh\n");
    f.write("src/doc/a.txt", "alpha");
    fs::set_permissions(f.path("src/run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(f.path("src/doc/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let rsh = fake_rsh(&f);
    let dst = format!("fakehost:{}/", f.dst().display());
    let out = remote_sy(
        &f,
        &rsh,
        &["--chmod=D755,F644", "--chmod=a+X"],
        &f.src_slash(),
        &dst,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&f.path("dst/run.sh")), 0o755);
    assert_eq!(mode(&f.path("dst/doc/a.txt")), 0o644);
    assert_eq!(mode(&f.path("dst/doc")), 0o755);
    // Only the permissions differ now: the files are not sent again, their modes change.
    let out = remote_sy(&f, &rsh, &["-i", "--chmod=Fgo-r"], &f.src_slash(), &dst);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&f.path("dst/doc/a.txt")), 0o600);
    assert_eq!(mode(&f.path("dst/run.sh")), 0o700);
    assert!(
        stdout(&out).contains(".f...p..... doc/a.txt"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_malformed_chmod_is_a_usage_error_naming_it() {
    let f = Fixture::new();
    f.write("src/a.txt", "alpha");
    let out = f
        .sy()
        .args(["--chmod=D755,Fu+q", &f.src_slash(), "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--chmod=D755,Fu+q"),
        "{}",
        stderr(&out)
    );
    assert!(!f.dst().exists());
}
