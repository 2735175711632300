//! Settings from the configuration file, layered under the command line.
//!
//! The file (`$XDG_CONFIG_HOME/sy/config.toml`, else `~/.config/sy/config.toml`, or `--config
//! FILE`) holds a `[defaults]` table, `[profile.NAME]` tables chosen with `--profile NAME`, and
//! `[host."PATTERN"]` tables for remote hosts whose name matches the glob. Precedence, highest
//! first: flags, the profile, matching host tables (in file order: the first that sets a key
//! wins, as in ssh_config), `[defaults]`, built-in values. An unknown key is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use crate::config::UsageError;

/// One table of settings; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Files transferred in parallel (`-j`).
    pub jobs: Option<NonZeroUsize>,
    /// When to compress traffic with remote hosts (`--compress`): `"auto"`, `"always"` (or
    /// `true`, `-z`), `"never"` (or `false`).
    pub compress: Option<Compress>,
    /// zstd level when compressing (`--compress-level`).
    pub compress_level: Option<CompressLevel>,
    /// The remote shell (`-e`).
    pub rsh: Option<Rsh>,
    /// The agent's command on remote hosts (`--remote-path`).
    pub remote_path: Option<String>,
    /// Exclude patterns, applied after the command line's filter rules.
    pub exclude: Option<Vec<String>>,
    /// Include patterns, applied after the command line's filter rules and before the file's
    /// excludes (so `include = ["keep.log"]` with `exclude = ["*.log"]` keeps it).
    pub include: Option<Vec<String>>,
    /// Delete what is not in the source (`--delete`).
    pub delete: Option<bool>,
    /// Compare contents instead of size and time (`-c`).
    pub checksum: Option<bool>,
    /// Skip files that are newer at the destination (`-u`).
    pub update: Option<bool>,
    /// Keep hard links as hard links (`-H`).
    pub hard_links: Option<bool>,
    /// Read each written file back and compare digests (`--verify`).
    pub verify: Option<bool>,
    /// Turn runs of zeros into holes (`-S`).
    pub sparse: Option<bool>,
    /// Honour .gitignore files (`--gitignore`).
    pub gitignore: Option<bool>,
    /// Bandwidth limit (`--bwlimit`), such as `"10M"`.
    pub bwlimit: Option<Rate>,
    /// The built-in SSH client's ssh config file (`--ssh-config`).
    pub ssh_config: Option<PathBuf>,
    /// The remote port for the built-in SSH client (`--port`).
    pub port: Option<u16>,
    /// The SSH cipher of the built-in client (`--cipher`).
    pub cipher: Option<String>,
    /// Copy sy-remote to a host that lacks it (`false`: `--no-deploy`).
    pub deploy: Option<bool>,
}

/// A bandwidth limit as written and in bytes per second.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Rate {
    /// As written.
    pub text: String,
    /// Bytes per second.
    pub bytes_per_sec: u64,
}

impl TryFrom<String> for Rate {
    type Error = UsageError;

    fn try_from(text: String) -> Result<Self, UsageError> {
        let bytes_per_sec = parse_rate(&text)?;
        Ok(Rate {
            text,
            bytes_per_sec,
        })
    }
}

/// When traffic with a remote host is compressed (`--compress`, the config's `compress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(try_from = "CompressValue")]
pub enum Compress {
    /// zstd only while the link, not the CPU, limits the transfer, at a level that keeps up.
    #[default]
    Auto,
    /// zstd at `--compress-level` whatever the link (what `-z` asks for).
    Always,
    /// Everything goes over the wire as it is.
    Never,
}

impl Compress {
    /// As the command line and the config file spell it.
    pub fn name(self) -> &'static str {
        match self {
            Compress::Auto => "auto",
            Compress::Always => "always",
            Compress::Never => "never",
        }
    }
}

/// The config's `compress` as written: a boolean (the old form) or a word.
#[derive(Deserialize)]
#[serde(untagged)]
enum CompressValue {
    Switch(bool),
    Word(String),
}

impl TryFrom<CompressValue> for Compress {
    type Error = String;

    fn try_from(value: CompressValue) -> Result<Self, String> {
        match value {
            CompressValue::Switch(true) => Ok(Compress::Always),
            CompressValue::Switch(false) => Ok(Compress::Never),
            CompressValue::Word(word) => match word.as_str() {
                "auto" => Ok(Compress::Auto),
                "always" => Ok(Compress::Always),
                "never" => Ok(Compress::Never),
                _ => Err(format!(
                    "compress is \"{word}\": expected \"auto\", \"always\", \"never\", true or false"
                )),
            },
        }
    }
}

