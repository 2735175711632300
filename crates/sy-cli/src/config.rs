//! The validated configuration the rest of the program reads: endpoints resolved, flags
//! combined, filters compiled once to check them.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sy_transport::{Filter, FilterRules, RelPath, RuleKind};

use crate::args::{Args, FilterArg, Parsed};
use crate::progress::When;
use crate::remote::{RemoteShell, RemoteSpec, parse_remote};
use crate::settings::{CompressLevel, ConfigFile, Layer, Rsh};
use crate::ssh::SshFlags;

/// A request that cannot be carried out as typed (exit 1); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How files are judged unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Same size and modification time (the default; reads nothing).
    SizeAndTime,
    /// Same size and the same BLAKE3 digest (`-c`).
    Checksum,
    /// Same size (`--size-only`).
    SizeOnly,
}

/// What to synchronize and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Include/exclude rules and `--gitignore`.
    pub filter: FilterRules,
    /// `-L`.
    pub follow_links: bool,
    /// `-H` (or `-a`).
    pub hard_links: bool,
    /// Set owner and group (`-a` when run as root).
    pub owner: bool,
    /// How unchanged files are recognised.
    pub compare: Compare,
    /// `-u`.
    pub update: bool,
    /// `--ignore-existing`.
    pub ignore_existing: bool,
    /// `--delete`.
    pub delete: bool,
    /// `-n`.
    pub dry_run: bool,
    /// `--sparse`.
    pub sparse: bool,
    /// `Some(true)` with `-W`, `Some(false)` with `--no-whole-file`, else decided per pair.
    pub whole_file: Option<bool>,
    /// Parallel file workers.
    pub jobs: usize,
    /// `--verify`: read each written file back and compare digests with the source's.
    pub verify: bool,
}

/// What to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputOptions {
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `--stats`.
    pub stats: bool,
    /// `-P` / `--progress=WHEN`.
    pub progress: When,
    /// `--json`.
    pub json: bool,
}

/// One side of one transfer: a directory and the subtree in it that takes part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The directory the transport opens (on `remote` when there is one).
    pub root: PathBuf,
    /// The subtree (the root itself when empty).
    pub base: RelPath,
    /// The host it is on, for `[user@]host:path`; `None` on this machine.
    pub remote: Option<RemoteSpec>,
}

/// One `SRC → DST` transfer.
#[derive(Debug, Clone)]
pub struct Job {
    /// The source as typed, for messages.
    pub shown: String,
    /// Where it is read.
    pub src: Endpoint,
    /// Where it is written.
    pub dst: Endpoint,
    /// Source and destination are the same directory: nothing to do.
    pub same: bool,
}

/// Everything the run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Transfers in order (one per SRC).
    pub jobs: Vec<Job>,
    /// Behaviour.
    pub sync: SyncOptions,
    /// Output.
    pub output: OutputOptions,
    /// How to reach remote sides.
    pub shell: RemoteShell,
    /// `--bwlimit` in bytes per second.
    pub bwlimit: Option<u64>,
    /// `--retry` and `--retry-delay`.
    pub retry: crate::retry::RetryPolicy,
}

