//! Combining fio results: several jobs of one run, several directions of a job, or the same
//! job over several runs.
//!
//! **Throughput** ([`FioSummary`]): IOPS, bytes/s, bytes and I/O counts are summed over jobs
//! (jobs run in parallel, so their rates add up) and over directions; the measured time is the
//! longest direction `runtime`. CPU is the mean of the jobs' `usr_cpu`/`sys_cpu` weighted by
//! `job_runtime` (equal weights when it is missing): that is how fio itself folds CPU with
//! `group_reporting` (summed CPU time over summed run time), so it stays "percent of one CPU
//! per job".
//!
//! **Latency** ([`merge_latency`]), never by averaging percentiles:
//! - one source with samples: its own numbers as fio printed them
//!   ([`PercentileMethod::Reported`], exact);
//! - every source has `json+` bins: the bins are summed and percentiles are read off the
//!   summed histogram by fio's rule ([`PercentileMethod::Histogram`]). That is what fio would
//!   have printed for all the I/Os together, to fio's bucket resolution (≤ 1/64 of the value);
//! - otherwise (plain `json`): each merged percentile is the **maximum** of the sources'
//!   values for that percentile ([`PercentileMethod::UpperBound`]). This is an upper bound,
//!   not an estimate: every source has at least p % of its samples at or below its own p-th
//!   percentile, so at least p % of all samples are at or below the largest of them. The
//!   true merged percentile lies between the minimum and this maximum. Percentiles that some
//!   source lacks are left out.
//!
//! In every case `N`, `min` and `max` are exact, the mean is the N-weighted mean (exact), and
//! the standard deviation is pooled from the sources' means and sample standard deviations
//! (exact up to fio's rounding).

use super::hist::Histogram;
use super::json::{Ddir, FioOutput, JobResult, LatStats};
use crate::Percentiles;
use serde::Serialize;

/// fio's default `percentile_list`, used when bins give percentiles no source printed.
pub const DEFAULT_PERCENTILES: [f64; 17] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99,
];

/// How the percentiles of a [`MergedLatency`] were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PercentileMethod {
    /// A single source: fio's own percentiles. Exact.
    Reported,
    /// Read off the sum of the sources' `json+` bins. Exact (to fio's bucket resolution).
    Histogram,
    /// The maximum of the sources' percentiles (plain `json`, several sources): an upper
    /// bound of the true merged percentile, not its value.
    UpperBound,
}

/// Latency statistics merged from one or more [`LatStats`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MergedLatency {
    /// Samples.
    pub n: u64,
    /// Smallest sample (ns).
    pub min_ns: f64,
    /// Largest sample (ns).
    pub max_ns: f64,
    /// Mean (ns), weighted by samples.
    pub mean_ns: f64,
    /// Pooled sample standard deviation (ns).
    pub stddev_ns: f64,
    /// `(percent, value_ns)`, ascending.
    pub percentiles: Vec<(f64, f64)>,
    /// The summed histogram, when every source had bins.
    pub histogram: Option<Histogram>,
    /// How [`percentiles`](Self::percentiles) were obtained.
    pub method: PercentileMethod,
    /// How many sources had samples.
    pub sources: usize,
}

impl MergedLatency {
    /// The `p`-th percentile in ns: from the histogram when there is one (any `p`), otherwise
    /// from the list (matched to within 1e-6).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if let Some(h) = &self.histogram {
            if let Some(v) = h.percentile(p) {
                return Some(v as f64);
            }
        }
        self.percentiles
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-6)
            .map(|&(_, v)| v)
    }

    /// Whether the percentiles are the true ones (not an upper bound).
    pub fn is_exact(&self) -> bool {
        self.method != PercentileMethod::UpperBound
    }

    /// p50, p90, p99, p99.9 and the mean, or `None` when one of the percentiles is missing
    /// (a custom `percentile_list` without bins).
    pub fn to_percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            p50: self.percentile(50.0)?,
            p90: self.percentile(90.0)?,
            p99: self.percentile(99.0)?,
            p999: self.percentile(99.9)?,
            mean: self.mean_ns,
        })
    }
}

