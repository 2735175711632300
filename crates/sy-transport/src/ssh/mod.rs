//! sy's built-in SSH client: what it needs to reach a host without the system `ssh`.
//!
//! [`SshConfig`] reads OpenSSH's client configuration and resolves a host to [`HostSettings`]
//! as `ssh -G` would, and [`KnownHosts`] decides whether a server's host key is trusted,
//! unknown, changed or revoked, as OpenSSH's `known_hosts` checking does. On them,
//! [`SshSession`] connects with russh (host key checked by a [`HostKeyVerifier`], then
//! ssh-agent and identity-file authentication), runs commands in exec channels
//! ([`ExecChannel`]: `sy-remote` speaks the protocol over one), and [`deploy_agent`] puts
//! `sy-remote` on a host that lacks it.

mod auth;
mod channel;
mod config;
mod config_expand;
mod config_file;
mod config_syntax;
mod deploy;
mod known_hosts;
mod pattern;
mod session;

pub use channel::{ExecChannel, ExecEnd, ExecReader, ExecStatus, ExecWriter, RemoteExit};
pub use config::{
    HostSettings, JumpHost, LocalUser, SshConfig, SshConfigError, StrictHostKeyChecking,
};
pub use deploy::{Deployed, deploy_agent, deployed_agent_path, platform_matches};
pub use known_hosts::{HostKeyStatus, KnownHosts, KnownHostsError};
/// Key types of the verifier's interface (from russh's `ssh-key`).
pub use russh::keys::{Algorithm, HashAlg, PublicKey};
pub use session::{
    HostKeyVerifier, PassphrasePrompt, SshOptions, SshSession, cipher_preference,
};
