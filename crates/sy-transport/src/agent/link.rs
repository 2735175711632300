//! One connection's byte plumbing, shared by the client and the agent: a driver task owns the
//! sans-IO [`Endpoint`], reads the peer, and hands decoded messages inward; a writer task puts
//! encoded bytes on the wire.
//!
//! The driver never blocks on one direction while the other waits: when the inward channel is
//! full it stops *reading* but keeps encoding and writing; when the writer is behind it stops
//! taking *outgoing* messages but keeps reading. Two peers that both write a lot therefore
//! cannot deadlock on full pipes.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sy_protocol::{Endpoint, Message, ProtocolError, Session, TrafficStats};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{LinkCause, LinkFailure};

/// Bytes asked of the reader at a time.
const READ_LEN: usize = 256 << 10;
/// Encoded bytes held by the driver before it stops taking outgoing messages.
const WIRE_HIGH: usize = 1 << 20;
/// The writer task writes at most this much at a time.
const WRITE_PIECE: usize = 128 << 10;
/// Encoded buffers queued for the writer task (with the driver's, up to 3 MiB of wire bytes:
/// milliseconds at loopback speed, and each more was a MiB of peak memory).
const WRITER_QUEUE: usize = 2;
/// Decoded messages queued for the consumer.
const INBOUND_QUEUE: usize = 16;
/// Outgoing messages queued for the driver (file chunks are 256 KiB: 2 MiB).
const OUTBOUND_QUEUE: usize = 8;

/// A message to send; `stored` skips compression (data judged incompressible).
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) message: Message,
    pub(crate) stored: bool,
}

impl Out {
    pub(crate) fn new(message: Message) -> Self {
        Out {
            message,
            stored: false,
        }
    }
}

/// What both tasks and the link's users share: counters, the agreed session, and why the
/// connection ended, if it ended badly.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    stats: Mutex<TrafficStats>,
    session: Mutex<Option<Session>>,
    failure: Mutex<Option<LinkFailure>>,
    /// This side asked to end the session, so the peer closing is expected.
    closing: AtomicBool,
    /// Data sent now may be compressed (so incompressible data is worth detecting).
    compressing: AtomicBool,
    /// Bytes the writer task has written…
    written: AtomicU64,
    /// …and the nanoseconds it spent blocked writing them: what an adaptive session measures
    /// the link by.
    busy_nanos: AtomicU64,
}

impl LinkState {
    pub(crate) fn stats(&self) -> TrafficStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn session(&self) -> Option<Session> {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the connection failed (the first reason recorded), if it did.
    pub(crate) fn failure(&self) -> Option<LinkFailure> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether data sent now may be compressed: the session compresses, and (when adaptive)
    /// currently chooses to.
    pub(crate) fn compressing(&self) -> bool {
        self.compressing.load(Ordering::Relaxed)
    }

    /// The writer wrote `len` more bytes, blocked since `started`.
    fn note_written(&self, len: usize, started: Instant) {
        let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        self.written.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Records a failure of the session itself (a bad frame, a message that cannot be sent):
    /// connecting again would meet it again.
    pub(crate) fn fail(&self, error: ProtocolError) {
        self.record(LinkFailure::Protocol(error));
    }

    /// Records the loss of the stream under the session: an I/O error, an end before the
    /// session ended, or the peer's silence past `--timeout`. Another connection may fare
    /// better.
    pub(crate) fn lose(&self, cause: LinkCause) {
        self.record(LinkFailure::Lost(cause));
    }

    fn record(&self, reason: LinkFailure) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            tracing::debug!("connection failed: {reason}");
            *failure = Some(reason);
        }
    }
}