/// Merges latency statistics (see the module documentation for how). Sources without samples
/// are ignored; `None` when no source has any.
pub fn merge_latency<'a>(parts: impl IntoIterator<Item = &'a LatStats>) -> Option<MergedLatency> {
    let parts: Vec<&LatStats> = parts
        .into_iter()
        .filter(|l| l.n > 0 || l.bins.as_ref().is_some_and(|b| !b.is_empty()))
        .collect();
    let first = *parts.first()?;
    let n_of = |l: &LatStats| {
        if l.n > 0 {
            l.n
        } else {
            l.bins.as_ref().map_or(0, Histogram::count)
        }
    };
    let n: u128 = parts.iter().map(|l| u128::from(n_of(l))).sum();
    let n_f = n as f64;
    let mean = parts
        .iter()
        .map(|l| n_of(l) as f64 * l.mean_ns)
        .sum::<f64>()
        / n_f;
    // Pooled: S = Σ (n_i − 1)·s_i² + Σ n_i·(m_i − m)², s = √(S / (n − 1)).
    let ss: f64 = parts
        .iter()
        .map(|l| {
            let ni = n_of(l) as f64;
            (ni - 1.0).max(0.0) * l.stddev_ns * l.stddev_ns + ni * (l.mean_ns - mean).powi(2)
        })
        .sum();
    let stddev = if n > 1 {
        (ss / (n_f - 1.0)).sqrt()
    } else {
        0.0
    };
    let min = parts.iter().map(|l| l.min_ns).fold(f64::INFINITY, f64::min);
    let max = parts.iter().map(|l| l.max_ns).fold(0.0, f64::max);

    let (percentiles, histogram, method) = if parts.len() == 1 {
        (
            first.percentiles.clone(),
            first.bins.clone(),
            PercentileMethod::Reported,
        )
    } else if parts
        .iter()
        .all(|l| l.bins.as_ref().is_some_and(|b| !b.is_empty()))
    {
        let mut h = Histogram::new();
        for l in &parts {
            if let Some(b) = &l.bins {
                h.merge(b);
            }
        }
        let mut wanted: Vec<f64> = DEFAULT_PERCENTILES.to_vec();
        for l in &parts {
            for &(p, _) in &l.percentiles {
                if !wanted.iter().any(|q| (q - p).abs() < 1e-6) {
                    wanted.push(p);
                }
            }
        }
        wanted.sort_by(f64::total_cmp);
        let list = wanted
            .into_iter()
            .filter_map(|p| h.percentile(p).map(|v| (p, v as f64)))
            .collect();
        (list, Some(h), PercentileMethod::Histogram)
    } else {
        let list = first
            .percentiles
            .iter()
            .filter_map(|&(p, _)| {
                parts
                    .iter()
                    .map(|l| l.reported_percentile(p))
                    .try_fold(f64::NEG_INFINITY, |acc, v| v.map(|v| acc.max(v)))
                    .map(|v| (p, v))
            })
            .collect();
        (list, None, PercentileMethod::UpperBound)
    };
    Some(MergedLatency {
        n: u64::try_from(n).unwrap_or(u64::MAX),
        min_ns: if min.is_finite() { min } else { 0.0 },
        max_ns: max,
        mean_ns: mean,
        stddev_ns: stddev,
        percentiles,
        histogram,
        method,
        sources: parts.len(),
    })
}

/// Latency over several runs of the same job (replicates), for percentiles across runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunsLatency {
    /// Completion latency of every I/O of every job of every run.
    pub clat: Option<MergedLatency>,
    /// Latency of every sync call of every run.
    pub sync: Option<MergedLatency>,
}

/// Merges the latencies of several runs (benchmark-method.md §7.6: merge `json+` bins across
/// runs and jobs before taking percentiles). Throughput is not merged here: runs follow each
/// other, so their rates are replicates to average, not parts to add.
pub fn merge_runs(outputs: &[FioOutput]) -> RunsLatency {
    let jobs = || outputs.iter().flat_map(|o| o.jobs.iter());
    RunsLatency {
        clat: merge_latency(jobs().flat_map(|j| {
            j.directions()
                .into_iter()
                .filter(|(_, d)| d.active())
                .filter_map(|(_, d)| d.completion_latency())
        })),
        sync: merge_latency(
            jobs()
                .filter_map(|j| j.sync.as_ref())
                .filter(|s| s.ops() > 0)
                .map(|s| &s.lat),
        ),
    }
}

/// One direction summed over the jobs of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirSummary {
    /// IOPS, summed over jobs.
    pub iops: f64,
    /// Bytes per second, summed over jobs.
    pub bytes_per_s: f64,
    /// Bytes transferred.
    pub io_bytes: u64,
    /// I/Os issued.
    pub total_ios: u64,
    /// Completion latency merged over the jobs.
    pub clat: Option<MergedLatency>,
}

