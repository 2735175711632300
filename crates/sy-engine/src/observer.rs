//! What the engine tells the outside world while it works: an [`Observer`] receives every
//! event of a run (a terminal UI draws them, a test records them, a service logs them).

use std::sync::Arc;
use std::time::Duration;

use sy_transport::{Progress, RelPath};

use crate::change::Change;

/// What the run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Listing both trees.
    Scanning,
    /// Computing digests of same-size files to compare them by content.
    Checksumming,
    /// Comparing the listings into a plan.
    Comparing,
    /// Writing files.
    Transferring,
}

impl Phase {
    /// The word for it in output: `scanning`, `checksumming`, `comparing`, `transferring`.
    pub fn word(self) -> &'static str {
        match self {
            Phase::Scanning => "scanning",
            Phase::Checksumming => "checksumming",
            Phase::Comparing => "comparing",
            Phase::Transferring => "transferring",
        }
    }
}

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A new file.
    Create,
    /// A changed file rewritten.
    Update,
    /// A directory created.
    Mkdir,
    /// A symbolic link created or replaced.
    Symlink,
    /// A hard link created.
    HardLink,
    /// Attributes fixed, content unchanged.
    Meta,
    /// Removed from the destination (extraneous with [`delete`](crate::SyncOptions::delete),
    /// or in the way of an entry of another kind).
    Delete,
}

impl Action {
    /// The word used in output and JSON.
    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Mkdir => "mkdir",
            Action::Symlink => "symlink",
            Action::HardLink => "hardlink",
            Action::Meta => "meta",
            Action::Delete => "delete",
        }
    }
}

/// The outcome of one action.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// Bytes sent from the source.
    pub literal: u64,
    /// Bytes reused from the destination's old version or partial.
    pub matched: u64,
    /// Time taken (for batched small files, the batch's time).
    pub elapsed: Duration,
    /// How the path changed, attribute by attribute (`None` where the engine does not say).
    pub change: Option<Change>,
}

/// What one job found and will do, once both sides are scanned and compared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Planned {
    /// Entries found in the source.
    pub source_entries: u64,
    /// Entries found in the destination.
    pub destination_entries: u64,
    /// Files whose content will be written.
    pub files: u64,
    /// Their total size: the bytes that must move (or be rebuilt from a delta).
    pub bytes: u64,
    /// Size of all files in the source, changed or not.
    pub source_bytes: u64,
}

/// A connection to a remote side was lost and is about to be made again.
#[derive(Debug, Clone)]
pub struct Retrying {
    /// What happened to the connection.
    pub message: String,
    /// The wait before reconnecting.
    pub wait: Duration,
    /// The attempt about to start (the first retry is attempt 2).
    pub attempt: u32,
    /// Attempts allowed in all (the retries + 1).
    pub attempts: u32,
}

/// Receives the events of a run. Every method does nothing by default: implement the ones
/// you need. Methods are called from several threads at once (file workers), so keep them
/// quick.
pub trait Observer: Send + Sync {
    /// The job has reached `phase`.
    fn phase(&self, phase: Phase) {
        let _ = phase;
    }
    /// Scanning and comparing are done; what the job will do.
    fn planned(&self, planned: &Planned) {
        let _ = planned;
    }
    /// A worker begins writing `path` (`size` bytes).
    fn started(&self, action: Action, path: &RelPath, size: u64) {
        let _ = (action, path, size);
    }
    /// `bytes` more of `path` have been written at the destination.
    fn advance(&self, path: &RelPath, bytes: u64) {
        let _ = (path, bytes);
    }
    /// `path` is left alone; `reason` is a word such as `unchanged`, `newer`, `existing`.
    fn skipped(&self, path: &RelPath, reason: &str) {
        let _ = (path, reason);
    }
    /// `path` was (or, in a dry run, would be) handled by `action`.
    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        let _ = (action, path, done);
    }
    /// Something failed; `message` names the path and the cause. `path` is `None` for a
    /// failure of the whole job or connection.
    fn failed(&self, path: Option<&RelPath>, message: &str) {
        let _ = (path, message);
    }
    /// Something was skipped or will not happen, for a reason the user should see.
    fn warning(&self, message: &str) {
        let _ = message;
    }
    /// The connection to a remote side was lost; the job will run again after a wait.
    fn retrying(&self, retrying: &Retrying) {
        let _ = retrying;
    }
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Hands a transport's byte progress to an observer.
pub(crate) struct ProgressTo<O: ?Sized>(pub(crate) Arc<O>);

impl<O: Observer + ?Sized> Progress for ProgressTo<O> {
    fn advance(&self, path: &RelPath, bytes: u64) {
        self.0.advance(path, bytes);
    }
}

impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn phase(&self, phase: Phase) {
        (**self).phase(phase);
    }
    fn planned(&self, planned: &Planned) {
        (**self).planned(planned);
    }
    fn started(&self, action: Action, path: &RelPath, size: u64) {
        (**self).started(action, path, size);
    }
    fn advance(&self, path: &RelPath, bytes: u64) {
        (**self).advance(path, bytes);
    }
    fn skipped(&self, path: &RelPath, reason: &str) {
        (**self).skipped(path, reason);
    }
    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        (**self).done(action, path, done);
    }
    fn failed(&self, path: Option<&RelPath>, message: &str) {
        (**self).failed(path, message);
    }
    fn warning(&self, message: &str) {
        (**self).warning(message);
    }
    fn retrying(&self, retrying: &Retrying) {
        (**self).retrying(retrying);
    }
}

/// The events a wrapping observer changes ([`Forward`]); by default each passes on to the next
/// observer unchanged.
pub(crate) trait Intercept: Send + Sync {
    /// Byte progress on `path`.
    fn advance(&self, next: &dyn Observer, path: &RelPath, bytes: u64) {
        next.advance(path, bytes);
    }
    /// A failure.
    fn failed(&self, next: &dyn Observer, path: Option<&RelPath>, message: &str) {
        next.failed(path, message);
    }
}

/// `next`, with the events that `intercept` handles changed and every other passed on.
pub(crate) struct Forward<O, I> {
    /// Where the events go.
    pub(crate) next: Arc<O>,
    /// What is done differently.
    pub(crate) intercept: I,
}

impl<O: Observer, I: Intercept> Observer for Forward<O, I> {
    fn advance(&self, path: &RelPath, bytes: u64) {
        self.intercept.advance(&*self.next, path, bytes);
    }
    fn phase(&self, phase: Phase) {
        self.next.phase(phase);
    }
    fn planned(&self, planned: &Planned) {
        self.next.planned(planned);
    }
    fn started(&self, action: Action, path: &RelPath, size: u64) {
        self.next.started(action, path, size);
    }
    fn skipped(&self, path: &RelPath, reason: &str) {
        self.next.skipped(path, reason);
    }
    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        self.next.done(action, path, done);
    }
    fn failed(&self, path: Option<&RelPath>, message: &str) {
        self.intercept.failed(&*self.next, path, message);
    }
    fn warning(&self, message: &str) {
        self.next.warning(message);
    }
    fn retrying(&self, retrying: &Retrying) {
        self.next.retrying(retrying);
    }
}
