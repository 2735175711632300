//! `cargo xtask bench`: the options, the setup (binaries, sshd, relays) and the results on disk.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::relay::{Link, Relay};
use crate::report::{FORMAT, Machine, Report, Settings, Status, utc_stamp};
use crate::runner::{CacheMode, Plan, Runner, Side, drop_caches};
use crate::s3server::{S3Side, find_moto};
use crate::scenarios::{Scenario, ScenarioId, Target, Tool};
use crate::sshd::Sshd;
use crate::tools::Binaries;
use crate::workloads::WorkloadSet;
use crate::{baseline, goals};

const DEFAULT_SEED: u64 = 0x5359_2026;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Data 64× smaller, one measured run per tool and no warm-up: a smoke test of about a minute.
    #[arg(long)]
    quick: bool,
    /// Measured runs per tool and case, after one warm-up run [default: 5, or 1 with --quick].
    #[arg(long)]
    runs: Option<usize>,
    /// Scenarios to run (W1 … W6, W4z = W4 with -z).
    #[arg(long, value_enum, value_delimiter = ',', ignore_case = true,
          default_values_t = [ScenarioId::W1, ScenarioId::W2, ScenarioId::W3, ScenarioId::W4, ScenarioId::W4z, ScenarioId::W5, ScenarioId::W6])]
    scenarios: Vec<ScenarioId>,
    /// Where the destination is: local, ssh (our sshd via the counting relay), wan (ssh through an
    /// emulated link), s3 (a bucket of moto's S3 server on 127.0.0.1) and s3-pull (from that bucket
    /// to here); the last two not run unless asked for.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Target::Local, Target::Ssh, Target::Wan])]
    targets: Vec<Target>,
    /// Tools to compare; `cp` is the ceiling (`cp -a`, `ssh … cat`, `tar | ssh tar`, `ssh true`).
    /// Also, on request: `sy-never` (sy with `--compress=never`), `rsync-z` (rsync with
    /// `-z --compress-choice=zstd`), and for remote targets `sy-sftp` (sy over SFTP, no agent)
    /// and `sftp` (OpenSSH's `sftp` putting a single-file scenario's file). Each target runs the
    /// tools that belong there: `rclone` (`rclone sync`) and `aws` (`aws s3 sync`) on s3 and
    /// s3-pull only, which run only them and sy.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Tool::Sy, Tool::Rsync, Tool::Cp, Tool::Rclone, Tool::Aws])]
    tools: Vec<Tool>,
    /// Directory for `<timestamp>.json` and `<timestamp>.md` [default: <target dir>/bench].
    #[arg(long)]
    out: Option<PathBuf>,
    /// An earlier JSON result: exit non-zero if a figure of sy relative to rsync regressed.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Percent by which a sy/rsync ratio may grow before it counts as a regression.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
    /// The emulated link of the wan target: RATE[:RTT], e.g. 100mbit:20ms, 1gbit:5ms, unlimited:50ms.
    #[arg(long, default_value = "100mbit:20ms")]
    link: Link,
    /// Seed of the generated workloads.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Use this `sy` binary instead of building it (`cargo build --release -p sy-cli`, which builds `sy-remote` too).
    #[arg(long)]
    sy: Option<PathBuf>,
    /// The `sy-remote` agent to run on the far side [default: beside `sy`].
    #[arg(long)]
    sy_remote: Option<PathBuf>,
    /// Drop the page cache before every run (root only) instead of pre-reading the sources.
    #[arg(long)]
    drop_caches: bool,
}