/// A zstd level, 1 to 19.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct CompressLevel(pub i8);

impl TryFrom<i64> for CompressLevel {
    type Error = String;

    fn try_from(level: i64) -> Result<Self, String> {
        match i8::try_from(level) {
            Ok(l) if (1..=19).contains(&l) => Ok(CompressLevel(l)),
            _ => Err(format!("compression level {level} is not in 1..=19")),
        }
    }
}

/// A remote shell command as written and split into words.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Rsh {
    /// As written.
    pub text: String,
    /// Split like a shell would.
    pub words: Vec<String>,
}

impl TryFrom<String> for Rsh {
    type Error = UsageError;

    fn try_from(text: String) -> Result<Self, UsageError> {
        let words = split_rsh(&text)?;
        Ok(Rsh { text, words })
    }
}

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    Flag,
    /// `[profile.NAME]`.
    Profile(String),
    /// `[host."PATTERN"]`.
    Host(String),
    /// `[defaults]`.
    Defaults,
    /// sy's own default.
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => write!(f, "command line"),
            Origin::Profile(name) => write!(f, "[profile.{name}]"),
            Origin::Host(pattern) => write!(f, "[host.{pattern:?}]"),
            Origin::Defaults => write!(f, "[defaults]"),
            Origin::BuiltIn => write!(f, "built-in"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value in effect.
    pub value: T,
    /// The layer that set it.
    pub origin: Origin,
}

/// The settings in effect for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Parallel file workers.
    pub jobs: Setting<usize>,
    /// When to compress.
    pub compress: Setting<Compress>,
    /// zstd level.
    pub compress_level: Setting<i8>,
    /// The remote shell; `None` for sy's built-in SSH client.
    pub rsh: Setting<Option<Rsh>>,
    /// The agent's command.
    pub remote_path: Setting<String>,
    /// Exclude patterns from the file.
    pub exclude: Setting<Vec<String>>,
    /// Include patterns from the file.
    pub include: Setting<Vec<String>>,
    /// Delete what is not in the source.
    pub delete: Setting<bool>,
    /// Compare contents (`-c`).
    pub checksum: Setting<bool>,
    /// Skip files newer at the destination (`-u`).
    pub update: Setting<bool>,
    /// Keep hard links (`-H`).
    pub hard_links: Setting<bool>,
    /// Read written files back (`--verify`).
    pub verify: Setting<bool>,
    /// Punch holes for runs of zeros (`-S`).
    pub sparse: Setting<bool>,
    /// Honour .gitignore.
    pub gitignore: Setting<bool>,
    /// Bandwidth limit, if any.
    pub bwlimit: Setting<Option<Rate>>,
    /// The ssh config file of the built-in client, if not ~/.ssh/config.
    pub ssh_config: Setting<Option<PathBuf>>,
    /// The port, if not the ssh config's.
    pub port: Setting<Option<u16>>,
    /// The cipher, if not sy's choice.
    pub cipher: Setting<Option<String>>,
    /// Copy sy-remote to hosts that lack it.
    pub deploy: Setting<bool>,
}

