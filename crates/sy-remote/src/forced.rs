//! The client's request when `sy-remote --restrict` runs as an `authorized_keys` forced
//! command: sshd ran the administrator's command line and left the one the client sent —
//! `sy-remote [--mkdir] -- 'dir'`, as `sy` builds it — in `SSH_ORIGINAL_COMMAND`. Its words are
//! read like a shell would split them, its first word (the program the client asked for) is
//! ignored, and the rest may only be what a client sends: no restriction option can be
//! loosened from there.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::Parser;

use crate::Request;
use crate::error::AgentError;

/// The request in `original` (the value of `SSH_ORIGINAL_COMMAND`).
pub(crate) fn client_request(original: &OsStr) -> Result<Request, AgentError> {
    let Some(text) = original.to_str() else {
        return Err(AgentError::Request(
            "the client's command (SSH_ORIGINAL_COMMAND) is not UTF-8".to_owned(),
        ));
    };
    let Some(words) = shlex::split(text) else {
        return Err(AgentError::Request(format!(
            "the client's command (SSH_ORIGINAL_COMMAND) has unbalanced quotes: {text:?}"
        )));
    };
    let Some((_program, args)) = words.split_first() else {
        return Err(AgentError::Request(
            "the client sent no command: a restricted key only runs sy-remote for sy".to_owned(),
        ));
    };
    let mut request = Request::try_parse_from(
        std::iter::once("sy-remote").chain(args.iter().map(String::as_str)),
    )
    .map_err(|source| AgentError::ClientCommand {
        command: text.to_owned(),
        source,
    })?;
    request.root = request.root.map(home_is_the_top);
    Ok(request)
}

/// `~` and `~/dir` (left for a login shell to expand, which a forced command does not have)
/// name the restricted directory and `dir` beneath it.
fn home_is_the_top(root: PathBuf) -> PathBuf {
    match root.to_str() {
        Some("~") => PathBuf::from("."),
        Some(word) => match word.strip_prefix("~/") {
            Some(rest) => PathBuf::from(if rest.is_empty() { "." } else { rest }),
            None => root,
        },
        None => root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(command: &str) -> Result<(PathBuf, bool), AgentError> {
        let request = client_request(OsStr::new(command))?;
        Ok((request.root.unwrap_or_default(), request.mkdir))
    }

    #[test]
    fn the_command_sy_sends_is_read_back_word_for_word() {
        assert_eq!(
            root_of("sy-remote --mkdir -- 'my dir'").unwrap(),
            (PathBuf::from("my dir"), true)
        );
        assert_eq!(
            root_of("/opt/sy-remote -- ~/'a b'").unwrap(),
            (PathBuf::from("a b"), false)
        );
        assert_eq!(
            root_of("sy-remote -- ~").unwrap(),
            (PathBuf::from("."), false)
        );
        assert_eq!(
            root_of("sy-remote -- --restrict").unwrap(),
            (PathBuf::from("--restrict"), false)
        );
    }

    #[test]
    fn restriction_options_cannot_come_from_the_client() {
        for command in [
            "sy-remote --restrict / -- x",
            "sy-remote --read-only -- x",
            "sh -c 'cat /etc/passwd'",
            "sy-remote -- 'unbalanced",
            "",
        ] {
            assert!(root_of(command).is_err(), "{command:?}");
        }
    }
}
