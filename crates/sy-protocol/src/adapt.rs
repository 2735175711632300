//! Adaptive compression (`--compress=auto`): how one direction's writer decides, window after
//! window, between stored blocks and zstd, and which zstd level — in the spirit of
//! `zstd --adapt`, from what it measures rather than from what it is told.
//!
//! A window closes once it has lasted [`WINDOW_TIME`], carried [`WINDOW_BYTES`] of data the writer
//! may compress, and seen the link's writer finish a write. Over it, the transport reports the time
//! its writer spent blocked writing to the link and the wire bytes written; the block layer reports
//! the time spent compressing and the bytes in and out. From these:
//!
//! - `b`, the link's busy share: blocked time ÷ window time. Under [`LINK_BUSY`] the link is not
//!   what limits the transfer (the CPU, a disk or the peer is): compressing cannot make it faster,
//!   so data goes stored.
//! - `D`, the drain rate: wire bytes ÷ blocked time, measured while the link is busy.
//! - `C` and `r`, the compressor's speed (input bytes per second) and ratio at the current level.
//! - `c`, the compressor's busy share: compression time ÷ window time.
//! - the gain `m = (1 − 1/r) · C / D`: link time saved per byte over CPU time spent per byte.
//!
//! While compressing: a level down when the compressor is what the writer waits for (`c` over
//! [`CPU_BOUND`] with the link idle) or `m` < 2; stored when `m` < 1, below the lowest level, or
//! when the link is idle and stored data would not fill it (once more than the buffers on the way
//! hold has been written, [`BUFFERS_FILLED`]: before, an idle link says nothing); a level up when
//! `m` ≥ 4 and the compressor is idle most of the window. While stored and the link busy: zstd
//! resumes when the last estimate of `C` and `r` predicts `m` ≥ 3; otherwise a short probe (one
//! window of [`PROBE_BYTES`]) refreshes the estimate after 16 MiB, then 32 MiB, … of stored data.
//! On loopback or a fast LAN, `D` is in the hundreds of MB/s and `m` stays low: nothing is
//! compressed. At 100 Mbit/s, `D` is 12.5 MB/s and text compresses at a level the CPU sustains.
//!
//! A session's first [`WARM_UP`] bytes go stored: control messages are not worth a zstd
//! window on either side, and a direction that carries only them never needs one.
//!
//! A writer blocked by a slow *receiver* (a peer busy creating files) looks like one blocked by
//! a slow link, but compressing does not speed it up. So the governor also keeps the logical
//! rate (plain bytes per second) of busy windows, stored and compressed, and compresses only
//! while the compressed rate beats the stored one by a tenth: after the first 4 MiB
//! compressed, then after 64 MiB, 128 MiB, …, one window goes stored to measure it.

use std::time::{Duration, Instant};

use crate::handshake::DEFAULT_ZSTD_LEVEL;

/// Lowest and highest zstd level an adaptive writer uses. Negative levels are zstd's fast ones.
/// The top is level 3: levels 4 and 5 doubled the compressor's tables (2.9 → 5.3 MiB) for under
/// 1% more ratio on text logs at 100 Mbit/s. Any zstd decoder reads them all.
pub const AUTO_LEVELS: (i8, i8) = (-5, 3);

/// The level an adaptive session starts at.
pub const AUTO_START_LEVEL: i8 = DEFAULT_ZSTD_LEVEL;

