//! A test helper, not an example of the library: stands between `sy` and its agent like a
//! network link, and fails like one. The fault tests (`tests/faults.rs`) run it as the remote
//! shell's command.
//!
//! `fault_relay COMMAND` runs `sh -c "exec COMMAND"` and copies bytes between its own
//! stdin/stdout and the command's, counting both directions together. `SY_RELAY_FAULT` says
//! what happens once `N` bytes have passed:
//! - `drop:N`: the relay exits (both directions close at once, as when a connection resets);
//! - `stall:N`: nothing more passes either way, and the relay waits to be killed.
//!
//! With `SY_RELAY_FAULT=drop:N1,N2,…` and `SY_RELAY_COUNT=FILE`, the k-th connection (counted
//! in FILE) uses the k-th budget, and connections past the list pass everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy)]
enum Fault {
    Drop(u64),
    Stall(u64),
    None,
}

fn fault() -> Fault {
    let spec = std::env::var("SY_RELAY_FAULT").unwrap_or_default();
    let Some((kind, budgets)) = spec.split_once(':') else {
        return Fault::None;
    };
    let connection = match std::env::var("SY_RELAY_COUNT") {
        Ok(file) => {
            let seen: usize = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            std::fs::write(&file, (seen + 1).to_string()).unwrap();
            seen
        }
        Err(_) => 0,
    };
    let Some(budget) = budgets.split(',').nth(connection) else {
        return Fault::None;
    };
    let budget: u64 = budget.parse().expect("a byte count");
    match kind {
        "drop" => Fault::Drop(budget),
        "stall" => Fault::Stall(budget),
        other => panic!("unknown fault {other:?}"),
    }
}

/// Copies `from` to `to` until the budget shared with the other direction is spent.
fn pump(mut from: impl Read, to: Arc<Mutex<dyn Write + Send>>, passed: &AtomicU64, fault: Fault) {
    let limit = match fault {
        Fault::Drop(n) | Fault::Stall(n) => n,
        Fault::None => u64::MAX,
    };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let before = passed.fetch_add(n as u64, Ordering::SeqCst);
        let allowed = limit.saturating_sub(before).min(n as u64) as usize;
        let mut to = to.lock().unwrap();
        if to
            .write_all(&buf[..allowed])
            .and_then(|()| to.flush())
            .is_err()
        {
            return;
        }
        if allowed < n {
            match fault {
                Fault::Drop(_) => std::process::exit(0),
                _ => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
        }
    }
}

fn main() {
    let command = std::env::args().nth(1).expect("usage: fault_relay COMMAND");
    let fault = fault();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the command");
    let passed = Arc::new(AtomicU64::new(0));
    let child_in: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(child.stdin.take().unwrap()));
    let child_out = child.stdout.take().unwrap();
    let upstream = {
        let passed = Arc::clone(&passed);
        std::thread::spawn(move || {
            pump(std::io::stdin(), Arc::clone(&child_in), &passed, fault);
            // Our input ended: so does the command's (dropping the last handle closes it).
            drop(child_in);
        })
    };
    let stdout: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(std::io::stdout()));
    pump(child_out, stdout, &passed, fault);
    let _ = upstream.join();
    let status = child.wait().expect("waiting for the command");
    std::process::exit(status.code().unwrap_or(1));
}
