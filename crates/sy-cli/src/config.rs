//! From the command line and the config file to the engine's options: flags combined over
//! the file's settings, endpoints parsed, filters compiled once to check them.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use sy_engine::{
    Compare, CompressionPolicy, Endpoint, Filter, FilterRules, Perms, RetryPolicy, RuleKind,
    SyncOptions,
};

use crate::args::{Args, FilterArg, Info, Parsed};
use crate::config_file::{Compress, CompressLevel, ConfigFile, Layer, Rsh};
use crate::files_from::{ListOptions, add_files_from, contents_of};
use crate::filter_rule::add_filter_rule;
use crate::progress::When;

/// A request that cannot be carried out as typed (exit 1); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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
    /// `-h`: sizes in --stats in human units.
    pub human_readable: bool,
    /// `-i`: list changes as rsync's itemized codes.
    pub itemize: bool,
}

/// Everything the run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to copy, in order.
    pub sources: Vec<Endpoint>,
    /// Where.
    pub destination: Endpoint,
    /// How.
    pub sync: SyncOptions,
    /// What to print.
    pub output: OutputOptions,
}

impl Config {
    /// Validates parsed arguments against the file system, under the settings of the config
    /// file (flags win).
    pub fn from_args(parsed: Parsed) -> Result<Config> {
        let Parsed { args, filters } = parsed;
        let file = ConfigFile::load(args.config_file.as_deref())?;
        let endpoints = args
            .paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let source = i + 1 < args.paths.len();
                if source && args.files_from.is_some() {
                    Endpoint::parse(contents_of(path))
                } else {
                    Endpoint::parse(path)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UsageError(e.to_string()))?;
        // Host tables apply to the remote side (the first one named, when there are several).
        let host = endpoints
            .iter()
            .find_map(|end| end.remote())
            .map(|spec| spec.host.clone());
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
                    let text = fs::read_to_string(&file).map_err(|e| {
                        UsageError(format!("reading exclude file {}: {e}", file.display()))
                    })?;
                    rules.add_rules_file(&text);
                }
                FilterArg::IncludeFrom(file) => {
                    let text = fs::read_to_string(&file).map_err(|e| {
                        UsageError(format!("reading include file {}: {e}", file.display()))
                    })?;
                    rules.add_include_file(&text);
                }
                FilterArg::Rule(rule) => add_filter_rule(&mut rules, &rule)?,
            }
        }
        if let Some(list) = &args.files_from {
            if args.delete_excluded {
                // The list is rules that exclude everything else: the receiver would lose
                // all it holds outside the listed paths (rsync deletes only within listed
                // directories it recursed into).
                return Err(UsageError(
                    "--delete-excluded with --files-from is not supported: it would delete \
                     everything in DST that is not listed; use --delete"
                        .to_owned(),
                )
                .into());
            }
            let options = ListOptions {
                nul_separated: args.from0,
                recursive: args.recursive,
            };
            add_files_from(&mut rules, list, options)?;
        }
        // After the command line's rules, so its --include can still let a file through; the
        // file's includes before its excludes, so they can make exceptions to them.
        for pattern in &settings.include.value {
            rules.rules.push((RuleKind::Include, pattern.clone()));
        }
        for pattern in &settings.exclude.value {
            rules.rules.push((RuleKind::Exclude, pattern.clone()));
        }
        Filter::compile(&rules).map_err(|e| UsageError(e.to_string()))?;
        let mut sync = SyncOptions::default();
        sync.filter = rules;
        sync.follow_links = args.copy_links;
        sync.hard_links = settings.hard_links.value || args.archive;
        sync.owner = (args.archive || args.owner || args.group)
            && !(args.no_owner || args.no_group)
            && rustix::process::geteuid().is_root();
        sync.times = !args.no_times;
        let umask = current_umask();
        if args.no_perms {
            sync.perms = Perms::Umask(umask);
        }
        for value in &args.chmod {
            sync.chmod
                .add(value, umask)
                .map_err(|e| UsageError(e.to_string()))?;
        }
        sync.compare = if args.ignore_times {
            Compare::Never
        } else if settings.checksum.value {
            Compare::Checksum
        } else if args.size_only {
            Compare::SizeOnly
        } else {
            Compare::SizeAndTime
        };
        sync.update = settings.update.value;
        sync.ignore_existing = args.ignore_existing;
        sync.existing = args.existing;
        sync.max_size = args.max_size;
        sync.min_size = args.min_size;
        sync.modify_window = args.modify_window.unwrap_or(0);
        sync.relative = args.relative;
        sync.delete = settings.delete.value || args.delete_excluded;
        sync.delete_excluded = args.delete_excluded;
        sync.max_delete = args.max_delete;
        sync.dry_run = args.dry_run;
        sync.sparse = settings.sparse.value;
        sync.whole_file = if args.whole_file {
            Some(true)
        } else if args.no_whole_file {
            Some(false)
        } else {
            None
        };
        sync.jobs = settings.jobs.value;
        sync.verify = settings.verify.value;
        sync.bwlimit = settings
            .bwlimit
            .value
            .map(|r| r.bytes_per_sec)
            .filter(|&rate| rate > 0);
        sync.retry = RetryPolicy {
            retries: args.retry,
            delay: args.retry_delay,
        };
        let remote = &mut sync.remote;
        remote.shell = settings.rsh.value.map(|rsh| rsh.words).unwrap_or_default();
        remote.remote_path = settings.remote_path.value;
        remote.compression = match settings.compress.value {
            Compress::Auto => CompressionPolicy::Auto,
            Compress::Always => CompressionPolicy::Always {
                level: settings.compress_level.value,
            },
            Compress::Never => CompressionPolicy::Never,
        };
        remote.timeout = args
            .timeout
            .filter(|&secs| secs > 0)
            .map(std::time::Duration::from_secs);
        let ssh = &mut remote.ssh;
        ssh.config_file = settings.ssh_config.value;
        ssh.port = settings.port.value;
        ssh.identities = args.identity.clone();
        ssh.accept_new_host_key = args.accept_new_host_key;
        ssh.cipher = settings.cipher.value;
        ssh.deploy = settings.deploy.value;
        ssh.passphrase = Some(Arc::new(ask_passphrase));
        let output = OutputOptions {
            verbose: args.verbose,
            quiet: args.quiet,
            stats: args.stats,
            progress: match (args.progress, args.info) {
                (Some(when), _) => when,
                (None, Some(Info::Progress)) => When::Auto,
                (None, _) => When::Never,
            },
            human_readable: args.human_readable > 0,
            itemize: args.itemize_changes > 0,
            json: args.json,
        };
        let Some((destination, sources)) = endpoints.split_last() else {
            bail!(UsageError("need SRC and DST".into()));
        };
        Ok(Config {
            sources: sources.to_vec(),
            destination: destination.clone(),
            sync,
            output,
        })
    }
}

