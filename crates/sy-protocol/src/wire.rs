//! Field encoding inside frame bodies: LEB128 varints, length-prefixed byte strings, and a reader
//! that checks every length and count against the bytes left in the body before it allocates.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, Result};
use crate::kind::FrameKind;
use crate::relpath::RelPath;

/// Where encoded fields go: a buffer, or a [`Counter`] that only measures, so sizes come from
/// the same code that writes.
pub(crate) trait Sink {
    fn put_u8(&mut self, byte: u8);
    fn put_slice(&mut self, bytes: &[u8]);
}

impl Sink for BytesMut {
    fn put_u8(&mut self, byte: u8) {
        BufMut::put_u8(self, byte);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        BufMut::put_slice(self, bytes);
    }
}

/// A [`Sink`] that counts bytes instead of storing them.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put_u8(&mut self, _byte: u8) {
        self.0 += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// The most items one list in one frame may hold (scan entries, delta ops, tree ops, paths,
/// digests): items are larger in memory than on the wire, so this, not the frame size, bounds
/// what decoding one frame allocates. Senders split longer lists over several frames.
pub const MAX_LIST_ITEMS: usize = 16384;

/// The most filter rules one scan request may carry: a user's `--exclude-from` file goes in
/// one frame, so it gets a bound of its own (a rule is a few dozen bytes in memory).
pub const MAX_FILTER_RULES: usize = 1 << 20;

