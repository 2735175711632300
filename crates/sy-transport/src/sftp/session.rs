//! `russh-sftp`'s raw session, made to fail fast once its stream is gone.
//!
//! When the stream ends, `russh-sftp` fails the requests it is waiting on, but a request sent
//! in the moment between that and its writer task stopping waits for its timeout (minutes).
//! So the stream is watched: when it reports end of file, an error, or is dropped (both of the
//! session's tasks have stopped), every request still waiting, or made later, fails at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::rawsession::{Limits, SftpResult};
use russh_sftp::client::{Config, RawSftpSession};
use russh_sftp::extensions::LimitsExtension;
use russh_sftp::protocol::{
    Attrs, Data, FileAttributes, Handle, Name, OpenFlags, Packet, Status, Version,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Set once the stream is gone.
#[derive(Default)]
struct Ended {
    flag: AtomicBool,
    notify: Notify,
}

impl Ended {
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The session's stream, reporting its end.
struct Watched<S> {
    stream: S,
    ended: Arc<Ended>,
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        self.ended.set();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if asked && buf.filled().len() == before => self.ended.set(),
            Poll::Ready(Err(_)) => self.ended.set(),
            _ => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Err(_)) = &polled {
            self.ended.set();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ended.set();
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The raw session with every request raced against the end of its stream.
pub(super) struct Session {
    raw: RawSftpSession,
    ended: Arc<Ended>,
}

impl Session {
    pub(super) fn new<S>(stream: S, config: Config) -> Session
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ended = Arc::new(Ended::default());
        let watched = Watched {
            stream,
            ended: Arc::clone(&ended),
        };
        Session {
            raw: RawSftpSession::new_with_config(watched, config),
            ended,
        }
    }

    /// The request's answer, or an error as soon as the stream is gone.
    async fn guard<T>(&self, request: impl Future<Output = SftpResult<T>>) -> SftpResult<T> {
        tokio::select! {
            biased;
            answer = request => answer,
            () = self.ended.wait() => Err(SftpError::UnexpectedBehavior(
                "the connection closed".to_owned(),
            )),
        }
    }

    pub(super) fn set_limits(&mut self, limits: Limits) {
        self.raw.set_limits(limits);
    }

    pub(super) async fn init(&self) -> SftpResult<Version> {
        self.guard(self.raw.init()).await
    }

    pub(super) async fn limits(&self) -> SftpResult<LimitsExtension> {
        self.guard(self.raw.limits()).await
    }

    pub(super) async fn open(
        &self,
        path: impl Into<String>,
        flags: OpenFlags,
        attrs: FileAttributes,
    ) -> SftpResult<Handle> {
        self.guard(self.raw.open(path, flags, attrs)).await
    }

    pub(super) async fn close(&self, handle: impl Into<String>) -> SftpResult<Status> {
        self.guard(self.raw.close(handle)).await
    }

    pub(super) async fn read(
        &self,
        handle: impl Into<String>,
        offset: u64,
        len: u32,
    ) -> SftpResult<Data> {
        self.guard(self.raw.read(handle, offset, len)).await
    }

    pub(super) async fn write(
        &self,
        handle: impl Into<String>,
        offset: u64,
        data: Vec<u8>,
    ) -> SftpResult<Status> {
        self.guard(self.raw.write(handle, offset, data)).await
    }

    pub(super) async fn lstat(&self, path: impl Into<String>) -> SftpResult<Attrs> {
        self.guard(self.raw.lstat(path)).await
    }

    pub(super) async fn stat(&self, path: impl Into<String>) -> SftpResult<Attrs> {
        self.guard(self.raw.stat(path)).await
    }

    pub(super) async fn fstat(&self, handle: impl Into<String>) -> SftpResult<Attrs> {
        self.guard(self.raw.fstat(handle)).await
    }

    pub(super) async fn setstat(
        &self,
        path: impl Into<String>,
        attrs: FileAttributes,
    ) -> SftpResult<Status> {
        self.guard(self.raw.setstat(path, attrs)).await
    }

    pub(super) async fn fsetstat(
        &self,
        handle: impl Into<String>,
        attrs: FileAttributes,
    ) -> SftpResult<Status> {
        self.guard(self.raw.fsetstat(handle, attrs)).await
    }

    pub(super) async fn opendir(&self, path: impl Into<String>) -> SftpResult<Handle> {
        self.guard(self.raw.opendir(path)).await
    }

    pub(super) async fn readdir(&self, handle: impl Into<String>) -> SftpResult<Name> {
        self.guard(self.raw.readdir(handle)).await
    }

    pub(super) async fn remove(&self, path: impl Into<String>) -> SftpResult<Status> {
        self.guard(self.raw.remove(path)).await
    }

    pub(super) async fn mkdir(
        &self,
        path: impl Into<String>,
        attrs: FileAttributes,
    ) -> SftpResult<Status> {
        self.guard(self.raw.mkdir(path, attrs)).await
    }

    pub(super) async fn rmdir(&self, path: impl Into<String>) -> SftpResult<Status> {
        self.guard(self.raw.rmdir(path)).await
    }

    pub(super) async fn realpath(&self, path: impl Into<String>) -> SftpResult<Name> {
        self.guard(self.raw.realpath(path)).await
    }

    pub(super) async fn rename(
        &self,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> SftpResult<Status> {
        self.guard(self.raw.rename(from, to)).await
    }

    pub(super) async fn readlink(&self, path: impl Into<String>) -> SftpResult<Name> {
        self.guard(self.raw.readlink(path)).await
    }

    /// `SSH_FXP_SYMLINK` with its two paths in the order given (see the caller for OpenSSH's).
    pub(super) async fn symlink(
        &self,
        first: impl Into<String>,
        second: impl Into<String>,
    ) -> SftpResult<Status> {
        self.guard(self.raw.symlink(first, second)).await
    }

    pub(super) async fn hardlink(
        &self,
        existing: impl Into<String>,
        new: impl Into<String>,
    ) -> SftpResult<Status> {
        self.guard(self.raw.hardlink(existing, new)).await
    }

    pub(super) async fn extended(&self, request: &str, data: Vec<u8>) -> SftpResult<Packet> {
        self.guard(self.raw.extended(request, data)).await
    }
}
