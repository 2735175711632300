//! Results: one record per run, medians per (scenario, target, tool), the JSON file and the
//! markdown table.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::s3server::Requests;
use crate::scenarios::{Scenario, ScenarioId, Target, Tool};

/// Bump when the JSON layout changes incompatibly.
pub const FORMAT: u32 = 1;

/// One run of one tool.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub scenario: ScenarioId,
    pub target: Target,
    pub tool: Tool,
    pub label: String,
    /// Warm-up runs are recorded but left out of the medians.
    pub warmup: bool,
    pub round: usize,
    /// Place of this tool in this round's order (0 = first).
    pub position: usize,
    pub ok: bool,
    pub error: Option<String>,
    pub wall_s: f64,
    /// CPU of the local process tree (`wait4`).
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    /// Peak RSS of the largest local process.
    pub max_rss_kib: u64,
    /// CPU of the sshd sessions of this run: key exchange, cipher and the remote command.
    pub remote_cpu_s: Option<f64>,
    /// Peak RSS of the largest remote command process (rsync's server side, sy-remote, cat …).
    pub remote_max_rss_kib: Option<u64>,
    pub wire_up: Option<u64>,
    pub wire_down: Option<u64>,
    /// Round trips at the relay: the times the server spoke after the client.
    #[serde(default)]
    pub turns: Option<u64>,
    /// Requests to the s3 target's server, by kind.
    #[serde(default)]
    pub requests: Option<Requests>,
}

