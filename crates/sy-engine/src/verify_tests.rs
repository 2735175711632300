//! The retry-once-then-report rule of `--verify`, driven with a destination whose read-back
//! digests can be made to lie.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use sy_transport::{
    Basis, Cancel, DeltaSource, Entry, FileDigest, FileWrite, Local, MetaOptions, NoProgress,
    ReadOptions, RelPath, Result, Scan, ScanOptions, SourceFile, TreeOp, WriteOptions, Written,
};

use super::*;

/// A local destination whose digest of `bad` is wrong the first `lies` times it is asked.
struct Lying {
    inner: Local,
    bad: RelPath,
    lies: AtomicU32,
}

impl Transport for Lying {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn prefers_whole_file(&self) -> bool {
        true
    }
    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        self.inner.scan(options).await
    }
    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        self.inner.read_files(files, options).await
    }
    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        self.inner.write_files(files, options).await
    }
    async fn signature(&self, path: RelPath, basis: Basis) -> Result<Option<sy_delta::Signature>> {
        self.inner.signature(path, basis).await
    }
    async fn delta(
        &self,
        entry: Entry,
        signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        self.inner.delta(entry, signature, options).await
    }
    async fn apply_delta(
        &self,
        path: RelPath,
        basis: Basis,
        delta: DeltaSource,
        options: WriteOptions,
    ) -> Result<Written> {
        self.inner.apply_delta(path, basis, delta, options).await
    }
    async fn checksums(&self, paths: Vec<RelPath>, follow_links: bool) -> Vec<Result<FileDigest>> {
        let mut digests = self.inner.checksums(paths.clone(), follow_links).await;
        for (path, digest) in paths.iter().zip(&mut digests) {
            if *path == self.bad
                && self.lies.load(Ordering::SeqCst) > 0
                && let Ok(digest) = digest
            {
                self.lies.fetch_sub(1, Ordering::SeqCst);
                let mut bytes = *digest.as_bytes();
                bytes[0] ^= 1;
                *digest = FileDigest::from_bytes(bytes);
            }
        }
        digests
    }
    async fn apply(&self, ops: Vec<TreeOp>, meta: MetaOptions) -> Vec<Result<()>> {
        self.inner.apply(ops, meta).await
    }
}

/// Keeps the warnings and failures it is told about.
#[derive(Default)]
struct Seen {
    warnings: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
}

impl Observer for Seen {
    fn failed(&self, _: Option<&RelPath>, message: &str) {
        self.failures.lock().unwrap().push(message.to_owned());
    }
    fn warning(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_owned());
    }
}

fn path(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// Copies `good` and `bad` from a fresh source with a destination that lies `lies` times about
/// `bad`, verifies, and returns the totals and what the observer saw.
fn run(lies: u32) -> (Totals, Vec<String>, Vec<String>) {
    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    std::fs::write(src_dir.path().join("good"), "good").unwrap();
    std::fs::write(src_dir.path().join("bad"), "bad").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let src = Arc::new(Local::open(src_dir.path()).unwrap());
        let dst = Arc::new(Lying {
            inner: Local::open(dst_dir.path()).unwrap(),
            bad: path("bad"),
            lies: AtomicU32::new(lies),
        });
        let observer = Arc::new(Seen::default());
        let cancel = Cancel::default();
        let ctx = Arc::new(Ctx {
            src_base: RelPath::default(),
            dst_base: RelPath::default(),
            read: ReadOptions {
                inline_limit: crate::transfer::SMALL_FILE,
                follow_links: false,
                cancel: cancel.clone(),
            },
            write: WriteOptions {
                meta: MetaOptions::default(),
                sparse: false,
                cancel,
                progress: Arc::new(NoProgress),
            },
            partials: HashSet::new(),
            delta_updates: false,
            resume: false,
            verify: true,
            changes: HashMap::new(),
            observer: Arc::clone(&observer),
        });
        let scan = src.scan(ScanOptions::default()).await.unwrap();
        let files: Vec<FileAction> = scan
            .entries
            .into_iter()
            .filter(|e| e.is_file())
            .map(|e| FileAction {
                key: e.path.clone(),
                src: e,
                replaces: None,
            })
            .collect();
        let opts = SyncOptions {
            jobs: 2,
            verify: true,
            ..SyncOptions::default()
        };
        let mut totals = Totals::default();
        let written = copy_files(&src, &dst, &ctx, files, 2, &mut totals).await;
        let unverified = Unverified::default();
        verify_files(&src, &dst, &ctx, written, &opts, &unverified, &mut totals).await;
        let warnings = observer.warnings.lock().unwrap().clone();
        let failures = observer.failures.lock().unwrap().clone();
        (totals, warnings, failures)
    })
}

#[test]
fn an_honest_destination_verifies_every_file() {
    let (totals, warnings, failures) = run(0);
    assert_eq!(
        (totals.files_created, totals.verified, totals.failed),
        (2, 2, 0)
    );
    assert!(
        warnings.is_empty() && failures.is_empty(),
        "{warnings:?} {failures:?}"
    );
}

#[test]
fn one_mismatch_is_copied_again_and_then_verified() {
    let (totals, warnings, failures) = run(1);
    assert_eq!(
        (totals.files_created, totals.verified, totals.failed),
        (2, 2, 0)
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("bad differs from the source after the copy"),
        "{warnings:?}"
    );
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn a_file_that_differs_twice_is_reported() {
    let (totals, warnings, failures) = run(2);
    assert_eq!(
        (totals.files_created, totals.verified, totals.failed),
        (2, 1, 1)
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("bad in ")
            && failures[0].contains("differs from the source after two copies (--verify)"),
        "{failures:?}"
    );
}
