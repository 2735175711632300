//! The client's connection: one link to the agent, fresh request ids, and a router task that
//! hands every answer to the [`Call`] waiting for it, so any number of calls (the engine's `-j`
//! workers) share the connection with their requests in flight together.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sy_protocol::{self as wire, Endpoint, Hello, Message, ProtocolError, RequestId, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::AgentOptions;
use crate::agent::link::{self, AfterPeerEnds, LinkState, Out};
use crate::agent::wire_error::error_from_wire;
use crate::{Error, LinkCause, RelPath, Result};

/// Answers queued per call before the router waits for the caller to take them.
const CALL_QUEUE: usize = 8;

/// Chunks of a streamed file buffered between the connection and its consumer.
pub(super) const STREAM_QUEUE: usize = 8;

/// The connection all clones of an [`Agent`](super::Agent) share.
pub(super) struct Client {
    pub(super) location: String,
    out: Mutex<Option<mpsc::Sender<Out>>>,
    routes: Arc<Mutex<Routes>>,
    next_id: AtomicU64,
    pub(super) state: Arc<LinkState>,
    router: Mutex<Option<JoinHandle<()>>>,
    link: Mutex<Option<JoinHandle<()>>>,
}

impl Client {
    /// Starts the link over `reader` / `writer` (the handshake goes out at once) and the router.
    pub(super) fn start<R, W>(reader: R, writer: W, options: AgentOptions) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let hello = Hello::new(crate::seed::random_seed()).with_policy(options.compression);
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
        Client {
            location: options.location,
            out: Mutex::new(Some(link.out)),
            routes,
            next_id: AtomicU64::new(1),
            state: link.state,
            router: Mutex::new(Some(router)),
            link: Mutex::new(Some(link.done)),
        }
    }

    /// Ends the session: no more requests; waits until every answer has been read.
    pub(super) async fn close(&self) {
        self.state.close();
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let router = self
            .router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let link = self
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for task in [router, link].into_iter().flatten() {
            let _ = task.await;
        }
    }

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

    /// Whether data sent now may be compressed, so incompressible data is worth detecting.
    pub(super) fn compressing(&self) -> bool {
        self.state.compressing()
    }

    /// `path` as messages name it: beneath the agent's location.
    pub(super) fn shown(&self, path: &RelPath) -> String {
        if self.location.ends_with(':') || self.location.ends_with('/') {
            format!("{}{path}", self.location)
        } else {
            format!("{}/{path}", self.location)
        }
    }

    /// The error for a transfer cut off by the connection: the connection's own (a lost link,
    /// which the receiving side keeps as a partial, or the agent's protocol error) when it has
    /// failed, else `error`.
    pub(super) fn cut_off(&self, error: Error) -> Error {
        match self.state.failure() {
            Some(failure) => failure.to_error(&self.location),
            None => error,
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
