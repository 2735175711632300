//! OpenSSH's host patterns (`match.c`): `*` matches any run of characters, `?` exactly one, and a
//! list of comma-separated patterns may exclude names with a leading `!`. Both `ssh_config` and
//! `known_hosts` use them, so both must agree on what a pattern means.

/// Whether `text` matches the single `pattern` (case-sensitive, no negation, no commas).
pub(crate) fn matches(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    glob(&text, &pattern)
}

/// Iterative wildcard match with one backtrack point: the classic linear-space algorithm, so a
/// hostile pattern like `*a*a*a*b` cannot make it exponential.
fn glob(text: &[char], pattern: &[char]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The outcome of matching a name against a pattern list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListMatch {
    /// A positive pattern matched and no negated one did.
    Matched,
    /// Nothing matched.
    NotMatched,
    /// A `!pattern` matched: the name is excluded whatever else matches.
    Negated,
}

/// Matches `text` against patterns, each optionally negated with `!` (OpenSSH's
/// `match_pattern_list`). A negated match wins over any positive one.
pub(crate) fn match_list<'a>(text: &str, patterns: impl IntoIterator<Item = &'a str>) -> ListMatch {
    let mut result = ListMatch::NotMatched;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) if matches(text, negated) => return ListMatch::Negated,
            Some(_) => {}
            None if matches(text, pattern) => result = ListMatch::Matched,
            None => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("host.example.com", "*.example.com"));
        assert!(matches("host.example.com", "host.example.???"));
        assert!(!matches("host.example.org", "*.example.com"));
        assert!(matches("", "*"));
        assert!(!matches("", "?"));
        assert!(matches("abc", "a*c"));
        assert!(matches("aXbXc", "a*b*c"));
        assert!(!matches("abcd", "a*c"));
        assert!(matches("Host", "Host"));
        assert!(
            !matches("host", "Host"),
            "single patterns are case-sensitive"
        );
        assert!(!matches(&"a".repeat(60), &format!("{}b", "*a".repeat(30))));
    }

    #[test]
    fn lists_with_negation() {
        let list = ["*.example.com", "!secret.example.com"];
        assert_eq!(match_list("www.example.com", list), ListMatch::Matched);
        assert_eq!(match_list("secret.example.com", list), ListMatch::Negated);
        assert_eq!(match_list("example.org", list), ListMatch::NotMatched);
        assert_eq!(match_list("x", ["!y"]), ListMatch::NotMatched);
    }
}
