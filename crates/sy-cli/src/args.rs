//! The command line as typed (clap), before validation into a [`crate::Config`].

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgMatches, FromArgMatches, Parser, Subcommand};

use crate::config_file::{Compress, Rate};

/// A file synchronizer: makes DST a copy of SRC — files, directories, symlinks, permissions,
/// times — sending as little as possible and never leaving a file half-written.
#[derive(Debug, Parser)]
#[command(name = "sy", version, max_term_width = 100)]
#[command(
    override_usage = "sy [OPTIONS] SRC... DST\n       sy config show [HOST]\n       \
    sy completions SHELL"
)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true,
    disable_help_flag = true
)]
#[command(
    after_help = "A trailing slash on SRC copies its contents; without it, SRC itself \
    is created inside DST (as rsync does). A source named like a subcommand is written \
    ./config.\n\nSettings are read from $XDG_CONFIG_HOME/sy/config.toml (or \
    ~/.config/sy/config.toml): [defaults], [profile.NAME] and [host.\"PATTERN\"] tables; \
    flags win over the profile, the profile over host tables, host tables over [defaults]."
)]
pub struct Args {
    /// Sources, then the destination (created if missing).
    #[arg(value_name = "PATH", num_args = 2.., required = true)]
    pub paths: Vec<OsString>,

    /// Something other than a sync.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read settings from FILE instead of ~/.config/sy/config.toml.
    #[arg(long = "config", value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
    /// Use the settings of [profile.NAME] in the config file.
    #[arg(long, value_name = "NAME", global = true)]
    pub profile: Option<String>,

