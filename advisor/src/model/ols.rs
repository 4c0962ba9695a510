//! Ordinary least squares with standard errors and t intervals: the arithmetic behind every
//! fitted model (`benchmark-method.md` §5.1). Small problems (tens of features, hundreds of
//! runs), solved by SVD so that a rank-deficient design is detected instead of inverted.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Why a least-squares fit is impossible.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OlsError {
    /// Fewer observations than coefficients plus one: no residual degrees of freedom.
    #[error("{rows} observations cannot fit {cols} coefficients with an error estimate")]
    TooFewRows {
        /// Observations.
        rows: usize,
        /// Coefficients.
        cols: usize,
    },
    /// Some coefficient is not identified by the data (a feature never varies, or two always
    /// vary together).
    #[error("the design has rank {rank} for {cols} coefficients")]
    RankDeficient {
        /// The numerical rank.
        rank: usize,
        /// Coefficients.
        cols: usize,
    },
    /// A value is NaN or infinite.
    #[error("the data contain a value that is not finite")]
    NotFinite,
}

/// A fitted linear model y = X b + e, e ~ N(0, sigma^2).
#[derive(Clone, Debug)]
pub struct Ols {
    /// Coefficients b.
    pub coef: Vec<f64>,
    /// Their standard errors.
    pub se: Vec<f64>,
    /// Residual variance estimate s^2.
    pub sigma2: f64,
    /// Residual degrees of freedom (n - p).
    pub df: usize,
    /// (X'X)^-1, for the variance of predictions.
    cov_unscaled: DMatrix<f64>,
}

/// A prediction at one design row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// x'b.
    pub mean: f64,
    /// Standard error of the mean x'b.
    pub se_mean: f64,
    /// Standard error of a new observation at x (mean and noise).
    pub se_new: f64,
    /// Residual degrees of freedom of the fit.
    pub df: usize,
}

impl Prediction {
    /// The two-sided `level` (e.g. 0.95) interval for a new observation.
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let h = t_quantile(self.df, level) * self.se_new;
        (self.mean - h, self.mean + h)
    }

    /// The two-sided `level` interval for the mean.
    pub fn mean_interval(&self, level: f64) -> (f64, f64) {
        let h = t_quantile(self.df, level) * self.se_mean;
        (self.mean - h, self.mean + h)
    }
}

/// The t quantile for a two-sided `level` interval with `df` degrees of freedom (the normal
/// one when `df` is 0, which no fit produces).
pub fn t_quantile(df: usize, level: f64) -> f64 {
    let p = 0.5 + level.clamp(0.0, 0.999_999) / 2.0;
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => 1.959_963_984_540_054,
    }
}

/// Fits `y` on the columns of `x` (rows are observations; include an intercept column if
/// one is wanted).
pub fn fit(x: &DMatrix<f64>, y: &DVector<f64>) -> Result<Ols, OlsError> {
    fit_weighted(x, y, &vec![1.0; y.len()])
}

