//! Many requests in flight for one file: open handles that always get closed, reads that
//! arrive in order while later ones are already on the wire, and writes acknowledged in a window.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::{JoinHandle, JoinSet};

use super::{Inner, WINDOW, io_error, session_closed};
use crate::{Error, Result};

/// An open remote file or directory. Closed by [`Handle::close`]; dropped unclosed (an error
/// or a cancelled task), it is closed in the background so the server does not keep it.
pub(super) struct Handle {
    inner: Arc<Inner>,
    name: Option<String>,
    slot: Option<OwnedSemaphorePermit>,
}

impl Handle {
    /// The server's name for it, as requests carry it.
    pub(super) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Closes it and waits for the server's answer (a failed close can mean lost writes).
    pub(super) async fn close(mut self) -> Result<(), SftpError> {
        let result = match self.name.take() {
            Some(name) => self.inner.session.close(name).await.map(|_| ()),
            None => Ok(()),
        };
        self.slot = None;
        result
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        let slot = self.slot.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = inner.session.close(name).await;
                drop(slot);
            });
        }
    }
}

impl Inner {
    /// Opens `remote`, first waiting until fewer than the allowed handles are open.
    pub(super) async fn open(
        self: &Arc<Self>,
        remote: &str,
        flags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, SftpError> {
        let slot = self.handle_slot().await?;
        let handle = self.session.open(remote, flags, attrs).await?;
        Ok(Handle {
            inner: Arc::clone(self),
            name: Some(handle.handle),
            slot: Some(slot),
        })
    }

    /// Opens the directory `remote` for listing.
    pub(super) async fn open_dir(self: &Arc<Self>, remote: &str) -> Result<Handle, SftpError> {
        let slot = self.handle_slot().await?;
        let handle = self.session.opendir(remote).await?;
        Ok(Handle {
            inner: Arc::clone(self),
            name: Some(handle.handle),
            slot: Some(slot),
        })
    }

    /// Every entry of the directory `remote` with its attributes (as the server's `lstat`
    /// sees them, for OpenSSH), `.` and `..` included.
    pub(super) async fn list(
        self: &Arc<Self>,
        remote: &str,
    ) -> Result<Vec<russh_sftp::protocol::File>, SftpError> {
        let handle = self.open_dir(remote).await?;
        let mut files = Vec::new();
        loop {
            match self.session.readdir(handle.name()).await {
                Ok(name) => files.extend(name.files),
                Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => break,
                Err(e) => return Err(e),
            }
        }
        handle.close().await?;
        Ok(files)
    }
}

/// One read on the wire.
struct PendingRead {
    offset: u64,
    len: u32,
    task: JoinHandle<Result<Vec<u8>, SftpError>>,
}

/// Reads `size` bytes of an open file in order, with up to [`WINDOW`] requests in flight.
pub(super) struct Reader {
    inner: Arc<Inner>,
    handle: String,
    size: u64,
    requested: u64,
    pending: VecDeque<PendingRead>,
}

impl Reader {
    pub(super) fn new(inner: &Arc<Inner>, handle: &Handle, size: u64) -> Reader {
        Reader {
            inner: Arc::clone(inner),
            handle: handle.name().to_owned(),
            size,
            requested: 0,
            pending: VecDeque::with_capacity(WINDOW),
        }
    }

    /// The next piece of the file, `None` once `size` bytes came. A file that ends sooner
    /// fails with `UnexpectedEof` (it shrank since it was measured).
    pub(super) async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.fill().await?;
        let Some(front) = self.pending.pop_front() else {
            return Ok(None);
        };
        let mut data = join(front.task).await?;
        // A short answer is allowed anywhere (the server may cap reads): ask for the rest of
        // this piece before going on; the later requests are already on their way.
        while data.len() < front.len as usize {
            let offset = front.offset + data.len() as u64;
            let missing = front.len - data.len() as u32;
            let more = read_piece(&self.inner, self.handle.clone(), offset, missing)
                .await
                .map_err(io_error)?;
            if more.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended early",
                ));
            }
            data.extend_from_slice(&more);
        }
        Ok(Some(data))
    }

    async fn fill(&mut self) -> io::Result<()> {
        while self.pending.len() < WINDOW && self.requested < self.size {
            let slot = self.inner.request_slot().await?;
            let len = (self.size - self.requested).min(u64::from(self.inner.features.read_len));
            let len = u32::try_from(len).unwrap_or(self.inner.features.read_len);
            let offset = self.requested;
            let inner = Arc::clone(&self.inner);
            let handle = self.handle.clone();
            let task = tokio::spawn(async move {
                let _slot = slot;
                read_piece(&inner, handle, offset, len).await
            });
            self.pending.push_back(PendingRead { offset, len, task });
            self.requested += u64::from(len);
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        for read in &self.pending {
            read.task.abort();
        }
    }
}

