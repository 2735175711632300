//! Retrying: when the connection to a remote host breaks in the middle of a job, connect again
//! and run the job again in the same invocation.
//!
//! A rerun is cheap by construction: files that were completed are unchanged now (same size and
//! time) and are skipped, and the file that was in flight left a partial at the destination,
//! which the rerun uses as its delta basis. So each attempt is simply "connect, sync the job,
//! close", whatever kind of connection the attempt makes.
//!
//! Failures of single files during an attempt that is then retried are not the user's concern
//! (they were caused by the lost link and the rerun redoes those files), so while a retry is
//! still possible they are held back and reported only if the attempt stands.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sy_transport::{Cancel, LinkFailure, RelPath};

use crate::SyncError;
use crate::connect::RemoteEnd;
use crate::observer::{Forward, Intercept, Observer, Retrying};
use crate::totals::{Totals, Traffic};

/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// How often to reconnect to a remote side whose link broke, and how long to wait first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Reconnects allowed per job; 0 turns retrying off.
    pub retries: u32,
    /// The wait before the first reconnect; it doubles for each further one, up to a minute.
    pub delay: Duration,
}

impl Default for RetryPolicy {
    /// Three reconnects, the first after two seconds.
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait before reconnect number `n` (from 1): the delay doubled `n - 1` times, at most
    /// a minute.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.delay
            .saturating_mul(factor)
            .min(MAX_DELAY.max(self.delay))
    }
}

/// How one attempt at a remote job ended.
pub(crate) struct Attempt {
    /// What the engine returned.
    pub(crate) synced: Result<Totals, SyncError>,
    /// How the connection ended: an error when it broke or the remote shell failed.
    pub(crate) closed: Result<(), RemoteEnd>,
    /// The agent answered the handshake (the host was reached and speaks our protocol).
    pub(crate) established: bool,
    /// What crossed the connection.
    pub(crate) traffic: Traffic,
}

impl Attempt {
    /// Why this attempt is worth repeating, if it is: the connection's stream broke after it
    /// had worked. A first connection that never got through (unknown host, refused login, no
    /// sy-remote there) is a setup problem that waiting does not fix; once a host has answered,
    /// failing to reach it again is taken as the same outage. A protocol error, or a session
    /// that ended cleanly before the remote shell failed, would only happen again.
    fn lost(&self, reconnecting: bool) -> Option<&RemoteEnd> {
        let end = self.closed.as_ref().err()?;
        // Lost: an I/O error, an end before the session's, or the timeout — as opposed to a
        // protocol failure, or a session that ended and then went wrong.
        let lost = matches!(end.failure, Some(LinkFailure::Lost(_)));
        (lost && (self.established || reconnecting)).then_some(end)
    }
}

/// Runs `attempt` (one connect–sync–close) until it ends without losing its connection, or
/// the retries are used up, or the run is cancelled. Each attempt gets an observer that holds
/// back file failures while another attempt may still follow.
pub(crate) async fn with_reconnects<O, F, Fut>(
    policy: &RetryPolicy,
    reporter: &Arc<O>,
    cancel: &Cancel,
    mut attempt: F,
) -> Result<Totals, SyncError>
where
    O: Observer,
    F: FnMut(Arc<Held<O>>) -> Fut,
    Fut: Future<Output = Result<Attempt, SyncError>>,
{
    let mut earlier = Totals::default();
    let mut reconnects = 0;
    loop {
        let may_retry = reconnects < policy.retries;
        let observer = Arc::new(held(Arc::clone(reporter), may_retry));
        let outcome = match attempt(Arc::clone(&observer)).await {
            Ok(outcome) => outcome,
            Err(e) => {
                observer.release();
                return Err(e);
            }
        };
        if may_retry
            && !cancel.is_cancelled()
            && let Some(end) = outcome.lost(reconnects > 0)
        {
            let wait = policy.backoff(reconnects + 1);
            reporter.retrying(&Retrying {
                message: end.to_string(),
                wait,
                attempt: reconnects + 2,
                attempts: policy.retries + 1,
            });
            pause(wait, cancel).await;
            if !cancel.is_cancelled() {
                reconnects += 1;
                if let Ok(totals) = &outcome.synced {
                    earlier.add(&completed_part(totals));
                }
                earlier.traffic.add(&outcome.traffic);
                continue;
            }
            // Stopped while waiting: the lost link, reported once, explains the failures the
            // attempt held back, which are dropped with their count.
            let dropped = observer.discard();
            return outcome.into_totals(reporter).map(|mut last| {
                last.failed = last.failed.saturating_sub(dropped);
                merge(&earlier, last)
            });
        }
        observer.release();
        return outcome
            .into_totals(reporter)
            .map(|last| merge(&earlier, last));
    }
}

