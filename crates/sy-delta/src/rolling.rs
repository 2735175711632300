//! The weak, rolling checksum: an Adler-32-style pair of sums that slides one byte in O(1).
//!
//! For a window `x[0..n]`, `a = Σ x[i]` and `b = Σ (n − i)·x[i]`, both modulo 2³². Sliding
//! the window by one byte removes `out` and adds `in`: `a' = a − out + in`,
//! `b' = b − n·out + a'`. Unlike rsync's 16-bit halves, both sums keep 32 bits and are
//! folded into one 32-bit [`digest`](Rolling::digest) that the index looks up.

/// Bytes summed per step of the vectorisable loop: 16 lanes of `u16`, two SSE registers.
const LANES: usize = 16;
/// Bytes per run of steps: a `u16` lane then holds at most 255 · 255 < 2¹⁶.
const RUN: usize = LANES * 255;

/// The rolling state of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rolling {
    a: u32,
    b: u32,
    /// `n` of the window, modulo 2³² (it only ever multiplies a byte).
    len: u32,
}

impl Rolling {
    /// Sums of a whole window, in large steps the compiler turns into SIMD.
    pub(crate) fn of(window: &[u8]) -> Rolling {
        let (body, tail) = window.split_at(window.len() / LANES * LANES);
        let mut sums = Rolling {
            a: 0,
            b: 0,
            len: window.len() as u32,
        };
        for run in body.chunks(RUN) {
            let (a, b) = run_sums(run);
            // Appending `run` weights every earlier byte by the run's length more.
            sums.b = sums
                .b
                .wrapping_add(sums.a.wrapping_mul(run.len() as u32))
                .wrapping_add(b);
            sums.a = sums.a.wrapping_add(a);
        }
        for &x in tail {
            sums.a = sums.a.wrapping_add(u32::from(x));
            sums.b = sums.b.wrapping_add(sums.a);
        }
        sums
    }

    /// Slides the window one byte: `out` leaves at the front, `into` enters at the back.
    #[inline(always)]
    pub(crate) fn roll(&mut self, out: u8, into: u8) {
        self.a = self
            .a
            .wrapping_sub(u32::from(out))
            .wrapping_add(u32::from(into));
        self.b = self
            .b
            .wrapping_sub(self.len.wrapping_mul(u32::from(out)))
            .wrapping_add(self.a);
    }

    /// The 32-bit weak checksum: both sums, with `b`'s halves swapped so that the
    /// well-mixed low bits of `b` land where `a` has few.
    #[inline(always)]
    pub(crate) fn digest(&self) -> u32 {
        self.a ^ self.b.rotate_left(16)
    }
}

/// `(a, b)` of a run of at most [`RUN`] bytes, a multiple of [`LANES`].
#[inline]
fn run_sums(run: &[u8]) -> (u32, u32) {
    // Lane j collects the bytes at j, j+16, j+32, ...; `prefix[j]` adds up the lane before
    // each step, which weights earlier bytes by the number of later steps. Then
    // b = 16·Σprefix + Σ(16 − j)·lane[j] (see the module docs for b).
    let mut lane = [0u16; LANES];
    let mut prefix = [0u32; LANES];
    for step in run.chunks_exact(LANES) {
        for j in 0..LANES {
            prefix[j] = prefix[j].wrapping_add(u32::from(lane[j]));
            lane[j] += u16::from(step[j]);
        }
    }
    let mut a = 0u32;
    let mut b = 0u32;
    for (j, (&l, &p)) in lane.iter().zip(&prefix).enumerate() {
        a = a.wrapping_add(u32::from(l));
        b = b
            .wrapping_add(p.wrapping_mul(LANES as u32))
            .wrapping_add(u32::from(l) * (LANES - j) as u32);
    }
    (a, b)
}

/// The weak checksum of a whole block.
pub(crate) fn weak_sum(block: &[u8]) -> u32 {
    Rolling::of(block).digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(window: &[u8]) -> (u32, u32) {
        let n = window.len();
        let mut a = 0u32;
        let mut b = 0u32;
        for (i, &x) in window.iter().enumerate() {
            a = a.wrapping_add(u32::from(x));
            b = b.wrapping_add(((n - i) as u32).wrapping_mul(u32::from(x)));
        }
        (a, b)
    }

    fn pseudo_random(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678_9abc_def0u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn block_sums_match_the_definition_at_every_length() {
        let data = pseudo_random(300);
        for len in 0..data.len() {
            let r = Rolling::of(&data[..len]);
            assert_eq!((r.a, r.b), naive(&data[..len]), "len {len}");
        }
        let long = pseudo_random(3 * RUN + 77);
        for len in [RUN - 1, RUN, RUN + 1, 2 * RUN + 5, long.len()] {
            let r = Rolling::of(&long[..len]);
            assert_eq!((r.a, r.b), naive(&long[..len]), "len {len}");
        }
        let ones = vec![0xffu8; 1 << 20];
        let r = Rolling::of(&ones);
        assert_eq!((r.a, r.b), naive(&ones));
    }

    #[test]
    fn rolling_equals_recomputing() {
        let data = pseudo_random(5000);
        for window in [1usize, 2, 31, 32, 33, 700, 1024] {
            let mut r = Rolling::of(&data[..window]);
            for start in 1..data.len() - window {
                r.roll(data[start - 1], data[start + window - 1]);
                assert_eq!(
                    r,
                    Rolling::of(&data[start..start + window]),
                    "window {window} at {start}"
                );
            }
        }
    }
}
