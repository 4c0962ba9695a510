//! How runs are summarised: the geometric mean with a 95 % Student-t interval computed on the
//! log values (run-to-run noise is multiplicative, `benchmark-method.md` §0.3), and the ratio
//! of two such means with Welch's interval of the difference of log means.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A value with a 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The estimate.
    pub value: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl From<(f64, f64, f64)> for Interval {
    fn from((value, low, high): (f64, f64, f64)) -> Self {
        Interval { value, low, high }
    }
}

impl From<[f64; 3]> for Interval {
    fn from([value, low, high]: [f64; 3]) -> Self {
        Interval { value, low, high }
    }
}

impl From<btrtune_advisor::model::fit::Projection> for Interval {
    fn from(p: btrtune_advisor::model::fit::Projection) -> Self {
        Interval {
            value: p.value,
            low: p.low,
            high: p.high,
        }
    }
}

/// The runs of one cell: geometric mean and the 95 % t-interval of the geometric mean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Geometric mean of the runs.
    pub geomean: f64,
    /// Lower end of the 95 % interval of the geometric mean (equal to it for one run).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Runs.
    pub n: usize,
}

/// The two-sided 97.5 % quantile of Student's t with `df` degrees of freedom.
pub(crate) fn t975(df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(0.975),
        Err(_) => f64::NAN,
    }
}

/// Mean and sample variance of the logs of the positive values.
fn log_moments(values: &[f64]) -> Option<(f64, f64, usize)> {
    let logs: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.ln())
        .collect();
    let n = logs.len();
    if n == 0 {
        return None;
    }
    let mean = logs.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)
    } else {
        0.0
    };
    Some((mean, var, n))
}

impl Summary {
    /// Summarises runs (values ≤ 0 or not finite are left out); `None` when none is left.
    ///
    /// ```
    /// use btrtune_reports::Summary;
    /// let s = Summary::of(&[100.0, 110.0, 121.0]).unwrap();
    /// assert!((s.geomean - 110.0).abs() < 1e-9);
    /// assert!(s.low < 110.0 && s.high > 110.0 && s.n == 3);
    /// ```
    pub fn of(values: &[f64]) -> Option<Summary> {
        let (mean, var, n) = log_moments(values)?;
        let half = if n > 1 {
            t975((n - 1) as f64) * (var / n as f64).sqrt()
        } else {
            0.0
        };
        Some(Summary {
            geomean: mean.exp(),
            low: (mean - half).exp(),
            high: (mean + half).exp(),
            n,
        })
    }
}

/// The ratio `after / before` of the geometric means of two sets of runs, with Welch's 95 %
/// interval on the log scale; `None` unless each side has a positive value. With a single run
/// on both sides the interval collapses to the ratio (nothing is known of the noise).
pub fn ratio_of(before: &[f64], after: &[f64]) -> Option<Interval> {
    let (mb, vb, nb) = log_moments(before)?;
    let (ma, va, na) = log_moments(after)?;
    let (sb, sa) = (vb / nb as f64, va / na as f64);
    let se2 = sb + sa;
    let d = ma - mb;
    let half = if se2 > 0.0 && (nb > 1 || na > 1) {
        // Welch–Satterthwaite degrees of freedom; a side with one run adds no variance term.
        let term = |s: f64, n: usize| {
            if n > 1 { s * s / (n as f64 - 1.0) } else { 0.0 }
        };
        let df = se2 * se2 / (term(sb, nb) + term(sa, na));
        t975(df) * se2.sqrt()
    } else {
        0.0
    };
    Some(Interval {
        value: d.exp(),
        low: (d - half).exp(),
        high: (d + half).exp(),
    })
}

/// The ratio `after / before` of runs paired by round (`after[i]` ran next to `before[i]`):
/// the geometric mean of the per-round ratios with the 95 % t-interval of the mean log
/// difference, which removes the drift that both layouts of a round share (the estimate of
/// `btrtune validate --bench`, [`RatioEstimate::paired`]). `None` unless the two have the same
/// length, at least two rounds, and every value is positive.
///
/// [`RatioEstimate::paired`]: btrtune_advisor::verdict::RatioEstimate::paired
pub fn paired_ratio_of(before: &[f64], after: &[f64]) -> Option<Interval> {
    if before.len() != after.len() {
        return None;
    }
    let e = btrtune_advisor::verdict::RatioEstimate::paired(before, after)?;
    Some(Interval {
        value: e.ratio,
        low: e.low,
        high: e.high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        for (df, t) in [(1.0, 12.706), (2.0, 4.303), (4.0, 2.776), (30.0, 2.042)] {
            assert!((t975(df) - t).abs() < 1e-3, "df {df}: {}", t975(df));
        }
    }

    #[test]
    fn a_summary_is_a_t_interval_on_the_logs() {
        let s = Summary::of(&[100.0, 200.0]).unwrap();
        let m = (100f64.ln() + 200f64.ln()) / 2.0;
        let sd = (2f64.ln() / 2f64.sqrt()).abs();
        let half = 12.706_204_736 * sd / 2f64.sqrt();
        assert!((s.geomean - m.exp()).abs() < 1e-9);
        assert!((s.low - (m - half).exp()).abs() < 1e-6 * s.low);
        assert!((s.high - (m + half).exp()).abs() < 1e-6 * s.high);
        let one = Summary::of(&[5.0, -1.0, f64::NAN]).unwrap();
        assert_eq!(one.n, 1);
        for v in [one.geomean, one.low, one.high] {
            assert!((v - 5.0).abs() < 1e-12, "{one:?}");
        }
        assert!(Summary::of(&[0.0]).is_none());
    }

    #[test]
    fn a_ratio_interval_excludes_one_only_for_a_clear_change() {
        let base = [100.0, 102.0, 98.0, 101.0];
        let clear = ratio_of(&base, &[120.0, 123.0, 118.0, 121.0]).unwrap();
        assert!(
            clear.low > 1.0 && (clear.value - 1.2).abs() < 0.01,
            "{clear:?}"
        );
        let noise = ratio_of(&base, &[101.0, 97.0, 103.0, 99.0]).unwrap();
        assert!(noise.low < 1.0 && noise.high > 1.0, "{noise:?}");
        // Paired by round, a drift both layouts share cancels.
        let drift_b = [100.0, 110.0, 121.0, 133.1];
        let drift_a: Vec<f64> = drift_b
            .iter()
            .zip([1.05, 1.06, 1.04, 1.05])
            .map(|(b, f)| b * f)
            .collect();
        let paired = paired_ratio_of(&drift_b, &drift_a).unwrap();
        assert!(paired.low > 1.0, "{paired:?}");
        assert!(ratio_of(&drift_b, &drift_a).unwrap().low < 1.0);
        assert!(paired_ratio_of(&[1.0], &[1.0, 2.0]).is_none());
        let single = ratio_of(&[10.0], &[20.0]).unwrap();
        for v in [single.value, single.low, single.high] {
            assert!((v - 2.0).abs() < 1e-12, "{single:?}");
        }
    }
}
