//! Benchmark data, generated deterministically from a seed and cached between runs.
//!
//! Each workload lives in `<data>/<name>-<spec hash>/tree`, where the spec hash covers the generator
//! version, the seed and the scale, so a changed recipe never reuses stale data. Beside the tree,
//! `digest` holds the tree's content hash; a cached tree is reused only when it still hashes to it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::digest::{TreeDigest, tree_digest};
use crate::rng::Rng;

/// Bump when any generator below changes its output.
const GENERATOR_VERSION: u32 = 1;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Source files carry fixed times so that copies made with `cp -a` compare as unchanged.
const BASE_MTIME: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z
const EDITED_MTIME: u64 = 1_735_689_600; // 2025-01-01T00:00:00Z
/// Zero runs of this size are left as holes when writing sparse-ish files.
const HOLE_GRAIN: usize = 64 * 1024;

/// The data sets the scenarios are built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// One incompressible file, 1 GiB.
    Random,
    /// `Random` with 1% rewritten in 100 scattered places and 1 MiB inserted in the middle.
    RandomEdited,
    /// 10,000 text-like files of 64 B – 32 KiB in 200 directories.
    SmallFiles,
    /// A 256 MiB compressible application log.
    TextLog,
    /// A 4 GiB file that is mostly holes, with 4 MiB of random data every 64 MiB.
    Sparse,
    /// `Sparse` edited like `RandomEdited` (1% in 100 places, 4 MiB inserted).
    SparseEdited,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::RandomEdited => "random-edited",
            Self::SmallFiles => "small-files",
            Self::TextLog => "text-log",
            Self::Sparse => "sparse",
            Self::SparseEdited => "sparse-edited",
        }
    }

    /// The single file a one-file workload holds, for tools that copy one file (`ssh … cat`).
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Self::Random | Self::RandomEdited => Some("data.bin"),
            Self::TextLog => Some("app.log"),
            Self::Sparse | Self::SparseEdited => Some("disk.img"),
            Self::SmallFiles => None,
        }
    }
}

/// A generated workload ready to be synced.
#[derive(Clone, Debug)]
pub struct Ready {
    pub tree: PathBuf,
    pub digest: TreeDigest,
}

/// Generates workloads on first use and hands out the cached trees afterwards.
pub struct WorkloadSet {
    root: PathBuf,
    seed: u64,
    divisor: u64,
    ready: HashMap<Workload, Ready>,
}

impl WorkloadSet {
    /// Workloads under `root`, each `divisor` times smaller than the full size (1 or 64 for `--quick`).
    pub fn new(root: &Path, seed: u64, divisor: u64) -> Self {
        Self {
            root: root.to_path_buf(),
            seed,
            divisor: divisor.max(1),
            ready: HashMap::new(),
        }
    }

    /// The workload's tree, generated now unless a verified copy is cached.
    pub fn get(&mut self, workload: Workload) -> Result<Ready> {
        if let Some(ready) = self.ready.get(&workload) {
            return Ok(ready.clone());
        }
        let base = match workload {
            Workload::RandomEdited => Some(self.get(Workload::Random)?),
            Workload::SparseEdited => Some(self.get(Workload::Sparse)?),
            _ => None,
        };
        let dir = self
            .root
            .join(format!("{}-{}", workload.name(), self.spec_hash(workload)));
        let tree = dir.join("tree");
        let digest_file = dir.join("digest");
        if let Ok(stored) = fs::read_to_string(&digest_file) {
            let digest = tree_digest(&tree)?;
            if digest.hash == stored.trim() {
                let ready = Ready { tree, digest };
                self.ready.insert(workload, ready.clone());
                return Ok(ready);
            }
            eprintln!(
                "bench: cached {} does not match its digest; regenerating",
                dir.display()
            );
        }
        crate::digest::remove_tree(&dir)?;
        let partial = self.root.join(format!(
            "{}.partial-{}",
            workload.name(),
            std::process::id()
        ));
        crate::digest::remove_tree(&partial)?;
        let partial_tree = partial.join("tree");
        fs::create_dir_all(&partial_tree)
            .with_context(|| format!("creating {}", partial_tree.display()))?;
        eprintln!(
            "bench: generating workload {} (once; cached)",
            workload.name()
        );
        self.generate(workload, &partial_tree, base.as_ref())?;
        let digest = tree_digest(&partial_tree)?;
        fs::write(partial.join("digest"), &digest.hash)
            .with_context(|| format!("writing {}", partial.display()))?;
        fs::rename(&partial, &dir)
            .with_context(|| format!("renaming {} into place", partial.display()))?;
        let ready = Ready { tree, digest };
        self.ready.insert(workload, ready.clone());
        Ok(ready)
    }

