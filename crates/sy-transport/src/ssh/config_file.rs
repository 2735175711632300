//! Reading `ssh_config` files into directives: keywords sy uses become typed [`Setting`]s,
//! checked when the file is read so a bad value is reported with its file and line whether or not
//! its block applies to the host (as OpenSSH does). `Include` is expanded here, so resolving a
//! host later touches no files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::config::{JumpHost, LocalUser, SshConfigError, StrictHostKeyChecking};
use super::config_syntax::{self as syntax, Line};

/// OpenSSH's `READCONF_MAX_DEPTH`: how deep `Include` may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One configuration file, its includes already read.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    pub(crate) path: PathBuf,
    pub(crate) directives: Vec<Directive>,
}

/// What one line of a file does.
#[derive(Debug, Clone)]
pub(crate) enum Directive {
    /// `Host pattern…`: the following settings apply when the host matches.
    Host(Vec<String>),
    /// `Match criterion…`: the following settings apply when every criterion holds.
    Match {
        criteria: Vec<Criterion>,
        line: usize,
    },
    /// `Include`: the files it named, in glob order.
    Include(Vec<ConfigFile>),
    /// A setting sy uses.
    Set(Setting),
}

/// One `Match` criterion, possibly negated with `!`.
#[derive(Debug, Clone)]
pub(crate) struct Criterion {
    pub(crate) negated: bool,
    pub(crate) kind: CriterionKind,
}

/// The `Match` criteria sy evaluates; the others are kept by name so resolving can warn.
#[derive(Debug, Clone)]
pub(crate) enum CriterionKind {
    All,
    /// `final` or `canonical`: true only in the second pass, which their presence requests.
    Final,
    Host(Vec<String>),
    OriginalHost(Vec<String>),
    User(Vec<String>),
    LocalUser(Vec<String>),
    /// `tagged`: sy sets no tag, so it is matched against the empty string.
    Tagged(Vec<String>),
    /// `exec`, `localnetwork`, `version`, `sessiontype`, `command`: not evaluated.
    Unsupported(String),
}

/// How to reach the host through other hosts.
#[derive(Debug, Clone)]
pub(crate) enum Proxy {
    Jump(Vec<JumpHost>),
    Command(String),
    /// `ProxyJump none` or `ProxyCommand none`: connect directly.
    Direct,
}

/// A keyword sy acts on, with its parsed value (paths still unexpanded).
#[derive(Debug, Clone)]
pub(crate) enum Setting {
    HostName(String),
    Port(u16),
    User(String),
    IdentityFile(String),
    IdentitiesOnly(bool),
    IdentityAgent(String),
    UserKnownHostsFile(Vec<String>),
    GlobalKnownHostsFile(Vec<String>),
    StrictHostKeyChecking(StrictHostKeyChecking),
    HashKnownHosts(bool),
    ServerAliveInterval(Option<std::time::Duration>),
    ServerAliveCountMax(u32),
    ConnectTimeout(Option<std::time::Duration>),
    Proxy(Proxy),
    Ciphers(String),
    BatchMode(bool),
    HostKeyAlias(String),
    CheckHostIp(bool),
    /// `None` for `KnownHostsCommand none`.
    KnownHostsCommand(Option<String>),
}

/// Where relative `Include` paths point: `~/.ssh` for user files, `/etc/ssh` for the system file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    User,
    System,
}

/// Reads and parses `path`. A missing file is `Ok(None)`.
pub(crate) fn read(
    path: &Path,
    scope: Scope,
    local: &LocalUser,
) -> Result<Option<ConfigFile>, SshConfigError> {
    read_at_depth(path, scope, local, 0)
}

fn read_at_depth(
    path: &Path,
    scope: Scope,
    local: &LocalUser,
    depth: usize,
) -> Result<Option<ConfigFile>, SshConfigError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SshConfigError::Read {
                file: path.to_owned(),
                source,
            });
        }
    };
    // Comments in legacy encodings must not make the whole file unreadable.
    let text = String::from_utf8_lossy(&bytes);
    parse_at_depth(&text, path, scope, local, depth).map(Some)
}

/// Parses `text` as the contents of `origin`.
pub(crate) fn parse(
    text: &str,
    origin: &Path,
    scope: Scope,
    local: &LocalUser,
) -> Result<ConfigFile, SshConfigError> {
    parse_at_depth(text, origin, scope, local, 0)
}