/// The user's ends of a running connection.
pub(crate) struct Link {
    /// Messages to send. The connection ends cleanly once every clone is dropped.
    pub(crate) out: mpsc::Sender<Out>,
    /// Messages received; closed when the peer's stream ends or breaks.
    pub(crate) inbound: mpsc::Receiver<Message>,
    pub(crate) state: Arc<LinkState>,
    /// Finishes once everything queued has been written and both directions are closed.
    pub(crate) done: JoinHandle<()>,
}

/// What the connection does once the peer's stream has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterPeerEnds {
    /// Keep writing until our side is done too (the agent: the client may still be reading
    /// the answers to what it sent before it closed).
    FinishWriting,
    /// Stop at once (the client: nothing sent now could be answered), so callers fail fast.
    Stop,
}

/// How a connection shows it is alive and notices a peer that is not.
#[derive(Debug, Clone, Default)]
pub(crate) struct Liveness {
    /// Send a `Flush` after this long without sending anything (the agent), so a peer waiting
    /// on a long computation still hears from us.
    pub(crate) keepalive: Option<Duration>,
    /// Fail after this long without a byte from the peer while we are reading (the client's
    /// `--timeout`): a stalled link ends in an error, never a hang.
    pub(crate) timeout: Option<Duration>,
    /// Holds on reading made by our own rate limit, which the timeout does not count.
    pub(crate) read_pacing: Option<super::ReadPacing>,
    /// The peer as messages name it (`host:/srv/data`).
    pub(crate) peer: String,
}

/// Starts the driver and writer tasks for `endpoint` over `reader` / `writer`.
pub(crate) fn start<R, W>(
    endpoint: Endpoint,
    reader: R,
    writer: W,
    after_peer_ends: AfterPeerEnds,
    liveness: Liveness,
) -> Link
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
    let (wire_tx, wire_rx) = mpsc::channel(WRITER_QUEUE);
    let state = Arc::new(LinkState::default());
    let mut writing = tokio::spawn(write_loop(writer, wire_rx, Arc::clone(&state)));
    let writer_grace = liveness.timeout;
    let failed = Arc::clone(&state);
    let driver = Driver {
        endpoint,
        state: Arc::clone(&state),
        pending_in: None,
        wire: BytesMut::new(),
        unflushed: false,
        eof: false,
        after_peer_ends,
        liveness,
    };
    let done = tokio::spawn(async move {
        driver.run(reader, out_rx, in_tx, wire_tx).await;
        // A failed link with a timeout gives the writer as long to finish as the peer gets to
        // answer: a peer that stopped reading would otherwise hold the writer, and with it
        // the close of the connection, forever.
        match writer_grace.filter(|_| failed.failure().is_some()) {
            Some(grace) => {
                if tokio::time::timeout(grace, &mut writing).await.is_err() {
                    writing.abort();
                }
            }
            None => {
                let _ = writing.await;
            }
        }
    });
    Link {
        out: out_tx,
        inbound: in_rx,
        state,
        done,
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut wire: mpsc::Receiver<Bytes>,
    state: Arc<LinkState>,
) {
    while let Some(bytes) = wire.recv().await {
        // Written a piece at a time, so the progress an adaptive session reads moves while a
        // large buffer drains over a slow link.
        for piece in bytes.chunks(WRITE_PIECE) {
            let started = Instant::now();
            if let Err(e) = writer.write_all(piece).await {
                state.lose(LinkCause::Write(Arc::new(e)));
                return;
            }
            state.note_written(piece.len(), started);
        }
        if wire.is_empty() {
            let started = Instant::now();
            if let Err(e) = writer.flush().await {
                state.lose(LinkCause::Write(Arc::new(e)));
                return;
            }
            state.note_written(0, started);
        }
    }
    // Closing our side tells the peer we are done (an agent exits when its stdin closes).
    let _ = writer.shutdown().await;
}

