//! Leave-one-layout-out validation (`benchmark-method.md` §5.5): each candidate's runs are
//! held out in turn, the model is refitted without them and projects them. The errors say
//! how far projections for a layout never measured can be trusted.

use super::features::Features;
use super::fit::{Effect, Fitted, Observation};
use super::ols::OlsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One held-out layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    /// The layout.
    pub layout: String,
    /// Its measured geometric mean.
    pub measured: f64,
    /// The projection without its runs (`None`: not predictable without it).
    pub projected: Option<f64>,
    /// Measured ratio against the baseline layout (no features), if the baseline was measured.
    pub measured_ratio: Option<f64>,
    /// Projected ratio against the baseline.
    pub projected_ratio: Option<f64>,
    /// Its runs inside the 95 % prediction interval.
    pub runs_covered: usize,
    /// Its runs.
    pub runs: usize,
    /// Why it could not be projected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// The summary over every held-out layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Median absolute percentage error of projected metrics.
    pub mdape_metric: Option<f64>,
    /// Median absolute percentage error of projected before/after ratios (baseline → layout).
    pub mdape_ratio: Option<f64>,
    /// Share of held-out runs inside their 95 % prediction interval.
    pub coverage: Option<f64>,
    /// Per layout.
    pub layouts: Vec<HeldOut>,
}

/// The runs grouped by layout (its features and values), and the baseline layout's (no
/// features) geometric mean if it was measured.
type ByLayout<'a> = BTreeMap<&'a str, (Features, Vec<f64>)>;
fn by_layout(obs: &[Observation]) -> (ByLayout<'_>, Option<f64>) {
    let mut by: ByLayout<'_> = BTreeMap::new();
    for o in obs {
        by.entry(o.layout.as_str())
            .or_insert_with(|| (o.features.clone(), Vec::new()))
            .1
            .push(o.value);
    }
    let baseline = by
        .values()
        .find(|(f, _)| f.0.is_empty())
        .map(|(_, v)| geomean(v));
    (by, baseline)
}

/// The geometric mean.
pub(crate) fn geomean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

fn median(v: Vec<f64>) -> Option<f64> {
    crate::stats::median(&v)
}

/// Validates by holding out each layout of `obs` in turn and refitting with `fit` (the same
/// procedure that made the model, shrinkage included).
pub fn leave_one_layout_out(
    obs: &[Observation],
    fit: impl Fn(&[Observation]) -> Result<Fitted, OlsError>,
) -> Validation {
    let (by_layout, baseline) = by_layout(obs);
    let mut rows = Vec::new();
    for (name, (features, values)) in &by_layout {
        let rest: Vec<Observation> = obs.iter().filter(|o| o.layout != *name).cloned().collect();
        let measured = geomean(values);
        let mut row = HeldOut {
            layout: (*name).to_string(),
            measured,
            projected: None,
            measured_ratio: baseline
                .filter(|_| !features.0.is_empty())
                .map(|b| measured / b),
            projected_ratio: None,
            runs_covered: 0,
            runs: values.len(),
            why_not: None,
        };
        match fit(&rest) {
            Err(e) => row.why_not = Some(e.to_string()),
            Ok(m) => match m.predict(features) {
                Err(e) => row.why_not = Some(e.to_string()),
                Ok(p) => {
                    row.projected = Some(p.value);
                    row.runs_covered = values
                        .iter()
                        .filter(|&&v| p.low <= v && v <= p.high)
                        .count();
                    if row.measured_ratio.is_some() {
                        row.projected_ratio = m
                            .ratio(&Features::default(), features)
                            .ok()
                            .map(|r| r.value);
                    }
                }
            },
        }
        rows.push(row);
    }
    let ape = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(p, m)| (p / m - 1.0).abs());
    let mdape_metric = median(
        rows.iter()
            .filter_map(|r| ape(r.projected, Some(r.measured)))
            .collect(),
    );
    let mdape_ratio = median(
        rows.iter()
            .filter_map(|r| ape(r.projected_ratio, r.measured_ratio))
            .collect(),
    );
    let (hit, n) = rows
        .iter()
        .filter(|r| r.projected.is_some())
        .fold((0, 0), |(h, n), r| (h + r.runs_covered, n + r.runs));
    Validation {
        mdape_metric,
        mdape_ratio,
        coverage: (n > 0).then(|| hit as f64 / n as f64),
        layouts: rows,
    }
}

