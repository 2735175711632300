//! The `-P` display on stderr: the phase, one overall bar by the bytes that must move (with
//! rate and ETA), a bar per large file in flight, and a closing line with what the run saved.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use sy_engine::{Phase, RelPath, Totals};

/// Files at least this big get a bar of their own.
const FILE_BAR_MIN: u64 = 8 << 20;
/// At most this many file bars at once (the rest still count in the overall bar).
const FILE_BARS_MAX: usize = 4;

/// When to draw progress (`-P` is `auto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    /// When stderr is a terminal.
    Auto,
    /// Even when stderr is not a terminal (ANSI sequences are written anyway).
    Always,
    /// No progress display.
    #[default]
    Never,
}

/// The live display.
pub struct ProgressView {
    multi: MultiProgress,
    overall: ProgressBar,
    files: Mutex<HashMap<RelPath, ProgressBar>>,
    /// Size of every file in the sources: what the destination copy represents.
    represented: Mutex<u64>,
    /// Files planned and not yet written.
    files_left: Mutex<u64>,
}

impl ProgressView {
    /// A display if `when` allows one here.
    pub fn new(when: When) -> Option<ProgressView> {
        let target = match when {
            When::Never => return None,
            When::Auto if !io::stderr().is_terminal() => return None,
            When::Auto => ProgressDrawTarget::stderr_with_hz(10),
            When::Always => ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 10),
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {msg} {elapsed}") {
            overall.set_style(style);
        }
        overall.set_prefix(Phase::Scanning.word());
        overall.enable_steady_tick(Duration::from_millis(100));
        Some(ProgressView {
            multi,
            overall,
            files: Mutex::new(HashMap::new()),
            represented: Mutex::new(0),
            files_left: Mutex::new(0),
        })
    }

    /// Shows the phase the run has reached.
    pub fn phase(&self, phase: Phase) {
        self.overall.set_prefix(phase.word());
    }

    /// A job's plan: `bytes` to move in `files` files, out of `source_bytes` in its source.
    pub fn planned(&self, files: u64, bytes: u64, source_bytes: u64) {
        if let Ok(mut represented) = self.represented.lock() {
            *represented += source_bytes;
        }
        if self.overall.length().is_none() {
            self.overall.set_length(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} eta {eta} {msg}",
            ) {
                self.overall.set_style(style.progress_chars("=> "));
            }
        }
        self.overall.inc_length(bytes);
        self.count_left(|left| left + files);
        self.phase(Phase::Transferring);
    }

    /// A file starts; a large one gets its own bar.
    pub fn started(&self, path: &RelPath, size: u64) {
        if size < FILE_BAR_MIN {
            return;
        }
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        if files.len() >= FILE_BARS_MAX {
            return;
        }
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new(size));
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {wide_msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(path.to_string());
        files.insert(path.clone(), bar);
    }

    /// A file of the plan was written.
    pub fn file_written(&self) {
        self.count_left(|left| left.saturating_sub(1));
    }

    /// Changes the count of files left and shows it.
    fn count_left(&self, change: impl FnOnce(u64) -> u64) {
        if let Ok(mut left) = self.files_left.lock() {
            *left = change(*left);
            self.overall
                .set_message(format!("{} left", count_files(*left)));
        }
    }

    /// `bytes` of `path` were written.
    pub fn advance(&self, path: &RelPath, bytes: u64) {
        self.overall.inc(bytes);
        if let Ok(files) = self.files.lock()
            && let Some(bar) = files.get(path)
        {
            bar.inc(bytes);
        }
    }

    /// `path` is finished (or failed): its bar goes.
    pub fn ended(&self, path: &RelPath) {
        if let Ok(mut files) = self.files.lock()
            && let Some(bar) = files.remove(path)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// Runs `f` with the display out of the way (for lines printed meanwhile).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    /// Clears the display: no bar is left on the screen.
    pub fn clear(&self) {
        if let Ok(mut files) = self.files.lock() {
            for (_, bar) in files.drain() {
                bar.finish_and_clear();
            }
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }

    /// Clears the display and prints the closing line.
    pub fn finish(&self, totals: &Totals, elapsed: Duration) {
        self.clear();
        let represented = self.represented.lock().map_or(0, |r| *r);
        eprintln!("{}", closing_line(totals, represented, elapsed));
    }
}

/// `sy: 3 files written, 1.0 MiB moved for 40.0 MiB represented (97.5% saved) in 1.20 s`.
/// Moved is what crossed the wire to a remote host, or the literal bytes of a local run.
pub fn closing_line(totals: &Totals, represented: u64, elapsed: Duration) -> String {
    let t = &totals.traffic;
    let moved = if t.wire_sent + t.wire_received > 0 {
        t.wire_sent + t.wire_received
    } else {
        totals.bytes_literal
    };
    let saved = if represented == 0 {
        0.0
    } else {
        (1.0 - moved as f64 / represented as f64).max(0.0) * 100.0
    };
    format!(
        "sy: {} written, {} moved for {} represented ({saved:.1}% saved) in {:.2} s",
        count_files(totals.files_written),
        human_bytes(moved as f64),
        human_bytes(represented as f64),
        elapsed.as_secs_f64()
    )
}

/// `1 file`, `2 files`.
fn count_files(n: u64) -> String {
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

/// `1.5 MiB`.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut n = n;
    let mut unit = 0;
    while n >= 1024.0 && unit < UNITS.len() - 1 {
        n /= 1024.0;
        unit += 1;
    }
    format!("{n:.1} {}", UNITS[unit])
}

/// stderr driven with ANSI sequences whether or not it is a terminal (`--progress=always`).
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn put(&self, s: &str) -> io::Result<()> {
        io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}A"))
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}B"))
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}C"))
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}D"))
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_line_counts_files_and_savings() {
        let mut totals = Totals::default();
        totals.files_written = 3;
        totals.files_created = 2;
        totals.bytes_literal = 1 << 20;
        totals.bytes_matched = 39 << 20;
        assert_eq!(
            closing_line(&totals, 40 << 20, Duration::from_millis(1200)),
            "sy: 3 files written, 1.0 MiB moved for 40.0 MiB represented (97.5% saved) in 1.20 s"
        );
        let mut remote = totals;
        remote.traffic.wire_sent = 4 << 20;
        assert!(
            closing_line(&remote, 40 << 20, Duration::ZERO).contains("4.0 MiB moved"),
            "wire bytes are what moved"
        );
        assert!(closing_line(&Totals::default(), 0, Duration::ZERO).contains("(0.0% saved)"));
    }
}
