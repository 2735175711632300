//! A byte-counting TCP relay in front of sshd, so wire bytes are measured the same way for every
//! tool, with optional link emulation (rate cap and added round-trip time): on loopback bandwidth is
//! free and latency is zero, which hides exactly what pipelining and compression are for.
//!
//! Plain threads, no async runtime: a handful of connections per run, and a dependency-free relay is
//! easy to trust. Each direction is pumped by its own thread; with a link, a reader thread stamps
//! every chunk with the time it would arrive on the emulated link and a writer thread releases it
//! then. The queue between them is bounded (one bandwidth-delay product plus a small router
//! buffer), so a sender feels the link through TCP back-pressure instead of filling memory.

use std::collections::VecDeque;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const PLAIN_CHUNK: usize = 64 * 1024;
/// Smaller chunks on an emulated link keep the pacing smooth (16 KiB is 1.3 ms at 100 Mbit/s).
const LINK_CHUNK: usize = 16 * 1024;
const ROUTER_BUFFER: usize = 256 * 1024;
/// SO_RCVBUF of the relay's sockets on an emulated link (Linux doubles it for bookkeeping).
const LINK_SOCKET_BUFFER: libc::c_int = 64 * 1024;
const UNLIMITED_IN_FLIGHT: usize = 8 << 20;

/// An emulated link: `100mbit:20ms` is 100 Mbit/s each way with 20 ms added round-trip time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Bytes per second in each direction; `None` for no cap.
    pub bytes_per_sec: Option<u64>,
    pub rtt: Duration,
}

impl FromStr for Link {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<Self> {
        let (rate, rtt) = spec.split_once(':').unwrap_or((spec, "0ms"));
        let bytes_per_sec = if rate == "unlimited" {
            None
        } else {
            let (number, unit) = split_unit(rate);
            let bits_per_unit: f64 = match unit {
                "kbit" => 1e3,
                "mbit" => 1e6,
                "gbit" => 1e9,
                _ => bail!(
                    "link rate {rate:?}: expected a number with kbit, mbit or gbit, or `unlimited`"
                ),
            };
            let value: f64 = number
                .parse()
                .with_context(|| format!("link rate {rate:?}"))?;
            if value.is_nan() || value <= 0.0 {
                bail!("link rate {rate:?} must be positive");
            }
            Some((value * bits_per_unit / 8.0) as u64)
        };
        let (number, unit) = split_unit(rtt);
        let value: f64 = number
            .parse()
            .with_context(|| format!("link round-trip time {rtt:?}"))?;
        let seconds = match unit {
            "us" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            _ => bail!("link round-trip time {rtt:?}: expected a number with us, ms or s"),
        };
        if seconds.is_nan() || seconds < 0.0 {
            bail!("link round-trip time {rtt:?} must not be negative");
        }
        Ok(Self {
            bytes_per_sec,
            rtt: Duration::from_secs_f64(seconds),
        })
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bytes_per_sec {
            Some(rate) => write!(f, "{}mbit", rate as f64 * 8.0 / 1e6)?,
            None => f.write_str("unlimited")?,
        }
        write!(f, ":{}ms", self.rtt.as_secs_f64() * 1e3)
    }
}

fn split_unit(s: &str) -> (&str, &str) {
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(at)
}

/// Bytes that crossed the relay: `up` from the client to the server, `down` back; and `turns`,
/// the times the server spoke after the client had: the round trips, counting a pipelined
/// stream of requests whose answers overlap it as one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    pub up: u64,
    pub down: u64,
    pub turns: u64,
}

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    turns: AtomicU64,
    open: AtomicUsize,
}

/// Who spoke last on one connection, as the relay reads it (before any emulated delay).
#[derive(Default)]
struct LastSpoke(AtomicU8);

impl LastSpoke {
    const CLIENT: u8 = 1;
    const SERVER: u8 = 2;

