//! The "must reach" figures of the issues, checked against a run so the table says at a glance
//! which are met. Each is a same-run comparison (against rsync or the ceiling) or a memory cap.

use std::fmt::Write as _;

use crate::relay::Link;
use crate::report::{Report, Stat, Status, Summary};
use crate::scenarios::{ScenarioId, Target, Tool};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Figure {
    Wall,
    Wire,
    /// Peak RSS of the local process tree.
    Rss,
    /// Peak RSS of the remote command.
    RemoteRss,
    /// Round trips at the relay.
    Turns,
    /// Requests to the s3 target's server, all kinds.
    Requests,
}

impl Figure {
    fn name(self) -> &'static str {
        match self {
            Self::Wall => "wall",
            Self::Wire => "wire bytes",
            Self::Rss => "peak RSS",
            Self::RemoteRss => "remote peak RSS",
            Self::Turns => "round trips",
            Self::Requests => "requests",
        }
    }

    fn of(self, s: &Summary) -> Option<Stat> {
        match self {
            Self::Wall => s.wall_s,
            Self::Wire => s.wire_bytes,
            Self::Rss => s.max_rss_kib,
            Self::RemoteRss => s.remote_max_rss_kib,
            Self::Turns => s.turns,
            Self::Requests => s.requests.map(|r| {
                let total = r.total() as f64;
                Stat {
                    median: total,
                    min: total,
                    max: total,
                }
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bound {
    /// sy's median ≤ limit × the median of this tool (strictly less when `strict`).
    Times {
        tool: Tool,
        limit: f64,
        strict: bool,
    },
    /// sy's median ≤ this many MiB.
    MiB(f64),
    /// sy's median ≤ this count.
    AtMost(f64),
    /// sy's median ≤ the median of this tool plus `more`.
    Plus { tool: Tool, more: f64 },
}

struct Goal {
    issue: u32,
    /// The tool whose figure is judged: sy, or sy over SFTP.
    tool: Tool,
    scenario: ScenarioId,
    target: Target,
    figure: Figure,
    bound: Bound,
    /// The emulated link the goal is set for (wan target only); `None`: any.
    link: Option<&'static str>,
}

const fn times(tool: Tool, limit: f64) -> Bound {
    Bound::Times {
        tool,
        limit,
        strict: false,
    }
}

const fn goal(
    issue: u32,
    scenario: ScenarioId,
    target: Target,
    figure: Figure,
    bound: Bound,
) -> Goal {
    Goal {
        issue,
        tool: Tool::Sy,
        scenario,
        target,
        figure,
        bound,
        link: None,
    }
}

/// A goal of the wan target on one emulated link.
const fn on(link: &'static str, goal: Goal) -> Goal {
    Goal {
        link: Some(link),
        ..goal
    }
}

/// From the "Must reach" sections of issues 4 (local sync), 5 (remote through `-e`), 6 (SSH),
/// 16 (real links: adaptive compression; `sy-never` and `rsync-z` must be asked for with
/// `--tools`) and 17 (object storage, against rclone).
const GOALS: &[Goal] = {
    use Figure::{RemoteRss, Requests, Rss, Turns, Wall, Wire};
    use ScenarioId::{W1, W2, W3, W4, W4z, W5};
    use Target::{Local, S3, S3Pull, Ssh, Wan};
    use Tool::{Cp, Rclone, Rsync, RsyncZ, SyNever};
    const FAST: &str = "100mbit:20ms";
    const SLOW: &str = "10mbit:80ms";
    const LAN: &str = "1gbit:5ms";
    &[
        goal(4, W1, Local, Wall, times(Cp, 1.2)),
        goal(
            4,
            W3,
            Local,
            Wall,
            Bound::Times {
                tool: Rsync,
                limit: 1.0,
                strict: true,
            },
        ),
        goal(4, W5, Local, Wall, times(Rsync, 1.0)),
        goal(4, W1, Local, Rss, Bound::MiB(32.0)),
        goal(4, W3, Local, Rss, Bound::MiB(32.0)),
        goal(4, W5, Local, Rss, Bound::MiB(32.0)),
        goal(5, W2, Ssh, Wire, times(Rsync, 1.0)),
        goal(5, W2, Ssh, Wall, times(Rsync, 0.5)),
        goal(5, W3, Ssh, Wall, times(Rsync, 0.7)),
        goal(5, W4z, Ssh, Wire, times(Rsync, 1.0)),
        goal(5, W5, Ssh, Wall, times(Rsync, 1.0)),
        goal(5, W2, Ssh, Rss, Bound::MiB(32.0)),
        goal(5, W2, Ssh, RemoteRss, Bound::MiB(32.0)),
        goal(6, W1, Ssh, Wall, times(Cp, 1.15)),
        goal(6, W1, Ssh, Wall, times(Rsync, 1.0 / 1.7)),
        goal(6, W5, Ssh, Wall, times(Cp, 1.1)),
        Goal {
            tool: Tool::SySftp,
            ..goal(6, W1, Ssh, Wall, times(Tool::Sftp, 1.0))
        },
        on(FAST, goal(16, W3, Wan, Wall, times(Rsync, 0.35))),
        on(FAST, goal(16, W4, Wan, Wall, times(Rsync, 0.3))),
        on(FAST, goal(16, W4, Wan, Wall, times(RsyncZ, 0.8))),
        on(FAST, goal(16, W5, Wan, Wall, times(Cp, 1.15))),
        goal(
            16,
            W5,
            Wan,
            Turns,
            Bound::Plus {
                tool: Cp,
                more: 2.0,
            },
        ),
        on(SLOW, goal(16, W3, Wan, Wall, times(Rsync, 0.3))),
        on(SLOW, goal(16, W3, Wan, Wall, times(RsyncZ, 0.8))),
        on(SLOW, goal(16, W4, Wan, Wall, times(Rsync, 0.3))),
        on(SLOW, goal(16, W4, Wan, Wall, times(RsyncZ, 0.8))),
        on(LAN, goal(16, W1, Wan, Wall, times(SyNever, 1.05))),
        goal(16, W1, Ssh, Wall, times(SyNever, 1.05)),
        goal(16, W1, Ssh, Wall, times(Rsync, 0.6)),
        goal(16, W2, Wan, Wire, times(Rsync, 1.0)),
        goal(16, W1, Wan, Rss, Bound::MiB(32.0)),
        goal(16, W2, Wan, Rss, Bound::MiB(32.0)),
        goal(16, W3, Wan, Rss, Bound::MiB(32.0)),
        goal(16, W4, Wan, Rss, Bound::MiB(32.0)),
        goal(16, W4z, Wan, Rss, Bound::MiB(32.0)),
        goal(16, W1, Wan, RemoteRss, Bound::MiB(32.0)),
        goal(16, W2, Wan, RemoteRss, Bound::MiB(32.0)),
        goal(16, W3, Wan, RemoteRss, Bound::MiB(32.0)),
        goal(16, W4, Wan, RemoteRss, Bound::MiB(32.0)),
        goal(16, W4z, Wan, RemoteRss, Bound::MiB(32.0)),
        goal(17, W5, S3, Requests, Bound::AtMost(11.0)),
        goal(17, W5, S3, Wall, times(Rclone, 0.5)),
        goal(17, W3, S3, Wall, times(Rclone, 0.7)),
        goal(17, W1, S3, Wall, times(Rclone, 1.0)),
        goal(17, W1, S3, Rss, Bound::MiB(64.0)),
        goal(17, W1, S3Pull, Wall, times(Rclone, 1.0)),
        goal(17, W1, S3Pull, Rss, Bound::MiB(64.0)),
    ]
};

/// The goals' table: each with the figure reached in `report`, or why it could not be judged.
pub fn render(report: &Report) -> String {
    let mut out = String::from("### Goals from the issues (sy, this run)\n\n");
    if report.settings.quick {
        out.push_str(
            "With --quick the data is 64× smaller and runs last milliseconds: indicative only.\n\n",
        );
    }
    out.push_str("| Issue | Case | Goal | Reached | Met |\n|---|---|---|---|---|\n");
    for g in GOALS {
        if !report.settings.targets.contains(&g.target)
            || !report.settings.scenarios.contains(&g.scenario)
            || !report.settings.tools.contains(&g.tool)
            || g.link
                .is_some_and(|link| !same_link(link, &report.settings.link))
        {
            continue;
        }
        let goal_text = match g.bound {
            Bound::Times {
                tool,
                limit,
                strict,
            } => {
                let op = if strict { "<" } else { "≤" };
                format!("{} {op} {limit:.2}× {}", g.figure.name(), tool_name(tool))
            }
            Bound::MiB(mib) => format!("{} ≤ {mib} MiB", g.figure.name()),
            Bound::AtMost(count) => format!("{} ≤ {count}", g.figure.name()),
            Bound::Plus { tool, more } => {
                format!("{} ≤ {} + {more}", g.figure.name(), tool_name(tool))
            }
        };
        let (reached, met) = judge(report, g);
        let mut by = if g.tool == Tool::Sy {
            String::new()
        } else {
            format!(" ({})", g.tool.name())
        };
        if let Some(link) = g.link {
            let _ = write!(by, " at {link}");
        }
        let _ = writeln!(
            out,
            "| #{} | {} {:?}{by} | {goal_text} | {reached} | {met} |",
            g.issue,
            g.target.name(),
            g.scenario
        );
    }
    out
}

fn tool_name(tool: Tool) -> &'static str {
    if tool == Tool::Cp {
        "ceiling"
    } else {
        tool.name()
    }
}

/// Whether two spellings name the same link (`1gbit:5ms` is recorded as `1000mbit:5ms`).
fn same_link(a: &str, b: &str) -> bool {
    match (a.parse::<Link>(), b.parse::<Link>()) {
        (Ok(a), Ok(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

fn judge(report: &Report, g: &Goal) -> (String, &'static str) {
    let ok = |tool| {
        report
            .summary(g.scenario, g.target, tool)
            .filter(|s| s.status == Status::Ok)
    };
    let Some(sy) = ok(g.tool).and_then(|s| g.figure.of(s)) else {
        return (format!("{} not measured", g.tool.name()), "—");
    };
    match g.bound {
        Bound::MiB(cap) => {
            let mib = sy.median / 1024.0;
            (
                format!("{mib:.1} MiB"),
                if mib <= cap { "yes" } else { "NO" },
            )
        }
        Bound::AtMost(count) => (
            format!("{}", sy.median),
            if sy.median <= count { "yes" } else { "NO" },
        ),
        Bound::Times {
            tool,
            limit,
            strict,
        } => {
            let Some(other) = ok(tool)
                .and_then(|s| g.figure.of(s))
                .filter(|o| o.median > 0.0)
            else {
                return (format!("{} not measured", tool.name()), "—");
            };
            let ratio = sy.median / other.median;
            let met = if strict {
                ratio < limit
            } else {
                ratio <= limit
            };
            (format!("{ratio:.2}×"), if met { "yes" } else { "NO" })
        }
        Bound::Plus { tool, more } => {
            let Some(other) = ok(tool).and_then(|s| g.figure.of(s)) else {
                return (format!("{} not measured", tool.name()), "—");
            };
            let extra = sy.median - other.median;
            (
                format!("{} ({extra:+})", sy.median),
                if extra <= more { "yes" } else { "NO" },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FORMAT, Machine, Settings};

    fn summary(scenario: ScenarioId, tool: Tool, wall: f64, rss_kib: f64) -> Summary {
        let stat = |v: f64| {
            Some(Stat {
                median: v,
                min: v,
                max: v,
            })
        };
        Summary {
            scenario,
            target: Target::Local,
            tool,
            label: tool.name().into(),
            status: Status::Ok,
            command: None,
            reason: None,
            runs: 1,
            failed: 0,
            wall_s: stat(wall),
            cpu_s: None,
            max_rss_kib: stat(rss_kib),
            remote_max_rss_kib: None,
            wire_bytes: None,
            turns: None,
            requests: None,
        }
    }

    #[test]
    fn link_goals_apply_to_their_link_only() {
        let on_wan = |tool, wall| Summary {
            target: Target::Wan,
            ..summary(ScenarioId::W1, tool, wall, 1024.0)
        };
        let report = |link: &str| Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings {
                scenarios: vec![ScenarioId::W1, ScenarioId::W4],
                targets: vec![Target::Wan],
                tools: vec![Tool::Sy, Tool::SyNever, Tool::Rsync],
                link: link.into(),
                ..Settings::default()
            },
            records: Vec::new(),
            summaries: vec![on_wan(Tool::Sy, 1.0), on_wan(Tool::SyNever, 0.98)],
        };
        let lan = render(&report("1000mbit:5ms"));
        assert!(
            lan.contains("| #16 | wan W1 at 1gbit:5ms | wall ≤ 1.05× sy-never | 1.02× | yes |"),
            "{lan}"
        );
        assert!(!lan.contains("100mbit:20ms"), "{lan}");
        let fast = render(&report("100mbit:20ms"));
        assert!(!fast.contains("1gbit:5ms"), "{fast}");
        assert!(
            fast.contains(
                "| #16 | wan W4 at 100mbit:20ms | wall ≤ 0.30× rsync | sy not measured | — |"
            ),
            "{fast}"
        );
    }

    #[test]
    fn round_trips_are_judged_against_the_ceiling_plus_a_margin() {
        let turns = |tool, n: f64| Summary {
            target: Target::Wan,
            turns: Some(Stat {
                median: n,
                min: n,
                max: n,
            }),
            ..summary(ScenarioId::W5, tool, 1.0, 1024.0)
        };
        let report = |sy: f64| Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings {
                scenarios: vec![ScenarioId::W5],
                targets: vec![Target::Wan],
                tools: vec![Tool::Sy, Tool::Cp],
                link: "100mbit:20ms".into(),
                ..Settings::default()
            },
            records: Vec::new(),
            summaries: vec![turns(Tool::Sy, sy), turns(Tool::Cp, 6.0)],
        };
        let met = render(&report(8.0));
        assert!(
            met.contains("| #16 | wan W5 | round trips ≤ ceiling + 2 | 8 (+2) | yes |"),
            "{met}"
        );
        let missed = render(&report(9.0));
        assert!(
            missed.contains("| #16 | wan W5 | round trips ≤ ceiling + 2 | 9 (+3) | NO |"),
            "{missed}"
        );
    }

    #[test]
    fn bucket_requests_are_capped_and_wall_is_judged_against_rclone() {
        let on_s3 = |tool, wall, requests| Summary {
            target: Target::S3,
            requests,
            ..summary(ScenarioId::W5, tool, wall, 1024.0)
        };
        let listing = |list| crate::s3server::Requests {
            list,
            ..Default::default()
        };
        let report = |sy_lists| Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings {
                scenarios: vec![ScenarioId::W5],
                targets: vec![Target::S3],
                tools: vec![Tool::Sy, Tool::Rclone],
                ..Settings::default()
            },
            records: Vec::new(),
            summaries: vec![
                on_s3(Tool::Sy, 1.0, Some(listing(sy_lists))),
                on_s3(Tool::Rclone, 4.0, Some(listing(11))),
            ],
        };
        let met = render(&report(10));
        assert!(
            met.contains("| #17 | s3 W5 | requests ≤ 11 | 10 | yes |"),
            "{met}"
        );
        assert!(
            met.contains("| #17 | s3 W5 | wall ≤ 0.50× rclone | 0.25× | yes |"),
            "{met}"
        );
        let missed = render(&report(12));
        assert!(
            missed.contains("| #17 | s3 W5 | requests ≤ 11 | 12 | NO |"),
            "{missed}"
        );
    }

    #[test]
    fn judges_ratios_caps_and_missing_tools() {
        let report = Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings {
                scenarios: vec![ScenarioId::W1, ScenarioId::W3],
                targets: vec![Target::Local, Target::Ssh],
                tools: vec![Tool::Sy, Tool::Cp],
                ..Settings::default()
            },
            records: Vec::new(),
            summaries: vec![
                summary(ScenarioId::W1, Tool::Sy, 1.3, 40.0 * 1024.0),
                summary(ScenarioId::W1, Tool::Cp, 1.0, 1024.0),
                summary(ScenarioId::W3, Tool::Sy, 0.5, 1024.0),
            ],
        };
        let table = render(&report);
        assert!(
            table.contains("| #4 | local W1 | wall ≤ 1.20× ceiling | 1.30× | NO |"),
            "{table}"
        );
        assert!(
            table.contains("| #4 | local W1 | peak RSS ≤ 32 MiB | 40.0 MiB | NO |"),
            "{table}"
        );
        assert!(
            table.contains("| #4 | local W3 | wall < 1.00× rsync | rsync not measured | — |"),
            "{table}"
        );
        assert!(
            table.contains("| #4 | local W3 | peak RSS ≤ 32 MiB | 1.0 MiB | yes |"),
            "{table}"
        );
        assert!(
            !table.contains("W5"),
            "scenarios not run are left out: {table}"
        );
        assert!(
            table.contains("| #6 | ssh W1 | wall ≤ 1.15× ceiling | sy not measured | — |")
                && !table.contains("sy-sftp"),
            "goals of tools not run are left out: {table}"
        );
    }
}
