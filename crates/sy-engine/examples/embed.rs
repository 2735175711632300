//! Syncs SRC to DST with sy's engine, drawing a one-line progress display on stderr.
//!
//! ```text
//! cargo run -p sy-engine --example embed -- SRC DST
//! ```
//!
//! SRC and DST are read as the `sy` command reads them: a trailing slash on SRC copies its
//! contents, and either may be `[user@]host:path`.

use std::io::Write;
use std::sync::Mutex;

use sy_engine::{Action, Done, Endpoint, Observer, Phase, Planned, RelPath, SyncJob, SyncOptions};

/// Bytes written against the bytes the plan said must move.
#[derive(Default)]
struct Progress {
    state: Mutex<(u64, u64)>,
}

impl Progress {
    fn draw(&self, what: &str) {
        let (done, total) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        eprint!("\r\x1b[K{percent:>3}% {done}/{total} bytes  {what}");
        let _ = std::io::stderr().flush();
    }
}

impl Observer for Progress {
    fn phase(&self, phase: Phase) {
        self.draw(phase.word());
    }
    fn planned(&self, planned: &Planned) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = planned.bytes;
        self.draw("planned");
    }
    fn advance(&self, path: &RelPath, bytes: u64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 += bytes;
        self.draw(&path.to_string());
    }
    fn done(&self, action: Action, path: &RelPath, _: &Done) {
        self.draw(&format!("{} {path}", action.word()));
    }
    fn failed(&self, _: Option<&RelPath>, message: &str) {
        eprintln!("\nerror: {message}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        return Err("usage: embed SRC DST".into());
    };
    let job = SyncJob::new(
        vec![Endpoint::parse(src)?],
        Endpoint::parse(dst)?,
        SyncOptions::default(),
    );
    let totals = job.observer(Progress::default()).run()?;
    eprintln!(
        "\n{} files written, {} bytes literal, {} bytes reused, {} failed",
        totals.files_written, totals.bytes_literal, totals.bytes_matched, totals.failed
    );
    Ok(())
}
