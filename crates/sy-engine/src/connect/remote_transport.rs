//! The far side of a remote job as one [`Transport`]: the `sy-remote` agent, or SFTP on a host
//! where the agent cannot run (built-in SSH client only).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use sy_transport::{
    Agent, Basis, CompressionPolicy, DeltaSource, Entry, FileDigest, FileWrite, LinkFailure,
    MetaOptions, ReadOptions, RelPath, Result, Scan, ScanOptions, Sftp, SourceFile, TrafficStats,
    Transport, TreeOp, WriteOptions, Written,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The transport of a remote job.
#[derive(Clone)]
pub enum RemoteTransport {
    /// `sy-remote` speaking sy's protocol: deltas, compression, everything.
    Agent(Agent),
    /// SFTP: whole files only; `bytes` counts what crossed its channel.
    Sftp {
        /// The transport.
        sftp: Sftp,
        /// Bytes read from and written to the SFTP channel.
        bytes: Arc<ByteCount>,
    },
}

impl RemoteTransport {
    /// Bytes each way: the agent's own counts, or what crossed the SFTP channel (both the
    /// logical and the wire figure: SFTP does not compress).
    pub fn traffic(&self) -> TrafficStats {
        match self {
            RemoteTransport::Agent(agent) => agent.traffic(),
            RemoteTransport::Sftp { bytes, .. } => {
                let mut stats = TrafficStats::default();
                stats.sent.logical = bytes.sent.load(Ordering::Relaxed);
                stats.sent.wire = stats.sent.logical;
                stats.received.logical = bytes.received.load(Ordering::Relaxed);
                stats.received.wire = stats.received.logical;
                stats
            }
        }
    }

    /// The compression the agent's session agreed on; none over SFTP or before the handshake.
    pub fn compression(&self) -> Option<CompressionPolicy> {
        match self {
            RemoteTransport::Agent(agent) => agent.compression(),
            RemoteTransport::Sftp { .. } => None,
        }
    }

    /// True once the far side answered: the agent's handshake, or the SFTP session (which is
    /// set up before the transport exists).
    pub fn established(&self) -> bool {
        match self {
            RemoteTransport::Agent(agent) => agent.established(),
            RemoteTransport::Sftp { .. } => true,
        }
    }

    /// Why the agent's link broke, if it did (an SFTP failure is reported per file).
    pub fn failure(&self) -> Option<LinkFailure> {
        match self {
            RemoteTransport::Agent(agent) => agent.failure(),
            RemoteTransport::Sftp { .. } => None,
        }
    }

    /// Ends the agent's session (waiting for its last answers); nothing to do for SFTP,
    /// whose channel closes with the connection.
    pub async fn close(&self) {
        if let RemoteTransport::Agent(agent) = self {
            agent.close().await;
        }
    }
}

impl Transport for RemoteTransport {
    fn location(&self) -> &str {
        match self {
            RemoteTransport::Agent(agent) => agent.location(),
            RemoteTransport::Sftp { sftp, .. } => sftp.location(),
        }
    }

    fn prefers_whole_file(&self) -> bool {
        match self {
            RemoteTransport::Agent(agent) => agent.prefers_whole_file(),
            RemoteTransport::Sftp { sftp, .. } => sftp.prefers_whole_file(),
        }
    }

    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        match self {
            RemoteTransport::Agent(agent) => agent.scan(options).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.scan(options).await,
        }
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        match self {
            RemoteTransport::Agent(agent) => agent.read_files(files, options).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.read_files(files, options).await,
        }
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        match self {
            RemoteTransport::Agent(agent) => agent.write_files(files, options).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.write_files(files, options).await,
        }
    }

    async fn signature(&self, path: RelPath, basis: Basis) -> Result<Option<sy_delta::Signature>> {
        match self {
            RemoteTransport::Agent(agent) => agent.signature(path, basis).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.signature(path, basis).await,
        }
    }

    async fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        match self {
            RemoteTransport::Agent(agent) => agent.delta(entry, signature, options).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.delta(entry, signature, options).await,
        }
    }

    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        match self {
            RemoteTransport::Agent(agent) => agent.apply_delta(path, basis, delta, options).await,
            RemoteTransport::Sftp { sftp, .. } => {
                sftp.apply_delta(path, basis, delta, options).await
            }
        }
    }

    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        match self {
            RemoteTransport::Agent(agent) => agent.checksums(paths, follow_links).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.checksums(paths, follow_links).await,
        }
    }

    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        match self {
            RemoteTransport::Agent(agent) => agent.apply(ops, meta).await,
            RemoteTransport::Sftp { sftp, .. } => sftp.apply(ops, meta).await,
        }
    }
}

/// Bytes that crossed a stream, each way.
#[derive(Debug, Default)]
pub struct ByteCount {
    sent: AtomicU64,
    received: AtomicU64,
}

/// A byte stream whose traffic is added to a [`ByteCount`].
pub struct Counted<S> {
    inner: S,
    count: Arc<ByteCount>,
}

impl<S> Counted<S> {
    /// `inner`, counted into `count`.
    pub fn new(inner: S, count: Arc<ByteCount>) -> Self {
        Counted { inner, count }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count
            .received
            .fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.count.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
