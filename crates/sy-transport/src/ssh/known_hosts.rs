//! Host-key trust as OpenSSH decides it from `known_hosts` files (sshd(8), "SSH_KNOWN_HOSTS FILE
//! FORMAT").
//!
//! A host is looked up by a [`HostKeyName`]: as `host` on port 22 and as `[host]:port` otherwise,
//! lower-cased, or under its `HostKeyAlias` (lower-cased, whatever the port). Entries
//! may list patterns (`*`, `?`, `!negation`, `[host]:port`) or be hashed (`|1|salt|hmac`, the
//! HMAC-SHA1 of that name keyed by the salt, as `HashKnownHosts` writes them). User files are
//! consulted before global ones, and a host's status is, in this order:
//! - [`Revoked`](HostKeyStatus::Revoked) if a `@revoked` entry for the host holds this key;
//! - [`Trusted`](HostKeyStatus::Trusted) if an entry holds this key;
//! - [`Changed`](HostKeyStatus::Changed) if an entry holds any other key, whatever its type, as
//!   OpenSSH's `check_key_in_hostkeys` decides (`HOST_CHANGED`): a server presenting a key type
//!   that is not recorded may be an attacker choosing an unrecorded type. The entry reported is
//!   the first of the same key family (ECDSA on any curve counts as one family, like OpenSSH's
//!   `KEY_ECDSA`), so its fingerprint is the one to compare, else the first entry. A client asks
//!   for the recorded types first ([`KnownHosts::known_algorithms`]), as OpenSSH does, so a
//!   server that still has its recorded key is not refused for offering another one;
//! - [`Unknown`](HostKeyStatus::Unknown) when no entry names the host. On a port other than 22,
//!   an unknown `[host]:port` (not an alias) is then looked up as plain `host`, as OpenSSH does ("checking
//!   without port identifier"): the key recorded there is trusted, another key there leaves the
//!   host unknown, and a key revoked there is refused (OpenSSH reports the revocation, then
//!   goes on as for an unknown host).
//!
//! After the files come the lines `KnownHostsCommand` prints, if there is one (see
//! [`KnownHostsCommand`]).
//!
//! `@cert-authority` lines are skipped: sy does not accept host certificates. A malformed line is
//! skipped with a warning naming its file and line, as OpenSSH does.

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use russh::keys::ssh_key::known_hosts::HostPatterns;
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};

use super::known_hosts_command::{Invocation, KnownHostsCommand};
use super::pattern::{ListMatch, match_list};

/// How a server's host key stands against the known hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The key is recorded for this host.
    Trusted {
        /// Where the entry is.
        source: KeySource,
        /// Line of the entry, from 1.
        line: usize,
    },
    /// No key is recorded for this host.
    Unknown,
    /// Other keys are recorded for this host, but not this one: possibly an attack; refuse.
    Changed {
        /// Where the old key is.
        source: KeySource,
        /// Line of the old key, from 1.
        line: usize,
        /// `SHA256:…` fingerprint of the old key.
        known_fingerprint: String,
    },
    /// The key is marked `@revoked` for this host; refuse.
    Revoked {
        /// Where the `@revoked` entry is.
        source: KeySource,
        /// Line of the entry, from 1.
        line: usize,
    },
}

/// Where a known_hosts entry was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A known hosts file.
    File(PathBuf),
    /// The output of `KnownHostsCommand` (as written in the config).
    Command(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Command(command) => write!(f, "the output of KnownHostsCommand {command:?}"),
        }
    }
}

/// A known hosts file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KnownHostsError {
    /// The file exists but could not be read.
    #[error("cannot read known hosts file {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file (or its directory) could not be written.
    #[error("cannot record the host key in {}: {source}", file.display())]
    Write {
        /// The file.
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// There is no user known hosts file to record the key in (`UserKnownHostsFile none`).
    #[error("cannot record the host key: no user known hosts file is configured")]
    NoUserFile,
    /// The key could not be encoded (an unsupported algorithm).
    #[error("cannot encode the host key: {0}")]
    Encode(String),
    /// `KnownHostsCommand` could not be run or failed.
    #[error("KnownHostsCommand {command:?} failed: {reason}")]
    Command {
        /// The command as written.
        command: String,
        /// Why.
        reason: String,
    },
    /// The system random generator failed (needed for a hashed entry's salt).
    #[error("cannot draw random salt for a hashed known hosts entry")]
    Random,
}

