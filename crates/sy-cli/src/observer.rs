//! What the engine tells the outside world; the CLI's reporter draws it.

use std::sync::Arc;
use std::time::Duration;

use sy_transport::{Progress, RelPath};

pub use crate::progress::Phase;

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Removed from the destination (`--delete`, or replaced by another kind).
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
#[derive(Debug, Clone, Copy, Default)]
pub struct Done {
    /// Bytes sent from the source.
    pub literal: u64,
    /// Bytes reused from the destination's old version or partial.
    pub matched: u64,
    /// Time taken (for batched small files, the batch's time).
    pub elapsed: Duration,
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

/// Receives the engine's events. Byte progress arrives through [`Progress`].
pub trait Observer: Progress {
    /// The job has reached `phase`.
    fn phase(&self, phase: Phase);
    /// Scanning and comparing are done.
    fn planned(&self, planned: &Planned);
    /// A worker begins writing `path` (`size` bytes).
    fn started(&self, action: Action, path: &RelPath, size: u64);
    /// `path` is left alone; `reason` is a word such as `unchanged`.
    fn skipped(&self, path: &RelPath, reason: &str);
    /// `path` was (or, with `-n`, would be) handled by `action`.
    fn done(&self, action: Action, path: &RelPath, done: &Done);
    /// Something failed; `message` names the path and cause.
    fn failed(&self, path: Option<&RelPath>, message: &str);
    /// Something was skipped or will not happen, for a reason the user should see.
    fn warning(&self, message: &str);
}

/// The events a wrapping observer changes ([`Forward`]); by default each passes on to the next
/// observer unchanged.
pub trait Intercept: Send + Sync {
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
pub struct Forward<O, I> {
    /// Where the events go.
    pub next: Arc<O>,
    /// What is done differently.
    pub intercept: I,
}

impl<O: Observer, I: Intercept> Progress for Forward<O, I> {
    fn advance(&self, path: &RelPath, bytes: u64) {
        self.intercept.advance(&*self.next, path, bytes);
    }
}

impl<O: Observer, I: Intercept> Observer for Forward<O, I> {
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
}
