//! The agent transport: `sy` on one side, `sy-remote` on the other, speaking `sy-protocol` over
//! any byte stream.
//!
//! - [`Agent`] is the client. It implements [`crate::Transport`] by sending requests: many at
//!   once (each call gets fresh request ids; a router task hands every answer to the call that
//!   waits for it), batches flushed as soon as the client has nothing more queued, so a whole
//!   tree costs a handful of round trips, not one per file.
//! - [`serve`] is the agent. It answers those requests with any transport — in `sy-remote`, the
//!   [`crate::Local`] backend of its root — and checks everything the client sends: clean
//!   relative paths, writes resolved beneath the root without following symbolic links, reads
//!   only within the directories the client scanned.
//!
//! Both sides move bytes the same way (`link`): one task owns the sans-IO
//! [`sy_protocol::Endpoint`] and never stops reading because it cannot write, or the reverse,
//! so two peers streaming at each other cannot deadlock.
//!
//! ```
//! use std::sync::Arc;
//! use sy_transport::{Agent, AgentOptions, Local, ScanOptions, ServeOptions, Transport, serve};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("a.txt"), b"hello")?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     // An in-memory pipe stands in for `ssh host sy-remote ROOT`.
//!     let (client_end, agent_end) = tokio::io::duplex(64 << 10);
//!     let (agent_read, agent_write) = tokio::io::split(agent_end);
//!     let root = Arc::new(Local::open(dir.path())?);
//!     let server = tokio::spawn(serve(root, agent_read, agent_write, ServeOptions::default()));
//!
//!     let (read, write) = tokio::io::split(client_end);
//!     let agent = Agent::new(read, write, AgentOptions::default());
//!     let scan = agent.scan(ScanOptions::default()).await?;
//!     assert_eq!(scan.entries.len(), 2); // the root and a.txt
//!     agent.close().await;
//!     server.await.expect("agent task")?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod link;
mod outgoing;
mod pacing;
mod server;
mod wire_error;

pub use client::{Agent, AgentOptions};
pub use pacing::ReadPacing;
pub use server::{Access, ServeOptions, serve};
pub use sy_protocol::{CompressionPolicy, Traffic, TrafficStats};

/// Largest signature either side accepts from its peer: enough for a 1 TiB file at the default
/// block size.
const MAX_SIGNATURE: usize = 64 << 20;

/// How long an agent stays silent before it sends a keepalive (an empty `Flush` frame), so a
/// client's `--timeout` can tell a stalled link from an agent busy with a long computation.
pub const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// zstd level of `-z` when no level is given.
pub const DEFAULT_COMPRESS_LEVEL: i8 = sy_protocol::DEFAULT_ZSTD_LEVEL;