/// The name a host's keys are looked up and recorded under in known_hosts (OpenSSH's
/// `hostfile_hostname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyName {
    name: String,
    /// Plain `host`, also consulted when `[host]:port` is unknown.
    without_port: Option<String>,
    /// How `KnownHostsCommand` is asked about it.
    invocation: Invocation,
}

impl HostKeyName {
    /// `host` connected to on `port`: `host` on port 22, `[host]:port` otherwise (where a key
    /// recorded for plain `host` is trusted too), lower-cased.
    pub fn host(host: &str, port: u16) -> HostKeyName {
        let host = host.to_ascii_lowercase();
        if port == 22 {
            HostKeyName {
                name: host,
                without_port: None,
                invocation: Invocation::HostName,
            }
        } else {
            HostKeyName {
                name: format!("[{host}]:{port}"),
                without_port: Some(host),
                invocation: Invocation::HostName,
            }
        }
    }

    /// The server's address (for `CheckHostIP`): `ip` on port 22, `[ip]:port` otherwise, with
    /// no fallback to the plain address.
    pub fn address(ip: IpAddr, port: u16) -> HostKeyName {
        HostKeyName {
            name: if port == 22 {
                ip.to_string()
            } else {
                format!("[{ip}]:{port}")
            },
            without_port: None,
            invocation: Invocation::Address,
        }
    }

    /// `HostKeyAlias`: this name alone, lower-cased, whatever the host and port.
    pub fn alias(alias: &str) -> HostKeyName {
        HostKeyName {
            name: alias.to_ascii_lowercase(),
            without_port: None,
            invocation: Invocation::HostName,
        }
    }

    /// The name as written in known_hosts.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for HostKeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The known hosts files to consult: user files (where new keys are recorded) then global ones,
/// then what `KnownHostsCommand` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    user_files: Vec<PathBuf>,
    global_files: Vec<PathBuf>,
    command: Option<KnownHostsCommand>,
}

/// A parsed line that names the host being looked up.
struct Entry {
    source: KeySource,
    line: usize,
    revoked: bool,
    key: PublicKey,
}

impl KnownHosts {
    /// Consults `user_files` then `global_files`; missing files count as empty.
    pub fn new(user_files: Vec<PathBuf>, global_files: Vec<PathBuf>) -> KnownHosts {
        KnownHosts {
            user_files,
            global_files,
            command: None,
        }
    }

    /// Also consults what `command` prints (never for the fallback to a plain host name, as
    /// in OpenSSH).
    pub fn with_command(mut self, command: Option<KnownHostsCommand>) -> KnownHosts {
        self.command = command;
        self
    }

    /// Decides whether `key`, presented by the host known as `name`, is trusted (see the module
    /// docs for the rules). Fails when a file exists but cannot be read, or `KnownHostsCommand`
    /// fails.
    pub fn check(
        &self,
        name: &HostKeyName,
        key: &PublicKey,
    ) -> Result<HostKeyStatus, KnownHostsError> {
        let status = self.check_name(&name.name, Some(name.invocation), key)?;
        if let (HostKeyStatus::Unknown, Some(plain)) = (&status, &name.without_port) {
            let plain = self.check_name(plain, None, key)?;
            if matches!(
                plain,
                HostKeyStatus::Trusted { .. } | HostKeyStatus::Revoked { .. }
            ) {
                return Ok(plain);
            }
        }
        Ok(status)
    }

