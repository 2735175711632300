//! What is measured: scenarios (a workload plus what the destination holds first), targets (where
//! the destination is) and tools (what does the copying).

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::workloads::Workload;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
pub enum ScenarioId {
    #[value(name = "W1")]
    W1,
    #[value(name = "W2")]
    W2,
    #[value(name = "W3")]
    W3,
    #[value(name = "W4")]
    W4,
    #[value(name = "W4z")]
    W4z,
    #[value(name = "W5")]
    W5,
    #[value(name = "W6")]
    W6,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Both trees on this machine.
    Local,
    /// Through our sshd on 127.0.0.1, via the counting relay.
    Ssh,
    /// As `ssh`, with the relay emulating a link (`--link`, default 100 Mbit/s and 20 ms RTT).
    Wan,
    /// A bucket of moto's S3 server on 127.0.0.1, restarted for every run (`s3://bench/<case>/`).
    S3,
    /// The other way: the source in the bucket (put there by the same tool), the destination here.
    #[value(name = "s3-pull")]
    #[serde(rename = "s3-pull")]
    S3Pull,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Sy,
    /// sy with `--compress=never`: what adaptive compression (sy's default) is measured
    /// against. Not run unless asked for.
    #[value(name = "sy-never")]
    #[serde(rename = "sy-never")]
    SyNever,
    Rsync,
    /// rsync with `-z --compress-choice=zstd` in every scenario. Not run unless asked for.
    #[value(name = "rsync-z")]
    #[serde(rename = "rsync-z")]
    RsyncZ,
    /// The ceiling: `cp -a` locally, `ssh … cat > f` (or `tar | ssh tar`, `ssh true`) remotely.
    Cp,
    /// sy over SFTP, as where the agent cannot run (`--no-deploy`): remote targets only, and
    /// not run unless asked for.
    #[value(name = "sy-sftp")]
    #[serde(rename = "sy-sftp")]
    SySftp,
    /// OpenSSH's `sftp` putting the file of a single-file scenario: what sy over SFTP is
    /// measured against. Remote targets only, and not run unless asked for.
    Sftp,
    /// `rclone sync` to or from the bucket: the s3 targets only.
    Rclone,
    /// `aws s3 sync` (the AWS CLI): the s3 targets only.
    Aws,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sy => "sy",
            Self::SyNever => "sy-never",
            Self::Rsync => "rsync",
            Self::RsyncZ => "rsync-z",
            Self::Cp => "cp",
            Self::SySftp => "sy-sftp",
            Self::Sftp => "sftp",
            Self::Rclone => "rclone",
            Self::Aws => "aws",
        }
    }

    /// Whether the tool belongs on `target` at all: a tool that does not is left out of its
    /// table (rather than shown as unsupported) — rclone and the AWS CLI only on the s3 targets,
    /// which run only them and sy.
    pub fn runs_on(self, target: Target) -> bool {
        let object_store_tool = matches!(self, Self::Rclone | Self::Aws);
        match target {
            Target::S3 | Target::S3Pull => object_store_tool || self == Self::Sy,
            Target::Local | Target::Ssh | Target::Wan => !object_store_tool,
        }
    }

    /// Runs the `sy` binary.
    pub fn is_sy(self) -> bool {
        matches!(self, Self::Sy | Self::SyNever | Self::SySftp)
    }
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Ssh => "ssh",
            Self::Wan => "wan",
            Self::S3 => "s3",
            Self::S3Pull => "s3-pull",
        }
    }

    /// One side is a bucket of the bench's S3 server.
    pub fn is_bucket(self) -> bool {
        matches!(self, Self::S3 | Self::S3Pull)
    }

    /// Reached through our sshd.
    pub fn over_ssh(self) -> bool {
        matches!(self, Self::Ssh | Self::Wan)
    }

    /// The tool sy is compared with in the table's ratio column.
    pub fn reference(self) -> Tool {
        match self {
            Self::S3 | Self::S3Pull => Tool::Rclone,
            Self::Local | Self::Ssh | Self::Wan => Tool::Rsync,
        }
    }

    /// `wan` runs W2–W5 only (a 1 GiB new file or a 4 GiB sparse file at 100 Mbit/s says nothing
    /// new and takes minutes); `-z` means nothing without a wire, so W4z is not run locally.
    /// `s3` and `s3-pull` run the scenarios whose destination starts empty or as the source (a
    /// bucket has no delta transfer, compression on the wire or holes): W1, W3, W4, W5.
    pub fn runs(self, scenario: ScenarioId) -> bool {
        match self {
            Self::Local => scenario != ScenarioId::W4z,
            Self::Ssh => true,
            Self::Wan => !matches!(scenario, ScenarioId::W1 | ScenarioId::W6),
            Self::S3 | Self::S3Pull => matches!(
                scenario,
                ScenarioId::W1 | ScenarioId::W3 | ScenarioId::W4 | ScenarioId::W5
            ),
        }
    }
}

/// What the destination holds before a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Nothing: a new copy.
    Empty,
    /// A copy (times kept) of this workload: the old version for a delta, or the source itself.
    CopyOf(Workload),
}

#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub id: ScenarioId,
    pub title: &'static str,
    pub source: Workload,
    pub basis: Basis,
    /// Tools are asked to compress on the wire (`-z`).
    pub compress: bool,
    /// Tools are asked to keep holes (`--sparse`), which also spares the disk.
    pub sparse: bool,
}

impl Scenario {
    pub fn get(id: ScenarioId) -> Self {
        let (title, source, basis, compress, sparse) = match id {
            ScenarioId::W1 => (
                "1 GiB incompressible file, new copy",
                Workload::Random,
                Basis::Empty,
                false,
                false,
            ),
            ScenarioId::W2 => (
                "W1 with 1% changed in 100 places + 1 MiB inserted, onto the old copy",
                Workload::RandomEdited,
                Basis::CopyOf(Workload::Random),
                false,
                false,
            ),
            ScenarioId::W3 => (
                "10,000 small text files in 200 dirs, new copy",
                Workload::SmallFiles,
                Basis::Empty,
                false,
                false,
            ),
            ScenarioId::W4 => (
                "256 MiB text log, new copy",
                Workload::TextLog,
                Basis::Empty,
                false,
                false,
            ),
            ScenarioId::W4z => (
                "256 MiB text log, new copy, with -z",
                Workload::TextLog,
                Basis::Empty,
                true,
                false,
            ),
            ScenarioId::W5 => (
                "re-sync of W3 with nothing changed",
                Workload::SmallFiles,
                Basis::CopyOf(Workload::SmallFiles),
                false,
                false,
            ),
            ScenarioId::W6 => (
                "4 GiB sparse-ish file, 1% changed + 4 MiB inserted, onto the old copy",
                Workload::SparseEdited,
                Basis::CopyOf(Workload::Sparse),
                false,
                true,
            ),
        };
        Self {
            id,
            title,
            source,
            basis,
            compress,
            sparse,
        }
    }

    /// Nothing to transfer: the destination already equals the source.
    pub fn no_change(&self) -> bool {
        self.basis == Basis::CopyOf(self.source)
    }
}
