//! The generators behind each workload: random, sparse-ish, edited, small text files, a log.
//! Every byte comes from a seeded [`Rng`], so the same seed gives the same files.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::rng::Rng;

pub const MIB: u64 = 1 << 20;
/// Source files carry fixed times so that copies made with `cp -a` compare as unchanged.
const BASE_MTIME: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z
const EDITED_MTIME: u64 = 1_735_689_600; // 2025-01-01T00:00:00Z
/// Zero runs of this size are left as holes when writing sparse-ish files.
const HOLE_GRAIN: usize = 64 * 1024;

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

pub fn write_random(path: &Path, len: u64, rng: &mut Rng) -> Result<()> {
    let mut out = SparseWriter::create(path)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill(&mut buf[..n]);
        out.write(&buf[..n])?;
        left -= n as u64;
    }
    out.finish(BASE_MTIME)
}

/// `period`-sized stretches of holes, each with `data` random bytes at a random 4 KiB-aligned place.
pub fn write_sparse(path: &Path, len: u64, period: u64, data: u64, rng: &mut Rng) -> Result<()> {
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
pub enum Edit {
    Replace { offset: u64, len: u64 },
    Insert { offset: u64, len: u64 },
}

/// 100 replaced stretches totalling 1% of `len`, one per hundredth, plus `len / 1024` bytes inserted
/// at the middle (1 MiB for 1 GiB). Sorted by offset; an insert comes before a replace at its offset.
pub fn edit_plan(len: u64, rng: &mut Rng) -> Vec<Edit> {
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

pub fn apply_edits(base: &Path, out: &Path, edits: &[Edit], rng: &mut Rng) -> Result<()> {
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
pub fn write_small_files(tree: &Path, files: u64, dirs: u64, rng: &mut Rng) -> Result<()> {
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

/// An application log: timestamps, levels, request ids, paths, status codes. `zstd -3` makes it
/// ≈ 3.8× smaller (the random request ids and numbers keep it from compressing more).
pub fn write_log(path: &Path, len: u64, rng: &mut Rng) -> Result<()> {
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
