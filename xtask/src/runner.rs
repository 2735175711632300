//! Running the cases: probe each tool, one warm-up run (not with --quick), then measured rounds
//! with the tools alternating (A B C, B C A, C A B …), each run from the same starting state.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::digest::{copy_tree, file_digests, file_sizes, pre_read, remove_tree, tree_digest};
use crate::relay::{Relay, Wire};
use crate::report::{Record, Summary};
use crate::rusage::{Finished, MEASURE, run_measured, take_stats};
use crate::s3server::{MotoServer, Requests, S3Side};
use crate::scenarios::{Basis, Scenario, Target, Tool};
use crate::sshd::Sshd;
use crate::tools::{Binaries, Bucket, Invocation, Remote, bucket_invocation, invocation};
use crate::workloads::{Ready, WorkloadSet};

/// How each run finds the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Sources (and the destination's basis) read just before the run: the same warm state for all.
    Warm,
    /// `echo 3 > /proc/sys/vm/drop_caches` before every run (needs root).
    Cold,
}

/// The far side of the `ssh` and `wan` targets: a relay in front of the shared sshd.
pub struct Side {
    pub relay: Relay,
    pub remote: Remote,
}

/// How many runs of which tools, and in what conditions.
pub struct Plan {
    pub tools: Vec<Tool>,
    /// Measured runs per tool and case.
    pub runs: usize,
    /// One unrecorded-in-medians run per tool before the measured ones.
    pub warmup: bool,
    pub cache: CacheMode,
    pub timeout: Duration,
}

pub struct Runner<'a> {
    workloads: WorkloadSet,
    scratch: PathBuf,
    bins: &'a Binaries,
    sshd: Option<&'a Sshd>,
    /// Per remote target, its side or why it could not be set up.
    sides: HashMap<Target, Result<Side, String>>,
    /// How to start the s3 target's server, or why it cannot be.
    s3: Result<S3Side, String>,
    plan: Plan,
    pub records: Vec<Record>,
    pub summaries: Vec<Summary>,
    probes: HashMap<(Tool, Target, bool, bool), Result<(), String>>,
    /// This xtask binary, which runs each tool as `xtask measure …`.
    trampoline: PathBuf,
    tty: bool,
}

/// What one run produced, before it becomes a record.
struct Outcome {
    finished: Finished,
    error: Option<String>,
    wire: Option<Wire>,
    remote_cpu: Option<Duration>,
    remote_rss_kib: Option<u64>,
    requests: Option<Requests>,
}

impl<'a> Runner<'a> {
    pub fn new(
        workloads: WorkloadSet,
        scratch: PathBuf,
        bins: &'a Binaries,
        sshd: Option<&'a Sshd>,
        sides: HashMap<Target, Result<Side, String>>,
        s3: Result<S3Side, String>,
        plan: Plan,
    ) -> Result<Self> {
        Ok(Self {
            workloads,
            scratch,
            bins,
            sshd,
            sides,
            s3,
            plan,
            records: Vec::new(),
            summaries: Vec::new(),
            probes: HashMap::new(),
            trampoline: std::env::current_exe().context("locating this xtask binary")?,
            tty: std::io::stderr().is_terminal(),
        })
    }

    fn progress(&self, text: &str) {
        if self.tty {
            eprint!("\r\x1b[K{text}");
        } else {
            eprintln!("{text}");
        }
    }

