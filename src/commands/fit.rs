//! `btrtune fit`: per-hardware-class models from calibration results, validated by holding
//! out each layout, written as a versioned JSON model file.

use anyhow::{Context as _, Result, bail};
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::model::features::features_at;
use btrtune_advisor::model::fit::Observation;
use btrtune_advisor::model::set::{self, Group, ModelSet, Provenance, Status};
use btrtune_harness::record::{self, RunRecord};
use btrtune_workloads::Target;
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `btrtune fit`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune fit results/virtio/ results/ram/ -o results/models/
  btrtune fit results/virtio/default.jsonl results/virtio/raw.jsonl -o /tmp/m --json")]
pub struct FitArgs {
    /// Results files (`.jsonl`) or directories holding them.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// Directory for `models.json`.
    #[arg(short, long, value_name = "MODELS_DIR")]
    out: PathBuf,
    /// Print the model set as JSON instead of the summary.
    #[arg(long)]
    json: bool,
}

type Key = (DeviceClass, String, String);

/// Every `.jsonl` file named or inside a named directory, sorted.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut here: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            here.sort();
            if here.is_empty() {
                bail!(
                    "{}: no results files (*.jsonl) in this directory",
                    p.display()
                );
            }
            out.extend(here);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Adds one record to the training data.
fn add(
    groups: &mut BTreeMap<Key, Group>,
    prov: &mut Provenance,
    r: &RunRecord,
    file: &Path,
    line: usize,
) -> Result<()> {
    let key = (
        r.device.class,
        r.workload.name.clone(),
        r.measurement.primary.clone(),
    );
    let v = r.measurement.value;
    if !(v.is_finite() && v > 0.0) {
        bail!(
            "{}:{line}: {} on {} measured {} = {v}: a model needs a positive value",
            file.display(),
            r.workload.name,
            r.layout_name,
            r.measurement.primary
        );
    }
    let g = groups.entry(key).or_default();
    match &r.workload.target {
        Target::Device => g.raw.push(v),
        Target::Mount { mountpoint } => {
            let features = features_at(&r.layout, mountpoint).with_context(|| {
                format!(
                    "{}:{line}: layout `{}` mounts nothing at {mountpoint}, where {} ran",
                    file.display(),
                    r.layout_name,
                    r.workload.name
                )
            })?;
            g.runs.push(Observation {
                layout: r.layout_name.clone(),
                features,
                value: v,
            });
        }
    }
    prov.hosts.insert(r.host.hostname.clone());
    prov.kernels.insert(r.host.kernel.clone());
    prov.first_unix = if prov.runs == 0 {
        r.started_unix
    } else {
        prov.first_unix.min(r.started_unix)
    };
    prov.last_unix = prov.last_unix.max(r.started_unix);
    prov.runs += 1;
    Ok(())
}

