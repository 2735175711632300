//! `--log-file FILE`: an audit log in the form of rsync's `--log-file`. Every line starts with
//! the local time and sy's process id (`2026/12/08 01:02:03 [4242] `); then comes one line per
//! change (`>f+++++++++ docs/a.txt`, as `--log-file-format` says: rsync's `%i %n%L` by
//! default), every error and warning with its path, and a closing line with the totals and the
//! exit status.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use sy_engine::{Action, Done, RelPath, Totals};

use crate::config::UsageError;
use crate::exit::Exit;
use crate::itemize;

/// rsync's default `--log-file-format`.
const DEFAULT_FORMAT: &str = "%i %n%L";

/// The open log.
pub struct AuditLog {
    file: Mutex<File>,
    pid: u32,
    format: Vec<Piece>,
}

/// A part of `--log-file-format`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `%i`: the itemized change code.
    Itemized,
    /// `%n`: the name (a directory's with a trailing `/`).
    Name,
    /// `%L`: ` -> target` for a symbolic link, ` => name` for a hard link.
    Link,
    /// `%l`: the length of the file.
    Length,
    /// `%b`: the bytes sent for it (literal data).
    Bytes,
    /// `%o`: the operation, `recv` or `del.`.
    Operation,
    /// `%p`: the process id.
    Pid,
    /// `%t`: the time.
    Time,
}

impl AuditLog {
    /// Opens `path` for appending, with `format` (`--log-file-format`) for change lines.
    pub fn open(path: &Path, format: Option<&str>) -> Result<AuditLog, UsageError> {
        let format = parse_format(format.unwrap_or(DEFAULT_FORMAT))?;
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| UsageError(format!("opening log file {}: {e}", path.display())))?;
        Ok(AuditLog {
            file: Mutex::new(file),
            pid: std::process::id(),
            format,
        })
    }

    /// One line, after the time and the process id. A log that cannot be written loses the
    /// line; the sync goes on.
    fn line(&self, text: &str) {
        let line = format!("{} [{}] {text}\n", local_time(), self.pid);
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// `action` done on `path`.
    pub fn change(&self, action: Action, path: &RelPath, done: &Done) {
        let itemize::Item { code, name, link } = itemize::item(action, path, done.change.as_ref());
        let mut text = String::new();
        for piece in &self.format {
            let _ = match piece {
                Piece::Text(t) => write!(text, "{t}"),
                Piece::Itemized => write!(text, "{code}"),
                Piece::Name => write!(text, "{name}"),
                Piece::Link => write!(text, "{link}"),
                Piece::Length => write!(text, "{}", done.literal + done.matched),
                Piece::Bytes => write!(text, "{}", done.literal),
                Piece::Operation => write!(
                    text,
                    "{}",
                    if action == Action::Delete {
                        "del."
                    } else {
                        "recv"
                    }
                ),
                Piece::Pid => write!(text, "{}", self.pid),
                Piece::Time => write!(text, "{}", local_time()),
            };
        }
        self.line(&text);
    }

    /// An error (its message names the path).
    pub fn error(&self, message: &str) {
        self.line(&format!("sy: error: {message}"));
    }

    /// A warning.
    pub fn warning(&self, message: &str) {
        self.line(&format!("sy: warning: {message}"));
    }

    /// The closing line: what the run did, and how it ended.
    pub fn finish(&self, totals: &Totals, exit: Exit) {
        self.line(&format!(
            "total: {} files written ({} created), {} deleted, {} failed, {} vanished; {} bytes \
             literal, {} matched; exit status {}",
            totals.files_written,
            totals.files_created,
            totals.deleted,
            totals.failed,
            totals.vanished,
            totals.bytes_literal,
            totals.bytes_matched,
            exit.code()
        ));
    }
}

/// `--log-file-format`'s text: rsync's `%` escapes that sy knows, `%%` for a percent sign.
fn parse_format(text: &str) -> Result<Vec<Piece>, UsageError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        let piece = match chars.next() {
            Some('%') => {
                literal.push('%');
                continue;
            }
            Some('i') => Piece::Itemized,
            Some('n' | 'f') => Piece::Name,
            Some('L') => Piece::Link,
            Some('l') => Piece::Length,
            Some('b') => Piece::Bytes,
            Some('o') => Piece::Operation,
            Some('p') => Piece::Pid,
            Some('t') => Piece::Time,
            other => {
                let shown = other.map_or_else(String::new, String::from);
                return Err(UsageError(format!(
                    "--log-file-format {text:?}: sy does not know %{shown} (it knows %i %n %f \
                     %L %l %b %o %p %t %%)"
                )));
            }
        };
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut literal)));
        }
        pieces.push(piece);
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// The local time as rsync's log shows it: `2026/12/08 01:02:03`.
fn local_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = libc::time_t::try_from(now).unwrap_or(0);
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the
    // call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return format!("@{now}");
        }
        tm
    };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_into_escapes_and_text() {
        assert_eq!(
            parse_format("%i %n%L").unwrap(),
            [
                Piece::Itemized,
                Piece::Text(" ".into()),
                Piece::Name,
                Piece::Link
            ]
        );
        assert_eq!(
            parse_format("100%% %o").unwrap(),
            [Piece::Text("100% ".into()), Piece::Operation]
        );
        let err = parse_format("%i %q").unwrap_err().to_string();
        assert!(err.contains("%q"), "{err}");
    }
}