impl Config {
    /// Validates parsed arguments against the file system, under the settings of the config
    /// file (flags win).
    pub fn from_args(parsed: Parsed) -> Result<Config> {
        let Parsed { args, filters } = parsed;
        let file = ConfigFile::load(args.config_file.as_deref())?;
        // Host tables apply to the remote side (the first one named, when there are several).
        let host = args
            .paths
            .iter()
            .find_map(|p| parse_remote(p).ok().flatten())
            .map(|spec| spec.host);
        let settings = file.resolve(
            &flag_layer(&args)?,
            args.profile.as_deref(),
            host.as_deref(),
        )?;
        let mut rules = FilterRules {
            rules: Vec::new(),
            gitignore: settings.gitignore.value,
        };
        for f in filters {
            match f {
                FilterArg::Exclude(p) => rules.rules.push((RuleKind::Exclude, p)),
                FilterArg::Include(p) => rules.rules.push((RuleKind::Include, p)),
                FilterArg::ExcludeFrom(file) => {
                    let text = fs::read_to_string(&file)
                        .with_context(|| format!("reading exclude file {}", file.display()))?;
                    rules.add_rules_file(&text);
                }
            }
        }
        // After the command line's rules, so its --include can still let a file through.
        for pattern in &settings.exclude.value {
            rules.rules.push((RuleKind::Exclude, pattern.clone()));
        }
        Filter::compile(&rules).map_err(|e| UsageError(e.to_string()))?;
        let jobs = settings.jobs.value;
        let sync = SyncOptions {
            filter: rules,
            follow_links: args.copy_links,
            hard_links: args.hard_links || args.archive,
            owner: args.archive && rustix::process::geteuid().is_root(),
            compare: if args.checksum {
                Compare::Checksum
            } else if args.size_only {
                Compare::SizeOnly
            } else {
                Compare::SizeAndTime
            },
            update: args.update,
            ignore_existing: args.ignore_existing,
            delete: args.delete,
            dry_run: args.dry_run,
            sparse: args.sparse,
            whole_file: if args.whole_file {
                Some(true)
            } else if args.no_whole_file {
                Some(false)
            } else {
                None
            },
            jobs,
            verify: args.verify,
        };
        let output = OutputOptions {
            verbose: args.verbose,
            quiet: args.quiet,
            stats: args.stats,
            progress: args.progress.unwrap_or(When::Never),
            json: args.json,
        };
        let Some((dst, sources)) = args.paths.split_last() else {
            bail!(UsageError("need SRC and DST".into()));
        };
        // No remote shell chosen, on the command line or in the config: sy connects itself.
        let builtin = settings.rsh.value.is_none().then(|| SshFlags {
            config_file: settings.ssh_config.value.clone(),
            port: settings.port.value,
            identities: args.identity.clone(),
            accept_new_host_key: args.accept_new_host_key,
            cipher: settings.cipher.value.clone(),
            deploy: settings.deploy.value,
        });
        let shell = RemoteShell {
            rsh: settings.rsh.value.map(|rsh| rsh.words).unwrap_or_default(),
            builtin,
            remote_path: settings.remote_path.value,
            compress_level: settings
                .compress
                .value
                .then_some(settings.compress_level.value),
            timeout: args.timeout.map(std::time::Duration::from_secs),
        };
        let single = sources.len() == 1;
        let jobs = sources
            .iter()
            .map(|src| resolve(src, dst, single, &sync))
            .collect::<Result<Vec<_>>>()?;
        if sync.delete && !single && jobs.iter().any(|j| j.dst.base.is_root()) {
            bail!(UsageError(
                "--delete with several sources that copy their contents (trailing slash) into \
                 one destination would delete each other's files; sync them one at a time"
                    .into()
            ));
        }
        Ok(Config {
            jobs,
            sync,
            output,
            shell,
            bwlimit: settings.bwlimit.value.map(|r| r.bytes_per_sec),
            retry: crate::retry::RetryPolicy {
                retries: args.retry,
                delay: args.retry_delay,
            },
        })
    }
}

/// The settings the command line sets, as a layer above the config file's.
pub fn flag_layer(args: &Args) -> Result<Layer, UsageError> {
    Ok(Layer {
        jobs: args.jobs,
        compress: (args.compress || args.compress_level.is_some()).then_some(true),
        compress_level: args.compress_level.map(CompressLevel),
        rsh: args.rsh.clone().map(Rsh::try_from).transpose()?,
        remote_path: args.remote_path.clone(),
        exclude: None,
        gitignore: args.gitignore.then_some(true),
        bwlimit: args.bwlimit.clone(),
        ssh_config: args.ssh_config.clone(),
        port: args.port,
        cipher: args.cipher.clone(),
        deploy: args.no_deploy.then_some(false),
    })
}

fn has_trailing_slash(path: &OsStr) -> bool {
    let b = path.as_bytes();
    b.ends_with(b"/") || b.ends_with(b"/.") || b == b"."
}

fn split_name(path: &Path) -> Option<(PathBuf, RelPath)> {
    let name = path.file_name()?;
    let base = RelPath::new(name.as_bytes()).ok()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((parent, base))
}

/// Works out which directories the transports open and which subtrees take part.
fn resolve(src: &OsStr, dst: &OsStr, single: bool, sync: &SyncOptions) -> Result<Job> {
    match (parse_remote(src)?, parse_remote(dst)?) {
        (Some(_), Some(_)) => bail!(UsageError(
            "copying between two remote hosts is not supported; run sy on one of them".into()
        )),
        (Some(spec), None) => Ok(resolve_pull(spec, dst)),
        (None, remote_dst) => resolve_local(src, dst, remote_dst, single, sync),
    }
}

