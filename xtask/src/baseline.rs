//! The regression gate: sy's figures relative to rsync in the same run, compared with the same
//! ratios in an earlier run. Dividing by rsync cancels machine drift (a busier or slower machine
//! slows both tools), so only a change in sy moves the ratio.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::report::{FORMAT, Report, Stat, Status, Summary};
use crate::scenarios::{ScenarioId, Target, Tool};

type Figure = (&'static str, fn(&Summary) -> Option<Stat>);

/// The figures the gate tracks.
const TRACKED: [Figure; 5] = [
    ("wall", |s| s.wall_s),
    ("cpu", |s| s.cpu_s),
    ("peak rss", |s| s.max_rss_kib),
    ("remote peak rss", |s| s.remote_max_rss_kib),
    ("wire bytes", |s| s.wire_bytes),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub scenario: ScenarioId,
    pub target: Target,
    pub figure: &'static str,
    /// sy's median divided by rsync's, in the baseline and now.
    pub baseline_ratio: f64,
    pub current_ratio: f64,
    pub regressed: bool,
}

impl Comparison {
    pub fn change_pct(&self) -> f64 {
        (self.current_ratio / self.baseline_ratio - 1.0) * 100.0
    }
}

pub fn load(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading baseline {}", path.display()))?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("parsing baseline {}", path.display()))?;
    if report.format != FORMAT {
        bail!(
            "baseline {} has format {}, this xtask writes {FORMAT}",
            path.display(),
            report.format
        );
    }
    Ok(report)
}

/// sy/rsync (sy/rclone on s3: the target's reference tool) for `figure` in `report`, when both
/// tools succeeded and the reference's figure is non-zero.
fn ratio(
    report: &Report,
    scenario: ScenarioId,
    target: Target,
    figure: fn(&Summary) -> Option<Stat>,
) -> Option<f64> {
    let ok = |tool| {
        report
            .summary(scenario, target, tool)
            .filter(|s| s.status == Status::Ok)
    };
    let sy = figure(ok(Tool::Sy)?)?.median;
    let reference = figure(ok(target.reference())?)?.median;
    (reference > 0.0).then_some(sy / reference)
}

/// Every tracked figure present in both reports; `regressed` when the ratio grew by more than
/// `threshold_pct` percent.
pub fn compare(baseline: &Report, current: &Report, threshold_pct: f64) -> Vec<Comparison> {
    let mut out = Vec::new();
    for summary in current.summaries.iter().filter(|s| s.tool == Tool::Sy) {
        let (scenario, target) = (summary.scenario, summary.target);
        for (figure, get) in TRACKED {
            let (Some(before), Some(now)) = (
                ratio(baseline, scenario, target, get),
                ratio(current, scenario, target, get),
            ) else {
                continue;
            };
            if before <= 0.0 {
                continue;
            }
            out.push(Comparison {
                scenario,
                target,
                figure,
                baseline_ratio: before,
                current_ratio: now,
                regressed: (now / before - 1.0) * 100.0 > threshold_pct,
            });
        }
    }
    out
}

pub fn render(comparisons: &[Comparison], threshold_pct: f64) -> String {
    let mut out = format!(
        "### Against the baseline (sy ÷ rsync, same run; regression if the ratio grew > {threshold_pct}%)\n\n\
         | Scenario | Target | Figure | Baseline | Now | Change | |\n|---|---|---|---|---|---|---|\n"
    );
    for c in comparisons {
        let _ = writeln!(
            out,
            "| {:?} | {} | {} | {:.3} | {:.3} | {:+.1}% | {} |",
            c.scenario,
            c.target.name(),
            c.figure,
            c.baseline_ratio,
            c.current_ratio,
            c.change_pct(),
            if c.regressed { "REGRESSED" } else { "ok" }
        );
    }
    if comparisons.is_empty() {
        out.push_str("| — | | no figure is present in both runs | | | | |\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Machine, Settings};

    fn summary(tool: Tool, wall: f64, wire: Option<f64>) -> Summary {
        let stat = |v: f64| Stat {
            median: v,
            min: v,
            max: v,
        };
        Summary {
            scenario: ScenarioId::W2,
            target: Target::Ssh,
            tool,
            label: tool.name().into(),
            status: Status::Ok,
            command: None,
            reason: None,
            runs: 5,
            failed: 0,
            wall_s: Some(stat(wall)),
            cpu_s: None,
            max_rss_kib: None,
            remote_max_rss_kib: None,
            wire_bytes: wire.map(stat),
            turns: None,
            requests: None,
        }
    }

    fn report(sy_wall: f64, rsync_wall: f64, sy_wire: f64) -> Report {
        Report {
            format: FORMAT,
            started: String::new(),
            duration_s: 0.0,
            machine: Machine::default(),
            settings: Settings::default(),
            records: Vec::new(),
            summaries: vec![
                summary(Tool::Sy, sy_wall, Some(sy_wire)),
                summary(Tool::Rsync, rsync_wall, Some(1000.0)),
            ],
        }
    }

    fn regressed(c: &[Comparison], figure: &str) -> bool {
        c.iter()
            .find(|c| c.figure == figure)
            .map(|c| c.regressed)
            .unwrap()
    }

    #[test]
    fn a_slower_sy_against_the_same_rsync_regresses() {
        let c = compare(&report(1.0, 2.0, 500.0), &report(1.2, 2.0, 500.0), 10.0);
        assert_eq!(c.len(), 2);
        assert!(regressed(&c, "wall"));
        assert!(!regressed(&c, "wire bytes"));
        assert!((c[0].change_pct() - 20.0).abs() < 1e-9);
    }

    #[test]
    fn machine_drift_that_slows_both_tools_does_not() {
        let c = compare(&report(1.0, 2.0, 500.0), &report(2.0, 4.0, 500.0), 10.0);
        assert!(!regressed(&c, "wall"));
    }

    #[test]
    fn a_change_within_the_threshold_passes_and_one_beyond_fails() {
        assert!(!regressed(
            &compare(&report(1.0, 2.0, 500.0), &report(1.05, 2.0, 500.0), 10.0),
            "wall"
        ));
        assert!(regressed(
            &compare(&report(1.0, 2.0, 500.0), &report(1.05, 2.0, 500.0), 4.0),
            "wall"
        ));
        assert!(regressed(
            &compare(&report(1.0, 2.0, 500.0), &report(1.0, 2.0, 600.0), 10.0),
            "wire bytes"
        ));
    }

    #[test]
    fn figures_missing_or_unsupported_on_either_side_are_skipped() {
        let mut now = report(5.0, 2.0, 500.0);
        now.summaries[0].status = Status::Unsupported;
        assert!(compare(&report(1.0, 2.0, 500.0), &now, 10.0).is_empty());
        let mut before = report(1.0, 2.0, 500.0);
        before.summaries[1].wire_bytes = None;
        let c = compare(&before, &report(1.0, 2.0, 900.0), 10.0);
        assert_eq!(c.iter().map(|c| c.figure).collect::<Vec<_>>(), ["wall"]);
    }
}
