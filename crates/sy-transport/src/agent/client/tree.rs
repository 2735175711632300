//! The agent's tree-level calls: a scan (each entry checked to lie inside what was listed
//! before it), a batch of tree operations, and the digests of a batch of files; each batch
//! answers per item.

use std::collections::HashSet;
use std::sync::Arc;

use sy_delta::FileDigest;
use sy_protocol::{self as wire, Message};

use super::connection::Client;
use crate::agent::wire_error::error_from_wire;
use crate::{Entry, MetaOptions, RelPath, Result, Scan, ScanOptions, TreeOp};

pub(super) async fn scan(client: &Arc<Client>, options: ScanOptions) -> Result<Scan> {
    let mut call = client.open();
    client
        .send(Message::ScanRequest {
            id: call.id,
            base: options.base.clone(),
            filter: options.filter,
            follow_links: options.follow_links,
        })
        .await?;
    let mut scan = Scan::default();
    let mut tree = TreeCheck::new(&options.base);
    loop {
        match call.next_raw().await? {
            Message::ScanEntries { entries, .. } => {
                for entry in entries {
                    tree.admit(&entry).map_err(|reason| {
                        client.protocol_error(format!("the agent listed {}, {reason}", entry.path))
                    })?;
                    scan.entries.push(entry);
                }
            }
            Message::ScanLeftovers { leftovers, .. } => scan.leftovers.extend(leftovers),
            Message::Error(reply) => {
                let problem = reply.scope == wire::ErrorScope::Problem;
                let error = error_from_wire(&client.location, reply);
                if !problem {
                    return Err(error);
                }
                scan.problems.push(error);
            }
            Message::ScanDone { entries, .. } => {
                if entries != scan.entries.len() as u64 {
                    return Err(client.protocol_error(format!(
                        "the agent announced {entries} entries but sent {}",
                        scan.entries.len()
                    )));
                }
                return Ok(scan);
            }
            other => return Err(call.unexpected(&other)),
        }
    }
}

/// Applies `ops` in order, in requests of at most [`wire::MAX_LIST_ITEMS`] ops.
pub(super) async fn apply(
    client: &Arc<Client>,
    ops: Vec<TreeOp>,
    meta: MetaOptions,
) -> Vec<Result<()>> {
    in_requests(ops, |ops| apply_batch(client, ops, meta)).await
}

async fn apply_batch(client: &Arc<Client>, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
    let len = ops.len();
    let mut call = client.open();
    let request = Message::TreeOps {
        id: call.id,
        meta,
        ops,
    };
    let mut results: Vec<Option<Result<()>>> = (0..len).map(|_| None).collect();
    let outcome = async {
        client.send(request).await?;
        loop {
            match call.next_raw().await? {
                Message::Error(reply) => item_error(&mut results, client, reply)?,
                Message::Ok { .. } => return Ok(()),
                other => return Err(call.unexpected(&other)),
            }
        }
    }
    .await;
    fill(results, outcome, client, || Ok(()))
}

/// The digests of `paths`, in requests of at most [`wire::MAX_LIST_ITEMS`] paths.
pub(super) async fn digests(
    client: &Arc<Client>,
    paths: Vec<RelPath>,
    follow_links: bool,
) -> Vec<Result<FileDigest>> {
    in_requests(paths, |paths| digests_batch(client, paths, follow_links)).await
}

/// The answers to `items`, asked in order in requests of at most [`wire::MAX_LIST_ITEMS`]
/// items (what one frame may carry).
async fn in_requests<I, T, F>(mut items: Vec<I>, mut request: impl FnMut(Vec<I>) -> F) -> Vec<T>
where
    F: Future<Output = Vec<T>>,
{
    let mut answers = Vec::with_capacity(items.len());
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(wire::MAX_LIST_ITEMS));
        answers.extend(request(items).await);
        items = rest;
    }
    answers
}

async fn digests_batch(
    client: &Arc<Client>,
    paths: Vec<RelPath>,
    follow_links: bool,
) -> Vec<Result<FileDigest>> {
    let len = paths.len();
    let mut call = client.open();
    let request = Message::ChecksumRequest {
        id: call.id,
        paths,
        follow_links,
    };
    let mut results: Vec<Option<Result<FileDigest>>> = (0..len).map(|_| None).collect();
    let outcome = async {
        client.send(request).await?;
        loop {
            match call.next_raw().await? {
                Message::Checksums { digests, .. } => {
                    for item in digests {
                        if let Some(slot) = results.get_mut(item.item as usize) {
                            *slot = Some(Ok(item.digest));
                        }
                    }
                }
                Message::Error(reply) => item_error(&mut results, client, reply)?,
                Message::Ok { .. } => return Ok(()),
                other => return Err(call.unexpected(&other)),
            }
        }
    }
    .await;
    fill(results, outcome, client, || {
        Err(client.protocol_error("the agent sent no digest for a requested file".to_owned()))
    })
}

/// Files an error about one item of a batch under that item; any other error ends the batch.
fn item_error<T>(
    results: &mut [Option<Result<T>>],
    client: &Client,
    reply: wire::ErrorReply,
) -> Result<()> {
    match reply.scope {
        wire::ErrorScope::Item(item) if (item as usize) < results.len() => {
            results[item as usize] = Some(Err(error_from_wire(&client.location, reply)));
            Ok(())
        }
        _ => Err(error_from_wire(&client.location, reply)),
    }
}

/// Per-item results of a batch: an item without a reported error gets `unreported()` when the
/// batch completed; when the batch failed as a whole, it gets that failure.
fn fill<T>(
    results: Vec<Option<Result<T>>>,
    outcome: Result<()>,
    client: &Client,
    unreported: impl Fn() -> Result<T>,
) -> Vec<Result<T>> {
    match outcome {
        Ok(()) => results
            .into_iter()
            .map(|r| r.unwrap_or_else(&unreported))
            .collect(),
        Err(e) => {
            // The first item without an error of its own gets the batch's; the rest, a copy.
            let first = results.iter().position(Option::is_none);
            let mut filled: Vec<Result<T>> = results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(client.failed_batch(&e))))
                .collect();
            if let Some(slot) = first.and_then(|i| filled.get_mut(i)) {
                *slot = Err(e);
            }
            filled
        }
    }
}

/// Checks a scan's entries as they arrive: each lies beneath the requested base, inside a
/// directory listed before it, and is listed once, so an entry can never sit beneath a
/// symbolic link or a file the same listing created (the rsync CVE-2024-12087 class) — not
/// even one that names a directory first and the same path as a link afterwards.
struct TreeCheck {
    base: RelPath,
    dirs: HashSet<RelPath>,
    listed: HashSet<RelPath>,
}

impl TreeCheck {
    fn new(base: &RelPath) -> Self {
        TreeCheck {
            base: base.clone(),
            dirs: HashSet::new(),
            listed: HashSet::new(),
        }
    }

    fn admit(&mut self, entry: &Entry) -> std::result::Result<(), &'static str> {
        if entry.path.strip_prefix(&self.base).is_none() {
            return Err("outside the scanned directory");
        }
        if !self.listed.insert(entry.path.clone()) {
            return Err("which it had listed already (one path, two entries)");
        }
        if entry.path != self.base {
            let parent = entry.path.parent().unwrap_or_default();
            if !self.dirs.contains(&parent) {
                return Err(
                    "which is not inside a directory it listed before (a symbolic link or file in the way?)",
                );
            }
        }
        if entry.is_dir() {
            self.dirs.insert(entry.path.clone());
        }
        Ok(())
    }
}
