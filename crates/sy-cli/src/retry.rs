//! `--retry`: when the connection to a remote host breaks in the middle of a job, connect again
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

use anyhow::Result;
use sy_transport::{Cancel, Progress, RelPath};

use crate::execute::{Totals, Traffic};
use crate::observer::{Action, Done, Observer, Phase, Planned};
use crate::remote::RemoteEnd;
use crate::report::{Reporter, Retrying};

/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// How often to reconnect and how long to wait first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Reconnects allowed per job (`--retry`); 0 turns retrying off.
    pub retries: u32,
    /// The wait before the first reconnect (`--retry-delay`); it doubles for each further one.
    pub delay: Duration,
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
    pub(crate) synced: Result<Totals>,
    /// How the connection ended: an error when it broke or the remote shell failed.
    pub(crate) closed: Result<(), RemoteEnd>,
    /// The agent answered the handshake (the host was reached and speaks our protocol).
    pub(crate) established: bool,
    /// What crossed the connection.
    pub(crate) traffic: Traffic,
}

impl Attempt {
    /// Why this attempt is worth repeating, if it is: the connection broke after it had worked.
    /// A first connection that never got through (unknown host, refused login, no sy-remote
    /// there) is a setup problem that waiting does not fix; once a host has answered, failing
    /// to reach it again is taken as the same outage.
    fn lost(&self, reconnecting: bool) -> Option<&RemoteEnd> {
        let end = self.closed.as_ref().err()?;
        let broke = end.failure.is_some() || (self.established && end.shell.is_some());
        (broke && (self.established || reconnecting)).then_some(end)
    }
}

/// Runs `attempt` (one connect–sync–close) until it ends without losing its connection, or
/// the retries are used up, or the run is cancelled. Each attempt gets an observer that holds
/// back file failures while another attempt may still follow.
pub(crate) async fn with_reconnects<F, Fut>(
    policy: &RetryPolicy,
    reporter: &Arc<Reporter>,
    cancel: &Cancel,
    mut attempt: F,
) -> Result<Totals>
where
    F: FnMut(Arc<Held>) -> Fut,
    Fut: Future<Output = Result<Attempt>>,
{
    let mut earlier = Totals::default();
    let mut reconnects = 0;
    loop {
        let may_retry = reconnects < policy.retries;
        let observer = Arc::new(Held::new(Arc::clone(reporter), may_retry));
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
            reconnects += 1;
            if let Ok(totals) = &outcome.synced {
                earlier.add(&completed_part(totals));
            }
            earlier.traffic.add(&outcome.traffic);
            let wait = policy.backoff(reconnects);
            reporter.retrying(&Retrying {
                message: end.to_string(),
                wait,
                attempt: reconnects + 1,
                attempts: policy.retries + 1,
            });
            pause(wait, cancel).await;
            if !cancel.is_cancelled() {
                continue;
            }
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
    fn into_totals(self, reporter: &Reporter) -> Result<Totals> {
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
                    Some(shell) => e.context(shell),
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
    let written = earlier.created + earlier.updated + earlier.dirs + earlier.links + earlier.meta;
    let mut totals = last;
    totals.unchanged = totals.unchanged.saturating_sub(written);
    totals.add(earlier);
    totals
}

/// Waits `wait`, or less if the run is cancelled meanwhile.
async fn pause(wait: Duration, cancel: &Cancel) {
    let step = Duration::from_millis(50);
    let deadline = tokio::time::Instant::now() + wait;
    while !cancel.is_cancelled() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(step.min(deadline - tokio::time::Instant::now())).await;
    }
}

/// The reporter, except that file failures are kept back while the attempt may be retried.
pub(crate) struct Held {
    inner: Arc<Reporter>,
    holding: bool,
    failures: Mutex<Vec<(Option<RelPath>, String)>>,
}

impl Held {
    fn new(inner: Arc<Reporter>, holding: bool) -> Held {
        Held {
            inner,
            holding,
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Reports the failures held back: the attempt stands.
    fn release(&self) {
        let held =
            std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner));
        for (path, message) in held {
            self.inner.failed(path.as_ref(), &message);
        }
    }
}

impl Progress for Held {
    fn advance(&self, path: &RelPath, bytes: u64) {
        self.inner.advance(path, bytes);
    }
}

impl Observer for Held {
    fn phase(&self, phase: Phase) {
        self.inner.phase(phase);
    }

    fn planned(&self, planned: &Planned) {
        self.inner.planned(planned);
    }

    fn started(&self, action: Action, path: &RelPath, size: u64) {
        self.inner.started(action, path, size);
    }

    fn skipped(&self, path: &RelPath, reason: &str) {
        self.inner.skipped(path, reason);
    }

    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        self.inner.done(action, path, done);
    }

    fn failed(&self, path: Option<&RelPath>, message: &str) {
        if self.holding {
            self.failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((path.cloned(), message.to_owned()));
        } else {
            self.inner.failed(path, message);
        }
    }

    fn warning(&self, message: &str) {
        self.inner.warning(message);
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
            created: 3,
            literal: 300,
            ..Totals::default()
        };
        let last = Totals {
            scanned: 10,
            created: 2,
            unchanged: 8,
            literal: 200,
            ..Totals::default()
        };
        let merged = merge(&earlier, last);
        assert_eq!(
            (
                merged.scanned,
                merged.created,
                merged.unchanged,
                merged.literal
            ),
            (10, 5, 5, 500)
        );
    }
}
