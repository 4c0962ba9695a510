//! Fitting one model: log(metric) = log C + Σ β·x(layout) + ε over the runs of one
//! (hardware class, workload, metric), by OLS on the log scale (`benchmark-method.md` §5.1).
//! Effects multiply: exp(β) is the factor a feature applies.

use super::features::Features;
use super::ols::{self, OlsError};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One measured run, as the fit sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The candidate layout's name (runs of one layout are held out together).
    pub layout: String,
    /// Its features at the workload's mount point.
    pub features: Features,
    /// The metric (higher is better, > 0).
    pub value: f64,
}

/// One feature's fitted effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Feature name (`nocow`, `compress=zstd:1`).
    pub feature: String,
    /// β on the log scale.
    pub beta: f64,
    /// Its standard error.
    pub se: f64,
}

/// A fitted model of one (class, workload, metric).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    /// log of the baseline layout's metric (the intercept).
    pub intercept: f64,
    /// Its standard error.
    pub intercept_se: f64,
    /// The effects, in column order.
    pub effects: Vec<Effect>,
    /// Residual standard deviation on the log scale.
    pub sigma: f64,
    /// Residual degrees of freedom.
    pub df: usize,
    /// (X'X)^-1 row by row (intercept first), for prediction intervals.
    pub cov_unscaled: Vec<Vec<f64>>,
    /// Runs fitted.
    pub runs: usize,
    /// Distinct layouts fitted.
    pub layouts: usize,
}

/// What a prediction cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotCalibrated {
    /// The layout has features the model never saw vary.
    #[error("not calibrated for {}", .0.join(", "))]
    Features(Vec<String>),
}

/// A projected metric with its 95 % prediction interval (metric units).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// The projected metric (geometric-mean scale).
    pub value: f64,
    /// Lower end of the 95 % interval for one run.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Fits the observations. Features that never vary in them are left out (a prediction that
/// needs one says "not calibrated"); features that always vary together are an error.
pub fn fit(obs: &[Observation]) -> Result<Fitted, OlsError> {
    let all: BTreeSet<&str> = obs.iter().flat_map(|o| o.features.names()).collect();
    let columns: Vec<String> = all
        .into_iter()
        .filter(|c| obs.iter().any(|o| o.features.get(c) == 0.0))
        .map(str::to_owned)
        .collect();
    let p = columns.len() + 1;
    let x = DMatrix::from_fn(obs.len(), p, |i, j| {
        if j == 0 {
            1.0
        } else {
            obs[i].features.get(&columns[j - 1])
        }
    });
    if obs.iter().any(|o| !o.value.is_finite() || o.value <= 0.0) {
        return Err(OlsError::NotFinite);
    }
    let y = DVector::from_iterator(obs.len(), obs.iter().map(|o| o.value.ln()));
    let f = ols::fit(&x, &y)?;
    let layouts: BTreeSet<&str> = obs.iter().map(|o| o.layout.as_str()).collect();
    Ok(Fitted {
        intercept: f.coef[0],
        intercept_se: f.se[0],
        effects: columns
            .into_iter()
            .enumerate()
            .map(|(j, feature)| Effect {
                feature,
                beta: f.coef[j + 1],
                se: f.se[j + 1],
            })
            .collect(),
        sigma: f.sigma2.sqrt(),
        df: f.df,
        cov_unscaled: (0..p)
            .map(|i| (0..p).map(|j| f.cov_unscaled()[(i, j)]).collect())
            .collect(),
        runs: obs.len(),
        layouts: layouts.len(),
    })
}

impl Fitted {
    fn row(&self, features: &Features) -> Result<Vec<f64>, NotCalibrated> {
        let unknown: Vec<String> = features
            .names()
            .filter(|n| !self.effects.iter().any(|e| e.feature == *n))
            .map(str::to_owned)
            .collect();
        if !unknown.is_empty() {
            return Err(NotCalibrated::Features(unknown));
        }
        Ok(std::iter::once(1.0)
            .chain(self.effects.iter().map(|e| features.get(&e.feature)))
            .collect())
    }

    fn ols(&self) -> ols::Ols {
        let p = self.cov_unscaled.len();
        ols::Ols::from_parts(
            std::iter::once(self.intercept)
                .chain(self.effects.iter().map(|e| e.beta))
                .collect(),
            std::iter::once(self.intercept_se)
                .chain(self.effects.iter().map(|e| e.se))
                .collect(),
            self.sigma * self.sigma,
            self.df,
            DMatrix::from_fn(p, p, |i, j| self.cov_unscaled[i][j]),
        )
    }