/// One read request: the bytes (fewer than asked is allowed; none means end of file).
async fn read_piece(
    inner: &Inner,
    handle: String,
    offset: u64,
    len: u32,
) -> Result<Vec<u8>, SftpError> {
    match inner.session.read(handle, offset, len).await {
        Ok(data) if data.data.len() > len as usize => Err(SftpError::UnexpectedBehavior(
            "the server sent more bytes than asked for".to_owned(),
        )),
        Ok(data) => Ok(data.data),
        Err(SftpError::Status(status)) if status.status_code == StatusCode::Eof => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Writes a stream of bytes to an open file in requests of the server's write size, with up
/// to [`WINDOW`] unacknowledged at a time.
pub(super) struct Writer {
    inner: Arc<Inner>,
    handle: String,
    offset: u64,
    buf: Vec<u8>,
    pending: VecDeque<JoinHandle<Result<(), SftpError>>>,
}

impl Writer {
    pub(super) fn new(inner: &Arc<Inner>, handle: &Handle) -> Writer {
        Writer {
            inner: Arc::clone(inner),
            handle: handle.name().to_owned(),
            offset: 0,
            buf: Vec::new(),
            pending: VecDeque::with_capacity(WINDOW),
        }
    }

    /// Bytes pushed so far.
    pub(super) fn len(&self) -> u64 {
        self.offset + self.buf.len() as u64
    }

    /// Appends `data`; full requests go out at once.
    pub(super) async fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        let request = self.inner.features.write_len as usize;
        while !data.is_empty() {
            let take = (request - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == request {
                let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(request));
                self.send(piece).await?;
            }
        }
        Ok(())
    }

    /// Appends `piece`, sent as it is (no copy) when it makes a whole request by itself.
    pub(super) async fn push_owned(&mut self, piece: Vec<u8>) -> io::Result<()> {
        if self.buf.is_empty() && piece.len() == self.inner.features.write_len as usize {
            self.send(piece).await
        } else {
            self.push(&piece).await
        }
    }

    /// Sends what is buffered and waits until the server acknowledged every write.
    pub(super) async fn finish(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let piece = std::mem::take(&mut self.buf);
            self.send(piece).await?;
        }
        while let Some(task) = self.pending.pop_front() {
            join(task).await?;
        }
        Ok(())
    }

    async fn send(&mut self, piece: Vec<u8>) -> io::Result<()> {
        while self.pending.len() >= WINDOW
            || self.pending.front().is_some_and(JoinHandle::is_finished)
        {
            if let Some(task) = self.pending.pop_front() {
                join(task).await?;
            }
        }
        let slot = self.inner.request_slot().await?;
        let inner = Arc::clone(&self.inner);
        let handle = self.handle.clone();
        let offset = self.offset;
        self.offset += piece.len() as u64;
        self.pending.push_back(tokio::spawn(async move {
            let _slot = slot;
            inner.session.write(handle, offset, piece).await.map(|_| ())
        }));
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        for task in &self.pending {
            task.abort();
        }
    }
}

/// The result of a request task.
async fn join<T>(task: JoinHandle<Result<T, SftpError>>) -> io::Result<T> {
    match task.await {
        Ok(result) => result.map_err(io_error),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(session_closed()),
    }
}

/// Runs `work` on every item, at most `limit` at a time, each as its own task; results come
/// back in the items' order (a task that was cancelled reads as interrupted).
pub(super) async fn bounded<T, R, F, Fut>(items: Vec<T>, limit: usize, work: F) -> Vec<Result<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
{
    let mut results: Vec<Option<Result<R>>> = (0..items.len()).map(|_| None).collect();
    let mut items = items.into_iter().enumerate();
    let mut running = JoinSet::new();
    loop {
        while running.len() < limit.max(1) {
            let Some((index, item)) = items.next() else {
                break;
            };
            let task = work(item);
            running.spawn(async move { (index, task.await) });
        }
        match running.join_next().await {
            Some(Ok((index, result))) => results[index] = Some(result),
            Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Some(Err(_)) => {}
            None => break,
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Error::Interrupted)))
        .collect()
}
