//! OpenSSH client configuration (`ssh_config(5)`), resolved for one host the way `ssh -G` does.
//!
//! # Why not a crate
//! `russh-config` 0.58 fails the whole file on a global option, `Include` or `Match` before the
//! first `Host` and silently ignores lines written with tabs or `key=value`. `ssh2-config` 0.9
//! handles `Include`, tabs and `key=value`, but does not know `Match` at all (an unknown line, so
//! the settings below it land in the previous `Host` block, or the parse fails in strict mode),
//! has no final pass, expands no `%` tokens and reports bad values without a file and line.
//! Real configs have all of these, so this is a small parser that follows `readconf.c`, checked
//! against `ssh -G` in the tests.
//!
//! # Semantics
//! - Files: `--ssh-config FILE` (ssh's `-F`) alone when given, else `~/.ssh/config` then `/etc/ssh/ssh_config`; a
//!   missing default file is empty. `-F none` reads nothing.
//! - For each setting the first value obtained wins, except `IdentityFile`, which accumulates
//!   (duplicates dropped). `UserKnownHostsFile` and `GlobalKnownHostsFile` take several files on
//!   one line; the first such line wins, and `none` means no file.
//! - `Host` patterns match the host as typed, case-sensitively (`*`, `?`, `!negation`); in the
//!   final pass they match the resolved `HostName`. `%h` and the resolved host name are
//!   lower-cased; `Match host` and `Match originalhost` ignore case. All as `ssh -G` does.
//! - `Match` understands `all`, `host`, `originalhost`, `user`, `localuser`, `tagged` (sy sets no
//!   tag) and `final`/`canonical`: their presence requests a second pass in which they match (sy
//!   does no hostname canonicalization, so the two mean the same). `exec` is never run, and
//!   `localnetwork`, `version`, `sessiontype` and `command` are not evaluated: a `Match` line
//!   using any of them does not match, with a warning.
//! - `Include` takes globs, `~` and paths relative to `~/.ssh` (or `/etc/ssh` for the system
//!   file), nested up to 16 deep; a pattern matching nothing is fine. An `Include` inside a
//!   `Host`/`Match` block applies only when the block does.
//! - Unknown keywords are ignored (logged at debug level). Bad values of the keywords sy uses are
//!   errors naming the file and line, even in blocks that do not apply, as in OpenSSH.
//! - `HostKeyAlias` is lower-cased and becomes `%k`, as in OpenSSH; `CheckHostIP` defaults to
//!   `no`; `KnownHostsCommand none` means none.
//! - Not done: permission checks on the files, `CanonicalizeHostname`, `Tag`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config_expand::Tokens;
use super::config_file::{self, ConfigFile, CriterionKind, Directive, Proxy, Scope, Setting};
use super::known_hosts_command::KnownHostsCommand;
use super::pattern::{ListMatch, match_list};

/// Parsed OpenSSH client configuration files, ready to [`resolve`](SshConfig::resolve) hosts.
#[derive(Debug, Clone)]
pub struct SshConfig {
    files: Vec<ConfigFile>,
    local: LocalUser,
}

/// The local account whose configuration is read: it gives `~`, `%d`, `%u`, `%i` and the default
/// remote user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// Login name.
    pub name: String,
    /// Home directory.
    pub home: PathBuf,
    /// Numeric user id.
    pub uid: u32,
}

/// A configuration file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshConfigError {
    /// The file exists but could not be read.
    #[error("cannot read ssh config {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed or has a bad value.
    #[error("{} line {line}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// `StrictHostKeyChecking`: what to do about a host key that is not in `known_hosts`. A changed
/// key is refused whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrictHostKeyChecking {
    /// `yes`: refuse unknown host keys.
    Yes,
    /// `accept-new`: record unknown host keys and go on.
    AcceptNew,
    /// `no` or `off`: record unknown host keys and go on (OpenSSH also lets some changed keys
    /// through; sy does not).
    No,
    /// `ask` (the default): ask on a terminal; refuse without one.
    #[default]
    Ask,
}

/// One `ProxyJump` hop. Its own settings come from resolving [`host`](JumpHost::host) too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    /// User name given in the hop, if any.
    pub user: Option<String>,
    /// Host (or alias) to connect through.
    pub host: String,
    /// Port given in the hop, if any.
    pub port: Option<u16>,
}

