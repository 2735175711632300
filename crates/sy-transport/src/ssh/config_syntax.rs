//! The lexical layer of `ssh_config`: splitting a line into a keyword and its arguments the way
//! OpenSSH's `readconf.c` does, and parsing the value types (flags, times, ports, jump hosts).
//! Every function returns a plain message; the caller adds the file and line.

use std::time::Duration;

use super::config::JumpHost;

/// One meaningful line: a lower-cased keyword and its arguments, quotes removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) keyword: String,
    pub(crate) args: Vec<String>,
}

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// Splits one line. `Ok(None)` for blank lines and comments.
///
/// The keyword ends at whitespace or `=`, and one `=` with any whitespace around it separates it
/// from the arguments (`Port=22`, `Port = 22`, `Port\t22`). Arguments follow `argv_split`:
/// whitespace-separated, `"…"` or `'…'` quoting, backslash escapes of quotes, backslashes and
/// spaces, and a `#` at the start of an argument ends the line.
pub(crate) fn split_line(line: &str) -> Result<Option<Line>, String> {
    let line = line.trim_start_matches(WHITESPACE);
    let line = line.trim_end_matches(|c| WHITESPACE.contains(&c) || c == '\x0c');
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let keyword_end = line
        .find(|c: char| WHITESPACE.contains(&c) || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(keyword_end);
    let rest = rest.trim_start_matches(WHITESPACE);
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let args = split_words(rest.trim_start_matches(WHITESPACE), true)?;
    if args.is_empty() {
        return Err(format!("no argument after keyword \"{keyword}\""));
    }
    Ok(Some(Line {
        keyword: keyword.to_ascii_lowercase(),
        args,
    }))
}

/// OpenSSH's `argv_split`: with `comments`, a `#` at the start of a word ends the text.
pub(crate) fn split_words(text: &str, comments: bool) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|&c| c == ' ' || c == '\t').is_some() {}
        match chars.peek() {
            None => return Ok(args),
            Some('#') if comments => return Ok(args),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            }
            chars.next();
            match (c, quote) {
                ('\\', _) => match chars.peek() {
                    Some(&next @ ('\'' | '"' | '\\')) => {
                        arg.push(next);
                        chars.next();
                    }
                    Some(' ') if quote.is_none() => {
                        arg.push(' ');
                        chars.next();
                    }
                    _ => arg.push('\\'),
                },
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(open)) if c == open => quote = None,
                (c, _) => arg.push(c),
            }
        }
        if quote.is_some() {
            return Err("invalid quotes".to_owned());
        }
        args.push(arg);
    }
}

/// The one argument of a single-valued keyword; extra arguments are an error, as in OpenSSH.
pub(crate) fn single<'a>(keyword: &str, args: &'a [String]) -> Result<&'a str, String> {
    match args {
        [value] => Ok(value),
        _ => Err(format!(
            "{keyword} takes one value, found {}: {}",
            args.len(),
            args.join(" ")
        )),
    }
}

/// `yes`/`true` or `no`/`false`, any case.
pub(crate) fn flag(keyword: &str, value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") || value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("{keyword} needs yes or no, not \"{value}\""))
    }
}

/// A port number, 1 to 65535.
pub(crate) fn port(keyword: &str, value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!(
            "{keyword} needs a number from 1 to 65535, not \"{value}\""
        )),
    }
}

/// A non-negative integer.
pub(crate) fn count(keyword: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| format!("{keyword} needs a number, not \"{value}\""))
}

/// OpenSSH's `convtime`: seconds, or a sequence of numbers with `s`, `m`, `h`, `d` or `w`
/// suffixes (`90`, `1m30s`, `2h`). Zero (or `none`) means "not set" and gives `None`.
pub(crate) fn time(keyword: &str, value: &str) -> Result<Option<Duration>, String> {
    let invalid = || format!("{keyword} needs a time such as 30, 90s or 1m30s, not \"{value}\"");
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if value.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let mut unit_chars = rest[digits..].chars();
        let multiplier = match unit_chars.next().map(|c| c.to_ascii_lowercase()) {
            None => 1,
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            Some('w') => 604_800,
            Some(_) => return Err(invalid()),
        };
        total = number
            .checked_mul(multiplier)
            .and_then(|seconds| total.checked_add(seconds))
            .filter(|&seconds| seconds <= i32::MAX as u64)
            .ok_or_else(invalid)?;
        rest = unit_chars.as_str();
    }
    Ok((total > 0).then(|| Duration::from_secs(total)))
}

