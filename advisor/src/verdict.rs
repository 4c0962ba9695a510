//! Verdicts of a before/after benchmark (`btrtune validate --bench`): the measured ratio
//! proposed/baseline with its confidence interval, whether it is significant, whether it
//! agrees with the model's projection, and pass / fail / inconclusive.
//!
//! Method (`benchmark-method.md` §3 and §5.4): the two layouts run interleaved, one run of
//! each per round on a fresh filesystem, so runs pair by round and the host's drift between
//! rounds cancels in each pair. The ratio is the geometric mean of the per-round ratios,
//! with a Student-t interval on their logarithms (n − 1 degrees of freedom). With unequal
//! counts (an interrupted round) the unpaired tail is dropped, and said.

use crate::model::ols::t_quantile;
use serde::{Deserialize, Serialize};

/// The confidence level of every interval here.
pub const LEVEL: f64 = 0.95;

/// A measured ratio proposed/baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioEstimate {
    /// Paired rounds used.
    pub pairs: usize,
    /// Geometric mean of the per-round ratios.
    pub ratio: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end of the 95 % interval.
    pub high: f64,
    /// Geometric mean of the baseline's runs (all of them).
    pub baseline: f64,
    /// Geometric mean of the proposed layout's runs.
    pub proposed: f64,
    /// Coefficient of variation of the baseline's runs.
    pub baseline_cv: f64,
    /// Coefficient of variation of the proposed layout's runs.
    pub proposed_cv: f64,
    /// Runs left unpaired (an unfinished round).
    pub unpaired: usize,
}

impl RatioEstimate {
    /// From the runs of each layout, in round order (`baseline[i]` and `proposed[i]` ran in
    /// the same round). `None` with fewer than two pairs or a value that is not positive.
    pub fn paired(baseline: &[f64], proposed: &[f64]) -> Option<RatioEstimate> {
        let n = baseline.len().min(proposed.len());
        if n < 2
            || baseline
                .iter()
                .chain(proposed)
                .any(|v| !(v.is_finite() && *v > 0.0))
        {
            return None;
        }
        let logs: Vec<f64> = (0..n).map(|i| (proposed[i] / baseline[i]).ln()).collect();
        let mean = logs.iter().sum::<f64>() / n as f64;
        let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t_quantile(n - 1, LEVEL) * (var / n as f64).sqrt();
        Some(RatioEstimate {
            pairs: n,
            ratio: mean.exp(),
            low: (mean - half).exp(),
            high: (mean + half).exp(),
            baseline: crate::stats::geomean(baseline)?,
            proposed: crate::stats::geomean(proposed)?,
            baseline_cv: crate::stats::cv(baseline).unwrap_or(0.0),
            proposed_cv: crate::stats::cv(proposed).unwrap_or(0.0),
            unpaired: baseline.len().max(proposed.len()) - n,
        })
    }

    /// The interval excludes 1: the layouts differ at the 95 % level.
    pub fn significant(&self) -> bool {
        self.low > 1.0 || self.high < 1.0
    }
}

/// The model's projected ratio for the same change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projected {
    /// Projected ratio.
    pub ratio: f64,
    /// Lower end of its 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Where the model's numbers come from (`measured`, `prior`, ...).
    pub status: String,
    /// The feature changes the model saw (`+nocow`, `-compress=zstd:1`).
    pub changes: Vec<String>,
}

/// Pass, fail or inconclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// No regression beyond the threshold: the interval's lower end is above 1 − threshold.
    Pass,
    /// The interval is too wide to tell.
    Inconclusive,
    /// A regression beyond the threshold, significant at the 95 % level.
    Fail,
}

impl Outcome {
    /// `pass`, `fail`, `inconclusive`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// The worst of several outcomes (fail > inconclusive > pass); pass for none.
    pub fn worst(all: impl IntoIterator<Item = Outcome>) -> Outcome {
        all.into_iter().max().unwrap_or(Outcome::Pass)
    }
}

/// The verdict on one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Workload as recorded (`wal-postgresql`).
    pub workload: String,
    /// Metric (higher is better).
    pub metric: String,
    /// Mount point the workload ran at.
    pub target: String,
    /// The measurement (`None`: fewer than two paired rounds).
    pub measured: Option<RatioEstimate>,
    /// The interval excludes 1.
    pub significant: bool,
    /// The model's projection (`None`: no model for this class and workload, or the layouts
    /// differ in nothing the model knows).
    pub projected: Option<Projected>,
    /// The measured and projected intervals overlap (`None`: no projection).
    pub agrees_with_model: Option<bool>,
    /// Pass, fail or inconclusive.
    pub outcome: Outcome,
    /// One sentence on why.
    pub why: String,
}

