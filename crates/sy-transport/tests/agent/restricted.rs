//! A hostile client facing a restricted agent: links planted to lead out of the served root,
//! roots named to escape the directory an agent is restricted to (`sy-remote --restrict`), links
//! created to point out of it, and requests a read-only or write-only agent must refuse. Each
//! test names the refusal it is about and checks that nothing happened outside.

use std::os::unix::fs::symlink;
use std::path::Path;

use sy_protocol::{
    Basis, ErrorKind, ErrorScope, FileDigest, FilterRules, Hello, Message, RequestId, TreeOp,
};
use sy_transport::{Access, Error, Local, ServeOptions};

use super::hostile::{RawClient, p, tree, whole_file};
use super::run;

/// What a scan answered: the paths listed and the problems reported.
async fn scan(client: &mut RawClient, id: u64, follow_links: bool) -> (Vec<String>, Vec<String>) {
    client
        .send(vec![Message::ScanRequest {
            id: RequestId(id),
            base: p(""),
            filter: FilterRules::default(),
            follow_links,
        }])
        .await;
    let (mut entries, mut problems) = (Vec::new(), Vec::new());
    loop {
        match client.recv().await {
            Message::ScanEntries { entries: batch, .. } => {
                entries.extend(batch.into_iter().map(|e| e.path.to_string()));
            }
            Message::Error(reply) if reply.scope == ErrorScope::Problem => {
                problems.push(reply.message);
            }
            Message::Error(reply) => panic!("the scan failed: {reply:?}"),
            Message::ScanDone { .. } => return (entries, problems),
            _ => {}
        }
    }
}

fn read(id: u64, path: &str) -> Message {
    Message::ReadRequest {
        id: RequestId(id),
        path: p(path),
        follow_links: true,
        delta: false,
    }
}

/// The data of the file read by request `id`, or the error that ended it.
async fn read_result(client: &mut RawClient, id: u64) -> Result<Vec<u8>, (ErrorKind, String)> {
    let mut data = Vec::new();
    loop {
        match client.recv().await {
            Message::FileChunk {
                id: got, data: d, ..
            } if got == RequestId(id) => {
                data.extend_from_slice(&d);
            }
            Message::FileEnd { id: got, .. } if got == RequestId(id) => return Ok(data),
            Message::Error(reply) if reply.id == RequestId(id) => {
                return Err((reply.kind, reply.message));
            }
            _ => {}
        }
    }
}

/// `top/root` served, with a secret file in `top/outside` and links to it planted in the root.
fn planted(top: &Path) -> std::path::PathBuf {
    let root = top.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir(top.join("outside")).unwrap();
    std::fs::write(top.join("outside/secret"), b"not for the client").unwrap();
    std::fs::write(root.join("sub/shared"), b"fine").unwrap();
    symlink(top.join("outside/secret"), root.join("absolute")).unwrap();
    symlink("../outside/secret", root.join("climbing")).unwrap();
    symlink("sub/shared", root.join("inside")).unwrap();
    root
}

