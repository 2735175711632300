//! The serialised form of a [`Signature`], as shipped between peers.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "SYSG"
//!      4     1  version (1)
//!      5     1  strong_len (8..=16)
//!      6     2  reserved, zero
//!      8     4  block_size (u32 LE, 1..=16 MiB)
//!     12     8  seed (u64 LE)
//!     20     8  file_len (u64 LE); block_count = ceil(file_len / block_size)
//!     28     …  block_count × { weak: u32 LE, strong: strong_len bytes }
//! ```
//!
//! Decoding checks every field and the block count against the bytes present (or the
//! caller's limit) before allocating anything.

use std::io::{Read, Write};

use crate::error::{Error, Result};
use crate::options::{validate_block_size, validate_strong_len};
use crate::signature::{BlockSum, Signature};
use crate::varint;

/// First bytes of every serialised signature.
pub const SIGNATURE_MAGIC: [u8; 4] = *b"SYSG";
/// Version of the signature encoding this build reads and writes.
pub const SIGNATURE_VERSION: u8 = 1;
/// Bytes before the first block sum.
const HEADER_LEN: usize = 28;
const WHAT: &str = "signature";
/// Block sums decoded per read when streaming.
const SUMS_PER_READ: usize = 4096;

struct Header {
    block_size: u32,
    strong_len: u8,
    seed: u64,
    file_len: u64,
    block_count: u64,
}

impl Header {
    fn entry_len(&self) -> usize {
        4 + usize::from(self.strong_len)
    }

    fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header> {
        let mut found = [0u8; 4];
        found.copy_from_slice(&bytes[..4]);
        if found != SIGNATURE_MAGIC {
            return Err(Error::BadMagic { what: WHAT, found });
        }
        if bytes[4] != SIGNATURE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                version: bytes[4],
                supported: SIGNATURE_VERSION,
            });
        }
        let strong_len = bytes[5];
        validate_strong_len(strong_len)?;
        if bytes[6..8] != [0, 0] {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "reserved header bytes are not zero",
            });
        }
        let block_size = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        validate_block_size(block_size)?;
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&bytes[12..20]);
        let mut file_len = [0u8; 8];
        file_len.copy_from_slice(&bytes[20..28]);
        let file_len = u64::from_le_bytes(file_len);
        let block_count = file_len.div_ceil(u64::from(block_size));
        if block_count > u64::from(u32::MAX) {
            return Err(Error::SignatureTooLarge {
                blocks: block_count,
                limit: u64::from(u32::MAX),
            });
        }
        Ok(Header {
            block_size,
            strong_len,
            seed: u64::from_le_bytes(seed),
            file_len,
            block_count,
        })
    }

    fn into_signature(self, blocks: Vec<BlockSum>) -> Signature {
        Signature {
            block_size: self.block_size,
            strong_len: self.strong_len,
            seed: self.seed,
            file_len: self.file_len,
            blocks,
        }
    }
}

fn decode_sums(bytes: &[u8], entry_len: usize, out: &mut Vec<BlockSum>) {
    out.extend(bytes.chunks_exact(entry_len).map(|entry| {
        let mut strong = [0u8; 16];
        strong[..entry_len - 4].copy_from_slice(&entry[4..]);
        BlockSum {
            weak: u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]),
            strong,
        }
    }));
}

impl Signature {
    /// Length of [`to_bytes`](Signature::to_bytes)' output.
    pub fn serialized_len(&self) -> usize {
        HEADER_LEN + self.blocks.len() * (4 + usize::from(self.strong_len))
    }

    /// The serialised signature (format in the [crate docs](crate#the-signature-encoding)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.serialized_len());
        out.extend_from_slice(&self.header());
        for sum in &self.blocks {
            self.push_sum(sum, &mut out);
        }
        out
    }

    /// Writes the serialised signature to `writer` in 64 KiB pieces.
    pub fn write_to<W: Write + ?Sized>(&self, writer: &mut W) -> Result<()> {
        let write = |w: &mut W, bytes: &[u8]| {
            w.write_all(bytes)
                .map_err(Error::io("writing the signature"))
        };
        write(writer, &self.header())?;
        let mut buf = Vec::with_capacity(SUMS_PER_READ * 20);
        for sums in self.blocks.chunks(SUMS_PER_READ) {
            buf.clear();
            for sum in sums {
                self.push_sum(sum, &mut buf);
            }
            write(writer, &buf)?;
        }
        Ok(())
    }

    /// Decodes a serialised signature that fills `bytes` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature> {
        let header_bytes = bytes.first_chunk::<HEADER_LEN>().ok_or(Error::Truncated {
            what: WHAT,
            reading: "header",
        })?;
        let header = Header::parse(header_bytes)?;
        let body = &bytes[HEADER_LEN..];
        let expected = header.block_count * header.entry_len() as u64;
        if body.len() as u64 != expected {
            return Err(Error::SignatureLength {
                expected,
                actual: body.len() as u64,
            });
        }
        let mut blocks = Vec::with_capacity(header.block_count as usize);
        decode_sums(body, header.entry_len(), &mut blocks);
        Ok(header.into_signature(blocks))
    }

    /// Reads one serialised signature from `reader`, refusing (before allocating) one of
    /// more than `max_blocks` blocks. Reads exactly the signature's bytes, no more.
    pub fn read_from<R: Read + ?Sized>(reader: &mut R, max_blocks: u64) -> Result<Signature> {
        let mut header_bytes = [0u8; HEADER_LEN];
        varint::read_exact(reader, &mut header_bytes, WHAT, "header")?;
        let header = Header::parse(&header_bytes)?;
        if header.block_count > max_blocks {
            return Err(Error::SignatureTooLarge {
                blocks: header.block_count,
                limit: max_blocks,
            });
        }
        let entry_len = header.entry_len();
        let mut left = header.block_count as usize;
        // Grows with the data actually read, so a header that lies costs nothing.
        let mut blocks = Vec::with_capacity(left.min(SUMS_PER_READ));
        let mut buf = vec![0u8; left.min(SUMS_PER_READ) * entry_len];
        while left > 0 {
            let count = left.min(SUMS_PER_READ);
            let piece = &mut buf[..count * entry_len];
            varint::read_exact(reader, piece, WHAT, "block sums")?;
            decode_sums(piece, entry_len, &mut blocks);
            left -= count;
        }
        Ok(header.into_signature(blocks))
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&SIGNATURE_MAGIC);
        header[4] = SIGNATURE_VERSION;
        header[5] = self.strong_len;
        header[8..12].copy_from_slice(&self.block_size.to_le_bytes());
        header[12..20].copy_from_slice(&self.seed.to_le_bytes());
        header[20..28].copy_from_slice(&self.file_len.to_le_bytes());
        header
    }

    fn push_sum(&self, sum: &BlockSum, out: &mut Vec<u8>) {
        out.extend_from_slice(&sum.weak.to_le_bytes());
        out.extend_from_slice(&sum.strong[..usize::from(self.strong_len)]);
    }
}
