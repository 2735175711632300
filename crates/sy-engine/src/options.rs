//! What to synchronize and how: the options of a [`SyncJob`](crate::SyncJob). Their defaults
//! are a plain `sy SRC DST`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sy_transport::ssh::{HostKeyVerifier, PassphrasePrompt};
use sy_transport::{CompressionPolicy, FilterRules};

use crate::chmod::Chmod;
use crate::retry::RetryPolicy;

/// How files are judged unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Same size and modification time (reads nothing).
    #[default]
    SizeAndTime,
    /// Same size and the same BLAKE3 digest (reads both sides).
    Checksum,
    /// Same size.
    SizeOnly,
    /// Never equal: every file is written again (rsync's `-I`, `--ignore-times`).
    Never,
}

/// How copies get their permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Perms {
    /// The source's bits (rsync's `-p`); set-user-id and set-group-id on files only when the
    /// owner is kept too.
    #[default]
    Source,
    /// rsync's `--no-perms`: an existing entry keeps its bits; a new one gets the source's
    /// access bits masked by this umask, without set-id or sticky bits.
    Umask(u32),
}

/// What to synchronize and how. `SyncOptions::default()` is a plain `sy SRC DST`: copy what
/// differs in size or time, keep times, delete nothing, connect to remote hosts with the
/// built-in SSH client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Which paths take part; what the rules exclude is neither copied, compared nor deleted.
    pub filter: FilterRules,
    /// Copy what symbolic links in the source point to, instead of the links.
    pub follow_links: bool,
    /// Recreate hard links among the source's files as hard links.
    pub hard_links: bool,
    /// Give copies the source's owner and group (needs privilege).
    pub owner: bool,
    /// How copies get their permission bits.
    pub perms: Perms,
    /// Changes to the source's permission bits, before they are compared and given to the
    /// copy (rsync's `--chmod`).
    pub chmod: Chmod,
    /// How unchanged files are recognised.
    pub compare: Compare,
    /// Leave alone destination files newer than their source.
    pub update: bool,
    /// Leave alone every file that exists at the destination.
    pub ignore_existing: bool,
    /// Create nothing new at the destination: only update what exists there (rsync's
    /// `--existing`).
    pub existing: bool,
    /// Leave alone source files larger than this many bytes (`--max-size`).
    pub max_size: Option<u64>,
    /// Leave alone source files smaller than this many bytes (`--min-size`).
    pub min_size: Option<u64>,
    /// Modification times this many seconds apart count as equal (`--modify-window`; 0 is
    /// exact).
    pub modify_window: u64,
    /// Keep each source's path as given at the destination, from the directory it starts in
    /// or from a `/./` in it, creating the directories above it (rsync's `-R`).
    pub relative: bool,
    /// Give copies the source's modification times (rsync's `-t`); without, a copy has the
    /// time it was written, and same size and time no longer mark a file unchanged.
    pub times: bool,
    /// Remove destination entries that are not in the source.
    pub delete: bool,
    /// Remove at most this many entries (`--max-delete`); the rest are left and counted in
    /// [`Totals::deletions_skipped`](crate::Totals::deletions_skipped). `Some(0)` deletes
    /// nothing and reports every extraneous entry.
    pub max_delete: Option<u64>,
    /// With `delete`, also remove destination entries the rules exclude (rsync's
    /// `--delete-excluded`), except what `P` rules protect.
    pub delete_excluded: bool,
    /// Report what would be done and change nothing.
    pub dry_run: bool,
    /// Turn runs of zeros into holes in the files written.
    pub sparse: bool,
    /// `Some(true)`: always send whole files; `Some(false)`: always send deltas against the
    /// destination's old version; `None`: decide per pair of sides (deltas when one is remote).
    pub whole_file: Option<bool>,
    /// Files worked on at once (to a remote side, batches of small files keep at least 6 in
    /// flight: they mostly wait for the round trip).
    pub jobs: usize,
    /// Read each written file back and compare its digest with the source's.
    pub verify: bool,
    /// Bytes per second both ways together, at most; `None` is unlimited.
    pub bwlimit: Option<u64>,
    /// Reconnecting when the link to a remote side breaks in the middle of a job.
    pub retry: RetryPolicy,
    /// How remote sides are reached.
    pub remote: RemoteOptions,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            filter: FilterRules::default(),
            follow_links: false,
            hard_links: false,
            owner: false,
            perms: Perms::Source,
            chmod: Chmod::default(),
            compare: Compare::SizeAndTime,
            update: false,
            ignore_existing: false,
            existing: false,
            max_size: None,
            min_size: None,
            modify_window: 0,
            relative: false,
            times: true,
            delete: false,
            max_delete: None,
            delete_excluded: false,
            dry_run: false,
            sparse: false,
            whole_file: None,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            verify: false,
            bwlimit: None,
            retry: RetryPolicy::default(),
            remote: RemoteOptions::default(),
        }
    }
}

