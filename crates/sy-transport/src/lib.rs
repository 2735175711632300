//! Where files live: the [`Transport`] trait that the sync engine drives, and its [`Local`]
//! backend (a directory on this machine). Remote backends implement the same trait: the
//! `sy-remote` [`Agent`], [`Sftp`], and [`Bucket`] (a prefix in an S3 bucket, `s3://`).
//!
//! Everything a peer can name is a [`RelPath`], checked when it is made: relative, no `..`, no
//! empty components, no NUL. Writes go to a temporary beside the target and are renamed into
//! place, and every path is resolved beneath the root without following symbolic links. The
//! file vocabulary ([`Entry`], [`Meta`], [`RelPath`], [`TreeOp`]…) is `sy-protocol`'s,
//! re-exported here, so what a scan returns is what travels over the wire.
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
mod bucket;
mod dir_merge;
mod error;
mod filter;
mod local;
mod names;
mod read_batch;
mod seed;
mod sftp;
pub mod ssh;
mod transport;

pub use agent::{
    Access, Agent, AgentOptions, CompressionPolicy, DEFAULT_COMPRESS_LEVEL, KEEPALIVE, ReadPacing,
    ServeOptions, Traffic, TrafficStats, serve,
};
pub use bucket::{Bucket, ObjectUrl, StoreKind};
pub use error::{Error, LinkCause, LinkFailure, Result, describe_error};
pub use filter::Filter;
pub use local::Local;
pub use names::{partial_name, temp_name};
pub use sftp::{Sftp, SftpOptions};
/// The file vocabulary, defined once in `sy-protocol` (the delta op and the whole-file digest
/// in `sy-delta`): the same values travel over the wire.
pub use sy_protocol::{
    Basis, DeltaOp, Entry, EntryKind, FileDigest, FilterLine, FilterRules, Leftover, LeftoverKind,
    Meta, MetaOptions, MetaTarget, PathError, ProtocolError, RelPath, RuleKind, RuleSyntaxError,
    SpecialKind, Timestamp, TreeOp,
};
pub use transport::{
    Cancel, DeltaChunk, DeltaSource, FileData, FileWrite, NoProgress, Progress, ReadOptions, Scan,
    ScanOptions, SourceFile, StreamChunk, Transport, WriteOptions, Written,
};
