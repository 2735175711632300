//! What a run did, counted.

use sy_transport::CompressionPolicy;

use crate::observer::Action;

/// What a run did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Entries found in the source.
    pub scanned: u64,
    /// Files whose content was written (created or rewritten).
    pub files_written: u64,
    /// Of those, the files that did not exist at the destination before.
    pub files_created: u64,
    /// Directories created.
    pub dirs: u64,
    /// Symbolic and hard links made.
    pub links: u64,
    /// Entries whose attributes alone were fixed.
    pub meta: u64,
    /// Entries deleted.
    pub deleted: u64,
    /// Extraneous entries left because `--max-delete` was reached.
    pub deletions_skipped: u64,
    /// Entries left alone because they were equal.
    pub unchanged: u64,
    /// Special files skipped.
    pub skipped: u64,
    /// Entries that failed (each reported to the observer).
    pub failed: u64,
    /// Source files that disappeared between the scan and their copy (each reported as a
    /// warning); not failures.
    pub vanished: u64,
    /// Sources that could not be synced at all (each reported); only with several sources,
    /// since with one the run returns the error.
    pub failed_sources: u64,
    /// Content bytes sent from the source.
    pub bytes_literal: u64,
    /// Content bytes reused from the destination's old version or partial.
    pub bytes_matched: u64,
    /// Files read back at the destination with the source's digest (`--verify`).
    pub verified: u64,
    /// A dry run's content bytes: the sizes of the files it would create or rewrite (a dry
    /// run sends nothing, so it cannot tell literal from matched bytes).
    pub bytes_planned: u64,
    /// Protocol bytes to and from a remote agent, before and after compression.
    pub traffic: Traffic,
}

/// What crossed the connection to a remote agent (all zero when both sides are local).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent, as encoded before compression.
    pub sent: u64,
    /// Bytes sent on the wire.
    pub wire_sent: u64,
    /// Bytes received, after decompression.
    pub received: u64,
    /// Bytes received on the wire.
    pub wire_received: u64,
    /// Of `sent`, the bytes that went through zstd.
    pub compressed_sent: u64,
    /// Of `received`, the bytes that came out of zstd.
    pub compressed_received: u64,
    /// The compression the agent's session agreed on (none without an agent).
    pub compression: Option<CompressionPolicy>,
    /// Lowest and highest zstd level this side sent with.
    pub sent_levels: Option<(i8, i8)>,
}

impl Traffic {
    /// Adds another connection's counts.
    pub fn add(&mut self, o: &Traffic) {
        self.sent += o.sent;
        self.wire_sent += o.wire_sent;
        self.received += o.received;
        self.wire_received += o.wire_received;
        self.compressed_sent += o.compressed_sent;
        self.compressed_received += o.compressed_received;
        self.compression = o.compression.or(self.compression);
        self.sent_levels = match (self.sent_levels, o.sent_levels) {
            (Some((low, high)), Some((o_low, o_high))) => Some((low.min(o_low), high.max(o_high))),
            (levels, None) | (None, levels) => levels,
        };
    }
}

impl Totals {
    /// Files rewritten: written over an older version at the destination.
    pub fn files_updated(&self) -> u64 {
        self.files_written - self.files_created
    }

    /// True when nothing failed: every entry and every source was handled.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.failed_sources == 0
    }

    /// Adds another job's counts.
    pub fn add(&mut self, o: &Totals) {
        self.scanned += o.scanned;
        self.files_written += o.files_written;
        self.files_created += o.files_created;
        self.dirs += o.dirs;
        self.links += o.links;
        self.meta += o.meta;
        self.deleted += o.deleted;
        self.deletions_skipped += o.deletions_skipped;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.vanished += o.vanished;
        self.failed_sources += o.failed_sources;
        self.bytes_literal += o.bytes_literal;
        self.bytes_matched += o.bytes_matched;
        self.verified += o.verified;
        self.bytes_planned += o.bytes_planned;
        self.traffic.add(&o.traffic);
    }
}

/// Counts one completed `action`.
pub(crate) fn count(totals: &mut Totals, action: Action) {
    match action {
        Action::Create => {
            totals.files_written += 1;
            totals.files_created += 1;
        }
        Action::Update => totals.files_written += 1,
        Action::Mkdir => totals.dirs += 1,
        Action::Symlink | Action::HardLink => totals.links += 1,
        Action::Meta => totals.meta += 1,
        Action::Delete => totals.deleted += 1,
    }
}
