//! A set of fitted models, one per (hardware class, workload, metric), as stored in a
//! versioned JSON file with the provenance of its training data.

use super::features::Features;
use super::fit::{Fitted, NotCalibrated, Observation, Projection, fit, fit_pooled, fit_toward};
use super::ols::OlsError;
use super::priors::{PriorBasis, priors};
use super::validate::geomean;
use super::validate::{Validation, class_transfer_mdape, leave_one_layout_out};
use crate::hardware::DeviceClass;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the model file format.
pub const MODEL_SCHEMA_VERSION: u32 = 1;

/// The goals a measured class must meet (issue: held-out ratio error ≤ 10 %, 95 % interval
/// coverage ≥ 90 %).
pub const GOAL_MDAPE_RATIO: f64 = 0.10;
/// See [`GOAL_MDAPE_RATIO`].
pub const GOAL_COVERAGE: f64 = 0.90;

/// Where a model's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Fitted from measurements and meets the validation goals.
    Measured,
    /// Fitted from measurements but misses a validation goal (or could not be validated):
    /// every projection that uses it says so.
    FailsGoals,
    /// Built from documented device figures, not measured here.
    Prior,
}

/// Where the training data came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Host names.
    pub hosts: BTreeSet<String>,
    /// Kernel releases.
    pub kernels: BTreeSet<String>,
    /// First and last run (Unix seconds).
    pub first_unix: u64,
    /// See `first_unix`.
    pub last_unix: u64,
    /// Runs used.
    pub runs: usize,
    /// Results files read.
    pub files: Vec<String>,
}

/// One model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Hardware class.
    pub class: DeviceClass,
    /// Workload as recorded (`wal-postgresql`).
    pub workload: String,
    /// Metric (higher is better).
    pub metric: String,
    /// Where its numbers come from.
    pub status: Status,
    /// The device's capability for this workload, when the `raw` matrix ran it: the raw
    /// device's geometric mean, or the best layout's if that is higher (a cache the raw run
    /// did not see). No projection exceeds it: beyond it is outside what was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<f64>,
    /// The fit.
    pub fitted: Fitted,
    /// The classes whose pooled effects this class's effects were shrunk toward, and the
    /// between-class spread τ that set how far (none: fitted on its own data alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk_toward: Option<Shrinkage>,
    /// Held-out validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// Leave-one-class-out: median absolute error of this class's measured before/after
    /// ratios as projected by the other classes' effects alone (how well effects transfer
    /// to a class nobody measured, as priors assume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_transfer_mdape: Option<f64>,
    /// For a prior model: the documented figures and calibrated classes it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorBasis>,
}

/// How a class's effects were shrunk (`benchmark-method.md` §5.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shrinkage {
    /// The classes pooled (this one included).
    pub classes: Vec<DeviceClass>,
    /// Between-class standard deviation of an effect (log scale).
    pub tau: f64,
}

/// A model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSet {
    /// [`MODEL_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Where the data came from.
    pub provenance: Provenance,
    /// The models, by class, workload and metric.
    pub models: Vec<Model>,
}

/// The training data of one model.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// Runs on candidate layouts.
    pub runs: Vec<Observation>,
    /// Runs of the same workload on the raw device.
    pub raw: Vec<f64>,
}

/// A model that could not be fitted, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// Class, workload, metric.
    pub key: (DeviceClass, String, String),
    /// Why.
    pub why: String,
}

/// The best geometric mean any layout measured.
fn best_layout(runs: &[Observation]) -> f64 {
    let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for o in runs {
        by.entry(o.layout.as_str()).or_default().push(o.value);
    }
    by.values().map(|v| geomean(v)).fold(0.0, f64::max)
}