/// Weighted least squares: row i counts with weight `w[i]` (1 for plain OLS). s² is the
/// weighted residual variance over Σw − p.
pub fn fit_weighted(x: &DMatrix<f64>, y: &DVector<f64>, w: &[f64]) -> Result<Ols, OlsError> {
    let (n, p) = x.shape();
    if n != y.len() || n != w.len() {
        return Err(OlsError::TooFewRows {
            rows: y.len().min(w.len()),
            cols: p,
        });
    }
    if n <= p {
        return Err(OlsError::TooFewRows { rows: n, cols: p });
    }
    if x.iter().chain(y.iter()).chain(w).any(|v| !v.is_finite()) || w.iter().any(|&v| v < 0.0) {
        return Err(OlsError::NotFinite);
    }
    let wm = DMatrix::from_diagonal(&DVector::from_column_slice(w));
    let xtw = x.transpose() * &wm;
    let xtx = &xtw * x;
    let svd = xtx.clone().svd(true, true);
    let smax = svd.singular_values.max();
    let tol = smax * (p.max(n) as f64) * f64::EPSILON * 1e3;
    let rank = svd.singular_values.iter().filter(|&&s| s > tol).count();
    if rank < p || smax <= 0.0 {
        return Err(OlsError::RankDeficient { rank, cols: p });
    }
    let inv = svd
        .pseudo_inverse(tol)
        .map_err(|_| OlsError::RankDeficient { rank, cols: p })?;
    let b = &inv * (&xtw * y);
    let resid = y - x * &b;
    let df = n - p;
    let wsum: f64 = w.iter().sum();
    let rss: f64 = resid.iter().zip(w).map(|(r, w)| w * r * r).sum();
    let sigma2 = rss / (wsum - p as f64).max(1.0);
    let se = (0..p)
        .map(|j| (sigma2 * inv[(j, j)]).max(0.0).sqrt())
        .collect();
    Ok(Ols {
        coef: b.iter().copied().collect(),
        se,
        sigma2,
        df,
        cov_unscaled: inv,
    })
}

/// Huber's tuning constant: 95 % efficiency when the noise is normal.
pub const HUBER_K: f64 = 1.345;

/// Robust weights by Huber's M-estimator (iteratively reweighted least squares): a row whose
/// studentized residual exceeds [`HUBER_K`] robust standard deviations (the residuals' MAD /
/// 0.6745) gets weight k·s/|r| < 1, so that one disturbed run moves the fit little, and is
/// never dropped (`benchmark-method.md` §3: flag outliers, never drop them silently).
/// Returns the weights and the robust scale ŝ of the residuals.
pub fn huber_weights(x: &DMatrix<f64>, y: &DVector<f64>) -> Result<(Vec<f64>, f64), OlsError> {
    let n = y.len();
    let mut w = vec![1.0; n];
    let mut scale = 0.0;
    for _ in 0..50 {
        let f = fit_weighted(x, y, &w)?;
        let b = DVector::from_column_slice(&f.coef);
        let r = y - x * &b;
        // Studentize by leverage h_ii = w_i x_i'(X'WX)⁻¹x_i.
        let z: Vec<f64> = (0..n)
            .map(|i| {
                let xi = x.row(i).transpose();
                let h = (w[i] * (xi.transpose() * &f.cov_unscaled * &xi)[(0, 0)]).clamp(0.0, 0.99);
                r[i] / (1.0 - h).sqrt()
            })
            .collect();
        let mut abs: Vec<f64> = z.iter().map(|v| v.abs()).collect();
        abs.sort_by(f64::total_cmp);
        let mad = if n % 2 == 1 {
            abs[n / 2]
        } else {
            (abs[n / 2 - 1] + abs[n / 2]) / 2.0
        };
        let s = (mad / 0.6745).max(1e-3);
        scale = s;
        let next: Vec<f64> = z
            .iter()
            .map(|v| {
                if v.abs() <= HUBER_K * s {
                    1.0
                } else {
                    HUBER_K * s / v.abs()
                }
            })
            .collect();
        let moved = next
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        w = next;
        if moved < 1e-6 {
            break;
        }
    }
    Ok((w, scale))
}

/// The residual variance of a Huber fit (Huber 1981, the correction of the M-estimate's
/// asymptotic variance): s² = [Σ ψ(rᵢ)² / (n − p)] / (m/n)², where ψ clips a residual at
/// k·ŝ and m rows are unclipped. Prediction intervals use it: a disturbed run counts up to
/// k·ŝ, so the intervals carry the tails seen in the data without one outlier blowing them up.
pub fn huber_sigma2(x: &DMatrix<f64>, y: &DVector<f64>, coef: &[f64], scale: f64) -> f64 {
    let (n, p) = x.shape();
    let b = DVector::from_column_slice(coef);
    let r = y - x * &b;
    let c = HUBER_K * scale;
    let psi2: f64 = r.iter().map(|r| r.clamp(-c, c).powi(2)).sum();
    let m = r.iter().filter(|r| r.abs() <= c).count().max(1) as f64;
    psi2 / (n.saturating_sub(p).max(1)) as f64 / (m / n as f64).powi(2)
}

