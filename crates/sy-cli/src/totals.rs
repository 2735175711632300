//! What a run did, counted: the figures of `--stats` and of the JSON summary.

use crate::observer::Action;

/// Counters for `--stats` and the JSON summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Entries found in the source.
    pub scanned: u64,
    /// Files created.
    pub created: u64,
    /// Files rewritten.
    pub updated: u64,
    /// Directories created.
    pub dirs: u64,
    /// Symbolic and hard links made.
    pub links: u64,
    /// Entries whose attributes alone were fixed.
    pub meta: u64,
    /// Entries deleted.
    pub deleted: u64,
    /// Entries left alone because they were equal.
    pub unchanged: u64,
    /// Special files skipped.
    pub skipped: u64,
    /// Failures (each reported).
    pub failed: u64,
    /// Content bytes sent from the source.
    pub literal: u64,
    /// Content bytes reused at the destination.
    pub matched: u64,
    /// Files read back at the destination with the source's digest (`--verify`).
    pub verified: u64,
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
}

impl Traffic {
    /// Adds another connection's counts.
    pub fn add(&mut self, o: &Traffic) {
        self.sent += o.sent;
        self.wire_sent += o.wire_sent;
        self.received += o.received;
        self.wire_received += o.wire_received;
    }
}

impl Totals {
    /// Adds another job's counts.
    pub fn add(&mut self, o: &Totals) {
        self.scanned += o.scanned;
        self.created += o.created;
        self.updated += o.updated;
        self.dirs += o.dirs;
        self.links += o.links;
        self.meta += o.meta;
        self.deleted += o.deleted;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.literal += o.literal;
        self.matched += o.matched;
        self.verified += o.verified;
        self.traffic.add(&o.traffic);
    }
}

/// Counts one completed `action`.
pub(crate) fn count(totals: &mut Totals, action: Action) {
    match action {
        Action::Create => totals.created += 1,
        Action::Update => totals.updated += 1,
        Action::Mkdir => totals.dirs += 1,
        Action::Symlink | Action::HardLink => totals.links += 1,
        Action::Meta => totals.meta += 1,
        Action::Delete => totals.deleted += 1,
    }
}