fn parse_at_depth(
    text: &str,
    origin: &Path,
    scope: Scope,
    local: &LocalUser,
    depth: usize,
) -> Result<ConfigFile, SshConfigError> {
    let mut directives = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let syntax_error = |message: String| SshConfigError::Syntax {
            file: origin.to_owned(),
            line,
            message,
        };
        let Some(Line { keyword, args }) = syntax::split_line(raw).map_err(syntax_error)? else {
            continue;
        };
        let directive = match keyword.as_str() {
            "host" => Directive::Host(args),
            "match" => Directive::Match {
                criteria: match_criteria(&args).map_err(syntax_error)?,
                line,
            },
            "include" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(syntax_error(format!(
                        "Include nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)"
                    )));
                }
                let mut files = Vec::new();
                for pattern in &args {
                    let pattern = include_path(pattern, scope, local).map_err(syntax_error)?;
                    for path in glob(&pattern).map_err(syntax_error)? {
                        if let Some(file) = read_at_depth(&path, scope, local, depth + 1)? {
                            files.push(file);
                        }
                    }
                }
                Directive::Include(files)
            }
            _ => match setting(&keyword, &args, raw).map_err(syntax_error)? {
                Some(setting) => Directive::Set(setting),
                None => {
                    tracing::debug!(
                        "{} line {line}: ignoring {keyword}, which sy does not use",
                        origin.display()
                    );
                    continue;
                }
            },
        };
        directives.push(directive);
    }
    Ok(ConfigFile {
        path: origin.to_owned(),
        directives,
    })
}

/// Parses the value of a keyword sy uses; `Ok(None)` for any other keyword.
fn setting(keyword: &str, args: &[String], raw: &str) -> Result<Option<Setting>, String> {
    let one = |name: &str| syntax::single(name, args);
    let text = |name: &str| one(name).map(str::to_owned);
    let flag = |name: &str| syntax::flag(name, one(name)?);
    let time = |name: &str| syntax::time(name, one(name)?);
    let setting = match keyword {
        "hostname" => Setting::HostName(text("HostName")?),
        "port" => Setting::Port(syntax::port("Port", one("Port")?)?),
        "user" => Setting::User(text("User")?),
        "identityfile" => Setting::IdentityFile(text("IdentityFile")?),
        "identitiesonly" => Setting::IdentitiesOnly(flag("IdentitiesOnly")?),
        "identityagent" => Setting::IdentityAgent(text("IdentityAgent")?),
        "userknownhostsfile" => Setting::UserKnownHostsFile(args.to_vec()),
        "globalknownhostsfile" => Setting::GlobalKnownHostsFile(args.to_vec()),
        "stricthostkeychecking" => {
            Setting::StrictHostKeyChecking(strict_host_key_checking(one("StrictHostKeyChecking")?)?)
        }
        "hashknownhosts" => Setting::HashKnownHosts(flag("HashKnownHosts")?),
        "serveraliveinterval" => Setting::ServerAliveInterval(time("ServerAliveInterval")?),
        "serveralivecountmax" => Setting::ServerAliveCountMax(syntax::count(
            "ServerAliveCountMax",
            one("ServerAliveCountMax")?,
        )?),
        "connecttimeout" => Setting::ConnectTimeout(time("ConnectTimeout")?),
        "proxyjump" => {
            let value = one("ProxyJump")?;
            if value.eq_ignore_ascii_case("none") {
                Setting::Proxy(Proxy::Direct)
            } else {
                let hops = value.split(',').map(syntax::jump_host);
                Setting::Proxy(Proxy::Jump(hops.collect::<Result<_, _>>()?))
            }
        }
        "proxycommand" => {
            if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
                Setting::Proxy(Proxy::Direct)
            } else {
                // OpenSSH hands the rest of the line to the shell unsplit.
                Setting::Proxy(Proxy::Command(raw_rest(raw)))
            }
        }
        "ciphers" => Setting::Ciphers(text("Ciphers")?),
        "batchmode" => Setting::BatchMode(flag("BatchMode")?),
        "hostkeyalias" => Setting::HostKeyAlias(text("HostKeyAlias")?),
        "checkhostip" => Setting::CheckHostIp(flag("CheckHostIP")?),
        "knownhostscommand" => {
            if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
                Setting::KnownHostsCommand(None)
            } else {
                // Like ProxyCommand, the rest of the line, split into words when it is run.
                Setting::KnownHostsCommand(Some(raw_rest(raw)))
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(setting))
}