/// Leave-one-class-out (`benchmark-method.md` §5.5): how well effects fitted on other
/// classes predict this class's measured before/after ratios (each layout against the
/// baseline). The median absolute percentage error, over layouts whose features the effects
/// cover; `None` without a baseline or a comparable layout. It tells how far the effects
/// behind a prior (a class nobody measured) can be trusted.
pub fn class_transfer_mdape(obs: &[Observation], effects: &[Effect]) -> Option<f64> {
    let (by_layout, baseline) = by_layout(obs);
    let baseline = baseline?;
    let apes: Vec<f64> = by_layout
        .values()
        .filter(|(f, _)| !f.0.is_empty())
        .filter_map(|(f, v)| {
            let mut log = 0.0;
            for n in f.names() {
                log += effects.iter().find(|e| e.feature == n)?.beta;
            }
            Some((log.exp() / (geomean(v) / baseline) - 1.0).abs())
        })
        .collect();
    median(apes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_for_tests::Normal;

    fn feats(names: &[&str]) -> Features {
        Features(names.iter().map(|n| (n.to_string(), 1)).collect())
    }

    #[test]
    fn held_out_layouts_are_projected_within_the_noise() {
        let layouts: [(&str, &[&str]); 8] = [
            ("cow", &[]),
            ("nocow", &["nocow"]),
            ("zstd1", &["compress=zstd:1"]),
            ("autodefrag", &["autodefrag"]),
            ("commit120", &["commit=120"]),
            ("zstd1-autodefrag", &["compress=zstd:1", "autodefrag"]),
            ("nocow-commit120", &["nocow", "commit=120"]),
            ("ext4", &["fs=ext4"]),
        ];
        let mut g = Normal::new(4);
        let mut obs = Vec::new();
        for _ in 0..5 {
            for (name, f) in layouts {
                let f = feats(f);
                let log = 8.0 + 0.3 * f.get("nocow") - 0.1 * f.get("compress=zstd:1")
                    + 0.05 * f.get("commit=120")
                    + 1.0 * f.get("fs=ext4");
                obs.push(Observation {
                    layout: name.into(),
                    value: (log + 0.05 * g.sample()).exp(),
                    features: f,
                });
            }
        }
        let v = leave_one_layout_out(&obs, super::super::fit::fit);
        assert_eq!(v.layouts.len(), 8);
        let ext4 = v.layouts.iter().find(|r| r.layout == "ext4").unwrap();
        assert!(ext4.projected.is_none(), "fs=ext4 is in no other layout");
        assert!(ext4.why_not.as_deref().unwrap().contains("not calibrated"));
        // With 5 % noise and 5 runs, held-out ratios come within ~10 %.
        assert!(v.mdape_ratio.unwrap() < 0.10, "{v:?}");
        assert!(v.mdape_metric.unwrap() < 0.10);
        let cov = v.coverage.unwrap();
        assert!(cov >= 0.8, "coverage {cov}");
        let nocow = v.layouts.iter().find(|r| r.layout == "nocow").unwrap();
        assert!((nocow.projected_ratio.unwrap() - 0.3f64.exp()).abs() < 0.15);
    }

    #[test]
    fn effects_from_another_class_are_scored_on_this_ones_ratios() {
        let mut g = Normal::new(6);
        let obs: Vec<Observation> = (0..4)
            .flat_map(|_| {
                [
                    (&[][..], "cow"),
                    (&["nocow"][..], "nocow"),
                    (&["autodefrag"][..], "ad"),
                ]
            })
            .map(|(f, name)| {
                let f = feats(f);
                let log = 5.0 + 0.4 * f.get("nocow");
                Observation {
                    layout: name.into(),
                    value: (log + 0.01 * g.sample()).exp(),
                    features: f,
                }
            })
            .collect();
        let e = |b: f64| Effect {
            feature: "nocow".into(),
            beta: b,
            se: 0.01,
        };
        let ad = Effect {
            feature: "autodefrag".into(),
            beta: 0.0,
            se: 0.01,
        };
        let right = class_transfer_mdape(&obs, &[e(0.4), ad.clone()]).unwrap();
        let wrong = class_transfer_mdape(&obs, &[e(0.0), ad]).unwrap();
        assert!(right < 0.02, "{right}");
        assert!(wrong > 0.1, "{wrong}");
        assert!(
            class_transfer_mdape(&obs, &[]).is_none(),
            "no effect covers a layout"
        );
    }
}