impl Record {
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_sys_s + self.remote_cpu_s.unwrap_or(0.0)
    }

    pub fn wire_bytes(&self) -> Option<u64> {
        Some(self.wire_up? + self.wire_down?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some(Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every run (warm-up included) succeeded.
    Ok,
    /// At least one run failed (error exit, timeout, or a result that differs from the source).
    Failed,
    /// The tool cannot do this yet (not built, no remote support, a flag it lacks …).
    Unsupported,
}

/// Medians (and min–max) of the successful measured runs of one tool in one case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: ScenarioId,
    pub target: Target,
    pub tool: Tool,
    pub label: String,
    pub status: Status,
    /// The command line of the measured runs (scratch paths as they were).
    pub command: Option<String>,
    /// Why it is unsupported, or the first failure.
    pub reason: Option<String>,
    /// Measured runs, and how many of them failed.
    pub runs: usize,
    pub failed: usize,
    pub wall_s: Option<Stat>,
    pub cpu_s: Option<Stat>,
    pub max_rss_kib: Option<Stat>,
    pub remote_max_rss_kib: Option<Stat>,
    pub wire_bytes: Option<Stat>,
    #[serde(default)]
    pub turns: Option<Stat>,
    /// The requests of the successful measured run with the median total (the lower middle one).
    #[serde(default)]
    pub requests: Option<Requests>,
}

impl Summary {
    pub fn unsupported(scenario: ScenarioId, target: Target, tool: Tool, reason: String) -> Self {
        Self {
            scenario,
            target,
            tool,
            label: tool.name().to_string(),
            status: Status::Unsupported,
            command: None,
            reason: Some(reason),
            runs: 0,
            failed: 0,
            wall_s: None,
            cpu_s: None,
            max_rss_kib: None,
            remote_max_rss_kib: None,
            wire_bytes: None,
            turns: None,
            requests: None,
        }
    }

    /// Summarises the measured (non-warm-up) records of one tool in one case.
    pub fn of(
        scenario: ScenarioId,
        target: Target,
        tool: Tool,
        label: &str,
        records: &[&Record],
    ) -> Self {
        let measured: Vec<&Record> = records.iter().copied().filter(|r| !r.warmup).collect();
        let ok: Vec<&Record> = measured.iter().copied().filter(|r| r.ok).collect();
        let failed = measured.len() - ok.len();
        let stat = |f: &dyn Fn(&Record) -> Option<f64>| {
            Stat::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        // A wrong result in the warm-up is as much a defect as one in a measured run.
        let first_error = records.iter().find_map(|r| r.error.clone());
        let mut requests: Vec<Requests> = ok.iter().filter_map(|r| r.requests).collect();
        requests.sort_by_key(Requests::total);
        let good = first_error.is_none() && !ok.is_empty();
        Self {
            scenario,
            target,
            tool,
            label: label.to_string(),
            status: if good { Status::Ok } else { Status::Failed },
            command: None,
            reason: if good { None } else { first_error },
            runs: measured.len(),
            failed,
            wall_s: stat(&|r| Some(r.wall_s)),
            cpu_s: stat(&|r| Some(r.cpu_s())),
            max_rss_kib: stat(&|r| Some(r.max_rss_kib as f64)),
            remote_max_rss_kib: stat(&|r| r.remote_max_rss_kib.map(|k| k as f64)),
            wire_bytes: stat(&|r| r.wire_bytes().map(|b| b as f64)),
            turns: stat(&|r| r.turns.map(|t| t as f64)),
            requests: requests
                .len()
                .checked_sub(1)
                .and_then(|last| requests.get(last / 2).copied()),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub mem_total_kib: u64,
    pub kernel: String,
    pub load_avg_at_start: String,
    pub load_avg_at_end: String,
    pub git_commit: String,
    /// `warm` (sources pre-read before every run) or `cold` (page cache dropped before every run).
    pub cache: String,
    /// First line of `--version` of each tool.
    pub versions: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Settings {
    pub quick: bool,
    pub runs: usize,
    pub warmup: bool,
    pub seed: u64,
    pub link: String,
    pub scenarios: Vec<ScenarioId>,
    pub targets: Vec<Target>,
    pub tools: Vec<Tool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub format: u32,
    pub started: String,
    pub duration_s: f64,
    pub machine: Machine,
    pub settings: Settings,
    pub records: Vec<Record>,
    pub summaries: Vec<Summary>,
}

impl Report {
    pub fn summary(&self, scenario: ScenarioId, target: Target, tool: Tool) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|s| s.scenario == scenario && s.target == target && s.tool == tool)
    }

    /// The markdown tables: one per target, medians with min–max, ratios against rsync and the ceiling.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "Machine: {} × {}, {:.1} GiB RAM, Linux {}; load at start {}, at end {}; commit {}; page cache {}; \
             {} measured run(s) per tool{}{} (seed {}).\n",
            m.cpus,
            m.cpu_model,
            m.mem_total_kib as f64 / (1 << 20) as f64,
            m.kernel,
            m.load_avg_at_start,
            m.load_avg_at_end,
            m.git_commit,
            m.cache,
            self.settings.runs,
            if self.settings.warmup {
                " after a warm-up run"
            } else {
                ""
            },
            if self.settings.quick {
                ", --quick (64× smaller data)"
            } else {
                ""
            },
            self.settings.seed,
        );
        let versions: Vec<String> = m
            .versions
            .iter()
            .map(|(tool, v)| format!("{tool}: {v}"))
            .collect();
        let _ = writeln!(out, "Versions: {}.\n", versions.join("; "));
        for target in &self.settings.targets {
            let _ = writeln!(out, "### {}\n", target_title(*target, &self.settings.link));
            out.push_str(if target.is_bucket() {
                "| Scenario | Tool | Wall s median (min–max) | vs rclone | CPU s | Peak RSS MiB | Requests (kinds) | Runs ok |\n\
                 |---|---|---|---|---|---|---|---|\n"
            } else {
                "| Scenario | Tool | Wall s median (min–max) | vs rsync | vs ceiling | CPU s | Peak RSS MiB local / remote | Wire MiB | Wire vs rsync | Round trips | Runs ok |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|\n"
            });
            for scenario in &self.settings.scenarios {
                if !target.runs(*scenario) {
                    continue;
                }
                let mut first = true;
                for tool in &self.settings.tools {
                    let Some(s) = self.summary(*scenario, *target, *tool) else {
                        continue;
                    };
                    let name = if first {
                        let scale = if self.settings.quick {
                            " (sizes ÷ 64)"
                        } else {
                            ""
                        };
                        format!("{:?} {}{scale}", scenario, Scenario::get(*scenario).title)
                    } else {
                        String::new()
                    };
                    first = false;
                    out.push_str(&self.row(&name, s));
                }
            }
            out.push('\n');
        }
        out.push_str(
            "Ratios are of medians (< 1 is better than rsync, or rclone on s3; vs ceiling: 1 = as fast as the plain copy). \
             CPU is the local process tree plus the sshd sessions. Peak RSS is the largest process, with a \
             floor of ≈ 3 MiB (the measuring trampoline). Wire counts both directions at the relay; round trips are the times the server spoke after the client. \
             On s3, CPU is the tool's alone (not the server's) and requests are counted from the server's log, \
             for the run with the median count. See docs/benchmarks.md.\n",
        );
        out
    }

    fn row(&self, name: &str, s: &Summary) -> String {
        let tool = if s.tool == Tool::Cp {
            format!("ceiling: {}", cell(&s.label))
        } else {
            cell(&s.label)
        };
        if s.status == Status::Unsupported || s.wall_s.is_none() {
            let why = s.reason.as_deref().unwrap_or("no successful run");
            let (what, runs) = if s.status == Status::Unsupported {
                ("unsupported", "—".to_string())
            } else {
                ("FAILED", format!("{}/{}", s.runs - s.failed, s.runs))
            };
            let blank = if s.target.is_bucket() {
                "| | | | |"
            } else {
                "| | | | | | | |"
            };
            return format!(
                "| {name} | {tool} | {what}: {} {blank} {runs} |\n",
                cell(why)
            );
        }
        let ratio = |other: Tool, f: fn(&Summary) -> Option<Stat>| -> String {
            let (Some(mine), Some(theirs)) =
                (f(s), self.summary(s.scenario, s.target, other).and_then(f))
            else {
                return "—".into();
            };
            if theirs.median > 0.0 {
                format!("{:.2}×", mine.median / theirs.median)
            } else {
                "—".into()
            }
        };
        let mib = |kib: Option<Stat>| {
            kib.map_or("—".to_string(), |k| format!("{:.1}", k.median / 1024.0))
        };
        let wall = s.wall_s.map_or("—".into(), |w| {
            format!("{} ({}–{})", secs(w.median), secs(w.min), secs(w.max))
        });
        let failed = if s.status == Status::Failed {
            format!(" FAILED: {}", cell(s.reason.as_deref().unwrap_or("")))
        } else {
            String::new()
        };
        let reference = s.target.reference();
        if s.target.is_bucket() {
            return format!(
                "| {name} | {tool} | {wall} | {} | {} | {} | {} | {}/{}{failed} |\n",
                ratio(reference, |x| x.wall_s),
                s.cpu_s.map_or("—".into(), |c| secs(c.median)),
                mib(s.max_rss_kib),
                s.requests.map_or("—".into(), |r| r.to_string()),
                s.runs - s.failed,
                s.runs,
            );
        }
        format!(
            "| {name} | {tool} | {wall} | {} | {} | {} | {} / {} | {} | {} | {} | {}/{}{failed} |\n",
            ratio(reference, |x| x.wall_s),
            ratio(Tool::Cp, |x| x.wall_s),
            s.cpu_s.map_or("—".into(), |c| secs(c.median)),
            mib(s.max_rss_kib),
            mib(s.remote_max_rss_kib),
            s.wire_bytes.map_or("—".into(), |w| format!(
                "{:.2}",
                w.median / (1u64 << 20) as f64
            )),
            ratio(reference, |x| x.wire_bytes),
            s.turns.map_or("—".into(), |t| format!("{:.0}", t.median)),
            s.runs - s.failed,
            s.runs,
        )
    }
}

fn target_title(target: Target, link: &str) -> String {
    match target {
        Target::Local => "local (both trees on this machine)".into(),
        Target::Ssh => {
            "ssh (OpenSSH sshd on 127.0.0.1 through the counting relay, aes128-gcm)".into()
        }
        Target::Wan => format!("wan (as ssh, relay emulating {link})"),
        Target::S3 => "s3 (moto's S3 server on 127.0.0.1, started afresh for every run; \
                       a Python server whose cost per request dominates many-object scenarios)"
            .into(),
        Target::S3Pull => "s3-pull (from a bucket of the same server, filled by each tool itself \
                           before the run, to this machine)"
            .into(),
    }
}

/// Seconds with three significant digits.
fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else if s >= 1.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.3}")
    }
}