/// Plain bytes a session sends stored before the governor starts: control messages stay
/// stored, so a direction that carries little never makes the peer hold a zstd window.
const WARM_UP: u64 = 256 << 10;
/// A window lasts at least this long…
const WINDOW_TIME: Duration = Duration::from_millis(30);
/// …and carries at least this much data the writer may compress.
const WINDOW_BYTES: u64 = 256 << 10;
/// A window that takes longer than this to fill is judged with what it has when the link's
/// writer finished writes in it (a link below about 1 Mbit/s), else dropped.
const WINDOW_STALE: Duration = Duration::from_secs(2);
/// A pause in sending this long while the link's writer idles (waiting for answers) is not the
/// link's doing: the window starts again after it.
const IDLE_GAP: Duration = Duration::from_millis(100);
/// A probe compresses this much, then is judged.
const PROBE_BYTES: u64 = 1 << 20;
/// Stored bytes before the first probe; doubled after each probe that did not pay…
const FIRST_PROBE: u64 = 16 << 20;
/// …up to this.
const LAST_PROBE: u64 = 1 << 30;
/// Compressed bytes before the first stored check window…
const FIRST_CHECK: u64 = 4 << 20;
/// …and before the next ones, doubled after each check that found compressing faster.
const NEXT_CHECK: u64 = 64 << 20;
/// A check window lasts at least this long, to measure the stored rate well.
const CHECK_TIME: Duration = Duration::from_millis(60);
/// Compressing pays only while its logical rate is over the stored one by this factor.
const RATE_MARGIN: f64 = 1.1;
/// Compressed input below this says too little about speed and ratio.
const MIN_SAMPLE: u64 = 64 << 10;

/// More wire bytes than the socket and relay buffers on the way hold: a link still idle after
/// these is not the bottleneck…
const BUFFERS_FILLED: u64 = 8 << 20;
/// …nor after this much plain data (which, compressed well, may not reach the wire bytes).
const BUFFERS_FILLED_PLAIN: u64 = 32 << 20;

/// The link's busy share from which it counts as the bottleneck.
const LINK_BUSY: f64 = 0.25;
/// The compressor's busy share from which it counts as the bottleneck.
const CPU_BOUND: f64 = 0.6;
/// The compressor's busy share under which a higher level is affordable.
const CPU_IDLE: f64 = 0.3;
/// Gains: stored below the first, a level down below the second, resume from stored at the
/// third, a level up from the fourth.
const GAIN_STORED: f64 = 1.0;
const GAIN_KEEP: f64 = 2.0;
const GAIN_RESUME: f64 = 3.0;
const GAIN_UP: f64 = 4.0;

/// How the writer sends what it may compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Stored blocks.
    Stored,
    /// zstd at this level.
    Zstd(i8),
}

/// Running totals of the compressor's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ZstdTotals {
    /// Plain bytes compressed.
    pub(crate) input: u64,
    /// Compressed bytes produced.
    pub(crate) output: u64,
    /// Time spent compressing.
    pub(crate) time: Duration,
}

/// What one window of a direction's sending looked like.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Window {
    /// Its length.
    pub(crate) elapsed: Duration,
    /// Bytes the governor chose for (not those the sender judged incompressible).
    pub(crate) logical: u64,
    /// The compressor's work in it.
    pub(crate) zstd: ZstdTotals,
    /// Wire bytes the link's writer finished writing…
    pub(crate) link_written: u64,
    /// …and the time it spent blocked writing.
    pub(crate) link_busy: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Plain bytes compressed per second.
    speed: f64,
    /// Plain bytes per compressed byte.
    ratio: f64,
}

/// The decision rule, without clocks: windows in, choices out.
#[derive(Debug)]
pub(crate) struct Governor {
    choice: Choice,
    /// The level zstd resumes at.
    level: i8,
    estimate: Option<Estimate>,
    /// Wire bytes per second the link drains while busy.
    drain: Option<f64>,
    /// The current zstd window is a probe.
    probing: bool,
    stored_since_probe: u64,
    probe_after: u64,
    /// Plain bytes per second in busy windows: stored…
    stored_rate: Option<f64>,
    /// …and compressed.
    zstd_rate: Option<f64>,
    /// The current stored window measures the stored rate.
    checking: bool,
    compressed_since_check: u64,
    check_after: u64,
    /// Wire bytes written so far, and plain bytes sent.
    wire_seen: u64,
    plain_seen: u64,
}