    /// [`check`](KnownHosts::check) for the one name `name`, asking `KnownHostsCommand` too
    /// with `invocation`.
    fn check_name(
        &self,
        name: &str,
        invocation: Option<Invocation>,
        key: &PublicKey,
    ) -> Result<HostKeyStatus, KnownHostsError> {
        let entries = self.entries_for(name, invocation.map(|why| (why, Some(key))))?;
        let same_key = |entry: &&Entry| entry.key.key_data() == key.key_data();
        if let Some(entry) = entries.iter().filter(|e| e.revoked).find(same_key) {
            return Ok(HostKeyStatus::Revoked {
                source: entry.source.clone(),
                line: entry.line,
            });
        }
        let valid = || entries.iter().filter(|e| !e.revoked);
        if let Some(entry) = valid().find(same_key) {
            return Ok(HostKeyStatus::Trusted {
                source: entry.source.clone(),
                line: entry.line,
            });
        }
        let family = key_family(&key.algorithm());
        let changed = valid()
            .find(|e| key_family(&e.key.algorithm()) == family)
            .or_else(|| valid().next());
        Ok(match changed {
            Some(entry) => HostKeyStatus::Changed {
                source: entry.source.clone(),
                line: entry.line,
                known_fingerprint: entry.key.fingerprint(HashAlg::Sha256).to_string(),
            },
            None => HostKeyStatus::Unknown,
        })
    }

    /// The algorithms of the keys recorded for `name`, in file order without repeats,
    /// so a client can ask for these first (as OpenSSH orders its host key algorithms): a server
    /// that picks an unrecorded type is [`Changed`](HostKeyStatus::Changed). An RSA key shows as
    /// `Algorithm::Rsa { hash: None }`: offer `rsa-sha2-512`/`rsa-sha2-256` for it. An unreadable
    /// file or a failing `KnownHostsCommand` is skipped with a warning here
    /// ([`check`](KnownHosts::check) reports it).
    pub fn known_algorithms(&self, name: &HostKeyName) -> Vec<Algorithm> {
        let entries = match self.entries_for(&name.name, Some((Invocation::Order, None))) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!("{error}");
                return Vec::new();
            }
        };
        let mut algorithms = Vec::new();
        for entry in entries.iter().filter(|e| !e.revoked) {
            let algorithm = entry.key.algorithm();
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        algorithms
    }

    /// Appends `key` for `names` (one line listing them all, or with `hashed` one hashed line
    /// for each, as OpenSSH writes a host and its address) to the first user file, creating its
    /// directory (mode 0700) and the file (mode 0600) as needed. Returns the file written.
    pub fn record(
        &self,
        names: &[HostKeyName],
        key: &PublicKey,
        hashed: bool,
    ) -> Result<PathBuf, KnownHostsError> {
        let file = self
            .user_files
            .first()
            .ok_or(KnownHostsError::NoUserFile)?
            .clone();
        let hosts = if hashed {
            let mut hashes = Vec::with_capacity(names.len());
            for name in names {
                let mut salt = vec![0u8; 20];
                SystemRandom::new()
                    .fill(&mut salt)
                    .map_err(|_| KnownHostsError::Random)?;
                let hash = hmac_sha1(&salt, &name.name);
                hashes.push(HostPatterns::HashedName { salt, hash }.to_string());
            }
            hashes
        } else {
            let all: Vec<&str> = names.iter().map(HostKeyName::as_str).collect();
            vec![all.join(",")]
        };
        let mut bare_key = key.clone();
        bare_key.set_comment("");
        let encoded = bare_key
            .to_openssh()
            .map_err(|error| KnownHostsError::Encode(error.to_string()))?;
        let write_error = |source| KnownHostsError::Write {
            file: file.clone(),
            source,
        };
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(write_error)?;
        }
        // A last line without a newline would otherwise swallow the new entry.
        let needs_newline = match fs::read(&file) {
            Ok(bytes) => bytes.last().is_some_and(|&last| last != b'\n'),
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(source) => return Err(write_error(source)),
        };
        let mut line = String::from(if needs_newline { "\n" } else { "" });
        for hosts in hosts {
            line.push_str(&format!("{hosts} {}\n", encoded.trim_end()));
        }
        fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut out| out.write_all(line.as_bytes()))
            .map_err(write_error)?;
        Ok(file)
    }

    /// Every usable entry naming the host, user files first, then what `KnownHostsCommand`
    /// prints when `command` says why it runs (and the key, if there is one yet).
    fn entries_for(
        &self,
        name: &str,
        command: Option<(Invocation, Option<&PublicKey>)>,
    ) -> Result<Vec<Entry>, KnownHostsError> {
        let mut entries = Vec::new();
        for file in self.user_files.iter().chain(&self.global_files) {
            let text = match fs::read(file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(KnownHostsError::Read {
                        file: file.clone(),
                        source,
                    });
                }
            };
            entries.extend(parse_text(&text, name, KeySource::File(file.clone())));
        }
        if let (Some(command), Some((invocation, key))) = (&self.command, command) {
            let text = command.output(invocation, name, key)?;
            let source = KeySource::Command(command.as_str().to_owned());
            entries.extend(parse_text(&text, name, source));
        }
        Ok(entries)
    }
}