/// One `ProxyJump` hop: `[user@]host[:port]`, `[user@][v6addr]:port` or
/// `ssh://[user@]host[:port]`.
pub(crate) fn jump_host(spec: &str) -> Result<JumpHost, String> {
    let invalid = |why: &str| format!("ProxyJump: invalid hop \"{spec}\": {why}");
    let rest = match spec.strip_prefix("ssh://") {
        Some(uri) => uri.strip_suffix('/').unwrap_or(uri),
        None => spec,
    };
    let (user, host_port) = match rest.rsplit_once('@') {
        Some(("", _)) => return Err(invalid("empty user name")),
        Some((user, host_port)) => (Some(user.to_owned()), host_port),
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("missing ']'"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(invalid("unexpected text after ']'")),
            },
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || host.contains('/') {
        return Err(invalid("no host name"));
    }
    let port = port.map(|port| self::port("ProxyJump", port)).transpose()?;
    Ok(JumpHost {
        user,
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Option<(String, Vec<String>)> {
        split_line(line)
            .unwrap()
            .map(|line| (line.keyword, line.args))
    }

    fn parts(keyword: &str, args: &[&str]) -> Option<(String, Vec<String>)> {
        Some((
            keyword.to_owned(),
            args.iter().map(|arg| (*arg).to_owned()).collect(),
        ))
    }

    #[test]
    fn keyword_separators() {
        for line in [
            "Port 22",
            "Port=22",
            "Port = 22",
            "\tPort\t=\t22\t",
            "PORT   22 # c",
        ] {
            assert_eq!(split(line), parts("port", &["22"]), "{line:?}");
        }
        assert_eq!(split("   "), None);
        assert_eq!(split("  # Port 22"), None);
        assert_eq!(
            split("SendEnv LANG LC_*"),
            parts("sendenv", &["LANG", "LC_*"])
        );
    }

    #[test]
    fn quoting_and_comments_in_arguments() {
        assert_eq!(split(r#"User "a b" c"#), parts("user", &["a b", "c"]));
        assert_eq!(split("User 'a \"b\"'"), parts("user", &["a \"b\""]));
        assert_eq!(split(r"User a\ b\\c\q"), parts("user", &[r"a b\c\q"]));
        assert_eq!(split("User a#b #rest"), parts("user", &["a#b"]));
        assert_eq!(
            split(r##"User "#not a comment""##),
            parts("user", &["#not a comment"])
        );
        assert_eq!(split(r#"User x=y"#), parts("user", &["x=y"]));
        assert_eq!(split_line("User \"open").unwrap_err(), "invalid quotes");
        assert!(split_line("User # nothing").is_err());
    }

    #[test]
    fn times() {
        let secs = |text| time("T", text).unwrap().map(|d| d.as_secs());
        assert_eq!(secs("30"), Some(30));
        assert_eq!(secs("30s"), Some(30));
        assert_eq!(secs("1M"), Some(60));
        assert_eq!(secs("1h30m5s"), Some(5405));
        assert_eq!(secs("1w1d"), Some(691_200));
        assert_eq!(secs("0"), None);
        for bad in ["", "s", "1x", "-5", "1.5", "99999999999"] {
            assert!(time("T", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(port("Port", "65535"), Ok(65535));
        assert!(port("Port", "0").is_err());
        assert!(port("Port", "ssh").is_err());
        assert_eq!(flag("F", "TRUE"), Ok(true));
        assert_eq!(flag("F", "no"), Ok(false));
        assert!(flag("F", "1").is_err());
        assert!(count("C", "-1").is_err());
        assert!(jump_host("host:").is_err());
        assert!(jump_host("[::1").is_err());
        assert!(jump_host("[::1]x").is_err());
        assert!(jump_host("ssh://host/path").is_err());
    }
}
