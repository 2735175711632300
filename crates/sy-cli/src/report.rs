//! Output: `-v` lines, `--json` events, the `-P` bar, `--stats`. Only this module draws.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use sy_engine::{Action, Done, MetaTarget, Observer, Phase, Planned, RelPath, Retrying, Totals};

use crate::config::OutputOptions;
use crate::exit::Exit;
use crate::itemize;
use crate::log_file::AuditLog;
use crate::progress::{ProgressView, human_bytes};

/// Turns engine events into output.
pub struct Reporter {
    out: OutputOptions,
    dry_run: bool,
    view: Option<ProgressView>,
    stdout: Mutex<StdoutState>,
    /// `--log-file`.
    log: Option<AuditLog>,
}

struct StdoutState {
    /// The first write error (a closed pipe): later output is dropped, the error is reported.
    error: Option<io::Error>,
}

impl Reporter {
    /// A reporter for these options; progress only as `-P` asks, never with `-q` or `--json`.
    pub fn new(out: OutputOptions, dry_run: bool, log: Option<AuditLog>) -> Reporter {
        let view = if out.quiet || out.json {
            None
        } else {
            ProgressView::new(out.progress)
        };
        Reporter {
            out,
            dry_run,
            view,
            stdout: Mutex::new(StdoutState { error: None }),
            log,
        }
    }

    /// The request could not be carried out at all (`message` says why): said on stderr, and
    /// in the log with the exit status.
    pub fn refused(&self, message: &str, exit: Exit) {
        self.eprint(&format!("sy: error: {message}"));
        if let Some(log) = &self.log {
            log.error(message);
            log.finish(&Totals::default(), exit);
        }
    }

    fn print(&self, line: &str) {
        let Ok(mut state) = self.stdout.lock() else {
            return;
        };
        if state.error.is_some() {
            return;
        }
        let write = || {
            let mut stdout = io::stdout().lock();
            stdout.write_all(line.as_bytes())?;
            stdout.write_all(b"\n")
        };
        let result = match &self.view {
            Some(view) => view.suspend(write),
            None => write(),
        };
        if let Err(e) = result {
            state.error = Some(e);
        }
    }

