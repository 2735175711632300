//! A key restricted in `authorized_keys` with `command="sy-remote --restrict ROOT"` (as rsync's
//! rrsync is used), against a real sshd: sy pushes and pulls beneath ROOT as usual, and a
//! destination outside ROOT or a link planted to lead out of it gets a clear refusal. Skipped
//! (loudly) where there is no sshd; `SY_REQUIRE_SSHD=1` makes that a failure.

use std::fs;
use std::os::unix::fs::symlink;

use crate::remote::sy_remote;
use crate::ssh_builtin::{Setup, ok};
use crate::util::{assert_same_tree, stderr};

#[test]
fn a_restricted_key_syncs_beneath_its_root_and_nowhere_else() {
    let Some(s) = Setup::new(true) else {
        return;
    };
    let top = s.f.mkdir("restricted");
    let outside = s.f.mkdir("outside");
    fs::write(outside.join("secret"), "not for this key").unwrap();
    let public = fs::read_to_string(s.user_key.with_extension("pub")).unwrap();
    fs::write(
        s.f.path("keys/authorized_keys"),
        format!(
            "command=\"{} --restrict {}\",restrict {public}",
            sy_remote().display(),
            top.display()
        ),
    )
    .unwrap();
    s.f.write("src/a", "pushed");
    s.f.write("src/d/b", "deeper");
    s.f.symlink("d/b", "src/inside");

    ok(s.sy()
        .arg(s.f.src_slash())
        .arg("sshtest:backup/")
        .output()
        .unwrap());
    assert_same_tree(&s.f.src(), &top.join("backup"));
    let pulled = s.f.path("pulled");
    ok(s.sy()
        .arg("sshtest:backup/")
        .arg(format!("{}/", pulled.display()))
        .output()
        .unwrap());
    assert_same_tree(&s.f.src(), &pulled);

    for (dst, says) in [
        ("sshtest:../outside/".to_owned(), "`..` is not allowed"),
        (
            format!("sshtest:{}/", outside.display()),
            "outside the directory this agent is restricted to",
        ),
    ] {
        let out = s.sy().arg(s.f.src_slash()).arg(&dst).output().unwrap();
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{dst}: {err}");
        assert!(err.contains(says), "{dst}: {err}");
    }

    symlink(outside.join("secret"), top.join("backup/planted")).unwrap();
    let followed = s.f.path("followed");
    let out = s
        .sy()
        .arg("-L")
        .arg("sshtest:backup/")
        .arg(format!("{}/", followed.display()))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(
        err.contains("planted: a symbolic link on the way leads outside"),
        "{err}"
    );
    assert!(!followed.join("planted").exists());
    assert_eq!(fs::read_to_string(followed.join("a")).unwrap(), "pushed");
    let names: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"]);
}
