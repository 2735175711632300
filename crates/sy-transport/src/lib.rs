//! Where files live: the [`Transport`] trait that the sync engine drives, and its [`Local`]
//! backend (a directory on this machine). Remote backends implement the same trait.
//!
//! Everything a peer can name is a [`RelPath`], checked when it is made: relative, no `..`, no
//! empty components, no NUL. Writes go to a temporary beside the target and are renamed into
//! place, and every path is resolved beneath the root without following symbolic links.
//!
//! The [`ssh`] module holds the built-in SSH client's pieces: OpenSSH configuration and
//! `known_hosts` trust.
//!
//! ```
//! use sy_transport::{Local, RelPath, ScanOptions, Transport};
//!
//! assert!(RelPath::new("../etc/passwd").is_err());
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("docs"))?;
//! std::fs::write(dir.path().join("docs/a.txt"), b"hello")?;
//!
//! let local = Local::open(dir.path())?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let scan = runtime.block_on(local.scan(ScanOptions::default()))?;
//! let paths: Vec<String> = scan.entries.iter().map(|e| e.path.to_string()).collect();
//! assert_eq!(paths, [".", "docs", "docs/a.txt"]);
//! assert_eq!(scan.entries[2].size, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod agent;
mod entry;
mod error;
mod filter;
mod local;
mod read_batch;
mod relpath;
mod seed;
mod sftp;
pub mod ssh;
mod transport;

pub use agent::{
    Agent, AgentOptions, DEFAULT_COMPRESS_LEVEL, KEEPALIVE, ServeOptions, Traffic, TrafficStats,
    serve,
};
pub use entry::{Entry, EntryKind, Meta, MetaOptions, SpecialKind, Timestamp};
pub use error::{Error, Result, describe_error};
pub use filter::{Filter, FilterRules, RuleKind};
pub use local::Local;
pub use relpath::RelPath;
pub use sftp::{Sftp, SftpOptions};
pub use transport::{
    Basis, Cancel, DeltaChunk, DeltaSource, FileData, FileWrite, Leftover, LeftoverKind,
    MetaTarget, NoProgress, Progress, ReadOptions, Scan, ScanOptions, SourceFile, StreamChunk,
    Transport, TreeOp, WriteOptions, Written,
};
