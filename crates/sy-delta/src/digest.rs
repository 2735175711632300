//! Whole-file digests, to check end to end that `apply` rebuilt the right bytes.

use std::fmt;
use std::io::{self, Read};

use crate::error::{Error, Result};

/// The BLAKE3 hash of a whole stream: 32 bytes, compared in constant time, shown in hex.
///
/// ```
/// use sy_delta::{FileDigest, FileHasher};
/// let mut hasher = FileHasher::new();
/// hasher.update(b"hello ");
/// hasher.update(b"world");
/// let digest = hasher.finalize();
/// assert_eq!(digest, FileDigest::of_reader(&b"hello world"[..])?);
/// assert_eq!(digest.to_string().len(), 64);
/// # Ok::<(), sy_delta::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileDigest(blake3::Hash);

impl FileDigest {
    /// Bytes in a digest.
    pub const LEN: usize = 32;

    /// An incremental hasher; the same as [`FileHasher::new`].
    pub fn hasher() -> FileHasher {
        FileHasher::new()
    }

    /// The digest of everything `reader` yields until its end.
    pub fn of_reader<R: Read>(reader: R) -> Result<FileDigest> {
        let mut hasher = FileHasher::new();
        hasher
            .update_reader(reader)
            .map_err(Error::io("reading the file to digest"))?;
        Ok(hasher.finalize())
    }

    /// The digest of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> FileDigest {
        FileDigest(blake3::hash(bytes))
    }

    /// The 32 raw bytes, e.g. to send over the wire.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        self.0.as_bytes()
    }

    /// A digest from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> FileDigest {
        FileDigest(blake3::Hash::from_bytes(bytes))
    }
}

impl fmt::Display for FileDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.to_hex().as_str())
    }
}

impl fmt::Debug for FileDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileDigest({self})")
    }
}

/// Computes a [`FileDigest`] from pieces fed in order: `new`, `update`…, `finalize`.
#[derive(Debug, Clone, Default)]
pub struct FileHasher(blake3::Hasher);

impl FileHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        FileHasher(blake3::Hasher::new())
    }

    /// Feeds the next piece of the stream.
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(bytes);
        self
    }

    /// Feeds everything `reader` yields until its end (in 64 KiB pieces, retrying reads that
    /// were interrupted); an error from the reader is returned as it is.
    pub fn update_reader(&mut self, reader: impl Read) -> io::Result<&mut Self> {
        self.0.update_reader(reader)?;
        Ok(self)
    }

    /// The digest of everything fed so far (the hasher may go on being fed).
    pub fn finalize(&self) -> FileDigest {
        FileDigest(self.0.finalize())
    }
}
