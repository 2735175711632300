//! `Agent`: the client side. Each `Transport` call becomes requests on the shared
//! [`connection`](connection::Client): a scan, tree changes and digests (`tree`), files and
//! deltas sent to the agent (`push`), files and deltas fetched from it (`pull`).

mod connection;
mod pull;
mod push;
mod tree;

use std::sync::Arc;

use sy_delta::FileDigest;
use sy_protocol::{CompressionPolicy, TrafficStats};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    Basis, DeltaSource, Entry, FileWrite, LinkFailure, MetaOptions, ReadOptions, RelPath, Result,
    Scan, ScanOptions, SourceFile, Transport, TreeOp, WriteOptions, Written,
};
use connection::Client;

/// How to talk to an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// Where the agent's root is, for messages (`host:/srv/data`).
    pub location: String,
    /// What to ask of compression (`--compress`): adaptive by default; an agent that predates
    /// adaptive sessions then agrees on none.
    pub compression: CompressionPolicy,
    /// Give up on the connection after this long without a byte from the agent (`--timeout`).
    /// The agent sends a keepalive every [`KEEPALIVE`](crate::KEEPALIVE) while it is
    /// otherwise silent, so a busy agent is never taken for a stalled link when this is
    /// comfortably longer than that.
    pub timeout: Option<std::time::Duration>,
    /// The rate limit the reader is under (`--bwlimit`), whose holds do not count as the
    /// agent's silence.
    pub read_pacing: Option<crate::ReadPacing>,
}

/// A tree served by a `sy-remote` agent at the other end of a byte stream (a remote shell's
/// stdio, an SSH channel, or an in-memory pipe in tests).
///
/// Cheap to clone; all clones share the connection. Calls may run concurrently: their requests
/// are pipelined and answers come back in any order.
#[derive(Clone)]
pub struct Agent {
    client: Arc<Client>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("location", &self.client.location)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts speaking the protocol over `reader` / `writer` (the handshake goes out at once;
    /// the first call waits for the agent's answer). Must be called inside a tokio runtime.
    pub fn new<R, W>(reader: R, writer: W, options: AgentOptions) -> Agent
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Agent {
            client: Arc::new(Client::start(reader, writer, options)),
        }
    }

    /// Bytes sent and received so far, before (logical) and after (wire) compression.
    pub fn traffic(&self) -> TrafficStats {
        self.client.state.stats()
    }

    /// Whether the session compresses (known once the agent has answered).
    pub fn compressed(&self) -> bool {
        self.client
            .state
            .session()
            .is_some_and(|s| s.compression.is_some())
    }

    /// The compression the session agreed on (known once the agent has answered).
    pub fn compression(&self) -> Option<CompressionPolicy> {
        self.client.state.session().map(|s| s.policy())
    }

    /// True once the agent has answered the handshake: the host was reached and `sy-remote`
    /// speaks our protocol.
    pub fn established(&self) -> bool {
        self.client.state.session().is_some()
    }

    /// Why the connection broke, if it did (the first reason it recorded): its stream was
    /// lost, or the agent broke the protocol. Calls that failed because of it return the same
    /// as [`Error::LinkLost`](crate::Error::LinkLost) or
    /// [`Error::Protocol`](crate::Error::Protocol); a caller that saw interrupted transfers
    /// asks here whether the link was the cause.
    pub fn failure(&self) -> Option<LinkFailure> {
        self.client.state.failure()
    }

    /// True when the connection was lost rather than refused: its stream failed, ended
    /// before the session did, or went silent past `--timeout` ([`LinkFailure::Lost`]). A
    /// protocol error or a session that ended cleanly is not a lost link, whatever else went
    /// wrong.
    pub fn link_lost(&self) -> bool {
        self.client
            .state
            .failure()
            .is_some_and(|failure| failure.is_lost())
    }

    /// Ends the session: no more requests, the agent sees its input close and exits. Waits
    /// until every answer has been read.
    pub async fn close(&self) {
        self.client.close().await;
    }
}

impl Transport for Agent {
    fn location(&self) -> &str {
        &self.client.location
    }

    fn prefers_whole_file(&self) -> bool {
        false
    }

    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        tree::scan(&self.client, options).await
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        pull::read_files(&self.client, files, options).await
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        push::write_files(&self.client, files, options).await
    }

    async fn signature(&self, path: RelPath, basis: Basis) -> Result<Option<sy_delta::Signature>> {
        push::signature(&self.client, path, basis).await
    }

    async fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        pull::delta(&self.client, entry, signature, options).await
    }

    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        push::apply_delta(&self.client, path, basis, delta, options).await
    }

    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        tree::digests(&self.client, paths, follow_links).await
    }

    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        tree::apply(&self.client, ops, meta).await
    }
}