impl Attempt {
    /// The job's totals once this attempt stands: a connection that broke is a failure of the
    /// run even when the engine saw only interrupted transfers, and it explains a failed job.
    fn into_totals<O: Observer>(self, reporter: &O) -> Result<Totals, SyncError> {
        let mut totals = match (self.synced, self.closed) {
            (Ok(totals), Ok(())) => totals,
            (Ok(mut totals), Err(e)) => {
                reporter.failed(None, &e.to_string());
                totals.failed += 1;
                totals
            }
            (Err(e), Ok(())) => return Err(e),
            // The job's error already says why the link broke; add only the shell's fate.
            (Err(e), Err(end)) => {
                return Err(match end.shell {
                    Some(shell) => SyncError::RemoteEnded {
                        shell: shell.message,
                        not_started: shell.not_found,
                        source: Box::new(e),
                    },
                    None => e,
                });
            }
        };
        totals.traffic = self.traffic;
        Ok(totals)
    }
}

/// What an attempt that broke did get done (its failures are redone by the next attempt).
fn completed_part(totals: &Totals) -> Totals {
    Totals {
        scanned: 0,
        unchanged: 0,
        skipped: 0,
        failed: 0,
        traffic: Traffic::default(),
        ..*totals
    }
}

/// The last attempt's totals plus what earlier ones completed; what those wrote, the last one
/// found unchanged, so it is not counted twice.
fn merge(earlier: &Totals, last: Totals) -> Totals {
    let written = earlier.files_written + earlier.dirs + earlier.links + earlier.meta;
    let mut totals = last;
    totals.unchanged = totals.unchanged.saturating_sub(written);
    totals.add(earlier);
    totals
}

/// Waits `wait`, or less if the run is cancelled meanwhile.
async fn pause(wait: Duration, cancel: &Cancel) {
    let step = Duration::from_millis(50);
    let started = tokio::time::Instant::now();
    while !cancel.is_cancelled() && started.elapsed() < wait {
        tokio::time::sleep(step.min(wait - started.elapsed())).await;
    }
}

/// The observer, except that file failures are kept back while the attempt may be retried.
pub(crate) type Held<O> = Forward<O, Holding>;

/// File failures kept back (when `holding`) until the attempt stands.
pub(crate) struct Holding {
    holding: bool,
    failures: Mutex<Vec<(Option<RelPath>, String)>>,
}

impl Intercept for Holding {
    fn failed(&self, next: &dyn Observer, path: Option<&RelPath>, message: &str) {
        if self.holding {
            self.failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((path.cloned(), message.to_owned()));
        } else {
            next.failed(path, message);
        }
    }
}

fn held<O: Observer>(reporter: Arc<O>, holding: bool) -> Held<O> {
    Forward {
        next: reporter,
        intercept: Holding {
            holding,
            failures: Mutex::new(Vec::new()),
        },
    }
}

impl<O: Observer> Held<O> {
    /// Reports the failures held back: the attempt stands.
    fn release(&self) {
        for (path, message) in self.take() {
            self.next.failed(path.as_ref(), &message);
        }
    }

    /// Drops the failures held back; returns how many there were.
    fn discard(&self) -> u64 {
        self.take().len() as u64
    }

    fn take(&self) -> Vec<(Option<RelPath>, String)> {
        let mut failures = self
            .intercept
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_a_minute() {
        let policy = RetryPolicy {
            retries: 10,
            delay: Duration::from_secs(2),
        };
        let waits: Vec<u64> = (1..=7).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        let zero = RetryPolicy {
            retries: 1,
            delay: Duration::ZERO,
        };
        assert_eq!(zero.backoff(5), Duration::ZERO);
    }

    #[test]
    fn what_an_earlier_attempt_wrote_is_not_counted_unchanged_again() {
        let earlier = Totals {
            files_written: 3,
            files_created: 3,
            bytes_literal: 300,
            ..Totals::default()
        };
        let last = Totals {
            scanned: 10,
            files_written: 2,
            files_created: 2,
            unchanged: 8,
            bytes_literal: 200,
            ..Totals::default()
        };
        let merged = merge(&earlier, last);
        assert_eq!(
            (
                merged.scanned,
                merged.files_created,
                merged.unchanged,
                merged.bytes_literal
            ),
            (10, 5, 5, 500)
        );
    }
}