    /// Notes bytes read from the client (`up`) or the server; counts a turn when the server
    /// speaks after the client.
    fn heard(&self, up: bool, counters: &Counters) {
        if up {
            self.0.store(Self::CLIENT, Ordering::SeqCst);
        } else if self.0.swap(Self::SERVER, Ordering::SeqCst) == Self::CLIENT {
            counters.turns.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One direction of one connection: where its bytes are counted.
struct Direction {
    up: bool,
    counters: Arc<Counters>,
    last: Arc<LastSpoke>,
}

impl Direction {
    /// Bytes read from the sender (for who-spoke-last).
    fn heard(&self) {
        self.last.heard(self.up, &self.counters);
    }

    /// Bytes delivered to the receiver.
    fn delivered(&self, n: usize) {
        let counter = if self.up {
            &self.counters.up
        } else {
            &self.counters.down
        };
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// Decrements the open-connection count when both directions of a connection are done.
struct OpenConnection(Arc<Counters>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A relay listening on a random 127.0.0.1 port, forwarding each connection to `upstream`.
pub struct Relay {
    port: u16,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    pub fn start(upstream: SocketAddr, link: Option<Link>) -> Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("binding the relay to 127.0.0.1")?;
        let port = listener.local_addr().context("relay address")?.port();
        if link.is_some() {
            // Accepted sockets inherit this, and the window they advertise is sized from it.
            limit_receive_buffer(&listener).context("sizing the relay's receive buffer")?;
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (counters, stop) = (Arc::clone(&counters), Arc::clone(&stop));
            thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || accept_loop(&listener, upstream, link, &counters, &stop))
                .context("starting the relay thread")?
        };
        Ok(Self {
            port,
            counters,
            stop,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn wire(&self) -> Wire {
        Wire {
            up: self.counters.up.load(Ordering::SeqCst),
            down: self.counters.down.load(Ordering::SeqCst),
            turns: self.counters.turns.load(Ordering::SeqCst),
        }
    }

    /// Waits until no connection is open, so the counts include every byte of a finished run.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.counters.open.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the stop flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    link: Option<Link>,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(upstream) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if link.is_some() {
            let _ = limit_receive_buffer(&server);
        }
        counters.open.fetch_add(1, Ordering::SeqCst);
        let guard = Arc::new(OpenConnection(Arc::clone(counters)));
        let last = Arc::new(LastSpoke::default());
        let directions = [
            (client.try_clone(), server.try_clone(), true),
            (server.try_clone(), client.try_clone(), false),
        ];
        for (from, to, up) in directions {
            let (Ok(from), Ok(to)) = (from, to) else {
                continue;
            };
            let guard = Arc::clone(&guard);
            let direction = Direction {
                up,
                counters: Arc::clone(counters),
                last: Arc::clone(&last),
            };
            let _ = thread::Builder::new()
                .name("relay-pump".into())
                .spawn(move || {
                    match link {
                        Some(link) => pump_link(from, to, direction, link),
                        None => pump(from, to, &direction),
                    }
                    drop(guard);
                });
        }
    }
}

/// Keeps the kernel from buffering megabytes in front of the emulated link: on loopback the receive
/// buffer grows to several MiB, which would act as a router queue of hundreds of milliseconds and
/// delay every request queued behind bulk data. With it small, the queue is the link's own.
fn limit_receive_buffer(socket: &impl AsRawFd) -> std::io::Result<()> {
    let bytes: libc::c_int = LINK_SOCKET_BUFFER;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn read_some(from: &mut TcpStream, buf: &mut [u8]) -> Option<usize> {
    loop {
        match from.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, direction: &Direction) {
    let mut buf = vec![0u8; PLAIN_CHUNK];
    while let Some(n) = read_some(&mut from, &mut buf) {
        direction.heard();
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        direction.delivered(n);
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

fn pump_link(from: TcpStream, mut to: TcpStream, direction: Direction, link: Link) {
    let direction = Arc::new(direction);
    let limit = link.bytes_per_sec.map_or(UNLIMITED_IN_FLIGHT, |rate| {
        (rate as f64 * link.rtt.as_secs_f64()) as usize + ROUTER_BUFFER
    });
    let queue = Arc::new(DelayQueue::new(limit));
    let reader = {
        let queue = Arc::clone(&queue);
        let direction = Arc::clone(&direction);
        let Ok(mut from) = from.try_clone() else {
            return;
        };
        thread::spawn(move || {
            let mut link_free = Instant::now();
            let mut buf = vec![0u8; LINK_CHUNK];
            while let Some(n) = read_some(&mut from, &mut buf) {
                direction.heard();
                // The link serialises bytes at its rate, then they travel half the round trip.
                let start = link_free.max(Instant::now());
                link_free = start
                    + link.bytes_per_sec.map_or(Duration::ZERO, |rate| {
                        Duration::from_secs_f64(n as f64 / rate as f64)
                    });
                if !queue.push(link_free + link.rtt / 2, buf[..n].to_vec()) {
                    break;
                }
            }
            queue.close();
        })
    };
    while let Some((due, data)) = queue.pop() {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        if to.write_all(&data).is_err() {
            break;
        }
        direction.delivered(data.len());
    }
    queue.close();
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
    let _ = reader.join();
}

struct QueueState {
    items: VecDeque<(Instant, Vec<u8>)>,
    bytes: usize,
    closed: bool,
}

/// A byte-bounded queue of chunks in flight on the emulated link.
struct DelayQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
    limit: usize,
}

impl DelayQueue {
    fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            changed: Condvar::new(),
            limit,
        }
    }

    /// Queues a chunk, waiting while the link is full; false once the queue is closed.
    fn push(&self, due: Instant, data: Vec<u8>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.closed && state.bytes > 0 && state.bytes + data.len() > self.limit {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            return false;
        }
        state.bytes += data.len();
        state.items.push_back((due, data));
        self.changed.notify_all();
        true
    }

    /// The next chunk, waiting for one; `None` when closed and drained.
    fn pop(&self) -> Option<(Instant, Vec<u8>)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(item) = state.items.pop_front() {
                state.bytes -= item.1.len();
                self.changed.notify_all();
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that reads everything the client sends, then answers with `reply` bytes.
    fn sink_then_reply(reply: usize) -> (SocketAddr, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).unwrap();
            stream.write_all(&vec![7u8; reply]).unwrap();
            received.len()
        });
        (addr, server)
    }

    fn transfer_through(link: Option<Link>) {
        let (sent, reply) = ((1 << 20) + 17, 300_001);
        let (addr, server) = sink_then_reply(reply);
        let relay = Relay::start(addr, link).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        client.write_all(&vec![1u8; sent]).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        drop(client);
        assert_eq!(server.join().unwrap(), sent);
        assert_eq!(answer.len(), reply);
        assert!(relay.wait_idle(Duration::from_secs(10)));
        assert_eq!(
            relay.wire(),
            Wire {
                up: sent as u64,
                down: reply as u64,
                turns: 1,
            }
        );
    }

    #[test]
    fn counts_each_request_answered_as_a_turn() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).is_ok() {
                stream.write_all(&byte).unwrap();
            }
        });
        let relay = Relay::start(addr, Some("100mbit:1ms".parse().unwrap())).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        for i in 0..5u8 {
            client.write_all(&[i]).unwrap();
            let mut echo = [0u8; 1];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(echo, [i]);
        }
        drop(client);
        server.join().unwrap();
        assert!(relay.wait_idle(Duration::from_secs(10)));
        assert_eq!(relay.wire().turns, 5);
    }

    #[test]
    fn counts_every_byte_of_a_known_transfer() {
        transfer_through(None);
    }

    #[test]
    fn counts_every_byte_through_an_emulated_link() {
        transfer_through(Some("800mbit:2ms".parse().unwrap()));
    }

    #[test]
    fn parses_link_specs() {
        let link: Link = "100mbit:20ms".parse().unwrap();
        assert_eq!(link.bytes_per_sec, Some(12_500_000));
        assert_eq!(link.rtt, Duration::from_millis(20));
        assert_eq!(link.to_string(), "100mbit:20ms");
        let slow: Link = "512kbit".parse().unwrap();
        assert_eq!(
            (slow.bytes_per_sec, slow.rtt),
            (Some(64_000), Duration::ZERO)
        );
        let latency_only: Link = "unlimited:1.5s".parse().unwrap();
        assert_eq!(
            (latency_only.bytes_per_sec, latency_only.rtt),
            (None, Duration::from_millis(1500))
        );
        for bad in [
            "100",
            "100mb:20ms",
            "fast:20ms",
            "100mbit:20",
            "0mbit:1ms",
            "100mbit:-1ms",
        ] {
            assert!(bad.parse::<Link>().is_err(), "{bad}");
        }
    }
}