    /// Print this help (`-h` alone too, as in rsync).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Archive mode: also keep owner and group (when run as root) and hard links.
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Recurse into directories: always on (accepted for rsync's -r).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Copy symbolic links as links: always on (accepted for rsync's -l).
    #[arg(short = 'l', long)]
    pub links: bool,
    /// Keep permissions: on unless --no-perms (accepted for rsync's -p).
    #[arg(short = 'p', long, overrides_with = "no_perms")]
    pub perms: bool,
    /// Existing files keep their permissions; new ones get the source's, masked by the umask.
    #[arg(long = "no-perms", alias = "no-p", overrides_with = "perms")]
    pub no_perms: bool,
    /// Change the permissions the copies get, in rsync's syntax: comma-separated, D or F
    /// for directories or files only, then an octal mode or [ugoa]+-=[rwxXst] (D755,F644;
    /// u+x,g-w; a+X). Repeatable; applied to the source's permissions, as rsync does.
    #[arg(long, value_name = "CHMOD")]
    pub chmod: Vec<String>,
    /// Keep modification times: on unless --no-times (accepted for rsync's -t).
    #[arg(short = 't', long, overrides_with = "no_times")]
    pub times: bool,
    /// Copies get the time they are written, as rsync without -t (each run then rewrites
    /// every file, by delta where it can: same size and time no longer says unchanged).
    #[arg(long = "no-times", alias = "no-t", overrides_with = "times")]
    pub no_times: bool,
    /// Keep the group (when run as root, as -a does).
    #[arg(short = 'g', long, overrides_with = "no_group")]
    pub group: bool,
    /// Do not keep the group (nor the owner: sy keeps them together).
    #[arg(long = "no-group", alias = "no-g", overrides_with = "group")]
    pub no_group: bool,
    /// Keep the owner (when run as root, as -a does).
    #[arg(short = 'o', long, overrides_with = "no_owner")]
    pub owner: bool,
    /// Do not keep the owner (nor the group: sy keeps them together).
    #[arg(long = "no-owner", alias = "no-o", overrides_with = "owner")]
    pub no_owner: bool,
    /// rsync's --devices --specials: sy skips device files, FIFOs and sockets with a warning.
    #[arg(short = 'D')]
    pub devices_specials: bool,
    /// Print sizes in --stats in human units (KiB, MiB, …).
    #[arg(short = 'h', long, action = ArgAction::Count)]
    pub human_readable: u8,
    /// Leave non-ASCII file names alone in output: always so (accepted for rsync's -8).
    #[arg(short = '8', long = "8-bit-output")]
    pub eight_bit_output: bool,
    /// Keep hard links between files in the source as hard links.
    #[arg(short = 'H', long)]
    pub hard_links: bool,
    /// Copy what symbolic links point to instead of the links.
    #[arg(short = 'L', long = "copy-links")]
    pub copy_links: bool,
    /// Compare file contents (BLAKE3) instead of size and modification time.
    #[arg(short = 'c', long, conflicts_with = "size_only")]
    pub checksum: bool,
    /// Treat files of equal size as unchanged, whatever their times (their contents are left
    /// alone; their times are set to the source's, as rsync does).
    #[arg(long)]
    pub size_only: bool,
    /// Skip files that are newer in DST.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Skip files that already exist in DST.
    #[arg(long)]
    pub ignore_existing: bool,
    /// Create nothing new in DST: only update files that exist there.
    #[arg(long)]
    pub existing: bool,
    /// Write every file again, whatever its size and time (no quick check).
    #[arg(short = 'I', long, conflicts_with_all = ["checksum", "size_only"])]
    pub ignore_times: bool,
    /// Leave alone files larger than SIZE (rsync's units: 500K, 10M, 1G are powers of 1024,
    /// 10KB, 10MB powers of 1000; a bare number is bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Count modification times at most SECS apart as equal (2 for FAT) [default: 0, exact].
    #[arg(long, value_name = "SECS")]
    pub modify_window: Option<u64>,
    /// Leave alone files smaller than SIZE (units as --max-size).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Delete files in DST that are not in SRC (after the transfer succeeded; never outside DST).
    /// rsync's --del, --delete-after and --delete-delay mean the same here.
    #[arg(long, visible_aliases = ["del", "delete-after", "delete-delay"])]
    pub delete: bool,
    /// Delete at most N entries; the rest are left, said in a warning, and the exit is 25
    /// (0: delete nothing, warn about every extraneous entry).
    #[arg(long, value_name = "N")]
    pub max_delete: Option<u64>,
    /// Keep partially written files for the next run to resume: always so (accepted for
    /// rsync's --partial).
    #[arg(long)]
    pub partial: bool,
    /// Create DST's missing parent directories: always so (accepted for rsync's --mkpath).
    #[arg(long)]
    pub mkpath: bool,
    /// Keep each SRC's path at DST as typed, without a leading / (`-R src/a/b dst` writes
    /// dst/src/a/b; `/x/./a/b` writes dst/a/b: /./ marks where the kept part starts), creating
    /// the directories above it with the source's attributes.
    #[arg(short = 'R', long)]
    pub relative: bool,
    /// Show what would be done, change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Skip files matching PATTERN (rsync-style: `/` anchors, trailing `/` = directories, `**`).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Do not skip files matching PATTERN (rules apply in order; the first match wins).
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Read exclude patterns from FILE (`+ PAT` includes, `- PAT` excludes, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Read include patterns from FILE (`+ PAT` includes, `- PAT` excludes, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub include_from: Vec<PathBuf>,
    /// Add a filter RULE in rsync's syntax: `+ PAT`, `- PAT` (`-! PAT`: what does not match),
    /// `P PAT` (protect from deletion), `R PAT`, `!` (clear), `. FILE` (merge FILE's rules),
    /// `: NAME` (each directory's file NAME adds rules for it and beneath).
    #[arg(
        short = 'f',
        long = "filter",
        value_name = "RULE",
        allow_hyphen_values = true
    )]
    pub filter: Vec<String>,
    /// rsync's -F: read rules from each directory's .rsync-filter (`-f ': /.rsync-filter'`);
    /// twice (-FF), also leave the .rsync-filter files out (`-f '- .rsync-filter'`).
    #[arg(
        short = 'F',
        action = ArgAction::Append,
        num_args = 0,
        default_missing_value = "true",
        value_parser = clap::value_parser!(bool)
    )]
    pub rsync_filter: Vec<bool>,
    /// Also delete from DST what the rules exclude (implies --delete); `P` rules protect.
    #[arg(long)]
    pub delete_excluded: bool,
    /// Transfer only the paths listed in FILE (`-`: standard input), one a line, relative to
    /// SRC (always its contents, as if with a trailing /), keeping their parent directories;
    /// a listed directory's contents only with -r (-a does not imply it here).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// --files-from's names end with a NUL character, not a newline (and `#` is no comment).
    #[arg(short = '0', long)]
    pub from0: bool,
    /// Honour .gitignore files in SRC.
    #[arg(long)]
    pub gitignore: bool,
    /// Turn runs of zeros into holes in DST (holes in SRC are always kept).
    #[arg(short = 'S', long)]
    pub sparse: bool,
    /// Always copy whole files (the default when both sides are local).
    #[arg(short = 'W', long, conflicts_with = "no_whole_file")]
    pub whole_file: bool,
    /// Update changed files by delta even when both sides are local.
    #[arg(long)]
    pub no_whole_file: bool,
    /// Files transferred in parallel [default: number of cores, at least 2; to a remote side,
    /// at least 6 batches of small files].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// List each change as rsync's itemized code and name (`>f.st...... a.txt`,
    /// `cd+++++++++ dir/`, `*deleting   old`), instead of -v's words.
    #[arg(short = 'i', long, action = ArgAction::Count)]
    pub itemize_changes: u8,
    /// List each change; -vv adds the log at info level on stderr (-vvv debug, -vvvv trace;
    /// RUST_LOG overrides).
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing but errors.
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print a summary at the end.
    #[arg(long)]
    pub stats: bool,
    /// Show progress on stderr: the phase, a bar by bytes to move with rate and ETA, bars for
    /// large files, a closing line. `-P` draws only on a terminal; `--progress=always` anyway.
    #[arg(
        short = 'P',
        long,
        value_name = "WHEN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "auto"
    )]
    pub progress: Option<crate::progress::When>,
    /// rsync's --info: `progress2` shows the overall progress bar (as -P does).
    #[arg(long, value_name = "FLAGS", value_parser = parse_info)]
    pub info: Option<Info>,
    /// Print one JSON object per event on stdout (see docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Start the agent through this remote shell instead of sy's built-in SSH client, split
    /// like a shell command (`-e ssh` for OpenSSH with your ControlMaster; `-e "ssh -p 2222"`).
    #[arg(short = 'e', long = "rsh", value_name = "CMD")]
    pub rsh: Option<String>,
    /// The agent's command on the remote host [default: sy-remote].
    #[arg(long, value_name = "PATH", visible_alias = "rsync-path")]
    pub remote_path: Option<String>,
    /// Read SSH host settings (HostName, Port, User, IdentityFile, ProxyJump, …) from FILE
    /// instead of ~/.ssh/config. Built-in SSH client (no -e) only, as are the flags below.
    #[arg(long = "ssh-config", value_name = "FILE", conflicts_with = "rsh")]
    pub ssh_config: Option<PathBuf>,
    /// Connect to PORT on the remote host.
    #[arg(long, value_name = "PORT", conflicts_with = "rsh")]
    pub port: Option<u16>,
    /// Offer the private key in FILE (repeatable; tried after ssh-agent's keys, before the
    /// config's IdentityFile).
    #[arg(long = "identity", value_name = "FILE", conflicts_with = "rsh")]
    pub identity: Vec<PathBuf>,
    /// Trust a host whose key is not yet in known_hosts, and record its key there (a changed
    /// key is still refused).
    #[arg(long, conflicts_with = "rsh")]
    pub accept_new_host_key: bool,
    /// Encrypt with this SSH cipher (aes128-gcm@openssh.com, aes256-gcm@openssh.com,
    /// chacha20-poly1305@openssh.com, …) [default: AES-GCM where the CPU has AES instructions,
    /// else chacha20-poly1305].
    #[arg(long, value_name = "NAME", conflicts_with = "rsh")]
    pub cipher: Option<String>,
    /// Never copy sy-remote to a host that lacks it (to ~/.cache/sy there); sync over SFTP
    /// instead, whole files only.
    #[arg(long, conflicts_with = "rsh")]
    pub no_deploy: bool,
    /// Compress what goes over the wire to or from a remote host (zstd; already-compressed
    /// data is sent as is): auto compresses only while the link is what limits the transfer,
    /// at a level the CPU keeps up with; always compresses at --compress-level whatever the
    /// link [default: auto; --compress alone: always].
    #[arg(
        long,
        value_name = "WHEN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    pub compress: Option<Compress>,
    /// Same as --compress=always.
    #[arg(short = 'z', conflicts_with = "compress")]
    pub z: bool,
    /// Limit the transfer to RATE bytes per second: 500K, 10M, 1G (binary units; a bare
    /// number is KiB; 0 is no limit). On the wire for a remote host; bytes written for a local
    /// copy.
    #[arg(long, value_name = "RATE", value_parser = parse_bwlimit)]
    pub bwlimit: Option<Rate>,
    /// Append an audit log to FILE, as rsync's --log-file: a line per change (time, process
    /// id, itemized code and name), every error and warning, and the totals with the exit
    /// status.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// What a change's line in --log-file says after the time and process id, with rsync's
    /// escapes: %i (change code), %n (name), %L (link), %l (length), %b (bytes sent), %o
    /// (operation), %p, %t, %% [default: "%i %n%L"].
    #[arg(long, value_name = "FORMAT", requires = "log_file")]
    pub log_file_format: Option<String>,
    /// zstd level for --compress=always, 1 to 19 [default: 3]; implies it unless --compress
    /// says otherwise.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i8).range(1..=19))]
    pub compress_level: Option<i8>,
    /// When the connection to a remote host breaks (reset, --timeout, the agent died),
    /// reconnect and carry on up to N times: finished files are not sent again, the file in
    /// flight resumes from its partial.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Seconds before the first reconnect (fractions allowed, at most a day); each further one
    /// waits twice as long, at most 60 s.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_retry_delay)]
    pub retry_delay: Duration,
    /// Give up on a remote host after SECS (3 to 604800, a week) without a byte from it
    /// [default, or 0: wait forever]. The agent speaks at least every second while busy.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<u64>,
    /// After each file is in place, read it back at the destination and compare its BLAKE3
    /// digest with the source's; a mismatch is copied again once, then reported.
    #[arg(long)]
    pub verify: bool,
}

