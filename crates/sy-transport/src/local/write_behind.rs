//! Writing a rebuilt file on a thread of its own, behind the thread that patches it, and
//! starting its writeback early.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc;

use sy_delta::FileHasher;

use super::write::Out;

/// Pieces handed to the writing thread…
const PIECE: usize = 256 << 10;
/// …and how many may wait for it.
const QUEUE: usize = 4;

/// Hashes the rebuilt file on the patching thread and hands its bytes to a thread that writes
/// them: the kernel's copy into the page cache, the largest cost of a delta that copies most
/// of a big basis, then overlaps reading the basis and hashing.
pub(super) struct WriteBehind<'h> {
    hasher: &'h mut FileHasher,
    full: mpsc::SyncSender<Vec<u8>>,
    free: mpsc::Receiver<Vec<u8>>,
}

impl Write for WriteBehind<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        // The writer's error is what gets reported; this one only stops the patcher.
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the writer stopped");
        for piece in buf.chunks(PIECE) {
            let mut spare = self.free.recv().map_err(|_| stopped())?;
            spare.clear();
            spare.extend_from_slice(piece);
            self.full.send(spare).map_err(|_| stopped())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `patch` with a [`WriteBehind`] that hashes into `hasher` and writes through `out` on
/// a thread of its own; returns what `patch` returned and how the writing ended.
pub(super) fn write_behind<T>(
    out: &mut Out<'_>,
    file: &File,
    hasher: &mut FileHasher,
    patch: impl FnOnce(WriteBehind<'_>) -> T,
) -> (T, io::Result<()>) {
    std::thread::scope(|scope| {
        let (full, full_rx) = mpsc::sync_channel(QUEUE);
        let (free_tx, free) = mpsc::channel();
        for _ in 0..=QUEUE {
            let _ = free_tx.send(Vec::new());
        }
        let writer = scope.spawn(move || write_pieces(out, file, full_rx, free_tx));
        // `patch` consumes the sender: when it returns, the writer drains the queue and ends.
        let patched = patch(WriteBehind { hasher, full, free });
        let wrote = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (patched, wrote)
    })
}

/// The writing thread: writes each piece in order and hands its buffer back, until the
/// patcher is done (its sender is gone) or a write fails.
fn write_pieces(
    out: &mut Out<'_>,
    file: &File,
    full: mpsc::Receiver<Vec<u8>>,
    free: mpsc::Sender<Vec<u8>>,
) -> io::Result<()> {
    let mut flushed = out.pos;
    for piece in full {
        out.write(&piece)?;
        // The patcher may have stopped already; then the buffer is just freed.
        let _ = free.send(piece);
        if out.pos - flushed >= WRITEBACK_STEP {
            start_writeback(file, flushed, out.pos - flushed);
            flushed = out.pos;
        }
    }
    Ok(())
}

/// Bytes written between two requests to start writing them back.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Starts writing `len` bytes at `offset` back to the disk, without waiting.
///
/// Why: renaming over an existing file makes ext4 (and btrfs) flush the new file's dirty data
/// inside `rename`, so that a crash cannot leave an empty file behind. For a 1 GiB file that
/// flush took 0.3 s, all of it after the transfer. Started piece by piece here, it overlaps
/// the transfer on this thread and `rename` finds nothing left to flush.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open (the
    // caller borrows the file) and a bad range is an error return, not undefined behaviour.
    let done = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if done != 0 {
        // Only a head start: the data is written back in any case, and write errors show up
        // there, not here.
        tracing::debug!("starting writeback: {}", io::Error::last_os_error());
    }
}
