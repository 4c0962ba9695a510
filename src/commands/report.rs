//! `btrtune report`: a self-contained HTML page and a Markdown file with plots, from results
//! files, a model file, a diagnosis and disko.nix layouts. Also what `calibrate --report` and
//! `diagnose --report` (and `validate --bench`) call to write theirs.

use anyhow::{Context as _, Result, bail};
use btrtune_advisor::diagnose::Diagnosis;
use btrtune_advisor::disko::parse::{ParseOptions, parse_file};
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::layout::Layout;
use btrtune_advisor::model::set::ModelSet;
use btrtune_harness::record::{self, RunRecord};
use btrtune_reports::{
    CellParams, Comparison, DiagnosisInput, Latency, NamedLayout, ReportInput, RunPoint, Written,
};
use btrtune_workloads::Target;
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `btrtune report`.
#[derive(Debug, Args)]
#[command(after_help = "Inputs are recognised by their content:
  results      JSON Lines of run records (`btrtune calibrate`), or a directory of them
               (its .jsonl files and those of its subdirectories)
  models.json  a model file from `btrtune fit` (default: the shipped models, for the
               classes of the runs or the diagnosis)
  diagnosis    the JSON of `btrtune diagnose --json` (or --out-dir's diagnosis.json)
  disko.nix    a layout to draw

Examples:
  btrtune report results/ram -o ./report                 # throughput, latency, model fit, layouts
  btrtune report results/ram results/databases/ram/databases.jsonl results/models/models.json \\
      diagnosis.json -o ./report --title \"Shipped results\"
  btrtune diagnose --bundle ./bundle --json > diagnosis.json && \\
      btrtune report diagnosis.json /etc/nixos/disko.nix -o ./report
  btrtune report results/ -o ./report --json | jq '.counts'

It writes report.html (self-contained: no script, no network), report.md, one SVG per chart
and report.json (what was written) into the directory; a file is replaced whole or not at
all.")]
pub struct ReportArgs {
    /// Results files or directories, a models.json, a diagnosis.json, disko.nix files.
    #[arg(required = true, value_name = "RESULTS_OR_DIAGNOSIS")]
    inputs: Vec<PathBuf>,
    /// Directory for report.html, report.md, report.json and the charts' SVG files.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// The report's title.
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// A model file or directory from `btrtune fit` (default: the shipped models).
    #[arg(long, value_name = "FILE")]
    models: Option<PathBuf>,
    /// Print what was written (files, charts per kind) as JSON.
    #[arg(long)]
    json: bool,
}

/// What a report is made from, for the commands that write one (`--report DIR`).
#[derive(Debug, Default)]
pub struct ReportFrom<'a> {
    /// The title (default: "btrtune report").
    pub title: String,
    /// Results files or directories of them.
    pub results: Vec<PathBuf>,
    /// Run records already in memory.
    pub records: Vec<RunRecord>,
    /// A diagnosis.
    pub diagnosis: Option<&'a Diagnosis>,
    /// Benchmark comparisons.
    pub comparisons: Vec<Comparison>,
    /// Layouts to draw, with (group, name) (`("diagnosis", "current")`).
    pub layouts: Vec<(String, String, Layout)>,
    /// The models (default: the shipped ones, for the classes of the runs or the diagnosis).
    pub models: Option<&'a ModelSet>,
    /// What it was made from, listed under the title.
    pub sources: Vec<String>,
}

/// Writes the report of `from` into `dir`: what `calibrate --report`, `diagnose --report` and
/// `validate --bench --report` call.
pub fn write_report_from(from: ReportFrom<'_>, dir: &Path) -> Result<Written> {
    let mut records = from.records;
    for p in &from.results {
        for f in results_files(p)? {
            records.extend(read_records(&f)?);
        }
    }
    let mut input = ReportInput {
        title: from.title,
        sources: from.sources,
        diagnosis: from.diagnosis.map(DiagnosisInput::from),
        comparisons: from.comparisons,
        ..ReportInput::default()
    };
    add_records(&mut input, &records);
    for (group, name, layout) in from.layouts {
        input.layouts.push(NamedLayout {
            group,
            name,
            layout,
        });
    }
    input.models = Some(match from.models {
        Some(m) => m.clone(),
        None => ModelSet::shipped()?,
    });
    restrict_models(&mut input);
    let w = btrtune_reports::write(dir, &input)
        .with_context(|| format!("writing the report into {}", dir.display()))?;
    Ok(w)
}