    fn eprint(&self, line: &str) {
        match &self.view {
            Some(view) => view.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn json(&self, value: Value) {
        self.print(&value.to_string());
    }

    /// A byte count for --stats: exact, or in human units with `-h`.
    fn size(&self, bytes: u64) -> String {
        if self.out.human_readable {
            human_bytes(bytes as f64)
        } else {
            bytes.to_string()
        }
    }

    /// Ends the output: the progress display's closing line, `--stats` or the JSON summary.
    /// Returns the first error writing to stdout (a closed pipe), if any.
    pub fn finish(&self, totals: &Totals, elapsed: Duration, exit: Exit) -> io::Result<()> {
        if let Some(view) = &self.view {
            // Stopped by a signal: what was saved is not the run's to claim.
            if exit.is_signal() {
                view.clear();
            } else {
                view.finish(totals, elapsed);
            }
        }
        if let Some(log) = &self.log {
            log.finish(totals, exit);
        }
        let written = totals.bytes_literal + totals.bytes_matched;
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            written as f64 / secs
        } else {
            0.0
        };
        if self.out.json {
            let mut summary = json!({
                "event": "summary",
                "dry_run": self.dry_run,
                "scanned": totals.scanned,
                "created": totals.files_created,
                "updated": totals.files_updated(),
                "dirs": totals.dirs,
                "links": totals.links,
                "meta": totals.meta,
                "deleted": totals.deleted,
                "deletions_skipped": totals.deletions_skipped,
                "unchanged": totals.unchanged,
                "skipped": totals.skipped,
                "failed": totals.failed,
                "vanished": totals.vanished,
                "bytes_literal": totals.bytes_literal,
                "bytes_matched": totals.bytes_matched,
                "bytes_written": written,
                "verified": totals.verified,
                "elapsed_ms": elapsed.as_millis() as u64,
                "rate_bytes_per_sec": rate.round() as u64,
                "bytes_sent": totals.traffic.sent,
                "bytes_received": totals.traffic.received,
                "wire_bytes_sent": totals.traffic.wire_sent,
                "wire_bytes_received": totals.traffic.wire_received,
                "compressed_bytes_sent": totals.traffic.compressed_sent,
                "compressed_bytes_received": totals.traffic.compressed_received,
                "exit_code": exit.code(),
            });
            if let Some(compression) = totals.traffic.compression {
                summary["compression"] = json!(compression.name());
            }
            if let Some((low, high)) = totals.traffic.sent_levels {
                summary["compression_level_min"] = json!(low);
                summary["compression_level_max"] = json!(high);
            }
            self.json(summary);
        } else if self.out.stats && !self.out.quiet {
            let dry = if self.dry_run { " (dry run)" } else { "" };
            let bytes = if self.dry_run {
                format!(
                    "bytes: {} in the files to write (a dry run sends none)",
                    self.size(totals.bytes_planned)
                )
            } else {
                format!(
                    "bytes: {} literal, {} matched, {} written",
                    self.size(totals.bytes_literal),
                    self.size(totals.bytes_matched),
                    self.size(written)
                )
            };
            self.print(&format!(
                "files: {} scanned, {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} failed{dry}\n\
                 other: {} directories created, {} links, {} attribute fixes\n\
                 {}\n\
                 time:  {:.3} s, {}/s",
                totals.scanned,
                totals.files_created,
                totals.files_updated(),
                totals.deleted,
                totals.unchanged,
                totals.skipped,
                totals.failed,
                totals.dirs,
                totals.links,
                totals.meta,
                bytes,
                secs,
                human_bytes(rate),
            ));
            if totals.verified > 0 {
                self.print(&format!(
                    "verify: {} files read back at the destination, digests equal to the source's",
                    totals.verified
                ));
            }
            let t = &totals.traffic;
            if t.wire_sent + t.wire_received > 0 {
                self.print(&format!(
                    "wire:  {} sent ({} before compression), {} received ({} after decompression)",
                    t.wire_sent, t.sent, t.wire_received, t.received
                ));
            }
            if let Some(compression) = t.compression {
                let levels = match t.sent_levels {
                    Some((low, high)) if low == high => format!(", zstd level {low} sent"),
                    Some((low, high)) => format!(", zstd levels {low} to {high} sent"),
                    None => String::new(),
                };
                self.print(&format!(
                    "compression: {compression}{levels}; {} of {} sent and {} of {} received \
                     went through zstd",
                    t.compressed_sent, t.sent, t.compressed_received, t.received
                ));
            }
        }
        match self.stdout.lock() {
            Ok(mut state) => state.error.take().map_or(Ok(()), Err),
            Err(_) => Ok(()),
        }
    }
}

impl Reporter {
    /// Says what was done before a signal stopped the run (on stderr, unless `-q`): files in
    /// flight were kept as partials for the next run, none was left torn.
    pub fn stopped(&self, totals: &Totals, exit: Exit) {
        if self.out.quiet {
            return;
        }
        if let Some(view) = &self.view {
            view.clear();
        }
        let signal = match exit {
            Exit::HungUp => "SIGHUP",
            Exit::Terminated => "SIGTERM",
            _ => "SIGINT",
        };
        self.eprint(&format!(
            "sy: stopped by {signal}: {} files written ({} bytes); files in flight were kept as \
             partials, and running the same command again finishes the job",
            totals.files_written,
            totals.bytes_literal + totals.bytes_matched,
        ));
    }
}

/// True for a directory whose attributes alone changed: `-i` shows it (`.d..t......`), `-v`'s
/// list of changes does not.
fn dir_times(done: &Done) -> bool {
    done.change
        .as_ref()
        .is_some_and(|c| c.kind == MetaTarget::Dir && !c.created)
}

/// `path` for JSON: lossy UTF-8, plus the exact bytes in hex when they are not UTF-8.
fn json_path(value: &mut Value, path: &RelPath) {
    let bytes = path.as_bytes();
    value["path"] = Value::String(String::from_utf8_lossy(bytes).into_owned());
    if std::str::from_utf8(bytes).is_err() {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        value["path_hex"] = Value::String(hex);
    }
}

impl Observer for Reporter {
    fn advance(&self, path: &RelPath, bytes: u64) {
        if let Some(view) = &self.view {
            view.advance(path, bytes);
        }
    }