/// Everything sy's SSH client needs to know about one host, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// The host as typed on the command line.
    pub alias: String,
    /// `HostName` with `%h` expanded (lower-cased, as OpenSSH does), else the alias lower-cased.
    pub host_name: String,
    /// `Port`, default 22.
    pub port: u16,
    /// The user given with the host, else `User`, else the local user name.
    pub user: String,
    /// `IdentityFile`s in order, expanded; default `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`: use only the identity files, not other agent keys.
    pub identities_only: bool,
    /// The agent socket: `IdentityAgent` (a path, `$VAR`, `SSH_AUTH_SOCK` or `none`), default
    /// `$SSH_AUTH_SOCK`. `None` means no agent.
    pub identity_agent: Option<PathBuf>,
    /// `UserKnownHostsFile`, default `~/.ssh/known_hosts` and `~/.ssh/known_hosts2`.
    pub user_known_hosts_files: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`, default `/etc/ssh/ssh_known_hosts` and `ssh_known_hosts2`.
    pub global_known_hosts_files: Vec<PathBuf>,
    /// `StrictHostKeyChecking`, default `ask`.
    pub strict_host_key_checking: StrictHostKeyChecking,
    /// `HashKnownHosts`: record new host keys hashed.
    pub hash_known_hosts: bool,
    /// `ServerAliveInterval`; `None` when 0 or unset.
    pub server_alive_interval: Option<Duration>,
    /// `ServerAliveCountMax`, default 3.
    pub server_alive_count_max: u32,
    /// `ConnectTimeout`; `None` when unset (the system's TCP timeout).
    pub connect_timeout: Option<Duration>,
    /// `ProxyJump` hops in order; empty for a direct connection.
    pub proxy_jump: Vec<JumpHost>,
    /// `ProxyCommand`, unexpanded, if it was obtained before any `ProxyJump`. sy does not run
    /// it; a client should refuse rather than silently connect directly.
    pub proxy_command: Option<String>,
    /// `Ciphers` as written (it may start with `+`, `-` or `^`).
    pub ciphers: Option<String>,
    /// `BatchMode`: never prompt.
    pub batch_mode: bool,
    /// `HostKeyAlias`, lower-cased as OpenSSH does: the name the host key is looked up and
    /// recorded under in known_hosts instead of the host name and port.
    pub host_key_alias: Option<String>,
    /// `CheckHostIP`, default `no`: also check the server's address in known_hosts.
    pub check_host_ip: bool,
    /// `KnownHostsCommand` (`none` gives `None`), with this host's `%` tokens.
    pub known_hosts_command: Option<KnownHostsCommand>,
}

impl SshConfig {
    /// Reads `file` (`--ssh-config`), or `~/.ssh/config` then `/etc/ssh/ssh_config` when `None`, for the
    /// current user.
    pub fn load(file: Option<&Path>) -> Result<SshConfig, SshConfigError> {
        SshConfig::load_as(file, LocalUser::current())
    }

    /// [`load`](SshConfig::load) for the given local user (whose home holds `~/.ssh/config`).
    pub fn load_as(file: Option<&Path>, local: LocalUser) -> Result<SshConfig, SshConfigError> {
        let mut files = Vec::new();
        match file {
            Some(path) if path == Path::new("none") => {}
            Some(path) => match config_file::read(path, Scope::User, &local)? {
                Some(file) => files.push(file),
                None => {
                    return Err(SshConfigError::Read {
                        file: path.to_owned(),
                        source: std::io::ErrorKind::NotFound.into(),
                    });
                }
            },
            None => {
                let user = local.home.join(".ssh/config");
                files.extend(config_file::read(&user, Scope::User, &local)?);
                let system = Path::new("/etc/ssh/ssh_config");
                files.extend(config_file::read(system, Scope::System, &local)?);
            }
        }
        Ok(SshConfig { files, local })
    }

    /// Parses `text` as a user configuration file named `origin`, for the current user.
    pub fn parse(text: &str, origin: &Path) -> Result<SshConfig, SshConfigError> {
        SshConfig::parse_as(text, origin, LocalUser::current())
    }

    /// [`parse`](SshConfig::parse) for the given local user.
    pub fn parse_as(
        text: &str,
        origin: &Path,
        local: LocalUser,
    ) -> Result<SshConfig, SshConfigError> {
        let file = config_file::parse(text, origin, Scope::User, &local)?;
        Ok(SshConfig {
            files: vec![file],
            local,
        })
    }

    /// The settings for `host` as typed (an alias or a name), with `user` from `user@host` or
    /// `-l` if given (it wins over `User`, as on the `ssh` command line).
    pub fn resolve(&self, host: &str, user: Option<&str>) -> HostSettings {
        let mut pass = Pass {
            local: &self.local,
            original_host: host,
            host: host.to_owned(),
            final_pass: false,
            wants_final_pass: false,
            options: Options {
                user: user.map(str::to_owned),
                ..Options::default()
            },
        };
        for file in &self.files {
            pass.file(file, false);
        }
        if pass.wants_final_pass {
            pass.host = pass.host_name();
            pass.options.host_name = Some(pass.host.clone());
            pass.final_pass = true;
            for file in &self.files {
                pass.file(file, false);
            }
        }
        pass.settings()
    }
}

/// Values obtained so far; `None` means "not yet set".
#[derive(Default)]
struct Options {
    host_name: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity_files: Vec<String>,
    identities_only: Option<bool>,
    identity_agent: Option<String>,
    user_known_hosts_files: Option<Vec<String>>,
    global_known_hosts_files: Option<Vec<String>>,
    strict_host_key_checking: Option<StrictHostKeyChecking>,
    hash_known_hosts: Option<bool>,
    server_alive_interval: Option<Option<Duration>>,
    server_alive_count_max: Option<u32>,
    connect_timeout: Option<Option<Duration>>,
    proxy: Option<Proxy>,
    ciphers: Option<String>,
    batch_mode: Option<bool>,
    host_key_alias: Option<String>,
    check_host_ip: Option<bool>,
    known_hosts_command: Option<Option<String>>,
}

impl Options {
    fn apply(&mut self, setting: &Setting) {
        fn first<T: Clone>(slot: &mut Option<T>, value: &T) {
            if slot.is_none() {
                *slot = Some(value.clone());
            }
        }
        match setting {
            Setting::HostName(value) => first(&mut self.host_name, value),
            Setting::Port(value) => first(&mut self.port, value),
            Setting::User(value) => first(&mut self.user, value),
            Setting::IdentityFile(value) => {
                if !self.identity_files.contains(value) {
                    self.identity_files.push(value.clone());
                }
            }
            Setting::IdentitiesOnly(value) => first(&mut self.identities_only, value),
            Setting::IdentityAgent(value) => first(&mut self.identity_agent, value),
            Setting::UserKnownHostsFile(value) => first(&mut self.user_known_hosts_files, value),
            Setting::GlobalKnownHostsFile(value) => {
                first(&mut self.global_known_hosts_files, value)
            }
            Setting::StrictHostKeyChecking(value) => {
                first(&mut self.strict_host_key_checking, value)
            }
            Setting::HashKnownHosts(value) => first(&mut self.hash_known_hosts, value),
            Setting::ServerAliveInterval(value) => first(&mut self.server_alive_interval, value),
            Setting::ServerAliveCountMax(value) => first(&mut self.server_alive_count_max, value),
            Setting::ConnectTimeout(value) => first(&mut self.connect_timeout, value),
            Setting::Proxy(value) => first(&mut self.proxy, value),
            Setting::Ciphers(value) => first(&mut self.ciphers, value),
            Setting::BatchMode(value) => first(&mut self.batch_mode, value),
            Setting::HostKeyAlias(value) => first(&mut self.host_key_alias, value),
            Setting::CheckHostIp(value) => first(&mut self.check_host_ip, value),
            Setting::KnownHostsCommand(value) => first(&mut self.known_hosts_command, value),
        }
    }
}

/// One pass over the files for one host (OpenSSH's `read_config_file_depth`).
struct Pass<'a> {
    local: &'a LocalUser,
    original_host: &'a str,
    /// What `Host` patterns match: the alias as typed, or the host name in the final pass.
    host: String,
    final_pass: bool,
    wants_final_pass: bool,
    options: Options,
}

impl Pass<'_> {
    /// `never_match`: the file was included from an inactive block, so nothing in it applies.
    fn file(&mut self, file: &ConfigFile, never_match: bool) {
        let mut active = !never_match;
        for directive in &file.directives {
            match directive {
                Directive::Host(patterns) => {
                    let matched = match_list(&self.host, patterns.iter().map(String::as_str));
                    active = !never_match && matched == ListMatch::Matched;
                }
                Directive::Match { criteria, line } => {
                    let matched = self.match_line(criteria, &file.path, *line);
                    active = !never_match && matched;
                }
                Directive::Include(files) => {
                    for included in files {
                        self.file(included, never_match || !active);
                    }
                }
                Directive::Set(setting) if active => self.options.apply(setting),
                Directive::Set(_) => {}
            }
        }
    }

    fn match_line(
        &mut self,
        criteria: &[config_file::Criterion],
        file: &Path,
        line: usize,
    ) -> bool {
        let host_name = self.host_name();
        let user = self.options.user.as_deref().unwrap_or(&self.local.name);
        let list = |text: &str, patterns: &[String], lower: bool| {
            let matched = if lower {
                let lowered: Vec<String> =
                    patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
                match_list(
                    &text.to_ascii_lowercase(),
                    lowered.iter().map(String::as_str),
                )
            } else {
                match_list(text, patterns.iter().map(String::as_str))
            };
            matched == ListMatch::Matched
        };
        let mut result = true;
        let mut unsupported = false;
        for criterion in criteria {
            let holds = match &criterion.kind {
                CriterionKind::All => true,
                CriterionKind::Final => {
                    self.wants_final_pass = true;
                    self.final_pass
                }
                CriterionKind::Host(patterns) => list(&host_name, patterns, true),
                CriterionKind::OriginalHost(patterns) => list(self.original_host, patterns, true),
                CriterionKind::User(patterns) => list(user, patterns, false),
                CriterionKind::LocalUser(patterns) => list(&self.local.name, patterns, false),
                CriterionKind::Tagged(patterns) => list("", patterns, false),
                CriterionKind::Unsupported(name) => {
                    tracing::warn!(
                        "{} line {line}: sy does not evaluate Match {name}; \
                         treating this Match block as not matching",
                        file.display()
                    );
                    unsupported = true;
                    false
                }
            };
            if holds == criterion.negated {
                result = false;
            }
        }
        result && !unsupported
    }

    /// `HostName` with `%h` expanded, or the host; lower-cased as OpenSSH does after the first
    /// pass.
    fn host_name(&self) -> String {
        match &self.options.host_name {
            Some(name) => expand_host_name(name, &self.host).to_ascii_lowercase(),
            None => self.host.to_ascii_lowercase(),
        }
    }

    fn settings(self) -> HostSettings {
        let host_name = self.host_name();
        let options = self.options;
        let user = options.user.unwrap_or_else(|| self.local.name.clone());
        let port = options.port.unwrap_or(22);
        let host_key_alias = options
            .host_key_alias
            .as_deref()
            .map(str::to_ascii_lowercase);
        let tokens = Tokens {
            local: self.local,
            remote_user: &user,
            host_name: &host_name,
            port,
            original_host: self.original_host,
            key_alias: host_key_alias.as_deref().unwrap_or(self.original_host),
        };
        let paths = |keyword: &str, raw: Vec<String>| -> Vec<PathBuf> {
            if raw.len() == 1 && raw[0].eq_ignore_ascii_case("none") {
                return Vec::new();
            }
            raw.iter().map(|path| tokens.path(keyword, path)).collect()
        };
        let identity_files = if options.identity_files.is_empty() {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|name| self.local.home.join(".ssh").join(name))
                .collect()
        } else {
            paths("IdentityFile", options.identity_files)
        };
        let user_known_hosts_files = paths(
            "UserKnownHostsFile",
            options
                .user_known_hosts_files
                .unwrap_or_else(|| vec!["~/.ssh/known_hosts".into(), "~/.ssh/known_hosts2".into()]),
        );
        let global_known_hosts_files = paths(
            "GlobalKnownHostsFile",
            options.global_known_hosts_files.unwrap_or_else(|| {
                vec![
                    "/etc/ssh/ssh_known_hosts".into(),
                    "/etc/ssh/ssh_known_hosts2".into(),
                ]
            }),
        );
        let identity_agent = match options.identity_agent.as_deref() {
            None | Some("SSH_AUTH_SOCK") => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            Some(value) if value.eq_ignore_ascii_case("none") => None,
            Some(value) => match value.strip_prefix('$') {
                Some(variable) => std::env::var_os(variable).map(PathBuf::from),
                None => Some(tokens.path("IdentityAgent", value)),
            },
        };
        let known_hosts_command = options
            .known_hosts_command
            .flatten()
            .map(|written| KnownHostsCommand::new(written, &tokens));
        let (proxy_jump, proxy_command) = match options.proxy {
            Some(Proxy::Jump(hops)) => (hops, None),
            Some(Proxy::Command(command)) => (Vec::new(), Some(command)),
            Some(Proxy::Direct) | None => (Vec::new(), None),
        };
        HostSettings {
            alias: self.original_host.to_owned(),
            host_name,
            port,
            user,
            identity_files,
            identities_only: options.identities_only.unwrap_or(false),
            identity_agent,
            user_known_hosts_files,
            global_known_hosts_files,
            strict_host_key_checking: options.strict_host_key_checking.unwrap_or_default(),
            hash_known_hosts: options.hash_known_hosts.unwrap_or(false),
            server_alive_interval: options.server_alive_interval.flatten(),
            server_alive_count_max: options.server_alive_count_max.unwrap_or(3),
            connect_timeout: options.connect_timeout.flatten(),
            proxy_jump,
            proxy_command,
            ciphers: options.ciphers,
            batch_mode: options.batch_mode.unwrap_or(false),
            host_key_alias,
            check_host_ip: options.check_host_ip.unwrap_or(false),
            known_hosts_command,
        }
    }
}

/// `HostName` accepts only `%h` and `%%`.
fn expand_host_name(raw: &str, host: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, c == '%') {
            (_, false) => out.push(c),
            (_, true) => match chars.next() {
                Some('h') => out.push_str(host),
                Some('%') => out.push('%'),
                other => {
                    tracing::warn!("HostName {raw}: only %h and %% are expanded");
                    out.push('%');
                    out.extend(other);
                }
            },
        }
    }
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