/// Fits `y` on `x` (rows weighted by `w`) with a Normal prior on the coefficients:
/// coefficient j is pulled toward `prior[j]` with weight `lambda[j]` = s²/τ² (0: no prior),
/// giving the empirical-Bayes posterior mean β = (X'WX + Λ)⁻¹(X'Wy + Λβ₀)
/// (`benchmark-method.md` §5.3, ridge toward a prior rather than toward 0). s² and the
/// degrees of freedom are the unpenalized fit's; the stored (X'WX + Λ)⁻¹ makes the standard
/// errors and intervals the posterior ones.
pub fn fit_shrunk(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    w: &[f64],
    lambda: &[f64],
    prior: &[f64],
) -> Result<Ols, OlsError> {
    let plain = fit_weighted(x, y, w)?;
    let p = x.ncols();
    if lambda.len() != p || prior.len() != p || lambda.iter().chain(prior).any(|v| !v.is_finite()) {
        return Err(OlsError::NotFinite);
    }
    let wm = DMatrix::from_diagonal(&DVector::from_column_slice(w));
    let xtw = x.transpose() * &wm;
    let l = DMatrix::from_diagonal(&DVector::from_column_slice(lambda));
    let b0 = DVector::from_column_slice(prior);
    let inv = (&xtw * x + &l)
        .try_inverse()
        .ok_or(OlsError::RankDeficient { rank: 0, cols: p })?;
    let b = &inv * (&xtw * y + &l * b0);
    let se = (0..p)
        .map(|j| (plain.sigma2 * inv[(j, j)]).max(0.0).sqrt())
        .collect();
    Ok(Ols {
        coef: b.iter().copied().collect(),
        se,
        sigma2: plain.sigma2,
        df: plain.df,
        cov_unscaled: inv,
    })
}

impl Ols {
    /// A fit from stored parts (a model file): coefficients, their standard errors, s^2,
    /// residual degrees of freedom and (X'X)^-1.
    pub fn from_parts(
        coef: Vec<f64>,
        se: Vec<f64>,
        sigma2: f64,
        df: usize,
        cov_unscaled: DMatrix<f64>,
    ) -> Self {
        Self {
            coef,
            se,
            sigma2,
            df,
            cov_unscaled,
        }
    }

    /// The same fit with another residual variance (the standard errors follow).
    pub fn with_sigma2(mut self, sigma2: f64) -> Self {
        self.se = (0..self.coef.len())
            .map(|j| (sigma2 * self.cov_unscaled[(j, j)]).max(0.0).sqrt())
            .collect();
        self.sigma2 = sigma2;
        self
    }

    /// (X'X)^-1.
    pub fn cov_unscaled(&self) -> &DMatrix<f64> {
        &self.cov_unscaled
    }

    /// The prediction at design row `x` (same columns as the fit).
    pub fn predict(&self, x: &[f64]) -> Prediction {
        let v = DVector::from_column_slice(x);
        let mean = self.coef.iter().zip(x).map(|(b, x)| b * x).sum();
        let q = (v.transpose() * &self.cov_unscaled * &v)[(0, 0)].max(0.0);
        Prediction {
            mean,
            se_mean: (self.sigma2 * q).sqrt(),
            se_new: (self.sigma2 * (1.0 + q)).sqrt(),
            df: self.df,
        }
    }

