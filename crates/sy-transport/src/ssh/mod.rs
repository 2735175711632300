//! sy's built-in SSH client: what it needs to reach a host without the system `ssh`.
//!
//! The pure parts live here: [`SshConfig`] reads OpenSSH's client configuration and resolves a
//! host to [`HostSettings`] as `ssh -G` would, and [`KnownHosts`] decides whether a server's host
//! key is trusted, unknown, changed or revoked, as OpenSSH's `known_hosts` checking does, and
//! records newly accepted keys. On them, [`SshSession`] connects with russh (the host key
//! judged by a [`HostKeyVerifier`], then ssh-agent and identity-file authentication), runs
//! commands in exec channels ([`ExecChannel`]: `sy-remote` speaks the protocol over one), and
//! [`deploy_agent`] puts `sy-remote` on a host that lacks it, where [`LocalAgent::launcher`]
//! runs it only after checking it.
//!
//! ```
//! use std::path::Path;
//! use sy_transport::ssh::{HostKeyName, HostKeyStatus, KnownHosts, LocalUser, SshConfig};
//!
//! let alice = LocalUser { name: "alice".into(), home: "/home/alice".into(), uid: 1000 };
//! let text = "Host web\n\tHostName %h.example.com\n\tPort=2222\n";
//! let config = SshConfig::parse_as(text, Path::new("config"), alice)?;
//! let web = config.resolve("web", None);
//! assert_eq!((web.host_name.as_str(), web.port, web.user.as_str()), ("web.example.com", 2222, "alice"));
//!
//! let dir = tempfile::tempdir()?;
//! let known = KnownHosts::new(vec![dir.path().join("known_hosts")], Vec::new());
//! let key: russh::keys::PublicKey =
//!     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbJvYeBcDbBNiNOYEaM9P+9KOByV7S+hKvumcFPhCjk".parse()?;
//! assert_eq!(known.check(&HostKeyName::host(&web.host_name, web.port), &key)?, HostKeyStatus::Unknown);
//! known.record(&[HostKeyName::host(&web.host_name, web.port)], &key, true)?;
//! assert!(matches!(known.check(&HostKeyName::host(&web.host_name, web.port), &key)?, HostKeyStatus::Trusted { line: 1, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent_cache;
mod auth;
mod channel;
mod config;
mod config_expand;
mod config_file;
mod config_syntax;
mod deploy;
mod known_hosts;
mod known_hosts_command;
mod pattern;
mod session;
mod tuning;

/// A unit test that cannot run here (`why`, e.g. no `ssh` to compare with) says so on stderr,
/// past the test harness's capture, and fails under `SY_REQUIRE_SSHD=1` (CI has the tools).
#[cfg(test)]
pub(crate) fn skip_test(why: &str) {
    use std::io::Write;
    assert!(
        std::env::var_os("SY_REQUIRE_SSHD").is_none_or(|v| v != "1"),
        "SY_REQUIRE_SSHD=1 but {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

pub use agent_cache::LocalAgent;
pub use channel::{ExecChannel, ExecEnd, ExecReader, ExecStatus, ExecWriter, RemoteExit};
pub use config::{
    HostSettings, JumpHost, LocalUser, SshConfig, SshConfigError, StrictHostKeyChecking,
};
pub use deploy::{Deployed, deploy_agent, platform_matches};
pub use known_hosts::{HostKeyName, HostKeyStatus, KeySource, KnownHosts, KnownHostsError};
pub use known_hosts_command::KnownHostsCommand;
/// Key types of the verifier's interface (from russh's `ssh-key`).
pub use russh::keys::{Algorithm, HashAlg, PublicKey};
pub use session::{HostKeyVerifier, PassphrasePrompt, SshOptions, SshSession};
pub use tuning::cipher_preference;
