//! What a report is made of: plain data that the CLI fills from results files, model files,
//! a diagnosis or a benchmark comparison. Nothing here knows the harness's record format.

use crate::error::ReportError;
use crate::stats::{Interval, Summary, paired_ratio_of, ratio_of};
use btrtune_advisor::diagnose::{Diagnosis, Projected};
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::layout::Layout;
use btrtune_advisor::model::set::ModelSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything one report shows. Sections without data are left out.
#[derive(Clone, Debug, Default)]
pub struct ReportInput {
    /// The report's title.
    pub title: String,
    /// What it was made from (file names, commands), listed under the title.
    pub sources: Vec<String>,
    /// When it was made, shown if given (reports are byte-for-byte reproducible without it).
    pub generated: Option<String>,
    /// Measured runs: throughput and latency charts per class and workload.
    pub runs: Vec<RunPoint>,
    /// Layouts: a diagram each; runs refer to them by (`group`, `name`) = (matrix, layout).
    pub layouts: Vec<NamedLayout>,
    /// Models: projected-against-measured charts for the models with a validation.
    pub models: Option<ModelSet>,
    /// Which models to chart: `None` charts the classes the runs were measured on (every
    /// validated model when there are no runs).
    pub model_classes: Option<Vec<DeviceClass>>,
    /// A diagnosis: before/after charts of its recommendations.
    pub diagnosis: Option<DiagnosisInput>,
    /// Benchmark comparisons (`validate --bench`): a forest plot of their ratios.
    pub comparisons: Vec<Comparison>,
}

impl ReportInput {
    /// True when there is nothing to draw or list.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.layouts.is_empty()
            && self.models.as_ref().is_none_or(|m| m.models.is_empty())
            && self.diagnosis.is_none()
            && self.comparisons.is_empty()
    }
}

/// One measured run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPoint {
    /// Hardware class of the device it ran on.
    pub class: DeviceClass,
    /// The matrix it came from (`default`, `raw`, `databases`).
    pub matrix: String,
    /// The layout's name in the matrix.
    pub layout: String,
    /// What sets this run's cell apart from other cells of the same layout and workload
    /// (`wal_init_zero=off`), when a layout ran the workload with several settings; see
    /// [`label_variants`].
    pub variant: Option<String>,
    /// The workload (`wal-postgresql`).
    pub workload: String,
    /// The headline metric (higher is better).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Latency percentiles of the run's operations, if measured.
    pub latency: Option<Latency>,
    /// Where in the layout the workload ran (`None`: on the raw device).
    pub mountpoint: Option<String>,
    /// The run's index in its cell.
    pub run: u32,
}

/// Latency percentiles of one run, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ns: f64,
    /// 99th percentile.
    pub p99_ns: f64,
}

/// A layout with the name runs use for it.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedLayout {
    /// Where it comes from: the matrix of the runs (`default`), `diagnosis`, a file name.
    pub group: String,
    /// Its name there (`nocow`, `current`, `proposed`).
    pub name: String,
    /// The layout.
    pub layout: Layout,
}

/// The part of a diagnosis a report shows: the JSON `btrtune diagnose --json` prints (and
/// `--out-dir` writes as `diagnosis.json`) reads into it, unknown fields ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisInput {
    /// The device class the projections used.
    pub class: String,
    /// How the class was decided.
    #[serde(default)]
    pub class_basis: String,
    /// What was missing.
    #[serde(default)]
    pub missing: Vec<String>,
    /// The findings, most severe first.
    #[serde(default)]
    pub findings: Vec<FindingInput>,
    /// The recommendations, in rank order.
    #[serde(default)]
    pub recommendations: Vec<RecommendationInput>,
    /// Every layout recommendation at once.
    #[serde(default)]
    pub combined: Vec<ProjectedInput>,
}

/// One finding of a diagnosis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingInput {
    /// The rule's id (`L02`).
    pub rule: String,
    /// Severity (`high`).
    pub severity: String,
    /// Confidence, 0–1.
    pub confidence: f64,
    /// What was found.
    pub title: String,
}

/// One recommendation of a diagnosis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendationInput {
    /// `R1`, `R2`, ...
    pub id: String,
    /// What to do.
    pub title: String,
    /// Disruption class (`live-remount`, `data-migration`, ...).
    pub disruption: String,
    /// Risk (`low`, `medium`, `high`).
    pub risk: String,
    /// Projected effects per workload.
    #[serde(default)]
    pub projections: Vec<ProjectedInput>,
    /// Why there is no projection, when there is none.
    #[serde(default)]
    pub projection_note: Option<String>,
}