/// A size as rsync reads `--max-size`: a number (fractions allowed) and a unit — none or `B`
/// for bytes, `K`/`KiB` for 1024, `KB` for 1000, likewise `M`, `G`, `T`, `P`.
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size (such as 100, 500K, 10M, 1.5G or 10MB)");
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_uppercase();
    let (letter, rest) = unit.split_at(unit.len().min(1));
    let power = match letter {
        "" | "B" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        _ => return Err(bad()),
    };
    let base: f64 = match rest {
        "" | "IB" => 1024.0,
        "B" if power > 0 => 1000.0,
        _ => return Err(bad()),
    };
    let bytes = number * base.powi(power);
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Ok(bytes as u64)
    } else {
        Err(bad())
    }
}

fn parse_bwlimit(text: &str) -> Result<Rate, crate::config::UsageError> {
    Rate::try_from(text.to_owned())
}

/// `--timeout SECS`: 3 s to a week, or 0 for none (as in rsync); `Some(0)` is no timeout.
fn parse_timeout(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(secs) if secs == 0 || (3..=MAX_TIMEOUT).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "{text:?} is not 0 (no timeout) or a number of seconds from 3 to {MAX_TIMEOUT}"
        )),
    }
}

/// What rsync's `--info=FLAGS` asks for, as far as sy has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    /// `progress2`: the overall progress bar.
    Progress,
    /// Anything else rsync knows (`stats2`, `name0`, …): sy's output stays as it is.
    Other,
}

