//! What the engine tells the outside world; the CLI's reporter draws it.

use std::time::Duration;

use sy_transport::{Progress, RelPath};

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

/// Receives the engine's events. Byte progress arrives through [`Progress`].
pub trait Observer: Progress {
    /// The plan is known: `bytes` of file content will be written in `files` files.
    fn planned(&self, files: u64, bytes: u64);
    /// `path` was (or, with `-n`, would be) handled by `action`.
    fn done(&self, action: Action, path: &RelPath, done: &Done);
    /// Something failed; `message` names the path and cause.
    fn failed(&self, path: Option<&RelPath>, message: &str);
    /// Something was skipped or will not happen, for a reason the user should see.
    fn warning(&self, message: &str);
}
