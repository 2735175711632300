//! Signatures: serialisation round trips and thread-count independence.

use sy_delta::{Signature, SignatureOptions};

use crate::util::random_bytes;

#[test]
fn threaded_signature_is_identical_to_single_threaded() {
    for (len, block_size) in [
        (0, 700),
        (1, 700),
        (4 << 20, 4096),
        (10 << 20, 4096),
        ((9 << 20) + 123, 1000),
    ] {
        let data = random_bytes(len as u64, len);
        let opts = SignatureOptions::for_len(len as u64).with_block_size(block_size);
        let single = Signature::calculate(&data[..], opts).unwrap();
        for threads in [0, 2, 3] {
            let threaded = Signature::calculate(&data[..], opts.with_threads(threads)).unwrap();
            assert_eq!(single, threaded, "len {len}, {threads} threads");
        }
        assert_eq!(single.block_count(), len.div_ceil(block_size as usize));
        assert_eq!(single.file_len(), len as u64);
    }
}

#[test]
fn serialisation_round_trips_through_bytes_and_streams() {
    let data = random_bytes(11, 100_000);
    let sig = Signature::calculate(
        &data[..],
        SignatureOptions::for_len(100_000)
            .with_strong_len(11)
            .with_seed(42),
    )
    .unwrap();
    let bytes = sig.to_bytes();
    assert_eq!(bytes.len(), sig.serialized_len());
    assert_eq!(bytes.len(), 28 + sig.block_count() * 15);
    assert_eq!(&bytes[..4], b"SYSG");
    assert_eq!(Signature::from_bytes(&bytes).unwrap(), sig);

    let mut streamed = Vec::new();
    sig.write_to(&mut streamed).unwrap();
    assert_eq!(streamed, bytes);
    streamed.extend_from_slice(b"next message");
    let mut reader = &streamed[..];
    assert_eq!(Signature::read_from(&mut reader, 1 << 20).unwrap(), sig);
    assert_eq!(reader, b"next message");
}

#[test]
fn signature_depends_on_the_seed_but_not_the_weak_sums() {
    let data = random_bytes(12, 10_000);
    let opts = SignatureOptions::for_len(10_000);
    let a = Signature::calculate(&data[..], opts.with_seed(1))
        .unwrap()
        .to_bytes();
    let b = Signature::calculate(&data[..], opts.with_seed(2))
        .unwrap()
        .to_bytes();
    assert_ne!(a, b);
    assert_eq!(a[28..32], b[28..32], "first weak sum is seed-independent");
}

/// Yields `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(7);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn read_errors_surface_with_context_on_any_thread_count() {
    for threads in [1, 2, 4] {
        let opts = SignatureOptions::for_len(1 << 20).with_threads(threads);
        let result = Signature::calculate(FailingReader { good: 9 << 20 }, opts);
        let Err(sy_delta::Error::Io { context, source }) = result else {
            panic!("{threads} threads: expected an I/O error, got {result:?}");
        };
        assert_eq!(context, "reading the file to sign");
        assert_eq!(source.to_string(), "disk on fire");
    }
    let sig = Signature::calculate(&[1u8; 5000][..], SignatureOptions::for_len(5000)).unwrap();
    let mut sink = |_: sy_delta::DeltaOp<&[u8]>| Ok(());
    let result = sy_delta::diff(&sig.index(), FailingReader { good: 1 << 20 }, &mut sink);
    assert!(
        matches!(
            &result,
            Err(sy_delta::Error::Io {
                context: "reading the new file",
                ..
            })
        ),
        "{result:?}"
    );
}
