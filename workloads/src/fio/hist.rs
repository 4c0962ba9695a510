//! fio's latency histogram as `json+` prints it (`clat_ns.bins`), and percentiles read off it.
//!
//! fio keeps every latency in a log-linear histogram (64 buckets per power of two, so a bucket
//! is at most 1/64 ≈ 1.6 % wide) and prints, for each non-empty bucket, the bucket's value
//! (`plat_idx_to_val`: the middle of the bucket) and its count. Its percentiles are read off
//! the same histogram (`calc_clat_percentiles` in `stat.c`): the value of the first bucket whose
//! cumulative count reaches `p / 100 × N`. [`Histogram::percentile`] applies that rule, so
//! percentiles computed here from a job's bins equal the ones fio printed, and percentiles of
//! summed bins are what fio would have printed for all those I/Os together.

use serde::Serialize;
use std::collections::BTreeMap;

/// A latency histogram: bucket value in nanoseconds → number of samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Histogram {
    bins: BTreeMap<u64, u64>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// A histogram from `(value_ns, count)` pairs; repeated values add up.
    pub fn from_bins(bins: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut h = Self::new();
        for (value, count) in bins {
            h.add(value, count);
        }
        h
    }

    /// Adds `count` samples of `value_ns` (counts saturate at `u64::MAX`).
    pub fn add(&mut self, value_ns: u64, count: u64) {
        if count == 0 {
            return;
        }
        let c = self.bins.entry(value_ns).or_insert(0);
        *c = c.saturating_add(count);
    }

    /// Adds every bin of `other` to this histogram: the histogram of both sample sets.
    pub fn merge(&mut self, other: &Histogram) {
        for (&value, &count) in &other.bins {
            self.add(value, count);
        }
    }

    /// The non-empty bins, lowest value first.
    pub fn bins(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.bins.iter().map(|(&v, &c)| (v, c))
    }

    /// Number of non-empty bins.
    pub fn len(&self) -> usize {
        self.bins.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Total number of samples (saturating).
    pub fn count(&self) -> u64 {
        let total: u128 = self.bins.values().map(|&c| u128::from(c)).sum();
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// Mean of the bucket values weighted by their counts: the mean latency to within the
    /// bucket width. `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let sum: f64 = self.bins.iter().map(|(&v, &c)| v as f64 * c as f64).sum();
        Some(sum / total as f64)
    }

    /// The `p`-th percentile (`p` in 0..=100, clamped) by fio's rule: the value of the first
    /// bin at which the cumulative count reaches `p / 100 × total`. `None` when empty or when
    /// `p` is NaN.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if p.is_nan() || self.bins.is_empty() {
            return None;
        }
        let p = p.clamp(0.0, 100.0);
        let total: u128 = self.bins.values().map(|&c| u128::from(c)).sum();
        let threshold = p / 100.0 * total as f64;
        let mut cumulative: u128 = 0;
        for (&value, &count) in &self.bins {
            cumulative += u128::from(count);
            if cumulative as f64 >= threshold {
                return Some(value);
            }
        }
        // Rounding can leave p = 100 a hair above the total; the last bin is the answer.
        self.bins.keys().next_back().copied()
    }

    /// The same samples with every bucket value multiplied by `factor` (µs → ns for fio < 3.0).
    pub(crate) fn scaled(&self, factor: u64) -> Histogram {
        Histogram::from_bins(self.bins().map(|(v, c)| (v.saturating_mul(factor), c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_follows_fios_cumulative_rule() {
        // 10 samples: 4 at 100, 4 at 200, 2 at 400.
        let h = Histogram::from_bins([(200, 4), (100, 4), (400, 2)]);
        assert_eq!(h.count(), 10);
        assert_eq!(h.len(), 3);
        // p50: threshold 5 → cumulative 4 at 100 (< 5), 8 at 200 (≥ 5).
        assert_eq!(h.percentile(50.0), Some(200));
        // p40: threshold 4 → reached exactly at 100.
        assert_eq!(h.percentile(40.0), Some(100));
        // p80: threshold 8 → 200; p80.1: threshold 8.01 → 400.
        assert_eq!(h.percentile(80.0), Some(200));
        assert_eq!(h.percentile(80.1), Some(400));
        assert_eq!(h.percentile(100.0), Some(400));
        assert_eq!(h.percentile(0.0), Some(100));
        assert_eq!(h.percentile(f64::NAN), None);
        assert_eq!(h.mean(), Some((400.0 + 800.0 + 800.0) / 10.0));
    }

    #[test]
    fn merge_sums_counts() {
        let mut a = Histogram::from_bins([(100, 1), (300, 1)]);
        let b = Histogram::from_bins([(100, 2), (200, 1), (0, 0)]);
        a.merge(&b);
        assert_eq!(
            a.bins().collect::<Vec<_>>(),
            vec![(100, 3), (200, 1), (300, 1)]
        );
        assert!(Histogram::new().percentile(50.0).is_none());
        assert!(Histogram::new().is_empty());
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let h = Histogram::from_bins([(1, u64::MAX), (2, u64::MAX), (2, 5)]);
        assert_eq!(h.count(), u64::MAX);
        assert_eq!(h.percentile(99.0), Some(2));
        assert_eq!(h.scaled(1000).bins().next(), Some((1000, u64::MAX)));
    }
}