pub fn run(mut args: BenchArgs) -> Result<ExitCode> {
    let clock = Instant::now();
    canonical(&mut args.scenarios);
    canonical(&mut args.targets);
    canonical(&mut args.tools);
    let epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (stamp, started) = utc_stamp(epoch.as_secs());
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 5 });
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.threshold.is_nan() || args.threshold < 0.0 {
        bail!("--threshold must be a non-negative percentage");
    }
    let root = workspace_root()?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bench_dir = target_dir.join("bench");
    let out_dir = args.out.clone().unwrap_or_else(|| bench_dir.clone());
    let cache = if args.drop_caches {
        drop_caches().context("--drop-caches")?;
        CacheMode::Cold
    } else {
        CacheMode::Warm
    };
    let baseline = args.baseline.as_deref().map(baseline::load).transpose()?;
    if let Some(base) = &baseline {
        // Ratios from 64× smaller data (or other data) say nothing about this run's.
        if (base.settings.quick, base.settings.seed) != (args.quick, args.seed) {
            bail!(
                "the baseline was taken with quick={} seed={}, this run has quick={} seed={}",
                base.settings.quick,
                base.settings.seed,
                args.quick,
                args.seed
            );
        }
    }

    let bins = find_binaries(&args, &root, &target_dir);
    let needs_sshd = args.targets.iter().any(|t| t.over_ssh());
    let sshd = if needs_sshd {
        let wrapper = std::env::current_exe().context("locating this xtask binary")?;
        Some(Sshd::start(&wrapper).map_err(|e| format!("{e:#}")))
    } else {
        None
    };
    let sides = start_sides(&args, sshd.as_ref());
    let s3 = if args.targets.iter().any(|t| t.is_bucket()) {
        find_moto().and_then(|moto| S3Side::new(moto).map_err(|e| format!("{e:#}")))
    } else {
        Err("not requested".to_string())
    };

    // Per process, so a bench started while another runs (CI's smoke test) does not share its trees.
    let scratch = bench_dir.join(format!("scratch-{}", std::process::id()));
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let divisor = if args.quick { 64 } else { 1 };
    let workloads = WorkloadSet::new(&bench_dir.join("data"), args.seed, divisor);
    let timeout = Duration::from_secs(if args.quick { 120 } else { 1800 });
    let sshd_ref = sshd.as_ref().and_then(|s| s.as_ref().ok());
    let plan = Plan {
        tools: args.tools.clone(),
        runs,
        // --quick is a smoke test: halve its time by skipping the warm-up.
        warmup: !args.quick,
        cache,
        timeout,
    };
    let mut runner = Runner::new(workloads, scratch.clone(), &bins, sshd_ref, sides, s3, plan)?;
    let mut machine = machine(&root, &bins, cache);

    let cases: Vec<(Target, ScenarioId)> = args
        .targets
        .iter()
        .flat_map(|t| {
            args.scenarios
                .iter()
                .filter(|s| t.runs(**s))
                .map(|s| (*t, *s))
        })
        .collect();
    for (index, (target, scenario)) in cases.iter().enumerate() {
        runner.run_case(&Scenario::get(*scenario), *target, (index + 1, cases.len()))?;
    }
    crate::digest::remove_tree(&scratch)?;
    machine.load_avg_at_end = load_average();

    let report = Report {
        format: FORMAT,
        started,
        duration_s: clock.elapsed().as_secs_f64(),
        machine,
        settings: Settings {
            quick: args.quick,
            runs,
            warmup: !args.quick,
            seed: args.seed,
            link: args.link.to_string(),
            scenarios: args.scenarios.clone(),
            targets: args.targets.clone(),
            tools: args.tools.clone(),
        },
        records: std::mem::take(&mut runner.records),
        summaries: std::mem::take(&mut runner.summaries),
    };
    let mut markdown = report.markdown();
    if args.tools.iter().any(|t| t.is_sy()) {
        markdown.push('\n');
        markdown.push_str(&goals::render(&report));
    }
    let regressions = baseline.as_ref().map(|base| {
        let comparisons = baseline::compare(base, &report, args.threshold);
        markdown.push('\n');
        markdown.push_str(&baseline::render(&comparisons, args.threshold));
        comparisons.iter().filter(|c| c.regressed).count()
    });
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let json_path = out_dir.join(format!("{stamp}.json"));
    let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
    fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let md_path = out_dir.join(format!("{stamp}.md"));
    fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    println!("{markdown}");
    eprintln!(
        "bench: {} runs in {:.0} s; results in {} and {}",
        report.records.len(),
        report.duration_s,
        json_path.display(),
        md_path.display()
    );

    let failed: Vec<String> = report
        .summaries
        .iter()
        .filter(|s| s.status == Status::Failed)
        .map(|s| format!("{} {:?} {}", s.target.name(), s.scenario, s.tool.name()))
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "bench: FAILED runs (wrong result, error or timeout) in: {}",
            failed.join(", ")
        );
    }
    if let Some(n) = regressions.filter(|n| *n > 0) {
        eprintln!(
            "bench: {n} figure(s) regressed by more than {}% against the baseline",
            args.threshold
        );
    }
    Ok(if failed.is_empty() && regressions.unwrap_or(0) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Per remote target, its relay in front of sshd, or why there is none (shown as unsupported).
fn start_sides(
    args: &BenchArgs,
    sshd: Option<&Result<Sshd, String>>,
) -> HashMap<Target, Result<Side, String>> {
    let remote_targets = args.targets.iter().copied().filter(|t| t.over_ssh());
    remote_targets
        .map(|target| {
            let link = (target == Target::Wan).then_some(args.link);
            let side = match sshd {
                Some(Ok(sshd)) => start_side(sshd, link).map_err(|e| format!("{e:#}")),
                Some(Err(reason)) => Err(reason.clone()),
                None => Err("sshd not started".to_string()),
            };
            (target, side)
        })
        .collect()
}

/// Puts a list of options into its canonical order (the table's), dropping repeats.
fn canonical<T: Ord>(list: &mut Vec<T>) {
    list.sort();
    list.dedup();
}

/// A relay (with `link`, if any) in front of sshd, and how clients reach it.
fn start_side(sshd: &Sshd, link: Option<Link>) -> Result<Side> {
    let relay = Relay::start(sshd.addr(), link)?;
    let remote = sshd.client_for(relay.port())?;
    Ok(Side { relay, remote })
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's manifest directory has no parent")
}

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_binaries(args: &BenchArgs, root: &Path, target_dir: &Path) -> Binaries {
    let rsync =
        which("rsync").ok_or_else(|| "rsync not on PATH (apt-get install rsync)".to_string());
    let zstd = which("zstd").is_some();
    let rclone =
        which("rclone").ok_or_else(|| "rclone not on PATH (apt-get install rclone)".to_string());
    let aws = which("aws").ok_or_else(|| "aws not on PATH (pip install awscli)".to_string());
    let sy = match (&args.sy, args.tools.iter().any(|t| t.is_sy())) {
        // Absolute: the agent beside it runs on the far side, from another directory.
        (Some(path), _) if path.is_file() => {
            std::path::absolute(path).map_err(|e| format!("--sy {}: {e}", path.display()))
        }
        (Some(path), _) => Err(format!("--sy {} does not exist", path.display())),
        (None, false) => Err("not requested".to_string()),
        (None, true) => build_sy(root).map(|()| target_dir.join("release/sy")),
    };
    let sy_remote = match (&args.sy_remote, &sy) {
        (Some(path), _) if path.is_file() => {
            std::path::absolute(path).map_err(|e| format!("--sy-remote {}: {e}", path.display()))
        }
        (Some(path), _) => Err(format!("--sy-remote {} does not exist", path.display())),
        (None, Ok(sy)) => Ok(sy.with_file_name("sy-remote")).and_then(|p: PathBuf| {
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!("no sy-remote beside {}", sy.display()))
            }
        }),
        (None, Err(reason)) => Err(reason.clone()),
    };
    Binaries {
        sy,
        sy_remote,
        rsync,
        rclone,
        aws,
        zstd,
    }
}

