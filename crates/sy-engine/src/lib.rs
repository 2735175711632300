//! The sy file synchronizer as a library: make a destination a copy of one or more sources,
//! moving only what changed, on this machine or to and from another over SSH.
//!
//! This is the engine behind the `sy` command, with the same rules: an [`Endpoint`] is a local
//! path or `[user@]host:path` (a trailing slash on a source means its contents), the
//! [`SyncOptions`] default to a plain `sy SRC DST`, and a [`SyncJob`] runs the sync and returns
//! its [`Totals`]. Files are written to a temporary name and renamed into place, so a file at
//! the destination is always its old version or its new one, never a mix — also when the run
//! is cancelled or the link breaks. An [`Observer`] receives every event of the run.
//!
//! ```
//! use sy_engine::{Endpoint, SyncJob, SyncOptions};
//!
//! let src = tempfile::tempdir()?;
//! let dst = tempfile::tempdir()?;
//! std::fs::create_dir(src.path().join("photos"))?;
//! std::fs::write(src.path().join("photos/a.jpg"), "not really a photo")?;
//! std::fs::write(dst.path().join("stale.txt"), "gone after the sync")?;
//!
//! let from = Endpoint::parse(format!("{}/photos/", src.path().display()))?;
//! let to = Endpoint::parse(dst.path())?;
//! let mut opts = SyncOptions::default();
//! opts.delete = true;
//! let totals = SyncJob::new(vec![from], to, opts).run()?;
//!
//! assert_eq!(totals.files_written, 1);
//! assert_eq!(totals.bytes_literal, 18);
//! assert_eq!(std::fs::read(dst.path().join("a.jpg"))?, b"not really a photo");
//! assert!(!dst.path().join("stale.txt").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Remote sides are reached with a built-in SSH client (host settings from `~/.ssh/config`,
//! host keys checked against `known_hosts`, as OpenSSH does), or with a remote shell command
//! ([`RemoteOptions::shell`]); the `sy-remote` agent runs there, and is copied there when it
//! is missing. A prefix in an S3 bucket (`s3://bucket/prefix/`) is a side too, through
//! `object_store` (docs/object-storage.md). `examples/embed.rs` shows a sync with a progress
//! observer.

#![deny(missing_docs)]

mod change;
mod chmod;
mod connect;
mod endpoint;
mod error;
mod job;
mod mode;
mod observer;
mod options;
mod pacing;
mod plan;
mod protect;
mod relative;
mod resolve;
mod retry;
mod run;
mod totals;
mod transfer;
mod vanished;
mod verify;

pub use change::{Change, LinkTo};
pub use chmod::Chmod;
pub use endpoint::{Endpoint, RemoteSpec};
pub use error::{ErrorKind, SyncError};
pub use job::SyncJob;
pub use observer::{Action, Done, NoObserver, Observer, Phase, Planned, Retrying};
pub use options::{Compare, Perms, RemoteOptions, SshSettings, SyncOptions};
pub use retry::RetryPolicy;
pub use sy_transport::ssh::{HostKeyVerifier, PassphrasePrompt, PublicKey};
pub use sy_transport::{
    Cancel, CompressionPolicy, DEFAULT_COMPRESS_LEVEL, Filter, FilterLine, FilterRules, MetaTarget,
    RelPath, RuleKind, RuleSyntaxError, describe_error,
};
pub use totals::{Totals, Traffic};
