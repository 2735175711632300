//! The agent's dispatcher: reads the client's messages in order and answers each — at once
//! (a refusal), by starting a request's task (`answer`), or by feeding what the client is in the
//! middle of sending (`receive`).
//!
//! What the client may read is checked here: reads — file data, signatures, checksums — are
//! served only beneath a directory the client scanned first (the source set); and what the
//! session's `policy` forbids (reads of a write-only agent, writes to a read-only one, links
//! pointing out of a restricted one) is refused before any work starts.

use std::sync::Arc;

use sy_protocol::{self as wire, ErrorScope, Message};

use super::answer;
use super::policy::Policy;
use super::receive::Incoming;
use super::tasks::{Reply, Workers, protocol};
use crate::{Error, RelPath, Result, ScanOptions, Transport};

/// The agent's state between messages.
pub(super) struct Dispatcher<T> {
    workers: Workers<T>,
    /// Directories the client scanned: reads are served beneath these only.
    sources: Vec<RelPath>,
    incoming: Incoming,
    policy: Policy,
}

impl<T: Transport> Dispatcher<T> {
    pub(super) fn new(transport: Arc<T>, reply: Reply, concurrency: usize, policy: Policy) -> Self {
        Dispatcher {
            workers: Workers::new(transport, reply, concurrency),
            sources: Vec::new(),
            incoming: Incoming::default(),
            policy,
        }
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

    /// Answers one message from the client, or starts the work that will.
    pub(super) async fn handle(&mut self, message: Message) {
        match message {
            Message::Flush => self.incoming.flush_small(&mut self.workers).await,
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
                let options = ScanOptions {
                    base,
                    filter,
                    follow_links,
                };
                let (transport, reply) = self.workers.for_task();
                self.workers
                    .spawn_bounded(answer::scan(transport, reply, id, options))
                    .await;
            }
            Message::ReadRequest {
                id,
                path: requested,
                follow_links,
                delta,
            } => match self
                .readable(requested)
                .and_then(|path| self.policy.read(&path).map(|()| path))
            {
                Ok(path) if delta => {
                    self.incoming
                        .signature_begin(&self.workers.reply, id, path, follow_links)
                        .await;
                }
                Ok(path) => {
                    let (transport, reply) = self.workers.for_task();
                    self.workers
                        .spawn_bounded(answer::read(transport, reply, id, path, follow_links))
                        .await;
                }
                Err(e) => {
                    if delta {
                        self.incoming.refused(id);
                    }
                    self.workers.reply.refuse(id, &e).await;
                }
            },
            Message::SignatureChunk { id, data } => {
                self.incoming
                    .signature_chunk(&self.workers.reply, id, data)
                    .await;
            }
            Message::SignatureEnd { id } => {
                if let Some(read) = self.incoming.signature_end(&self.workers.reply, id).await {
                    let (transport, reply) = self.workers.for_task();
                    self.workers
                        .spawn_bounded(answer::delta(transport, reply, id, read))
                        .await;
                }
            }
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
                    self.workers
                        .reply
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
                        let (transport, reply) = self.workers.for_task();
                        self.workers
                            .spawn_bounded(answer::signature(transport, reply, id, path, basis))
                            .await;
                    }
                    Err(e) => self.workers.reply.refuse(id, &e).await,
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
                            self.workers
                                .reply
                                .error(id, ErrorScope::Item(item as u32), &e)
                                .await;
                        }
                    }
                }
                let (transport, reply) = self.workers.for_task();
                self.workers
                    .spawn_bounded(answer::checksums(transport, reply, id, valid, follow_links))
                    .await;
            }
            Message::TreeOps { id, meta, ops } => {
                let mut allowed = Vec::new();
                for (item, op) in ops.into_iter().enumerate() {
                    let item = item as u32;
                    match self.policy.tree_op(&op) {
                        Ok(()) => allowed.push((item, op)),
                        Err(e) => {
                            let scope = ErrorScope::Item(item);
                            self.workers.reply.error(id, scope, &e).await;
                        }
                    }
                }
                let (transport, reply) = self.workers.for_task();
                self.workers
                    .spawn_bounded(answer::tree_ops(transport, reply, id, allowed, meta))
                    .await;
            }
            Message::FileBegin(header) => match self.policy.write(&header.path) {
                Ok(()) => self.incoming.file_begin(&mut self.workers, header).await,
                Err(e) => {
                    self.incoming.refused(header.id);
                    self.workers.reply.refuse(header.id, &e).await;
                }
            },
            Message::FileChunk { id, offset, data } => {
                self.incoming
                    .file_chunk(&self.workers.reply, id, offset, data)
                    .await;
            }
            Message::FileEnd { id, digest } => {
                self.incoming.file_end(&mut self.workers, id, digest).await;
            }
            Message::DeltaBegin { header, basis } => match self.policy.write(&header.path) {
                Ok(()) => {
                    self.incoming
                        .delta_begin(&mut self.workers, header, basis)
                        .await;
                }
                Err(e) => {
                    self.incoming.refused(header.id);
                    self.workers.reply.refuse(header.id, &e).await;
                }
            },
            Message::DeltaChunk { id, ops } => {
                self.incoming
                    .delta_chunk(&self.workers.reply, id, ops)
                    .await;
            }
            Message::DeltaEnd { id, digest } => self.incoming.delta_end(id, digest).await,
            Message::Error(reply) => self.incoming.client_abort(reply).await,
            other => {
                let kind = other.kind();
                if let Some(id) = other.request_id() {
                    self.workers
                        .reply
                        .refuse(
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

    /// Collects finished tasks (a task's panic goes on here).
    pub(super) fn reap(&mut self) {
        self.workers.reap();
    }

    /// The client is gone: files it was sending stop as interrupted (their partials are kept
    /// for the next run), collected small files are written, running work completes.
    pub(super) async fn finish(&mut self) {
        self.incoming.finish(&mut self.workers).await;
        self.workers.join_all().await;
    }
}
