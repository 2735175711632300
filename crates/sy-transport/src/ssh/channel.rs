//! A remote command in an SSH channel as a pair of byte streams, with its stderr relayed (or
//! kept) and its exit status reported.
//!
//! russh's own channel stream drops stderr and the exit status, which are how a missing
//! `sy-remote` (exit 127, "not found") or a crashed one explains itself; so a small task reads
//! the channel's messages and routes each kind.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use russh::client::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Data messages queued between the channel and its reader (each up to one SSH packet).
const QUEUE: usize = 64;

/// The most of a remote command's stderr kept (while it is not relayed): a host that floods it
/// cannot make us hold more, and an error message quoting it stays readable.
pub const STDERR_KEPT: usize = 64 << 10;

/// The most of a remote command's stdout [`ExecChannel::output`] takes: what sy runs that way
/// (`uname -sm`) answers in a line.
pub const OUTPUT_KEPT: usize = 64 << 10;

/// How long a remote command may take to say its first word (or to end) when the session's
/// options set no `ConnectTimeout`/`--timeout`: a hung login script or agent is reported, not
/// waited for forever.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteExit {
    /// It exited with this status (127: the shell did not find it).
    Status(u32),
    /// A signal ended it.
    Signal(String),
    /// The server refused to run it.
    Refused,
    /// The channel closed without saying (the connection broke).
    Unknown,
}

impl std::fmt::Display for RemoteExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteExit::Status(code) => write!(f, "exit status {code}"),
            RemoteExit::Signal(signal) => write!(f, "signal {signal}"),
            RemoteExit::Refused => write!(f, "the server refused to run it"),
            RemoteExit::Unknown => write!(f, "no exit status (the connection broke)"),
        }
    }
}

/// The end of a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEnd {
    /// How it ended.
    pub exit: RemoteExit,
    /// What it wrote to stderr, when that was kept rather than relayed: at most
    /// [`STDERR_KEPT`] bytes, then a line saying how many more there were.
    pub stderr: Vec<u8>,
}

/// A running remote command: its stdout as [`ExecReader`], its stdin as [`ExecWriter`], and
/// its end as [`ExecStatus`].
#[derive(Debug)]
pub struct ExecChannel {
    /// The command's stdout.
    pub reader: ExecReader,
    /// The command's stdin; shutting it down sends EOF.
    pub writer: ExecWriter,
    /// How it ended, once it has.
    pub status: ExecStatus,
    relay: Arc<AtomicBool>,
    /// How long [`started`](Self::started) and [`output`](Self::output) wait.
    deadline: Duration,
    /// The host and command, for errors.
    shown: String,
}

impl ExecChannel {
    pub(super) fn start(channel: Channel<Msg>, deadline: Duration, shown: String) -> ExecChannel {
        let (read, write) = channel.split();
        let (data_tx, data_rx) = mpsc::channel(QUEUE);
        let (end_tx, end_rx) = oneshot::channel();
        let relay = Arc::new(AtomicBool::new(false));
        let (closed_tx, closed_rx) = oneshot::channel();
        tokio::spawn(route(read, data_tx, Arc::clone(&relay), end_tx, closed_tx));
        ExecChannel {
            relay,
            deadline,
            shown,
            reader: ExecReader {
                queue: data_rx,
                pending: Bytes::new(),
            },
            writer: ExecWriter {
                inner: Box::pin(write.make_writer()),
                closed: Some(closed_rx),
            },
            status: ExecStatus {
                waiting: Some(end_rx),
                end: None,
            },
        }
    }

    /// From now on, what the command writes to stderr goes to ours (with what it wrote so
    /// far); until then it is kept for [`ExecEnd::stderr`] (a probe's "not found" is no news
    /// for the user).
    pub fn relay_stderr(&self) {
        self.relay.store(true, Ordering::SeqCst);
    }

    /// Waits for the first bytes of output or the end of the command, whichever comes first:
    /// `true` when output came (it stays to be read). A program that speaks first (sy-remote
    /// sends its hello at once) is known to have started, at no extra round trip. A command
    /// silent past the session's deadline is an error.
    pub async fn started(&mut self) -> Result<bool> {
        if !self.reader.pending.is_empty() {
            return Ok(true);
        }
        match tokio::time::timeout(self.deadline, self.reader.queue.recv()).await {
            Ok(Some(bytes)) => {
                self.reader.pending = bytes;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(_) => Err(self.silent()),
        }
    }

    /// Closes stdin, reads stdout to its end (at most [`OUTPUT_KEPT`] bytes) and waits for the
    /// exit, all within the session's deadline.
    pub async fn output(mut self) -> Result<(Vec<u8>, ExecEnd)> {
        let deadline = self.deadline;
        let shown = self.shown.clone();
        let run = async {
            let _ = self.writer.shutdown().await;
            let mut out = Vec::new();
            (&mut self.reader)
                .take(OUTPUT_KEPT as u64 + 1)
                .read_to_end(&mut out)
                .await
                .map_err(|source| Error::Io {
                    action: "reading the output of",
                    path: shown.clone(),
                    source,
                })?;
            if out.len() > OUTPUT_KEPT {
                return Err(Error::Ssh {
                    host: shown.clone(),
                    reason: format!("the command wrote more than {OUTPUT_KEPT} bytes"),
                });
            }
            Ok((out, self.status.wait().await))
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(done) => done,
            Err(_) => Err(Error::Ssh {
                host: shown,
                reason: format!("the command did not finish within {deadline:?}"),
            }),
        }
    }

    fn silent(&self) -> Error {
        Error::Ssh {
            host: self.shown.clone(),
            reason: format!(
                "the command started but said nothing for {:?} (a login script waiting for \
                 input, or a hung sy-remote?); ConnectTimeout or --timeout sets this wait",
                self.deadline
            ),
        }
    }
}

/// A command's stderr while it is not relayed: the first [`STDERR_KEPT`] bytes, and a count of
/// the rest.
#[derive(Debug, Default)]
struct KeptStderr {
    kept: Vec<u8>,
    dropped: u64,
}

impl KeptStderr {
    fn push(&mut self, bytes: &[u8]) {
        let room = STDERR_KEPT - self.kept.len();
        let take = bytes.len().min(room);
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += (bytes.len() - take) as u64;
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.dropped == 0
    }