/// Writes the report of `btrtune validate --report DIR`: the benchmark's verdicts as a forest
/// plot of measured against projected ratios, the runs of its results files (throughput and
/// latency of both layouts per workload), and both layouts.
pub fn write_validate_report(
    out: &super::validate::ValidateJson,
    dir: &Path,
    models: Option<&Path>,
) -> Result<()> {
    let mut from = ReportFrom {
        title: format!("btrtune validate {}", out.proposed.file),
        sources: vec![out.proposed.file.clone()],
        ..ReportFrom::default()
    };
    if let Some(b) = &out.baseline {
        from.sources.push(b.file.clone());
        if let Some(l) = &b.layout {
            from.layouts.push((
                "validate".into(),
                format!("current ({})", b.file),
                l.clone(),
            ));
        }
    }
    if let Some(l) = &out.proposed.layout {
        from.layouts.push((
            "validate".into(),
            format!("proposed ({})", out.proposed.file),
            l.clone(),
        ));
    }
    if let Some(bench) = &out.bench {
        from.records.extend(bench.runs.iter().cloned());
        from.sources
            .extend(bench.results.iter().map(|f| f.display().to_string()));
        // One verdict per paired workload, in the same order.
        for (v, p) in bench.verdicts.iter().zip(&bench.paired) {
            let Some(m) = &v.measured else {
                continue;
            };
            // Each side's own interval from its runs; the ratio and its interval are the
            // verdict's (paired by round).
            let summary = |values: &[f64], geomean: f64| {
                btrtune_reports::Summary::of(values).unwrap_or(btrtune_reports::Summary {
                    geomean,
                    low: geomean,
                    high: geomean,
                    n: m.pairs,
                })
            };
            from.comparisons.push(Comparison {
                workload: v.workload.clone(),
                metric: v.metric.clone(),
                target: Some(v.target.clone()),
                baseline_layout: btrtune_harness::compare::BASELINE.into(),
                proposed_layout: btrtune_harness::compare::PROPOSED.into(),
                baseline: summary(&p.baseline, m.baseline),
                proposed: summary(&p.proposed, m.proposed),
                ratio: m.ratio,
                ratio_low: m.low,
                ratio_high: m.high,
                significant: v.significant,
                projected: v.projected.as_ref().map(|p| btrtune_reports::Interval {
                    value: p.ratio,
                    low: p.low,
                    high: p.high,
                }),
                verdict: format!("{}: {}", v.outcome.label(), v.why),
            });
        }
    }
    // Only the models of the workloads measured: the report is about this change.
    let mut models = match models {
        Some(p) => ModelSet::read(p)?,
        None => ModelSet::shipped()?,
    };
    if let Some(bench) = &out.bench {
        models
            .models
            .retain(|m| bench.verdicts.iter().any(|v| v.workload == m.workload));
    }
    from.models = Some(&models);
    write_report_from(from, dir)?;
    Ok(())
}

/// Models not asked for concern the classes of the runs or of the diagnosis; with neither
/// they are left out.
fn restrict_models(input: &mut ReportInput) {
    if !input.runs.is_empty() {
        return; // the report charts the runs' classes
    }
    match input
        .diagnosis
        .as_ref()
        .and_then(|d| d.class.parse::<DeviceClass>().ok())
    {
        Some(c) => input.model_classes = Some(vec![c]),
        None => input.models = None,
    }
}

/// The .jsonl files of a path: itself, or those in a directory and its subdirectories.
fn results_files(p: &Path) -> Result<Vec<PathBuf>> {
    if !p.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("reading the directory {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for e in list(p)? {
        if e.is_dir() {
            out.extend(
                list(&e)?
                    .into_iter()
                    .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "jsonl")),
            );
        } else if e.extension().is_some_and(|x| x == "jsonl") {
            out.push(e);
        }
    }
    if out.is_empty() {
        bail!(
            "{}: no .jsonl results files in it or its subdirectories",
            p.display()
        );
    }
    Ok(out)
}

fn read_records(p: &Path) -> Result<Vec<RunRecord>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(record::parse(&text, &p.display().to_string())?)
}

/// Adds runs (with their cells' variants labelled) and their layouts.
fn add_records(input: &mut ReportInput, records: &[RunRecord]) {
    let params: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::json!({ "params": r.workload.params, "quick": r.quick }))
        .collect();
    let cells: Vec<CellParams<'_>> = records
        .iter()
        .zip(&params)
        .map(|(r, p)| CellParams {
            group: format!(
                "{}/{}/{}/{}",
                r.device.class, r.matrix, r.workload.name, r.measurement.primary
            ),
            layout: &r.layout_name,
            cell: &r.cell,
            params: p,
        })
        .collect();
    let variants = btrtune_reports::label_variants(&cells);
    let mut layouts: BTreeMap<(String, String), &Layout> = BTreeMap::new();
    for r in records {
        let m = &r.measurement;
        let latency = m
            .latency_ns
            .as_ref()
            .or(m.sync_latency_ns.as_ref())
            .map(|p| Latency {
                p50_ns: p.p50,
                p99_ns: p.p99,
            });
        input.runs.push(RunPoint {
            class: r.device.class,
            matrix: r.matrix.clone(),
            layout: r.layout_name.clone(),
            variant: variants.get(&r.cell).cloned(),
            workload: r.workload.name.clone(),
            metric: m.primary.clone(),
            value: m.value,
            latency,
            mountpoint: match &r.workload.target {
                Target::Mount { mountpoint } => Some(mountpoint.clone()),
                Target::Device => None,
            },
            run: r.run,
        });
        layouts
            .entry((r.matrix.clone(), r.layout_name.clone()))
            .or_insert(&r.layout);
    }
    for ((group, name), layout) in layouts {
        input.layouts.push(NamedLayout {
            group,
            name,
            layout: layout.clone(),
        });
    }
}

