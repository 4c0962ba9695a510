//! Measured effects from committed calibration results (`results/**/*.jsonl`): the ratio of a
//! candidate's headline value to a baseline's, paired run by run (the harness interleaves
//! every cell's k-th run in round k, so run k of two cells shared the machine's state).

use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The database result sets shipped in the binary: name and JSON Lines text (the device
/// class of each run is in its record).
pub const BUNDLED_DB: &[(&str, &str)] = &[
    (
        "databases",
        include_str!("../../../results/databases/databases.jsonl"),
    ),
    (
        "databases",
        include_str!("../../../results/databases/ram/databases.jsonl"),
    ),
    (
        "databases-engines",
        include_str!("../../../results/databases/databases-engines.jsonl"),
    ),
];

/// One run of one cell, as far as effects need it.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The hardware class of the device under test (`virtio`, `ram`).
    pub class: String,
    /// The candidate's name in its matrix.
    pub layout: String,
    /// The workload's name (`pgbench-simple-update`, `wal-innodb`).
    pub workload: String,
    /// The workload's parameters (pgbench: `settings` holds the server settings).
    pub params: Value,
    /// The run's round (0-based).
    pub run: u32,
    /// The headline value (higher is better).
    pub value: f64,
    /// Its unit (`tps`, `iops`, ...).
    pub unit: String,
    /// Bytes the device wrote during the run, when recorded.
    pub device_bytes: Option<f64>,
    /// Cache flushes the device received during the run, when recorded.
    pub device_flushes: Option<f64>,
    /// Transactions (pgbench) or operations, when recorded.
    pub operations: Option<f64>,
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(default)]
    device: Option<Value>,
    layout_name: String,
    run: u32,
    #[serde(default)]
    quick: bool,
    workload: RawWorkload,
    measurement: RawMeasurement,
    #[serde(default)]
    fs: Option<Value>,
}

#[derive(Deserialize)]
struct RawWorkload {
    name: String,
    #[serde(default)]
    params: Value,
}

#[derive(Deserialize)]
struct RawMeasurement {
    value: f64,
    #[serde(default)]
    primary: Option<String>,
    #[serde(default)]
    extra: Option<Value>,
}

/// Result sets by name (`databases` for `results/databases/databases.jsonl`).
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// Full (not quick) runs of each set.
    pub sets: BTreeMap<String, Vec<Run>>,
}

impl Results {
    /// The result sets shipped in the binary.
    pub fn bundled() -> Result<Results, AdvisorError> {
        let mut r = Results::default();
        for (name, text) in BUNDLED_DB {
            r.add(
                name,
                text,
                &format!("<bundled results/databases/{name}.jsonl>"),
            )?;
        }
        Ok(r)
    }

