//! Parameters of a signature: block size, strong hash length, seed and threads.

use crate::error::{Error, Result};

/// Largest block size accepted, from a caller or from a peer's signature (16 MiB).
///
/// Bounds the memory `diff` needs for its window, whatever a signature claims.
pub const MAX_BLOCK_SIZE: u32 = 16 << 20;
/// Smallest block size [`SignatureOptions::for_len`] picks (rsync's rule).
pub const MIN_AUTO_BLOCK_SIZE: u32 = 700;
/// Largest block size [`SignatureOptions::for_len`] picks.
pub const MAX_AUTO_BLOCK_SIZE: u32 = 128 << 10;
/// Shortest strong hash kept per block, in bytes.
pub const MIN_STRONG_LEN: u8 = 8;
/// Longest strong hash kept per block, in bytes (a whole XXH3-128).
pub const MAX_STRONG_LEN: u8 = 16;

/// How a [`Signature`](crate::Signature) is computed.
///
/// Start from [`SignatureOptions::for_len`] and override what you need:
///
/// ```
/// use sy_delta::SignatureOptions;
/// let opts = SignatureOptions::for_len(1 << 30).with_seed(0x5eed).with_threads(2);
/// assert_eq!(opts.block_size(), 16384);
/// assert_eq!(opts.seed(), 0x5eed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureOptions {
    block_size: u32,
    strong_len: u8,
    seed: u64,
    threads: usize,
}

impl SignatureOptions {
    /// Options suited to a file of `len` bytes: a block size of about `sqrt(len) / 2`
    /// (a multiple of 8, clamped to 700 B ..= 128 KiB), a strong hash long enough
    /// that an accidental false match is negligible, seed 0 and one thread.
    ///
    /// Why half of rsync's `sqrt(len)`: a delta pays about one block of literal bytes per
    /// changed stretch (the partly changed blocks at its two ends), and the signature pays
    /// 12 bytes (weak sum and strong hash) per block of the basis. The total is smallest at
    /// `sqrt(len · 12 / stretches)`; `sqrt(len) / 2` is that for about 48 changed stretches,
    /// where rsync's rule assumes a dozen. Files that change in many places (databases, disk
    /// images, the benchmark's 100 scattered edits of a 1 GiB file) send about 10% fewer
    /// bytes; a file with a single small change sends a signature twice as large (0.8 MB
    /// instead of 0.4 MB for 1 GiB).
    pub fn for_len(len: u64) -> Self {
        let root = len.isqrt() / 2;
        let rounded = (root + 4) / 8 * 8;
        let block_size = rounded.clamp(
            u64::from(MIN_AUTO_BLOCK_SIZE),
            u64::from(MAX_AUTO_BLOCK_SIZE),
        );
        let block_size = u32::try_from(block_size).unwrap_or(MAX_AUTO_BLOCK_SIZE);
        SignatureOptions {
            block_size,
            strong_len: strong_len_for(len, block_size),
            seed: 0,
            threads: 1,
        }
    }

    /// Uses blocks of `block_size` bytes (1 ..= [`MAX_BLOCK_SIZE`], checked when used).
    #[must_use]
    pub fn with_block_size(mut self, block_size: u32) -> Self {
        self.block_size = block_size;
        self
    }

    /// Keeps `strong_len` bytes of each block's XXH3-128
    /// ([`MIN_STRONG_LEN`] ..= [`MAX_STRONG_LEN`], checked when used).
    #[must_use]
    pub fn with_strong_len(mut self, strong_len: u8) -> Self {
        self.strong_len = strong_len;
        self
    }

    /// Seeds the strong hash. Use a fresh random seed per session so that nobody who
    /// can place data in the new file can craft blocks that collide with the old one.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Hashes on `threads` threads (`0` means all available cores). The signature is
    /// byte-identical whatever the thread count.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Bytes of strong hash kept per block.
    pub fn strong_len(&self) -> u8 {
        self.strong_len
    }

    /// Seed of the strong hash.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Requested thread count (`0` means all available cores).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Checks the block size and strong hash length.
    pub fn validate(&self) -> Result<()> {
        validate_block_size(self.block_size)?;
        validate_strong_len(self.strong_len)
    }

    /// The thread count to use: `threads`, or the available cores when it is 0.
    pub(crate) fn effective_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

impl Default for SignatureOptions {
    fn default() -> Self {
        SignatureOptions::for_len(0)
    }
}

pub(crate) fn validate_block_size(block_size: u32) -> Result<()> {
    if (1..=MAX_BLOCK_SIZE).contains(&block_size) {
        Ok(())
    } else {
        Err(Error::InvalidBlockSize { block_size })
    }
}

pub(crate) fn validate_strong_len(strong_len: u8) -> Result<()> {
    if (MIN_STRONG_LEN..=MAX_STRONG_LEN).contains(&strong_len) {
        Ok(())
    } else {
        Err(Error::InvalidStrongLen { strong_len })
    }
}

/// rsync's estimate of the hash bits needed (`10 + 2·log2(len) − log2(block)`), plus
/// 32 bits of margin, minus the 32 bits the weak sum already provides, in bytes.
fn strong_len_for(len: u64, block_size: u32) -> u8 {
    let bits = 10 + 32 + 2 * len.checked_ilog2().unwrap_or(0) - block_size.ilog2();
    let bytes = bits.saturating_sub(32).div_ceil(8);
    u8::try_from(bytes)
        .unwrap_or(MAX_STRONG_LEN)
        .clamp(MIN_STRONG_LEN, MAX_STRONG_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_follows_sqrt_and_clamps() {
        assert_eq!(SignatureOptions::for_len(0).block_size(), 700);
        assert_eq!(SignatureOptions::for_len(1 << 20).block_size(), 700);
        assert_eq!(SignatureOptions::for_len(4 << 20).block_size(), 1024);
        assert_eq!(SignatureOptions::for_len(8 << 20).block_size(), 1448);
        assert_eq!(SignatureOptions::for_len(256 << 20).block_size(), 8192);
        assert_eq!(SignatureOptions::for_len(1 << 30).block_size(), 16384);
        assert_eq!(SignatureOptions::for_len(64 << 30).block_size(), 128 << 10);
        assert_eq!(SignatureOptions::for_len(u64::MAX).block_size(), 128 << 10);
    }

    #[test]
    fn strong_len_grows_with_file_and_stays_in_range() {
        assert_eq!(SignatureOptions::for_len(0).strong_len(), 8);
        assert_eq!(SignatureOptions::for_len(256 << 20).strong_len(), 8);
        let huge = SignatureOptions::for_len(u64::MAX).strong_len();
        assert!((9..=16).contains(&huge), "{huge}");
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        let ok = SignatureOptions::for_len(1000);
        assert!(ok.validate().is_ok());
        assert!(matches!(
            ok.with_block_size(0).validate(),
            Err(Error::InvalidBlockSize { block_size: 0 })
        ));
        assert!(matches!(
            ok.with_block_size(MAX_BLOCK_SIZE + 1).validate(),
            Err(Error::InvalidBlockSize { .. })
        ));
        assert!(matches!(
            ok.with_strong_len(7).validate(),
            Err(Error::InvalidStrongLen { strong_len: 7 })
        ));
        assert!(matches!(
            ok.with_strong_len(17).validate(),
            Err(Error::InvalidStrongLen { strong_len: 17 })
        ));
    }
}