/// Text safe inside a table cell: one line, no pipes, not too long.
fn cell(text: &str) -> String {
    let line: String = text.replace('|', "\\|").replace('\n', " ");
    if line.chars().count() > 90 {
        format!("{}…", line.chars().take(90).collect::<String>())
    } else {
        line
    }
}

/// A UTC timestamp as (`20261130T081910Z`, `2026-11-30T08:19:10Z`) from seconds since the epoch.
pub fn utc_stamp(epoch_secs: u64) -> (String, String) {
    let days = (epoch_secs / 86_400) as i64;
    let rem = epoch_secs % 86_400;
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(
            Stat::of(&[3.0, 1.0, 2.0]),
            Some(Stat {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Stat::of(&[4.0, 1.0, 2.0, 3.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Stat::of(&[]), None);
    }

    fn record(warmup: bool, wall_s: f64, error: Option<&str>) -> Record {
        Record {
            scenario: ScenarioId::W1,
            target: Target::Local,
            tool: Tool::Sy,
            label: "sy".into(),
            warmup,
            round: 0,
            position: 0,
            ok: error.is_none(),
            error: error.map(String::from),
            wall_s,
            cpu_user_s: 0.5,
            cpu_sys_s: 0.25,
            max_rss_kib: 1024,
            remote_cpu_s: None,
            remote_max_rss_kib: None,
            wire_up: None,
            wire_down: None,
            turns: None,
            requests: None,
        }
    }

    #[test]
    fn summaries_use_measured_successes_and_any_failure_fails_the_tool() {
        let runs = [
            record(true, 9.0, None),
            record(false, 1.0, None),
            record(false, 3.0, None),
        ];
        let s = Summary::of(
            ScenarioId::W1,
            Target::Local,
            Tool::Sy,
            "sy",
            &runs.iter().collect::<Vec<_>>(),
        );
        assert_eq!((s.status, s.runs, s.failed), (Status::Ok, 2, 0));
        assert_eq!(s.wall_s.map(|w| (w.median, w.max)), Some((2.0, 3.0)));
        assert_eq!(s.cpu_s.map(|c| c.median), Some(0.75));
        assert_eq!(s.wire_bytes, None);

        let runs = [
            record(true, 9.0, Some("wrong result")),
            record(false, 1.0, None),
        ];
        let s = Summary::of(
            ScenarioId::W1,
            Target::Local,
            Tool::Sy,
            "sy",
            &runs.iter().collect::<Vec<_>>(),
        );
        assert_eq!(
            (s.status, s.failed, s.reason.as_deref()),
            (Status::Failed, 0, Some("wrong result"))
        );
        let table_row = report_with(s).markdown();
        assert!(table_row.contains("FAILED: wrong result"), "{table_row}");
    }

    fn report_with(summary: Summary) -> Report {
        Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings {
                scenarios: vec![summary.scenario],
                targets: vec![summary.target],
                tools: vec![summary.tool],
                ..Settings::default()
            },
            records: Vec::new(),
            summaries: vec![summary],
        }
    }

    #[test]
    fn the_s3_table_shows_requests_and_the_ratio_to_rclone() {
        let on_s3 = |tool: Tool, wall_s: f64, list: u64| {
            let mut run = record(false, wall_s, None);
            run.target = Target::S3;
            run.tool = tool;
            run.requests = Some(Requests {
                list,
                put: 157,
                ..Requests::default()
            });
            Summary::of(ScenarioId::W3, Target::S3, tool, tool.name(), &[&run])
        };
        let mut report = report_with(on_s3(Tool::Sy, 1.0, 1));
        report.summaries.push(on_s3(Tool::Rclone, 2.0, 3));
        report.settings.tools.push(Tool::Rclone);
        let table = report.markdown();
        assert!(table.contains("| vs rclone | CPU s | Peak RSS MiB | Requests (kinds) |"));
        assert!(
            table.contains(
                "| sy | 1.00 (1.00–1.00) | 0.50× | 0.750 | 1.0 | 158 (LIST 1, PUT 157) | 1/1 |"
            ),
            "{table}"
        );
        assert!(table.contains("| 160 (LIST 3, PUT 157) |"), "{table}");
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0).1, "1970-01-01T00:00:00Z");
        assert_eq!(utc_stamp(951_782_400).1, "2000-02-29T00:00:00Z");
        assert_eq!(utc_stamp(1_796_026_750).0, "20261130T081910Z");
    }
}
