//! Bandwidth limiting: a token bucket shared by everything one run moves. Over a connection it
//! paces the bytes on the wire (both directions together); between two local directories it
//! paces the bytes written, from the progress callback on the writing threads.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
// tokio's clock (the system's outside a runtime) so that tests can run it paused.
use tokio::time::{Instant, Sleep};

use sy_transport::{ReadPacing, RelPath};

use crate::observer::{Intercept, Observer};

/// Tokens are bytes; they accrue at `rate` per second up to `burst`. Taking more than there
/// are runs into debt, and the taker waits until the debt is paid, so the long-run average is
/// the rate whatever the size of each take.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`, holding a tenth of a second's worth (at least 16 KiB).
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        let rate = rate as f64;
        let burst = (rate / 10.0).max(16.0 * 1024.0);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `bytes` at `now`; returns how long the taker must wait before going on.
    pub fn take(&mut self, bytes: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// A bucket shared by all the streams and threads of a run.
#[derive(Debug, Clone)]
pub struct Throttle {
    bucket: Arc<Mutex<TokenBucket>>,
    /// Where paced readers say how long they hold back reading, so that a connection's
    /// `--timeout` does not count that against the peer.
    reading: ReadPacing,
}

impl Throttle {
    /// `rate` bytes per second.
    pub fn new(rate: u64) -> Throttle {
        Throttle {
            bucket: Arc::new(Mutex::new(TokenBucket::new(rate, Instant::now()))),
            reading: ReadPacing::default(),
        }
    }

    /// The holds on reading this throttle makes, for the connections it paces.
    pub fn read_pacing(&self) -> ReadPacing {
        self.reading.clone()
    }

    /// Takes `bytes` now; returns the wait.
    pub fn take(&self, bytes: u64) -> Duration {
        match self.bucket.lock() {
            Ok(mut bucket) => bucket.take(bytes, Instant::now()),
            Err(_) => Duration::ZERO,
        }
    }

    /// Takes `bytes` and sleeps the wait (for blocking threads only).
    pub fn take_blocking(&self, bytes: u64) {
        let wait = self.take(bytes);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A reader or writer paced by a [`Throttle`]: bytes are charged as they pass, and the next
/// operation waits out any debt.
pub struct Paced<T> {
    inner: T,
    throttle: Throttle,
    pause: Option<Pin<Box<Sleep>>>,
}

impl<T> Paced<T> {
    /// `inner`, paced by `throttle`.
    pub fn new(inner: T, throttle: Throttle) -> Paced<T> {
        Paced {
            inner,
            throttle,
            pause: None,
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(pause) = &mut self.pause {
            ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        Poll::Ready(())
    }

    /// Charges `bytes`; returns when the next operation may go on, if it must wait.
    fn charge(&mut self, bytes: usize) -> Option<Instant> {
        let wait = self.throttle.take(bytes as u64);
        if wait.is_zero() {
            return None;
        }
        let until = Instant::now().checked_add(wait)?;
        self.pause = Some(Box::pin(tokio::time::sleep_until(until)));
        Some(until)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Paced<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.wait(cx));
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(until) = this.charge(buf.filled().len() - before) {
            // Whatever the peer sends meanwhile waits in the pipe: the silence is ours.
            this.throttle.reading.hold_until(until);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Paced<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.wait(cx));
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        let _ = this.charge(n);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Paces the bytes written between two local directories, as a [`Forward`] of the run's
/// observer: the progress callback runs on the blocking threads that write, so sleeping there
/// slows the writers.
pub struct Pacing(pub Throttle);

/// The bytes a paced write is charged and reported in at a time: a writer's chunk of several
/// MiB, reported at once and paid for afterwards, would show a rate far above the limit.
const PACED_PIECE: u64 = 64 * 1024;

impl Intercept for Pacing {
    fn advance(&self, next: &dyn Observer, path: &RelPath, bytes: u64) {
        let mut left = bytes;
        while left > 0 {
            let piece = left.min(PACED_PIECE);
            self.0.take_blocking(piece);
            next.advance(path, piece);
            left -= piece;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains the bucket as a writer would (take, wait, take…) for `secs` seconds of
    /// simulated time; returns the bytes taken.
    fn drain(rate: u64, chunk: u64, secs: f64) -> f64 {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate, start);
        let mut now = start;
        let mut taken = 0u64;
        let end = start + Duration::from_secs_f64(secs);
        while now < end {
            now += bucket.take(chunk, now);
            taken += chunk;
        }
        taken as f64
    }

    #[test]
    fn the_long_run_average_is_the_rate_for_any_chunk_size() {
        for (rate, chunk) in [
            (10u64 << 20, 1u64 << 20),
            (10 << 20, 4096),
            (500 << 10, 1 << 20),
            (500 << 10, 1000),
            (1 << 10, 64 << 10),
        ] {
            let taken = drain(rate, chunk, 10.0);
            let expected = rate as f64 * 10.0;
            // The first burst and the last chunk are the only excess.
            let slack = (rate as f64 / 10.0).max(16384.0) + chunk as f64;
            assert!(
                taken >= expected && taken <= expected + slack,
                "rate {rate} chunk {chunk}: {taken} vs {expected}"
            );
        }
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1 << 20, start);
        assert_eq!(bucket.take(1 << 20, start), Duration::from_millis(900));
        // An hour idle buys a tenth of a second's worth, not an hour's.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.take(104_857, later), Duration::ZERO);
        assert!(bucket.take(1 << 20, later) > Duration::from_millis(999));
    }

    /// Progress is reported in pieces, each after it was paid for: a writer's 8 MiB chunk
    /// reported at once, before its wait, showed a rate of twice the limit.
    #[test]
    fn local_pacing_reports_progress_in_paid_pieces() {
        #[derive(Default)]
        struct Pieces(Mutex<Vec<u64>>);
        impl Observer for Pieces {
            fn advance(&self, _: &RelPath, bytes: u64) {
                if let Ok(mut pieces) = self.0.lock() {
                    pieces.push(bytes);
                }
            }
        }
        let pieces = Pieces::default();
        // Fast enough that the test hardly waits: 8 MiB at 64 MiB/s, 6.4 MiB of it the burst.
        let pacing = Pacing(Throttle::new(64 << 20));
        let chunk = (8 << 20) + 5;
        pacing.advance(&pieces, &RelPath::root(), chunk);
        let seen = pieces.0.into_inner().unwrap();
        assert_eq!(seen.iter().sum::<u64>(), chunk);
        assert!(seen.iter().all(|&piece| piece <= PACED_PIECE), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_writer_waits_out_its_debt() {
        use tokio::io::AsyncWriteExt;
        let mut sink = Paced::new(tokio::io::sink(), Throttle::new(1 << 20));
        let started = Instant::now();
        for _ in 0..4 {
            sink.write_all(&[0u8; 1 << 20]).await.unwrap();
        }
        // The first MiB costs 0.9 s (the bucket started with 0.1 s worth), the next two 1 s
        // each; the fourth's debt is paid by whoever writes next.
        assert_eq!(started.elapsed().as_millis(), 2900);
    }
}
