//! The agent transport end to end in one process: an `Agent` client and `serve` over an
//! in-memory pipe, each side a `Local` tree; each side facing a hostile peer; and a hostile
//! client facing a restricted agent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;
mod liveness;
mod restricted;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sy_transport::{
    Agent, AgentOptions, Basis, Cancel, CompressionPolicy, Entry, FileDigest, FileWrite, Local,
    MetaOptions, NoProgress, ReadOptions, RelPath, ScanOptions, ServeOptions, Transport, TreeOp,
    WriteOptions, serve,
};
use tokio::task::JoinHandle;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `test` with a deadline, so a deadlock fails instead of hanging the suite.
pub fn run<F: Future<Output = ()>>(test: F) {
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), test)
            .await
            .expect("the test timed out");
    });
}

/// An agent serving `root`, and the client talking to it.
fn connect(
    root: &Path,
    compression: CompressionPolicy,
) -> (
    Agent,
    JoinHandle<sy_transport::Result<sy_protocol::TrafficStats>>,
) {
    let (client_end, agent_end) = tokio::io::duplex(256 << 10);
    let (agent_read, agent_write) = tokio::io::split(agent_end);
    let local = Arc::new(Local::open(root).unwrap());
    let server = tokio::spawn(serve(
        local,
        agent_read,
        agent_write,
        ServeOptions::default(),
    ));
    let (read, write) = tokio::io::split(client_end);
    let options = AgentOptions {
        location: "test:".to_owned(),
        compression,
        timeout: None,
        read_pacing: None,
    };
    (Agent::new(read, write, options), server)
}

fn write_options() -> WriteOptions {
    WriteOptions {
        meta: MetaOptions {
            times: true,
            owner: false,
        },
        sparse: false,
        cancel: Cancel::default(),
        progress: Arc::new(NoProgress),
    }
}

fn read_options() -> ReadOptions {
    ReadOptions {
        inline_limit: 128 << 10,
        follow_links: false,
        cancel: Cancel::default(),
    }
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn entry_of(scan: &sy_transport::Scan, path: &str) -> Entry {
    scan.entries
        .iter()
        .find(|e| e.path.to_string() == path)
        .unwrap_or_else(|| panic!("{path} not scanned"))
        .clone()
}

fn rel(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

#[test]
fn push_creates_files_of_every_size_with_their_times() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("d")).unwrap();
    std::fs::write(src.path().join("d/small.txt"), b"small file").unwrap();
    std::fs::write(src.path().join("empty"), b"").unwrap();
    let big = noise(3 << 20, 7);
    std::fs::write(src.path().join("big.bin"), &big).unwrap();
    run(async {
        let local = Local::open(src.path()).unwrap();
        let scan = local.scan(ScanOptions::default()).await.unwrap();
        let (agent, server) = connect(dst.path(), CompressionPolicy::Never);
        let results = agent
            .apply(
                vec![TreeOp::Mkdir { path: rel("d") }],
                MetaOptions::default(),
            )
            .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let files: Vec<Entry> = ["d/small.txt", "empty", "big.bin"]
            .iter()
            .map(|p| entry_of(&scan, p))
            .collect();
        let opened = local.read_files(files, read_options()).await;
        let writes = opened
            .into_iter()
            .map(|source| {
                let source = source.unwrap();
                FileWrite {
                    path: source.entry.path.clone(),
                    source,
                    clear_partial: false,
                }
            })
            .collect();
        let written = agent.write_files(writes, write_options()).await;
        let literal: u64 = written.iter().map(|w| w.as_ref().unwrap().literal).sum();
        assert_eq!(literal, 10 + (3 << 20));
        agent.close().await;
        server.await.unwrap().unwrap();
    });
    assert_eq!(
        std::fs::read(dst.path().join("d/small.txt")).unwrap(),
        b"small file"
    );
    assert_eq!(std::fs::read(dst.path().join("empty")).unwrap(), b"");
    assert_eq!(std::fs::read(dst.path().join("big.bin")).unwrap(), big);
    let (a, b) = (
        std::fs::metadata(src.path().join("big.bin")).unwrap(),
        std::fs::metadata(dst.path().join("big.bin")).unwrap(),
    );
    assert_eq!(a.modified().unwrap(), b.modified().unwrap());
}

