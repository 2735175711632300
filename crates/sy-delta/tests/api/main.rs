//! Integration tests of sy-delta's public API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod efficiency;
mod malformed;
mod round_trip;
mod signature;
