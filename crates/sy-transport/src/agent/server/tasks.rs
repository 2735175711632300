//! What a request's work needs: where to send its answers ([`Reply`]) and where to run
//! ([`Workers`]: the transport, and tasks bounded by a semaphore).

use std::sync::Arc;

use sy_protocol::{ErrorScope, Message, ProtocolError, RequestId};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::agent::link::{LinkState, Out};
use crate::agent::wire_error::error_to_wire;
use crate::{Error, Transport};

/// How the agent names its peer in messages.
pub(super) const CLIENT: &str = "the client";

/// A request that breaks the conversation's rules, refused on its own: the session goes on.
pub(super) fn protocol(reason: String) -> Error {
    Error::Protocol {
        location: CLIENT.to_owned(),
        source: ProtocolError::violation(reason),
    }
}

/// A clone of what a request task needs to answer.
#[derive(Clone)]
pub(super) struct Reply {
    pub(super) out: mpsc::Sender<Out>,
    state: Arc<LinkState>,
}

impl Reply {
    pub(super) fn new(out: mpsc::Sender<Out>, state: Arc<LinkState>) -> Self {
        Reply { out, state }
    }

    /// Whether data sent now may be compressed, so incompressible data is worth detecting.
    pub(super) fn compressing(&self) -> bool {
        self.state.compressing()
    }

    /// The longest strong hash per block the handshake allowed.
    pub(super) fn max_strong_len(&self) -> u8 {
        self.state
            .session()
            .map_or(sy_protocol::MAX_STRONG_LEN, |s| s.max_strong_len)
    }

    pub(super) async fn send(&self, message: Message) {
        // A closed queue means the connection is gone; the dispatcher notices and ends.
        let _ = self.out.send(Out::new(message)).await;
    }

    pub(super) async fn error(&self, id: RequestId, scope: ErrorScope, error: &Error) {
        self.send(error_to_wire(id, scope, error)).await;
    }

    /// Ends request `id` with `error`.
    pub(super) async fn refuse(&self, id: RequestId, error: &Error) {
        self.error(id, ErrorScope::Request, error).await;
    }
}

/// The transport that does the work, and the tasks doing it.
pub(super) struct Workers<T> {
    pub(super) transport: Arc<T>,
    pub(super) reply: Reply,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl<T: Transport> Workers<T> {
    /// At most `concurrency` bounded tasks run at once.
    pub(super) fn new(transport: Arc<T>, reply: Reply, concurrency: usize) -> Self {
        Workers {
            transport,
            reply,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            tasks: JoinSet::new(),
        }
    }

    /// What a task needs: the transport and where to answer.
    pub(super) fn for_task(&self) -> (Arc<T>, Reply) {
        (Arc::clone(&self.transport), self.reply.clone())
    }

    /// Runs `work` once a permit is free (waiting here holds back reading more requests).
    pub(super) async fn spawn_bounded<F>(&mut self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return;
        };
        self.tasks.spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Runs `work` at once, outside the bound (a pushed file's writer, which the client's own
    /// bound on its streams limits).
    pub(super) fn spawn<F>(&mut self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work);
    }

    /// Collects the tasks that have finished; a task's panic goes on here.
    pub(super) fn reap(&mut self) {
        while let Some(joined) = self.tasks.try_join_next() {
            if let Err(e) = joined
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    /// Waits for every task; a task's panic goes on here.
    pub(super) async fn join_all(&mut self) {
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}
