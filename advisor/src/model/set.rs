//! A set of fitted models, one per (hardware class, workload, metric), as stored in a
//! versioned JSON file with the provenance of its training data.

use super::features::Features;
use super::fit::{Fitted, NotCalibrated, Observation, Projection, fit};
use super::validate::{Validation, leave_one_layout_out};
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
    /// The raw device's measured capability for this workload, when the `raw` matrix ran it:
    /// no projection exceeds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<f64>,
    /// The fit.
    pub fitted: Fitted,
    /// Held-out validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
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

fn geomean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

/// Fits and validates every group.
pub fn build(
    groups: &BTreeMap<(DeviceClass, String, String), Group>,
    provenance: Provenance,
) -> (ModelSet, Vec<Skipped>) {
    let mut models = Vec::new();
    let mut skipped = Vec::new();
    for ((class, workload, metric), g) in groups {
        let key = (*class, workload.clone(), metric.clone());
        let fitted = match fit(&g.runs) {
            Ok(f) => f,
            Err(e) => {
                skipped.push(Skipped {
                    key,
                    why: e.to_string(),
                });
                continue;
            }
        };
        let validation = leave_one_layout_out(&g.runs);
        let ok = validation
            .mdape_ratio
            .is_some_and(|m| m <= GOAL_MDAPE_RATIO)
            && validation.coverage.is_some_and(|c| c >= GOAL_COVERAGE);
        models.push(Model {
            class: *class,
            workload: workload.clone(),
            metric: metric.clone(),
            status: if ok {
                Status::Measured
            } else {
                Status::FailsGoals
            },
            capability: (!g.raw.is_empty()).then(|| geomean(&g.raw)),
            fitted,
            validation: Some(validation),
        });
    }
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
        // exp(7.4) ≈ 1636 exceeds the raw device's 1500: the projection is capped.
        let p = quiet.predict(&feats(&["nocow"])).unwrap();
        assert!((p.value - geomean(&[1500.0, 1520.0, 1480.0])).abs() < 1e-6);
        let json = serde_json::to_string(&set).unwrap();
        let back: ModelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
    }
}
