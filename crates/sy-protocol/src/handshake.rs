//! The handshake: both sides send a [`Hello`] at once, then each computes the same [`Session`]
//! (layout in the crate docs, "Wire format").
//!
//! Unknown compression or hash kinds in a peer's lists are skipped: a newer peer may offer more.
//!
//! Neither side waits for the other before sending its Hello, and messages sent before the peer's
//! Hello arrived are queued (see [`crate::Endpoint`]), so the handshake costs no round trip.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};

use crate::error::{ProtocolError, Result};
use crate::frame::{
    DEFAULT_MAX_FRAME, HEADER_LEN, Limits, MAX_MAX_FRAME, MAX_STRONG_LEN, MIN_MAX_FRAME,
    MIN_STRONG_LEN,
};
use crate::kind::FrameKind;

/// The eight bytes that open each side's stream.
pub const MAGIC: [u8; 8] = *b"\x89SYWIRE\n";

/// The protocol versions this build speaks.
pub const PROTOCOL_VERSIONS: VersionRange = VersionRange { min: 1, max: 1 };

/// Largest Hello body accepted.
const MAX_HELLO_BODY: u32 = 4096;

/// How many junk bytes to wait for (unless a newline or the end of the stream comes first) so
/// the error can quote a whole banner line.
const JUNK_SHOWN: usize = 80;

/// Lowest and highest zstd level offered. Levels above 19 need windows over 8 MiB, which the
/// decompressor refuses to keep memory bounded.
pub const ZSTD_LEVELS: (i8, i8) = (1, 19);

/// zstd level used when none is given.
pub const DEFAULT_ZSTD_LEVEL: i8 = 3;

/// Bit of the Hello's flags byte: this side can run an adaptive session (each writer picks
/// stored or zstd, and the level, per block; see [`crate::CompressionPolicy::Auto`]).
const FLAG_ADAPTIVE: u8 = 1;
/// Bit of a client's flags byte: it asks for an adaptive session.
const FLAG_WANT_ADAPTIVE: u8 = 2;

/// What the client asks of compression (`--compress`), and what a session ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionPolicy {
    /// Frames as they are, no block layer (`--compress=never`).
    Never,
    /// zstd at this level in both directions, whatever the link (`-z`, `--compress=always`).
    Always {
        /// The zstd level.
        level: i8,
    },
    /// Each direction's writer measures its link and compresses only when that pays: zstd at
    /// a level it adapts when the link is the bottleneck, stored blocks when the CPU is
    /// (`--compress=auto`). Against an agent that predates it, the session is not compressed.
    #[default]
    Auto,
}

impl fmt::Display for CompressionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl CompressionPolicy {
    /// `never`, `always` or `auto`, as the command line spells it.
    pub fn name(&self) -> &'static str {
        match self {
            CompressionPolicy::Never => "never",
            CompressionPolicy::Always { .. } => "always",
            CompressionPolicy::Auto => "auto",
        }
    }
}

/// An inclusive range of protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Oldest version spoken.
    pub min: u16,
    /// Newest version spoken.
    pub max: u16,
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "protocol version {}", self.min)
        } else {
            write!(f, "protocol versions {} to {}", self.min, self.max)
        }
    }
}

/// A compression algorithm for the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionKind {
    /// Zstandard, streaming, one context per direction.
    Zstd = 1,
}

impl CompressionKind {
    fn from_code(code: u8) -> Option<Self> {
        (code == CompressionKind::Zstd as u8).then_some(CompressionKind::Zstd)
    }
}

/// A compression algorithm a side can decode, with the levels it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionSupport {
    /// The algorithm.
    pub kind: CompressionKind,
    /// Lowest level accepted.
    pub min_level: i8,
    /// Highest level accepted.
    pub max_level: i8,
}

/// An algorithm and level, as wanted by the client or agreed for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// The algorithm.
    pub kind: CompressionKind,
    /// Its level.
    pub level: i8,
}

/// A strong (per-block) hash algorithm for signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StrongHash {
    /// XXH3-128, seeded with the seed each signature carries (chosen at random by the side
    /// that computes it).
    Xxh3_128 = 1,
}

impl StrongHash {
    fn from_code(code: u8) -> Option<Self> {
        (code == StrongHash::Xxh3_128 as u8).then_some(StrongHash::Xxh3_128)
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            StrongHash::Xxh3_128 => "xxh3-128",
        }
    }
}

