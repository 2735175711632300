//! Integration tests: run the built `sy` on temporary trees and check the result byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod s3_server;
mod util;

mod agent;
mod basics;
mod chmod;
mod compare;
mod config;
mod errors;
mod exit_codes;
mod faults;
mod filters;
mod json;
mod kinds;
mod large;
mod names;
mod output;
mod progress;
mod relative;
mod remote;
mod resume;
mod rsync;
mod s3;
mod ssh;
mod ssh_builtin;
mod ssh_deploy;
mod ssh_restricted;
mod ssh_trust;