fn parse_info(text: &str) -> Result<Info, String> {
    let flags: Vec<&str> = text.split(',').map(str::trim).collect();
    if flags.iter().any(|f| f.is_empty()) {
        return Err(format!("{text:?}: empty --info flag"));
    }
    Ok(if flags.iter().any(|f| f.starts_with("progress")) {
        Info::Progress
    } else {
        Info::Other
    })
}

/// The longest `--timeout`: a week.
const MAX_TIMEOUT: u64 = 7 * 24 * 3600;
/// The longest `--retry-delay`: a day.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 3600);

fn parse_retry_delay(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|delay| *delay <= MAX_RETRY_DELAY)
        .ok_or_else(|| format!("{text:?} is not a number of seconds from 0 to 86400"))
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the configuration.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a completion script for SHELL on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `sy config …`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the settings in effect (with --profile, for HOST) and where each came from.
    Show {
        /// A remote host, to apply its [host."PATTERN"] tables.
        host: Option<String>,
    },
}

/// A filter rule as typed, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterArg {
    /// `--exclude PATTERN`
    Exclude(String),
    /// `--include PATTERN`
    Include(String),
    /// `--exclude-from FILE`
    ExcludeFrom(PathBuf),
    /// `--include-from FILE`
    IncludeFrom(PathBuf),
    /// `--filter RULE`, and `-F`'s rules
    Rule(String),
}