impl Governor {
    pub(crate) fn new(level: i8) -> Self {
        let level = level.clamp(AUTO_LEVELS.0, AUTO_LEVELS.1);
        Governor {
            choice: Choice::Zstd(level),
            level,
            estimate: None,
            drain: None,
            probing: false,
            stored_since_probe: 0,
            probe_after: FIRST_PROBE,
            stored_rate: None,
            zstd_rate: None,
            checking: false,
            compressed_since_check: 0,
            check_after: FIRST_CHECK,
            wire_seen: 0,
            plain_seen: 0,
        }
    }

    pub(crate) fn choice(&self) -> Choice {
        self.choice
    }

    /// Takes in one window; returns the choice for the next.
    pub(crate) fn observe(&mut self, window: &Window) -> Choice {
        let secs = window.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return self.choice;
        }
        self.wire_seen = self.wire_seen.saturating_add(window.link_written);
        self.plain_seen = self.plain_seen.saturating_add(window.logical);
        let busy = window.link_busy.as_secs_f64();
        let link_bound = busy / secs >= LINK_BUSY;
        if link_bound && window.link_written > 0 && busy > 0.0 {
            // A lower rate is believed at once (a higher one is the buffers on the way still
            // filling, as often as a faster link).
            let sample = window.link_written as f64 / busy;
            self.drain = Some(match self.drain {
                Some(drain) if drain < sample => (drain + sample) / 2.0,
                _ => sample,
            });
        }
        let zstd = window.zstd;
        let zstd_secs = zstd.time.as_secs_f64();
        if zstd.input >= MIN_SAMPLE && zstd.output > 0 && zstd_secs > 0.0 {
            let sample = Estimate {
                speed: zstd.input as f64 / zstd_secs,
                ratio: zstd.input as f64 / zstd.output as f64,
            };
            self.estimate = Some(self.estimate.map_or(sample, |e| Estimate {
                speed: (e.speed + sample.speed) / 2.0,
                ratio: (e.ratio + sample.ratio) / 2.0,
            }));
        }
        // While the buffers on the way fill, the link takes data faster than it drains it: no
        // rate measured then is the link's.
        if link_bound && self.wire_seen >= BUFFERS_FILLED {
            let sample = window.logical as f64 / secs;
            let rate = match self.choice {
                Choice::Stored => &mut self.stored_rate,
                Choice::Zstd(_) => &mut self.zstd_rate,
            };
            *rate = Some(rate.map_or(sample, |r| (r + sample) / 2.0));
        }
        // Compressing does not make the transfer faster: the far end, not the link, limits it.
        let no_faster = matches!(
            (self.stored_rate, self.zstd_rate),
            (Some(stored), Some(zstd)) if zstd < stored * RATE_MARGIN
        );
        let cpu = zstd_secs / secs;
        let gain = self.gain();
        let checking = std::mem::take(&mut self.checking);
        let current = self.choice;
        let next = match current {
            Choice::Zstd(level) => {
                let next = if cpu >= CPU_BOUND && !link_bound {
                    // The writer waits for the compressor: a cheaper level, unless compressing
                    // does not pay at all (or nothing says the link is slow).
                    match gain {
                        Some(gain) if gain >= GAIN_STORED => down(level),
                        _ => {
                            self.level = lower(level);
                            Choice::Stored
                        }
                    }
                } else if !link_bound {
                    // Neither the link nor the compressor is busy: the data comes slowly. Stored
                    // blocks would do, unless they would fill the link.
                    // The first windows of a session only fill the buffers along the way:
                    // until more than those hold has been written, an idle link says nothing.
                    let unproven = self.drain.is_none()
                        && self.wire_seen < BUFFERS_FILLED
                        && self.plain_seen < BUFFERS_FILLED_PLAIN;
                    let logical_rate = window.logical as f64 / secs;
                    if unproven || self.drain.is_some_and(|drain| logical_rate * 2.0 >= drain) {
                        Choice::Zstd(level)
                    } else {
                        Choice::Stored
                    }
                } else {
                    match gain {
                        None => Choice::Zstd(level),
                        Some(gain) if gain < GAIN_STORED => {
                            self.level = lower(level);
                            Choice::Stored
                        }
                        Some(gain) if gain < GAIN_KEEP => down(level),
                        Some(_) if no_faster => Choice::Stored,
                        Some(gain) if gain >= GAIN_UP && cpu < CPU_IDLE => up(level),
                        Some(_) => Choice::Zstd(level),
                    }
                };
                if std::mem::take(&mut self.probing) && next == Choice::Stored {
                    self.probe_after = (self.probe_after * 2).min(LAST_PROBE);
                }
                self.compressed_since_check += zstd.input;
                if matches!(next, Choice::Zstd(_))
                    && link_bound
                    && self.compressed_since_check >= self.check_after
                {
                    // One stored window, to see whether compressing is still faster.
                    self.compressed_since_check = 0;
                    self.checking = true;
                    self.level = match next {
                        Choice::Zstd(next_level) => next_level,
                        Choice::Stored => level,
                    };
                    return self.settle(Choice::Stored);
                }
                next
            }
            Choice::Stored if checking => {
                if link_bound && !no_faster {
                    self.check_after = if self.check_after < NEXT_CHECK {
                        NEXT_CHECK
                    } else {
                        (self.check_after * 2).min(LAST_PROBE)
                    };
                    Choice::Zstd(self.level)
                } else {
                    Choice::Stored
                }
            }
            Choice::Stored => {
                self.stored_since_probe += window.logical;
                if !link_bound {
                    Choice::Stored
                } else if gain.is_some_and(|gain| gain >= GAIN_RESUME) && !no_faster {
                    self.probe_after = FIRST_PROBE;
                    Choice::Zstd(self.level)
                } else if self.estimate.is_none() || self.stored_since_probe >= self.probe_after {
                    self.stored_since_probe = 0;
                    self.probing = true;
                    Choice::Zstd(self.level)
                } else {
                    Choice::Stored
                }
            }
        };
        self.settle(next)
    }

    fn settle(&mut self, choice: Choice) -> Choice {
        self.choice = choice;
        if let Choice::Zstd(level) = choice {
            self.level = level;
        }
        choice
    }

    fn gain(&self) -> Option<f64> {
        let estimate = self.estimate?;
        let drain = self.drain?;
        let saved = (1.0 - 1.0 / estimate.ratio).max(0.0);
        Some(saved * estimate.speed / drain)
    }
}