    fn planned(&self, planned: &Planned) {
        if self.out.json {
            self.json(json!({
                "event": "scan",
                "source_entries": planned.source_entries,
                "destination_entries": planned.destination_entries,
                "files": planned.files,
                "bytes": planned.bytes,
                "dry_run": self.dry_run,
            }));
        }
        if let Some(view) = &self.view {
            view.planned(planned.files, planned.bytes, planned.source_bytes);
        }
    }

    fn phase(&self, phase: Phase) {
        if let Some(view) = &self.view {
            view.phase(phase);
        }
    }

    fn started(&self, action: Action, path: &RelPath, size: u64) {
        if let Some(view) = &self.view {
            view.started(path, size);
        }
        if self.out.json {
            let mut event = json!({"event": "start", "action": action.word(), "size": size});
            json_path(&mut event, path);
            self.json(event);
        }
    }

    fn skipped(&self, path: &RelPath, reason: &str) {
        if self.out.json {
            let mut event = json!({"event": "skip", "reason": reason});
            json_path(&mut event, path);
            self.json(event);
        }
    }

    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        if let Some(view) = &self.view {
            view.ended(path);
            if matches!(action, Action::Create | Action::Update) {
                view.file_written();
            }
        }
        if let Some(log) = &self.log {
            log.change(action, path, done);
        }
        if self.out.json {
            let mut event = json!({
                "event": "file",
                "action": action.word(),
                "dry_run": self.dry_run,
                "bytes_literal": done.literal,
                "bytes_matched": done.matched,
                "duration_ms": done.elapsed.as_millis() as u64,
            });
            json_path(&mut event, path);
            self.json(event);
        } else if self.out.itemize && !self.out.quiet {
            self.print(&itemize::line(action, path, done.change.as_ref()));
        } else if (self.out.verbose > 0 || self.dry_run) && !self.out.quiet && !dir_times(done) {
            let suffix = if action == Action::Mkdir { "/" } else { "" };
            self.print(&format!("{:<8} {path}{suffix}", action.word()));
        }
    }

    fn failed(&self, path: Option<&RelPath>, message: &str) {
        if let (Some(view), Some(path)) = (&self.view, path) {
            view.ended(path);
        }
        if let Some(log) = &self.log {
            log.error(message);
        }
        if self.out.json {
            let mut event = json!({"event": "error", "message": message});
            if let Some(path) = path {
                json_path(&mut event, path);
            }
            self.json(event);
        }
        self.eprint(&format!("sy: error: {message}"));
    }

    fn warning(&self, message: &str) {
        if let Some(log) = &self.log {
            log.warning(message);
        }
        if self.out.json {
            self.json(json!({"event": "warning", "message": message}));
        }
        if !self.out.quiet {
            self.eprint(&format!("sy: warning: {message}"));
        }
    }

    /// Says that the connection was lost and when the next attempt starts.
    fn retrying(&self, retry: &Retrying) {
        let secs = retry.wait.as_secs_f64();
        let line = format!(
            "{}; retrying in {secs} s (attempt {} of {})",
            retry.message, retry.attempt, retry.attempts
        );
        if let Some(log) = &self.log {
            log.warning(&line);
        }
        if self.out.json {
            self.json(json!({
                "event": "retry",
                "message": retry.message,
                "delay_ms": retry.wait.as_millis() as u64,
                "attempt": retry.attempt,
                "attempts": retry.attempts,
            }));
        }
        if !self.out.quiet {
            self.eprint(&format!("sy: warning: {line}"));
        }
    }
}