/// A strong hash a side can compute, and the longest truncation of it it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSupport {
    /// The algorithm.
    pub kind: StrongHash,
    /// Longest strong-hash length per block, in bytes.
    pub max_len: u8,
}

/// Who opened the connection. The client's wishes (compression, hash order) decide; the agent
/// states what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `sy` process.
    Client,
    /// The `sy-remote` process.
    Agent,
}

/// What one side says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Versions spoken.
    pub versions: VersionRange,
    /// This side's half of the session seed (use a random value).
    pub seed: u64,
    /// Largest frame body this side accepts.
    pub max_frame: u32,
    /// Compression this side can decode, in preference order.
    pub compression: Vec<CompressionSupport>,
    /// Compression the client asks for (`-z`); ignored in an agent's Hello.
    pub want_compression: Option<Compression>,
    /// Strong hashes this side can compute and check, in preference order.
    pub hashes: Vec<HashSupport>,
    /// This side can run an adaptive session (false for a peer whose Hello predates it).
    pub adaptive: bool,
    /// The client asks for an adaptive session (when it wants no fixed compression);
    /// ignored in an agent's Hello.
    pub want_adaptive: bool,
}

impl Hello {
    /// This build's capabilities, no compression wanted, with `seed` as this side's seed half.
    pub fn new(seed: u64) -> Self {
        Self {
            versions: PROTOCOL_VERSIONS,
            seed,
            max_frame: DEFAULT_MAX_FRAME,
            compression: vec![CompressionSupport {
                kind: CompressionKind::Zstd,
                min_level: ZSTD_LEVELS.0,
                max_level: ZSTD_LEVELS.1,
            }],
            want_compression: None,
            hashes: vec![HashSupport {
                kind: StrongHash::Xxh3_128,
                max_len: MAX_STRONG_LEN,
            }],
            adaptive: true,
            want_adaptive: false,
        }
    }

    /// Asks for zstd at `level` in both directions (the client's `-z --compress-level`).
    pub fn with_compression(mut self, level: i8) -> Self {
        self.want_compression = Some(Compression {
            kind: CompressionKind::Zstd,
            level,
        });
        self.want_adaptive = false;
        self
    }

    /// Asks for what `policy` says (the client's `--compress`).
    pub fn with_policy(mut self, policy: CompressionPolicy) -> Self {
        match policy {
            CompressionPolicy::Never => {
                self.want_compression = None;
                self.want_adaptive = false;
            }
            CompressionPolicy::Always { level } => self = self.with_compression(level),
            CompressionPolicy::Auto => {
                // No fixed wish: an agent that predates adaptive sessions then agrees on none.
                self.want_compression = None;
                self.want_adaptive = true;
            }
        }
        self
    }