/// The next cheaper choice: a lower level, or stored below the lowest.
fn down(level: i8) -> Choice {
    if level <= AUTO_LEVELS.0 {
        Choice::Stored
    } else {
        Choice::Zstd(lower(level))
    }
}

fn up(level: i8) -> Choice {
    // zstd's level 0 means "the default": skip it.
    let next = if level == -1 { 1 } else { level + 1 };
    Choice::Zstd(next.min(AUTO_LEVELS.1))
}

fn lower(level: i8) -> i8 {
    let next = if level == 1 { -1 } else { level - 1 };
    next.max(AUTO_LEVELS.0)
}

/// A [`Governor`] with its clock: the endpoint tells it what was sent, the transport what the
/// link did, and it closes windows.
#[derive(Debug)]
pub(crate) struct Adapter {
    governor: Governor,
    start: Instant,
    last_sent: Instant,
    /// The link's busy time when something was last sent.
    busy_at_last_sent: Duration,
    logical: u64,
    zstd_mark: ZstdTotals,
    link_written: u64,
    link_busy: Duration,
    link_mark: (u64, Duration),
    /// Lowest and highest level used so far.
    used: Option<(i8, i8)>,
    /// Plain bytes still to send stored before the governor starts.
    warming: u64,
}

impl Adapter {
    pub(crate) fn new(level: i8) -> Self {
        Adapter {
            governor: Governor::new(level),
            start: Instant::now(),
            last_sent: Instant::now(),
            busy_at_last_sent: Duration::ZERO,
            logical: 0,
            zstd_mark: ZstdTotals::default(),
            link_written: 0,
            link_busy: Duration::ZERO,
            link_mark: (0, Duration::ZERO),
            used: None,
            warming: WARM_UP,
        }
    }

