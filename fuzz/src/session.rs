//! One session: the fuzz input is everything a client sends to `serve`, which runs on a
//! current-thread runtime over an in-memory pipe with a `Local` transport rooted in a fresh
//! temporary directory. A panic anywhere is a finding, and so is a session that does not end
//! within [`SESSION_LIMIT`] or an entry created beside the root.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sy_protocol::Hello;
use sy_protocol::bytes::BytesMut;
use sy_transport::{Local, ServeOptions, serve};
use tokio::io::AsyncWriteExt;

/// How long one session may take. The inputs are small and the tree is tiny, so a session
/// still running after this is a hang, not slowness.
const SESSION_LIMIT: Duration = Duration::from_secs(10);

/// The bytes a client opens with (magic and Hello, no compression), from sy-protocol's encoder.
pub fn client_hello() -> Vec<u8> {
    let mut out = BytesMut::new();
    Hello::new(1).encode(&mut out);
    out.to_vec()
}

/// Serves `input` (the client's whole side of the conversation) on a fresh copy of the fixture
/// tree, discarding what the agent answers. Panics on a hang or on anything created outside
/// the root.
pub fn run_session(input: &[u8]) {
    let scratch = scratch_dir();
    let before = entries(scratch);
    let root = tempfile::Builder::new()
        .prefix("root")
        .tempdir_in(scratch)
        .unwrap_or_else(|e| panic!("creating a root in {}: {e}", scratch.display()));
    crate::plant(root.path())
        .unwrap_or_else(|e| panic!("planting the tree in {}: {e}", root.path().display()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("starting a runtime: {e}"));
    let finished = runtime
        .block_on(async { tokio::time::timeout(SESSION_LIMIT, session(root.path(), input)).await });
    if finished.is_err() {
        panic!(
            "the agent did not finish a session of {} client bytes within {SESSION_LIMIT:?}",
            input.len()
        );
    }
    drop(runtime);
    let mut after = entries(scratch);
    if let Some(name) = root.path().file_name() {
        after.remove(name);
    }
    assert_eq!(
        after,
        before,
        "the session created entries beside its root {}",
        root.path().display()
    );
    let shown = root.path().display().to_string();
    root.close()
        .unwrap_or_else(|e| panic!("removing {shown}: {e}"));
}

/// The client: sends `input`, closes its side, and drains the agent's answers until it closes
/// too. Whether serve ends in an error does not matter; a panic in it does.
async fn session(root: &Path, input: &[u8]) {
    let (client, agent) = tokio::io::duplex(64 << 10);
    let (agent_read, agent_write) = tokio::io::split(agent);
    let transport = Local::open(root).unwrap_or_else(|e| panic!("opening {}: {e}", root.display()));
    let server = tokio::spawn(serve(
        Arc::new(transport),
        agent_read,
        agent_write,
        ServeOptions { concurrency: 2 },
    ));
    let (mut from_agent, mut to_agent) = tokio::io::split(client);
    let drain = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_agent, &mut tokio::io::sink()).await;
    });
    // The agent may hang up first (on a protocol error): a refused write is expected.
    let _ = to_agent.write_all(input).await;
    let _ = to_agent.shutdown().await;
    if let Err(e) = server.await {
        std::panic::resume_unwind(e.into_panic());
    }
    if let Err(e) = drain.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A directory of this process's own that holds only the current session's root.
fn scratch_dir() -> &'static Path {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sy-fuzz-agent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        dir
    })
}

fn entries(dir: &Path) -> BTreeSet<OsString> {
    std::fs::read_dir(dir)
        .and_then(|list| list.map(|e| e.map(|e| e.file_name())).collect())
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
}
