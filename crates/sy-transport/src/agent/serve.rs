//! The agent side: requests from a client served with any [`Transport`] (in `sy-remote`, the
//! [`crate::Local`] backend of the root it was given).
//!
//! One dispatcher task reads requests in order. Work that reads or computes (scans, reads for
//! pulls, signatures, deltas, checksums, tree operations, batches of small files) runs in tasks
//! bounded by a semaphore; files being pushed stream into their writers as their chunks arrive.
//! Small pushed files are collected in memory and written in one batch per client flush.
//!
//! What the client may ask is checked here: every path is a clean [`RelPath`] (writes are then
//! confined beneath the root by the transport, which never follows a symbolic link on the way),
//! and reads — file data, signatures, checksums — are served only beneath a directory the client
//! scanned first (the source set) and beneath the root; with `-L` (follow links) a symbolic link
//! in the source set is followed wherever it points, as rsync does. This narrows a confused
//! client; it is not a sandbox for a hostile one, which logged in through the remote shell and
//! can read what that login can. The client side is never asked for anything by the agent.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sy_protocol::{
    self as wire, Endpoint, ErrorScope, Hello, Message, ProtocolError, RequestId, Role,
    TrafficStats,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::MAX_SIGNATURE;
use super::link::{self, AfterPeerEnds, LinkState, Out};
use super::serve_send;
use super::wire_error::error_to_wire;

mod upload;

use crate::{
    Cancel, DeltaChunk, Entry, EntryKind, Error, Meta, NoProgress, RelPath, Result, Transport,
    WriteOptions,
};
use upload::{SmallFile, Upload};

