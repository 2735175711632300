//! sy's built-in SSH client: what it needs to reach a host without the system `ssh`.
//!
//! The pure parts live here: [`SshConfig`] reads OpenSSH's client configuration and resolves a
//! host to [`HostSettings`] as `ssh -G` would, and [`KnownHosts`] decides whether a server's host
//! key is trusted, unknown, changed or revoked, as OpenSSH's `known_hosts` checking does, and
//! records newly accepted keys. The connection itself (russh) builds on them.

mod config;
mod config_expand;
mod config_file;
mod config_syntax;
mod known_hosts;
mod pattern;

pub use config::{
    HostSettings, JumpHost, LocalUser, SshConfig, SshConfigError, StrictHostKeyChecking,
};
pub use known_hosts::{HostKeyStatus, KnownHosts, KnownHostsError};