    /// Runs every tool on one scenario and target, recording runs and summaries.
    pub fn run_case(
        &mut self,
        scenario: &Scenario,
        target: Target,
        case: (usize, usize),
    ) -> Result<()> {
        let prefix = format!(
            "[case {}/{}] {} {:?}",
            case.0,
            case.1,
            target.name(),
            scenario.id
        );
        self.progress(&format!("{prefix}: preparing data"));
        let src = self.workloads.get(scenario.source)?;
        let basis = match scenario.basis {
            Basis::Empty => None,
            Basis::CopyOf(workload) => Some(self.workloads.get(workload)?),
        };
        let dst = self.scratch.join("dst");
        let side_error = match (target, self.sides.get(&target), &self.s3) {
            (t, _, Err(reason)) if t.is_bucket() => Some(format!("no s3 server: {reason}")),
            (_, Some(Err(reason)), _) => Some(format!("no ssh target: {reason}")),
            _ => None,
        };
        let mut runnable: Vec<(Tool, Invocation)> = Vec::new();
        let tools = self.plan.tools.clone();
        for tool in tools.into_iter().filter(|t| t.runs_on(target)) {
            let remote = self.side(target).map(|s| &s.remote);
            let built = match (target, &self.s3) {
                (Target::S3, Ok(s3)) => {
                    bucket_invocation(tool, &src.tree, &bucket(s3, scenario), false, self.bins)
                }
                (Target::S3Pull, Ok(s3)) => {
                    bucket_invocation(tool, &dst, &bucket(s3, scenario), true, self.bins)
                }
                _ => invocation(tool, scenario, &src.tree, &dst, remote, self.bins),
            };
            let checked = match (&side_error, built) {
                (Some(reason), _) => Err(reason.clone()),
                (None, Err(reason)) => Err(reason),
                // Plain commands need no probe (and the SFTP one copies the scenario's file,
                // which the probe tree does not have). Nor do the s3 target's tools: a probe
                // would need a server of its own, and a failing tool shows as FAILED with its error.
                (None, Ok(inv)) if matches!(tool, Tool::Cp | Tool::Sftp) || target.is_bucket() => {
                    Ok(inv)
                }
                (None, Ok(inv)) => self.probe(tool, scenario, target).map(|()| inv),
            };
            match checked {
                Ok(inv) => runnable.push((tool, inv)),
                Err(reason) => {
                    self.summaries
                        .push(Summary::unsupported(scenario.id, target, tool, reason))
                }
            }
        }
        let mut case_records = Vec::new();
        let n = runnable.len();
        let first_round = if self.plan.warmup { 0 } else { 1 };
        for round in first_round..=self.plan.runs {
            for position in 0..n {
                let this = &runnable[(position + round) % n];
                let (tool, inv) = this;
                let what = if round == 0 {
                    "warm-up".to_string()
                } else {
                    format!("run {round}/{}", self.plan.runs)
                };
                self.progress(&format!("{prefix}: {} {what}", tool.name()));
                let outcome = match &self.s3 {
                    Ok(s3) if target.is_bucket() => {
                        self.measure_bucket(s3, this, scenario, target, &src, &dst)?
                    }
                    _ => self.measure(inv, target, &src, basis.as_ref(), &dst)?,
                };
                case_records.push(record(
                    scenario, target, *tool, inv, round, position, outcome,
                ));
            }
        }
        remove_tree(&dst)?;
        for (tool, inv) in &runnable {
            let mine: Vec<&Record> = case_records.iter().filter(|r| r.tool == *tool).collect();
            let mut summary = Summary::of(scenario.id, target, *tool, &inv.label, &mine);
            summary.command = Some(inv.command_line());
            self.summaries.push(summary);
        }
        self.records.extend(case_records);
        if self.tty {
            eprint!("\r\x1b[K");
        }
        Ok(())
    }

    fn side(&self, target: Target) -> Option<&Side> {
        self.sides.get(&target).and_then(|s| s.as_ref().ok())
    }

