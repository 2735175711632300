//! A small deterministic generator for workloads.
//!
//! xoshiro256++ written out here rather than taken from `rand`, because the benchmark data must stay
//! byte-identical across dependency upgrades: `rand` does not promise stable output for its
//! general-purpose generators, and a changed workload would silently break comparisons with old runs.

/// xoshiro256++ seeded from a benchmark seed and a label naming the stream.
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A stream for `label` under `seed`: different labels give independent streams.
    pub fn new(seed: u64, label: &str) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&seed.to_le_bytes());
        hasher.update(label.as_bytes());
        let key = hasher.finalize();
        let mut state = [0u64; 4];
        for (word, bytes) in state.iter_mut().zip(key.as_bytes().chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(bytes);
            *word = u64::from_le_bytes(le);
        }
        if state == [0; 4] {
            // The all-zero state is the one fixed point of xoshiro; blake3 never yields it in practice.
            state[0] = 1;
        }
        Self { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s0.wrapping_add(*s3).rotate_left(23).wrapping_add(*s0);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// A value in `0..bound` (`bound` > 0), by multiply-shift: unbiased enough for workload shapes.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_give_the_same_stream() {
        let mut a = Rng::new(7, "x");
        let mut b = Rng::new(7, "x");
        let mut c = Rng::new(7, "y");
        let (va, vb, vc): (Vec<u64>, Vec<u64>, Vec<u64>) = (
            (0..4).map(|_| a.next_u64()).collect(),
            (0..4).map(|_| b.next_u64()).collect(),
            (0..4).map(|_| c.next_u64()).collect(),
        );
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(1, "below");
        assert!((0..10_000).all(|_| rng.below(13) < 13));
    }
}