    pub(crate) fn choice(&self) -> Choice {
        if self.warming > 0 {
            Choice::Stored
        } else {
            self.governor.choice()
        }
    }

    /// Lowest and highest zstd level used so far.
    pub(crate) fn levels_used(&self) -> Option<(i8, i8)> {
        self.used
    }

    /// The link's writer has written `written` bytes in all, blocked for `busy` in all.
    pub(crate) fn link_progress(&mut self, written: u64, busy: Duration) {
        self.link_written = written;
        self.link_busy = busy;
    }

    /// `logical` more bytes went out under the current choice; `zstd` is the compressor's
    /// running total. Returns the choice for what comes next.
    pub(crate) fn sent(&mut self, logical: u64, zstd: ZstdTotals) -> Choice {
        if self.warming > 0 {
            self.warming = self.warming.saturating_sub(logical);
            if self.warming == 0 {
                self.last_sent = Instant::now();
                self.restart(zstd);
            }
            return self.choice();
        }
        let now = Instant::now();
        // A pause in sending restarts the window, unless the link's writer was busy through
        // it: then the pause was the link's (a slow one drains a full queue for longer).
        let gap = now.duration_since(self.last_sent);
        let link_worked = self.link_busy.saturating_sub(self.busy_at_last_sent);
        if gap >= IDLE_GAP && link_worked < gap / 2 {
            self.restart(zstd);
        }
        self.last_sent = now;
        self.busy_at_last_sent = self.link_busy;
        if let Choice::Zstd(level) = self.choice()
            && logical > 0
        {
            self.used = Some(self.used.map_or((level, level), |(low, high)| {
                (low.min(level), high.max(level))
            }));
        }
        self.logical += logical;
        let elapsed = self.start.elapsed();
        let compressed = zstd.input.saturating_sub(self.zstd_mark.input);
        // A window in which the link's writer finished nothing says nothing about the link
        // (it is in the middle of one write): it lasts until the writer reports.
        let link_moved = self.link_written > self.link_mark.0;
        let probe_done = self.governor.probing && compressed >= PROBE_BYTES && link_moved;
        let min_time = if self.governor.checking {
            CHECK_TIME
        } else {
            WINDOW_TIME
        };
        let full = elapsed >= min_time && self.logical >= WINDOW_BYTES && link_moved;
        // A window that took this long with data going out all along (a pause restarts it)
        // measured a slow link: judged with less data, not dropped, or a link below about
        // 1 Mbit/s would never fill one and never be judged at all.
        let slow = elapsed >= WINDOW_STALE && self.logical >= MIN_SAMPLE && link_moved;
        if !probe_done && !full && !slow {
            if elapsed >= WINDOW_STALE {
                self.restart(zstd);
            }
            return self.governor.choice();
        }
        let window = Window {
            elapsed,
            logical: self.logical,
            zstd: ZstdTotals {
                input: compressed,
                output: zstd.output.saturating_sub(self.zstd_mark.output),
                time: zstd.time.saturating_sub(self.zstd_mark.time),
            },
            link_written: self.link_written.saturating_sub(self.link_mark.0),
            link_busy: self.link_busy.saturating_sub(self.link_mark.1),
        };
        let choice = self.governor.observe(&window);
        self.restart(zstd);
        choice
    }

