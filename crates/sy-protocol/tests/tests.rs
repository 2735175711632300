//! Integration tests of sy-protocol's public API, as one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adaptive;
mod compression;
mod framing;
mod handshake;
mod hostile;
mod pipelining;
mod roundtrip;
mod util;
