//! `KnownHostsCommand` (ssh_config(5)): a program whose output is read as more known_hosts
//! lines, run as OpenSSH's `load_hostkeys_command` runs it.
//!
//! The command is split into words as `ssh_config` lines are (quotes and backslash escapes; no
//! shell). The first word is the program, an absolute path, not expanded; in the others
//! `${VAR}` and `%` tokens are expanded in one pass: those of the connection (`%d %h %i %k %n %p
//! %r %u`) and `%H` (the name looked up: host, `[host]:port`, alias or address), `%I` (why it
//! runs: `ORDER`, `HOSTNAME` or `ADDRESS`), `%t`, `%f` and `%K` (the key's type, SHA256
//! fingerprint and base64; `NONE` for `ORDER`, which runs before there is a key). Its stdin is
//! `/dev/null`, its stderr the user's, its environment sy's. It runs to its end (as in OpenSSH,
//! there is no time limit), and what it prints is read up to [`MAX_OUTPUT`] bytes.
//!
//! A failure refuses the host: a non-zero exit (as in OpenSSH), and also what OpenSSH only
//! reports before going on without the command's keys (a relative program, a token or variable
//! without a value, bad quotes) or never checks (output over the limit), since a key the
//! command would have vouched for, or revoked, would be missing.

use std::io::Read;
use std::process::{Command, Stdio};

use russh::keys::ssh_key::{HashAlg, PublicKey};

use super::config_expand::Tokens;
use super::config_syntax::split_words;
use super::known_hosts::KnownHostsError;

/// The most output read: known_hosts lines are a few hundred bytes each.
pub(crate) const MAX_OUTPUT: u64 = 1 << 20;

/// Why the command runs (its `%I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// Before the key exchange, to learn which key types are on record (no key yet).
    Order,
    /// To check the host's key under its name.
    HostName,
    /// To check the key under the server's address (`CheckHostIP`).
    Address,
}

impl Invocation {
    fn as_str(self) -> &'static str {
        match self {
            Invocation::Order => "ORDER",
            Invocation::HostName => "HOSTNAME",
            Invocation::Address => "ADDRESS",
        }
    }
}

/// A `KnownHostsCommand` with the connection's `%` tokens, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsCommand {
    written: String,
    /// The connection's `%` tokens and their values.
    tokens: Vec<(char, String)>,
}

impl KnownHostsCommand {
    /// `written` (the rest of the config line), to be expanded with `tokens`.
    pub(crate) fn new(written: String, tokens: &Tokens<'_>) -> KnownHostsCommand {
        let tokens = Tokens::NAMES
            .chars()
            .filter_map(|token| tokens.value(token).map(|value| (token, value)))
            .collect();
        KnownHostsCommand { written, tokens }
    }

    /// The command as written in the config.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Runs the command for the host known as `name`, which presents `key` (`None` for
    /// [`Invocation::Order`]); what it printed.
    pub(crate) fn output(
        &self,
        invocation: Invocation,
        name: &str,
        key: Option<&PublicKey>,
    ) -> Result<String, KnownHostsError> {
        let failed = |reason: String| KnownHostsError::Command {
            command: self.written.clone(),
            reason,
        };
        let words = split_words(&self.written, false).map_err(failed)?;
        let Some((program, args)) = words.split_first() else {
            return Err(failed("it names no program".to_owned()));
        };
        if !program.starts_with('/') {
            return Err(failed(format!("{program} is not an absolute path")));
        }
        let (kind, fingerprint, base64) = match key {
            Some(key) => (
                key.algorithm().to_string(),
                key.fingerprint(HashAlg::Sha256).to_string(),
                key_base64(key).map_err(failed)?,
            ),
            None => ("NONE".to_owned(), "NONE".to_owned(), "NONE".to_owned()),
        };
        let value = |token: char| -> Option<String> {
            match token {
                'H' => Some(name.to_owned()),
                'I' => Some(invocation.as_str().to_owned()),
                't' => Some(kind.clone()),
                'f' => Some(fingerprint.clone()),
                'K' => Some(base64.clone()),
                _ => self
                    .tokens
                    .iter()
                    .find(|(known, _)| *known == token)
                    .map(|(_, value)| value.clone()),
            }
        };
        let args = args
            .iter()
            .map(|arg| expand(arg, &value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let mut child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
        let mut output = Vec::new();
        let read = match child.stdout.take() {
            Some(stdout) => stdout.take(MAX_OUTPUT + 1).read_to_end(&mut output),
            None => Ok(0),
        };
        if output.len() as u64 > MAX_OUTPUT {
            // Ours to end: it would otherwise block on a full pipe forever.
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!("it printed more than {MAX_OUTPUT} bytes")));
        }
        let status = child
            .wait()
            .map_err(|e| failed(format!("cannot wait for it: {e}")))?;
        read.map_err(|e| failed(format!("cannot read what it printed: {e}")))?;
        if !status.success() {
            return Err(failed(format!("it ended with {status}")));
        }
        Ok(String::from_utf8_lossy(&output).into_owned())
    }
}

/// The key's base64 blob, as in a known_hosts line.
fn key_base64(key: &PublicKey) -> Result<String, String> {
    let line = key
        .to_openssh()
        .map_err(|e| format!("cannot encode the host key: {e}"))?;
    line.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| "cannot encode the host key".to_owned())
}

/// OpenSSH's `percent_dollar_expand`: `${VAR}` from the environment and `%` tokens in one pass;
/// an unset variable or a token without a value is an error.
fn expand(raw: &str, value: &impl Fn(char) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("{raw}: ${{ without a closing }}"))?;
            let variable = &after[..end];
            let set = std::env::var(variable)
                .map_err(|_| format!("{raw}: environment variable {variable:?} is not set"))?;
            out.push_str(&set);
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('%') {
            let mut chars = after.chars();
            match chars.next() {
                Some('%') => out.push('%'),
                Some(token) => out.push_str(
                    &value(token).ok_or_else(|| format!("{raw}: sy does not expand %{token}"))?,
                ),
                None => return Err(format!("{raw}: a % ends it")),
            }
            rest = chars.as_str();
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "known_hosts_command_tests.rs"]
mod tests;
