//! One side of a connection, as a state machine: bytes in, messages out; messages in, bytes out.

use std::time::Duration;

use bytes::BytesMut;

use crate::adapt::{Adapter, Choice};
use crate::compress::{Compressor, Decompressor};
use crate::error::{ProtocolError, Result};
use crate::frame::{Decoder, Encoder};
use crate::handshake::{Hello, Role, Session, negotiate};
use crate::message::Message;
use crate::stream::{BlockReader, BlockWriter, TrafficStats};

/// Plain bytes decoded from compressed blocks per step while a frame is incomplete.
const FILL_STEP: usize = 256 << 10;

/// A protocol endpoint without I/O: the caller moves bytes between it and a pipe or socket.
///
/// Driving it:
/// 1. [`Endpoint::new`] queues this side's [`Hello`]; write [`Endpoint::take_output`] to the peer
///    right away, without waiting to hear from it.
/// 2. Feed everything read from the peer to [`Endpoint::receive`] (and [`Endpoint::receive_eof`]
///    when the stream ends), then call [`Endpoint::poll_message`] until it returns `Ok(None)`.
///    The first call that sees the peer's Hello completes the handshake
///    ([`Endpoint::session`] becomes `Some`). Read more only after `Ok(None)`: that keeps the
///    receive buffer to about one read plus one frame.
/// 3. [`Endpoint::send`] encodes messages (allowed before the handshake completes: they are
///    held, then encoded with the agreed limits and compression). Write
///    [`Endpoint::take_output`] whenever it is non-empty. With compression, bytes appear in
///    128 KiB blocks or at [`Endpoint::flush`], which ends a batch: call it whenever this side
///    is about to wait for answers.
///
/// An error from [`Endpoint::poll_message`] is final: the stream cannot be resynchronised, so
/// drop the endpoint and close the connection. An error from [`Endpoint::send`] (a message over
/// the limits) leaves the endpoint as it was. Scan batches can be sized with
/// [`crate::Entry::encoded_len`] against [`Session::max_frame`]; data chunks of
/// [`crate::CHUNK_LEN`] always fit.
///
/// In an adaptive session ([`Session::adaptive`]) the endpoint chooses per block between stored
/// and zstd, and the level, from its own compression times and from what the transport tells
/// [`Endpoint::link_progress`] about the link (see [`crate::CompressionPolicy::Auto`]).
#[derive(Debug)]
pub struct Endpoint {
    role: Role,
    hello: Hello,
    session: Option<Session>,
    decoder: Decoder,
    encoder: Encoder,
    /// Bytes as received, not yet decoded.
    inbound: BytesMut,
    /// Plain stream bytes out of the block layer (compressed sessions only).
    plain: BytesMut,
    reader: Option<BlockReader>,
    writer: Option<BlockWriter>,
    /// Decides stored or zstd, and the level, in an adaptive session.
    adapter: Option<Adapter>,
    outbound: BytesMut,
    /// Messages sent before the handshake completed, with their `store` flag.
    held: Vec<(Message, bool)>,
    frame: BytesMut,
    eof: bool,
    stats: TrafficStats,
}

impl Endpoint {
    /// An endpoint playing `role`, announcing `hello`, whose bytes are ready in
    /// [`Endpoint::take_output`].
    pub fn new(role: Role, hello: Hello) -> Self {
        let mut outbound = BytesMut::new();
        hello.encode(&mut outbound);
        let mut stats = TrafficStats::default();
        stats.sent.logical = outbound.len() as u64;
        stats.sent.wire = outbound.len() as u64;
        Self {
            role,
            hello,
            session: None,
            decoder: Decoder::default(),
            encoder: Encoder::default(),
            inbound: BytesMut::new(),
            plain: BytesMut::new(),
            reader: None,
            writer: None,
            adapter: None,
            outbound,
            held: Vec::new(),
            frame: BytesMut::new(),
            eof: false,
            stats,
        }
    }

    /// The agreed parameters, once the peer's Hello has been decoded.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Bytes counted so far in each direction, for `--stats`.
    pub fn stats(&self) -> TrafficStats {
        let mut stats = self.stats;
        if let Some(writer) = &self.writer {
            stats.sent.compressed = writer.zstd_totals().input;
        }
        if let Some(reader) = &self.reader {
            stats.received.compressed = reader.decompressed();
        }
        stats.sent_levels = match (&self.adapter, self.session.and_then(|s| s.compression)) {
            (Some(adapter), _) => adapter.levels_used(),
            (None, Some(fixed)) if stats.sent.compressed > 0 => Some((fixed.level, fixed.level)),
            (None, _) => None,
        };
        stats
    }

    /// Tells an adaptive session what the link did: the transport's writer has written
    /// `written` bytes in all and spent `busy` in all blocked writing them. Call it before
    /// sending; without it, no measuring window closes and the first choice stays. No effect
    /// on other sessions.
    pub fn link_progress(&mut self, written: u64, busy: Duration) {
        if let Some(adapter) = &mut self.adapter {
            adapter.link_progress(written, busy);
        }
    }

    /// Whether data sent now may be compressed: the session compresses, and (when adaptive)
    /// currently chooses zstd. A sender uses it to skip judging data it would store anyway.
    pub fn compressing(&self) -> bool {
        match &self.adapter {
            Some(adapter) => matches!(adapter.choice(), Choice::Zstd(_)),
            None => self.writer.is_some(),
        }
    }