#[test]
fn a_link_leading_out_of_the_served_root_is_not_followed_for_a_read() {
    let top = tempfile::tempdir().unwrap();
    let root = planted(top.path());
    run(async {
        let local = Local::open_confined(&root).unwrap();
        let mut client = RawClient::serving(local, ServeOptions::default(), Hello::new(1));
        let (entries, problems) = scan(&mut client, 1, true).await;
        assert!(entries.contains(&"inside".to_owned()), "{entries:?}");
        assert!(!entries.contains(&"absolute".to_owned()), "{entries:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
        for problem in &problems {
            assert!(
                problem.contains("leads outside the served directory"),
                "{problem}"
            );
        }
        for (id, link) in [(2, "absolute"), (3, "climbing")] {
            client.send(vec![read(id, link)]).await;
            let (kind, message) = read_result(&mut client, id).await.unwrap_err();
            assert_eq!(kind, ErrorKind::InvalidPath, "{message}");
            assert!(message.contains(link), "{message}");
            assert!(
                message.contains("leads outside the served directory"),
                "{message}"
            );
        }
        client
            .send(vec![Message::ChecksumRequest {
                id: RequestId(4),
                paths: vec![p("absolute")],
                follow_links: true,
            }])
            .await;
        let (kind, message) = client.error_for(4).await;
        assert_eq!(kind, ErrorKind::InvalidPath, "{message}");
        client.send(vec![read(5, "inside")]).await;
        assert_eq!(read_result(&mut client, 5).await.unwrap(), b"fine");
    });
}

#[test]
fn a_root_named_with_dot_dot_or_outside_the_restriction_is_refused() {
    let top = tempfile::tempdir().unwrap();
    let restricted = top.path().join("restricted");
    std::fs::create_dir_all(restricted.join("inside")).unwrap();
    let elsewhere = top.path().join("elsewhere");
    for (requested, reason) in [
        (Path::new("../elsewhere"), "`..`"),
        (Path::new("inside/../../elsewhere"), "`..`"),
        (elsewhere.as_path(), "outside the directory"),
        (Path::new("/"), "outside the directory"),
    ] {
        for create in [false, true] {
            let error = Local::open_within(&restricted, requested, create).unwrap_err();
            assert!(matches!(error, Error::InvalidPath { .. }), "{error:?}");
            assert!(error.to_string().contains(reason), "{requested:?}: {error}");
        }
    }
    assert!(!elsewhere.exists());
    let inside = Local::open_within(&restricted, &restricted.join("inside"), false).unwrap();
    assert_eq!(inside.root_path(), restricted.join("inside"));
    let relative = Local::open_within(&restricted, Path::new("./inside/"), false).unwrap();
    assert_eq!(relative.root_path(), restricted.join("inside"));
}

#[test]
fn a_root_reached_through_a_link_out_of_the_restriction_is_refused_and_nothing_is_made_there() {
    let top = tempfile::tempdir().unwrap();
    let restricted = top.path().join("restricted");
    let outside = top.path().join("outside");
    std::fs::create_dir_all(restricted.join("real")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, restricted.join("absolute")).unwrap();
    symlink("../outside", restricted.join("climbing")).unwrap();
    symlink("real", restricted.join("alias")).unwrap();
    for requested in [
        "absolute",
        "climbing",
        "absolute/new",
        "climbing/new/deeper",
    ] {
        for create in [false, true] {
            let error = Local::open_within(&restricted, Path::new(requested), create).unwrap_err();
            assert!(
                matches!(error, Error::LinkLeavesRoot { .. }),
                "{requested}: {error:?}"
            );
            assert!(error.to_string().contains("leads outside"), "{error}");
        }
    }
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
    // A link that stays beneath the restriction is followed, and --mkdir creates beneath it.
    let made = Local::open_within(&restricted, Path::new("alias/new/dir"), true).unwrap();
    assert_eq!(made.root_path(), restricted.join("alias/new/dir"));
    assert!(restricted.join("real/new/dir").is_dir());
}

#[test]
fn a_restricted_agent_creates_no_link_pointing_out_of_its_root() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let options = ServeOptions {
        confine_new_links: true,
        ..ServeOptions::default()
    };
    let link = |path: &str, target: &[u8]| TreeOp::Symlink {
        path: p(path),
        target: target.to_vec(),
        meta: Default::default(),
    };
    run(async {
        let local = Local::open_within(top.path(), Path::new("root"), false).unwrap();
        let mut client = RawClient::serving(local, options, Hello::new(1));
        client
            .send(vec![Message::TreeOps {
                id: RequestId(1),
                meta: Default::default(),
                ops: vec![
                    TreeOp::Mkdir { path: p("d") },
                    link("absolute", b"/etc/passwd"),
                    link("d/climbing", b"../../outside"),
                    link("d/sibling", b"../kept"),
                    link("here", b"d/sibling"),
                ],
            }])
            .await;
        let mut refused = Vec::new();
        loop {
            match client.recv().await {
                Message::Error(reply) => {
                    assert_eq!(reply.kind, ErrorKind::PermissionDenied, "{reply:?}");
                    assert!(reply.message.contains("--restrict"), "{}", reply.message);
                    refused.push((reply.scope, reply.message));
                }
                Message::Ok { .. } => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].0, ErrorScope::Item(1));
        assert!(refused[0].1.contains("absolute"), "{}", refused[0].1);
        assert_eq!(refused[1].0, ErrorScope::Item(2));
        assert!(refused[1].1.contains("d/climbing"), "{}", refused[1].1);
    });
    assert_eq!(tree(&root), ["d", "d/sibling", "here"]);
}

