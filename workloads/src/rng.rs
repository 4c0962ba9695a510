//! SplitMix64: the seeded generator behind every random choice of the synthetic workloads,
//! so that a seed gives the same trees, layers and writes on every machine and with every
//! version of every crate.
//!
//! Steele, Lea and Flood's SplitMix64 (the seeding generator of `java.util.SplittableRandom`
//! and of xoshiro): one 64-bit state, an additive step and a 3-round mixer. Small, fast and
//! statistically sound for picking sizes, names and edits; not for cryptography.

/// A SplitMix64 stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A stream starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one purpose (`tag`, e.g. a round and a container number) derived
    /// from a seed, independent of the order in which other streams are used.
    pub fn derive(seed: u64, tag: &[u64]) -> Self {
        let mut s = Self::new(seed);
        for &t in tag {
            s = Self::new(s.next_u64() ^ t.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        }
        s
    }

    /// An independent generator for stream `n` of `seed` (one per thread).
    pub fn stream(seed: u64, n: u64) -> Self {
        let mut g = Self::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// A uniform index into a slice of length `n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        // usize is at most 64 bits on every target this crate builds for.
        self.below(n as u64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with probability proportional to `weights` (the last index when all
    /// weights are 0).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Fills `buf` like a database page or record: the first `1 - zero_fraction` of it with
    /// random bytes, the rest with zeros (free space, padding), so that a compressing
    /// filesystem can shrink it by about `1 / (1 - zero_fraction)`.
    pub fn fill(&mut self, buf: &mut [u8], zero_fraction: f64) {
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

/// A seed derived from `seed` and `salt`: independent streams for files, cycles and edits.
pub fn mix(seed: u64, salt: u64) -> u64 {
    SplitMix64::new(seed ^ salt.wrapping_mul(GOLDEN_GAMMA).rotate_left(17)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_and_ranges() {
        // The first outputs for seed 0 from the reference implementation (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut hits = [0u32; 7];
        for _ in 0..7000 {
            let i = r.index(7);
            hits[i] += 1;
            assert!((0.0..1.0).contains(&r.unit()));
        }
        assert!(hits.iter().all(|&h| (850..1150).contains(&h)), "{hits:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.weighted(&[0, 5, 0]), 1);
        assert_eq!(r.weighted(&[0, 0]), 1);
        assert_ne!(mix(1, 2), mix(1, 3));
        assert_ne!(mix(1, 2), mix(2, 1));
    }
    #[test]
    fn splitmix_reference_values() {
        // The first outputs for seed 1234567, as published with the algorithm's reference
        // implementation (Vigna, prng.di.unimi.it/splitmix64.c).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn below_stays_in_range_and_streams_differ() {
        let mut r = SplitMix64::new(7);
        for n in [1u64, 2, 3, 10, 1000] {
            for _ in 0..200 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
        let a = SplitMix64::derive(1, &[0, 1]).next_u64();
        let b = SplitMix64::derive(1, &[1, 0]).next_u64();
        let c = SplitMix64::derive(1, &[0, 1]).next_u64();
        assert_ne!(a, b);
        assert_eq!(a, c);
        let u = SplitMix64::new(3).unit();
        assert!((0.0..1.0).contains(&u));
    }
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