    fn spec_hash(&self, workload: Workload) -> String {
        let spec = format!(
            "v{GENERATOR_VERSION} {} seed={} divisor={}",
            workload.name(),
            self.seed,
            self.divisor
        );
        blake3::hash(spec.as_bytes()).to_hex()[..16].to_string()
    }

    fn generate(&self, workload: Workload, tree: &Path, base: Option<&Ready>) -> Result<()> {
        let mut rng = Rng::new(self.seed, workload.name());
        let div = self.divisor;
        let file = workload.file_name().map(|name| tree.join(name));
        match (workload, file, base) {
            (Workload::Random, Some(path), _) => {
                write_random(&path, GIB / div, &mut rng, BASE_MTIME)
            }
            (Workload::Sparse, Some(path), _) => write_sparse(
                &path,
                4 * GIB / div,
                64 * MIB / div,
                4 * MIB / div,
                &mut rng,
            ),
            (Workload::RandomEdited | Workload::SparseEdited, Some(path), Some(base)) => {
                let name = workload.file_name().unwrap_or_default();
                let base_file = base.tree.join(name);
                let len = fs::metadata(&base_file)
                    .with_context(|| format!("stat {}", base_file.display()))?
                    .len();
                let edits = edit_plan(len, &mut rng);
                apply_edits(&base_file, &path, &edits, &mut rng)
            }
            (Workload::TextLog, Some(path), _) => write_log(&path, 256 * MIB / div, &mut rng),
            (Workload::SmallFiles, _, _) => {
                write_small_files(tree, 10_000u64.div_ceil(div), (200 / div).max(1), &mut rng)
            }
            _ => anyhow::bail!(
                "workload {} has no generator for this shape",
                workload.name()
            ),
        }
    }
}

/// Writes a file, turning runs of zeros into holes, then fixes its length, mode and time.
struct SparseWriter {
    file: File,
    path: PathBuf,
    len: u64,
}

impl SparseWriter {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len: 0,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        for piece in data.chunks(HOLE_GRAIN) {
            if piece.iter().all(|&b| b == 0) {
                self.file.seek(SeekFrom::Current(piece.len() as i64))
            } else {
                self.file.write_all(piece).map(|()| 0)
            }
            .with_context(|| format!("writing {}", self.path.display()))?;
            self.len += piece.len() as u64;
        }
        Ok(())
    }

    fn finish(self, mtime: u64) -> Result<()> {
        self.file
            .set_len(self.len)
            .with_context(|| format!("sizing {}", self.path.display()))?;
        finish_file(&self.file, &self.path, mtime)
    }
}

fn finish_file(file: &File, path: &Path, mtime: u64) -> Result<()> {
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .and_then(|()| file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime)))
        .with_context(|| format!("setting mode and time of {}", path.display()))
}

fn write_random(path: &Path, len: u64, rng: &mut Rng, mtime: u64) -> Result<()> {
    let mut out = SparseWriter::create(path)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill(&mut buf[..n]);
        out.write(&buf[..n])?;
        left -= n as u64;
    }
    out.finish(mtime)
}

/// `period`-sized stretches of holes, each with `data` random bytes at a random 4 KiB-aligned place.
fn write_sparse(path: &Path, len: u64, period: u64, data: u64, rng: &mut Rng) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut buf = vec![0u8; data as usize];
    for start in (0..len).step_by(period as usize) {
        let slots = (period - data) / 4096 + 1;
        let offset = start + rng.below(slots) * 4096;
        rng.fill(&mut buf);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(&buf))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    file.set_len(len)
        .with_context(|| format!("sizing {}", path.display()))?;
    finish_file(&file, path, BASE_MTIME)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    Replace { offset: u64, len: u64 },
    Insert { offset: u64, len: u64 },
}

/// 100 replaced stretches totalling 1% of `len`, one per hundredth, plus `len / 1024` bytes inserted
/// at the middle (1 MiB for 1 GiB). Sorted by offset; an insert comes before a replace at its offset.
fn edit_plan(len: u64, rng: &mut Rng) -> Vec<Edit> {
    let replace = (len / 10_000).max(1);
    let segment = len / 100;
    let mut edits = Vec::with_capacity(101);
    for i in 0..100 {
        let start = i * segment;
        if i == 50 {
            edits.push(Edit::Insert {
                offset: start,
                len: (len / 1024).max(1),
            });
        }
        let room = segment.saturating_sub(replace) + 1;
        edits.push(Edit::Replace {
            offset: start + rng.below(room),
            len: replace.min(segment),
        });
    }
    edits
}

