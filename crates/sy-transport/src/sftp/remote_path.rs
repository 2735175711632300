//! Remote paths as SFTP names them: absolute strings with `/` between components.

use crate::RelPath;

/// `rel` beneath the absolute remote `root`.
pub(super) fn join(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_owned()
    } else if root.ends_with('/') {
        format!("{root}{rel}")
    } else {
        format!("{root}/{rel}")
    }
}

/// The path beneath `root` that the remote path `remote` names, if it lies there: `root` must
/// be followed by a `/` or end `remote`, so `/srv/data` does not claim `/srv/database`.
pub(super) fn relative_to(root: &str, remote: &str) -> Option<RelPath> {
    let rest = remote.strip_prefix(root)?;
    let rest = if rest.is_empty() || root.ends_with('/') {
        rest
    } else {
        rest.strip_prefix('/')?
    };
    RelPath::new(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_paths_are_relative_to_their_root() {
        for root in ["/srv/data", "/srv/data/", "/"] {
            for rel in ["", "a", "a/b c"] {
                let remote = join(root, rel);
                assert_eq!(
                    relative_to(root, &remote),
                    Some(RelPath::new(rel).unwrap()),
                    "{root} + {rel}"
                );
            }
        }
    }

    #[test]
    fn a_sibling_that_shares_the_root_as_a_prefix_is_outside_it() {
        assert_eq!(relative_to("/srv/data", "/srv/database/x"), None);
        assert_eq!(relative_to("/srv/data", "/srv/data-old"), None);
        assert_eq!(relative_to("/srv/data", "/srv"), None);
    }
}