/// A projected before/after effect on one workload at one mount point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectedInput {
    /// The mount point.
    pub mountpoint: String,
    /// The workload.
    pub workload: String,
    /// The metric (empty when there is no projection).
    #[serde(default)]
    pub metric: String,
    /// The model's status (`measured`, `prior`, ...) or why there is no projection.
    #[serde(default)]
    pub status: String,
    /// Projected metric before the change.
    #[serde(default)]
    pub before: Option<f64>,
    /// Projected metric after.
    #[serde(default)]
    pub after: Option<f64>,
    /// after / before: value, low, high of its 95 % interval.
    #[serde(default)]
    pub ratio: Option<[f64; 3]>,
    /// The device's capability capped the projection.
    #[serde(default)]
    pub capped: bool,
    /// The layout features that change (`+nocow`).
    #[serde(default)]
    pub changes: Vec<String>,
}

impl From<&Projected> for ProjectedInput {
    fn from(p: &Projected) -> Self {
        ProjectedInput {
            mountpoint: p.mountpoint.clone(),
            workload: p.workload.clone(),
            metric: p.metric.clone(),
            status: p.status.clone(),
            before: p.before,
            after: p.after,
            ratio: p.ratio,
            capped: p.capped,
            changes: p.changes.clone(),
        }
    }
}

impl From<&Diagnosis> for DiagnosisInput {
    fn from(d: &Diagnosis) -> Self {
        DiagnosisInput {
            class: d.class.as_str().to_string(),
            class_basis: d.class_basis.clone(),
            missing: d.missing.clone(),
            findings: d
                .findings
                .iter()
                .map(|f| FindingInput {
                    rule: f.rule.to_string(),
                    severity: f.severity.as_str().to_string(),
                    confidence: f.confidence,
                    title: f.title.clone(),
                })
                .collect(),
            recommendations: d
                .recommendations
                .iter()
                .map(|r| RecommendationInput {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    disruption: serde_json::to_value(r.disruption)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| r.disruption.as_str().to_string()),
                    risk: serde_json::to_value(r.risk)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    projections: r.projections.iter().map(ProjectedInput::from).collect(),
                    projection_note: r.projection_note.clone(),
                })
                .collect(),
            combined: d.combined.iter().map(ProjectedInput::from).collect(),
        }
    }
}

impl DiagnosisInput {
    /// Reads the JSON of `btrtune diagnose --json` (or `diagnosis.json`); `origin` names it in
    /// errors.
    pub fn from_json(text: &str, origin: &str) -> Result<DiagnosisInput, ReportError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ReportError::Input {
            origin: format!("{origin}:{}:{}", e.line(), e.column()),
            message: format!("not JSON: {e}"),
        })?;
        let version = v.get("schema_version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(btrtune_advisor::diagnose::SCHEMA_VERSION)) {
            return Err(ReportError::Input {
                origin: origin.to_string(),
                message: format!(
                    "diagnosis format {}, this btrtune reads version {}: run `btrtune diagnose --json` again",
                    version.map_or("missing".to_string(), |v| v.to_string()),
                    btrtune_advisor::diagnose::SCHEMA_VERSION
                ),
            });
        }
        serde_json::from_value(v).map_err(|e| ReportError::Input {
            origin: origin.to_string(),
            message: format!("not a btrtune diagnosis: {e}"),
        })
    }
}

/// One before/after benchmark comparison of two layouts on one workload (what
/// `btrtune validate --bench` measures): the measured ratio with its interval, and the
/// models' projection of it if there was one. Build it with [`Comparison::from_runs`] or
/// fill it in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The workload.
    pub workload: String,
    /// Its metric (higher is better).
    pub metric: String,
    /// Where it ran (a mount point of the proposed layout), if it says.
    #[serde(default)]
    pub target: Option<String>,
    /// The layout measured first (the current one).
    pub baseline_layout: String,
    /// The layout it is compared with (the proposed one).
    pub proposed_layout: String,
    /// The baseline's runs.
    pub baseline: Summary,
    /// The proposed layout's runs.
    pub proposed: Summary,
    /// proposed / baseline (ratio of geometric means).
    pub ratio: f64,
    /// Lower end of the ratio's 95 % interval.
    pub ratio_low: f64,
    /// Upper end.
    pub ratio_high: f64,
    /// The interval excludes 1.
    pub significant: bool,
    /// The models' projected ratio and its 95 % interval, if they made one.
    pub projected: Option<Interval>,
    /// The conclusion in words (`faster (×1.21), as projected`).
    pub verdict: String,
}