impl Effective {
    /// `key = value  # origin` lines, for `sy config show`.
    pub fn show<'a>(&'a self) -> String {
        let str_value = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let list = |patterns: &[String]| {
            toml::Value::Array(
                patterns
                    .iter()
                    .map(|p| toml::Value::String(p.clone()))
                    .collect(),
            )
            .to_string()
        };
        let switch =
            |key, setting: &'a Setting<bool>| (key, setting.value.to_string(), &setting.origin);
        let rows = [
            ("jobs", self.jobs.value.to_string(), &self.jobs.origin),
            (
                "compress",
                str_value(self.compress.value.name()),
                &self.compress.origin,
            ),
            (
                "compress_level",
                self.compress_level.value.to_string(),
                &self.compress_level.origin,
            ),
            (
                "rsh",
                str_value(
                    self.rsh
                        .value
                        .as_ref()
                        .map_or("none (built-in SSH client)", |r| &r.text),
                ),
                &self.rsh.origin,
            ),
            (
                "remote_path",
                str_value(&self.remote_path.value),
                &self.remote_path.origin,
            ),
            ("exclude", list(&self.exclude.value), &self.exclude.origin),
            ("include", list(&self.include.value), &self.include.origin),
            switch("delete", &self.delete),
            switch("checksum", &self.checksum),
            switch("update", &self.update),
            switch("hard_links", &self.hard_links),
            switch("verify", &self.verify),
            switch("sparse", &self.sparse),
            (
                "gitignore",
                self.gitignore.value.to_string(),
                &self.gitignore.origin,
            ),
            (
                "bwlimit",
                str_value(self.bwlimit.value.as_ref().map_or("none", |r| &r.text)),
                &self.bwlimit.origin,
            ),
            (
                "ssh_config",
                str_value(
                    &self
                        .ssh_config
                        .value
                        .as_ref()
                        .map_or("~/.ssh/config".into(), |p| p.display().to_string()),
                ),
                &self.ssh_config.origin,
            ),
            (
                "port",
                self.port
                    .value
                    .map_or_else(|| str_value("from the ssh config"), |p| p.to_string()),
                &self.port.origin,
            ),
            (
                "cipher",
                str_value(self.cipher.value.as_deref().unwrap_or("auto")),
                &self.cipher.origin,
            ),
            ("deploy", self.deploy.value.to_string(), &self.deploy.origin),
        ];
        let width = rows
            .iter()
            .map(|(k, v, _)| k.len() + v.len() + 3)
            .max()
            .unwrap_or(0);
        rows.iter()
            .map(|(key, value, origin)| {
                let left = format!("{key} = {value}");
                format!("{left:<width$}  # {origin}\n")
            })
            .collect()
    }
}

/// The file's tables, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tables {
    #[serde(default)]
    defaults: Layer,
    #[serde(default)]
    profile: BTreeMap<String, Layer>,
    #[serde(default)]
    host: HostTables,
}

/// `[host."PATTERN"]` tables in file order (the order decides which wins).
#[derive(Debug, Default)]
struct HostTables(Vec<(String, Layer)>);

impl<'de> Deserialize<'de> for HostTables {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = HostTables;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tables of settings named by host pattern")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HostTables, A::Error> {
                let mut tables = Vec::new();
                while let Some(entry) = map.next_entry::<String, Layer>()? {
                    tables.push(entry);
                }
                Ok(HostTables(tables))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// A loaded configuration file (empty when there is none).
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: Option<PathBuf>,
    defaults: Layer,
    profiles: BTreeMap<String, Layer>,
    hosts: Vec<(String, GlobMatcher, Layer)>,
}

/// `$XDG_CONFIG_HOME/sy/config.toml`, else `$HOME/.config/sy/config.toml` (the XDG rule on
/// every platform, as the documentation promises).
pub fn default_path() -> Option<PathBuf> {
    let nonempty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = nonempty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("sy").join("config.toml"))
}

