//! `Agent`: the client side. Each `Transport` call becomes requests with fresh ids; one router
//! task hands every answer to the call that is waiting for it, so any number of calls (the
//! engine's `-j` workers) share one connection with their requests in flight together.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sy_delta::FileDigest;
use sy_protocol::{
    self as wire, Endpoint, Hello, Message, ProtocolError, RequestId, Role, TrafficStats,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::link::{self, AfterPeerEnds, LinkState, Out};
use super::wire_error::error_from_wire;
use crate::{
    Basis, DeltaSource, Entry, Error, FileWrite, LinkCause, LinkFailure, MetaOptions, ReadOptions,
    RelPath, Result, Scan, ScanOptions, SourceFile, Transport, TreeOp, WriteOptions, Written,
};

/// Answers queued per call before the router waits for the caller to take them.
const CALL_QUEUE: usize = 8;

/// How to talk to an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// Where the agent's root is, for messages (`host:/srv/data`).
    pub location: String,
    /// Ask for zstd at this level in both directions (`-z`, `--compress-level`).
    pub compress_level: Option<i8>,
    /// Give up on the connection after this long without a byte from the agent (`--timeout`).
    /// The agent sends a keepalive every [`KEEPALIVE`](crate::KEEPALIVE) while it is
    /// otherwise silent, so a busy agent is never taken for a stalled link when this is
    /// comfortably longer than that.
    pub timeout: Option<std::time::Duration>,
    /// The rate limit the reader is under (`--bwlimit`), whose holds do not count as the
    /// agent's silence.
    pub read_pacing: Option<super::ReadPacing>,
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

pub(super) struct Client {
    pub(super) location: String,
    out: Mutex<Option<mpsc::Sender<Out>>>,
    routes: Arc<Mutex<Routes>>,
    next_id: AtomicU64,
    pub(super) state: Arc<LinkState>,
    router: Mutex<Option<JoinHandle<()>>>,
    link: Mutex<Option<JoinHandle<()>>>,
}

impl Agent {
    /// Starts speaking the protocol over `reader` / `writer` (the handshake goes out at once;
    /// the first call waits for the agent's answer). Must be called inside a tokio runtime.
    pub fn new<R, W>(reader: R, writer: W, options: AgentOptions) -> Agent
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let mut hello = Hello::new(crate::seed::random_seed());
        if let Some(level) = options.compress_level {
            hello = hello.with_compression(level);
        }
        let link = link::start(
            Endpoint::new(Role::Client, hello),
            reader,
            writer,
            AfterPeerEnds::Stop,
            link::Liveness {
                keepalive: None,
                timeout: options.timeout,
                read_pacing: options.read_pacing,
                peer: options.location.clone(),
            },
        );
        let routes = Arc::new(Mutex::new(Some(HashMap::new())));
        let router = tokio::spawn(route(
            link.inbound,
            Arc::clone(&routes),
            Arc::clone(&link.state),
        ));
        Agent {
            client: Arc::new(Client {
                location: options.location,
                out: Mutex::new(Some(link.out)),
                routes,
                next_id: AtomicU64::new(1),
                state: link.state,
                router: Mutex::new(Some(router)),
                link: Mutex::new(Some(link.done)),
            }),
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

    /// True once the agent has answered the handshake: the host was reached and `sy-remote`
    /// speaks our protocol.
    pub fn established(&self) -> bool {
        self.client.state.session().is_some()
    }

    /// Why the connection broke, if it did (the first reason it recorded): its stream was
    /// lost, or the agent broke the protocol. Calls that failed because of it return the same
    /// as [`Error::LinkLost`] or [`Error::Protocol`]; a caller that saw interrupted transfers
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
        self.client.state.close();
        self.client
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let router = self
            .client
            .router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let link = self
            .client
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for task in [router, link].into_iter().flatten() {
            let _ = task.await;
        }
    }
}

/// Where each request's answers go; `None` once the agent's stream has ended, so a call
/// opened after that fails at once instead of waiting for an answer that cannot come.
type Routes = Option<HashMap<u64, mpsc::Sender<Message>>>;

/// Hands every answer to the call waiting for its id. When the agent's stream ends, every
/// waiting call wakes up to an error.
async fn route(
    mut inbound: mpsc::Receiver<Message>,
    routes: Arc<Mutex<Routes>>,
    state: Arc<LinkState>,
) {
    while let Some(message) = inbound.recv().await {
        let Some(id) = message.request_id() else {
            continue;
        };
        let route = routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|routes| routes.get(&id.0).cloned());
        match route {
            Some(tx) => {
                if tx.send(message).await.is_err()
                    && let Some(routes) = routes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_mut()
                {
                    routes.remove(&id.0);
                }
            }
            None => tracing::debug!("answer for request {id} that nobody waits for"),
        }
    }
    if !state.is_closing() {
        state.lose(LinkCause::Closed);
    }
    *routes.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// One request in flight: its id and the answers routed to it.
pub(super) struct Call {
    pub(super) id: RequestId,
    answers: mpsc::Receiver<Message>,
    client: Arc<Client>,
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(routes) = self
            .client
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            routes.remove(&self.id.0);
        }
    }
}