/// The text after the keyword and its separator, as OpenSSH keeps it for `ProxyCommand` and
/// `KnownHostsCommand`.
fn raw_rest(raw: &str) -> String {
    let line = raw.trim();
    let keyword_end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[keyword_end..].trim_start();
    rest.strip_prefix('=')
        .unwrap_or(rest)
        .trim_start()
        .to_owned()
}

fn strict_host_key_checking(value: &str) -> Result<StrictHostKeyChecking, String> {
    let lower = value.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "yes" | "true" => StrictHostKeyChecking::Yes,
        "no" | "false" | "off" => StrictHostKeyChecking::No,
        "ask" => StrictHostKeyChecking::Ask,
        "accept-new" => StrictHostKeyChecking::AcceptNew,
        _ => {
            return Err(format!(
                "StrictHostKeyChecking needs yes, no, ask or accept-new, not \"{value}\""
            ));
        }
    })
}

/// Parses the arguments of `Match` (OpenSSH's `match_cfg_line`).
fn match_criteria(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut criteria = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (negated, name) = match arg.strip_prefix('!') {
            Some(name) => (true, name.to_ascii_lowercase()),
            None => (false, arg.to_ascii_lowercase()),
        };
        let kind = match name.as_str() {
            "all" => CriterionKind::All,
            "final" | "canonical" => CriterionKind::Final,
            _ => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("Match {name} needs a value"))?;
                let patterns = || value.split(',').map(str::to_owned).collect();
                match name.as_str() {
                    "host" => CriterionKind::Host(patterns()),
                    "originalhost" => CriterionKind::OriginalHost(patterns()),
                    "user" => CriterionKind::User(patterns()),
                    "localuser" => CriterionKind::LocalUser(patterns()),
                    "tagged" => CriterionKind::Tagged(patterns()),
                    "exec" | "localnetwork" | "version" | "sessiontype" | "command" => {
                        CriterionKind::Unsupported(name.clone())
                    }
                    _ => return Err(format!("unsupported Match attribute \"{name}\"")),
                }
            }
        };
        criteria.push(Criterion { negated, kind });
    }
    let is_all = |c: &Criterion| matches!(c.kind, CriterionKind::All);
    let is_pass = |c: &Criterion| matches!(c.kind, CriterionKind::Final);
    if criteria.is_empty() {
        return Err("Match needs at least one criterion".to_owned());
    }
    if criteria.iter().any(is_all) && !criteria.iter().all(|c| is_all(c) || is_pass(c)) {
        return Err("Match all cannot be combined with other criteria".to_owned());
    }
    Ok(criteria)
}

/// Where an `Include` argument points: `~` is the home directory; relative paths are beneath
/// `~/.ssh` for user files and `/etc/ssh` for the system file.
fn include_path(pattern: &str, scope: Scope, local: &LocalUser) -> Result<PathBuf, String> {
    if pattern == "~" {
        return Ok(local.home.clone());
    }
    if let Some(rest) = pattern.strip_prefix("~/") {
        return Ok(local.home.join(rest));
    }
    if pattern.starts_with('~') {
        return Err(format!(
            "Include {pattern}: only ~ and ~/ are supported, not ~user"
        ));
    }
    let path = Path::new(pattern);
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    Ok(match scope {
        Scope::User => local.home.join(".ssh").join(path),
        Scope::System => Path::new("/etc/ssh").join(path),
    })
}

/// The existing files matching `pattern`, sorted per directory level as glob(3) returns them.
/// Wildcards (`*`, `?`, `[…]`) work in any component and never match a leading `.`.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let text = component.as_os_str().to_string_lossy();
        if !text.contains(['*', '?', '[']) {
            for candidate in &mut candidates {
                candidate.push(component);
            }
            continue;
        }
        let matcher = globset::GlobBuilder::new(&text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|error| format!("Include: bad pattern {}: {error}", pattern.display()))?
            .compile_matcher();
        let mut next = Vec::new();
        for dir in &candidates {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.file_name()))
                .filter(|name| {
                    let hidden = name.to_string_lossy().starts_with('.');
                    (!hidden || text.starts_with('.')) && matcher.is_match(name)
                })
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        candidates = next;
    }
    candidates.retain(|path| path.is_file());
    Ok(candidates)
}