/// The process's umask. Reading it means setting it, so it is set back at once; this runs
/// while parsing the arguments, before the runtime starts, when nothing creates files.
fn current_umask() -> u32 {
    use rustix::fs::Mode;
    let umask = rustix::process::umask(Mode::from_raw_mode(0o022));
    rustix::process::umask(umask);
    umask.bits()
}

/// Asks for a key's passphrase on the terminal (/dev/tty); `None` without one.
fn ask_passphrase(path: &Path) -> Option<String> {
    crate::passphrase::ask(&format!("Enter passphrase for key '{}': ", path.display())).ok()
}

/// The settings the command line sets, as a layer above the config file's.
pub fn flag_layer(args: &Args) -> Result<Layer, UsageError> {
    Ok(Layer {
        jobs: args.jobs,
        compress: args
            .compress_when()
            .or_else(|| args.compress_level.is_some().then_some(Compress::Always)),
        compress_level: args.compress_level.map(CompressLevel),
        rsh: args.rsh.clone().map(Rsh::try_from).transpose()?,
        remote_path: args.remote_path.clone(),
        exclude: None,
        include: None,
        delete: args.delete.then_some(true),
        // Any choice of comparison on the command line (-c, --size-only, -I) is the flags'.
        checksum: (args.checksum || args.size_only || args.ignore_times).then_some(args.checksum),
        update: args.update.then_some(true),
        hard_links: args.hard_links.then_some(true),
        verify: args.verify.then_some(true),
        sparse: args.sparse.then_some(true),
        gitignore: args.gitignore.then_some(true),
        bwlimit: args.bwlimit.clone(),
        ssh_config: args.ssh_config.clone(),
        port: args.port,
        cipher: args.cipher.clone(),
        deploy: args.no_deploy.then_some(false),
    })
}