    /// Hands over bytes read from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.inbound.extend_from_slice(bytes);
        self.stats.received.wire += bytes.len() as u64;
    }

    /// Says the peer closed its side: leftover bytes become an error naming what was cut off.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next complete message from the peer, or `Ok(None)` when more bytes are needed
    /// (or, after [`Endpoint::receive_eof`], when the stream ended cleanly).
    pub fn poll_message(&mut self) -> Result<Option<Message>> {
        if self.session.is_none() && !self.complete_handshake()? {
            return Ok(None);
        }
        loop {
            let buffer = match self.reader {
                Some(_) => &mut self.plain,
                None => &mut self.inbound,
            };
            let before = buffer.len();
            if let Some(message) = self.decoder.decode(buffer)? {
                self.stats.received.logical += (before - buffer.len()) as u64;
                return Ok(Some(message));
            }
            let produced = match &mut self.reader {
                Some(reader) => reader.fill(&mut self.inbound, &mut self.plain, FILL_STEP)?,
                None => 0,
            };
            if produced == 0 {
                return self.end_of_input();
            }
        }
    }

    /// Encodes `message` for the peer (compressed, if the session compresses).
    ///
    /// Errors when the message breaks the agreed limits (a frame over the limit, a strong hash
    /// over the maximum); nothing is sent then. Messages sent before the handshake completed
    /// are checked when it does, and such an error comes out of [`Endpoint::poll_message`].
    pub fn send(&mut self, message: &Message) -> Result<()> {
        self.send_frame(message, false)
    }

    /// Like [`Endpoint::send`] for data not worth compressing (see
    /// [`crate::worth_compressing`]): it travels in a stored block, costing no CPU.
    pub fn send_stored(&mut self, message: &Message) -> Result<()> {
        self.send_frame(message, true)
    }

    /// Ends a batch: sends [`Message::Flush`] and flushes the compressor, so the peer can decode
    /// everything sent so far. Same as `send(&Message::Flush)`.
    pub fn flush(&mut self) -> Result<()> {
        self.send(&Message::Flush)
    }

    /// Bytes to write to the peer, taken out of the endpoint.
    pub fn take_output(&mut self) -> BytesMut {
        self.outbound.split()
    }

    /// Whether [`Endpoint::take_output`] would return bytes.
    pub fn has_output(&self) -> bool {
        !self.outbound.is_empty()
    }

    fn complete_handshake(&mut self) -> Result<bool> {
        let before = self.inbound.len();
        let Some(peer) = Hello::decode(&mut self.inbound, self.eof, self.hello.versions)? else {
            return Ok(false);
        };
        self.stats.received.logical += (before - self.inbound.len()) as u64;
        let session = negotiate(self.role, &self.hello, &peer)?;
        self.decoder.set_limits(session.limits());
        self.encoder.set_limits(session.limits());
        if let Some(compression) = session.compression {
            let level = i32::from(compression.level);
            self.writer = Some(BlockWriter::new(Compressor::new(level)?));
            self.reader = Some(BlockReader::new(Decompressor::new()?));
            if session.adaptive {
                self.adapter = Some(Adapter::new(compression.level));
            }
        }
        self.session = Some(session);
        for (message, store) in std::mem::take(&mut self.held) {
            self.send_frame(&message, store)?;
        }
        Ok(true)
    }

    fn send_frame(&mut self, message: &Message, store: bool) -> Result<()> {
        if self.session.is_none() {
            self.held.push((message.clone(), store));
            return Ok(());
        }
        let wire_before = self.outbound.len();
        match &mut self.writer {
            None => {
                self.encoder.encode(message, &mut self.outbound)?;
                self.stats.sent.logical += (self.outbound.len() - wire_before) as u64;
            }
            Some(writer) => {
                let chosen_stored = self
                    .adapter
                    .as_ref()
                    .is_some_and(|adapter| adapter.choice() == Choice::Stored);
                let logical = if store || chosen_stored {
                    let at = writer.begin_stored(&mut self.outbound)?;
                    if let Err(e) = self.encoder.encode(message, &mut self.outbound) {
                        // What went out before the header (the end of a zstd block) stays.
                        self.outbound.truncate(at);
                        self.stats.sent.wire += (at - wire_before) as u64;
                        return Err(e);
                    }
                    writer.end_stored(&mut self.outbound, at)
                } else {
                    self.frame.clear();
                    self.encoder.encode(message, &mut self.frame)?;
                    writer.push(&self.frame, &mut self.outbound)?;
                    self.frame.len()
                };
                self.stats.sent.logical += logical as u64;
                if matches!(message, Message::Flush | Message::Goodbye) {
                    writer.flush(&mut self.outbound)?;
                }
                if let Some(adapter) = &mut self.adapter {
                    let before = adapter.choice();
                    let judged = if store { 0 } else { logical as u64 };
                    let choice = adapter.sent(judged, writer.zstd_totals());
                    if choice != before
                        && let Choice::Zstd(level) = choice
                    {
                        writer.set_level(level);
                    }
                }
            }
        }
        self.stats.sent.wire += (self.outbound.len() - wire_before) as u64;
        Ok(())
    }

    fn end_of_input(&mut self) -> Result<Option<Message>> {
        if !self.eof {
            return Ok(None);
        }
        let buffer = match self.reader {
            Some(_) => &mut self.plain,
            None => &mut self.inbound,
        };
        if let Some(message) = self.decoder.decode_eof(buffer)? {
            return Ok(Some(message));
        }
        if let Some(reader) = &self.reader {
            let missing = reader.missing(self.inbound.len());
            if missing > 0 {
                return Err(ProtocolError::TruncatedBlock { missing });
            }
        }
        Ok(None)
    }
}