/// A run's jobs folded into the numbers a [`Measurement`](crate::Measurement) needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FioSummary {
    /// Entries of `jobs[]` (1 with `group_reporting`).
    pub jobs: usize,
    /// IOPS over all jobs and directions.
    pub iops: f64,
    /// Bytes per second over all jobs and directions.
    pub bytes_per_s: f64,
    /// Bytes transferred.
    pub io_bytes: u64,
    /// I/Os issued.
    pub total_ios: u64,
    /// Longest direction `runtime`, in seconds (ramp excluded).
    pub runtime_s: f64,
    /// `read`, when some job read.
    pub read: Option<DirSummary>,
    /// `write`, when some job wrote.
    pub write: Option<DirSummary>,
    /// `trim`, when some job trimmed.
    pub trim: Option<DirSummary>,
    /// `mixed` (`unified_rw_reporting=mixed`), when present.
    pub mixed: Option<DirSummary>,
    /// Completion latency of every I/O of every job and direction.
    pub clat: Option<MergedLatency>,
    /// Latency of the fsync/fdatasync calls of every job.
    pub sync: Option<MergedLatency>,
    /// Sync calls of every job.
    pub sync_ops: u64,
    /// User CPU, percent of one CPU, job-runtime-weighted mean over jobs.
    pub usr_cpu_pct: f64,
    /// System CPU, the same way.
    pub sys_cpu_pct: f64,
    /// Within-run spread `iops_stddev / iops_mean` in percent, when there is one job with
    /// one active direction (otherwise the samples do not describe the total).
    pub iops_cv_pct: Option<f64>,
}

impl FioSummary {
    /// Summarises one fio run. Fails when it has no jobs.
    pub fn from_output(output: &FioOutput) -> Result<Self, String> {
        Self::from_jobs(&output.jobs)
    }

