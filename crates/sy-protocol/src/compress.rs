//! Streaming zstd in both directions, without I/O: bytes in, bytes out.
//!
//! One [`Compressor`] serves a whole direction of a session, so the second small file is
//! compressed with the first one still in the window; [`Compressor::flush`] makes everything
//! given so far decodable without ending that context. [`Decompressor`] produces output in
//! bounded steps, so a small input that expands hugely cannot fill memory.

use std::sync::Arc;

use bytes::BytesMut;
use zstd::stream::raw::{CParameter, DParameter, Decoder, Encoder, InBuffer, Operation, OutBuffer};

use crate::error::{ProtocolError, Result};

/// Output is produced through a scratch buffer of this size.
const SCRATCH_LEN: usize = 64 << 10;

/// Largest zstd window the decompressor accepts: 8 MiB (2^23), what level 19 uses at most.
const WINDOW_LOG_MAX: u32 = 23;

/// Sample size [`worth_compressing`] tries, at most.
pub const SAMPLE_LEN: usize = 64 << 10;

/// Samples smaller than this are not judged (too little to say); they count as compressible.
const MIN_SAMPLE_LEN: usize = 512;

/// File name extensions of formats that are already compressed (lower case, without the dot).
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "7z", "aac", "apk", "avi", "avif", "br", "bz2", "deb", "docx", "flac", "gif", "gz", "heic",
    "jar", "jpeg", "jpg", "lz", "lz4", "lzma", "m4a", "m4v", "mkv", "mov", "mp3", "mp4", "odt",
    "ogg", "opus", "png", "pptx", "rar", "rpm", "tbz2", "tgz", "txz", "webm", "webp", "whl",
    "xlsx", "xz", "zip", "zst",
];

fn zstd_error(operation: &'static str) -> impl FnOnce(std::io::Error) -> ProtocolError {
    move |source| ProtocolError::Zstd {
        operation,
        source: Arc::new(source),
    }
}

/// Compresses one direction of a session.
pub struct Compressor {
    encoder: Encoder<'static>,
    scratch: Vec<u8>,
    level: i32,
    /// Input went into the current zstd frame since it began.
    in_frame: bool,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor at zstd `level` (negative levels are zstd's fast ones), with a window the
    /// peer's [`Decompressor`] accepts.
    pub fn new(level: i32) -> Result<Self> {
        let mut encoder = Encoder::new(level).map_err(zstd_error("setup"))?;
        encoder
            .set_parameter(CParameter::WindowLog(window_log_for(level)))
            .map_err(zstd_error("setup"))?;
        Ok(Self {
            encoder,
            scratch: vec![0; SCRATCH_LEN],
            level,
            in_frame: false,
        })
    }

    /// The zstd level in use.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Switches to zstd `level`. zstd takes a new level only at the start of a frame, so the
    /// current frame is ended first (its end appended to `out`): what follows no longer refers
    /// to the data before, so change levels seldom.
    pub fn set_level(&mut self, level: i32, out: &mut BytesMut) -> Result<()> {
        if level == self.level {
            return Ok(());
        }
        if self.in_frame {
            loop {
                let mut output = OutBuffer::around(self.scratch.as_mut_slice());
                let remaining = self
                    .encoder
                    .finish(&mut output, true)
                    .map_err(zstd_error("frame end"))?;
                let written = output.pos();
                out.extend_from_slice(&self.scratch[..written]);
                if remaining == 0 {
                    break;
                }
            }
            self.in_frame = false;
        }
        self.encoder
            .set_parameter(CParameter::CompressionLevel(level))
            .map_err(zstd_error("setup"))?;
        self.encoder
            .set_parameter(CParameter::WindowLog(window_log_for(level)))
            .map_err(zstd_error("setup"))?;
        self.level = level;
        Ok(())
    }

    /// Compresses `input`, appending whatever output zstd releases to `out` (often nothing until
    /// a flush: zstd keeps data to find matches).
    pub fn compress(&mut self, input: &[u8], out: &mut BytesMut) -> Result<()> {
        self.in_frame |= !input.is_empty();
        let mut input = InBuffer::around(input);
        while input.pos() < input.src.len() {
            let mut output = OutBuffer::around(self.scratch.as_mut_slice());
            self.encoder
                .run(&mut input, &mut output)
                .map_err(zstd_error("compression"))?;
            let written = output.pos();
            out.extend_from_slice(&self.scratch[..written]);
        }
        Ok(())
    }

    /// Appends everything needed to decode all input so far; the context (the window of past
    /// data) is kept for what comes next.
    pub fn flush(&mut self, out: &mut BytesMut) -> Result<()> {
        loop {
            let mut output = OutBuffer::around(self.scratch.as_mut_slice());
            let remaining = self
                .encoder
                .flush(&mut output)
                .map_err(zstd_error("flush"))?;
            let written = output.pos();
            out.extend_from_slice(&self.scratch[..written]);
            if remaining == 0 {
                return Ok(());
            }
        }
    }
}

/// The window zstd would pick for `level` on a large input (from zstd's level table), capped
/// at what the peer's [`Decompressor`] accepts.
fn window_log_for(level: i32) -> u32 {
    let log = match level {
        ..=1 => 19,
        2 => 20,
        3..=5 => 21,
        6..=12 => 22,
        _ => 23,
    };
    WINDOW_LOG_MAX.min(log)
}

/// Decompresses one direction of a session.
pub struct Decompressor {
    decoder: Decoder<'static>,
    scratch: Vec<u8>,
    /// The last step filled the output, so zstd may hold more without needing input.
    maybe_pending: bool,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

/// How much one [`Decompressor::decompress`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Output bytes appended.
    pub produced: usize,
}

impl Decompressor {
    /// A decompressor that refuses windows over 8 MiB.
    pub fn new() -> Result<Self> {
        let mut decoder = Decoder::new().map_err(zstd_error("setup"))?;
        decoder
            .set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
            .map_err(zstd_error("setup"))?;
        Ok(Self {
            decoder,
            scratch: vec![0; SCRATCH_LEN],
            maybe_pending: false,
        })
    }