impl ConfigFile {
    /// Reads `explicit` (which must exist), or the default file if there is one.
    pub fn load(explicit: Option<&Path>) -> Result<ConfigFile> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(ConfigFile::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        ConfigFile::parse(&text, &path)
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile> {
        let tables: Tables = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| locate(text, span.start));
            UsageError(match at {
                Some((line, key)) => format!(
                    "config file {}, line {line}, key `{key}`: {}",
                    path.display(),
                    e.message().trim_end()
                ),
                None => format!("config file {}: {}", path.display(), e.message()),
            })
        })?;
        let mut hosts = Vec::new();
        for (pattern, layer) in tables.host.0 {
            let matcher = Glob::new(&pattern)
                .map_err(|e| {
                    let line = text
                        .lines()
                        .position(|l| l.trim_start().starts_with("[host") && l.contains(&pattern))
                        .map_or(0, |i| i + 1);
                    UsageError(format!(
                        "config file {}, line {line}, key `host.{pattern:?}`: bad host pattern: {e}",
                        path.display()
                    ))
                })?
                .compile_matcher();
            hosts.push((pattern, matcher, layer));
        }
        Ok(ConfigFile {
            path: Some(path.to_path_buf()),
            defaults: tables.defaults,
            profiles: tables.profile,
            hosts,
        })
    }

    /// The settings in effect for `flags`, the chosen profile and the remote host.
    pub fn resolve(
        &self,
        flags: &Layer,
        profile: Option<&str>,
        host: Option<&str>,
    ) -> Result<Effective, UsageError> {
        let mut layers: Vec<(Origin, &Layer)> = vec![(Origin::Flag, flags)];
        if let Some(name) = profile {
            let layer = self.profiles.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                UsageError(match &self.path {
                    Some(file) => format!(
                        "no profile {name:?} in {} (profiles: {})",
                        file.display(),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                    None => format!(
                        "no profile {name:?}: there is no config file ({})",
                        default_path().map_or("no $XDG_CONFIG_HOME or $HOME".to_owned(), |p| {
                            format!("{} does not exist", p.display())
                        })
                    ),
                })
            })?;
            layers.push((Origin::Profile(name.to_owned()), layer));
        }
        if let Some(host) = host {
            for (pattern, matcher, layer) in &self.hosts {
                if matcher.is_match(host) {
                    layers.push((Origin::Host(pattern.clone()), layer));
                }
            }
        }
        layers.push((Origin::Defaults, &self.defaults));
        fn pick<T>(
            layers: &[(Origin, &Layer)],
            get: impl Fn(&Layer) -> Option<T>,
            built_in: impl FnOnce() -> T,
        ) -> Setting<T> {
            layers
                .iter()
                .find_map(|(origin, layer)| {
                    get(layer).map(|value| Setting {
                        value,
                        origin: origin.clone(),
                    })
                })
                .unwrap_or_else(|| Setting {
                    value: built_in(),
                    origin: Origin::BuiltIn,
                })
        }
        Ok(Effective {
            jobs: pick(
                &layers,
                |l| l.jobs.map(NonZeroUsize::get),
                || std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            ),
            compress: pick(&layers, |l| l.compress, Compress::default),
            compress_level: pick(
                &layers,
                |l| l.compress_level.map(|c| c.0),
                || sy_engine::DEFAULT_COMPRESS_LEVEL,
            ),
            rsh: pick(&layers, |l| l.rsh.clone().map(Some), || None),
            remote_path: pick(&layers, |l| l.remote_path.clone(), || "sy-remote".into()),
            exclude: pick(&layers, |l| l.exclude.clone(), Vec::new),
            include: pick(&layers, |l| l.include.clone(), Vec::new),
            delete: pick(&layers, |l| l.delete, || false),
            checksum: pick(&layers, |l| l.checksum, || false),
            update: pick(&layers, |l| l.update, || false),
            hard_links: pick(&layers, |l| l.hard_links, || false),
            verify: pick(&layers, |l| l.verify, || false),
            sparse: pick(&layers, |l| l.sparse, || false),
            gitignore: pick(&layers, |l| l.gitignore, || false),
            bwlimit: pick(&layers, |l| l.bwlimit.clone().map(Some), || None),
            ssh_config: pick(&layers, |l| l.ssh_config.clone().map(Some), || None),
            port: pick(&layers, |l| l.port.map(Some), || None),
            cipher: pick(&layers, |l| l.cipher.clone().map(Some), || None),
            deploy: pick(&layers, |l| l.deploy, || true),
        })
    }
}

/// The 1-based line of byte `offset` and the key written there (or the table header).
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let lines: Vec<&str> = text.lines().collect();
    let key = lines[..line.min(lines.len())]
        .iter()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            if l.starts_with('[') {
                Some(l.trim_matches(|c| c == '[' || c == ']').to_owned())
            } else {
                l.split_once('=').map(|(k, _)| k.trim().to_owned())
            }
        })
        .unwrap_or_default();
    (line, key)
}

/// A rate as typed: `500K`, `10M`, `1.5G` (binary units, per second); a bare number is KiB/s,
/// as in rsync, and 0 (in any unit) is no limit.
pub(crate) fn parse_rate(text: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError(format!(
            "bad rate {text:?}: expected a number with an optional K, M or G suffix (10M, 500K)"
        ))
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: f64 = match unit.to_ascii_uppercase().as_str() {
        "" | "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "B" => 1.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    // As in rsync, 0 is no limit.
    if value == 0.0 {
        return Ok(0);
    }
    let rate = (value * scale).round();
    if !rate.is_finite() || rate < 1.0 || rate > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(rate as u64)
}

/// Splits `-e CMD` like a shell would.
fn split_rsh(cmd: &str) -> Result<Vec<String>, UsageError> {
    match shlex::split(cmd) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(UsageError(format!(
            "cannot parse --rsh {cmd:?} as a command"
        ))),
    }
}

#[cfg(test)]
#[path = "config_file_tests.rs"]
mod tests;