/// What one input file is.
enum Kind {
    Records(Vec<RunRecord>),
    Models(Box<ModelSet>),
    Diagnosis(Box<DiagnosisInput>),
    Disko(Layout),
}

/// Tells an input file by its content.
fn classify(p: &Path) -> Result<Kind> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let name = p.display().to_string();
    let t = text.trim_start();
    if t.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if v.get("models").is_some() && v.get("provenance").is_some() {
                return Ok(Kind::Models(Box::new(ModelSet::parse(&text, &name)?)));
            }
            if v.get("recommendations").is_some() || v.get("findings").is_some() {
                return Ok(Kind::Diagnosis(Box::new(DiagnosisInput::from_json(
                    &text, &name,
                )?)));
            }
            if v.get("cell").is_none() || v.get("measurement").is_none() {
                bail!(
                    "{name}: a JSON file that is none of a results file (run records), a models.json (`btrtune fit`) or a diagnosis (`btrtune diagnose --json`)"
                );
            }
        }
        // JSON Lines: the first line says what the file is; a bad line is named.
        let first = t.lines().next().unwrap_or_default();
        let looks = serde_json::from_str::<serde_json::Value>(first)
            .ok()
            .is_some_and(|v| v.get("cell").is_some() && v.get("measurement").is_some());
        if !looks {
            let line = text
                .lines()
                .position(|l| !l.trim().is_empty())
                .map_or(1, |i| i + 1);
            bail!(
                "{name}:{line}: not a run record, a models.json or a diagnosis (give results .jsonl files from `btrtune calibrate`, a models.json from `btrtune fit`, a diagnosis from `btrtune diagnose --json`, or a disko.nix)"
            );
        }
        return Ok(Kind::Records(record::parse(&text, &name)?));
    }
    if p.extension().is_some_and(|x| x == "nix") || text.contains("disko") {
        let parsed = parse_file(p, &ParseOptions::default())?;
        return Ok(Kind::Disko(parsed.layout));
    }
    bail!(
        "{name}: not a results file (JSON Lines of run records), a models.json, a diagnosis.json or a disko.nix"
    )
}

/// Runs `btrtune report`.
pub fn run(a: ReportArgs) -> Result<()> {
    let mut records = Vec::new();
    let mut models: Option<(ModelSet, String)> = None;
    let mut diagnosis: Option<DiagnosisInput> = None;
    let mut disko: Vec<(String, Layout)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &a.inputs {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
        let files = if p.is_dir() {
            results_files(p)?
        } else {
            vec![p.clone()]
        };
        for f in files {
            // A file named twice (directly and in its directory) counts once.
            if !seen.insert(std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone())) {
                continue;
            }
            match classify(&f)? {
                Kind::Records(r) => records.extend(r),
                Kind::Models(m) => {
                    if let Some((_, first)) = &models {
                        bail!(
                            "{}: a second model file (the first was {first}); give one",
                            f.display()
                        );
                    }
                    models = Some((*m, f.display().to_string()));
                }
                Kind::Diagnosis(d) => {
                    if diagnosis.is_some() {
                        bail!("{}: a second diagnosis; give one", f.display());
                    }
                    diagnosis = Some(*d);
                }
                Kind::Disko(l) => disko.push((f.display().to_string(), l)),
            }
        }
    }
    if let Some(m) = &a.models {
        if let Some((_, first)) = &models {
            bail!(
                "--models {} and the model file {first} among the inputs: give one",
                m.display()
            );
        }
        models = Some((ModelSet::read(m)?, m.display().to_string()));
    }
    let explicit = models.is_some();
    let mut input = ReportInput {
        title: a.title.unwrap_or_else(|| "btrtune report".into()),
        sources: a.inputs.iter().map(|p| p.display().to_string()).collect(),
        diagnosis,
        ..ReportInput::default()
    };
    if let Some(m) = &a.models {
        input.sources.push(format!("--models {}", m.display()));
    }
    add_records(&mut input, &records);
    for (file, layout) in disko {
        input.layouts.push(NamedLayout {
            group: "disko.nix".into(),
            name: file,
            layout,
        });
    }
    input.models = Some(match models {
        Some((m, _)) => m,
        None => ModelSet::shipped()?,
    });
    if !explicit {
        restrict_models(&mut input);
    }
    let w = btrtune_reports::write(&a.out, &input)
        .with_context(|| format!("writing the report into {}", a.out.display()))?;
    if a.json {
        let mut v = serde_json::to_value(&w)?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "dir".into(),
                serde_json::Value::String(a.out.display().to_string()),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", summary(&w, &a.out));
    }
    Ok(())
}

/// One line saying what was written.
pub fn summary(w: &Written, dir: &Path) -> String {
    let kinds: Vec<String> = w
        .counts
        .iter()
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect();
    format!(
        "wrote report.html, report.md and {} charts ({}) into {}",
        w.charts.len(),
        kinds.join(", "),
        dir.display()
    )
}