    /// Decompresses from `input`, appending to `out` until `input` is used up or about
    /// `max_output` bytes were produced (at most one scratch buffer more).
    ///
    /// Unconsumed input must be passed again. Call with an empty `input` while
    /// [`Decompressor::has_pending_output`] says zstd may still hold output.
    pub fn decompress(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        max_output: usize,
    ) -> Result<Progress> {
        let mut input = InBuffer::around(input);
        let mut produced = 0;
        while produced < max_output && (input.pos() < input.src.len() || self.maybe_pending) {
            let mut output = OutBuffer::around(self.scratch.as_mut_slice());
            let before = input.pos();
            self.decoder
                .run(&mut input, &mut output)
                .map_err(zstd_error("decompression"))?;
            let written = output.pos();
            out.extend_from_slice(&self.scratch[..written]);
            produced += written;
            self.maybe_pending = written == SCRATCH_LEN;
            if written == 0 && input.pos() == before {
                break;
            }
        }
        Ok(Progress {
            consumed: input.pos(),
            produced,
        })
    }

    /// Whether zstd may hold decoded bytes that a call with empty input would release.
    pub fn has_pending_output(&self) -> bool {
        self.maybe_pending
    }
}

/// Whether a file's data is worth compressing: not when its extension names a compressed format,
/// nor when a level-1 trial on `sample` (its first bytes, up to [`SAMPLE_LEN`]) saves under 10 %.
///
/// Data judged not worth it travels in stored blocks through a compressed stream (see
/// [`crate::Endpoint::send_stored`]), costing no CPU on either side.
pub fn worth_compressing(path: &[u8], sample: &[u8]) -> bool {
    if has_compressed_extension(path) {
        return false;
    }
    let sample = &sample[..sample.len().min(SAMPLE_LEN)];
    if sample.len() < MIN_SAMPLE_LEN {
        return true;
    }
    match zstd::bulk::compress(sample, 1) {
        Ok(compressed) => compressed.len() * 10 < sample.len() * 9,
        Err(_) => true,
    }
}

fn has_compressed_extension(path: &[u8]) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    let extension = &name[dot + 1..];
    COMPRESSED_EXTENSIONS
        .iter()
        .any(|known| known.as_bytes().eq_ignore_ascii_case(extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_matched_case_insensitively_on_the_last_component() {
        assert!(!worth_compressing(b"photos/IMG_001.JPG", b""));
        assert!(!worth_compressing(b"a.tar.zst", b""));
        assert!(worth_compressing(b"zip.d/notes.txt", b""));
        assert!(worth_compressing(b"README", b""));
        assert!(worth_compressing(b".gz/plain", b""));
    }

    #[test]
    fn random_sample_is_not_worth_compressing_text_is() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..SAMPLE_LEN)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(!worth_compressing(b"data.bin", &noise));
        let text = "fn main() { println!(\"hello\"); }\n".repeat(2000);
        assert!(worth_compressing(b"data.bin", text.as_bytes()));
    }

    #[test]
    fn output_is_released_in_bounded_steps() {
        let mut compressor = Compressor::new(3).unwrap();
        let mut wire = BytesMut::new();
        compressor.compress(&vec![0u8; 4 << 20], &mut wire).unwrap();
        compressor.flush(&mut wire).unwrap();
        assert!(
            wire.len() < 4096,
            "4 MiB of zeros took {} bytes",
            wire.len()
        );

        let mut decompressor = Decompressor::new().unwrap();
        let mut plain = BytesMut::new();
        let step = decompressor.decompress(&wire, &mut plain, 1).unwrap();
        assert!(
            step.produced <= SCRATCH_LEN,
            "one step produced {}",
            step.produced
        );
        let mut offset = step.consumed;
        while offset < wire.len() || decompressor.has_pending_output() {
            let step = decompressor
                .decompress(&wire[offset..], &mut plain, 1 << 20)
                .unwrap();
            assert!(step.produced <= (1 << 20) + SCRATCH_LEN);
            offset += step.consumed;
        }
        assert_eq!(plain.len(), 4 << 20);
        assert!(plain.iter().all(|&b| b == 0));
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut decompressor = Decompressor::new().unwrap();
        let mut plain = BytesMut::new();
        let err = decompressor
            .decompress(
                b"\x28\xb5\x2f\xfd garbage garbage garbage",
                &mut plain,
                1 << 20,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("zstd decompression failed"), "{err}");
    }
}