    /// Every `*.jsonl` in `dir` and its subdirectories (one per hardware class), each named
    /// by its file stem.
    pub fn read_dir(dir: &Path) -> Result<Results, AdvisorError> {
        let mut r = Results::default();
        let list = |d: &Path| -> Result<Vec<std::path::PathBuf>, AdvisorError> {
            Ok(std::fs::read_dir(d)
                .map_err(|e| AdvisorError::Io {
                    path: d.into(),
                    source: e,
                })?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect())
        };
        let mut files = Vec::new();
        for p in list(dir)? {
            if p.is_dir() {
                files.extend(list(&p)?);
            } else {
                files.push(p);
            }
        }
        files.retain(|p| p.extension().is_some_and(|x| x == "jsonl"));
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| AdvisorError::Io {
                path: f.clone(),
                source: e,
            })?;
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            r.add(&name, &text, &f.display().to_string())?;
        }
        Ok(r)
    }

    /// Adds the full runs of one JSON Lines text; a malformed line is an error naming it.
    pub fn add(&mut self, name: &str, text: &str, origin: &str) -> Result<(), AdvisorError> {
        let runs = self.sets.entry(name.to_string()).or_default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let raw: RawRecord = serde_json::from_str(line).map_err(|e| AdvisorError::Input {
                path: origin.to_string(),
                line: i + 1,
                column: e.column(),
                message: format!("expected a calibration result record: {e}"),
            })?;
            if raw.quick {
                continue;
            }
            let fs = raw.fs.unwrap_or(Value::Null);
            let extra = raw.measurement.extra.unwrap_or(Value::Null);
            let operations = extra.get("transactions").and_then(Value::as_f64);
            let class = raw
                .device
                .as_ref()
                .and_then(|d| d.get("class"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            runs.push(Run {
                class,
                layout: raw.layout_name,
                workload: raw.workload.name,
                params: raw.workload.params,
                run: raw.run,
                value: raw.measurement.value,
                unit: raw.measurement.primary.unwrap_or_default(),
                device_bytes: fs
                    .get("device_sectors_written")
                    .and_then(Value::as_f64)
                    .map(|s| s * 512.0),
                device_flushes: fs.get("device_flushes").and_then(Value::as_f64),
                operations,
            });
        }
        Ok(())
    }

    /// The hardware classes `set` has runs of, sorted.
    pub fn classes(&self, set: &str) -> Vec<String> {
        let mut c: Vec<String> = self
            .sets
            .get(set)
            .map(|runs| runs.iter().map(|r| r.class.clone()).collect())
            .unwrap_or_default();
        c.sort();
        c.dedup();
        c
    }

    /// The runs of `set` on a device of `class`, on `layout` under `workload` whose server settings include every
    /// `settings` pair and, when `exact`, no other non-stock ones (see [`stock_settings`]).
    pub fn runs<'a>(
        &'a self,
        set: &str,
        class: &str,
        layout: &str,
        workload: &str,
        settings: &BTreeMap<String, String>,
    ) -> Vec<&'a Run> {
        self.sets
            .get(set)
            .map(|runs| {
                runs.iter()
                    .filter(|r| r.class == class && r.layout == layout && r.workload == workload)
                    .filter(|r| settings_match(&r.params, settings))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The pgbench server settings the workload uses unless told otherwise (mirrors the
/// workload's `DEFAULT_SETTINGS`: a stock value is not a tuning).
pub fn stock_settings() -> BTreeMap<&'static str, &'static str> {
    [
        ("wal_compression", "off"),
        ("wal_init_zero", "on"),
        ("wal_recycle", "on"),
    ]
    .into_iter()
    .collect()
}

/// True when the run's `params.settings` holds exactly the asked tunings: each asked pair
/// is present, and each tunable [`stock_settings`] key not asked for is at its stock value.
/// Workloads without settings match only an empty request.
fn settings_match(params: &Value, asked: &BTreeMap<String, String>) -> bool {
    let Some(have) = params.get("settings").and_then(Value::as_object) else {
        return asked.is_empty();
    };
    let get = |k: &str| have.get(k).and_then(Value::as_str).unwrap_or_default();
    asked.iter().all(|(k, v)| get(k) == v)
        && stock_settings()
            .iter()
            .filter(|(k, _)| !asked.contains_key(**k))
            .all(|(k, v)| get(k) == *v)
}

/// A measured effect: candidate over baseline, paired by round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Effect {
    /// Median of the per-round ratios.
    pub ratio: f64,
    /// Smallest per-round ratio.
    pub ratio_min: f64,
    /// Largest per-round ratio.
    pub ratio_max: f64,
    /// Rounds paired.
    pub n: usize,
    /// Median headline value of the candidate.
    pub value: f64,
    /// Median headline value of the baseline.
    pub baseline_value: f64,
    /// The unit of both.
    pub unit: String,
    /// Median device bytes per operation of candidate and baseline, when recorded.
    pub bytes_per_op: Option<(f64, f64)>,
    /// Median device flushes per operation of candidate and baseline, when recorded.
    pub flushes_per_op: Option<(f64, f64)>,
}

/// Median of a non-empty slice (0 when empty).
pub fn median(v: &mut [f64]) -> f64 {
    crate::stats::median(v).unwrap_or(0.0)
}

fn per_op(runs: &[&Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = runs
        .iter()
        .filter_map(|r| Some(f(r)? / r.operations.filter(|o| *o > 0.0)?))
        .collect();
    (v.len() == runs.len() && !v.is_empty()).then(|| median(&mut v))
}

/// The effect of `candidate` runs over `baseline` runs, paired by round; `None` when no
/// round has both.
pub fn effect(candidate: &[&Run], baseline: &[&Run]) -> Option<Effect> {
    let mut ratios = Vec::new();
    for c in candidate {
        if let Some(b) = baseline.iter().find(|b| b.run == c.run)
            && b.value > 0.0
        {
            ratios.push(c.value / b.value);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    let n = ratios.len();
    let ratio_min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let ratio_max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ratio = median(&mut ratios);
    let mut cv: Vec<f64> = candidate.iter().map(|r| r.value).collect();
    let mut bv: Vec<f64> = baseline.iter().map(|r| r.value).collect();
    let pair = |f: fn(&Run) -> Option<f64>| Some((per_op(candidate, f)?, per_op(baseline, f)?));
    Some(Effect {
        ratio,
        ratio_min,
        ratio_max,
        n,
        value: median(&mut cv),
        baseline_value: median(&mut bv),
        unit: candidate[0].unit.clone(),
        bytes_per_op: pair(|r| r.device_bytes),
        flushes_per_op: pair(|r| r.device_flushes),
    })
}

impl Effect {
    /// `×1.23 (1.10–1.31, n=3)`.
    pub fn short(&self) -> String {
        format!(
            "×{:.2} ({:.2}–{:.2}, n={})",
            self.ratio, self.ratio_min, self.ratio_max, self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(layout: &str, round: u32, value: f64, settings: Value) -> Run {
        Run {
            class: "virtio".into(),
            layout: layout.into(),
            workload: "w".into(),
            params: json!({ "settings": settings }),
            run: round,
            value,
            unit: "tps".into(),
            device_bytes: Some(value * 10.0),
            device_flushes: None,
            operations: Some(value),
        }
    }

    #[test]
    fn ratios_pair_rounds_and_report_spread() {
        let a = [run("a", 0, 110.0, json!({})), run("a", 1, 150.0, json!({}))];
        let b = [run("b", 1, 100.0, json!({})), run("b", 0, 100.0, json!({}))];
        let e = effect(&a.iter().collect::<Vec<_>>(), &b.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(e.n, 2);
        assert!((e.ratio - 1.3).abs() < 1e-9);
        assert!((e.ratio_min - 1.1).abs() < 1e-9 && (e.ratio_max - 1.5).abs() < 1e-9);
        assert_eq!(e.bytes_per_op, Some((10.0, 10.0)));
        assert_eq!(e.flushes_per_op, None);
        assert!(effect(&[], &b.iter().collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn settings_match_exactly_the_asked_tunings() {
        let stock = json!({"settings": {"wal_compression": "off", "wal_init_zero": "on", "wal_recycle": "on"}});
        let lz4 = json!({"settings": {"wal_compression": "lz4", "wal_init_zero": "on", "wal_recycle": "on"}});
        let none = BTreeMap::new();
        let want: BTreeMap<String, String> =
            [("wal_compression".to_string(), "lz4".to_string())].into();
        assert!(settings_match(&stock, &none));
        assert!(!settings_match(&lz4, &none));
        assert!(settings_match(&lz4, &want));
        assert!(!settings_match(&stock, &want));
        assert!(settings_match(&json!({}), &none));
    }

    #[test]
    fn a_bad_line_is_an_error_naming_it() {
        let mut r = Results::default();
        let e = r
            .add("x", "\n{\"nope\": 1}\n", "f.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.jsonl") && e.contains(":2"), "{e}");
    }
}