#[test]
fn push_and_pull_update_a_big_file_by_delta() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let old = noise(4 << 20, 11);
    let mut new = old.clone();
    new[1 << 20..(1 << 20) + 1000].copy_from_slice(&noise(1000, 12));
    std::fs::write(src.path().join("f"), &new).unwrap();
    std::fs::write(dst.path().join("f"), &old).unwrap();
    // Push: the agent holds the old version.
    run(async {
        let local = Local::open(src.path()).unwrap();
        let scan = local.scan(ScanOptions::default()).await.unwrap();
        let (agent, server) = connect(dst.path(), CompressionPolicy::Never);
        agent.scan(ScanOptions::default()).await.unwrap();
        let signature = agent
            .signature(rel("f"), Basis::Existing)
            .await
            .unwrap()
            .expect("the old version is there");
        let delta = local
            .delta(entry_of(&scan, "f"), signature, read_options())
            .await
            .unwrap();
        let written = agent
            .apply_delta(rel("f"), Basis::Existing, delta, write_options())
            .await
            .unwrap();
        assert!(written.literal < 64 << 10, "{written:?}");
        assert!(written.matched > 3 << 20, "{written:?}");
        let missing = agent
            .signature(rel("nothing"), Basis::Existing)
            .await
            .unwrap();
        assert!(missing.is_none());
        let traffic = agent.traffic();
        assert!(traffic.sent.wire < 200 << 10, "{traffic:?}");
        agent.close().await;
        server.await.unwrap().unwrap();
    });
    assert_eq!(std::fs::read(dst.path().join("f")).unwrap(), new);

    // Pull: the agent holds the new version, the client the old one.
    std::fs::write(dst.path().join("f"), &old).unwrap();
    run(async {
        let local = Local::open(dst.path()).unwrap();
        let (agent, server) = connect(src.path(), CompressionPolicy::Never);
        let scan = agent.scan(ScanOptions::default()).await.unwrap();
        let signature = local
            .signature(rel("f"), Basis::Existing)
            .await
            .unwrap()
            .unwrap();
        let delta = agent
            .delta(entry_of(&scan, "f"), signature, read_options())
            .await
            .unwrap();
        let written = local
            .apply_delta(rel("f"), Basis::Existing, delta, write_options())
            .await
            .unwrap();
        assert!(written.literal < 64 << 10, "{written:?}");
        assert!(agent.traffic().received.wire < 200 << 10);
        agent.close().await;
        server.await.unwrap().unwrap();
    });
    assert_eq!(std::fs::read(dst.path().join("f")).unwrap(), new);
}

#[test]
fn pull_reads_small_files_in_one_batch_and_streams_big_ones() {
    pull_small_files_and_a_big_one(CompressionPolicy::Always { level: 3 });
}

#[test]
fn pull_with_adaptive_compression_arrives_byte_identical() {
    pull_small_files_and_a_big_one(CompressionPolicy::Auto);
}