impl Comparison {
    /// Compares two sets of independent runs: ratio of geometric means with Welch's 95 %
    /// interval on the log scale, significance, and a verdict that says whether the measured
    /// ratio lies in the projected interval. `None` unless each side has a positive value.
    ///
    /// ```
    /// use btrtune_reports::Comparison;
    /// let c = Comparison::from_runs(
    ///     "wal-postgresql", "commits_per_s", "current", "proposed",
    ///     &[1000.0, 1010.0, 990.0], &[1500.0, 1520.0, 1490.0], Some((1.4, 1.2, 1.7).into()),
    /// ).unwrap();
    /// assert!(c.significant && c.ratio > 1.4);
    /// assert_eq!(c.verdict, "faster (×1.50), inside the projected interval");
    /// ```
    pub fn from_runs(
        workload: &str,
        metric: &str,
        baseline_layout: &str,
        proposed_layout: &str,
        baseline: &[f64],
        proposed: &[f64],
        projected: Option<Interval>,
    ) -> Option<Comparison> {
        let r = ratio_of(baseline, proposed)?;
        Self::with_ratio(
            [workload, metric, baseline_layout, proposed_layout],
            baseline,
            proposed,
            r,
            projected,
        )
    }

    /// As [`Comparison::from_runs`], for runs paired by round (`proposed[i]` ran in the same
    /// round as `baseline[i]`, as `validate --bench` interleaves them): the interval is that of
    /// the mean per-round log ratio. `None` unless both have the same, non-zero length and
    /// every value is positive.
    pub fn from_paired_runs(
        workload: &str,
        metric: &str,
        baseline_layout: &str,
        proposed_layout: &str,
        baseline: &[f64],
        proposed: &[f64],
        projected: Option<Interval>,
    ) -> Option<Comparison> {
        let r = paired_ratio_of(baseline, proposed)?;
        Self::with_ratio(
            [workload, metric, baseline_layout, proposed_layout],
            baseline,
            proposed,
            r,
            projected,
        )
    }

    fn with_ratio(
        [workload, metric, baseline_layout, proposed_layout]: [&str; 4],
        baseline: &[f64],
        proposed: &[f64],
        r: Interval,
        projected: Option<Interval>,
    ) -> Option<Comparison> {
        let b = Summary::of(baseline)?;
        let p = Summary::of(proposed)?;
        let significant = r.low > 1.0 || r.high < 1.0;
        Some(Comparison {
            workload: workload.to_string(),
            metric: metric.to_string(),
            target: None,
            baseline_layout: baseline_layout.to_string(),
            proposed_layout: proposed_layout.to_string(),
            baseline: b,
            proposed: p,
            ratio: r.value,
            ratio_low: r.low,
            ratio_high: r.high,
            significant,
            projected,
            verdict: verdict(r, significant, projected),
        })
    }
}

fn verdict(r: Interval, significant: bool, projected: Option<Interval>) -> String {
    let what = match (significant, r.value >= 1.0) {
        (true, true) => format!("faster (×{:.2})", r.value),
        (true, false) => format!("slower (×{:.2})", r.value),
        (false, _) => format!("no significant difference (×{:.2})", r.value),
    };
    match projected {
        None => format!("{what}, no projection"),
        Some(p) if p.low <= r.value && r.value <= p.high => {
            format!("{what}, inside the projected interval")
        }
        Some(_) => format!("{what}, outside the projected interval"),
    }
}

/// One cell of a results file, as [`label_variants`] sees it.
#[derive(Clone, Debug)]
pub struct CellParams<'a> {
    /// What the cell is compared within: class, workload and metric.
    pub group: String,
    /// Its layout.
    pub layout: &'a str,
    /// Its id.
    pub cell: &'a str,
    /// The workload's parameters.
    pub params: &'a serde_json::Value,
}

