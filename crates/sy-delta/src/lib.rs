//! `sy-delta` is the delta engine of sy: it rebuilds a new version of a file where only
//! an old version (the *basis*) exists, sending just the differences. It is rsync's
//! algorithm — block signatures, a rolling weak checksum, a strong hash — as a small,
//! synchronous, streaming library with constant memory, usable on its own.
//!
//! Three verbs:
//!
//! 1. [`Signature::calculate`] reads the basis and records a weak and a strong checksum
//!    per block. It is small (about 12–20 bytes per block) and is sent to the side that has
//!    the new file.
//! 2. [`diff`] reads the new file once and streams [`DeltaOp`]s — *copy these bytes of the
//!    basis* or *here are literal bytes* — into a [`DeltaSink`]: a [`DeltaWriter`] for the
//!    binary encoding below, a closure, or a [`Patcher`].
//! 3. [`apply`] (or [`Patcher`], op by op) rebuilds the new file from the basis and the
//!    delta. Then compare its [`FileDigest`] with the source's.
//!
//! ```
//! use std::io::Cursor;
//! use sy_delta::{DeltaWriter, FileDigest, Signature, SignatureOptions, apply, diff};
//!
//! let old: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
//! let mut new = old.clone();
//! new.splice(1000..1000, *b"inserted bytes");
//! new[300_000] ^= 0xff;
//!
//! // Where the basis is:
//! let opts = SignatureOptions::for_len(old.len() as u64).with_seed(0x5eed);
//! let sig_bytes = Signature::calculate(&old[..], opts)?.to_bytes();
//!
//! // Where the new file is:
//! let index = Signature::from_bytes(&sig_bytes)?.into_index();
//! let mut writer = DeltaWriter::new(Vec::new());
//! let stats = diff(&index, &new[..], &mut writer)?;
//! let delta = writer.finish()?;
//! assert!(stats.literal_bytes <= 2 * 700 + 14, "{stats:?}"); // two blocks and the insertion
//! assert!(delta.len() < 2_000);
//!
//! // Back where the basis is:
//! let mut rebuilt = Vec::new();
//! apply(Cursor::new(&old), &delta[..], &mut rebuilt)?;
//! assert_eq!(FileDigest::of_bytes(&rebuilt), FileDigest::of_bytes(&new));
//! # Ok::<(), sy_delta::Error>(())
//! ```
//!
//! # How it works
//!
//! The signature holds, per block of the basis, an Adler-32-style weak checksum (two
//! 32-bit sums that slide one byte in O(1)) and the seeded XXH3-128 of the block,
//! truncated to 8–16 bytes. [`diff`] keeps a window of one block over the new file. At a
//! block boundary after a match it first tries the *next* basis block by its strong hash
//! alone (unchanged data flows at hashing speed); otherwise it looks the window's weak
//! checksum up in a [`SignatureIndex`], whose bitset rejects almost every miss with one
//! memory read, and on a miss rolls the window one byte forward. The new file goes
//! through a fixed buffer, never whole; memory is O(blocks) for the index (about 56
//! bytes per block: 7.3 MB for a 4 GiB file at the default block size) and O(block +
//! 384 KiB) for the stream. Signatures of big files may be hashed on several threads
//! ([`SignatureOptions::with_threads`]), with the same result.
//!
//! # The delta encoding
//!
//! What [`DeltaWriter`] writes and [`DeltaReader`] / [`apply`] read:
//!
//! ```text
//! +-----+---------+=======================================+------+
//! | SYD | version | op op op ...                          | 0x00 |
//! | 3 B | 1 B (1) |                                       | end  |
//! +-----+---------+=======================================+------+
//!
//! op: +------+----------------+-------------------+
//!     | 0x01 | shift: varint  | len − 1: varint   |   Copy len bytes of the basis from
//!     +------+----------------+-------------------+   offset = previous copy's end + shift
//!     +------+----------------+-------------------+
//!     | 0x02 | len − 1: varint| len bytes         |   Literal
//!     +------+----------------+-------------------+
//!
//! varint: unsigned LEB128 (7 bits per byte, low bits first), at most 10 bytes.
//! shift:  signed, zigzag-encoded (0, −1, 1, −2 … → 0, 1, 2, 3 …); before the first
//!         copy the "previous copy's end" is 0.
//! ```
//!
//! Adjacent copies are coalesced up to [`MAX_COPY_LEN`] (16 MiB), so an unchanged 256 MiB
//! file is 16 Copy ops, under 100 bytes in all. A delta that stops
//! before its end byte is rejected as truncated.
//!
//! # The signature encoding
//!
//! What [`Signature::to_bytes`] / [`Signature::write_to`] write; integers little-endian:
//!
//! ```text
//! +--------+---------+------------+----------+------------+------+----------+
//! | "SYSG" | version | strong_len | reserved | block_size | seed | file_len |
//! | 4 B    | 1 B (1) | 1 B (8-16) | 2 B (0)  | u32        | u64  | u64      |
//! +--------+---------+------------+----------+------------+------+----------+
//! then ceil(file_len / block_size) block sums:
//! +-----------+---------------------------+
//! | weak: u32 | strong: strong_len bytes  |   (the last block may be short)
//! +-----------+---------------------------+
//! ```
//!
//! # Security
//!
//! - **Seeded strong hash.** The weak checksum is public arithmetic and easy to collide
//!   on purpose; the strong hash is XXH3-128 keyed with the signature's seed. Pick a fresh
//!   random seed per session ([`SignatureOptions::with_seed`]) so that someone who can put
//!   data into the new file cannot precompute blocks that collide with the basis. A weak
//!   checksum that collides 256 times without a strong match is ignored from then on, so
//!   crafted data cannot make `diff` hash a block at every byte position.
//! - **A hostile signature costs linear time.** A peer chooses the weak checksums in the
//!   signature it sends; the [`SignatureIndex`] hashes them with a key drawn at random per
//!   index, keeps at most 64 blocks per weak checksum and walks at most 256 slots per
//!   probe, so no choice of checksums makes building it or probing it quadratic. Blocks
//!   left out only make the delta less compact.
//! - **Limits.** Decoding never trusts a length: a signature's block count is checked
//!   against the bytes present ([`Signature::from_bytes`]) or a caller's limit
//!   ([`Signature::read_from`]) before allocating, block sizes are capped at
//!   [`MAX_BLOCK_SIZE`], literals are read in bounded pieces, every Copy is checked
//!   against the basis length, and [`apply_limited`] / [`Patcher::new`] refuse to write
//!   more than a stated limit. Malformed input is an [`enum@Error`], never a panic.
//! - **Check the result.** XXH3 is fast, not cryptographic, and a strong hash of 8–16
//!   bytes can in principle collide; the basis may also have changed since its signature
//!   was taken. After `apply`, compare the [`FileDigest`] (BLAKE3) of the output with the
//!   sender's before renaming the file into place; on a mismatch, send the file whole.

#![deny(missing_docs)]

mod diff;
mod digest;
mod encoding;
mod error;
mod index;
mod op;
mod options;
mod parallel;
mod patch;
mod rolling;
mod signature;
mod signature_codec;
mod varint;

pub use diff::diff;
pub use digest::{FileDigest, FileHasher};
pub use encoding::{DELTA_MAGIC, DELTA_VERSION, DeltaReader, DeltaWriter};
pub use error::{Error, Result};
pub use index::SignatureIndex;
pub use op::{DeltaOp, DeltaSink, DiffStats, MAX_COPY_LEN, MAX_LITERAL_LEN};
pub use options::{
    MAX_AUTO_BLOCK_SIZE, MAX_BLOCK_SIZE, MAX_STRONG_LEN, MIN_AUTO_BLOCK_SIZE, MIN_STRONG_LEN,
    SignatureOptions,
};
pub use patch::{Patcher, apply, apply_limited};
pub use signature::Signature;
pub use signature_codec::{SIGNATURE_MAGIC, SIGNATURE_VERSION};