fn build_sy(root: &Path) -> Result<(), String> {
    eprintln!("bench: cargo build --release -p sy-cli");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "sy-cli"])
        .current_dir(root)
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("cargo build of sy failed ({s})")),
        Err(e) => Err(format!("running cargo: {e}")),
    }
}

/// The 1, 5 and 15 minute load averages: how quiet the machine was.
fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first line `program args` prints (stdout, else stderr), or why it could not run.
fn first_line(program: &Path, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        }
        Err(e) => format!("unavailable: {e}"),
    }
}

fn machine(root: &Path, bins: &Binaries, cache: CacheMode) -> Machine {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_default();
    let mem_total_kib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let mut versions = vec![("ssh".to_string(), first_line(Path::new("ssh"), &["-V"]))];
    if let Ok(rsync) = &bins.rsync {
        versions.push(("rsync".into(), first_line(rsync, &["--version"])));
    }
    if let Ok(rclone) = &bins.rclone {
        versions.push(("rclone".into(), first_line(rclone, &["version"])));
    }
    if let Ok(aws) = &bins.aws {
        versions.push(("aws".into(), first_line(aws, &["--version"])));
    }
    if let Ok(sy) = &bins.sy {
        versions.push(("sy".into(), first_line(sy, &["--version"])));
    }
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output();
    Machine {
        cpu_model,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_total_kib,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        load_avg_at_start: load_average(),
        load_avg_at_end: String::new(),
        git_commit: git
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        cache: match cache {
            CacheMode::Warm => "warm (sources pre-read before each run)".into(),
            CacheMode::Cold => "cold (dropped before each run)".into(),
        },
        versions,
    }
}