    /// One run from a fresh destination, with the page cache in the chosen state.
    fn measure(
        &self,
        inv: &Invocation,
        target: Target,
        src: &Ready,
        basis: Option<&Ready>,
        dst: &Path,
    ) -> Result<Outcome> {
        remove_tree(dst)?;
        match basis {
            Some(basis) => copy_tree(&basis.tree, dst)?,
            None => {
                fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?
            }
        }
        self.settle_cache(src, basis.is_some().then_some(dst))?;
        let side = self.side(target);
        let before = match (side, self.sshd) {
            (Some(side), Some(sshd)) => {
                sshd.take_remote_usage()?;
                Some((side.relay.wire(), sshd.reaped_cpu()?))
            }
            _ => None,
        };
        let finished = self.run(inv)?;
        let mut outcome = Outcome::of(finished);
        let mut incomplete = None;
        if let (Some(side), Some(sshd), Some((wire0, cpu0))) = (side, self.sshd, before) {
            // A connection or session still open after the tool exited would leave the counts short.
            if !side.relay.wait_idle(Duration::from_secs(10)) {
                incomplete =
                    Some("a connection stayed open 10 s after the tool exited".to_string());
            } else if !sshd.wait_sessions_reaped(Duration::from_secs(5)) {
                incomplete = Some("an sshd session outlived the tool by 5 s".to_string());
            }
            let wire = side.relay.wire();
            outcome.wire = Some(Wire {
                up: wire.up - wire0.up,
                down: wire.down - wire0.down,
                turns: wire.turns - wire0.turns,
            });
            outcome.remote_cpu = Some(sshd.reaped_cpu()?.saturating_sub(cpu0));
            outcome.remote_rss_kib = sshd.take_remote_usage()?.map(|u| u.max_rss_kib);
        }
        outcome.error = self.check(&outcome.finished, src, dst).or(incomplete);
        Ok(outcome)
    }

    /// Flushes what preparation wrote (so no tool pays for another's write-back), then puts the
    /// page cache in the chosen state for the source and the destination's basis, if any.
    fn settle_cache(&self, src: &Ready, basis: Option<&Path>) -> Result<()> {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        match self.plan.cache {
            CacheMode::Warm => {
                pre_read(&src.tree)?;
                if let Some(basis) = basis {
                    pre_read(basis)?;
                }
                Ok(())
            }
            CacheMode::Cold => drop_caches(),
        }
    }

    /// One run against a fresh server. When the bucket must hold the source first (a pull, or
    /// the re-sync with nothing changed), `tool` puts it there with its own upload, unmeasured, as
    /// a user's earlier run would have: each tool then finds the metadata it writes itself. A
    /// pull's local destination starts empty, or as a copy of the source for the re-sync. Only the
    /// measured run's requests are counted.
    fn measure_bucket(
        &self,
        s3: &S3Side,
        (tool, inv): &(Tool, Invocation),
        scenario: &Scenario,
        target: Target,
        src: &Ready,
        dst: &Path,
    ) -> Result<Outcome> {
        // `Target::runs` keeps the bucket targets to scenarios whose basis is nothing or the source.
        let resync = scenario.no_change();
        let pull = target == Target::S3Pull;
        let bucket = bucket(s3, scenario);
        let mut server = s3.start()?;
        if pull || resync {
            let upload = bucket_invocation(*tool, &src.tree, &bucket, false, self.bins)
                .map_err(anyhow::Error::msg)?;
            let put = self.run(&upload)?;
            if let Some(error) = self.exit_error(&put) {
                return Ok(Outcome {
                    error: Some(format!("putting the source in the bucket: {error}")),
                    ..Outcome::of(put)
                });
            }
        }
        let basis = if pull {
            remove_tree(dst)?;
            if resync {
                copy_tree(&src.tree, dst)?;
            } else {
                fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
            }
            resync.then_some(dst)
        } else {
            None
        };
        self.settle_cache(src, basis)?;
        server.take_requests()?;
        let finished = self.run(inv)?;
        let requests = server.take_requests()?;
        let error = match self.exit_error(&finished) {
            Some(error) => Some(error),
            None if pull => files_error(dst, src)?,
            None => bucket_error(&server, &bucket.prefix, src)?,
        };
        Ok(Outcome {
            error,
            requests: Some(requests),
            ..Outcome::of(finished)
        })
    }

    fn stderr_path(&self) -> PathBuf {
        self.scratch.join("stderr.txt")
    }