impl Call {
    /// The next answer; an error once the connection is gone.
    pub(super) async fn next(&mut self) -> Result<Message> {
        match self.answers.recv().await {
            Some(Message::Error(reply)) if reply.scope == wire::ErrorScope::Request => {
                Err(error_from_wire(&self.client.location, reply))
            }
            Some(message) => Ok(message),
            None => Err(self.client.lost()),
        }
    }

    /// The next answer as it came, errors included (for requests with per-item errors).
    pub(super) async fn next_raw(&mut self) -> Result<Message> {
        self.answers.recv().await.ok_or_else(|| self.client.lost())
    }

    pub(super) fn unexpected(&self, message: &Message) -> Error {
        self.client.protocol_error(format!(
            "unexpected {} frame answering request {}",
            message.kind(),
            self.id
        ))
    }
}

impl Client {
    pub(super) fn open(self: &Arc<Self>) -> Call {
        let id = RequestId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, answers) = mpsc::channel(CALL_QUEUE);
        // With the stream ended, `tx` is dropped here and the call's first answer is an error.
        if let Some(routes) = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            routes.insert(id.0, tx);
        }
        Call {
            id,
            answers,
            client: Arc::clone(self),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Out>> {
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| self.lost())
    }

    pub(super) async fn send(&self, message: Message) -> Result<()> {
        self.send_out(Out::new(message)).await
    }

    pub(super) async fn send_out(&self, out: Out) -> Result<()> {
        self.sender()?.send(out).await.map_err(|_| self.lost())
    }

    /// For blocking threads that stream file data.
    pub(super) fn blocking_sender(&self) -> Result<mpsc::Sender<Out>> {
        self.sender()
    }

    /// The error of a call the connection cannot carry any more: what the connection recorded
    /// ([`Error::LinkLost`] or [`Error::Protocol`]), or, after [`Agent::close`], that it was
    /// closed.
    pub(super) fn lost(&self) -> Error {
        match self.state.failure() {
            Some(failure) => failure.to_error(&self.location),
            None => Error::Io {
                action: "talking to sy-remote at",
                path: self.location.clone(),
                source: io::Error::new(io::ErrorKind::NotConnected, "the connection was closed"),
            },
        }
    }

    /// The error of an item of a batch that failed as a whole with `error` (reported on its
    /// first item): the link's own error again, so every item says the link was lost.
    pub(super) fn failed_batch(&self, error: &Error) -> Error {
        match error {
            Error::LinkLost { location, cause } => Error::LinkLost {
                location: location.clone(),
                cause: cause.clone(),
            },
            Error::Protocol { location, source } => Error::Protocol {
                location: location.clone(),
                source: source.clone(),
            },
            other => Error::Io {
                action: "talking to sy-remote at",
                path: self.location.clone(),
                source: io::Error::other(format!("the batch failed: {other}")),
            },
        }
    }

    /// The agent's answers broke the conversation's rules.
    pub(super) fn protocol_error(&self, reason: String) -> Error {
        Error::Protocol {
            location: self.location.clone(),
            source: ProtocolError::violation(reason),
        }
    }

    pub(super) fn compressing(&self) -> bool {
        self.state
            .session()
            .is_some_and(|s| s.compression.is_some())
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
        super::client_tree::scan(&self.client, options).await
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        super::client_pull::read_files(&self.client, files, options).await
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        super::client_files::write_files(&self.client, files, options).await
    }

    async fn signature(&self, path: RelPath, basis: Basis) -> Result<Option<sy_delta::Signature>> {
        super::client_files::signature(&self.client, path, basis).await
    }

    async fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        super::client_pull::delta(&self.client, entry, signature, options).await
    }

    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        super::client_files::apply_delta(&self.client, path, basis, delta, options).await
    }

    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        super::client_tree::digests(&self.client, paths, follow_links).await
    }

    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        super::client_tree::apply(&self.client, ops, meta).await
    }
}