impl Args {
    /// When to compress, as the flags say (`-z` is `--compress=always`); `None` when they do
    /// not say.
    pub fn compress_when(&self) -> Option<Compress> {
        if self.z {
            Some(Compress::Always)
        } else {
            self.compress
        }
    }
}

/// Parsed arguments plus the filter rules in the order they were given.
#[derive(Debug)]
pub struct Parsed {
    /// The flags.
    pub args: Args,
    /// `--exclude`, `--include`, `--exclude-from`, `--include-from`, `--filter`, `-F`
    /// interleaved as typed.
    pub filters: Vec<FilterArg>,
}

/// Parses `argv` (including the program name). `-h` alone asks for help, as in rsync;
/// anywhere else it is `--human-readable`.
pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Parsed, clap::Error> {
    let mut argv: Vec<OsString> = argv.into_iter().collect();
    if argv.len() == 2 && argv[1] == "-h" {
        argv[1] = OsString::from("--help");
    }
    let moved = crate::subcommand::to_front(&mut argv);
    let matches = match crate::help::command().try_get_matches_from(&argv) {
        Ok(matches) => matches,
        Err(e) if moved => return Err(crate::subcommand::with_tip(&e, &argv[1])),
        Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
            return Err(rsync_only(&argv).map_or(e, |message| {
                clap::Error::raw(clap::error::ErrorKind::UnknownArgument, message)
            }));
        }
        Err(e) => return Err(e),
    };
    let args = Args::from_arg_matches(&matches)?;
    let filters = ordered_filters(&matches, &args);
    Ok(Parsed { args, filters })
}

