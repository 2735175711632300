//! The `Transport` trait: everything the sync engine asks of one side of a transfer.
//!
//! Calls take and return batches, so a remote backend can put a whole batch in one request and
//! keep many requests in flight; the engine never needs a round trip per file. Arguments are
//! owned so the futures are `'static`-friendly and map one-to-one onto protocol messages.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use sy_delta::{DeltaOp, FileDigest};
use tokio::sync::mpsc;

use crate::{Basis, Entry, FilterRules, Leftover, MetaOptions, RelPath, Result, TreeOp};

/// What to scan and how.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The subtree to scan (the root itself when empty); entries keep paths relative to the
    /// transport's root, so `base` itself is reported too. A missing `base` scans as empty.
    pub base: RelPath,
    /// Include/exclude rules, applied while walking (excluded directories are not entered).
    pub filter: FilterRules,
    /// Report what symbolic links point to instead of the links (`-L`).
    pub follow_links: bool,
}

/// The result of a scan: every entry beneath `base`, sorted by path bytes (so a directory comes
/// before what it contains), plus what could not be read.
#[derive(Debug, Default)]
pub struct Scan {
    /// Entries, sorted by path.
    pub entries: Vec<Entry>,
    /// Directories or entries that could not be read; the rest of the scan went on.
    pub problems: Vec<crate::Error>,
    /// sy's own leftovers from an interrupted run (temporaries and partials); never entries.
    pub leftovers: Vec<Leftover>,
}

/// A flag shared by the engine and the workers; set on Ctrl-C.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks all work sharing this flag to stop at the next safe point.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Byte-level progress from inside a transport (the CLI draws it; libraries only report).
pub trait Progress: Send + Sync {
    /// `bytes` more of `path` have been written at the destination.
    fn advance(&self, path: &RelPath, bytes: u64);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _path: &RelPath, _bytes: u64) {}
}

/// How to read source files.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Files up to this size come back as [`FileData::Bytes`] (the whole content in memory).
    pub inline_limit: u64,
    /// Follow symbolic links (`-L`).
    pub follow_links: bool,
    /// Stop a long read (a delta being computed) early.
    pub cancel: Cancel,
}

/// The content of a source file, in the form that is cheapest for the pair of transports.
#[derive(Debug)]
pub enum FileData {
    /// The whole content (small files; batches from a remote peer).
    Bytes(Bytes),
    /// An open local file, read by the writer itself (so local copies can use
    /// `copy_file_range` and skip holes). The writer checks afterwards that it did not change.
    Local(std::fs::File),
    /// Chunks in order, as they arrive from elsewhere, then [`StreamChunk::End`] once the sender
    /// has checked the whole file; an `Err` ends the stream. A stream that closes without `End`
    /// is incomplete: its bytes are kept as a partial, never renamed into place.
    Stream(mpsc::Receiver<Result<StreamChunk>>),
}

/// One piece of a [`FileData::Stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    /// The next bytes of the file.
    Data(Bytes),
    /// Every byte was sent and verified by the sender (size and digest): the file may be committed.
    End,
}

/// A source file opened for copying.
#[derive(Debug)]
pub struct SourceFile {
    /// Its attributes at the moment it was opened (these are what the copy gets).
    pub entry: Entry,
    /// Its content.
    pub data: FileData,
}

/// One file to write at the destination.
#[derive(Debug)]
pub struct FileWrite {
    /// Where, relative to the destination root.
    pub path: RelPath,
    /// What (size and attributes come from `source.entry`).
    pub source: SourceFile,
    /// A partial of this file exists and should be removed once the file is in place.
    pub clear_partial: bool,
}

/// How to write files.
#[derive(Clone)]
pub struct WriteOptions {
    /// Which attributes to apply.
    pub meta: MetaOptions,
    /// Turn runs of zeros into holes (`--sparse`); holes in a local source are always kept.
    pub sparse: bool,
    /// Stop early, keeping what was written as a partial.
    pub cancel: Cancel,
    /// Where to report bytes as they land.
    pub progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteOptions")
            .field("meta", &self.meta)
            .field("sparse", &self.sparse)
            .finish_non_exhaustive()
    }
}

/// What writing one file did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes of content that came from the source.
    pub literal: u64,
    /// Bytes reused from the old file or a partial (delta).
    pub matched: u64,
}

/// One piece of a delta as it travels from the source side to the destination side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaChunk {
    /// The next op, as sy-delta makes it and the protocol carries it: copy from the basis, or
    /// these bytes.
    Op(DeltaOp<Bytes>),
    /// The end: the digest of the whole new file, checked before it is renamed in.
    End {
        /// The source file's digest.
        digest: FileDigest,
    },
}

/// A delta being produced at the source: the file's attributes as opened and its chunks.
#[derive(Debug)]
pub struct DeltaSource {
    /// The source file as it was opened (size and attributes for the result).
    pub entry: Entry,
    /// Chunks in order, ending with [`DeltaChunk::End`]; an `Err` aborts the file.
    pub chunks: mpsc::Receiver<Result<DeltaChunk>>,
}

/// One side of a transfer: a local directory, or a remote agent, or anything else that can do
/// these operations. The sync engine is generic over a pair of them.
///
/// Batch methods return one result per item, in order: one bad file never fails its batch.
pub trait Transport: Send + Sync + 'static {
    /// Where this side is, for messages (`/srv/data`, `host:/srv/data`).
    fn location(&self) -> &str;

    /// True when reading and writing whole files is cheap here, so a delta saves nothing
    /// (both sides local). The engine copies whole files between two such transports.
    fn prefers_whole_file(&self) -> bool;

    /// True when a scan reports, as a file's modification time, when this side last wrote it
    /// (an object store's `Last-Modified`) rather than the time carried from its source: the
    /// engine then compares times as "written no earlier than the source changed"
    /// (docs/object-storage.md).
    fn reports_write_times(&self) -> bool {
        false
    }

    /// Lists the subtree at `options.base` with filters applied.
    fn scan(&self, options: ScanOptions) -> impl Future<Output = Result<Scan>> + Send;

    /// Opens source files for copying (in memory up to `inline_limit`).
    fn read_files(
        &self,
        files: Vec<Entry>,
        options: ReadOptions,
    ) -> impl Future<Output = Vec<Result<SourceFile>>> + Send;

    /// Writes files: each into a temporary beside its destination, attributes applied, then
    /// renamed into place. An interrupted file is kept as its partial.
    fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> impl Future<Output = Vec<Result<Written>>> + Send;

    /// The block signature of the destination file at `path` (or of its partial), or `None`
    /// when that basis does not exist.
    fn signature(
        &self,
        path: RelPath,
        basis: Basis,
    ) -> impl Future<Output = Result<Option<sy_delta::Signature>>> + Send;

    /// Starts diffing the source file `entry` against `signature`; the chunks stream while
    /// the destination applies them.
    fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> impl Future<Output = Result<DeltaSource>> + Send;

    /// Rebuilds `path` from `basis` and the delta into a temporary, checks the digest, applies
    /// attributes and renames it into place (the partial goes once the file is complete).
    fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> impl Future<Output = Result<Written>> + Send;

    /// BLAKE3 digests of whole files (`-c`); `follow_links` as in [`ReadOptions`].
    fn checksums(
        &self,
        paths: Vec<RelPath>,
        follow_links: bool,
    ) -> impl Future<Output = Vec<Result<FileDigest>>> + Send;

    /// Applies tree changes in order.
    fn apply(
        &self,
        ops: Vec<TreeOp>,
        meta: MetaOptions,
    ) -> impl Future<Output = Vec<Result<()>>> + Send;
}