/// Runs `btrtune fit`.
pub fn run(a: FitArgs) -> Result<()> {
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    let mut prov = Provenance::default();
    let mut quick = 0usize;
    for f in files(&a.results)? {
        let records = record::read(&f).with_context(|| format!("reading {}", f.display()))?;
        for (i, r) in records.iter().enumerate() {
            if r.quick {
                quick += 1;
                continue;
            }
            add(&mut groups, &mut prov, r, &f, i + 1)?;
        }
        prov.files.push(f.display().to_string());
    }
    // Raw-device runs alone make no model; they cap the layouts' models.
    groups.retain(|_, g| !g.runs.is_empty());
    if groups.is_empty() {
        bail!("no full-size runs on a filesystem in the results ({quick} quick runs skipped)");
    }
    let (models, skipped) = set::build(&groups, prov);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let path = a.out.join("models.json");
    let tmp = a.out.join(".models.json.tmp");
    let text = serde_json::to_string_pretty(&models)?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&models)?);
    } else {
        print_summary(&models, quick);
        for s in &skipped {
            println!(
                "  not fitted: {:?} {} {}: {}",
                s.key.0, s.key.1, s.key.2, s.why
            );
        }
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn print_summary(m: &ModelSet, quick: usize) {
    println!(
        "{} runs from {} file(s), {} host(s); {quick} quick runs skipped",
        m.provenance.runs,
        m.provenance.files.len(),
        m.provenance.hosts.len()
    );
    println!(
        "  {:<8} {:<24} {:<14} {:>4} {:>5} {:>6} {:>9} {:>8} {:>8} {:>7} {:>8}  status",
        "class",
        "workload",
        "metric",
        "lay",
        "runs",
        "tau",
        "held out",
        "MdAPE",
        "ratio",
        "cover",
        "xclass"
    );
    let measured = m.models.iter().filter(|x| x.status != Status::Prior);
    for x in measured {
        let v = x.validation.as_ref();
        println!(
            "  {:<8} {:<24} {:<14} {:>4} {:>5} {:>6} {:>9} {:>8} {:>8} {:>7} {:>8}  {}",
            x.class.as_str(),
            x.workload,
            x.metric,
            x.fitted.layouts,
            x.fitted.runs,
            x.shrunk_toward
                .as_ref()
                .map_or_else(|| "-".into(), |s| format!("{:.3}", s.tau)),
            v.map_or_else(
                || "-".into(),
                |v| format!(
                    "{}/{}",
                    v.layouts.iter().filter(|l| l.projected.is_some()).count(),
                    v.layouts.len()
                )
            ),
            pct(v.and_then(|v| v.mdape_metric)),
            pct(v.and_then(|v| v.mdape_ratio)),
            pct(v.and_then(|v| v.coverage)),
            pct(x.class_transfer_mdape),
            match x.status {
                Status::Measured => "measured".to_string(),
                Status::FailsGoals => "FAILS GOALS".to_string(),
                Status::Prior => "prior".to_string(),
            } + &match x.fitted.outliers.len() {
                0 => String::new(),
                k => format!(
                    "  ({k} outlier run{} down-weighted: {})",
                    if k == 1 { "" } else { "s" },
                    x.fitted
                        .outliers
                        .iter()
                        .map(|o| o.layout.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        );
    }
    // Per class, over every held-out layout of every workload: the goals.
    let mut classes: BTreeMap<DeviceClass, (Vec<f64>, usize, usize)> = BTreeMap::new();
    for x in m.models.iter().filter(|x| x.status != Status::Prior) {
        let e = classes.entry(x.class).or_default();
        for l in x.validation.iter().flat_map(|v| &v.layouts) {
            if let (Some(p), Some(r)) = (l.projected_ratio, l.measured_ratio) {
                e.0.push((p / r - 1.0).abs());
            }
            if l.projected.is_some() {
                e.1 += l.runs_covered;
                e.2 += l.runs;
            }
        }
    }
    for (class, (mut apes, hit, n)) in classes {
        apes.sort_by(f64::total_cmp);
        let q = |f: f64| {
            apes.get(((apes.len() as f64 - 1.0) * f).round() as usize)
                .copied()
        };
        println!(
            "  {class}: held-out before/after ratios over {} layout×workload cells: MdAPE {} \
             (quartiles {}–{}; goal ≤ {:.0}%), 95% interval coverage {} of {n} runs (goal ≥ {:.0}%)",
            apes.len(),
            pct(q(0.5)),
            pct(q(0.25)),
            pct(q(0.75)),
            set::GOAL_MDAPE_RATIO * 100.0,
            pct((n > 0).then(|| hit as f64 / n as f64)),
            set::GOAL_COVERAGE * 100.0,
        );
    }
    println!(
        "  (held out: layouts projectable without their own runs; MdAPE: of the metric; ratio: of \
         before/after ratios against the baseline; cover: held-out runs inside the 95% interval; \
         xclass: ratio error when another class's effects alone project this class's layouts)"
    );
    let priors: std::collections::BTreeSet<&str> = m
        .models
        .iter()
        .filter(|x| x.status == Status::Prior)
        .map(|x| x.class.as_str())
        .collect();
    if !priors.is_empty() {
        println!(
            "  prior models (documented device figures × measured efficiency, labelled `prior`): {}",
            priors.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}