/// Fits and validates every group. Where several classes measured a workload, each class's
/// effects are shrunk toward the effects pooled over all of them, and the held-out
/// validation repeats that whole procedure without the held-out layout's runs.
pub fn build(
    groups: &BTreeMap<(DeviceClass, String, String), Group>,
    provenance: Provenance,
) -> (ModelSet, Vec<Skipped>) {
    let mut by_workload: BTreeMap<(&str, &str), Vec<(DeviceClass, &Group)>> = BTreeMap::new();
    for ((class, workload, metric), g) in groups {
        by_workload
            .entry((workload.as_str(), metric.as_str()))
            .or_default()
            .push((*class, g));
    }
    let mut models = Vec::new();
    let mut skipped = Vec::new();
    for ((workload, metric), classes) in by_workload {
        let fittable: Vec<(DeviceClass, &[Observation])> = classes
            .iter()
            .filter(|(_, g)| fit(&g.runs).is_ok())
            .map(|(c, g)| (*c, g.runs.as_slice()))
            .collect();
        for (class, g) in &classes {
            let key = (*class, workload.to_string(), metric.to_string());
            let others: Vec<&[Observation]> = fittable
                .iter()
                .filter(|(c, _)| c != class)
                .map(|(_, o)| *o)
                .collect();
            let procedure = |train: &[Observation]| -> Result<Fitted, OlsError> {
                if others.is_empty() {
                    return fit(train);
                }
                let mut all = others.clone();
                all.push(train);
                match fit_pooled(&all) {
                    Ok(p) => fit_toward(train, &p),
                    Err(_) => fit(train),
                }
            };
            let fitted = match procedure(&g.runs) {
                Ok(f) => f,
                Err(e) => {
                    skipped.push(Skipped {
                        key,
                        why: e.to_string(),
                    });
                    continue;
                }
            };
            let shrunk_toward = if others.is_empty() {
                None
            } else {
                let mut all = others.clone();
                all.push(&g.runs);
                fit_pooled(&all).ok().map(|p| Shrinkage {
                    classes: fittable.iter().map(|(c, _)| *c).collect(),
                    tau: p.tau,
                })
            };
            let validation = leave_one_layout_out(&g.runs, procedure);
            let transfer_effects = match others.as_slice() {
                [] => None,
                [one] => fit(one).ok().map(|f| f.effects),
                many => fit_pooled(many).ok().map(|p| p.effects),
            };
            let class_transfer = transfer_effects.and_then(|e| class_transfer_mdape(&g.runs, &e));
            let ok = validation
                .mdape_ratio
                .is_some_and(|m| m <= GOAL_MDAPE_RATIO)
                && validation.coverage.is_some_and(|c| c >= GOAL_COVERAGE);
            models.push(Model {
                class: *class,
                workload: workload.to_string(),
                metric: metric.to_string(),
                status: if ok {
                    Status::Measured
                } else {
                    Status::FailsGoals
                },
                capability: (!g.raw.is_empty()).then(|| geomean(&g.raw).max(best_layout(&g.runs))),
                fitted,
                shrunk_toward,
                validation: Some(validation),
                class_transfer_mdape: class_transfer,
                prior: None,
            });
        }
    }
    let prior_models = priors(&models, groups);
    models.extend(prior_models);
    (
        ModelSet {
            schema_version: MODEL_SCHEMA_VERSION,
            provenance,
            models,
        },
        skipped,
    )
}

impl Model {
    /// The projected metric for a layout's features, capped at the device's capability.
    pub fn predict(&self, features: &Features) -> Result<Projection, NotCalibrated> {
        let p = self.fitted.predict(features)?;
        Ok(match self.capability {
            Some(c) => Projection {
                value: p.value.min(c),
                low: p.low.min(c),
                high: p.high.min(c),
            },
            None => p,
        })
    }
}

