//! Deterministic pseudo-random numbers and payload bytes for the synthetic writers.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! OOPSLA 2014): one `u64` of state, good enough for picking pages and filling payloads,
//! and the same sequence for the same seed on every machine. Each thread gets its own
//! stream from [`SplitMix64::stream`], so runs with the same seed and the same interleaving
//! of threads write the same bytes.

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for stream `n` of `seed` (one per thread).
    pub(crate) fn stream(seed: u64, n: u64) -> Self {
        let mut g = Self::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), by Lemire's multiply-shift (bias below 2^-32
    /// for the sizes used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fills `buf` like a database page or record: the first `1 - zero_fraction` of it with
    /// random bytes, the rest with zeros (free space, padding), so that a compressing
    /// filesystem can shrink it by about `1 / (1 - zero_fraction)`.
    pub(crate) fn fill(&mut self, buf: &mut [u8], zero_fraction: f64) {
        let random = ((buf.len() as f64) * (1.0 - zero_fraction.clamp(0.0, 1.0))).round() as usize;
        let random = random.min(buf.len());
        let (head, tail) = buf.split_at_mut(random);
        for chunk in head.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        tail.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_other_stream_other_sequence() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut g = SplitMix64::new(7);
                move |_| g.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut g = SplitMix64::new(7);
                move |_| g.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        let mut s0 = SplitMix64::stream(7, 0);
        let mut s1 = SplitMix64::stream(7, 1);
        assert_ne!(s0.next_u64(), s1.next_u64());
        // The reference value of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_stays_in_range() {
        let mut g = SplitMix64::new(1);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let x = g.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "every value comes up");
        assert_eq!(g.below(0), 0);
    }

    #[test]
    fn fill_leaves_the_zero_fraction_at_the_end() {
        let mut g = SplitMix64::new(3);
        let mut buf = vec![0xFFu8; 8192];
        g.fill(&mut buf, 0.25);
        assert!(buf[6144..].iter().all(|&b| b == 0));
        let nonzero = buf[..6144].iter().filter(|&&b| b != 0).count();
        assert!(nonzero > 6000, "{nonzero}");
        let mut odd = vec![1u8; 13];
        g.fill(&mut odd, 0.0);
        g.fill(&mut odd, 1.0);
        assert!(odd.iter().all(|&b| b == 0));
    }
}
