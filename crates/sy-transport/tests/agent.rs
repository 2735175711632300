//! The agent transport end to end in one process: a client `Agent` and `serve` over an in-memory
//! pipe, each side a `Local` tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use sy_transport::{Agent, AgentOptions, Local, ScanOptions, ServeOptions, Transport, serve};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn scan_over_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            let (client_end, agent_end) = tokio::io::duplex(64 << 10);
            let (agent_read, agent_write) = tokio::io::split(agent_end);
            let root = Arc::new(Local::open(dir.path()).unwrap());
            let server = tokio::spawn(serve(
                root,
                agent_read,
                agent_write,
                ServeOptions::default(),
            ));
            let (read, write) = tokio::io::split(client_end);
            let agent = Agent::new(read, write, AgentOptions::default());
            eprintln!("scanning");
            let scan = agent.scan(ScanOptions::default()).await.unwrap();
            eprintln!("scanned {}", scan.entries.len());
            assert_eq!(scan.entries.len(), 2);
            agent.close().await;
            eprintln!("closed");
            server.await.unwrap().unwrap();
        })
        .await
        .unwrap();
    });
}