    /// Runs `inv` under the trampoline (see `rusage::measure_main`): wall, CPU and peak RSS are the
    /// tool's own; the outer process is only timed and killed on timeout.
    fn run(&self, inv: &Invocation) -> Result<Finished> {
        let stderr = File::create(self.stderr_path()).context("creating the stderr capture")?;
        let stats = self.scratch.join("stats.txt");
        take_stats(&stats)?;
        let mut cmd = Command::new(&self.trampoline);
        cmd.arg(MEASURE)
            .arg(&stats)
            .arg(&inv.program)
            .args(&inv.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut finished = run_measured(&mut cmd, Some(self.plan.timeout))?;
        if let Some(tool) = take_stats(&stats)? {
            finished.wall = tool.wall;
            finished.usage = tool.usage;
        }
        Ok(finished)
    }

    /// Why the run counts as failed, if it does: exit status, timeout, or a result unlike the source.
    fn check(&self, finished: &Finished, src: &Ready, dst: &Path) -> Option<String> {
        if let Some(error) = self.exit_error(finished) {
            return Some(error);
        }
        match tree_digest(dst) {
            Ok(digest) if digest == src.digest => None,
            Ok(digest) => Some(format!(
                "wrong result: the tree differs from the source ({} files, {} bytes; source {}, {})",
                digest.files, digest.bytes, src.digest.files, src.digest.bytes
            )),
            Err(e) => Some(format!("wrong result: {e:#}")),
        }
    }

    /// Why the run failed by its exit: a timeout or an error status.
    fn exit_error(&self, finished: &Finished) -> Option<String> {
        if finished.timed_out {
            return Some(format!("timed out after {} s", self.plan.timeout.as_secs()));
        }
        if !finished.status.success() {
            return Some(format!("{}: {}", finished.status, self.stderr_head()));
        }
        None
    }

    /// The first lines the tool wrote to stderr (where tools put the cause; usage text follows).
    fn stderr_head(&self) -> String {
        let text = fs::read_to_string(self.stderr_path()).unwrap_or_default();
        let head: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(3)
            .collect();
        if head.is_empty() {
            "(no output on stderr)".into()
        } else {
            head.join(" / ")
        }
    }

    /// Whether `tool` can do this kind of case at all, tried once on a two-file tree (with the
    /// scenario's flags); a tool that cannot is shown as unsupported instead of failing every run.
    fn probe(&mut self, tool: Tool, scenario: &Scenario, target: Target) -> Result<(), String> {
        let key = (tool, target, scenario.compress, scenario.sparse);
        if let Some(known) = self.probes.get(&key) {
            return known.clone();
        }
        self.progress(&format!("probing {} on {} …", tool.name(), target.name()));
        let result = self
            .try_probe(tool, scenario, target)
            .unwrap_or_else(|e| Err(format!("{e:#}")));
        self.probes.insert(key, result.clone());
        result
    }

    fn try_probe(
        &self,
        tool: Tool,
        scenario: &Scenario,
        target: Target,
    ) -> Result<Result<(), String>> {
        let src = self.scratch.join("probe-src");
        let dst = self.scratch.join("probe-dst");
        if !src.exists() {
            fs::create_dir_all(src.join("sub")).context("creating the probe tree")?;
            fs::write(src.join("a.txt"), "probe\n").context("creating the probe tree")?;
            fs::write(src.join("sub/b.txt"), "two\n").context("creating the probe tree")?;
        }
        remove_tree(&dst)?;
        fs::create_dir_all(&dst).with_context(|| format!("creating {}", dst.display()))?;
        let remote = self.side(target).map(|s| &s.remote);
        let inv = match invocation(tool, scenario, &src, &dst, remote, self.bins) {
            Ok(inv) => inv,
            Err(reason) => return Ok(Err(reason)),
        };
        let finished = self.run(&inv)?;
        if let Some(side) = self.side(target) {
            side.relay.wait_idle(Duration::from_secs(10));
        }
        // Only a tool that refuses (an error exit) or hangs is unsupported. One that claims success
        // with a wrong result is not excused here: its measured runs will show it as FAILED.
        let verdict = if finished.timed_out {
            Err("probe timed out".to_string())
        } else if !finished.status.success() {
            // The first line is the cause ("unexpected argument '-e'"); usage text follows.
            let head = self.stderr_head();
            Err(head.split(" / ").next().unwrap_or_default().to_string())
        } else {
            Ok(())
        };
        remove_tree(&dst)?;
        Ok(verdict)
    }
}

impl Outcome {
    /// A run with nothing measured beyond the tool's own process.
    fn of(finished: Finished) -> Self {
        Self {
            finished,
            error: None,
            wire: None,
            remote_cpu: None,
            remote_rss_kib: None,
            requests: None,
        }
    }
}

/// The s3 target's destination for `scenario`: a prefix named after it.
fn bucket(s3: &S3Side, scenario: &Scenario) -> Bucket {
    Bucket {
        endpoint: s3.endpoint(),
        prefix: format!("{:?}/", scenario.id).to_lowercase(),
    }
}

/// Why the bucket does not hold the source, if it does not: every file as an object of the same
/// name and size, and nothing else (contents are not read back: that would cost a GET per object).
fn bucket_error(server: &MotoServer, prefix: &str, src: &Ready) -> Result<Option<String>> {
    let objects = server.list(prefix)?;
    let files = file_sizes(&src.tree)?;
    if objects == files {
        return Ok(None);
    }
    let differs = files
        .iter()
        .find(|(name, size)| objects.get(*name) != Some(size))
        .map(|(name, size)| {
            let held = objects
                .get(name)
                .map_or("no object".to_string(), |n| format!("{n} bytes"));
            format!("{name}: {size} bytes, the bucket has {held}")
        })
        .or_else(|| {
            objects
                .keys()
                .find(|name| !files.contains_key(*name))
                .map(|name| format!("{name} is not in the source"))
        })
        .unwrap_or_default();
    let total = |sizes: &std::collections::BTreeMap<String, u64>| sizes.values().sum::<u64>();
    Ok(Some(format!(
        "wrong result: the bucket holds {} objects, {} bytes; the source {} files, {} bytes ({differs})",
        objects.len(),
        total(&objects),
        files.len(),
        total(&files),
    )))
}

/// Why the pulled tree `dst` is not the source, if it is not: every file of the same name, size and
/// contents, and nothing else. Permission bits are not compared: a bucket does not keep them unless
/// asked, and neither tool is asked.
fn files_error(dst: &Path, src: &Ready) -> Result<Option<String>> {
    let (pulled, source) = (file_digests(dst)?, file_digests(&src.tree)?);
    if pulled == source {
        return Ok(None);
    }
    let differs = source
        .iter()
        .find(|(name, facts)| pulled.get(*name) != Some(facts))
        .map(|(name, _)| format!("{name} is missing or differs"))
        .or_else(|| {
            pulled
                .keys()
                .find(|name| !source.contains_key(*name))
                .map(|name| format!("{name} is not in the source"))
        })
        .unwrap_or_default();
    Ok(Some(format!(
        "wrong result: {} files pulled, the source has {} ({differs})",
        pulled.len(),
        source.len()
    )))
}

fn record(
    scenario: &Scenario,
    target: Target,
    tool: Tool,
    inv: &Invocation,
    round: usize,
    position: usize,
    o: Outcome,
) -> Record {
    Record {
        scenario: scenario.id,
        target,
        tool,
        label: inv.label.clone(),
        warmup: round == 0,
        round,
        position,
        ok: o.error.is_none(),
        error: o.error,
        wall_s: o.finished.wall.as_secs_f64(),
        cpu_user_s: o.finished.usage.user.as_secs_f64(),
        cpu_sys_s: o.finished.usage.sys.as_secs_f64(),
        max_rss_kib: o.finished.usage.max_rss_kib,
        remote_cpu_s: o.remote_cpu.map(|d| d.as_secs_f64()),
        remote_max_rss_kib: o.remote_rss_kib,
        wire_up: o.wire.map(|w| w.up),
        wire_down: o.wire.map(|w| w.down),
        turns: o.wire.map(|w| w.turns),
        requests: o.requests,
    }
}

pub fn drop_caches() -> Result<()> {
    fs::write("/proc/sys/vm/drop_caches", "3")
        .context("writing /proc/sys/vm/drop_caches (needs root)")
}
