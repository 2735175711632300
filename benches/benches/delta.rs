//! sy-delta against fast_rsync (SIMD librsync) on the same data: signature, diff over an
//! unchanged file, with 1% scattered changes and with all-new content (the rolling worst
//! case), apply — speed (criterion, bytes/s) and delta size (printed once per data set).
//!
//! `SY_BENCH_MIB` sets the file size (default 256). Sample counts and times are small so
//! a full run fits a shared 2-core machine: `cargo bench -p sy-benches --bench delta`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Cursor};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use sy_delta::{DeltaWriter, Signature, SignatureOptions, apply, diff};

/// Strong hash bytes for both engines, so signatures carry the same information.
const STRONG_LEN: u8 = 8;

fn file_len() -> usize {
    let mib = std::env::var("SY_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(256);
    mib << 20
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// 1% of the bytes changed in 4 KiB edits spread evenly, alternately overwritten and
/// inserted (insertions shift everything after them, so matching must roll to re-sync).
fn scattered_changes(old: &[u8]) -> Vec<u8> {
    const EDIT: usize = 4096;
    let spacing = EDIT * 100;
    let mut new = Vec::with_capacity(old.len() + old.len() / 100);
    for (i, piece) in old.chunks(spacing).enumerate() {
        let fresh = random_bytes(1000 + i as u64, EDIT.min(piece.len()));
        let at = piece.len() / 2;
        new.extend_from_slice(&piece[..at]);
        new.extend_from_slice(&fresh);
        let resume = if i % 2 == 0 {
            (at + fresh.len()).min(piece.len())
        } else {
            at
        };
        new.extend_from_slice(&piece[resume..]);
    }
    new
}

struct DataSet {
    old: Vec<u8>,
    unchanged: Vec<u8>,
    changed: Vec<u8>,
    all_new: Vec<u8>,
    opts: SignatureOptions,
}

impl DataSet {
    fn new() -> Self {
        let old = random_bytes(42, file_len());
        let changed = scattered_changes(&old);
        let opts = SignatureOptions::for_len(old.len() as u64)
            .with_strong_len(STRONG_LEN)
            .with_seed(0x5eed);
        DataSet {
            unchanged: old.clone(),
            old,
            changed,
            all_new: random_bytes(7, file_len()),
            opts,
        }
    }

    fn fast_rsync_options(&self) -> fast_rsync::SignatureOptions {
        fast_rsync::SignatureOptions {
            block_size: self.opts.block_size(),
            crypto_hash_size: u32::from(STRONG_LEN),
        }
    }
}

fn group<'c>(c: &'c mut Criterion, name: &str, bytes: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Bytes(bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

fn sy_delta_of(index: &sy_delta::SignatureIndex, new: &[u8]) -> Vec<u8> {
    let mut writer = DeltaWriter::new(Vec::with_capacity(new.len() / 64));
    diff(index, new, &mut writer).unwrap();
    writer.finish().unwrap()
}

fn fast_rsync_delta_of(sig: &fast_rsync::IndexedSignature<'_>, new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(new.len() / 64);
    fast_rsync::diff(sig, new, &mut out).unwrap();
    out
}

fn benches(c: &mut Criterion) {
    let data = DataSet::new();
    let len = data.old.len();

    let mut g = group(c, "signature", len);
    g.bench_function("sy-delta/1-thread", |b| {
        b.iter(|| Signature::calculate(black_box(&data.old[..]), data.opts).unwrap())
    });
    g.bench_function("sy-delta/2-threads", |b| {
        b.iter(|| {
            Signature::calculate(black_box(&data.old[..]), data.opts.with_threads(2)).unwrap()
        })
    });
    g.bench_function("fast_rsync", |b| {
        b.iter(|| fast_rsync::Signature::calculate(black_box(&data.old), data.fast_rsync_options()))
    });
    g.finish();

    let sig = Signature::calculate(&data.old[..], data.opts).unwrap();
    let index = sig.index();
    let fr_sig = fast_rsync::Signature::calculate(&data.old, data.fast_rsync_options());
    let fr_index = fr_sig.index();
    eprintln!(
        "signature size for {} MiB, block {} B: sy-delta {} B, fast_rsync {} B",
        len >> 20,
        sig.block_size(),
        sig.serialized_len(),
        fr_sig.serialized().len()
    );

    for (name, new) in [
        ("diff-unchanged", &data.unchanged),
        ("diff-1pct-changed", &data.changed),
        ("diff-all-new", &data.all_new),
    ] {
        let sy_delta = sy_delta_of(&index, new);
        let fr_delta = fast_rsync_delta_of(&fr_index, new);
        eprintln!(
            "{name}: delta size sy-delta {} B, fast_rsync {} B",
            sy_delta.len(),
            fr_delta.len()
        );
        let mut g = group(c, name, new.len());
        g.bench_function("sy-delta", |b| {
            b.iter(|| sy_delta_of(&index, black_box(new)))
        });
        g.bench_function("fast_rsync", |b| {
            b.iter(|| fast_rsync_delta_of(&fr_index, black_box(new)))
        });
        g.finish();
    }

    let sy_delta = sy_delta_of(&index, &data.changed);
    let fr_delta = fast_rsync_delta_of(&fr_index, &data.changed);
    let mut out = Vec::with_capacity(data.changed.len());
    let mut g = group(c, "apply-1pct-changed-in-memory", data.changed.len());
    g.bench_function("sy-delta", |b| {
        b.iter(|| {
            out.clear();
            apply(Cursor::new(&data.old), &sy_delta[..], &mut out).unwrap()
        })
    });
    g.bench_function("fast_rsync", |b| {
        b.iter(|| {
            out.clear();
            fast_rsync::apply(&data.old, &fr_delta, &mut out).unwrap()
        })
    });
    g.finish();

    // What a sync does: basis and output are files (in the page cache). fast_rsync needs
    // the basis in memory, so its time includes reading it.
    let dir = tempfile::tempdir().unwrap();
    let basis_path = dir.path().join("basis");
    let out_path = dir.path().join("out");
    std::fs::write(&basis_path, &data.old).unwrap();
    let mut g = group(c, "apply-1pct-changed-files", data.changed.len());
    g.bench_function("sy-delta", |b| {
        b.iter(|| {
            let basis = File::open(&basis_path).unwrap();
            let mut out = BufWriter::new(File::create(&out_path).unwrap());
            apply(basis, &sy_delta[..], &mut out).unwrap();
            out.into_inner().unwrap()
        })
    });
    g.bench_function("fast_rsync", |b| {
        b.iter(|| {
            let basis = std::fs::read(&basis_path).unwrap();
            let mut out = BufWriter::new(File::create(&out_path).unwrap());
            fast_rsync::apply(&basis, &fr_delta, &mut out).unwrap();
            out.into_inner().unwrap()
        })
    });
    g.finish();
}

criterion_group!(delta, benches);
criterion_main!(delta);