/// Pulls 200 small text files and 2 MiB of noise with `compression`, checks every byte.
fn pull_small_files_and_a_big_one(compression: CompressionPolicy) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    for i in 0..200 {
        std::fs::write(
            src.path().join(format!("f{i:03}")),
            format!("file {i}\n").repeat(i),
        )
        .unwrap();
    }
    let big = noise(2 << 20, 3);
    std::fs::write(src.path().join("big"), &big).unwrap();
    run(async {
        let local = Local::open(dst.path()).unwrap();
        let (agent, server) = connect(src.path(), compression);
        let scan = agent.scan(ScanOptions::default()).await.unwrap();
        let files: Vec<Entry> = scan
            .entries
            .iter()
            .filter(|e| e.is_file())
            .cloned()
            .collect();
        assert_eq!(files.len(), 201);
        // Small files and the big one in separate calls, as the engine batches them.
        let (big_entry, small): (Vec<Entry>, Vec<Entry>) =
            files.into_iter().partition(|e| e.size > 128 << 10);
        for batch in [small, big_entry] {
            let opened = agent.read_files(batch, read_options()).await;
            let writes = opened
                .into_iter()
                .map(|s| {
                    let source = s.unwrap();
                    FileWrite {
                        path: source.entry.path.clone(),
                        source,
                        clear_partial: false,
                    }
                })
                .collect();
            for result in local.write_files(writes, write_options()).await {
                result.unwrap();
            }
        }
        assert!(agent.compressed());
        assert_eq!(agent.compression(), Some(compression));
        // Counted once the link has ended: until then the last bytes read may not be decoded
        // yet, so the wire count can run ahead of the logical one.
        agent.close().await;
        server.await.unwrap().unwrap();
        let traffic = agent.traffic();
        if compression != CompressionPolicy::Auto {
            assert!(
                traffic.received.wire < traffic.received.logical,
                "text compresses: {traffic:?}"
            );
        }
    });
    for i in 0..200 {
        let name = format!("f{i:03}");
        assert_eq!(
            std::fs::read(dst.path().join(&name)).unwrap(),
            std::fs::read(src.path().join(&name)).unwrap()
        );
    }
    assert_eq!(std::fs::read(dst.path().join("big")).unwrap(), big);
}

#[test]
fn checksums_and_tree_ops_report_per_item() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a"), b"abc").unwrap();
    run(async {
        let (agent, server) = connect(root.path(), CompressionPolicy::Never);
        agent.scan(ScanOptions::default()).await.unwrap();
        let digests = agent.checksums(vec![rel("a"), rel("missing")], false).await;
        assert_eq!(digests[0].as_ref().unwrap(), &FileDigest::of_bytes(b"abc"));
        assert!(digests[1].is_err());
        let results = agent
            .apply(
                vec![
                    TreeOp::Mkdir { path: rel("x") },
                    TreeOp::Remove {
                        path: rel("nope/deeper"),
                    },
                    TreeOp::Symlink {
                        path: rel("x/l"),
                        target: b"../a".to_vec(),
                        meta: Default::default(),
                    },
                ],
                MetaOptions::default(),
            )
            .await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("sy-remote at test:"), "{error}");
        agent.close().await;
        server.await.unwrap().unwrap();
    });
    assert_eq!(
        std::fs::read_link(root.path().join("x/l")).unwrap(),
        Path::new("../a")
    );
}

#[test]
fn batches_longer_than_a_frame_may_carry_are_split_and_answered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let n = sy_protocol::MAX_LIST_ITEMS + 10;
    run(async {
        let (agent, server) = connect(root.path(), CompressionPolicy::Never);
        agent.scan(ScanOptions::default()).await.unwrap();
        let mut ops: Vec<TreeOp> = (0..n)
            .map(|i| TreeOp::Mkdir {
                path: rel(&format!("d{i}")),
            })
            .collect();
        // The last op fails: its result must land last, not in the first request's answers.
        ops.push(TreeOp::Remove {
            path: rel("nope/deeper"),
        });
        let results = agent.apply(ops, MetaOptions::default()).await;
        assert_eq!(results.len(), n + 1);
        assert!(results[..n].iter().all(Result::is_ok));
        assert!(results[n].is_err());
        let digests = agent
            .checksums((0..n).map(|i| rel(&format!("d{i}/none"))).collect(), false)
            .await;
        assert_eq!(digests.len(), n);
        assert!(digests.iter().all(Result::is_err));
        agent.close().await;
        server.await.unwrap().unwrap();
    });
    assert!(root.path().join(format!("d{}", n - 1)).is_dir());
}
