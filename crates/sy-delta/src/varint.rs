//! LEB128 unsigned integers: 7 bits per byte, low bits first, high bit set on all but
//! the last byte. At most 10 bytes for a `u64`.

use std::io::{ErrorKind, Read};

use crate::error::{Error, Result};

/// Longest encoding of a `u64`.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Appends `value` to `out`; returns the bytes used.
pub(crate) fn encode(mut value: u64, out: &mut [u8; MAX_VARINT_LEN]) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

/// Reads one varint; `what` and `reading` name it in errors.
pub(crate) fn read<R: Read + ?Sized>(
    reader: &mut R,
    what: &'static str,
    reading: &'static str,
) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let byte = read_byte(reader, what, reading)?;
        let bits = u64::from(byte & 0x7f);
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(Error::Malformed {
                what,
                reason: "integer does not fit in 64 bits",
            });
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Malformed {
        what,
        reason: "integer does not fit in 64 bits",
    })
}

pub(crate) fn read_byte<R: Read + ?Sized>(
    reader: &mut R,
    what: &'static str,
    reading: &'static str,
) -> Result<u8> {
    let mut byte = [0u8; 1];
    read_exact(reader, &mut byte, what, reading)?;
    Ok(byte[0])
}

/// `read_exact` that reports the end of input as [`Error::Truncated`].
pub(crate) fn read_exact<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
    what: &'static str,
    reading: &'static str,
) -> Result<()> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => Error::Truncated { what, reading },
        _ => Error::io(reading)(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let len = encode(value, &mut buf);
            let mut input = &buf[..len];
            assert_eq!(read(&mut input, "delta", "test").unwrap(), value);
            assert!(input.is_empty());
        }
    }

    #[test]
    fn rejects_overlong_and_truncated_input() {
        let overflow = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            read(&mut &overflow[..], "delta", "test"),
            Err(Error::Malformed { .. })
        ));
        let too_long = [0x80u8; 11];
        assert!(matches!(
            read(&mut &too_long[..], "delta", "test"),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            read(&mut &[0x80u8][..], "delta", "test"),
            Err(Error::Truncated { .. })
        ));
    }
}