fn apply_edits(base: &Path, out: &Path, edits: &[Edit], rng: &mut Rng) -> Result<()> {
    let mut src = File::open(base).with_context(|| format!("opening {}", base.display()))?;
    let mut dst = SparseWriter::create(out)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut pos = 0u64;
    let copy = |src: &mut File, dst: &mut SparseWriter, mut n: u64, buf: &mut [u8]| -> Result<()> {
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = src
                .read(&mut buf[..want])
                .with_context(|| format!("reading {}", base.display()))?;
            if got == 0 {
                return Ok(());
            }
            dst.write(&buf[..got])?;
            n -= got as u64;
        }
        Ok(())
    };
    for edit in edits {
        let (offset, len, replace) = match *edit {
            Edit::Replace { offset, len } => (offset, len, true),
            Edit::Insert { offset, len } => (offset, len, false),
        };
        copy(&mut src, &mut dst, offset - pos, &mut buf)?;
        let mut left = len;
        while left > 0 {
            let n = left.min(MIB) as usize;
            rng.fill(&mut buf[..n]);
            dst.write(&buf[..n])?;
            left -= n as u64;
        }
        pos = offset;
        if replace {
            src.seek(SeekFrom::Current(len as i64))
                .with_context(|| format!("seeking {}", base.display()))?;
            pos += len;
        }
    }
    copy(&mut src, &mut dst, u64::MAX, &mut buf)?;
    dst.finish(EDITED_MTIME)
}

const WORDS: &[&str] = &[
    "the", "sync", "file", "block", "delta", "remote", "local", "hash", "buffer", "stream", "of",
    "and", "to", "in", "is", "for", "with", "on", "by", "when", "copy", "tree", "path", "name",
    "read", "write", "rename", "temp", "check", "digest", "frame", "request", "reply", "error",
    "retry", "open", "close", "size", "time", "mode", "link", "user", "group", "host", "port",
    "key", "agent", "server", "client", "fast", "slow", "again", "never", "always", "each",
    "every", "byte", "page", "cache", "disk", "memory", "thread", "queue", "done",
];

/// `files` text-like files spread over `dirs` directories (`gNN/dNNN`), sizes log-uniform in
/// 64 B .. 32 KiB like a source tree.
fn write_small_files(tree: &Path, files: u64, dirs: u64, rng: &mut Rng) -> Result<()> {
    let dir_paths: Vec<PathBuf> = (0..dirs)
        .map(|d| tree.join(format!("g{:02}/d{d:03}", d / 10)))
        .collect();
    for dir in &dir_paths {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = Vec::with_capacity(32 * 1024);
    for (index, dir) in (0..files).zip(dir_paths.iter().cycle()) {
        let scale = 64u64 << rng.below(9);
        let size = (scale + rng.below(scale)) as usize;
        text.clear();
        while text.len() < size {
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            text.extend_from_slice(word.as_bytes());
            text.push(if rng.below(10) == 0 { b'\n' } else { b' ' });
        }
        text.truncate(size);
        let path = dir.join(format!("f{index:05}.txt"));
        let mut file =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&text)
            .with_context(|| format!("writing {}", path.display()))?;
        finish_file(&file, &path, BASE_MTIME)?;
    }
    for dir in dir_paths
        .iter()
        .flat_map(|d| [d.as_path(), d.parent().unwrap_or(tree)])
    {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", dir.display()))?;
    }
    Ok(())
}