/// Decides one workload. `threshold` is the regression tolerated (0.05: 5 %).
pub fn decide(
    workload: &str,
    metric: &str,
    target: &str,
    measured: Option<RatioEstimate>,
    projected: Option<Projected>,
    threshold: f64,
) -> Verdict {
    let floor = 1.0 - threshold;
    let pct = |x: f64| format!("{:+.1} %", (x - 1.0) * 100.0);
    let (outcome, why, significant) = match &measured {
        None => (
            Outcome::Inconclusive,
            "fewer than two paired rounds: nothing to compare".to_string(),
            false,
        ),
        Some(m) => {
            let span = format!(
                "×{:.3} (95 % CI {:.3}–{:.3}, {} rounds)",
                m.ratio, m.low, m.high, m.pairs
            );
            if m.low >= floor {
                let how = if m.low > 1.0 {
                    format!("faster: {span}, {}", pct(m.ratio))
                } else {
                    format!("no regression beyond {:.0} %: {span}", threshold * 100.0)
                };
                (Outcome::Pass, how, m.significant())
            } else if m.high < 1.0 && m.ratio < floor {
                (
                    Outcome::Fail,
                    format!(
                        "slower beyond the {:.0} % threshold: {span}, {}",
                        threshold * 100.0,
                        pct(m.ratio)
                    ),
                    true,
                )
            } else {
                (
                    Outcome::Inconclusive,
                    format!(
                        "the interval reaches below −{:.0} % without a significant regression \
                         beyond it: {span}; more rounds (--runs) or a quieter device narrow it",
                        threshold * 100.0
                    ),
                    m.significant(),
                )
            }
        }
    };
    let agrees_with_model = match (&measured, &projected) {
        (Some(m), Some(p)) => Some(m.low <= p.high && p.low <= m.high),
        _ => None,
    };
    Verdict {
        workload: workload.to_string(),
        metric: metric.to_string(),
        target: target.to_string(),
        measured,
        significant,
        projected,
        agrees_with_model,
        outcome,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(ratios: &[f64]) -> RatioEstimate {
        let base = vec![100.0; ratios.len()];
        let prop: Vec<f64> = ratios.iter().map(|r| 100.0 * r).collect();
        RatioEstimate::paired(&base, &prop).unwrap()
    }

    #[test]
    fn paired_ratio_is_the_geometric_mean_with_a_t_interval() {
        let e = est(&[1.4, 1.5, 1.6]);
        let gm = (1.4f64 * 1.5 * 1.6).powf(1.0 / 3.0);
        assert!((e.ratio - gm).abs() < 1e-12);
        // t(2, 0.975) = 4.303: the interval is wide with three rounds, but excludes 1.
        let logs = [1.4f64.ln(), 1.5f64.ln(), 1.6f64.ln()];
        let m = logs.iter().sum::<f64>() / 3.0;
        let sd = (logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 2.0).sqrt();
        let half = 4.302_652_729_911_275 * sd / 3f64.sqrt();
        assert!((e.low - (m - half).exp()).abs() < 1e-6, "{e:?}");
        assert!((e.high - (m + half).exp()).abs() < 1e-6, "{e:?}");
        assert!(e.significant());
        assert_eq!(e.pairs, 3);
        assert_eq!(e.unpaired, 0);
    }

    #[test]
    fn pairing_cancels_drift_between_rounds() {
        // The host slows down 3× over the rounds; the proposed layout is always 20 % faster.
        let base = [100.0, 60.0, 33.0, 50.0];
        let prop: Vec<f64> = base.iter().map(|b| b * 1.2).collect();
        let e = RatioEstimate::paired(&base, &prop).unwrap();
        assert!((e.ratio - 1.2).abs() < 1e-12 && (e.high - e.low) < 1e-9);
        assert!(e.baseline_cv > 0.3);
    }

    #[test]
    fn too_few_or_bad_values_give_none() {
        assert!(RatioEstimate::paired(&[1.0], &[1.0]).is_none());
        assert!(RatioEstimate::paired(&[1.0, 0.0], &[1.0, 1.0]).is_none());
        assert!(RatioEstimate::paired(&[1.0, f64::NAN], &[1.0, 1.0]).is_none());
        let e = RatioEstimate::paired(&[1.0, 1.1, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!((e.pairs, e.unpaired), (2, 1));
    }

    #[test]
    fn outcomes_follow_the_threshold() {
        let v = |r: &[f64]| decide("w", "m", "/", Some(est(r)), None, 0.05);
        assert_eq!(v(&[1.5, 1.45, 1.55]).outcome, Outcome::Pass);
        assert!(v(&[1.5, 1.45, 1.55]).significant);
        // A small, tight change inside the threshold passes without being significant.
        let p = v(&[0.99, 1.0, 1.01, 0.995, 1.005]);
        assert_eq!(p.outcome, Outcome::Pass, "{}", p.why);
        assert!(!p.significant);
        // A tight 30 % loss fails.
        let f = v(&[0.7, 0.71, 0.69]);
        assert_eq!(f.outcome, Outcome::Fail, "{}", f.why);
        // A noisy pair straddling 1 is inconclusive.
        let i = v(&[0.6, 1.5, 0.9]);
        assert_eq!(i.outcome, Outcome::Inconclusive, "{}", i.why);
        assert_eq!(
            decide("w", "m", "/", None, None, 0.05).outcome,
            Outcome::Inconclusive
        );
        assert_eq!(
            Outcome::worst([Outcome::Pass, Outcome::Inconclusive]),
            Outcome::Inconclusive
        );
        assert_eq!(
            Outcome::worst([Outcome::Fail, Outcome::Inconclusive]),
            Outcome::Fail
        );
    }

    #[test]
    fn agreement_is_interval_overlap() {
        let p = |lo: f64, hi: f64| Projected {
            ratio: (lo + hi) / 2.0,
            low: lo,
            high: hi,
            status: "measured".into(),
            changes: vec!["+nocow".into()],
        };
        let m = est(&[1.4, 1.5, 1.6]);
        let yes = decide("w", "m", "/", Some(m.clone()), Some(p(1.3, 1.5)), 0.05);
        assert_eq!(yes.agrees_with_model, Some(true));
        let no = decide("w", "m", "/", Some(m), Some(p(0.9, 1.0)), 0.05);
        assert_eq!(no.agrees_with_model, Some(false));
    }
}