    /// What was kept, with a last line naming what was not; empties it.
    fn take(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.kept);
        if self.dropped > 0 {
            out.extend_from_slice(
                format!("\n[{} more bytes of stderr not kept]\n", self.dropped).as_bytes(),
            );
            self.dropped = 0;
        }
        out
    }
}

/// Reads the channel's messages until it closes: stdout to the reader, stderr kept or relayed
/// to ours, the exit status to whoever waits for it.
async fn route(
    mut read: ChannelReadHalf,
    data: mpsc::Sender<Bytes>,
    relay: Arc<AtomicBool>,
    end: oneshot::Sender<ExecEnd>,
    closed: oneshot::Sender<()>,
) {
    let mut data = Some(data);
    let mut exit = RemoteExit::Unknown;
    let mut stderr = KeptStderr::default();
    let relay_kept = |stderr: &mut KeptStderr| {
        if relay.load(Ordering::SeqCst) && !stderr.is_empty() {
            let mut ours = std::io::stderr().lock();
            let _ = ours.write_all(&stderr.take());
            let _ = ours.flush();
        }
    };
    while let Some(message) = read.wait().await {
        match message {
            ChannelMsg::Data { data: bytes } => {
                // A reader that went away no longer wants it; the status still matters.
                if let Some(tx) = &data
                    && tx.send(bytes).await.is_err()
                {
                    data = None;
                }
            }
            ChannelMsg::ExtendedData {
                data: bytes,
                ext: 1,
            } => {
                stderr.push(&bytes);
                relay_kept(&mut stderr);
            }
            ChannelMsg::Eof => data = None,
            ChannelMsg::ExitStatus { exit_status } => exit = RemoteExit::Status(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exit = RemoteExit::Signal(format!("{signal_name:?}"));
            }
            ChannelMsg::Failure => exit = RemoteExit::Refused,
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    drop(data);
    drop(closed);
    relay_kept(&mut stderr);
    let _ = end.send(ExecEnd {
        exit,
        stderr: stderr.take(),
    });
}

/// The remote command's stdout.
#[derive(Debug)]
pub struct ExecReader {
    queue: mpsc::Receiver<Bytes>,
    pending: Bytes,
}

impl AsyncRead for ExecReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.queue.poll_recv(cx)) {
                Some(bytes) => self.pending = bytes,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(self.pending.len());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The remote command's stdin.
///
/// russh's writer waits for the peer to open its window; a connection that died (keepalives
/// unanswered) never will, so a write or shutdown also ends when the channel has closed.
pub struct ExecWriter {
    inner: Pin<Box<dyn AsyncWrite + Send>>,
    /// Resolves (with an error: its sender is dropped) when the channel has closed; `None`
    /// once it has.
    closed: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for ExecWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecWriter")
    }
}

impl ExecWriter {
    /// True once the channel has closed (and registers for the wake-up when it does).
    fn is_closed(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(closed) = self.closed.as_mut() {
            if Pin::new(closed).poll(cx).is_pending() {
                return false;
            }
            self.closed = None;
        }
        true
    }
}

impl AsyncWrite for ExecWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.is_closed(cx) {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the SSH channel has closed",
            )));
        }
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.is_closed(cx) {
            return Poll::Ready(Ok(()));
        }
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Nothing to end on a closed channel.
        if self.is_closed(cx) {
            return Poll::Ready(Ok(()));
        }
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// How the remote command ended, once it has.
#[derive(Debug)]
pub struct ExecStatus {
    waiting: Option<oneshot::Receiver<ExecEnd>>,
    end: Option<ExecEnd>,
}

impl ExecStatus {
    /// Waits for the command to end (its channel to close). Cancel-safe: a wait cut short by
    /// a timeout can be resumed.
    pub async fn wait(&mut self) -> ExecEnd {
        if let Some(waiting) = self.waiting.as_mut() {
            let end = waiting.await.unwrap_or(ExecEnd {
                exit: RemoteExit::Unknown,
                stderr: Vec::new(),
            });
            self.waiting = None;
            self.end = Some(end);
        }
        self.end.clone().unwrap_or(ExecEnd {
            exit: RemoteExit::Unknown,
            stderr: Vec::new(),
        })
    }
}