/// rsync options sy does not have, with what to do instead: an rsync user's flag gets an answer
/// of its own, never a suggestion of a similar flag (clap offers `--exclude-from` for
/// `--include-from`, the opposite).
const RSYNC_ONLY: &[(&str, &str)] = &[
    (
        "daemon",
        "not supported by sy: there is no daemon mode; use host:path over SSH",
    ),
    ("server", "is rsync's own remote side; sy's is sy-remote"),
    ("sender", "is rsync's own remote side; sy's is sy-remote"),
    (
        "no-implied-dirs",
        "not supported: with --relative, sy always creates the directories above the path",
    ),
    ("backup", "not supported yet"),
    ("backup-dir", "not supported yet"),
    ("suffix", "not supported yet"),
    ("link-dest", "not supported yet"),
    ("compare-dest", "not supported yet"),
    ("copy-dest", "not supported yet"),
    ("one-file-system", "not supported yet"),
    ("xattrs", "not supported yet"),
    ("acls", "not supported yet"),
    ("numeric-ids", "not supported yet"),
    (
        "inplace",
        "not supported: sy always writes a temporary and renames it into place",
    ),
    (
        "append",
        "not supported: sy resumes interrupted files from their partials by itself",
    ),
    ("remove-source-files", "not supported yet"),
    ("cvs-exclude", "not supported; use --exclude or --gitignore"),
    (
        "protect-args",
        "not needed: sy quotes every remote argument",
    ),
    (
        "secluded-args",
        "not needed: sy quotes every remote argument",
    ),
    (
        "compress-choice",
        "not needed: sy compresses with zstd (-z, --compress-level)",
    ),
    (
        "checksum-choice",
        "not needed: sy's digests are BLAKE3 and XXH3",
    ),
    ("fuzzy", "not supported"),
    (
        "password-file",
        "not supported: there is no rsync daemon to log in to",
    ),
];

/// rsync's one-letter spellings of options in [`RSYNC_ONLY`].
const RSYNC_ONLY_SHORT: &[(char, &str)] = &[
    ('b', "backup"),
    ('x', "one-file-system"),
    ('X', "xattrs"),
    ('A', "acls"),
    ('C', "cvs-exclude"),
    ('s', "protect-args"),
    ('y', "fuzzy"),
];

/// sy's one-letter options that take a value: the rest of a cluster after one is that value.
const SHORT_WITH_VALUE: &[char] = &['j', 'e', 'f'];

/// The message for the first rsync option in `argv` that sy does not have, if there is one.
fn rsync_only(argv: &[OsString]) -> Option<String> {
    let said = |long: &str, typed: &str| {
        RSYNC_ONLY
            .iter()
            .find(|(name, _)| *name == long)
            .map(|(_, what)| format!("{typed}: {what}"))
    };
    for arg in argv.iter().skip(1) {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(name, _)| name);
            if let Some(message) = said(name, &format!("--{name}")) {
                return Some(message);
            }
        } else if let Some(cluster) = arg.strip_prefix('-') {
            for letter in cluster.chars() {
                if SHORT_WITH_VALUE.contains(&letter) {
                    break;
                }
                let long = RSYNC_ONLY_SHORT.iter().find(|(short, _)| *short == letter);
                if let Some(message) = long.and_then(|(_, long)| said(long, &format!("-{letter}")))
                {
                    return Some(message);
                }
            }
        }
    }
    None
}