/// An application log: timestamps, levels, request ids, paths, status codes. Compresses ~5–8×.
fn write_log(path: &Path, len: u64, rng: &mut Rng) -> Result<()> {
    const LEVELS: &[&str] = &[
        "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR",
    ];
    const PARTS: &[&str] = &[
        "api",
        "auth",
        "billing",
        "db",
        "cache",
        "scheduler",
        "mailer",
        "storage",
    ];
    const ROUTES: &[&str] = &[
        "GET /api/v1/users",
        "GET /api/v1/orders",
        "POST /api/v1/orders",
        "GET /health",
        "PUT /api/v1/cart",
        "DELETE /api/v1/session",
        "GET /static/app.js",
        "POST /api/v1/login",
        "GET /api/v1/search",
    ];
    const STATUS: &[u16] = &[200, 200, 200, 200, 200, 201, 204, 304, 404, 500];
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(MIB as usize, file);
    let mut written = 0u64;
    let mut millis = 0u64;
    let mut line = String::with_capacity(256);
    while written < len {
        use std::fmt::Write as _;
        millis += rng.below(40);
        let (s, ms) = (millis / 1000, millis % 1000);
        line.clear();
        let _ = writeln!(
            line,
            "2026-03-{:02}T{:02}:{:02}:{:02}.{ms:03}Z {:<5} [{}] req={:016x} {}/{} status={} bytes={} dur={}ms",
            1 + s / 86_400 % 28,
            s / 3600 % 24,
            s / 60 % 60,
            s % 60,
            LEVELS[rng.below(LEVELS.len() as u64) as usize],
            PARTS[rng.below(PARTS.len() as u64) as usize],
            rng.next_u64(),
            ROUTES[rng.below(ROUTES.len() as u64) as usize],
            rng.below(100_000),
            STATUS[rng.below(STATUS.len() as u64) as usize],
            rng.below(65_536),
            rng.below(900),
        );
        let take = (len - written).min(line.len() as u64) as usize;
        out.write_all(&line.as_bytes()[..take])
            .with_context(|| format!("writing {}", path.display()))?;
        written += take as u64;
    }
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", path.display()))?;
    finish_file(&file, path, BASE_MTIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny sizes keep these tests fast: 1 GiB / 4096 = 256 KiB, 10,000 / 4096 → 3 files.
    const TEST_DIVISOR: u64 = 4096;

    #[test]
    fn same_seed_gives_the_same_digest_and_another_seed_does_not() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let all = [
            Workload::Random,
            Workload::RandomEdited,
            Workload::SmallFiles,
            Workload::TextLog,
            Workload::Sparse,
            Workload::SparseEdited,
        ];
        let mut set_a = WorkloadSet::new(a.path(), 42, TEST_DIVISOR);
        let mut set_b = WorkloadSet::new(b.path(), 42, TEST_DIVISOR);
        let mut set_c = WorkloadSet::new(c.path(), 43, TEST_DIVISOR);
        for workload in all {
            let (ra, rb, rc) = (
                set_a.get(workload).unwrap(),
                set_b.get(workload).unwrap(),
                set_c.get(workload).unwrap(),
            );
            assert_eq!(ra.digest, rb.digest, "{workload:?}");
            assert_ne!(ra.digest.hash, rc.digest.hash, "{workload:?}");
            assert!(ra.digest.bytes > 0, "{workload:?}");
        }
    }

    #[test]
    fn edited_file_is_one_percent_changed_plus_the_insert() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = WorkloadSet::new(dir.path(), 1, TEST_DIVISOR);
        let base = set.get(Workload::Random).unwrap();
        let edited = set.get(Workload::RandomEdited).unwrap();
        let len = GIB / TEST_DIVISOR;
        assert_eq!(base.digest.bytes, len);
        assert_eq!(edited.digest.bytes, len + len / 1024);
        let old = fs::read(base.tree.join("data.bin")).unwrap();
        let new = fs::read(edited.tree.join("data.bin")).unwrap();
        // Before the insert (at the 50th hundredth) the files are aligned: count differing bytes there.
        let aligned = (len / 100 * 50) as usize;
        let differing = old[..aligned]
            .iter()
            .zip(&new[..aligned])
            .filter(|(a, b)| a != b)
            .count();
        let replaced = (len / 10_000 * 50) as usize;
        assert!(
            differing <= replaced && differing > replaced * 9 / 10,
            "{differing} of {replaced}"
        );
        // After the insert the tail is the old tail, shifted.
        assert_eq!(&old[old.len() - 10..], &new[new.len() - 10..]);
    }

    #[test]
    fn a_tampered_cache_is_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let good = WorkloadSet::new(dir.path(), 5, TEST_DIVISOR)
            .get(Workload::TextLog)
            .unwrap();
        fs::write(good.tree.join("app.log"), b"tampered").unwrap();
        let again = WorkloadSet::new(dir.path(), 5, TEST_DIVISOR)
            .get(Workload::TextLog)
            .unwrap();
        assert_eq!(good.digest, again.digest);
    }

    #[test]
    fn sparse_workload_is_mostly_holes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let ready = WorkloadSet::new(dir.path(), 9, 64)
            .get(Workload::Sparse)
            .unwrap();
        let meta = fs::metadata(ready.tree.join("disk.img")).unwrap();
        assert_eq!(meta.len(), 64 * MIB);
        assert!(
            meta.blocks() * 512 < 16 * MIB,
            "allocated {} bytes",
            meta.blocks() * 512
        );
    }
}
