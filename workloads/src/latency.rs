//! Latency samples of the synthetic workloads, and their percentiles.
//!
//! Every sample is kept (a 30 s run makes at most a few hundred thousand), so percentiles
//! are exact: the nearest-rank value, as fio reports them. Recorders of several threads
//! merge by concatenation, never by averaging percentiles.

use crate::Percentiles;
use std::time::Duration;

/// Latency samples in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    samples: Vec<u64>,
}

impl Latencies {
    /// No samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        self.samples
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds all of `other`'s samples.
    pub fn merge(&mut self, other: &Latencies) {
        self.samples.extend_from_slice(&other.samples);
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The nearest-rank `p`-th percentile (0 < p <= 100) in nanoseconds.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let mut v = self.samples.clone();
        v.sort_unstable();
        nearest_rank(&v, p)
    }

    /// p50, p90, p99, p99.9 and the mean; `None` without samples.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.samples.is_empty() {
            return None;
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        Some(Percentiles {
            p50: nearest_rank(&v, 50.0)?,
            p90: nearest_rank(&v, 90.0)?,
            p99: nearest_rank(&v, 99.0)?,
            p999: nearest_rank(&v, 99.9)?,
            mean,
        })
    }
}

fn nearest_rank(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    // ceil(p/100 · n), without letting float error turn 999.0000000001 into 1000.
    let x = p / 100.0 * sorted.len() as f64;
    let rank = if (x - x.round()).abs() < 1e-9 {
        x.round()
    } else {
        x.ceil()
    } as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .map(|&x| x as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::new();
        assert!(l.percentiles().is_none());
        for i in 1..=1000u64 {
            l.record(Duration::from_nanos(i));
        }
        let p = l.percentiles().unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.p999), (500.0, 900.0, 990.0, 999.0));
        assert!((p.mean - 500.5).abs() < 1e-9);
        let mut m = Latencies::new();
        m.record(Duration::from_secs(1));
        m.merge(&l);
        assert_eq!(m.len(), 1001);
        assert_eq!(m.percentile(100.0), Some(1e9));
        assert_eq!(m.percentile(0.0), None);
    }
}
