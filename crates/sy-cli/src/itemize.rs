//! `-i/--itemize-changes`: one line per change in rsync's default `-i` form, `%i %n%L` — the
//! eleven-letter change code (`>f.st......`, `cd+++++++++`, `*deleting  `), the name (a
//! directory's with a trailing `/`) and where a link leads (` -> target`, ` => other name`) —
//! so scripts that parse rsync's output read sy's.

use sy_engine::{Action, Change, LinkTo, MetaTarget, RelPath};

/// One change, in the three parts rsync's formats name: `%i`, `%n` and `%L`.
pub struct Item {
    /// The eleven-letter change code (`>f.st......`; `*deleting  ` for a removal).
    pub code: String,
    /// The name, a directory's with a trailing `/`.
    pub name: String,
    /// ` -> target` for a symbolic link, ` => name` for a hard link, else empty.
    pub link: String,
}

/// The line for `action` on `path`, changed as `change` says: `%i %n%L`.
pub fn line(action: Action, path: &RelPath, change: Option<&Change>) -> String {
    let Item { code, name, link } = item(action, path, change);
    format!("{code} {name}{link}")
}

/// The parts of the line for `action` on `path`.
pub fn item(action: Action, path: &RelPath, change: Option<&Change>) -> Item {
    let kind = change.map_or(
        match action {
            Action::Mkdir => MetaTarget::Dir,
            Action::Symlink => MetaTarget::Symlink,
            _ => MetaTarget::File,
        },
        |c| c.kind,
    );
    let name = name(path, kind);
    let link = match change.and_then(|c| c.link.as_ref()) {
        Some(LinkTo::Symlink(target)) => format!(" -> {}", shown(target)),
        Some(LinkTo::HardLink(other)) => format!(" => {other}"),
        _ => String::new(),
    };
    let code = if action == Action::Delete {
        "*deleting  ".to_owned()
    } else {
        code(action, kind, change)
    };
    Item { code, name, link }
}

/// The code of a change other than a removal.
fn code(action: Action, kind: MetaTarget, change: Option<&Change>) -> String {
    let update = match action {
        Action::Create | Action::Update => '>',
        Action::Mkdir | Action::Symlink => 'c',
        Action::HardLink => 'h',
        _ => '.',
    };
    let kind_letter = match kind {
        MetaTarget::Dir => 'd',
        MetaTarget::Symlink => 'L',
        _ => 'f',
    };
    let mut out = format!("{update}{kind_letter}");
    let created = change.map_or(
        matches!(
            action,
            Action::Create | Action::Mkdir | Action::Symlink | Action::HardLink
        ),
        |c| c.created,
    );
    if created {
        out.push_str("+++++++++");
        return out;
    }
    let c = change;
    for (letter, set) in [
        ('c', c.is_some_and(|c| c.content)),
        ('s', c.is_some_and(|c| c.size)),
        ('t', c.is_some_and(|c| c.time)),
        ('p', c.is_some_and(|c| c.perms)),
        ('o', c.is_some_and(|c| c.owner)),
        ('g', c.is_some_and(|c| c.group)),
        // Access times, ACLs, extended attributes: sy keeps none of them.
        ('u', false),
        ('a', false),
        ('x', false),
    ] {
        out.push(if set { letter } else { '.' });
    }
    out
}

/// A path as rsync names it: a directory's with a trailing slash, the top one as `./`.
fn name(path: &RelPath, kind: MetaTarget) -> String {
    if kind == MetaTarget::Dir {
        format!("{path}/")
    } else {
        path.to_string()
    }
}

/// A link target for a terminal: invalid UTF-8 replaced, control characters escaped.
fn shown(target: &[u8]) -> String {
    String::from_utf8_lossy(target)
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn codes_without_a_change_follow_the_action() {
        assert_eq!(line(Action::Create, &p("a"), None), ">f+++++++++ a");
        assert_eq!(line(Action::Mkdir, &p("d"), None), "cd+++++++++ d/");
        assert_eq!(line(Action::Update, &p("a"), None), ">f......... a");
        assert_eq!(line(Action::Delete, &p("x"), None), "*deleting   x");
    }
}