impl ModelSet {
    /// The model of a class, workload and metric.
    pub fn get(&self, class: DeviceClass, workload: &str, metric: &str) -> Option<&Model> {
        self.models
            .iter()
            .find(|m| m.class == class && m.workload == workload && m.metric == metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_for_tests::Normal;

    fn feats(names: &[&str]) -> Features {
        Features(names.iter().map(|n| (n.to_string(), 1)).collect())
    }

    fn group(noise: f64, seed: u64) -> Group {
        let layouts: [(&str, &[&str]); 6] = [
            ("cow", &[]),
            ("nocow", &["nocow"]),
            ("zstd1", &["compress=zstd:1"]),
            ("autodefrag", &["autodefrag"]),
            ("zstd1-autodefrag", &["compress=zstd:1", "autodefrag"]),
            ("nocow-autodefrag", &["nocow", "autodefrag"]),
        ];
        let mut g = Normal::new(seed);
        let mut runs = Vec::new();
        for _ in 0..5 {
            for (name, f) in layouts {
                let f = feats(f);
                let log = 7.0 + 0.4 * f.get("nocow") - 0.1 * f.get("compress=zstd:1");
                runs.push(Observation {
                    layout: name.into(),
                    value: (log + noise * g.sample()).exp(),
                    features: f,
                });
            }
        }
        Group {
            runs,
            raw: vec![1500.0, 1520.0, 1480.0],
        }
    }

    #[test]
    fn builds_validates_caps_and_round_trips() {
        let mut groups = BTreeMap::new();
        groups.insert(
            (
                DeviceClass::Virtio,
                "wal-postgresql".into(),
                "commits_per_s".into(),
            ),
            group(0.03, 1),
        );
        groups.insert(
            (
                DeviceClass::Ram,
                "wal-postgresql".into(),
                "commits_per_s".into(),
            ),
            group(0.40, 2),
        );
        groups.insert((DeviceClass::Hdd, "x".into(), "y".into()), Group::default());
        let (set, skipped) = build(&groups, Provenance::default());
        assert_eq!(skipped.len(), 1, "an empty group cannot be fitted");
        let quiet = set
            .get(DeviceClass::Virtio, "wal-postgresql", "commits_per_s")
            .unwrap();
        assert_eq!(quiet.status, Status::Measured, "{:?}", quiet.validation);
        let noisy = set
            .get(DeviceClass::Ram, "wal-postgresql", "commits_per_s")
            .unwrap();
        assert_eq!(
            noisy.status,
            Status::FailsGoals,
            "40 % noise misses the goals"
        );
        // The raw device did ≈ 1500 but the nocow layouts ≈ exp(7.4) ≈ 1636: the cap is the
        // best measured, and no projection passes it.
        let cap = quiet.capability.unwrap();
        assert!(
            cap > 1500.0 && (cap / 7.4f64.exp() - 1.0).abs() < 0.05,
            "{cap}"
        );
        let p = quiet.predict(&feats(&["nocow"])).unwrap();
        assert!(p.value <= cap && p.high <= cap);
        let json = serde_json::to_string(&set).unwrap();
        let back: ModelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
    }

    fn key(c: DeviceClass, w: &str, m: &str) -> (DeviceClass, String, String) {
        (c, w.into(), m.into())
    }

    /// Two calibrated classes, with raw capabilities, for a WAL workload and its raw job.
    fn two_classes() -> BTreeMap<(DeviceClass, String, String), Group> {
        let mut groups = BTreeMap::new();
        groups.insert(
            key(DeviceClass::Virtio, "wal-postgresql", "commits_per_s"),
            group(0.03, 1),
        );
        groups.insert(
            key(DeviceClass::Ram, "wal-postgresql", "commits_per_s"),
            group(0.03, 2),
        );
        for (c, raw) in [(DeviceClass::Virtio, 4000.0), (DeviceClass::Ram, 9000.0)] {
            groups.insert(
                key(c, "fio-randwrite-4k-fsync", "iops"),
                Group {
                    runs: Vec::new(),
                    raw: vec![raw],
                },
            );
        }
        groups
    }

    #[test]
    fn classes_share_effects_and_unmeasured_classes_get_labelled_priors() {
        let (set, _) = build(&two_classes(), Provenance::default());
        let v = set
            .get(DeviceClass::Virtio, "wal-postgresql", "commits_per_s")
            .unwrap();
        let s = v
            .shrunk_toward
            .as_ref()
            .expect("two classes: shrunk toward the pool");
        assert_eq!(s.classes, vec![DeviceClass::Virtio, DeviceClass::Ram]);
        assert!(s.tau >= super::super::fit::TAU_FLOOR);
        // Every class with documented figures and no measurements gets a prior.
        for class in [
            DeviceClass::Nvme,
            DeviceClass::SataSsd,
            DeviceClass::Hdd,
            DeviceClass::Emmc,
            DeviceClass::Sd,
            DeviceClass::Usb,
        ] {
            let m = set.get(class, "wal-postgresql", "commits_per_s").unwrap();
            assert_eq!(m.status, Status::Prior);
            assert!(m.validation.is_none());
            let basis = m.prior.as_ref().unwrap();
            assert_eq!(basis.capability_job, "fio-randwrite-4k-fsync");
            assert!(!basis.source.is_empty());
        }
        // The HDD prior: documented capability × the measured efficiency η.
        let hdd = set
            .get(DeviceClass::Hdd, "wal-postgresql", "commits_per_s")
            .unwrap();
        let eta = ((7.0 - 4000f64.ln()) + (7.0 - 9000f64.ln())) / 2.0;
        let expect = (50f64 * 250.0).sqrt().ln() + eta;
        assert!(
            (hdd.fitted.intercept - expect).abs() < 0.05,
            "{} vs {expect}",
            hdd.fitted.intercept
        );
        // Its intervals are far wider than a measured class's, and a ratio still comes from
        // the pooled effects (nocow ≈ +0.4 on the log scale).
        let base = Features::default();
        let (pv, ph) = (v.predict(&base).unwrap(), hdd.predict(&base).unwrap());
        assert!(
            ph.high / ph.low > 5.0 * (pv.high / pv.low),
            "{ph:?} vs {pv:?}"
        );
        let r = hdd.fitted.ratio(&base, &feats(&["nocow"])).unwrap();
        assert!((r.value.ln() - 0.4).abs() < 0.05, "{r:?}");
        let rv = v.fitted.ratio(&base, &feats(&["nocow"])).unwrap();
        assert!(
            r.high / r.low > rv.high / rv.low,
            "a prior's ratio is less certain"
        );
    }
}