    /// The prediction of a difference between two rows (`x1 - x0`): a before/after contrast,
    /// where shared terms (the intercept) cancel. Its `se_new` is that of the difference of
    /// two new observations.
    pub fn contrast(&self, x0: &[f64], x1: &[f64]) -> Prediction {
        let d: Vec<f64> = x1.iter().zip(x0).map(|(a, b)| a - b).collect();
        let p = self.predict(&d);
        // predict() adds one noise term; a difference of two new runs has two.
        Prediction {
            se_new: (p.se_mean.powi(2) + 2.0 * self.sigma2).sqrt(),
            ..p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_for_tests::Normal;

    /// A design with an intercept and `k` 0/1 features, each row a random combination.
    fn design(n: usize, k: usize, g: &mut Normal) -> DMatrix<f64> {
        DMatrix::from_fn(n, k + 1, |_, j| {
            if j == 0 {
                1.0
            } else {
                f64::from(u8::from(g.uniform() < 0.5))
            }
        })
    }

    #[test]
    fn recovers_known_coefficients_and_its_intervals_cover() {
        let truth = [3.0, 0.4, -0.25, 0.1, 0.0];
        let sd = 0.08;
        let mut g = Normal::new(11);
        let (mut covered, mut trials) = (0usize, 0usize);
        let mut pi_covered = 0usize;
        for _ in 0..400 {
            let x = design(40, truth.len() - 1, &mut g);
            let y = DVector::from_fn(40, |i, _| {
                (0..truth.len()).map(|j| x[(i, j)] * truth[j]).sum::<f64>() + sd * g.sample()
            });
            let f = fit(&x, &y).unwrap();
            for (j, t) in truth.iter().enumerate() {
                let h = t_quantile(f.df, 0.95) * f.se[j];
                trials += 1;
                covered += usize::from((f.coef[j] - t).abs() <= h);
            }
            let row = [1.0, 1.0, 0.0, 1.0, 0.0];
            let new = truth.iter().zip(row).map(|(b, x)| b * x).sum::<f64>() + sd * g.sample();
            let (lo, hi) = f.predict(&row).interval(0.95);
            pi_covered += usize::from(lo <= new && new <= hi);
        }
        let rate = covered as f64 / trials as f64;
        assert!(
            (0.92..=0.98).contains(&rate),
            "coefficient CI coverage {rate}"
        );
        let pi = pi_covered as f64 / 400.0;
        assert!(
            (0.91..=0.99).contains(&pi),
            "prediction interval coverage {pi}"
        );
    }

    #[test]
    fn estimates_are_close_with_enough_data() {
        let mut g = Normal::new(5);
        let x = design(400, 3, &mut g);
        let y = DVector::from_fn(400, |i, _| {
            1.0 + 0.5 * x[(i, 1)] - 0.3 * x[(i, 2)] + 0.05 * g.sample()
        });
        let f = fit(&x, &y).unwrap();
        for (got, want) in f.coef.iter().zip([1.0, 0.5, -0.3, 0.0]) {
            assert!((got - want).abs() < 0.02, "{:?}", f.coef);
        }
        assert!((f.sigma2.sqrt() - 0.05).abs() < 0.01);
        assert_eq!(f.df, 396);
    }

    #[test]
    fn unidentified_designs_are_refused() {
        // The second feature is always equal to the first.
        let x = DMatrix::from_row_slice(4, 3, &[1., 0., 0., 1., 1., 1., 1., 0., 0., 1., 1., 1.]);
        let y = DVector::from_column_slice(&[1.0, 2.0, 1.1, 2.1]);
        assert!(matches!(fit(&x, &y), Err(OlsError::RankDeficient { .. })));
        let x = DMatrix::from_row_slice(2, 2, &[1., 0., 1., 1.]);
        let y = DVector::from_column_slice(&[1.0, 2.0]);
        assert!(matches!(fit(&x, &y), Err(OlsError::TooFewRows { .. })));
        let x = DMatrix::from_row_slice(3, 1, &[1., 1., 1.]);
        let y = DVector::from_column_slice(&[1.0, f64::NAN, 2.0]);
        assert_eq!(fit(&x, &y).unwrap_err(), OlsError::NotFinite);
    }

    #[test]
    fn a_contrast_cancels_the_intercept() {
        let mut g = Normal::new(9);
        let x = design(60, 2, &mut g);
        let y = DVector::from_fn(60, |i, _| 7.0 + 0.3 * x[(i, 1)] + 0.02 * g.sample());
        let f = fit(&x, &y).unwrap();
        let c = f.contrast(&[1.0, 0.0, 0.0], &[1.0, 1.0, 0.0]);
        assert!((c.mean - 0.3).abs() < 0.02);
        assert!(c.se_mean < c.se_new);
        assert!((t_quantile(1_000_000, 0.95) - 1.96).abs() < 1e-3);
        assert!((t_quantile(4, 0.95) - 2.776).abs() < 1e-3);
    }

    #[test]
    fn shrinkage_pulls_toward_the_prior_more_when_data_is_scarce() {
        let mut g = Normal::new(5);
        let fit_with = |n: usize, g: &mut Normal| {
            let x = design(n, 1, g);
            let y =
                DVector::from_iterator(n, (0..n).map(|i| 2.0 + 0.5 * x[(i, 1)] + 0.1 * g.sample()));
            // Prior says the effect is 0, τ = 0.05: λ = s²/τ².
            let s2 = fit(&x, &y).unwrap().sigma2;
            fit_shrunk(&x, &y, &[1.0; 400][..n], &[0.0, s2 / 0.0025], &[0.0, 0.0]).unwrap()
        };
        let few = fit_with(6, &mut g);
        let many = fit_with(400, &mut g);
        assert!(
            few.coef[1] < 0.4,
            "scarce data: pulled toward 0, got {}",
            few.coef[1]
        );
        assert!(
            (many.coef[1] - 0.5).abs() < 0.05,
            "ample data: the data wins, got {}",
            many.coef[1]
        );
        assert!(
            few.se[1] < 0.05 + 1e-9,
            "posterior sd no wider than the prior's"
        );
        // λ = 0 is plain OLS.
        let x = design(30, 2, &mut g);
        let y = DVector::from_iterator(
            30,
            (0..30).map(|i| 1.0 + x[(i, 1)] - x[(i, 2)] + 0.1 * g.sample()),
        );
        let a = fit(&x, &y).unwrap();
        let b = fit_shrunk(&x, &y, &[1.0; 30], &[0.0; 3], &[9.0; 3]).unwrap();
        for j in 0..3 {
            assert!((a.coef[j] - b.coef[j]).abs() < 1e-9);
        }
    }

    #[test]
    fn one_disturbed_run_is_downweighted_not_followed() {
        let mut g = Normal::new(21);
        let x = design(40, 2, &mut g);
        let mut y = DVector::from_iterator(
            40,
            (0..40).map(|i| 3.0 + 0.3 * x[(i, 1)] - 0.2 * x[(i, 2)] + 0.03 * g.sample()),
        );
        // One run at a fifth of its value (a hiccup on the machine).
        let bad = (0..40).find(|&i| x[(i, 1)] == 1.0).unwrap();
        y[bad] += (0.2f64).ln();
        let (w, scale) = huber_weights(&x, &y).unwrap();
        assert!(
            (scale - 0.03).abs() < 0.015,
            "robust scale {scale} of 3 % noise"
        );
        assert!(w[bad] < 0.1, "the disturbed run: weight {}", w[bad]);
        let clean = w.iter().enumerate().filter(|(i, _)| *i != bad);
        assert!(clean.clone().filter(|(_, w)| **w == 1.0).count() >= 30);
        let robust = fit_weighted(&x, &y, &w).unwrap();
        let plain = fit(&x, &y).unwrap();
        assert!((robust.coef[1] - 0.3).abs() < 0.03, "{:?}", robust.coef);
        assert!((plain.coef[1] - 0.3).abs() > (robust.coef[1] - 0.3).abs());
    }
}
