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
    /// Runs the robust fit weighted below [`OUTLIER_WEIGHT`]: far from every other run of
    /// their layout and from the model (flagged, not dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outliers: Vec<Outlier>,
}

/// A run the robust fit mostly discounted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// Its layout.
    pub layout: String,
    /// Its value.
    pub value: f64,
    /// Its weight in the fit (1 = full).
    pub weight: f64,
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

/// Effects fitted over several classes at once (a class intercept each, shared effects), and
/// how far a class's own effects spread around them: the prior a class is shrunk toward
/// (`benchmark-method.md` §5.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pooled {
    /// The shared effects.
    pub effects: Vec<Effect>,
    /// Residual standard deviation of the pooled fit (log scale).
    pub sigma: f64,
    /// Between-class standard deviation of an effect (τ, log scale).
    pub tau: f64,
}

/// τ never goes below this (log scale, ≈ 2 %): classes are never assumed identical.
pub const TAU_FLOOR: f64 = 0.02;

/// The columns (features that vary in `obs`), in name order.
fn columns(obs: &[Observation]) -> Vec<String> {
    let all: BTreeSet<&str> = obs.iter().flat_map(|o| o.features.names()).collect();
    all.into_iter()
        .filter(|c| obs.iter().any(|o| o.features.get(c) == 0.0))
        .map(str::to_owned)
        .collect()
}

fn response(obs: &[Observation]) -> Result<DVector<f64>, OlsError> {
    if obs.iter().any(|o| !o.value.is_finite() || o.value <= 0.0) {
        return Err(OlsError::NotFinite);
    }
    Ok(DVector::from_iterator(
        obs.len(),
        obs.iter().map(|o| o.value.ln()),
    ))
}

fn design(obs: &[Observation], columns: &[String]) -> DMatrix<f64> {
    DMatrix::from_fn(obs.len(), columns.len() + 1, |i, j| {
        if j == 0 {
            1.0
        } else {
            obs[i].features.get(&columns[j - 1])
        }
    })
}

/// Runs weighted below this are listed as outliers in the model.
pub const OUTLIER_WEIGHT: f64 = 0.5;

fn fitted(f: &ols::Ols, columns: Vec<String>, obs: &[Observation], w: &[f64]) -> Fitted {
    let p = columns.len() + 1;
    let layouts: BTreeSet<&str> = obs.iter().map(|o| o.layout.as_str()).collect();
    Fitted {
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
        outliers: obs
            .iter()
            .zip(w)
            .filter(|(_, w)| **w < OUTLIER_WEIGHT)
            .map(|(o, w)| Outlier {
                layout: o.layout.clone(),
                value: o.value,
                weight: *w,
            })
            .collect(),
    }
}

/// Fits the observations, robustly (Huber weights, [`ols::huber_weights`]). Features that
/// never vary in them are left out (a prediction that needs one says "not calibrated");
/// features that always vary together are an error.
pub fn fit(obs: &[Observation]) -> Result<Fitted, OlsError> {
    let columns = columns(obs);
    let x = design(obs, &columns);
    let y = response(obs)?;
    let (w, scale) = ols::huber_weights(&x, &y)?;
    let f = ols::fit_weighted(&x, &y, &w)?;
    let s2 = ols::huber_sigma2(&x, &y, &f.coef, scale);
    Ok(fitted(&f.with_sigma2(s2), columns, obs, &w))
}

/// Fits one class's observations with each effect shrunk toward the pooled one: an effect
/// the class measured well keeps its own value, one it barely measured leans on the other
/// classes. Features without a pooled effect are fitted unshrunk.
pub fn fit_toward(obs: &[Observation], pooled: &Pooled) -> Result<Fitted, OlsError> {
    let columns = columns(obs);
    let x = design(obs, &columns);
    let y = response(obs)?;
    let (w, scale) = ols::huber_weights(&x, &y)?;
    let own = ols::fit_weighted(&x, &y, &w)?;
    let s2 = ols::huber_sigma2(&x, &y, &own.coef, scale);
    let tau2 = pooled.tau.max(TAU_FLOOR).powi(2);
    let (mut lambda, mut prior) = (vec![0.0], vec![0.0]);
    for c in &columns {
        match pooled.effects.iter().find(|e| e.feature == *c) {
            Some(e) => {
                lambda.push(s2 / tau2);
                prior.push(e.beta);
            }
            None => {
                lambda.push(0.0);
                prior.push(0.0);
            }
        }
    }
    let f = ols::fit_shrunk(&x, &y, &w, &lambda, &prior)?.with_sigma2(s2);
    Ok(fitted(&f, columns, obs, &w))
}

