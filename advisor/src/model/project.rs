//! The projection API `plan` and `diagnose` use: a layout's metric for a workload on a
//! hardware class, and the before/after ratio of a change set, each with its 95 % interval,
//! the status of the model behind it (`measured`, `fails-goals`, `prior`) and the raw
//! device's capability as a ceiling. Where the model never saw a feature vary the answer is
//! "not calibrated", never a guess.

use super::features::Features;
use super::fit::{NotCalibrated, Projection};
use super::set::{Model, ModelSet, Status};
use crate::hardware::DeviceClass;
use serde::Serialize;
use std::path::Path;

/// The model file shipped with btrtune: fitted from `results/` (see `results/README.md`).
pub const SHIPPED_JSON: &str = include_str!("../../../results/models/models.json");

/// Why a projection cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// Nothing measured or documented for this class and workload.
    #[error(
        "no model of {workload} on {class}: calibrate one with `sudo scripts/calibrate.sh {class}=DIR_OR_DEVICE` and `btrtune fit`"
    )]
    NoModel {
        /// The class.
        class: DeviceClass,
        /// The workload.
        workload: String,
    },
    /// The layout has features the model never saw vary.
    #[error("{workload} on {class}: {source}")]
    NotCalibrated {
        /// The class.
        class: DeviceClass,
        /// The workload.
        workload: String,
        /// Which features.
        source: NotCalibrated,
    },
}

/// A model file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a model file.
    #[error("{path}:{line}:{column}: not a btrtune model file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// What serde said.
        message: String,
    },
    /// A version this build does not read.
    #[error(
        "{path}: model file version {found}, this btrtune reads version {expected}: refit with `btrtune fit`"
    )]
    Version {
        /// The file.
        path: String,
        /// Its version.
        found: u32,
        /// Ours.
        expected: u32,
    },
}

/// A before/after projection of one change set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The class.
    pub class: DeviceClass,
    /// The workload.
    pub workload: String,
    /// The metric (higher is better).
    pub metric: String,
    /// The model's status: every use of a `prior` or `fails-goals` model says so.
    pub status: Status,
    /// The layout before.
    pub before: Projection,
    /// The layout after.
    pub after: Projection,
    /// after / before, with the 95 % interval of the ratio of one run of each.
    pub ratio: Projection,
    /// The projection hit the raw device's capability.
    pub capped: bool,
    /// The features that differ (`+nocow`, `-atime=relatime`).
    pub changes: Vec<String>,
}

impl ModelSet {
    /// Parses a model file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ModelFileError> {
        #[derive(serde::Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let parse_err = |e: serde_json::Error| ModelFileError::Parse {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let v: Version = serde_json::from_str(text).map_err(parse_err)?;
        if v.schema_version != super::set::MODEL_SCHEMA_VERSION {
            return Err(ModelFileError::Version {
                path: path.to_string(),
                found: v.schema_version,
                expected: super::set::MODEL_SCHEMA_VERSION,
            });
        }
        serde_json::from_str(text).map_err(parse_err)
    }

    /// Reads a model file, or `models.json` in a directory.
    pub fn read(path: &Path) -> Result<Self, ModelFileError> {
        let file = if path.is_dir() {
            path.join("models.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ModelFileError::Io {
            path: file.display().to_string(),
            source,
        })?;
        Self::parse(&text, &file.display().to_string())
    }

    /// The models shipped with btrtune.
    pub fn shipped() -> Result<Self, ModelFileError> {
        Self::parse(SHIPPED_JSON, "results/models/models.json (shipped)")
    }

    /// The model of a workload on a class (its primary metric).
    pub fn model(&self, class: DeviceClass, workload: &str) -> Result<&Model, ProjectError> {
        self.models
            .iter()
            .find(|m| m.class == class && m.workload == workload)
            .ok_or_else(|| ProjectError::NoModel {
                class,
                workload: workload.to_string(),
            })
    }

    /// The projected metric of a layout with these features.
    pub fn project(
        &self,
        class: DeviceClass,
        workload: &str,
        features: &Features,
    ) -> Result<(Projection, &Model), ProjectError> {
        let m = self.model(class, workload)?;
        let p = m
            .predict(features)
            .map_err(|source| ProjectError::NotCalibrated {
                class,
                workload: workload.to_string(),
                source,
            })?;
        Ok((p, m))
    }

    /// The projection of changing a layout's features from `before` to `after`: the model
    /// combines every change at once (effects add on the log scale), and the ratio's
    /// interval is that of the contrast, in which the class's level cancels.
    pub fn project_change(
        &self,
        class: DeviceClass,
        workload: &str,
        before: &Features,
        after: &Features,
    ) -> Result<Change, ProjectError> {
        let not_cal = |source| ProjectError::NotCalibrated {
            class,
            workload: workload.to_string(),
            source,
        };
        let m = self.model(class, workload)?;
        let b = m.predict(before).map_err(not_cal)?;
        let a = m.predict(after).map_err(not_cal)?;
        let mut ratio = m.fitted.ratio(before, after).map_err(not_cal)?;
        let mut capped = false;
        if let Some(c) = m.capability {
            let ceiling = c / b.value;
            if ratio.value > ceiling {
                capped = true;
            }
            ratio.value = ratio.value.min(ceiling);
            ratio.high = ratio.high.min(ceiling);
            ratio.low = ratio.low.min(ceiling);
            capped |= a.value >= c;
        }
        let mut changes: Vec<String> = after
            .names()
            .filter(|n| before.get(n) == 0.0)
            .map(|n| format!("+{n}"))
            .collect();
        changes.extend(
            before
                .names()
                .filter(|n| after.get(n) == 0.0)
                .map(|n| format!("-{n}")),
        );
        Ok(Change {
            class,
            workload: workload.to_string(),
            metric: m.metric.clone(),
            status: m.status,
            before: b,
            after: a,
            ratio,
            capped,
            changes,
        })
    }
}