#[test]
fn a_read_only_agent_refuses_every_write_and_still_serves_reads() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("kept"), b"original").unwrap();
    let options = ServeOptions {
        access: Access::ReadOnly,
        ..ServeOptions::default()
    };
    run(async {
        let local = Local::open_confined(root.path()).unwrap();
        let mut client = RawClient::serving(local, options, Hello::new(1));
        client.send(whole_file(1, "new", b"data")).await;
        let (kind, message) = client.error_for(1).await;
        assert_eq!(kind, ErrorKind::PermissionDenied, "{message}");
        assert!(message.contains("writing new refused"), "{message}");
        assert!(message.contains("--read-only"), "{message}");
        client
            .send(vec![
                Message::DeltaBegin {
                    header: sy_protocol::FileHeader {
                        id: RequestId(2),
                        path: p("kept"),
                        size: 4,
                        meta: Default::default(),
                        options: Default::default(),
                    },
                    basis: Basis::Existing,
                },
                Message::DeltaEnd {
                    id: RequestId(2),
                    digest: FileDigest::of_bytes(b"evil"),
                },
            ])
            .await;
        let (kind, message) = client.error_for(2).await;
        assert_eq!(kind, ErrorKind::PermissionDenied, "{message}");
        client
            .send(vec![Message::TreeOps {
                id: RequestId(3),
                meta: Default::default(),
                ops: vec![
                    TreeOp::Mkdir { path: p("dir") },
                    TreeOp::Remove { path: p("kept") },
                ],
            }])
            .await;
        let mut refusals = 0;
        loop {
            match client.recv().await {
                Message::Error(reply) if reply.id == RequestId(3) => {
                    assert!(reply.message.contains("--read-only"), "{}", reply.message);
                    refusals += 1;
                }
                Message::Ok { id: RequestId(3) } => break,
                _ => {}
            }
        }
        assert_eq!(refusals, 2);
        let (entries, _) = scan(&mut client, 4, false).await;
        assert_eq!(entries, [".", "kept"]);
        client.send(vec![read(5, "kept")]).await;
        assert_eq!(read_result(&mut client, 5).await.unwrap(), b"original");
    });
    assert_eq!(tree(root.path()), ["kept"]);
    assert_eq!(
        std::fs::read(root.path().join("kept")).unwrap(),
        b"original"
    );
}

#[test]
fn a_write_only_agent_refuses_reads_of_contents_and_still_takes_a_push() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("private"), b"stays here").unwrap();
    let options = ServeOptions {
        access: Access::WriteOnly,
        ..ServeOptions::default()
    };
    run(async {
        let local = Local::open_confined(root.path()).unwrap();
        let mut client = RawClient::serving(local, options, Hello::new(1));
        let (entries, _) = scan(&mut client, 1, false).await;
        assert_eq!(entries, [".", "private"]);
        for (id, delta) in [(2, false), (3, true)] {
            client
                .send(vec![Message::ReadRequest {
                    id: RequestId(id),
                    path: p("private"),
                    follow_links: false,
                    delta,
                }])
                .await;
            let (kind, message) = client.error_for(id).await;
            assert_eq!(kind, ErrorKind::PermissionDenied, "{message}");
            assert!(message.contains("reading private refused"), "{message}");
            assert!(message.contains("--write-only"), "{message}");
        }
        client.send(whole_file(4, "pushed", b"new data")).await;
        loop {
            match client.recv().await {
                Message::Written {
                    id: RequestId(4), ..
                } => break,
                Message::Error(reply) if reply.id == RequestId(4) => panic!("{reply:?}"),
                _ => {}
            }
        }
    });
    assert_eq!(
        std::fs::read(root.path().join("pushed")).unwrap(),
        b"new data"
    );
}
