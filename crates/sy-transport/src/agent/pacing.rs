//! [`ReadPacing`]: how a rate limit above the agent's byte stream tells the `--timeout` clock
//! that the silence is its own doing.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// Shared between a rate-limited reader (`--bwlimit`) and the [`Agent`](crate::Agent) that
/// reads through it. While the limiter holds back reading, bytes from the peer wait in the
/// pipe unread; that is not the peer being silent, so the connection's `--timeout` clock
/// counts the peer's silence only from the end of the hold.
///
/// ```
/// use sy_transport::ReadPacing;
/// use tokio::time::{Duration, Instant};
///
/// let pacing = ReadPacing::default();
/// // The limiter will not read again for two seconds.
/// pacing.hold_until(Instant::now() + Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReadPacing(Arc<Mutex<Option<Instant>>>);

impl ReadPacing {
    /// Records that the reader will not read from the peer before `until`.
    pub fn hold_until(&self, until: Instant) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *held = Some(held.map_or(until, |h| h.max(until)));
    }

    /// The end of the latest hold, if there was one.
    pub(crate) fn held_until(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