impl Status {
    /// The label a projection carries.
    pub fn label(self) -> &'static str {
        match self {
            Status::Measured => "measured",
            Status::FailsGoals => "fails validation goals",
            Status::Prior => "prior",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fit::Observation;
    use crate::model::set::{Group, Provenance, build};
    use crate::rng_for_tests::Normal;
    use std::collections::BTreeMap;

    fn feats(names: &[&str]) -> Features {
        Features(names.iter().map(|n| (n.to_string(), 1)).collect())
    }

    /// One class: nocow ×1.5, zstd:1 ×0.9, autodefrag ×1.2; raw capability `cap`. Never
    /// measured together: nocow and autodefrag.
    fn models(cap: f64) -> ModelSet {
        let layouts: [&[&str]; 6] = [
            &[],
            &["nocow"],
            &["compress=zstd:1"],
            &["autodefrag"],
            &["compress=zstd:1", "autodefrag"],
            &["nocow", "compress=zstd:1"],
        ];
        let mut g = Normal::new(4);
        let mut runs = Vec::new();
        for _ in 0..5 {
            for f in layouts {
                let f = feats(f);
                let log = 1000f64.ln()
                    + 1.5f64.ln() * f.get("nocow")
                    + 0.9f64.ln() * f.get("compress=zstd:1")
                    + 1.2f64.ln() * f.get("autodefrag");
                runs.push(Observation {
                    layout: f.names().collect::<Vec<_>>().join("+"),
                    value: (log + 0.02 * g.sample()).exp(),
                    features: f,
                });
            }
        }
        let mut groups = BTreeMap::new();
        groups.insert(
            (
                DeviceClass::Virtio,
                "fio-randwrite-4k-fsync".into(),
                "iops".into(),
            ),
            Group {
                runs,
                raw: vec![cap],
            },
        );
        build(&groups, Provenance::default()).0
    }

    #[test]
    fn a_change_set_is_projected_as_one_contrast() {
        let set = models(1e9);
        let before = feats(&["compress=zstd:1"]);
        let after = feats(&["nocow", "autodefrag"]);
        let c = set
            .project_change(
                DeviceClass::Virtio,
                "fio-randwrite-4k-fsync",
                &before,
                &after,
            )
            .unwrap();
        // nocow ×1.5, zstd:1 removed (÷0.9), autodefrag ×1.2: 2.0, never measured together.
        assert!((c.ratio.value - 1.5 * 1.2 / 0.9).abs() < 0.05, "{c:?}");
        assert!(c.ratio.low < c.ratio.value && c.ratio.value < c.ratio.high);
        assert!((c.after.value / c.before.value - c.ratio.value).abs() < 1e-9);
        assert_eq!(c.changes, vec!["+autodefrag", "+nocow", "-compress=zstd:1"]);
        assert!(!c.capped);
        assert_eq!(c.status, Status::Measured);
    }

    #[test]
    fn the_device_caps_a_projection() {
        // The raw device did 1200; the best layout (nocow) measured ≈ 1500, so the cap is
        // what was measured, and nocow + autodefrag (≈ 1800 by the model) stops there.
        let set = models(1200.0);
        let cap = set.models[0].capability.unwrap();
        assert!((cap / 1500.0 - 1.0).abs() < 0.05, "{cap}");
        let c = set
            .project_change(
                DeviceClass::Virtio,
                "fio-randwrite-4k-fsync",
                &Features::default(),
                &feats(&["nocow", "autodefrag"]),
            )
            .unwrap();
        assert!(c.capped);
        assert!(c.after.value <= cap && c.after.high <= cap);
        assert!(c.ratio.value <= cap / c.before.value + 1e-9);
    }

    #[test]
    fn missing_models_and_features_are_said_not_guessed() {
        let set = models(1e9);
        let e = set
            .project_change(
                DeviceClass::Virtio,
                "fio-randwrite-4k-fsync",
                &Features::default(),
                &feats(&["compress=lzo"]),
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("not calibrated for compress=lzo"),
            "{e}"
        );
        let e = set
            .project(DeviceClass::Usb, "devtree-cargo", &Features::default())
            .unwrap_err();
        assert!(matches!(e, ProjectError::NoModel { .. }));
        assert!(e.to_string().contains("scripts/calibrate.sh usb="), "{e}");
    }

    #[test]
    fn model_files_are_checked_and_the_shipped_one_reads() {
        let set = ModelSet::shipped().unwrap();
        assert_eq!(set.schema_version, crate::model::set::MODEL_SCHEMA_VERSION);
        let e = ModelSet::parse("{\"schema_version\": 99}", "m.json").unwrap_err();
        assert!(e.to_string().contains("version 99"), "{e}");
        let e = ModelSet::parse("{\n  \"schema_version\": 1,\n  \"models\": 3\n}", "m.json")
            .unwrap_err();
        assert!(e.to_string().starts_with("m.json:"), "{e}");
        let e = ModelSet::read(Path::new("/nonexistent/models")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/models"), "{e}");
    }
}
