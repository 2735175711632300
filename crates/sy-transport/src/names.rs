//! Names of sy's own files in the destination: temporaries and kept partials.
//!
//! `.NAME.sy-tmp.XXXXXXXX` is a file being written; `.NAME.sy-partial` is the start of NAME's
//! new content kept after an interruption; `.NAME.sy-old.XXXXXXXX` is NAME's old version moved
//! aside for a moment where a rename cannot replace a file (SFTP without `posix-rename`). All are
//! recognisable, so a scan never mistakes them for real files and a later run can tidy or reuse
//! them (an aside counts as a temporary).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::LeftoverKind;

const TEMP_MARK: &[u8] = b".sy-tmp.";
const ASIDE_MARK: &[u8] = b".sy-old.";
const PARTIAL_SUFFIX: &[u8] = b".sy-partial";
/// Longest file name most file systems accept.
const NAME_MAX: usize = 255;

/// A fresh temporary name for `name` in the same directory. Names too long to decorate get a
/// bare `.sy-tmp.XXXX` (still recognisable, just not attributable to their file).
pub(crate) fn temp_name(name: &[u8]) -> Vec<u8> {
    marked_name(name, TEMP_MARK)
}

/// A fresh name to move `name`'s old version aside to, in the same directory (bare
/// `.sy-old.XXXX` for names too long to decorate).
pub(crate) fn aside_name(name: &[u8]) -> Vec<u8> {
    marked_name(name, ASIDE_MARK)
}

/// True for a name made by [`aside_name`].
pub(crate) fn is_aside(name: &[u8]) -> bool {
    random_marked(name, ASIDE_MARK).is_some()
}

fn marked_name(name: &[u8], mark: &[u8]) -> Vec<u8> {
    let suffix = format!("{:016x}", next_random());
    let mut out = Vec::with_capacity(name.len() + 26);
    out.push(b'.');
    if name.len() + 1 + mark.len() + suffix.len() <= NAME_MAX {
        out.extend_from_slice(name);
    }
    out.extend_from_slice(mark);
    out.extend_from_slice(suffix.as_bytes());
    out
}

/// For `.NAME{mark}XXXX` (16 hex digits), the NAME part, possibly empty.
fn random_marked<'a>(name: &'a [u8], mark: &[u8]) -> Option<&'a [u8]> {
    let rest = name.strip_prefix(b".")?;
    let at = rest.windows(mark.len()).rposition(|w| w == mark)?;
    let suffix = &rest[at + mark.len()..];
    (suffix.len() == 16 && suffix.iter().all(u8::is_ascii_hexdigit)).then_some(&rest[..at])
}

/// The partial's name for `name`, or `None` when it would be too long to exist.
pub(crate) fn partial_name(name: &[u8]) -> Option<Vec<u8>> {
    if name.len() + 1 + PARTIAL_SUFFIX.len() > NAME_MAX {
        return None;
    }
    let mut out = Vec::with_capacity(name.len() + 12);
    out.push(b'.');
    out.extend_from_slice(name);
    out.extend_from_slice(PARTIAL_SUFFIX);
    Some(out)
}

/// Recognises a leftover name; returns its kind and the file name it belongs to, if known.
pub(crate) fn parse_leftover(name: &[u8]) -> Option<(LeftoverKind, Option<&[u8]>)> {
    let rest = name.strip_prefix(b".")?;
    if let Some(file) = rest.strip_suffix(PARTIAL_SUFFIX) {
        return (!file.is_empty()).then_some((LeftoverKind::Partial, Some(file)));
    }
    let file = random_marked(name, TEMP_MARK).or_else(|| random_marked(name, ASIDE_MARK))?;
    Some((LeftoverKind::Temp, (!file.is_empty()).then_some(file)))
}

/// Unpredictable enough to avoid collisions between concurrent writers; `O_EXCL` settles the rest.
fn next_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_and_partial_names_round_trip() {
        let t = temp_name(b"file.txt");
        assert!(t.starts_with(b".file.txt.sy-tmp."));
        assert_eq!(
            parse_leftover(&t),
            Some((LeftoverKind::Temp, Some(&b"file.txt"[..])))
        );
        let p = partial_name(b"file.txt").unwrap();
        assert_eq!(p, b".file.txt.sy-partial");
        assert_eq!(
            parse_leftover(&p),
            Some((LeftoverKind::Partial, Some(&b"file.txt"[..])))
        );
        assert_ne!(temp_name(b"a"), temp_name(b"a"));
    }

    #[test]
    fn an_old_version_moved_aside_is_a_temporary_of_its_file() {
        let aside = aside_name(b"file.txt");
        assert!(aside.starts_with(b".file.txt.sy-old."));
        assert!(is_aside(&aside));
        assert!(!is_aside(&temp_name(b"file.txt")));
        assert_eq!(
            parse_leftover(&aside),
            Some((LeftoverKind::Temp, Some(&b"file.txt"[..])))
        );
        let long = vec![b'x'; 250];
        assert_eq!(
            parse_leftover(&aside_name(&long)),
            Some((LeftoverKind::Temp, None))
        );
        assert_ne!(aside_name(b"a"), aside_name(b"a"));
    }

    #[test]
    fn long_names_get_anonymous_temps_and_no_partial() {
        let long = vec![b'x'; 250];
        let t = temp_name(&long);
        assert!(t.len() <= NAME_MAX);
        assert_eq!(parse_leftover(&t), Some((LeftoverKind::Temp, None)));
        assert_eq!(partial_name(&long), None);
    }

    #[test]
    fn ordinary_names_are_not_leftovers() {
        for name in [
            &b"file"[..],
            b".hidden",
            b".x.sy-tmp.notHex0000000000",
            b".x.sy-old.0123",
            b".sy-partial",
            b"a.sy-partial",
        ] {
            assert_eq!(parse_leftover(name), None, "{name:?}");
        }
    }
}