fn ordered_filters(matches: &ArgMatches, args: &Args) -> Vec<FilterArg> {
    let mut indexed: Vec<(usize, FilterArg)> = Vec::new();
    let positions = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    for (i, p) in positions("exclude").into_iter().zip(&args.exclude) {
        indexed.push((i, FilterArg::Exclude(p.clone())));
    }
    for (i, p) in positions("include").into_iter().zip(&args.include) {
        indexed.push((i, FilterArg::Include(p.clone())));
    }
    for (i, p) in positions("exclude_from")
        .into_iter()
        .zip(&args.exclude_from)
    {
        indexed.push((i, FilterArg::ExcludeFrom(p.clone())));
    }
    for (i, p) in positions("include_from")
        .into_iter()
        .zip(&args.include_from)
    {
        indexed.push((i, FilterArg::IncludeFrom(p.clone())));
    }
    for (i, rule) in positions("filter").into_iter().zip(&args.filter) {
        indexed.push((i, FilterArg::Rule(rule.clone())));
    }
    let rsync_filter = [": /.rsync-filter", "- .rsync-filter"];
    for (i, rule) in positions("rsync_filter").into_iter().zip(rsync_filter) {
        indexed.push((i, FilterArg::Rule(rule.to_owned())));
    }
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, f)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Parsed {
        parse(args.iter().map(OsString::from)).unwrap()
    }

    #[test]
    fn rsyncs_daily_letters_parse() {
        let a = parse_str(&["sy", "-avh", "s/", "d"]).args;
        assert!(a.archive && a.verbose == 1 && a.human_readable == 1);
        let a = parse_str(&["sy", "-rlptgoD", "s/", "d"]).args;
        assert!(a.recursive && a.links && a.perms && a.times && a.group && a.owner);
        assert!(a.devices_specials);
        let a = parse_str(&["sy", "-rltv8", "--partial", "--mkpath", "--del", "s/", "d"]).args;
        assert!(a.delete && a.partial && a.mkpath && a.eight_bit_output);
        for spelling in ["--delete-after", "--delete-delay"] {
            assert!(
                parse_str(&["sy", spelling, "s/", "d"]).args.delete,
                "{spelling}"
            );
        }
        let a = parse_str(&[
            "sy",
            "--info=progress2",
            "--rsync-path=/opt/sy-remote",
            "s",
            "d",
        ])
        .args;
        assert_eq!(a.info, Some(Info::Progress));
        assert_eq!(a.remote_path.as_deref(), Some("/opt/sy-remote"));
        let a = parse_str(&["sy", "--bwlimit=0", "--timeout=0", "s", "d"]).args;
        assert_eq!(a.bwlimit.map(|r| r.bytes_per_sec), Some(0));
        assert_eq!(a.timeout, Some(0));
        assert!(parse(["sy", "--timeout=2", "s", "d"].map(OsString::from)).is_err());
    }

    #[test]
    fn compress_spellings() {
        let when = |argv: &[&str]| parse_str(argv).args;
        let a = when(&["sy", "s", "d"]);
        assert_eq!((a.compress, a.z), (None, false));
        let a = when(&["sy", "-avz", "s/", "d"]);
        assert!(a.z && a.archive && a.verbose == 1);
        assert_eq!(a.compress_when(), Some(Compress::Always));
        let a = when(&["sy", "--compress", "s/", "d"]);
        assert_eq!(a.compress, Some(Compress::Always));
        let a = when(&["sy", "--compress=never", "s/", "d"]);
        assert_eq!(a.compress, Some(Compress::Never));
        let a = when(&["sy", "--compress=auto", "s/", "d"]);
        assert_eq!(a.compress, Some(Compress::Auto));
        assert!(parse(["sy", "--compress=sometimes", "s", "d"].map(OsString::from)).is_err());
        assert!(parse(["sy", "-z", "--compress=never", "s", "d"].map(OsString::from)).is_err());
    }

    #[test]
    fn rsync_options_sy_lacks_get_an_answer_not_a_look_alike() {
        let message = |args: &[&str]| {
            let err = parse(args.iter().map(OsString::from)).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
            err.to_string()
        };
        let link_dest = message(&["sy", "--link-dest", "old", "s/", "d"]);
        assert!(
            link_dest.contains("--link-dest: not supported yet"),
            "{link_dest}"
        );
        assert!(!link_dest.contains("similar"), "{link_dest}");
        assert!(message(&["sy", "--daemon"]).contains("no daemon mode"));
        assert!(message(&["sy", "-avx", "s/", "d"]).contains("-x: not supported yet"));
        assert!(message(&["sy", "-R", "--no-implied-dirs", "s/", "d"]).contains("--relative"));
        // A value is not a cluster of letters, and a flag sy does not know at all keeps clap's
        // message.
        assert!(parse(["sy", "-j", "4", "-e", "ssh -x", "s/", "h:d"].map(OsString::from)).is_ok());
        assert!(message(&["sy", "--no-such-flag", "s/", "d"]).contains("--no-such-flag"));
    }

    #[test]
    fn h_alone_is_help_and_i_is_not_an_identity() {
        let err = parse(["sy", "-h"].map(OsString::from)).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let err = parse(["sy", "--help"].map(OsString::from)).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        // `-aiv` must never take `v` as a key file.
        let a = parse_str(&["sy", "-aiv", "s/", "d"]).args;
        assert!(a.archive && a.itemize_changes == 1 && a.verbose == 1 && a.identity.is_empty());
        let a = parse_str(&["sy", "--identity", "k", "s", "h:d"]).args;
        assert_eq!(a.identity, [PathBuf::from("k")]);
    }

    #[test]
    fn filters_keep_command_line_order() {
        let p = parse_str(&[
            "sy",
            "--include",
            "a",
            "--exclude",
            "b",
            "--exclude-from",
            "f",
            "--include",
            "c",
            "src/",
            "dst",
        ]);
        assert_eq!(
            p.filters,
            vec![
                FilterArg::Include("a".into()),
                FilterArg::Exclude("b".into()),
                FilterArg::ExcludeFrom("f".into()),
                FilterArg::Include("c".into()),
            ]
        );
    }

    #[test]
    fn filter_rules_and_dash_f_interleave_with_the_others() {
        let p = parse_str(&[
            "sy",
            "--include",
            "a",
            "-f",
            "- *.log",
            "-FF",
            "--exclude",
            "b",
            "-f+ c",
            "src/",
            "dst",
        ]);
        let rule = |r: &str| FilterArg::Rule(r.to_owned());
        assert_eq!(
            p.filters,
            vec![
                FilterArg::Include("a".into()),
                rule("- *.log"),
                rule(": /.rsync-filter"),
                rule("- .rsync-filter"),
                FilterArg::Exclude("b".into()),
                rule("+ c"),
            ]
        );
        let p = parse_str(&["sy", "-F", "-f", ": .x", "-F", "src/", "dst"]);
        assert_eq!(
            p.filters,
            vec![
                rule(": /.rsync-filter"),
                rule(": .x"),
                rule("- .rsync-filter")
            ]
        );
    }

    #[test]
    fn sizes_read_as_rsync_reads_them() {
        for (text, bytes) in [
            ("100", 100),
            ("100b", 100),
            ("1K", 1024),
            ("1k", 1024),
            ("1KiB", 1024),
            ("1KB", 1000),
            ("1.5M", 1_572_864),
            ("2MB", 2_000_000),
            ("1G", 1 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "K", "1X", "1KBB", "-1", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn needs_a_source_and_a_destination() {
        assert!(parse(["sy", "only"].map(OsString::from)).is_err());
        assert!(parse(["sy", "-c", "--size-only", "a", "b"].map(OsString::from)).is_err());
    }

    #[test]
    fn timeouts_and_retry_delays_stay_within_the_clock() {
        let parsed = |args: &[&str]| {
            let argv = ["sy"].iter().chain(args).chain(&["a", "b"]);
            parse(argv.map(|a| OsString::from(*a)))
        };
        assert_eq!(
            parse_str(&["sy", "--timeout", "604800", "a", "b"])
                .args
                .timeout,
            Some(604_800)
        );
        assert_eq!(
            parse_str(&["sy", "--retry-delay", "86400", "a", "b"])
                .args
                .retry_delay,
            Duration::from_secs(86_400)
        );
        for bad in [
            ["--timeout", "2"],
            ["--timeout", "604801"],
            ["--timeout", "18446744073709551615"],
            ["--retry-delay", "86400.5"],
            ["--retry-delay", "1e19"],
            ["--retry-delay", "-1"],
        ] {
            assert!(parsed(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        crate::help::command().debug_assert();
    }
}
