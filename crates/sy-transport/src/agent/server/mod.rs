//! The agent side: requests from a client served with any [`Transport`] (in `sy-remote`, the
//! [`crate::Local`] backend of the root it was given).
//!
//! One dispatcher (`dispatch`) reads the client's messages in order. Work that reads or
//! computes (scans, reads for pulls, signatures, deltas, checksums, tree operations, batches of
//! small files) runs in tasks bounded by a semaphore (`tasks`), each answering its request
//! (`answer`); files being pushed stream into their writers as their chunks arrive, small ones
//! collected in memory and written in one batch per client flush (`receive`).
//!
//! What the client may ask is checked: every path is a clean [`crate::RelPath`] (the protocol's
//! decoder refuses any other; writes are then confined beneath the root by the transport,
//! which never follows a symbolic link on the way), and reads — file data, signatures,
//! checksums — are served only beneath a directory the client scanned first (the source set)
//! and beneath the root. Served from [`crate::Local::open_confined`] (as `sy-remote` does), a
//! read with `-L` (follow links) follows a symbolic link only while it stays beneath the root,
//! so a client cannot plant `x -> /etc/shadow` and read it. [`ServeOptions`] can narrow this
//! further (`policy`): read-only, write-only, and no new link pointing out of the root —
//! `sy-remote --restrict` for an `authorized_keys` forced command. Without those a client
//! that logged in through the remote shell can of course still run anything that login can;
//! the agent only refuses to be the way out. The client side is never asked for anything by
//! the agent.

mod answer;
mod dispatch;
mod policy;
mod receive;
mod tasks;

use std::sync::Arc;

use sy_protocol::{Endpoint, Hello, Role, TrafficStats};
use tokio::io::{AsyncRead, AsyncWrite};

use super::link::{self, AfterPeerEnds};
use crate::{Result, Transport};
use dispatch::Dispatcher;
pub use policy::Access;
use policy::Policy;
use tasks::{CLIENT, Reply};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests worked on at once (scans, reads, signatures, batches); streams of pushed files
    /// are not counted, the client bounds those.
    pub concurrency: usize,
    /// Which requests are served: all, reads only, or writes only.
    pub access: Access,
    /// Refuse creating a symbolic link whose target is absolute or climbs above the root with
    /// `..` (`sy-remote --restrict`).
    pub confine_new_links: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            access: Access::default(),
            confine_new_links: false,
        }
    }
}

/// Serves the sy protocol on `reader` / `writer` with `transport` until the client closes its
/// side, then returns the traffic counters. An error means the connection broke (the client
/// vanished, or sent something that is not the protocol); requests that merely fail are
/// answered with errors and do not end the session.
pub async fn serve<T, R, W>(
    transport: Arc<T>,
    reader: R,
    writer: W,
    options: ServeOptions,
) -> Result<TrafficStats>
where
    T: Transport,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let endpoint = Endpoint::new(Role::Agent, Hello::new(crate::seed::random_seed()));
    let liveness = link::Liveness {
        keepalive: Some(super::KEEPALIVE),
        ..link::Liveness::default()
    };
    let mut link = link::start(
        endpoint,
        reader,
        writer,
        AfterPeerEnds::FinishWriting,
        liveness,
    );
    let state = Arc::clone(&link.state);
    let reply = Reply::new(link.out, Arc::clone(&link.state));
    let policy = Policy {
        access: options.access,
        confine_new_links: options.confine_new_links,
    };
    let mut dispatcher = Dispatcher::new(transport, reply, options.concurrency, policy);
    while let Some(message) = link.inbound.recv().await {
        dispatcher.handle(message).await;
        dispatcher.reap();
    }
    dispatcher.finish().await;
    // Dropping the last sender lets the driver write out what is queued and close.
    drop(dispatcher);
    let _ = link.done.await;
    match state.failure() {
        Some(failure) => Err(failure.to_error(CLIENT)),
        None => Ok(state.stats()),
    }
}
