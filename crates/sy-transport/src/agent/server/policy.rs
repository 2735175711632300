//! What a client may ask of a restricted agent (`sy-remote --read-only`, `--write-only`,
//! `--restrict`), beyond the checks every agent makes on every path.
//!
//! - Read-only: every change to the tree — a pushed file, a delta, a tree operation — is
//!   refused. Scans, reads, signatures and checksums are served.
//! - Write-only: file contents never leave — reads and delta reads (pulls) are refused. What a
//!   push needs of the destination is still served, as rsync's receiver (and so `rrsync -wo`)
//!   gives it: the scan (names, sizes, times, modes), block signatures of files to update, and
//!   whole-file digests for `--checksum`.
//! - Links confined: a symbolic link is created only if its target, read as words, stays
//!   beneath the served directory (not absolute, and no `..` climbing above it) — rsync's
//!   `--safe-links` rule, except that an unsafe link is refused with an error rather than
//!   skipped. A link already in the tree is never followed out of it either way
//!   ([`crate::Local::open_confined`]).

use crate::{Error, RelPath, Result, TreeOp};

/// Which requests an agent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Reads and writes (the default).
    #[default]
    ReadWrite,
    /// Reads only: the tree is never changed (`sy-remote --read-only`).
    ReadOnly,
    /// Writes, and what a push needs to see of the destination, but never file contents
    /// (`sy-remote --write-only`).
    WriteOnly,
}

/// The checks of one session: its access and whether new links must stay beneath the root.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub(super) access: Access,
    pub(super) confine_new_links: bool,
}

impl Policy {
    /// Refuses sending the contents of `path` to a write-only agent's client.
    pub(super) fn read(&self, path: &RelPath) -> Result<()> {
        if self.access == Access::WriteOnly {
            return Err(Error::Refused {
                action: "reading",
                path: path.to_string(),
                reason: "this agent only receives files (--write-only)",
            });
        }
        Ok(())
    }

    /// Refuses writing `path` on a read-only agent.
    pub(super) fn write(&self, path: &RelPath) -> Result<()> {
        if self.access == Access::ReadOnly {
            return Err(Error::Refused {
                action: "writing",
                path: path.to_string(),
                reason: "this agent only sends files (--read-only)",
            });
        }
        Ok(())
    }

    /// Refuses a tree operation the agent does not allow.
    pub(super) fn tree_op(&self, op: &TreeOp) -> Result<()> {
        self.write(op.path())?;
        // A hard link to a symlink is that symlink at a new depth, where its words may lead
        // out: a restricted agent judges no link it cannot read, so it makes none.
        if let TreeOp::HardLink { path, .. } = op
            && self.confine_new_links
        {
            return Err(Error::Refused {
                action: "creating a hard link at",
                path: path.to_string(),
                reason: "this agent is restricted (--restrict) and makes no hard links (one to a \
                         symbolic link could point outside the served directory)",
            });
        }
        if let TreeOp::Symlink { path, target, .. } = op
            && self.confine_new_links
            && !stays_beneath(path, target)
        {
            return Err(Error::Refused {
                action: "creating a symbolic link at",
                path: path.to_string(),
                reason: "its target leads outside the served directory \
                         (absolute, or `..` above it) and this agent is restricted (--restrict)",
            });
        }
        Ok(())
    }
}

/// True if a link at `path` pointing to `target` names something beneath the root, judged by
/// the target's words: relative, and never climbing above the root with `..`.
fn stays_beneath(path: &RelPath, target: &[u8]) -> bool {
    if target.is_empty() || target.starts_with(b"/") {
        return false;
    }
    // The link's directory, counted in components below the root.
    let mut depth = path.depth().saturating_sub(1);
    for component in target.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_are_judged_from_the_links_directory() {
        let at = |p: &str| RelPath::new(p).unwrap();
        assert!(stays_beneath(&at("l"), b"a/b"));
        assert!(stays_beneath(&at("d/l"), b"../x"));
        assert!(stays_beneath(&at("d/e/l"), b"./../../x/./y"));
        assert!(!stays_beneath(&at("l"), b"../x"));
        assert!(!stays_beneath(&at("d/l"), b"../../x"));
        assert!(!stays_beneath(&at("d/l"), b"x/../../../y"));
        assert!(!stays_beneath(&at("d/l"), b"/etc/passwd"));
        assert!(!stays_beneath(&at("l"), b""));
    }

    #[test]
    fn a_restricted_agent_makes_no_hard_links() {
        let at = |p: &str| RelPath::new(p).unwrap();
        // `a/b/l -> ../../x` stays beneath the root; linked at the top it would not.
        let op = TreeOp::HardLink {
            path: at("l"),
            target: at("a/b/l"),
        };
        let restricted = Policy {
            access: Access::ReadWrite,
            confine_new_links: true,
        };
        let error = restricted.tree_op(&op).unwrap_err().to_string();
        assert!(error.contains("makes no hard links"), "{error}");
        let open = Policy {
            confine_new_links: false,
            ..restricted
        };
        assert!(open.tree_op(&op).is_ok());
    }
}