    /// Summarises jobs that ran together.
    pub fn from_jobs(jobs: &[JobResult]) -> Result<Self, String> {
        if jobs.is_empty() {
            return Err("fio reported no jobs".to_owned());
        }
        let mut s = FioSummary {
            jobs: jobs.len(),
            ..Self::default()
        };
        let mut all_clat = Vec::new();
        let mut active_dirs = Vec::new();
        for ddir in [Ddir::Read, Ddir::Write, Ddir::Trim, Ddir::Mixed] {
            let mut d = DirSummary::default();
            let mut clats = Vec::new();
            let mut seen = false;
            for job in jobs {
                let Some((_, stats)) = job.directions().into_iter().find(|(k, _)| *k == ddir)
                else {
                    continue;
                };
                let runtime_s = stats.runtime_ms as f64 / 1000.0;
                s.runtime_s = s.runtime_s.max(runtime_s);
                if !stats.active() {
                    continue;
                }
                seen = true;
                active_dirs.push(stats);
                d.iops += stats.iops;
                d.bytes_per_s += stats.bw_bytes as f64;
                d.io_bytes = d.io_bytes.saturating_add(stats.io_bytes);
                d.total_ios = d.total_ios.saturating_add(stats.total_ios);
                if let Some(l) = stats.completion_latency() {
                    clats.push(l);
                    all_clat.push(l);
                }
            }
            if !seen {
                continue;
            }
            d.clat = merge_latency(clats);
            s.iops += d.iops;
            s.bytes_per_s += d.bytes_per_s;
            s.io_bytes = s.io_bytes.saturating_add(d.io_bytes);
            s.total_ios = s.total_ios.saturating_add(d.total_ios);
            match ddir {
                Ddir::Read => s.read = Some(d),
                Ddir::Write => s.write = Some(d),
                Ddir::Trim => s.trim = Some(d),
                Ddir::Mixed => s.mixed = Some(d),
            }
        }
        s.clat = merge_latency(all_clat);
        let syncs: Vec<_> = jobs
            .iter()
            .filter_map(|j| j.sync.as_ref())
            .filter(|s| s.ops() > 0)
            .collect();
        s.sync_ops = syncs.iter().map(|x| x.ops()).fold(0, u64::saturating_add);
        s.sync = merge_latency(syncs.iter().map(|x| &x.lat));

        let weight = |j: &JobResult| {
            j.job_runtime_ms
                .filter(|&r| r > 0)
                .map(|r| r as f64)
                .unwrap_or(1.0)
        };
        let total_weight: f64 = jobs.iter().map(weight).sum();
        s.usr_cpu_pct = jobs.iter().map(|j| j.usr_cpu * weight(j)).sum::<f64>() / total_weight;
        s.sys_cpu_pct = jobs.iter().map(|j| j.sys_cpu * weight(j)).sum::<f64>() / total_weight;
        if let [only] = active_dirs.as_slice() {
            if let (Some(mean), Some(sd)) = (only.iops_mean, only.iops_stddev) {
                if mean > 0.0 {
                    s.iops_cv_pct = Some(sd / mean * 100.0);
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lat(
        n: u64,
        mean: f64,
        sd: f64,
        pcts: &[(f64, f64)],
        bins: Option<&[(u64, u64)]>,
    ) -> LatStats {
        LatStats {
            min_ns: pcts.first().map_or(0.0, |p| p.1),
            max_ns: pcts.last().map_or(0.0, |p| p.1),
            mean_ns: mean,
            stddev_ns: sd,
            n,
            percentiles: pcts.to_vec(),
            bins: bins.map(|b| Histogram::from_bins(b.iter().copied())),
        }
    }

    #[test]
    fn bins_merge_matches_a_hand_computation() {
        // Job A: 6 samples: 100×3, 200×2, 1000×1. Job B: 4 samples: 150×2, 2000×2.
        let a = lat(
            6,
            283.33,
            0.0,
            &[(50.0, 100.0), (99.0, 1000.0)],
            Some(&[(100, 3), (200, 2), (1000, 1)]),
        );
        let b = lat(
            4,
            1075.0,
            0.0,
            &[(50.0, 150.0), (99.0, 2000.0)],
            Some(&[(150, 2), (2000, 2)]),
        );
        let m = merge_latency([&a, &b]).unwrap();
        assert_eq!(m.method, PercentileMethod::Histogram);
        assert_eq!(m.n, 10);
        // Merged, sorted: 100 100 100 150 150 200 200 1000 2000 2000.
        // p50: threshold 5 → cumulative 3 (100), 5 (150) → 150.
        assert_eq!(m.percentile(50.0), Some(150.0));
        // p70: threshold 7 → 7 at 200.
        assert_eq!(m.percentile(70.0), Some(200.0));
        // p80: threshold 8 → 8 at 1000. p90: threshold 9 → 10 at 2000.
        assert_eq!(m.percentile(80.0), Some(1000.0));
        assert_eq!(m.percentile(90.0), Some(2000.0));
        // Averaging the p50s would have given 125, a value no sample has.
        assert_eq!(m.histogram.as_ref().unwrap().len(), 5);
        assert!(m.is_exact());
    }

    #[test]
    fn without_bins_the_merge_is_the_max_and_flagged() {
        let a = lat(10, 100.0, 10.0, &[(50.0, 100.0), (99.0, 300.0)], None);
        let b = lat(
            30,
            200.0,
            20.0,
            &[(50.0, 190.0), (99.0, 250.0), (99.9, 400.0)],
            None,
        );
        let m = merge_latency([&a, &b]).unwrap();
        assert_eq!(m.method, PercentileMethod::UpperBound);
        assert!(!m.is_exact());
        assert_eq!(m.percentiles, vec![(50.0, 190.0), (99.0, 300.0)]);
        assert_eq!(m.n, 40);
        assert!((m.mean_ns - 175.0).abs() < 1e-9);
        // Pooled: (9·100 + 29·400 + 10·75² + 30·25²) / 39.
        let expected =
            ((9.0 * 100.0 + 29.0 * 400.0 + 10.0 * 5625.0 + 30.0 * 625.0) / 39.0_f64).sqrt();
        assert!((m.stddev_ns - expected).abs() < 1e-9);
    }

    #[test]
    fn single_source_is_reported_as_is_and_empty_sources_are_ignored() {
        let a = lat(5, 1.0, 0.0, &[(50.0, 7.0)], None);
        let empty = lat(0, 0.0, 0.0, &[], None);
        let m = merge_latency([&empty, &a, &empty]).unwrap();
        assert_eq!(m.method, PercentileMethod::Reported);
        assert_eq!(m.percentile(50.0), Some(7.0));
        assert_eq!(m.sources, 1);
        assert!(merge_latency([&empty]).is_none());
        assert!(merge_latency(std::iter::empty()).is_none());
        assert!(m.to_percentiles().is_none());
    }
}
