//! Expanding `~`, `${VAR}` and `%` tokens in paths from `ssh_config`, and finding out who the
//! local user is.

use std::fs;
use std::path::PathBuf;

use super::config::LocalUser;

/// The values `%` tokens stand for (see TOKENS in ssh_config(5)).
pub(crate) struct Tokens<'a> {
    pub(crate) local: &'a LocalUser,
    /// `%r`
    pub(crate) remote_user: &'a str,
    /// `%h`
    pub(crate) host_name: &'a str,
    /// `%p`
    pub(crate) port: u16,
    /// `%n`: the name as typed.
    pub(crate) original_host: &'a str,
    /// `%k`: `HostKeyAlias` if set, else the name as typed, as in OpenSSH.
    pub(crate) key_alias: &'a str,
}

impl Tokens<'_> {
    /// Expands a path as OpenSSH does for IdentityFile, UserKnownHostsFile and IdentityAgent:
    /// a leading `~`, then `${VAR}`, then `%` tokens. What cannot be expanded (`~user`, an unset
    /// variable, `%C`, `%l`, `%L`, `%j` or an unknown token) is left as written with a warning, so
    /// the path names no real file instead of a wrong one.
    pub(crate) fn path(&self, keyword: &str, raw: &str) -> PathBuf {
        let tilde = if raw == "~" {
            self.local.home.to_string_lossy().into_owned()
        } else if let Some(rest) = raw.strip_prefix("~/") {
            self.local.home.join(rest).to_string_lossy().into_owned()
        } else {
            if raw.starts_with('~') {
                tracing::warn!("{keyword} {raw}: sy expands only ~ and ~/, not ~user");
            }
            raw.to_owned()
        };
        PathBuf::from(self.percent(keyword, &environment(keyword, &tilde)))
    }

    /// The tokens of the connection that sy expands (`%C`, `%j`, `%l`, `%L` are not).
    pub(crate) const NAMES: &'static str = "dhiknpru";

    /// What `%token` stands for, if it is one of [`NAMES`](Tokens::NAMES).
    pub(crate) fn value(&self, token: char) -> Option<String> {
        Some(match token {
            'd' => self.local.home.to_string_lossy().into_owned(),
            'u' => self.local.name.clone(),
            'i' => self.local.uid.to_string(),
            'r' => self.remote_user.to_owned(),
            'h' => self.host_name.to_owned(),
            'p' => self.port.to_string(),
            'n' => self.original_host.to_owned(),
            'k' => self.key_alias.to_owned(),
            _ => return None,
        })
    }

    /// Expands `%` tokens.
    pub(crate) fn percent(&self, keyword: &str, raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                other => match other.and_then(|token| self.value(token)) {
                    Some(value) => out.push_str(&value),
                    None => {
                        let token = other.map(String::from).unwrap_or_default();
                        tracing::warn!("{keyword} {raw}: sy does not expand %{token}; left as is");
                        out.push('%');
                        out.push_str(&token);
                    }
                },
            }
        }
        out
    }
}

/// Expands `${VAR}` from the environment.
fn environment(keyword: &str, raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match std::env::var(&after[..end]) {
            Ok(value) => out.push_str(&value),
            Err(_) => {
                tracing::warn!(
                    "{keyword} {raw}: environment variable {} is not set",
                    &after[..end]
                );
                out.push_str(&rest[start..start + 3 + end]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl LocalUser {
    /// The user running this process: name from `$USER`, `$LOGNAME` or the passwd entry of the
    /// real uid; home from `$HOME` or the passwd database (`std::env::home_dir`).
    pub fn current() -> LocalUser {
        let uid = rustix::process::getuid().as_raw();
        let from_env = |name| {
            std::env::var(name)
                .ok()
                .filter(|value: &String| !value.is_empty())
        };
        let name = from_env("USER")
            .or_else(|| from_env("LOGNAME"))
            .or_else(|| passwd_name(uid))
            .unwrap_or_else(|| uid.to_string());
        let home = std::env::home_dir()
            .filter(|home| !home.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("/"));
        LocalUser { name, home, uid }
    }
}

/// The login name of `uid` from `/etc/passwd`: enough where `$USER` is unset (cron, containers);
/// users known only through NSS need `$USER`.
fn passwd_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, entry_uid, ..] if entry_uid.parse() == Ok(uid) => Some((*name).to_owned()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_has_a_name_and_a_home() {
        let me = LocalUser::current();
        assert_eq!(me.uid, rustix::process::getuid().as_raw());
        assert!(me.home.is_absolute(), "{me:?}");
        let expected = std::env::var("USER")
            .ok()
            .filter(|user| !user.is_empty())
            .or_else(|| {
                std::env::var("LOGNAME")
                    .ok()
                    .filter(|name| !name.is_empty())
            })
            .or_else(|| passwd_name(me.uid))
            .unwrap_or_else(|| me.uid.to_string());
        assert_eq!(me.name, expected);
    }

    #[test]
    fn environment_variables() {
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(environment("K", "${HOME}/x"), format!("{home}/x"));
        let unset = "${SY_TEST_SURELY_UNSET_VARIABLE}/x";
        assert_eq!(environment("K", unset), unset);
        assert_eq!(environment("K", "a${b"), "a${b");
    }
}
