//! The engine through its public API, in-process: syncs between local directories and through
//! the `sy-remote` agent (started by a remote shell command that runs it on this machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod util;