/// Pushed files up to this size are collected in memory and written in batches.
const SMALL_FILE: u64 = 128 << 10;
/// A batch of small files is written once it holds this many bytes…
const SMALL_BATCH_BYTES: u64 = 4 << 20;
/// …or this many files (or when the client flushes).
const SMALL_BATCH_FILES: usize = 256;
/// Chunks queued for a file's writer.
const STREAM_QUEUE: usize = 8;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests worked on at once (scans, reads, signatures, batches); streams of pushed files
    /// are not counted, the client bounds those.
    pub concurrency: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
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
    let mut server = Server {
        transport,
        out: link.out,
        state: Arc::clone(&link.state),
        permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
        tasks: JoinSet::new(),
        sources: Vec::new(),
        uploads: HashMap::new(),
        signatures: HashMap::new(),
        small: Vec::new(),
        small_bytes: 0,
    };
    while let Some(message) = link.inbound.recv().await {
        server.handle(message).await;
        while let Some(joined) = server.tasks.try_join_next() {
            if let Err(e) = joined
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    server.finish().await;
    let state = Arc::clone(&server.state);
    // Dropping the last sender lets the driver write out what is queued and close.
    drop(server);
    let _ = link.done.await;
    match state.failure() {
        Some(failure) => Err(failure.to_error(CLIENT)),
        None => Ok(state.stats()),
    }
}

/// A pull of a delta: the client's signature, arriving.
struct SignatureIn {
    path: RelPath,
    follow_links: bool,
    bytes: BytesMut,
}

struct Server<T> {
    transport: Arc<T>,
    out: mpsc::Sender<Out>,
    state: Arc<LinkState>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// Directories the client scanned: reads are served beneath these only.
    sources: Vec<RelPath>,
    uploads: HashMap<u64, Upload>,
    signatures: HashMap<u64, SignatureIn>,
    small: Vec<SmallFile>,
    small_bytes: u64,
}

/// A clone of what a request task needs to answer.
#[derive(Clone)]
pub(super) struct Reply {
    pub(super) out: mpsc::Sender<Out>,
    state: Arc<LinkState>,
}

impl Reply {
    /// Whether the session compresses, so incompressible data is worth detecting.
    pub(super) fn compressing(&self) -> bool {
        self.state
            .session()
            .is_some_and(|s| s.compression.is_some())
    }

    pub(super) async fn send(&self, message: Message) {
        // A closed queue means the connection is gone; the dispatcher notices and ends.
        let _ = self.out.send(Out::new(message)).await;
    }

    pub(super) async fn error(&self, id: RequestId, scope: ErrorScope, error: &Error) {
        self.send(error_to_wire(id, scope, error)).await;
    }
}

fn entry_for(path: RelPath, size: u64, meta: Meta) -> Entry {
    Entry {
        path,
        kind: EntryKind::File,
        size,
        meta,
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

fn write_options(options: wire::WriteOptions) -> WriteOptions {
    WriteOptions {
        meta: options.meta,
        sparse: options.sparse,
        cancel: Cancel::default(),
        progress: Arc::new(NoProgress),
    }
}

/// How the agent names its peer in messages.
const CLIENT: &str = "the client";

/// A request that breaks the conversation's rules, refused on its own: the session goes on.
fn protocol(reason: String) -> Error {
    Error::Protocol {
        location: CLIENT.to_owned(),
        source: ProtocolError::violation(reason),
    }
}

impl<T: Transport> Server<T> {
    fn reply(&self) -> Reply {
        Reply {
            out: self.out.clone(),
            state: Arc::clone(&self.state),
        }
    }

    async fn refuse(&self, id: RequestId, error: &Error) {
        self.reply().error(id, ErrorScope::Request, error).await;
    }

    /// Runs `work` once a permit is free (waiting here holds back reading more requests).
    async fn spawn_bounded<F>(&mut self, work: F)
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

    /// `path` if the client may read it: beneath a directory it scanned (the decoder already
    /// made sure it is a clean relative path).
    fn readable(&self, path: RelPath) -> Result<RelPath> {
        if self
            .sources
            .iter()
            .any(|base| path.strip_prefix(base).is_some())
        {
            Ok(path)
        } else {
            Err(Error::InvalidPath {
                path: path.to_string(),
                reason: "outside the source set (scan it first)",
            })
        }
    }

    async fn handle(&mut self, message: Message) {
        match message {
            Message::Flush => self.flush_small().await,
            Message::Goodbye => {}
            Message::ScanRequest {
                id,
                base,
                filter,
                follow_links,
            } => {
                if !self.sources.contains(&base) {
                    self.sources.push(base.clone());
                }
                let options = crate::ScanOptions {
                    base,
                    filter,
                    follow_links,
                };
                let (transport, reply) = (Arc::clone(&self.transport), self.reply());
                self.spawn_bounded(serve_send::scan(transport, reply, id, options))
                    .await;
            }
            Message::ReadRequest {
                id,
                path: requested,
                follow_links,
                delta,
            } => match self.readable(requested) {
                Ok(path) if delta => {
                    self.signatures.insert(
                        id.0,
                        SignatureIn {
                            path,
                            follow_links,
                            bytes: BytesMut::new(),
                        },
                    );
                }
                Ok(path) => {
                    let (transport, reply) = (Arc::clone(&self.transport), self.reply());
                    self.spawn_bounded(serve_send::read(transport, reply, id, path, follow_links))
                        .await;
                }
                Err(e) => {
                    if delta {
                        self.uploads.insert(id.0, Upload::Refused);
                    }
                    self.refuse(id, &e).await;
                }
            },
            Message::SignatureChunk { id, data } => self.signature_chunk(id, data).await,
            Message::SignatureEnd { id } => self.signature_end(id).await,
            Message::SignatureRequest {
                id,
                path: requested,
                basis,
                block_size,
                strong_len,
            } => {
                if block_size.is_some() || strong_len.is_some() {
                    let error =
                        protocol("this agent picks block sizes and hash lengths itself".to_owned());
                    self.reply()
                        .send(Message::Error(wire::ErrorReply {
                            id,
                            scope: ErrorScope::Request,
                            kind: wire::ErrorKind::Unsupported,
                            path: requested.as_bytes().to_vec(),
                            message: error.to_string(),
                        }))
                        .await;
                    return;
                }
                match self.readable(requested) {
                    Ok(path) => {
                        let (transport, reply) = (Arc::clone(&self.transport), self.reply());
                        self.spawn_bounded(serve_send::signature(
                            transport, reply, id, path, basis,
                        ))
                        .await;
                    }
                    Err(e) => self.refuse(id, &e).await,
                }
            }
            Message::ChecksumRequest {
                id,
                paths,
                follow_links,
            } => {
                let mut valid = Vec::new();
                for (item, requested) in paths.into_iter().enumerate() {
                    match self.readable(requested) {
                        Ok(path) => valid.push((item as u32, path)),
                        Err(e) => {
                            self.reply()
                                .error(id, ErrorScope::Item(item as u32), &e)
                                .await;
                        }
                    }
                }
                let (transport, reply) = (Arc::clone(&self.transport), self.reply());
                self.spawn_bounded(serve_send::checksums(
                    transport,
                    reply,
                    id,
                    valid,
                    follow_links,
                ))
                .await;
            }
            Message::TreeOps { id, meta, ops } => {
                let (transport, reply) = (Arc::clone(&self.transport), self.reply());
                self.spawn_bounded(serve_send::tree_ops(transport, reply, id, ops, meta))
                    .await;
            }
            Message::FileBegin(header) => self.file_begin(header).await,
            Message::FileChunk { id, offset, data } => self.file_chunk(id, offset, data).await,
            Message::FileEnd { id, digest } => self.file_end(id, digest).await,
            Message::DeltaBegin { header, basis } => self.delta_begin(header, basis).await,
            Message::DeltaChunk { id, ops } => self.delta_chunk(id, ops).await,
            Message::DeltaEnd { id, digest } => {
                if let Some(Upload::Delta { ops }) = self.uploads.remove(&id.0) {
                    let _ = ops.send(Ok(DeltaChunk::End { digest })).await;
                }
            }
            Message::Error(reply) => self.client_abort(reply).await,
            other => {
                let kind = other.kind();
                if let Some(id) = other.request_id() {
                    self.refuse(
                        id,
                        &protocol(format!("a client does not send {kind} frames")),
                    )
                    .await;
                } else {
                    tracing::warn!("ignoring an unexpected {kind} frame from the client");
                }
            }
        }
    }

    async fn signature_chunk(&mut self, id: RequestId, data: Bytes) {
        let Some(incoming) = self.signatures.get_mut(&id.0) else {
            if !matches!(self.uploads.get(&id.0), Some(Upload::Refused)) {
                self.refuse(
                    id,
                    &protocol(format!(
                        "signature data for request {id}, which is not a delta read"
                    )),
                )
                .await;
            }
            return;
        };
        if incoming.bytes.len() + data.len() > MAX_SIGNATURE {
            self.signatures.remove(&id.0);
            self.uploads.insert(id.0, Upload::Refused);
            self.refuse(
                id,
                &protocol(format!("a signature over {MAX_SIGNATURE} bytes")),
            )
            .await;
            return;
        }
        incoming.bytes.extend_from_slice(&data);
    }

    async fn signature_end(&mut self, id: RequestId) {
        let Some(incoming) = self.signatures.remove(&id.0) else {
            if !matches!(self.uploads.remove(&id.0), Some(Upload::Refused)) {
                self.refuse(
                    id,
                    &protocol(format!(
                        "end of a signature for request {id}, which is not a delta read"
                    )),
                )
                .await;
            }
            return;
        };
        let signature = match sy_delta::Signature::from_bytes(&incoming.bytes) {
            Ok(signature) => signature,
            Err(source) => {
                let error = Error::Delta {
                    path: incoming.path.to_string(),
                    source,
                };
                self.refuse(id, &error).await;
                return;
            }
        };
        let max = self
            .state
            .session()
            .map_or(wire::MAX_STRONG_LEN, |s| s.max_strong_len);
        if signature.strong_len() > max {
            let error = protocol(format!(
                "the signature for {} uses {}-byte strong hashes, over the negotiated maximum of {max}",
                incoming.path,
                signature.strong_len()
            ));
            self.refuse(id, &error).await;
            return;
        }
        let (transport, reply) = (Arc::clone(&self.transport), self.reply());
        self.spawn_bounded(serve_send::delta(
            transport,
            reply,
            id,
            incoming.path,
            signature,
            incoming.follow_links,
        ))
        .await;
    }

    /// The client is gone: files it was sending stop as interrupted (their partials are kept
    /// for the next run), collected small files are written, running work completes.
    async fn finish(&mut self) {
        for (_, upload) in self.uploads.drain() {
            match upload {
                Upload::Stream { chunks, .. } => {
                    let _ = chunks.send(Err(Error::Interrupted)).await;
                }
                Upload::Delta { ops } => {
                    let _ = ops.send(Err(Error::Interrupted)).await;
                }
                Upload::Small { .. } | Upload::Refused => {}
            }
        }
        self.flush_small().await;
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}
