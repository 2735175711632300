//! sy-protocol throughput: framing (encode, decode) of file chunks and scan batches, zstd on
//! text, and whole sessions through two in-memory endpoints (plain, compressed text, stored
//! random data). Throughput is in logical bytes. Compression ratios are printed once.
//!
//! `cargo bench -p sy-benches --bench protocol`; sample counts are small so a run fits a
//! shared 2-core machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sy_protocol::bytes::{Bytes, BytesMut};
use sy_protocol::{
    CHUNK_LEN, Compressor, Decoder, Decompressor, Encoder, Endpoint, Entry, EntryKind, Hello,
    Limits, Message, Meta, RelPath, RequestId, Role, Timestamp,
};

/// Bytes of file data pushed through each case.
const DATA_LEN: usize = 32 << 20;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
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

/// Log-like text: repetitive structure, varying numbers, like what `-z` is for.
fn log_text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 200);
    let mut n = 0u64;
    while out.len() < len {
        n += 1;
        let line = format!(
            "2026-11-30T08:{:02}:{:02}.{:03}Z INFO request id={} method=GET path=/api/v1/items/{} \
             status={} bytes={} duration_ms={}\n",
            n / 60 % 60,
            n % 60,
            n * 7 % 1000,
            n * 2_654_435_761 % 1_000_000_007,
            n % 5000,
            [200, 200, 200, 304, 404][n as usize % 5],
            n * 31 % 65_536,
            n * 17 % 900
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

fn chunk_messages(data: &Bytes) -> Vec<Message> {
    (0..data.len())
        .step_by(CHUNK_LEN)
        .map(|offset| Message::FileChunk {
            id: RequestId(1),
            offset: offset as u64,
            data: data.slice(offset..(offset + CHUNK_LEN).min(data.len())),
        })
        .collect()
}

fn scan_batch(count: usize) -> Message {
    let entries = (0..count)
        .map(|i| Entry {
            path: RelPath::new(format!("src/module_{}/file_{i}.rs", i / 100)).unwrap(),
            kind: EntryKind::File,
            size: (i * 7919 % 100_000) as u64,
            meta: Meta {
                mode: 0o644,
                mtime: Timestamp {
                    secs: 1_700_000_000 + i as i64,
                    nanos: (i * 1000) as u32,
                },
                uid: 1000,
                gid: 1000,
            },
            dev: 2049,
            ino: 1_000_000 + i as u64,
            nlink: 1,
        })
        .collect();
    Message::ScanEntries {
        id: RequestId(1),
        entries,
    }
}

fn framing(c: &mut Criterion) {
    let data = Bytes::from(random_bytes(DATA_LEN));
    let chunks = chunk_messages(&data);
    let mut encoded = BytesMut::new();
    let mut encoder = Encoder::new(Limits::default());
    for message in &chunks {
        encoder.encode(message, &mut encoded).unwrap();
    }
    let batch = scan_batch(10_000);
    let mut batch_frame = BytesMut::new();
    encoder.encode(&batch, &mut batch_frame).unwrap();
    println!(
        "scan batch: 10000 entries in {} bytes ({:.1} per entry)",
        batch_frame.len(),
        batch_frame.len() as f64 / 10_000.0
    );

    let mut group = c.benchmark_group("protocol/frames");
    group.throughput(Throughput::Bytes(DATA_LEN as u64));
    group.bench_function("encode file chunks", |b| {
        let mut out = BytesMut::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            for message in &chunks {
                encoder.encode(message, &mut out).unwrap();
            }
            black_box(out.len())
        })
    });
    group.bench_function("decode file chunks", |b| {
        let mut decoder = Decoder::new(Limits::default());
        b.iter_batched(
            || encoded.clone(),
            |mut input| {
                let mut n = 0;
                while let Some(message) = decoder.decode(&mut input).unwrap() {
                    n += black_box(message).request_id().map_or(0, |id| id.0);
                }
                n
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Bytes(batch_frame.len() as u64));
    group.bench_function("encode 10k scan entries", |b| {
        let mut out = BytesMut::new();
        b.iter(|| {
            out.clear();
            encoder.encode(&batch, &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("decode 10k scan entries", |b| {
        let mut decoder = Decoder::new(Limits::default());
        b.iter_batched(
            || batch_frame.clone(),
            |mut input| black_box(decoder.decode(&mut input).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Prints what sharing one context across a batch of small similar files saves, against one
/// context per file (both flushed after every file, as a batch boundary would).
fn print_small_file_ratio() {
    let text = log_text(4 << 20);
    let files: Vec<Vec<u8>> = (0..1000)
        .map(|i| text[i * 4000..i * 4000 + 1000 + i % 1500].to_vec())
        .collect();
    let logical: usize = files.iter().map(Vec::len).sum();
    let mut shared = Compressor::new(3).unwrap();
    let mut shared_out = BytesMut::new();
    let mut separate_len = 0;
    for file in &files {
        shared.compress(file, &mut shared_out).unwrap();
        shared.flush(&mut shared_out).unwrap();
        let mut alone = Compressor::new(3).unwrap();
        let mut out = BytesMut::new();
        alone.compress(file, &mut out).unwrap();
        alone.flush(&mut out).unwrap();
        separate_len += out.len();
    }
    println!(
        "1000 small log files, {logical} bytes: one shared zstd context {} bytes, \
         a context per file {separate_len} bytes",
        shared_out.len()
    );
}

fn compression(c: &mut Criterion) {
    print_small_file_ratio();
    let text = log_text(DATA_LEN);
    let mut group = c.benchmark_group("protocol/zstd");
    group.throughput(Throughput::Bytes(text.len() as u64));
    for level in [1, 3] {
        let mut compressed = BytesMut::new();
        let mut compressor = Compressor::new(level).unwrap();
        compressor.compress(&text, &mut compressed).unwrap();
        compressor.flush(&mut compressed).unwrap();
        println!(
            "zstd level {level}: {} MiB of log text -> {} bytes ({:.1}x)",
            text.len() >> 20,
            compressed.len(),
            text.len() as f64 / compressed.len() as f64
        );
        group.bench_function(format!("compress log text, level {level}"), |b| {
            let mut compressor = Compressor::new(level).unwrap();
            let mut out = BytesMut::new();
            b.iter(|| {
                out.clear();
                for piece in text.chunks(CHUNK_LEN) {
                    compressor.compress(piece, &mut out).unwrap();
                }
                compressor.flush(&mut out).unwrap();
                black_box(out.len())
            })
        });
        group.bench_function(format!("decompress log text, level {level}"), |b| {
            b.iter(|| {
                let mut decompressor = Decompressor::new().unwrap();
                let mut out = BytesMut::new();
                let mut offset = 0;
                while offset < compressed.len() || decompressor.has_pending_output() {
                    out.clear();
                    let step = decompressor
                        .decompress(&compressed[offset..], &mut out, 1 << 20)
                        .unwrap();
                    offset += step.consumed;
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// Pushes `chunks` from a client to an agent through a connected pair, flushing every 4 MiB.
fn session(hello: Hello, chunks: &[Message], stored: bool) -> (u64, u64) {
    let mut client = Endpoint::new(Role::Client, hello);
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&client.take_output());
    client.receive(&agent.take_output());
    assert!(client.poll_message().unwrap().is_none());
    let mut received = 0;
    for (index, message) in chunks.iter().enumerate() {
        if stored {
            client.send_stored(message).unwrap();
        } else {
            client.send(message).unwrap();
        }
        if index % 16 == 15 {
            client.flush().unwrap();
        }
        if client.has_output() {
            agent.receive(&client.take_output());
            while agent.poll_message().unwrap().is_some() {
                received += 1;
            }
        }
    }
    client.flush().unwrap();
    agent.receive(&client.take_output());
    while agent.poll_message().unwrap().is_some() {
        received += 1;
    }
    assert!(received > chunks.len());
    let sent = client.stats().sent;
    (sent.logical, sent.wire)
}

fn sessions(c: &mut Criterion) {
    let text = chunk_messages(&Bytes::from(log_text(DATA_LEN)));
    let random = chunk_messages(&Bytes::from(random_bytes(DATA_LEN)));
    let cases = [
        ("plain, random data", Hello::new(1), &random, false),
        (
            "zstd 3, log text",
            Hello::new(1).with_compression(3),
            &text,
            false,
        ),
        (
            "zstd 3, random data stored",
            Hello::new(1).with_compression(3),
            &random,
            true,
        ),
        (
            "zstd 3, random data compressed",
            Hello::new(1).with_compression(3),
            &random,
            false,
        ),
    ];
    let mut group = c.benchmark_group("protocol/session");
    group.throughput(Throughput::Bytes(DATA_LEN as u64));
    for (name, hello, chunks, stored) in cases {
        let (logical, wire) = session(hello.clone(), chunks, stored);
        println!("session {name}: {logical} logical bytes, {wire} on the wire");
        group.bench_function(name, |b| b.iter(|| session(hello.clone(), chunks, stored)));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = framing, compression, sessions
}
criterion_main!(benches);
