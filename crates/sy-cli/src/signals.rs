//! Stopping a run cleanly on SIGINT, SIGTERM and SIGHUP, and the exit code each one means.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use sy_engine::Cancel;

use crate::exit::Exit;

const NOT_SIGNALLED: u8 = 0;
const SIGINT: u8 = 1;
const SIGTERM: u8 = 2;
const SIGHUP: u8 = 3;

/// Stops the run at the next safe point on Ctrl-C, SIGTERM or SIGHUP (the terminal went away);
/// records which one came. A signal the parent set to be ignored stays ignored: `nohup sy …`
/// must outlive the terminal, and a shell starts background jobs with SIGINT ignored.
pub(crate) fn watch(cancel: Cancel) -> Arc<AtomicU8> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    fn listen(kind: SignalKind) -> Option<Signal> {
        if inherited_ignored(kind.as_raw_value()) {
            return None;
        }
        signal(kind).ok()
    }
    async fn arrival(handler: &mut Option<Signal>) {
        match handler.as_mut() {
            Some(handler) => {
                handler.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let signalled = Arc::new(AtomicU8::new(NOT_SIGNALLED));
    let seen = Arc::clone(&signalled);
    // Installed before the work starts, so an early signal is not lost.
    let mut int = listen(SignalKind::interrupt());
    let mut term = listen(SignalKind::terminate());
    let mut hup = listen(SignalKind::hangup());
    tokio::spawn(async move {
        let which = tokio::select! {
            () = arrival(&mut int) => SIGINT,
            () = arrival(&mut term) => SIGTERM,
            () = arrival(&mut hup) => SIGHUP,
        };
        seen.store(which, Ordering::SeqCst);
        cancel.cancel();
    });
    signalled
}

/// True when `signal`'s disposition is `SIG_IGN` (as `nohup` or `trap '' HUP` leave it);
/// installing a handler would undo that.
fn inherited_ignored(signal: libc::c_int) -> bool {
    // SAFETY: `sigaction` is plain old data, for which all zeroes is a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current disposition into `current`, a valid,
    // writable `sigaction`.
    let status = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
    status == 0 && current.sa_sigaction == libc::SIG_IGN
}

/// The exit code of the signal that stopped the run, if one did.
pub(crate) fn received(signalled: &AtomicU8) -> Option<Exit> {
    match signalled.load(Ordering::SeqCst) {
        SIGINT => Some(Exit::Interrupted),
        SIGTERM => Some(Exit::Terminated),
        SIGHUP => Some(Exit::HungUp),
        _ => None,
    }
}