    /// Appends the magic and the Hello frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&MAGIC);
        let len_at = dst.len();
        dst.put_u32(0);
        dst.put_u8(FrameKind::Hello.code());
        dst.put_u16(self.versions.min);
        dst.put_u16(self.versions.max);
        dst.put_u64(self.seed);
        dst.put_u32(self.max_frame);
        dst.put_u8(self.compression.len().min(usize::from(u8::MAX)) as u8);
        for support in self.compression.iter().take(usize::from(u8::MAX)) {
            dst.put_u8(support.kind as u8);
            dst.put_i8(support.min_level);
            dst.put_i8(support.max_level);
        }
        match self.want_compression {
            Some(want) => {
                dst.put_u8(want.kind as u8);
                dst.put_i8(want.level);
            }
            None => dst.put_u16(0),
        }
        dst.put_u8(self.hashes.len().min(usize::from(u8::MAX)) as u8);
        for support in self.hashes.iter().take(usize::from(u8::MAX)) {
            dst.put_u8(support.kind as u8);
            dst.put_u8(support.max_len);
        }
        let mut flags = 0;
        if self.adaptive {
            flags |= FLAG_ADAPTIVE;
        }
        if self.want_adaptive {
            flags |= FLAG_WANT_ADAPTIVE;
        }
        dst.put_u8(flags);
        let body_len = (dst.len() - len_at - HEADER_LEN) as u32;
        dst[len_at..len_at + 4].copy_from_slice(&body_len.to_be_bytes());
    }

    /// Takes the peer's magic and Hello off the front of `src`.
    ///
    /// `Ok(None)`: not all of it has arrived (pass `eof = true` once the stream has ended, to
    /// get an error instead). Anything but the magic at the start is reported as text printed by
    /// the remote shell; a version range disjoint from `local` is reported before the rest of
    /// the Hello is read.
    pub fn decode(src: &mut BytesMut, eof: bool, local: VersionRange) -> Result<Option<Hello>> {
        let prefix = src.len().min(MAGIC.len());
        if src[..prefix] != MAGIC[..prefix] {
            let line_ended = src.contains(&b'\n');
            if src.len() < JUNK_SHOWN && !line_ended && !eof {
                return Ok(None);
            }
            let shown = &src[..src.len().min(JUNK_SHOWN)];
            return Err(ProtocolError::JunkBeforeHandshake {
                shown: shown.escape_ascii().to_string(),
                shown_len: shown.len(),
                received: src.len(),
            });
        }
        let need_header = MAGIC.len() + HEADER_LEN;
        let closed = || ProtocolError::ClosedDuringHandshake {
            received: src.len(),
        };
        let Some(header) = src.get(MAGIC.len()..need_header) else {
            return if eof { Err(closed()) } else { Ok(None) };
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = match FrameKind::from_code(header[4]) {
            Some(FrameKind::Hello) => FrameKind::Hello,
            Some(kind) => {
                return Err(ProtocolError::UnexpectedFrame {
                    kind,
                    context: "where the handshake should be",
                });
            }
            None => {
                return Err(ProtocolError::UnknownFrameKind {
                    kind: header[4],
                    len,
                });
            }
        };
        if len > MAX_HELLO_BODY {
            return Err(ProtocolError::FrameTooLarge {
                kind,
                len: u64::from(len),
                max: MAX_HELLO_BODY,
            });
        }
        if src.len() < need_header + len as usize {
            return if eof { Err(closed()) } else { Ok(None) };
        }
        src.advance(need_header);
        let mut body = src.split_to(len as usize);
        parse_body(&mut body, local).map(Some)
    }
}

fn parse_body(body: &mut BytesMut, local: VersionRange) -> Result<Hello> {
    let short = || ProtocolError::malformed(FrameKind::Hello, "body ends before its last field");
    if body.remaining() < 4 {
        return Err(short());
    }
    let versions = VersionRange {
        min: body.get_u16(),
        max: body.get_u16(),
    };
    check_versions(local, versions)?;
    if body.remaining() < 8 + 4 + 1 {
        return Err(short());
    }
    let seed = body.get_u64();
    let max_frame = body.get_u32();
    let count = usize::from(body.get_u8());
    if body.remaining() < count * 3 + 2 {
        return Err(short());
    }
    let mut compression = Vec::with_capacity(count);
    for _ in 0..count {
        let (code, min_level, max_level) = (body.get_u8(), body.get_i8(), body.get_i8());
        if let Some(kind) = CompressionKind::from_code(code) {
            compression.push(CompressionSupport {
                kind,
                min_level,
                max_level,
            });
        }
    }
    let (want_code, want_level) = (body.get_u8(), body.get_i8());
    let want_compression = CompressionKind::from_code(want_code).map(|kind| Compression {
        kind,
        level: want_level,
    });
    if body.remaining() < 1 {
        return Err(short());
    }
    let count = usize::from(body.get_u8());
    if body.remaining() < count * 2 {
        return Err(short());
    }
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let (code, max_len) = (body.get_u8(), body.get_u8());
        if let Some(kind) = StrongHash::from_code(code) {
            hashes.push(HashSupport { kind, max_len });
        }
    }
    // Appended after the first release: a Hello without it is from an older peer.
    let flags = if body.has_remaining() {
        body.get_u8()
    } else {
        0
    };
    Ok(Hello {
        versions,
        seed,
        max_frame,
        compression,
        want_compression,
        hashes,
        adaptive: flags & FLAG_ADAPTIVE != 0,
        want_adaptive: flags & FLAG_WANT_ADAPTIVE != 0,
    })
}

fn check_versions(local: VersionRange, remote: VersionRange) -> Result<u16> {
    let common_min = local.min.max(remote.min);
    let common_max = local.max.min(remote.max);
    if remote.min > remote.max || common_min > common_max {
        return Err(ProtocolError::IncompatibleVersion { local, remote });
    }
    Ok(common_max)
}