/// The usable entries of `text` (from `source`) naming `name`; malformed lines are skipped with
/// a warning.
fn parse_text(text: &str, name: &str, source: KeySource) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_line(line, name) {
            Ok(Some(Parsed { revoked, key })) => entries.push(Entry {
                source: source.clone(),
                line: index + 1,
                revoked,
                key,
            }),
            Ok(None) => {}
            Err(why) => tracing::warn!(
                "{source}:{}: skipping malformed known hosts line: {why}",
                index + 1
            ),
        }
    }
    entries
}

/// A key's type without its parameters: ECDSA on any curve is one family, as OpenSSH's
/// `KEY_ECDSA` (the curve is a separate `nid`); RSA whatever the signature hash.
fn key_family(algorithm: &Algorithm) -> Algorithm {
    match algorithm {
        Algorithm::Ecdsa { .. } => Algorithm::Ecdsa {
            curve: russh::keys::ssh_key::EcdsaCurve::NistP256,
        },
        Algorithm::Rsa { .. } => Algorithm::Rsa { hash: None },
        other => other.clone(),
    }
}

fn hmac_sha1(salt: &[u8], name: &str) -> [u8; 20] {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
    let mut hash = [0u8; 20];
    hash.copy_from_slice(hmac::sign(&key, name.as_bytes()).as_ref());
    hash
}

struct Parsed {
    revoked: bool,
    key: PublicKey,
}

/// Parses one line if it names `name`: `Ok(None)` for comments, blank lines, `@cert-authority`
/// and other hosts' entries.
fn parse_line(line: &str, name: &str) -> Result<Option<Parsed>, String> {
    let mut fields = line.split_whitespace();
    let mut first = match fields.next() {
        None => return Ok(None),
        Some(field) if field.starts_with('#') => return Ok(None),
        Some(field) => field,
    };
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            "@cert-authority" => return Ok(None),
            _ => return Err(format!("unknown marker {first}")),
        }
        first = fields.next().ok_or("no host names after the marker")?;
    }
    let patterns: HostPatterns = first
        .parse()
        .map_err(|error| format!("bad host field: {error}"))?;
    let names_host = match &patterns {
        HostPatterns::HashedName { salt, hash } => hmac_sha1(salt, name) == *hash,
        HostPatterns::Patterns(patterns) => {
            let lowered: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
            match_list(name, lowered.iter().map(String::as_str)) == ListMatch::Matched
        }
    };
    if !names_host {
        return Ok(None);
    }
    let (Some(algorithm), Some(data)) = (fields.next(), fields.next()) else {
        return Err("no key after the host names".to_owned());
    };
    let key = PublicKey::from_openssh(&format!("{algorithm} {data}"))
        .map_err(|error| format!("bad {algorithm} key: {error}"))?;
    Ok(Some(Parsed { revoked, key }))
}

#[cfg(test)]
#[path = "known_hosts_tests.rs"]
mod tests;