struct Driver {
    endpoint: Endpoint,
    state: Arc<LinkState>,
    /// A decoded message the consumer had no room for yet.
    pending_in: Option<Message>,
    /// Encoded bytes not yet handed to the writer task.
    wire: BytesMut,
    /// Messages were encoded since the last flush.
    unflushed: bool,
    /// The peer's stream has ended (or failed).
    eof: bool,
    after_peer_ends: AfterPeerEnds,
    liveness: Liveness,
}

impl Driver {
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        mut reader: R,
        mut out_rx: mpsc::Receiver<Out>,
        in_tx: mpsc::Sender<Message>,
        wire_tx: mpsc::Sender<Bytes>,
    ) {
        let mut in_tx = Some(in_tx);
        let mut wire_tx = Some(wire_tx);
        let mut out_open = true;
        let mut buf = BytesMut::with_capacity(READ_LEN);
        self.take_output();
        let mut last_received = Instant::now();
        let mut last_sent = Instant::now();
        loop {
            if in_tx.is_none() && self.after_peer_ends == AfterPeerEnds::Stop {
                break;
            }
            let reading = in_tx.is_some() && self.pending_in.is_none();
            let taking = out_open && self.wire.len() < WIRE_HIGH;
            if !out_open && self.wire.is_empty() {
                // Everything is written: closing the writer tells the peer we are done.
                wire_tx = None;
                if in_tx.is_none() {
                    break;
                }
            }
            let writer = wire_tx.clone();
            let consumer = in_tx.clone();
            let stall_deadline = self.stall_deadline(last_received);
            let keepalive_at = self
                .liveness
                .keepalive
                .filter(|_| out_open && !self.eof && self.endpoint.session().is_some())
                .map(|k| last_sent + k);
            tokio::select! {
                permit = async { consumer.as_ref()?.reserve().await.ok() }, if self.pending_in.is_some() => {
                    match (permit, self.pending_in.take()) {
                        (Some(permit), Some(message)) => {
                            permit.send(message);
                            // The wait for room was ours: the peer's silence counts from now.
                            last_received = Instant::now();
                            if !self.deliver(&mut in_tx) {
                                in_tx = None;
                            }
                        }
                        // The consumer is gone: nobody wants what the peer sends any more.
                        _ => in_tx = None,
                    }
                }
                read = reader.read_buf(&mut buf), if reading => {
                    self.received(read, &mut buf, &mut in_tx, &mut last_received);
                }
                out = out_rx.recv(), if taking => match out {
                    Some(out) => self.encode(out),
                    None => {
                        out_open = false;
                        self.encode(Out::new(Message::Goodbye));
                    }
                },
                permit = async { writer.as_ref()?.reserve().await.ok() }, if !self.wire.is_empty() => match permit {
                    Some(permit) => {
                        last_sent = Instant::now();
                        permit.send(self.wire.split().freeze());
                    }
                    None => {
                        // The writer failed and said why; nothing more can be sent.
                        return;
                    }
                },
                () = sleep_until(stall_deadline), if reading && stall_deadline.is_some() => {
                    // After a gap in our own scheduling (a suspended machine, SIGSTOP) the
                    // deadline may have passed with the peer's bytes already waiting: look
                    // before giving up (outside the task's budget, which may be spent and
                    // would make even a ready read wait). Our rate limit may also have held
                    // reading meanwhile.
                    let look = tokio::task::unconstrained(reader.read_buf(&mut buf));
                    let waiting = tokio::time::timeout(Duration::ZERO, look).await;
                    if let Ok(read) = waiting {
                        self.received(read, &mut buf, &mut in_tx, &mut last_received);
                    } else if self
                        .stall_deadline(last_received)
                        .is_some_and(|deadline| deadline <= Instant::now())
                    {
                        self.state.lose(LinkCause::Timeout {
                            peer: self.liveness.peer.clone(),
                            secs: self.liveness.timeout.map_or(0, |t| t.as_secs()),
                        });
                        self.eof = true;
                        in_tx = None;
                    }
                }
                () = sleep_until(keepalive_at), if keepalive_at.is_some() && self.wire.is_empty() => {
                    self.encode(Out::new(Message::Flush));
                    last_sent = Instant::now();
                }
                else => break,
            }
            if self.unflushed && out_rx.is_empty() {
                self.encode(Out::new(Message::Flush));
            }
        }
    }

    /// When the peer's silence since `last_received` (less our own rate limit's holds on
    /// reading) exceeds `--timeout`; none without a timeout, or beyond the clock's range.
    fn stall_deadline(&self, last_received: Instant) -> Option<Instant> {
        let timeout = self.liveness.timeout?;
        let held = self
            .liveness
            .read_pacing
            .as_ref()
            .and_then(super::ReadPacing::held_until);
        let silent_since = held.map_or(last_received, |held| held.max(last_received));
        silent_since.checked_add(timeout)
    }

    /// Takes in what a read of the peer returned, and hands on what it completes.
    fn received(
        &mut self,
        read: io::Result<usize>,
        buf: &mut BytesMut,
        in_tx: &mut Option<mpsc::Sender<Message>>,
        last_received: &mut Instant,
    ) {
        match read {
            Ok(0) => {
                self.eof = true;
                self.endpoint.receive_eof();
            }
            Ok(_) => {
                *last_received = Instant::now();
                self.endpoint.receive(buf);
                buf.clear();
            }
            Err(e) => {
                self.state.lose(LinkCause::Read(Arc::new(e)));
                self.eof = true;
                *in_tx = None;
            }
        }
        if in_tx.is_some() && !self.deliver(in_tx) {
            *in_tx = None;
        }
        self.publish_stats();
    }

    /// Hands decoded messages to the consumer until it is full or the input runs dry. Returns
    /// false once nothing more will come (end of stream, a protocol error, or no consumer).
    fn deliver(&mut self, in_tx: &mut Option<mpsc::Sender<Message>>) -> bool {
        let Some(tx) = in_tx.as_ref() else {
            return false;
        };
        loop {
            let had_session = self.endpoint.session().is_some();
            let polled = self.endpoint.poll_message();
            if !had_session && let Some(session) = self.endpoint.session() {
                *self
                    .state
                    .session
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(*session);
                self.publish_compressing();
                self.take_output();
            }
            match polled {
                Ok(Some(message)) => match tx.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(message)) => {
                        self.pending_in = Some(message);
                        return true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                },
                Ok(None) => return !self.eof,
                // Past the end of the stream, an error is a frame the stream cut short.
                Err(e) if self.eof => {
                    self.state.lose(LinkCause::Cut(e));
                    return false;
                }
                Err(e) => {
                    self.state.fail(e);
                    return false;
                }
            }
        }
    }

    fn encode(&mut self, out: Out) {
        let flushing = matches!(out.message, Message::Flush | Message::Goodbye);
        self.endpoint.link_progress(
            self.state.written.load(Ordering::Relaxed),
            Duration::from_nanos(self.state.busy_nanos.load(Ordering::Relaxed)),
        );
        let sent = if out.stored {
            self.endpoint.send_stored(&out.message)
        } else {
            self.endpoint.send(&out.message)
        };
        if let Err(e) = sent {
            self.state.fail(e);
        }
        self.unflushed = !flushing;
        self.publish_compressing();
        self.take_output();
    }

    fn publish_compressing(&self) {
        self.state
            .compressing
            .store(self.endpoint.compressing(), Ordering::Relaxed);
    }

    fn take_output(&mut self) {
        if self.endpoint.has_output() {
            let output = self.endpoint.take_output();
            if self.wire.is_empty() {
                self.wire = output;
            } else {
                self.wire.unsplit(output);
            }
        }
        self.publish_stats();
    }

    fn publish_stats(&self) {
        *self
            .state
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.endpoint.stats();
    }
}

/// Sleeps until `deadline`; forever without one (its `select!` branch is disabled then anyway).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
