//! Signature hashing on several threads, byte-identical to the single-threaded result.
//!
//! The calling thread owns the reader (it need not be `Send`): it reads block-aligned
//! chunks into a small pool of buffers and queues each for `threads − 1` scoped worker
//! threads — or, when one chunk is already queued, hashes it itself, so every thread
//! hashes. When the pool runs dry it takes back the queued chunk before waiting, so a
//! worker the OS has descheduled stalls nobody. Results come back tagged with their chunk
//! number and are appended in order. At most `2·threads + 2` buffers exist at once, so
//! memory stays bounded whatever the file size.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::mpsc::{self, TrySendError};
use std::thread;

use crate::error::Result;
use crate::signature::{BlockSum, READ_CONTEXT, StrongHasher, read_full};

struct Job {
    seq: u64,
    buf: Vec<u8>,
    len: usize,
}

struct Done {
    seq: u64,
    sums: Vec<BlockSum>,
    buf: Vec<u8>,
}

pub(crate) fn sum_stream<R: Read>(
    reader: &mut R,
    hasher: StrongHasher,
    block_size: usize,
    chunk_len: usize,
    threads: usize,
) -> Result<(u64, Vec<BlockSum>)> {
    let mut first = vec![0u8; chunk_len];
    let first_len = read_full(reader, &mut first, READ_CONTEXT)?;
    if first_len < chunk_len {
        // The whole file fits in one chunk: not worth starting threads.
        let mut sums = Vec::with_capacity(first_len.div_ceil(block_size));
        hasher.sum_blocks(&first[..first_len], block_size, &mut sums);
        return Ok((first_len as u64, sums));
    }
    let workers = threads - 1;
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(1);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || {
                loop {
                    // A poisoned lock means a sibling panicked; stop and let the scope report it.
                    let Ok(next) = job_rx.lock().map(|rx| rx.recv()) else {
                        break;
                    };
                    let Ok(job) = next else { break };
                    if done_tx.send(job.run(&hasher, block_size)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Moving the sender in means every return path (an error included) closes the
        // job queue, so the workers finish and the scope can join them.
        let hash_here = |job: Job| job.run(&hasher, block_size);
        let queue = Queue {
            jobs: job_tx,
            queued: &job_rx,
            done: &done_rx,
            max_buffers: 2 * threads + 2,
        };
        read_and_collect(reader, first, queue, hash_here)
    })
}

impl Job {
    fn run(self, hasher: &StrongHasher, block_size: usize) -> Done {
        let mut sums = Vec::with_capacity(self.len.div_ceil(block_size));
        hasher.sum_blocks(&self.buf[..self.len], block_size, &mut sums);
        Done {
            seq: self.seq,
            sums,
            buf: self.buf,
        }
    }
}

/// The way to the workers and back.
struct Queue<'d> {
    jobs: mpsc::SyncSender<Job>,
    /// The workers' end of `jobs`, to take back a queued chunk.
    queued: &'d Mutex<mpsc::Receiver<Job>>,
    done: &'d mpsc::Receiver<Done>,
    /// Chunk buffers allowed to exist at once.
    max_buffers: usize,
}

/// Hands out chunks, starting with `first` (already read, and full), until the end of
/// `reader`, and collects their sums in order.
fn read_and_collect<R: Read>(
    reader: &mut R,
    first: Vec<u8>,
    queue: Queue<'_>,
    hash_here: impl Fn(Job) -> Done,
) -> Result<(u64, Vec<BlockSum>)> {
    let Queue {
        jobs: job_tx,
        queued,
        done: done_rx,
        max_buffers,
    } = queue;
    let chunk_len = first.len();
    let mut ordered = InOrder::default();
    let mut free: Vec<Vec<u8>> = Vec::new();
    let mut allocated = 1;
    let mut file_len = 0u64;
    let mut seq = 0u64;
    let mut first = Some(first);
    loop {
        let (buf, len) = if let Some(buf) = first.take() {
            (buf, chunk_len)
        } else {
            let mut buf = if let Some(buf) = free.pop() {
                buf
            } else if allocated < max_buffers {
                allocated += 1;
                vec![0u8; chunk_len]
            } else if let Some(job) = take_back(queued) {
                ordered.accept(hash_here(job))
            } else {
                match done_rx.recv() {
                    Ok(done) => ordered.accept(done),
                    // Every worker is gone; only a panic does that, and the scope re-raises it.
                    Err(_) => break,
                }
            };
            let len = read_full(reader, &mut buf, READ_CONTEXT)?;
            (buf, len)
        };
        file_len += len as u64;
        let at_end = len < chunk_len;
        if len > 0 {
            match job_tx.try_send(Job { seq, buf, len }) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => free.push(ordered.accept(hash_here(job))),
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
        seq += 1;
        while let Ok(done) = done_rx.try_recv() {
            free.push(ordered.accept(done));
        }
        if at_end {
            break;
        }
    }
    drop(job_tx);
    for done in done_rx {
        ordered.accept(done);
    }
    Ok((file_len, ordered.sums))
}

/// The queued chunk, if no worker has taken it. A worker waiting for work holds the lock
/// while the queue is empty, so a lock we cannot get means there is nothing to take.
fn take_back(queued: &Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    queued.try_lock().ok()?.try_recv().ok()
}

/// Appends chunk results in chunk order, holding back those that arrive early.
#[derive(Default)]
struct InOrder {
    next: u64,
    early: BTreeMap<u64, Vec<BlockSum>>,
    sums: Vec<BlockSum>,
}

impl InOrder {
    /// Takes one result and returns its buffer for reuse.
    fn accept(&mut self, done: Done) -> Vec<u8> {
        self.early.insert(done.seq, done.sums);
        while let Some(sums) = self.early.remove(&self.next) {
            self.sums.extend_from_slice(&sums);
            self.next += 1;
        }
        done.buf
    }
}
