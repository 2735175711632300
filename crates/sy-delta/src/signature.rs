//! The signature of a basis file: a weak and a strong checksum per block.

use std::io::Read;

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::error::{Error, Result};
use crate::index::SignatureIndex;
use crate::options::SignatureOptions;
use crate::parallel;
use crate::rolling::weak_sum;

/// Bytes read and hashed per step on one thread; a whole number of blocks close to this.
const HASH_CHUNK: usize = 4 << 20;
/// The same when threaded: smaller pieces, so that a worker the OS puts to sleep holds
/// back less work.
const PARALLEL_HASH_CHUNK: usize = 1 << 20;

/// What the signature's read errors say the engine was doing.
pub(crate) const READ_CONTEXT: &str = "reading the file to sign";

/// Checksums of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BlockSum {
    /// [`Rolling::digest`](crate::rolling::Rolling::digest) of the block.
    pub(crate) weak: u32,
    /// XXH3-128 of the block, seeded, little-endian, truncated to the signature's strong
    /// length (the bytes beyond it are zero). Bytes, not `u128`, so a sum takes 20 bytes.
    pub(crate) strong: StrongSum,
}

/// A block's strong hash as stored and compared.
pub(crate) type StrongSum = [u8; 16];

/// Hashes a block the way signatures and `diff` both do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrongHasher {
    seed: u64,
    mask: u128,
}

impl StrongHasher {
    pub(crate) fn new(seed: u64, strong_len: u8) -> Self {
        let mask = match strong_len {
            16.. => u128::MAX,
            n => (1u128 << (8 * u32::from(n))) - 1,
        };
        StrongHasher { seed, mask }
    }

    #[inline]
    pub(crate) fn hash(&self, block: &[u8]) -> StrongSum {
        (xxh3_128_with_seed(block, self.seed) & self.mask).to_le_bytes()
    }

    pub(crate) fn block_sum(&self, block: &[u8]) -> BlockSum {
        BlockSum {
            weak: weak_sum(block),
            strong: self.hash(block),
        }
    }

    /// Appends the sums of every block in `data` (the last one may be short).
    pub(crate) fn sum_blocks(&self, data: &[u8], block_size: usize, out: &mut Vec<BlockSum>) {
        out.extend(data.chunks(block_size).map(|block| self.block_sum(block)));
    }
}

/// The signature of a basis file: its length, the block size, and a weak and a strong
/// checksum for each block. Memory is proportional to the block count (20 bytes each).
///
/// Compute it where the old file is, ship it with [`to_bytes`](Signature::to_bytes) or
/// [`write_to`](Signature::write_to), and turn it into a [`SignatureIndex`] where the new
/// file is, to [`diff`](crate::diff) against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub(crate) block_size: u32,
    pub(crate) strong_len: u8,
    pub(crate) seed: u64,
    pub(crate) file_len: u64,
    pub(crate) blocks: Vec<BlockSum>,
}

impl Signature {
    /// Reads `reader` to its end and computes its signature, on
    /// [`opts.threads()`](SignatureOptions::threads) threads.
    ///
    /// Memory: the block sums plus a 4 MiB read buffer (when threaded, `2·threads + 2`
    /// buffers of 1 MiB).
    pub fn calculate<R: Read>(mut reader: R, opts: SignatureOptions) -> Result<Signature> {
        opts.validate()?;
        let threads = opts.effective_threads();
        let hasher = StrongHasher::new(opts.seed(), opts.strong_len());
        let block_size = opts.block_size() as usize;
        let (file_len, blocks) = if threads > 1 {
            let chunk_len = chunk_len(block_size, PARALLEL_HASH_CHUNK);
            parallel::sum_stream(&mut reader, hasher, block_size, chunk_len, threads)?
        } else {
            sum_stream(
                &mut reader,
                hasher,
                block_size,
                chunk_len(block_size, HASH_CHUNK),
            )?
        };
        if blocks.len() > u32::MAX as usize {
            return Err(Error::SignatureTooLarge {
                blocks: blocks.len() as u64,
                limit: u64::from(u32::MAX),
            });
        }
        Ok(Signature {
            block_size: opts.block_size(),
            strong_len: opts.strong_len(),
            seed: opts.seed(),
            file_len,
            blocks,
        })
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Bytes of strong hash kept per block.
    pub fn strong_len(&self) -> u8 {
        self.strong_len
    }

    /// Seed of the strong hash; `diff` hashes the new file with the same seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Length of the file the signature describes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Number of blocks (the last one may be shorter than the block size).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Builds the look-up structure `diff` needs. The signature stays usable.
    pub fn index(&self) -> SignatureIndex {
        SignatureIndex::new(self.clone())
    }

    /// Builds the look-up structure `diff` needs, consuming the signature.
    pub fn into_index(self) -> SignatureIndex {
        SignatureIndex::new(self)
    }
}

/// A whole number of blocks, about `target` bytes.
fn chunk_len(block_size: usize, target: usize) -> usize {
    target.div_ceil(block_size).max(1) * block_size
}

fn sum_stream<R: Read>(
    reader: &mut R,
    hasher: StrongHasher,
    block_size: usize,
    chunk_len: usize,
) -> Result<(u64, Vec<BlockSum>)> {
    let mut buf = vec![0u8; chunk_len];
    let mut blocks = Vec::new();
    let mut file_len = 0u64;
    loop {
        let n = read_full(reader, &mut buf, READ_CONTEXT)?;
        hasher.sum_blocks(&buf[..n], block_size, &mut blocks);
        file_len += n as u64;
        if n < buf.len() {
            return Ok((file_len, blocks));
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
    context: &'static str,
) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(context)(e)),
        }
    }
    Ok(filled)
}