pub(crate) fn put_varint(dst: &mut impl Sink, mut value: u64) {
    while value >= 0x80 {
        dst.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    dst.put_u8(value as u8);
}

/// Signed values are zigzag-mapped so small negatives stay short.
pub(crate) fn put_signed(dst: &mut impl Sink, value: i64) {
    put_varint(dst, ((value << 1) ^ (value >> 63)) as u64);
}

pub(crate) fn put_bytes(dst: &mut impl Sink, bytes: &[u8]) {
    put_varint(dst, bytes.len() as u64);
    dst.put_slice(bytes);
}

/// Reads the fields of one frame body, in order.
///
/// Holds the body as `Bytes` so data fields can be handed out as zero-copy slices.
pub(crate) struct BodyReader {
    body: Bytes,
    pos: usize,
    kind: FrameKind,
}

impl BodyReader {
    pub(crate) fn new(kind: FrameKind, body: Bytes) -> Self {
        Self { body, pos: 0, kind }
    }

    pub(crate) fn kind(&self) -> FrameKind {
        self.kind
    }

    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> ProtocolError {
        ProtocolError::malformed(self.kind, reason)
    }

    fn take(&mut self, len: usize, field: &str) -> Result<&[u8]> {
        if len > self.remaining() {
            return Err(self.error(format!(
                "field `{field}` needs {len} bytes but only {} remain in the body",
                self.remaining()
            )));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.body[start..self.pos])
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn varint(&mut self, field: &str) -> Result<u64> {
        let mut value = 0u64;
        for index in 0..MAX_VARINT_LEN {
            let byte = self.u8(field)?;
            let bits = u64::from(byte & 0x7f);
            if index == MAX_VARINT_LEN - 1 && bits > 1 {
                return Err(self.error(format!("field `{field}`: varint overflows 64 bits")));
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(format!(
            "field `{field}`: varint longer than {MAX_VARINT_LEN} bytes"
        )))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32> {
        let value = self.varint(field)?;
        u32::try_from(value)
            .map_err(|_| self.error(format!("field `{field}`: {value} does not fit in 32 bits")))
    }

    pub(crate) fn signed(&mut self, field: &str) -> Result<i64> {
        let raw = self.varint(field)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    pub(crate) fn bool(&mut self, field: &str) -> Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.error(format!("field `{field}`: {other} is not a boolean"))),
        }
    }

    /// A length-prefixed byte string, sliced out of the body without copying.
    pub(crate) fn bytes(&mut self, field: &str) -> Result<Bytes> {
        let len = self.varint(field)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.remaining() {
            return Err(self.error(format!(
                "field `{field}` declares {len} bytes but only {} remain in the body",
                self.remaining()
            )));
        }
        let start = self.pos;
        self.pos += len;
        Ok(self.body.slice(start..self.pos))
    }

    /// A length-prefixed byte string copied into its own `Vec` (link targets, error texts).
    pub(crate) fn vec(&mut self, field: &str) -> Result<Vec<u8>> {
        Ok(self.bytes(field)?.to_vec())
    }

    /// A length-prefixed path, refused unless it is a clean relative path.
    pub(crate) fn path(&mut self, field: &'static str) -> Result<RelPath> {
        let bytes = self.bytes(field)?;
        RelPath::new(&bytes[..]).map_err(|source| ProtocolError::InvalidPath {
            kind: self.kind,
            field,
            source,
        })
    }

    /// An item count, refused over `max` or when even the smallest possible items could not
    /// fit in what is left of the body, so a `Vec::with_capacity(count)` is bounded.
    pub(crate) fn count(&mut self, field: &str, min_item_len: usize, max: usize) -> Result<usize> {
        let count = self.varint(field)?;
        let fits = self.remaining() / min_item_len.max(1);
        match usize::try_from(count) {
            Ok(count) if count <= fits.min(max) => Ok(count),
            Ok(count) if count <= fits => Err(self.error(format!(
                "field `{field}` declares {count} items, over the {max} a frame may carry"
            ))),
            _ => Err(self.error(format!(
                "field `{field}` declares {count} items but the {} bytes left hold at most {fits}",
                self.remaining()
            ))),
        }
    }

    /// Ends the body; bytes left over mean the peer and we disagree on the layout.
    pub(crate) fn finish(self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(self.error(format!("{extra} unexpected bytes after the last field"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> BodyReader {
        BodyReader::new(FrameKind::Ok, Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for shift in 0..64 {
            for value in [(1u64 << shift) - 1, 1u64 << shift, u64::MAX >> (63 - shift)] {
                let mut buf = BytesMut::new();
                put_varint(&mut buf, value);
                let mut r = reader(&buf);
                assert_eq!(r.varint("v").unwrap(), value);
                r.finish().unwrap();
            }
        }
    }

    #[test]
    fn signed_values_round_trip() {
        for value in [0, 1, -1, 63, -64, i64::MAX, i64::MIN, -1_700_000_000] {
            let mut buf = BytesMut::new();
            put_signed(&mut buf, value);
            assert_eq!(reader(&buf).signed("s").unwrap(), value);
        }
    }

    #[test]
    fn overlong_varint_is_refused() {
        let err = reader(&[0xff; 11]).varint("v").unwrap_err().to_string();
        assert!(err.contains("varint"), "{err}");
        let err = reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
            .varint("v")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overflows 64 bits"), "{err}");
    }

    #[test]
    fn length_past_the_body_is_refused_before_allocating() {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, u64::MAX);
        let err = reader(&buf).bytes("path").unwrap_err().to_string();
        assert!(err.contains("field `path` declares"), "{err}");
    }

    #[test]
    fn count_is_bounded_per_frame() {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, MAX_LIST_ITEMS as u64 + 1);
        buf.extend_from_slice(&vec![0; MAX_LIST_ITEMS + 1]);
        let err = reader(&buf)
            .count("ops", 1, MAX_LIST_ITEMS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the 16384 a frame may carry"), "{err}");
        let mut buf = BytesMut::new();
        put_varint(&mut buf, MAX_LIST_ITEMS as u64);
        buf.extend_from_slice(&vec![0; MAX_LIST_ITEMS]);
        assert_eq!(
            reader(&buf).count("ops", 1, MAX_LIST_ITEMS).unwrap(),
            MAX_LIST_ITEMS
        );
    }

    #[test]
    fn count_is_bounded_by_remaining_bytes() {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, 5);
        buf.extend_from_slice(&[0; 9]);
        let err = reader(&buf)
            .count("entries", 2, MAX_LIST_ITEMS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hold at most 4"), "{err}");
        let mut r = reader(&buf);
        assert!(r.count("entries", 1, MAX_LIST_ITEMS).is_ok());
    }
}