/// How remote sides are reached: sy's built-in SSH client, or a remote shell command; then
/// the `sy-remote` agent is started there.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RemoteOptions {
    /// A remote shell command, split into words (`["ssh", "-p", "2222"]`), to which the host
    /// and the agent's command line are appended. Empty: the built-in SSH client connects.
    pub shell: Vec<String>,
    /// The built-in SSH client's settings (unused with a remote shell).
    pub ssh: SshSettings,
    /// The agent's command on the far side; a command line of its own, not quoted (it may be
    /// `sudo sy-remote`).
    pub remote_path: String,
    /// How the agent's stream is compressed: adaptively by default (zstd only while the link
    /// is what limits the transfer), always at a level (`-z`), or never.
    pub compression: CompressionPolicy,
    /// Give up on a remote side after this long without a byte from it.
    pub timeout: Option<Duration>,
}

impl Default for RemoteOptions {
    fn default() -> RemoteOptions {
        RemoteOptions {
            shell: Vec::new(),
            ssh: SshSettings::default(),
            remote_path: crate::connect::DEFAULT_REMOTE_PATH.to_owned(),
            compression: CompressionPolicy::Auto,
            timeout: None,
        }
    }
}

/// Settings of the built-in SSH client, over those of the ssh config file.
#[derive(Clone)]
#[non_exhaustive]
pub struct SshSettings {
    /// The ssh config file to read instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// The port, over the config file's.
    pub port: Option<u16>,
    /// Private keys to offer first, in order.
    pub identities: Vec<PathBuf>,
    /// Trust, and record in known_hosts, the key of a host that has none recorded.
    pub accept_new_host_key: bool,
    /// The one cipher to offer, over the config file's `Ciphers`.
    pub cipher: Option<String>,
    /// Copy `sy-remote` to a host that lacks it (else fall back to SFTP there).
    pub deploy: bool,
    /// Decides whether a host's key is trusted; `None` checks known_hosts as OpenSSH does.
    pub host_keys: Option<Arc<dyn HostKeyVerifier>>,
    /// Asks for the passphrase of an encrypted key; `None` skips such keys.
    pub passphrase: Option<PassphrasePrompt>,
}

impl Default for SshSettings {
    fn default() -> SshSettings {
        SshSettings {
            config_file: None,
            port: None,
            identities: Vec::new(),
            accept_new_host_key: false,
            cipher: None,
            deploy: true,
            host_keys: None,
            passphrase: None,
        }
    }
}

impl fmt::Debug for SshSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSettings")
            .field("config_file", &self.config_file)
            .field("port", &self.port)
            .field("identities", &self.identities)
            .field("accept_new_host_key", &self.accept_new_host_key)
            .field("cipher", &self.cipher)
            .field("deploy", &self.deploy)
            .field("host_keys", &self.host_keys.as_ref().map(|_| "custom"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "prompt"))
            .finish()
    }
}