    /// The projected metric of a layout with these features.
    pub fn predict(&self, features: &Features) -> Result<Projection, NotCalibrated> {
        let p = self.ols().predict(&self.row(features)?);
        let (lo, hi) = p.interval(0.95);
        Ok(Projection {
            value: p.mean.exp(),
            low: lo.exp(),
            high: hi.exp(),
        })
    }

    /// The ratio after/before of two layouts, with the 95 % interval of the ratio of one
    /// run of each (the intercept cancels).
    pub fn ratio(&self, before: &Features, after: &Features) -> Result<Projection, NotCalibrated> {
        let (b, a) = (self.row(before)?, self.row(after)?);
        let p = self.ols().contrast(&b, &a);
        let (lo, hi) = p.interval(0.95);
        Ok(Projection {
            value: p.mean.exp(),
            low: lo.exp(),
            high: hi.exp(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_for_tests::Normal;

    fn feats(names: &[&str]) -> Features {
        Features(names.iter().map(|n| (n.to_string(), 1)).collect())
    }

    /// Runs of the default matrix's shape: features in combinations, noise of CV ≈ 8 %.
    fn synthetic(seed: u64, runs: usize) -> Vec<Observation> {
        let truth = |f: &Features| {
            (2500f64).ln() + 0.30 * f.get("nocow") - 0.08 * f.get("compress=zstd:1")
                + 0.02 * f.get("autodefrag")
                + 0.05 * f.get("commit=120")
        };
        let layouts: [(&str, &[&str]); 7] = [
            ("cow", &[]),
            ("nocow", &["nocow"]),
            ("zstd1", &["compress=zstd:1"]),
            ("autodefrag", &["autodefrag"]),
            ("commit120", &["commit=120"]),
            ("zstd1-autodefrag", &["compress=zstd:1", "autodefrag"]),
            ("nocow-commit120", &["nocow", "commit=120"]),
        ];
        let mut g = Normal::new(seed);
        let mut out = Vec::new();
        for _ in 0..runs {
            for (name, f) in layouts {
                let f = feats(f);
                out.push(Observation {
                    layout: name.into(),
                    value: (truth(&f) + 0.08 * g.sample()).exp(),
                    features: f,
                });
            }
        }
        out
    }

    #[test]
    fn recovers_effects_and_projects_with_intervals_that_cover() {
        let m = fit(&synthetic(3, 6)).unwrap();
        let beta = |n: &str| m.effects.iter().find(|e| e.feature == n).unwrap().beta;
        assert!((beta("nocow") - 0.30).abs() < 0.08, "{m:?}");
        assert!((beta("compress=zstd:1") + 0.08).abs() < 0.08);
        assert_eq!(m.layouts, 7);
        assert_eq!(m.runs, 42);
        let r = m.ratio(&feats(&[]), &feats(&["nocow"])).unwrap();
        assert!(r.low < r.value && r.value < r.high);
        assert!((r.value - 0.30f64.exp()).abs() < 0.12, "{r:?}");
        // Coverage of the prediction interval for new runs over many fits.
        let mut g = Normal::new(99);
        let (mut hit, mut n) = (0, 0);
        for seed in 0..200 {
            let m = fit(&synthetic(seed, 3)).unwrap();
            let f = feats(&["nocow", "compress=zstd:1"]);
            let p = m.predict(&feats(&["nocow"])).unwrap();
            let new = ((2500f64).ln() + 0.30 + 0.08 * g.sample()).exp();
            hit += usize::from(p.low <= new && new <= p.high);
            n += 1;
            assert!(m.predict(&f).is_ok());
        }
        let cov = hit as f64 / n as f64;
        assert!((0.90..=0.99).contains(&cov), "coverage {cov}");
    }

    #[test]
    fn a_feature_never_measured_is_not_calibrated() {
        let m = fit(&synthetic(1, 3)).unwrap();
        let e = m.predict(&feats(&["compress=lzo"])).unwrap_err();
        assert_eq!(e, NotCalibrated::Features(vec!["compress=lzo".into()]));
        assert!(e.to_string().contains("not calibrated for compress=lzo"));
    }
}