/// `host:src DST`: the remote source cannot be examined before connecting, so the trailing
/// slash alone decides (with it, the contents; without, the directory or file itself).
fn resolve_pull(spec: RemoteSpec, dst: &OsStr) -> Job {
    let shown = spec.shown();
    let contents = spec.path.is_empty() || has_trailing_slash(OsStr::new(&spec.path));
    let src_path = PathBuf::from(&spec.path);
    let (root, base) = match split_name(&src_path) {
        Some(split) if !contents => split,
        _ if spec.path.is_empty() => (PathBuf::from("."), RelPath::root()),
        _ => (src_path, RelPath::root()),
    };
    Job {
        shown,
        dst: Endpoint {
            root: PathBuf::from(dst),
            base: base.clone(),
            remote: None,
        },
        src: Endpoint {
            root,
            base,
            remote: Some(spec),
        },
        same: false,
    }
}

fn resolve_local(
    src: &OsStr,
    dst: &OsStr,
    remote_dst: Option<RemoteSpec>,
    single: bool,
    sync: &SyncOptions,
) -> Result<Job> {
    let src_path = PathBuf::from(src);
    let shown = src_path.display().to_string();
    let meta = if sync.follow_links {
        fs::metadata(&src_path)
    } else {
        fs::symlink_metadata(&src_path)
    }
    .with_context(|| format!("reading source {shown}"))?;
    let contents = has_trailing_slash(src);
    let (src_root, src_base) = match split_name(&src_path) {
        Some(split) if !contents => split,
        _ => (src_path.clone(), RelPath::root()),
    };
    let (dst_path, dst_is_dir) = match &remote_dst {
        // A remote directory cannot be examined first: a trailing slash (or no path, the
        // login directory) says it is one.
        Some(spec) => (
            PathBuf::from(if spec.path.is_empty() {
                "."
            } else {
                &spec.path
            }),
            spec.path.is_empty() || has_trailing_slash(OsStr::new(&spec.path)),
        ),
        None => {
            let path = PathBuf::from(dst);
            let is_dir = has_trailing_slash(dst) || path.is_dir();
            (path, is_dir)
        }
    };
    let dst_end = if !meta.is_dir() && single && !dst_is_dir {
        // `sy file.txt new-name`: the copy takes DST's name.
        split_name(&dst_path)
            .map(|(root, base)| Endpoint {
                root,
                base,
                remote: remote_dst.clone(),
            })
            .ok_or_else(|| {
                UsageError(format!("{} is not a usable file name", dst_path.display()))
            })?
    } else {
        Endpoint {
            root: dst_path.clone(),
            base: src_base.clone(),
            remote: remote_dst.clone(),
        }
    };
    let src_end = Endpoint {
        root: src_root,
        base: src_base,
        remote: None,
    };
    let mut same = false;
    if meta.is_dir() && remote_dst.is_none() {
        let src_real = fs::canonicalize(src_end.root.join(src_end.base.as_path()))
            .with_context(|| format!("reading source {shown}"))?;
        let dst_real = canonical_prefix(&dst_end.root.join(dst_end.base.as_path()));
        if dst_real == src_real {
            same = true;
        } else if dst_real.starts_with(&src_real) {
            bail!(UsageError(format!(
                "destination {} is inside source {shown}; refusing to copy a tree into itself",
                dst_path.display()
            )));
        } else if sync.delete && src_real.starts_with(&dst_real) {
            bail!(UsageError(format!(
                "source {shown} is inside destination {}; --delete would remove it",
                dst_path.display()
            )));
        }
    }
    Ok(Job {
        shown,
        src: src_end,
        dst: dst_end,
        same,
    })
}

/// `path` with its longest existing ancestor canonicalized (the rest may not exist yet).
fn canonical_prefix(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut cursor = absolute.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(cursor) {
            let mut out = real;
            for name in missing.iter().rev() {
                out.push(name);
            }
            return out;
        }
        match (cursor.parent(), cursor.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                cursor = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_means_contents() {
        assert!(has_trailing_slash(OsStr::new("a/")));
        assert!(has_trailing_slash(OsStr::new("a/.")));
        assert!(has_trailing_slash(OsStr::new(".")));
        assert!(!has_trailing_slash(OsStr::new("a")));
    }

    #[test]
    fn name_splits_into_parent_and_base() {
        let (parent, base) = split_name(Path::new("x/y")).unwrap();
        assert_eq!(parent, Path::new("x"));
        assert_eq!(base.as_bytes(), b"y");
        let (parent, _) = split_name(Path::new("y")).unwrap();
        assert_eq!(parent, Path::new("."));
        assert!(split_name(Path::new("/")).is_none());
    }

    #[test]
    fn canonical_prefix_keeps_missing_tail() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            canonical_prefix(&dir.path().join("a/b")),
            real.join("a").join("b")
        );
    }
}