    fn restart(&mut self, zstd: ZstdTotals) {
        self.start = Instant::now();
        self.logical = 0;
        self.zstd_mark = zstd;
        self.link_mark = (self.link_written, self.link_busy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = 1_000_000.0;

    /// A window of `secs` in which `logical` bytes went out under `choice`, the compressor
    /// running at `speed` with `ratio` when it ran, over a link that drains `drain` bytes/s.
    /// The writer is blocked whenever the link is the slower of the two.
    fn window(choice: Choice, secs: f64, speed: f64, ratio: f64, drain: f64) -> Window {
        let compressing = matches!(choice, Choice::Zstd(_));
        let (wire_rate, logical_rate) = if compressing {
            let wire_rate = drain.min(speed / ratio);
            (wire_rate, wire_rate * ratio)
        } else {
            (drain, drain)
        };
        let logical = (logical_rate * secs) as u64;
        let wire = (wire_rate * secs) as u64;
        Window {
            elapsed: Duration::from_secs_f64(secs),
            logical,
            zstd: if compressing {
                ZstdTotals {
                    input: logical,
                    output: wire,
                    time: Duration::from_secs_f64(logical as f64 / speed),
                }
            } else {
                ZstdTotals::default()
            },
            link_written: wire,
            link_busy: Duration::from_secs_f64(secs * (wire_rate / drain).min(1.0)),
        }
    }

    fn run(governor: &mut Governor, windows: usize, speed: f64, ratio: f64, drain: f64) {
        for _ in 0..windows {
            let w = window(governor.choice(), 0.1, speed, ratio, drain);
            governor.observe(&w);
        }
    }

    #[test]
    fn a_fast_link_gets_stored_blocks() {
        // Loopback: the link drains 700 MB/s, zstd does 300 MB/s at 3.8×.
        let mut governor = Governor::new(AUTO_START_LEVEL);
        run(&mut governor, 20, 300.0 * MB, 3.8, 700.0 * MB);
        assert_eq!(governor.choice(), Choice::Stored);
    }

    #[test]
    fn a_link_that_is_never_busy_gets_stored_blocks() {
        let mut governor = Governor::new(AUTO_START_LEVEL);
        let idle = Window {
            elapsed: Duration::from_millis(100),
            logical: 1 << 20,
            zstd: ZstdTotals {
                input: 1 << 20,
                output: 300 << 10,
                time: Duration::from_millis(4),
            },
            link_written: 300 << 10,
            link_busy: Duration::from_millis(1),
        };
        // At first an idle link only means the buffers on the way are filling…
        assert_eq!(governor.observe(&idle), Choice::Zstd(AUTO_START_LEVEL));
        // …but once more than they hold went through, it is not the bottleneck.
        for _ in 0..(BUFFERS_FILLED_PLAIN / idle.logical) {
            governor.observe(&idle);
        }
        assert_eq!(governor.choice(), Choice::Stored);
    }

    #[test]
    fn a_slow_link_gets_zstd_and_the_level_rises_while_the_cpu_keeps_up() {
        // 100 Mbit/s: 12.5 MB/s, zstd 300 MB/s at 3.8×, from the fastest level up.
        let mut governor = Governor::new(AUTO_LEVELS.0);
        run(&mut governor, 20, 300.0 * MB, 3.8, 12.5 * MB);
        assert_eq!(governor.choice(), Choice::Zstd(AUTO_LEVELS.1));
    }

    #[test]
    fn a_slow_link_after_a_stored_start_resumes_zstd() {
        let mut governor = Governor::new(AUTO_START_LEVEL);
        run(&mut governor, 5, 300.0 * MB, 3.8, 700.0 * MB);
        assert_eq!(governor.choice(), Choice::Stored);
        // The same session now meets a slow link (the socket's buffers filled).
        run(&mut governor, 10, 300.0 * MB, 3.8, 12.5 * MB);
        assert!(
            matches!(governor.choice(), Choice::Zstd(_)),
            "{:?}",
            governor.choice()
        );
    }

    #[test]
    fn a_compressor_slower_than_the_link_steps_down_to_a_fast_level() {
        // 1 Gbit/s with a slow CPU: the link drains 120 MB/s, zstd does only 150 MB/s at 3.8×,
        // so at any level the writer waits for the compressor: it ends stored or at the lowest
        // levels, never above the start.
        let mut governor = Governor::new(AUTO_START_LEVEL);
        run(&mut governor, 30, 150.0 * MB, 3.8, 120.0 * MB);
        match governor.choice() {
            Choice::Stored => {}
            Choice::Zstd(level) => assert!(level < AUTO_START_LEVEL, "level {level}"),
        }
    }

    #[test]
    fn a_receiver_that_limits_the_transfer_gets_stored_blocks() {
        // The writer is blocked 90% of the time whatever it sends: the peer takes 13 MB/s of
        // plain data however it arrives. Compressing shrinks the wire bytes, not the time.
        let mut governor = Governor::new(AUTO_START_LEVEL);
        let secs = 0.1;
        let logical = (13.0 * MB * secs) as u64;
        // (Rates count once the buffers on the way are full.)
        for _ in 0..60 {
            let wire = match governor.choice() {
                Choice::Stored => logical,
                Choice::Zstd(_) => (logical as f64 / 3.8) as u64,
            };
            let compressed = matches!(governor.choice(), Choice::Zstd(_));
            governor.observe(&Window {
                elapsed: Duration::from_secs_f64(secs),
                logical,
                zstd: if compressed {
                    ZstdTotals {
                        input: logical,
                        output: wire,
                        time: Duration::from_secs_f64(logical as f64 / (300.0 * MB)),
                    }
                } else {
                    ZstdTotals::default()
                },
                link_written: wire,
                link_busy: Duration::from_secs_f64(secs * 0.9),
            });
        }
        assert_eq!(governor.choice(), Choice::Stored);
    }

    #[test]
    fn incompressible_data_on_a_slow_link_goes_stored() {
        // Ratio 1.01: nothing saved, whatever the link.
        let mut governor = Governor::new(AUTO_START_LEVEL);
        run(&mut governor, 10, 300.0 * MB, 1.01, 12.5 * MB);
        assert_eq!(governor.choice(), Choice::Stored);
    }

    #[test]
    fn the_first_bytes_of_a_session_go_stored() {
        let mut adapter = Adapter::new(AUTO_START_LEVEL);
        assert_eq!(adapter.choice(), Choice::Stored);
        let none = ZstdTotals::default();
        assert_eq!(adapter.sent(WARM_UP - 1, none), Choice::Stored);
        assert_eq!(adapter.levels_used(), None);
        assert_eq!(adapter.sent(1, none), Choice::Zstd(AUTO_START_LEVEL));
    }

    #[test]
    fn a_link_too_slow_to_fill_a_window_in_time_is_still_judged() {
        // About 600 kbit/s: 2 KiB at a time, never pausing long enough to restart the window,
        // and the writer blocked all along.
        let mut adapter = Adapter::new(AUTO_START_LEVEL);
        let none = ZstdTotals::default();
        adapter.sent(WARM_UP, none);
        let start = Instant::now();
        let mut written = 0;
        while start.elapsed() < WINDOW_STALE + Duration::from_millis(200) {
            std::thread::sleep(IDLE_GAP / 4);
            written += 2 << 10;
            adapter.link_progress(written, start.elapsed());
            adapter.sent(2 << 10, none);
        }
        assert!(adapter.governor.drain.is_some(), "no window was judged");
    }

    #[test]
    fn a_link_that_makes_the_sender_wait_is_still_judged() {
        // 10 Mbit/s: each MiB takes 0.8 s to drain, and the sender waits that long between
        // sends with the writer busy throughout. (The pauses used to restart every window.)
        let mut adapter = Adapter::new(AUTO_START_LEVEL);
        let none = ZstdTotals::default();
        adapter.sent(WARM_UP, none);
        let start = Instant::now();
        let mut written = 0;
        for _ in 0..4 {
            std::thread::sleep(IDLE_GAP * 3);
            written += 256 << 10;
            adapter.link_progress(written, start.elapsed());
            adapter.sent(256 << 10, none);
        }
        assert!(adapter.governor.drain.is_some(), "no window was judged");
    }

    #[test]
    fn levels_skip_zero_and_stay_in_range() {
        assert_eq!(up(-1), Choice::Zstd(1));
        assert_eq!(down(1), Choice::Zstd(-1));
        assert_eq!(up(AUTO_LEVELS.1), Choice::Zstd(AUTO_LEVELS.1));
        assert_eq!(down(AUTO_LEVELS.0), Choice::Stored);
    }
}