/// Fits several classes' observations together: one intercept per class, shared effects;
/// τ² is the between-class variance of the effects by the method of moments (each class's
/// own effect's squared distance from the shared one, less its sampling variance), floored
/// at [`TAU_FLOOR`]. Needs two classes or more.
pub fn fit_pooled(classes: &[&[Observation]]) -> Result<Pooled, OlsError> {
    let all: Vec<Observation> = classes.iter().flat_map(|c| c.iter().cloned()).collect();
    let columns = columns(&all);
    let k = classes.len();
    if k < 2 {
        return Err(OlsError::TooFewRows { rows: k, cols: 2 });
    }
    let x = DMatrix::from_fn(all.len(), k + columns.len(), |i, j| {
        let class_of_row = {
            let mut acc = 0;
            let mut c = 0;
            while i >= acc + classes[c].len() {
                acc += classes[c].len();
                c += 1;
            }
            c
        };
        if j < k {
            f64::from(u8::from(j == class_of_row))
        } else {
            all[i].features.get(&columns[j - k])
        }
    });
    let y = response(&all)?;
    let (w, scale) = ols::huber_weights(&x, &y)?;
    let f = ols::fit_weighted(&x, &y, &w)?;
    let f = {
        let s2 = ols::huber_sigma2(&x, &y, &f.coef, scale);
        f.with_sigma2(s2)
    };
    let effects: Vec<Effect> = columns
        .iter()
        .enumerate()
        .map(|(j, c)| Effect {
            feature: c.clone(),
            beta: f.coef[k + j],
            se: f.se[k + j],
        })
        .collect();
    let (mut sum, mut n) = (0.0, 0usize);
    for c in classes {
        let Ok(own) = fit(c) else { continue };
        for e in &own.effects {
            if let Some(p) = effects.iter().find(|p| p.feature == e.feature) {
                sum += (e.beta - p.beta).powi(2) - e.se.powi(2);
                n += 1;
            }
        }
    }
    let tau2 = if n > 0 { sum / n as f64 } else { 0.0 };
    Ok(Pooled {
        effects,
        sigma: f.sigma2.sqrt(),
        tau: tau2.max(TAU_FLOOR * TAU_FLOOR).sqrt(),
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

    #[test]
    fn a_class_with_little_data_leans_on_the_pooled_effects() {
        // Class A: 6 rounds of every layout, nocow effect 0.30. Class B: one round, and its
        // own noisy data; its true nocow effect is 0.25 (close to A's).
        let a = synthetic(7, 6);
        let mut g = Normal::new(8);
        let b: Vec<Observation> = synthetic(9, 1)
            .into_iter()
            .map(|mut o| {
                let shift = -0.05 * o.features.get("nocow") + 0.25 * g.sample();
                o.value *= shift.exp();
                o
            })
            .collect();
        let pooled = fit_pooled(&[&a, &b]).unwrap();
        assert!(pooled.tau >= TAU_FLOOR);
        let own = fit(&b).unwrap();
        let shrunk = fit_toward(&b, &pooled).unwrap();
        let beta = |m: &Fitted| {
            m.effects
                .iter()
                .find(|e| e.feature == "nocow")
                .unwrap()
                .beta
        };
        let p = pooled
            .effects
            .iter()
            .find(|e| e.feature == "nocow")
            .unwrap()
            .beta;
        assert!(
            (beta(&shrunk) - p).abs() < (beta(&own) - p).abs(),
            "own {} shrunk {} pooled {p}",
            beta(&own),
            beta(&shrunk)
        );
        // Class A has plenty: shrinking barely moves it.
        let a_own = beta(&fit(&a).unwrap());
        let a_shrunk = beta(&fit_toward(&a, &pooled).unwrap());
        assert!((a_own - a_shrunk).abs() < 0.03, "{a_own} vs {a_shrunk}");
        assert!(fit_pooled(&[&a]).is_err(), "pooling needs two classes");
    }
}