/// Labels for cells that share a layout and workload but differ in settings: for each such
/// group of cells, the parameters (leaf name = value) in which a cell differs from the most
/// common value among the group's cells, joined by `, ` (at most 60 characters). Cells in
/// groups where every layout has a single cell get no label. Keyed by cell id.
pub fn label_variants(cells: &[CellParams<'_>]) -> BTreeMap<String, String> {
    let mut by_group: BTreeMap<&str, BTreeMap<&str, &CellParams<'_>>> = BTreeMap::new();
    for c in cells {
        by_group
            .entry(c.group.as_str())
            .or_default()
            .insert(c.cell, c);
    }
    let mut out = BTreeMap::new();
    for group in by_group.values() {
        let mut per_layout: BTreeMap<&str, usize> = BTreeMap::new();
        for c in group.values() {
            *per_layout.entry(c.layout).or_default() += 1;
        }
        if per_layout.values().all(|n| *n < 2) {
            continue;
        }
        let flat: BTreeMap<&str, BTreeMap<String, String>> = group
            .iter()
            .map(|(id, c)| {
                let mut m = BTreeMap::new();
                flatten("", c.params, &mut m);
                (*id, m)
            })
            .collect();
        let keys: std::collections::BTreeSet<&String> =
            flat.values().flat_map(|m| m.keys()).collect();
        // The most common value of each key (ties: the smallest), absent counted as "".
        let mut mode: BTreeMap<&str, String> = BTreeMap::new();
        for k in &keys {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for m in flat.values() {
                *counts
                    .entry(m.get(*k).map_or("", String::as_str))
                    .or_default() += 1;
            }
            let best = counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(v, _)| v.to_string())
                .unwrap_or_default();
            mode.insert(k.as_str(), best);
        }
        for (id, m) in &flat {
            let mut parts: Vec<String> = Vec::new();
            for k in &keys {
                let v = m.get(*k).map_or("", String::as_str);
                if v != mode[k.as_str()] {
                    let leaf = k.rsplit('.').next().unwrap_or(k);
                    let part = format!("{leaf}={}", if v.is_empty() { "-" } else { v });
                    if !parts.contains(&part) {
                        parts.push(part);
                    }
                }
            }
            if !parts.is_empty() {
                let mut label = parts.join(", ");
                if label.chars().count() > 60 {
                    label = label.chars().take(59).collect::<String>() + "…";
                }
                out.insert((*id).to_string(), label);
            }
        }
    }
    out
}

/// Leaf values of a JSON value by dotted path; long strings (job files, descriptions) are
/// not settings and are left out.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&key(k), v, out);
            }
        }
        serde_json::Value::String(s) if s.len() > 40 || s.contains('\n') => {}
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_json::Value::Array(_) => {
            let s = v.to_string();
            if s.len() <= 40 {
                out.insert(prefix.to_string(), s);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variants_are_labelled_by_what_differs_from_the_common_setting() {
        let stock = json!({"settings": {"wal_init_zero": "on", "wal_recycle": "on"}, "seed": 1});
        let tuned = json!({"settings": {"wal_init_zero": "off", "wal_recycle": "off"}, "seed": 1});
        let single = json!({"x": 1});
        let cells = [
            ("a", "nocow", &stock),
            ("b", "nocow", &tuned),
            ("c", "cow", &stock),
            ("d", "cow", &tuned),
            ("e", "cow", &stock),
        ];
        let mut input: Vec<CellParams<'_>> = cells
            .iter()
            .map(|(cell, layout, params)| CellParams {
                group: "ram/pgbench/tps".into(),
                layout,
                cell,
                params,
            })
            .collect();
        input.push(CellParams {
            group: "ram/fio/iops".into(),
            layout: "cow",
            cell: "f",
            params: &single,
        });
        let labels = label_variants(&input);
        assert_eq!(labels["b"], "wal_init_zero=off, wal_recycle=off");
        assert_eq!(labels["d"], labels["b"]);
        assert!(!labels.contains_key("a") && !labels.contains_key("f"));
    }

    #[test]
    fn a_diagnosis_reads_from_its_json_and_names_a_wrong_version() {
        let text = r#"{"schema_version": 1, "class": "nvme", "findings": [],
            "recommendations": [{"id": "R1", "title": "t", "disruption": "live-remount",
            "risk": "low", "projections": [{"mountpoint": "/", "workload": "w",
            "metric": "iops", "status": "prior", "before": 1.0, "after": 2.0,
            "ratio": [2.0, 1.5, 2.5], "capped": false, "changes": ["+nocow"]}]}],
            "combined": [], "extra": true}"#;
        let d = DiagnosisInput::from_json(text, "d.json").unwrap();
        assert_eq!(
            d.recommendations[0].projections[0].ratio,
            Some([2.0, 1.5, 2.5])
        );
        let e = DiagnosisInput::from_json(
            &text.replace("\"schema_version\": 1", "\"schema_version\": 9"),
            "d.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("d.json: diagnosis format 9"), "{e}");
    }

    #[test]
    fn comparisons_say_whether_the_projection_held() {
        let b = [100.0, 101.0, 99.0];
        let same =
            Comparison::from_runs("w", "m", "a", "b", &b, &[100.5, 99.5, 100.0], None).unwrap();
        assert!(!same.significant);
        assert!(
            same.verdict.starts_with("no significant difference"),
            "{}",
            same.verdict
        );
        let slower = Comparison::from_runs(
            "w",
            "m",
            "a",
            "b",
            &b,
            &[80.0, 81.0, 79.0],
            Some((1.1, 1.0, 1.2).into()),
        )
        .unwrap();
        assert_eq!(
            slower.verdict,
            "slower (×0.80), outside the projected interval"
        );
    }
}