/// What both sides agreed on; each computes the same value from the two Hellos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Protocol version in use: the newest both speak.
    pub version: u16,
    /// Stream compression in both directions, if any: the level to use, or to start from
    /// when `adaptive`.
    pub compression: Option<Compression>,
    /// Each side's writer chooses per block between stored and zstd, and the zstd level
    /// (within [`crate::AUTO_LEVELS`], which any zstd decoder reads), from what it measures.
    pub adaptive: bool,
    /// Strong hash for signatures.
    pub strong_hash: StrongHash,
    /// Longest strong hash a signature request may ask for.
    pub max_strong_len: u8,
    /// Largest frame body either side sends.
    pub max_frame: u32,
    /// A value mixed from both sides' halves, so neither picks it alone. Signatures do not use
    /// it: each carries its own random seed, picked by the side that computes it.
    pub seed: u64,
}

impl Session {
    /// The compression the session runs with, as the client's `--compress` names it.
    pub fn policy(&self) -> CompressionPolicy {
        match self.compression {
            None => CompressionPolicy::Never,
            Some(_) if self.adaptive => CompressionPolicy::Auto,
            Some(compression) => CompressionPolicy::Always {
                level: compression.level,
            },
        }
    }

    /// The bounds frames are encoded and decoded with.
    pub fn limits(&self) -> Limits {
        Limits {
            max_frame: self.max_frame,
            max_strong_len: self.max_strong_len,
        }
    }
}

/// Computes the session from this side's Hello and the peer's.
///
/// Version: the newest in both ranges. Frame limit: the smaller of the two (each at least
/// [`MIN_MAX_FRAME`], at most [`MAX_MAX_FRAME`]). Strong hash: the client's first choice the agent
/// also offers, truncated to the shorter maximum, which must reach [`MIN_STRONG_LEN`].
/// Compression: what the client wants if the agent can decode that kind, with the level clamped
/// to the agent's range; else adaptive zstd if the client asks for it and both can (starting
/// at [`crate::AUTO_START_LEVEL`]); otherwise none.
pub fn negotiate(role: Role, local: &Hello, remote: &Hello) -> Result<Session> {
    let version = check_versions(local.versions, remote.versions)?;
    for (side, hello) in [("this side", local), ("the peer", remote)] {
        if hello.max_frame < MIN_MAX_FRAME {
            return Err(ProtocolError::BadHandshake {
                reason: format!(
                    "{side} offers a {}-byte frame limit, below the minimum of {MIN_MAX_FRAME}",
                    hello.max_frame
                ),
            });
        }
    }
    let (client, agent) = match role {
        Role::Client => (local, remote),
        Role::Agent => (remote, local),
    };
    let (strong_hash, max_strong_len) = client
        .hashes
        .iter()
        .find_map(|ours| {
            let theirs = agent
                .hashes
                .iter()
                .find(|theirs| theirs.kind == ours.kind)?;
            Some((
                ours.kind,
                ours.max_len.min(theirs.max_len).min(MAX_STRONG_LEN),
            ))
        })
        .filter(|(_, len)| *len >= MIN_STRONG_LEN)
        .ok_or_else(|| ProtocolError::NoCommonHash {
            local: hash_names(local),
            remote: hash_names(remote),
        })?;
    let agreed = |want: Compression| {
        let decodable = |hello: &Hello| {
            hello
                .compression
                .iter()
                .find(|support| support.kind == want.kind)
                .copied()
        };
        let (by_agent, by_client) = (decodable(agent)?, decodable(client)?);
        let min = by_agent.min_level.max(by_client.min_level);
        let max = by_agent.max_level.min(by_client.max_level);
        (min <= max).then(|| Compression {
            kind: want.kind,
            level: want.level.clamp(min, max),
        })
    };
    let (compression, adaptive) = match client.want_compression {
        Some(want) => (agreed(want), false),
        None if client.want_adaptive && client.adaptive && agent.adaptive => {
            let start = agreed(Compression {
                kind: CompressionKind::Zstd,
                level: crate::AUTO_START_LEVEL,
            });
            (start, start.is_some())
        }
        None => (None, false),
    };
    Ok(Session {
        version,
        compression,
        adaptive,
        strong_hash,
        max_strong_len,
        max_frame: local.max_frame.min(remote.max_frame).min(MAX_MAX_FRAME),
        seed: client.seed ^ agent.seed.rotate_left(32),
    })
}

fn hash_names(hello: &Hello) -> String {
    if hello.hashes.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = hello
        .hashes
        .iter()
        .map(|support| format!("{} up to {} bytes", support.kind.name(), support.max_len))
        .collect();
    names.join(", ")
}
