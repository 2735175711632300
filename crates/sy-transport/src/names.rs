//! Names of sy's own files in the destination: temporaries and kept partials.
//!
//! `.NAME.sy-tmp.XXXXXXXXCCCCCCCC` is a file being written; `.NAME.CCCCCCCC.sy-partial` is the
//! start of NAME's new content kept after an interruption; `.NAME.sy-old.XXXXXXXXCCCCCCCC` is
//! NAME's old version moved aside for a moment where a rename cannot replace a file (SFTP
//! without `posix-rename`). `XXXXXXXX` is random and `CCCCCCCC` a check over the rest of the
//! name, so a scan recognises exactly the names sy made: a user's file that merely looks like
//! one (`.a.sy-partial`, `.a.sy-tmp.0123456789abcdef`) is an ordinary file, copied and never
//! tidied away. A later run can tidy or reuse sy's own (an aside counts as a temporary).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sy_delta::FileDigest;

use crate::LeftoverKind;

const TEMP_MARK: &[u8] = b".sy-tmp.";
const ASIDE_MARK: &[u8] = b".sy-old.";
const PARTIAL_SUFFIX: &[u8] = b".sy-partial";
/// Hex digits of the random part and of the check.
const HEX: usize = 8;
/// Longest file name most file systems accept.
const NAME_MAX: usize = 255;

/// A fresh temporary name for `name` in the same directory. Names too long to decorate get a
/// bare `.sy-tmp.XXXX` (still recognisable, just not attributable to their file).
pub fn temp_name(name: &[u8]) -> Vec<u8> {
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

/// Eight hex digits that only sy's own names carry: a digest of what the name says.
fn check(mark: &[u8], name: &[u8], random: &[u8]) -> [u8; HEX] {
    let mut hasher = FileDigest::hasher();
    hasher
        .update(b"sy leftover name\0")
        .update(mark)
        .update(name)
        .update(b"\0")
        .update(random);
    let digest = hasher.finalize();
    let mut out = [0; HEX];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest.as_bytes()) {
        pair.copy_from_slice(format!("{byte:02x}").as_bytes());
    }
    out
}

fn marked_name(name: &[u8], mark: &[u8]) -> Vec<u8> {
    let random = format!("{:08x}", next_random() as u32);
    let name = if name.len() + 1 + mark.len() + 2 * HEX <= NAME_MAX {
        name
    } else {
        b""
    };
    [
        b".",
        name,
        mark,
        random.as_bytes(),
        &check(mark, name, random.as_bytes()),
    ]
    .concat()
}

/// For `.NAME{mark}XXXXXXXXCCCCCCCC` with a valid check, the NAME part, possibly empty.
fn random_marked<'a>(name: &'a [u8], mark: &[u8]) -> Option<&'a [u8]> {
    let rest = name.strip_prefix(b".")?;
    let at = rest.windows(mark.len()).rposition(|w| w == mark)?;
    let suffix = &rest[at + mark.len()..];
    if suffix.len() != 2 * HEX {
        return None;
    }
    let (random, sum) = suffix.split_at(HEX);
    let file = &rest[..at];
    (random.iter().all(u8::is_ascii_hexdigit) && check(mark, file, random) == sum).then_some(file)
}

/// The partial's name for `name`, or `None` when it would be too long to exist.
pub fn partial_name(name: &[u8]) -> Option<Vec<u8>> {
    if name.len() + 2 + HEX + PARTIAL_SUFFIX.len() > NAME_MAX {
        return None;
    }
    let sum = check(PARTIAL_SUFFIX, name, b"");
    Some([b".", name, b".", &sum, PARTIAL_SUFFIX].concat())
}

/// Recognises a leftover name; returns its kind and the file name it belongs to, if known.
pub(crate) fn parse_leftover(name: &[u8]) -> Option<(LeftoverKind, Option<&[u8]>)> {
    let rest = name.strip_prefix(b".")?;
    if let Some(marked) = rest.strip_suffix(PARTIAL_SUFFIX) {
        let (file, sum) = marked.split_at_checked(marked.len().checked_sub(HEX + 1)?)?;
        let sum = sum.strip_prefix(b".")?;
        return (!file.is_empty() && check(PARTIAL_SUFFIX, file, b"") == sum)
            .then_some((LeftoverKind::Partial, Some(file)));
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
        assert_eq!(t.len(), b".file.txt.sy-tmp.".len() + 16);
        assert_eq!(
            parse_leftover(&t),
            Some((LeftoverKind::Temp, Some(&b"file.txt"[..])))
        );
        let p = partial_name(b"file.txt").unwrap();
        assert!(p.starts_with(b".file.txt.") && p.ends_with(b".sy-partial"));
        assert_eq!(p, partial_name(b"file.txt").unwrap(), "the same every run");
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
        let longest = vec![b'x'; NAME_MAX - 2 - HEX - PARTIAL_SUFFIX.len()];
        assert_eq!(partial_name(&longest).map(|p| p.len()), Some(NAME_MAX));
    }

    #[test]
    fn names_that_only_look_like_sys_are_not_leftovers() {
        let renamed = [&b".b"[..], &temp_name(b"a")[2..]].concat();
        let partial = partial_name(b"a").unwrap();
        let other_partial = [&b".b"[..], &partial[2..]].concat();
        for name in [
            &b"file"[..],
            b".hidden",
            b".x.sy-tmp.notHex0000000000",
            b".x.sy-tmp.0123456789abcdef",
            b".x.sy-old.0123",
            b".sy-partial",
            b"a.sy-partial",
            b".a.sy-partial",
            b".a.01234567.sy-partial",
            &renamed,
            &other_partial,
        ] {
            assert_eq!(
                parse_leftover(name),
                None,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
