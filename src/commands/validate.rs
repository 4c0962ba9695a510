//! `btrtune validate`: check a proposed disko.nix before rollout. Static checks always
//! (disko's schema, what the kernel ignores, NOCOW and compression, swap, mount points,
//! profiles); with `--bench`, both layouts built on loop devices and measured under the
//! workloads their data stands for, with a verdict per workload.

use super::calibrate::{RunOpts, Session};
use super::show::DiskoArgs;
use anyhow::{Context as _, Result, bail};
use btrtune_advisor::hardware::{DeviceClass, HardwareProfile, facter};
use btrtune_advisor::layout::Layout;
use btrtune_advisor::model::set::ModelSet;
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::Toolstack;
use btrtune_advisor::validate::{self, Finding, Severity, StaticReport};
use btrtune_advisor::verdict::{self, Outcome, Projected, RatioEstimate, Verdict};
use btrtune_harness::compare::{self, Paired, Probe};
use btrtune_harness::record::{Results, RunRecord};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status: the proposed layout fails (a static error, or a measured regression).
pub const EXIT_FAIL: u8 = 3;
/// Exit status: the benchmark could not tell.
pub const EXIT_INCONCLUSIVE: u8 = 4;

/// Arguments of `btrtune validate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 pass, 1 error (unreadable input, failed run), 2 usage, \
3 fail (a static error, or a regression beyond --threshold), 4 inconclusive (the intervals are \
too wide to tell).

Examples:
  btrtune validate disko.nix
  btrtune validate new/disko.nix --baseline /etc/nixos/disko.nix --json
  sudo btrtune validate new/disko.nix --baseline /etc/nixos/disko.nix --bench
  sudo btrtune validate new/disko.nix --baseline old.nix --bench --workloads wal-postgresql,fio-randwrite-4k-fsync@/srv --quick
  sudo btrtune validate new/disko.nix --bench --tools postgresql,podman --quick
  sudo btrtune validate new/disko.nix --bench --backing-dir /dev/shm/btrtune --report ./validate-report"
)]
pub struct ValidateArgs {
    /// The proposed disko.nix, and how to read it.
    #[command(flatten)]
    proposed: DiskoArgs,
    /// The current disko.nix to compare with (default: untuned btrfs, everything in `/`).
    #[arg(long, value_name = "CURRENT.nix")]
    baseline: Option<PathBuf>,
    /// A nixos-facter report: the host's disk class for the projections, and a check that
    /// the layout's disks exist.
    #[arg(long, value_name = "FACTER.json")]
    facter: Option<PathBuf>,
    /// Build both layouts on loop devices and measure them (root).
    #[arg(long)]
    bench: bool,
    /// Workloads to measure, comma-separated: NAME or NAME@/mount/point (default: those the
    /// data of the proposed layout stands for, where the layouts differ).
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "bench")]
    workloads: Vec<String>,
    /// Pick the workloads from what runs on the host (comma-separated tool names, as for
    /// `plan --tools`): the workloads that stand for each tool's data, at its paths.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["workloads", "toolstack"], requires = "bench")]
    tools: Option<String>,
    /// The same from a toolstack file (as for `plan --toolstack`).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "workloads",
        requires = "bench"
    )]
    toolstack: Option<PathBuf>,
    /// At most this many default workloads.
    #[arg(long, value_name = "N", default_value_t = 3)]
    max_workloads: usize,
    /// Rounds (one run of each layout per round; default 5, quick 3).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
    /// Regression tolerated before a workload fails, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    threshold: f64,
    /// Model file or directory for the projections (default: the shipped models).
    #[arg(long, value_name = "MODELS")]
    models: Option<PathBuf>,
    /// Where the runs are recorded (`validate-*.jsonl`; finished runs of the same layouts are
    /// kept and reused). Default: a new directory under the backing directory.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// Write a report with plots (report.html, report.md) into this directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Where loop backing files go; its filesystem decides the hardware class (/dev/shm: ram).
    #[arg(long, value_name = "DIR", default_value = "/var/tmp/btrtune")]
    backing_dir: PathBuf,
    /// Loop device size, e.g. 4G (default 4G, quick 1G).
    #[arg(long, value_name = "SIZE")]
    size: Option<String>,
    /// A spare device instead of loop devices (everything on it is destroyed).
    #[arg(long, value_name = "DEV", requires = "wipe")]
    device: Option<PathBuf>,
    /// The same device again, to confirm that it may be wiped.
    #[arg(long, value_name = "DEV", requires = "device")]
    wipe: Option<PathBuf>,
    /// Wipe a spare device even though it carries a filesystem or partition table.
    #[arg(long, requires = "device")]
    force: bool,
    /// Quick runs for CI: small device, short workloads.
    #[arg(long)]
    quick: bool,
    /// Keep mounts visible to the system (default: a private mount namespace).
    #[arg(long)]
    no_namespace: bool,
}

/// What `validate --json` prints.
#[derive(Debug, Serialize)]
pub struct ValidateJson {
    /// Version of this format.
    pub schema_version: u32,
    /// Pass, fail or inconclusive.
    pub outcome: Outcome,
    /// The proposed layout's static checks.
    pub proposed: StaticReport,
    /// The current layout's (for reference: they do not decide the outcome).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<StaticReport>,
    /// Checks against the facter report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardware: Vec<Finding>,
    /// The benchmark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<Bench>,
}

/// The benchmark part.
#[derive(Debug, Serialize)]
pub struct Bench {
    /// The class of the device the runs were made on.
    pub class: Option<DeviceClass>,
    /// The host's class (from `--facter`), when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_class: Option<DeviceClass>,
    /// Rounds per workload.
    pub rounds: u32,
    /// Quick sizes.
    pub quick: bool,
    /// Regression tolerated (fraction).
    pub threshold: f64,
    /// What ran where and why.
    pub probes: Vec<ProbeJson>,
    /// Per workload.
    pub verdicts: Vec<Verdict>,
    /// The model's projection on the host's class, per workload (when `--facter` names one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_projections: Vec<(String, Projected)>,
    /// The results files.
    pub results: Vec<PathBuf>,
    /// The runs in them (for the report).
    #[serde(skip)]
    pub runs: Vec<RunRecord>,
    /// The runs paired by workload, one per verdict in the same order (for the report).
    #[serde(skip)]
    pub paired: Vec<Paired>,
}

/// A probe, for JSON.
#[derive(Debug, Serialize)]
pub struct ProbeJson {
    /// Workload.
    pub workload: String,
    /// Where.
    pub target: String,
    /// Why.
    pub why: String,
}

/// Runs `btrtune validate`: the exit status says pass, fail or inconclusive.
pub fn run(a: ValidateArgs) -> Result<ExitCode> {
    let opts = a.proposed.options();
    let proposed = validate::check_file(&a.proposed.file, &opts)
        .with_context(|| format!("reading {}", a.proposed.file.display()))?;
    let baseline = a
        .baseline
        .as_ref()
        .map(|b| validate::check_file(b, &opts).with_context(|| format!("reading {}", b.display())))
        .transpose()?;
    let hardware = a
        .facter
        .as_ref()
        .map(|f| facter::read(f).context("reading the facter report"))
        .transpose()?;
    let hw_findings = match (&hardware, &proposed.layout) {
        (Some(h), Some(l)) => hardware_findings(h, l, &a.proposed.file),
        _ => Vec::new(),
    };
    let static_fail = !proposed.passed()
        || hw_findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Error));
    let mut out = ValidateJson {
        schema_version: 1,
        outcome: if static_fail {
            Outcome::Fail
        } else {
            Outcome::Pass
        },
        proposed,
        baseline,
        hardware: hw_findings,
        bench: None,
    };
    if !a.proposed.json {
        print_static(&out);
    }
    if a.bench {
        if static_fail {
            eprintln!(
                "not benchmarking: the proposed layout has errors (fix them first; the kernel \
                 would not build what the file says)"
            );
        } else {
            let bench = bench(&a, &out, hardware.as_ref())?;
            out.outcome = Outcome::worst(bench.verdicts.iter().map(|v| v.outcome));
            if !a.proposed.json {
                print_bench(&bench);
            }
            out.bench = Some(bench);
        }
    }
    if let Some(dir) = &a.report {
        super::report::write_validate_report(&out, dir, a.models.as_deref())?;
        eprintln!("wrote the report into {}", dir.display());
    }
    if a.proposed.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", overall_line(&out));
    }
    Ok(match out.outcome {
        Outcome::Pass => ExitCode::SUCCESS,
        Outcome::Fail => ExitCode::from(EXIT_FAIL),
        Outcome::Inconclusive => ExitCode::from(EXIT_INCONCLUSIVE),
    })
}

fn overall_line(out: &ValidateJson) -> String {
    let what = match (&out.bench, out.outcome) {
        (_, Outcome::Fail) if !out.proposed.passed() => "FAIL: the proposed layout has errors",
        (None, Outcome::Pass) => "pass: static checks only (add --bench to measure)",
        (None, _) => "FAIL: the hardware does not match the layout",
        (Some(_), Outcome::Pass) => "pass: no regression beyond the threshold",
        (Some(_), Outcome::Fail) => "FAIL: a measured regression beyond the threshold",
        (Some(_), Outcome::Inconclusive) => {
            "inconclusive: the intervals are too wide to tell (more --runs, or a quieter device)"
        }
    };
    format!("validate: {what}")
}

/// The disks of the layout against the facter report: a device the host does not have,
/// and a multi-device filesystem with more devices than the host has disks.
fn hardware_findings(h: &HardwareProfile, l: &Layout, file: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    // The line that names a device (`device = "/dev/sda";`), else 1.
    let line_of = |needle: &str| -> u32 {
        text.lines()
            .position(|l| l.contains(needle))
            .map_or(1, |i| i as u32 + 1)
    };
    let known = |dev: &str| {
        h.disks
            .iter()
            .any(|d| d.device == dev || d.kernel_name.as_deref() == Some(dev))
    };
    for d in &l.disks {
        let dev = d.device.as_str();
        if dev.starts_with("/dev/")
            && !dev.starts_with("/dev/md")
            && !known(dev)
            && !dev.contains('<')
        {
            out.push(Finding {
                code: "hardware/unknown-disk",
                severity: Severity::Warning,
                file: file.display().to_string(),
                line: line_of(&format!("\"{dev}\"")),
                column: 1,
                message: format!(
                    "disk `{}` is {dev}, which the facter report ({}) does not list",
                    d.name, h.source
                ),
                fix: format!(
                    "use one of the host's disks: {}",
                    h.disks
                        .iter()
                        .map(|d| d.device.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    for (_, fs) in l.btrfs_filesystems() {
        let need = 1 + fs.mkfs.extra_devices.len();
        if need > h.disks.len().max(1) {
            out.push(Finding {
                code: "hardware/too-few-disks",
                severity: Severity::Error,
                file: file.display().to_string(),
                line: line_of("extraArgs"),
                column: 1,
                message: format!(
                    "a btrfs filesystem spans {need} devices; the host has {} disk(s)",
                    h.disks.len()
                ),
                fix: "drop the extra devices from `extraArgs` (and a raid profile that needs \
                      them), or add disks"
                    .into(),
            });
        }
    }
    out
}

fn print_findings(r: &StaticReport, role: &str) {
    println!("{} ({role}):", r.file);
    print!("{}", indent(&r.text()));
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn print_static(out: &ValidateJson) {
    print_findings(&out.proposed, "proposed");
    if let Some(b) = &out.baseline {
        print_findings(b, "current, for reference");
    }
    for f in &out.hardware {
        let sev = match f.severity {
            Severity::Error => "error",
            _ => "warning",
        };
        println!(
            "  {}:{}:{}: {sev}[{}]: {}\n    fix: {}",
            f.file, f.line, f.column, f.code, f.message, f.fix
        );
    }
}

/// The layout a report or the bench uses for a static report that parsed.
fn layout_of(r: &StaticReport) -> Result<&Layout> {
    r.layout
        .as_ref()
        .with_context(|| format!("{}: could not be read as a layout", r.file))
}

fn bench(a: &ValidateArgs, out: &ValidateJson, hw: Option<&HardwareProfile>) -> Result<Bench> {
    let proposed = layout_of(&out.proposed)?;
    let baseline = match &out.baseline {
        Some(b) => layout_of(b)?.clone(),
        None => compare::untuned(),
    };
    let stack = match (&a.tools, &a.toolstack) {
        (Some(t), _) => Some(Toolstack::from_tools(t)?),
        (_, Some(f)) => Some(Toolstack::read(f)?),
        _ => None,
    };
    let probes: Vec<Probe> = if let Some(stack) = stack {
        let db = ToolDb::bundled()?;
        let tools = stack
            .tools
            .iter()
            .map(|(name, _)| db.resolve(name))
            .collect::<Result<Vec<_>, _>>()?;
        compare::tool_probes(&tools, a.max_workloads.max(1))
    } else if a.workloads.is_empty() {
        compare::default_probes(&baseline, proposed, a.max_workloads.max(1))
    } else {
        a.workloads
            .iter()
            .map(|w| compare::parse_probe(w, proposed).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?
    };
    if probes.is_empty() {
        bail!(
            "nothing to measure: neither the proposed layout's mount points nor the tools \
             imply a workload; name workloads with --workloads (`btrtune workload list`)"
        );
    }
    if !(0.0..100.0).contains(&a.threshold) {
        bail!(
            "--threshold {}: expected a percentage in [0, 100)",
            a.threshold
        );
    }
    let rounds = a.runs.unwrap_or(if a.quick { 3 } else { 5 });
    if rounds < 2 {
        bail!("--runs {rounds}: at least 2 rounds are needed for an interval");
    }
    let size = match &a.size {
        Some(s) => {
            s.parse::<btrtune_advisor::layout::Bytes>()
                .map_err(anyhow::Error::msg)?
                .0
        }
        None if a.quick => 1 << 30,
        None => 4 << 30,
    };
    let matrices = compare::matrices(&baseline, proposed, &probes, rounds, rounds, size)?;
    let results_dir = match &a.results {
        Some(d) => d.clone(),
        None => a
            .backing_dir
            .join(format!("validate-{}", std::process::id())),
    };
    let opts = RunOpts {
        out: results_dir.clone(),
        device: a.device.clone(),
        wipe: a.wipe.clone(),
        force: a.force,
        size: Some(size.to_string()),
        backing_dir: a.backing_dir.clone(),
        quick: a.quick,
        max_runs: None,
        no_namespace: a.no_namespace,
        json: a.proposed.json,
    };
    eprintln!(
        "measuring {} workload(s) on both layouts, {rounds} interleaved rounds each{}:",
        probes.len(),
        if a.quick { " (quick sizes)" } else { "" }
    );
    for p in &probes {
        eprintln!("  {} at {} ({})", p.name(), p.target, p.why);
    }
    let session = Session::open(&opts)?;
    let mut paired: Vec<Paired> = Vec::new();
    let mut files = Vec::new();
    let mut runs = Vec::new();
    for m in &matrices {
        let file = results_dir.join(format!(
            "{}{}.jsonl",
            m.name,
            if a.quick { "-quick" } else { "" }
        ));
        session.run(m, &file)?;
        let records = Results::open(&file)?.existing;
        paired.extend(compare::pair(m, a.quick, &records)?);
        // Only this comparison's cells (a reused results directory may hold others).
        let ids: Vec<String> = m.cells(a.quick)?.into_iter().map(|c| c.id).collect();
        runs.extend(records.into_iter().filter(|r| ids.contains(&r.cell)));
        files.push(file);
    }
    let models = match &a.models {
        Some(p) => ModelSet::read(p)?,
        None => ModelSet::shipped()?,
    };
    let class = paired.first().map(|p| p.class);
    let host_class = hw
        .and_then(|h| host_class(h, proposed))
        .filter(|c| Some(*c) != class);
    let threshold = a.threshold / 100.0;
    let mut verdicts = Vec::new();
    let mut host_projections = Vec::new();
    for p in &paired {
        let measured = RatioEstimate::paired(&p.baseline, &p.proposed);
        let projected = project(&models, p.class, p);
        verdicts.push(verdict::decide(
            &p.workload,
            &p.metric,
            &p.target,
            measured,
            projected,
            threshold,
        ));
        if let Some(hc) = host_class
            && let Some(pr) = project(&models, hc, p)
        {
            host_projections.push((p.workload.clone(), pr));
        }
    }
    Ok(Bench {
        class,
        host_class,
        rounds,
        quick: a.quick,
        threshold,
        probes: probes
            .iter()
            .map(|p| ProbeJson {
                workload: p.name(),
                target: p.target.clone(),
                why: p.why.clone(),
            })
            .collect(),
        verdicts,
        host_projections,
        results: files,
        runs,
        paired,
    })
}

/// The class of the host disk the proposed layout is on (its first disk the report knows),
/// else the report's first disk.
fn host_class(h: &HardwareProfile, l: &Layout) -> Option<DeviceClass> {
    l.disks
        .iter()
        .find_map(|d| {
            h.disks
                .iter()
                .find(|x| x.device == d.device || x.kernel_name.as_deref() == Some(&d.device))
        })
        .or(h.disks.first())
        .map(|d| d.class)
}

/// The model's projection of the change baseline → proposed at the probe's path on `class`.
fn project(models: &ModelSet, class: DeviceClass, p: &Paired) -> Option<Projected> {
    let before = compare::features_of(p.baseline_layout.as_ref()?, &p.target)?;
    let after = compare::features_of(p.proposed_layout.as_ref()?, &p.target)?;
    let c = models
        .project_change(class, &p.workload, &before, &after)
        .ok()?;
    Some(Projected {
        ratio: c.ratio.value,
        low: c.ratio.low,
        high: c.ratio.high,
        status: c.status.label().to_string(),
        changes: c.changes,
    })
}

fn print_bench(b: &Bench) {
    println!(
        "\nbench: {} class, {} rounds{}, threshold {:.0} %",
        b.class.map_or("unknown".into(), |c| c.to_string()),
        b.rounds,
        if b.quick { " (quick sizes)" } else { "" },
        b.threshold * 100.0
    );
    for v in &b.verdicts {
        println!("  {} at {} ({}):", v.workload, v.target, v.metric);
        match &v.measured {
            Some(m) => println!(
                "    current {:.1}, proposed {:.1} (CV {:.1} % / {:.1} %): ×{:.3}, 95 % CI \
                 {:.3}–{:.3}, {}{}",
                m.baseline,
                m.proposed,
                m.baseline_cv * 100.0,
                m.proposed_cv * 100.0,
                m.ratio,
                m.low,
                m.high,
                if v.significant {
                    "significant"
                } else {
                    "not significant"
                },
                if m.unpaired > 0 {
                    format!(" ({} unpaired run(s) left out)", m.unpaired)
                } else {
                    String::new()
                }
            ),
            None => println!("    not enough runs"),
        }
        match (&v.projected, v.agrees_with_model) {
            (Some(p), agrees) => println!(
                "    model ({}, {}): ×{:.3} ({:.3}–{:.3}) — {}",
                p.status,
                if p.changes.is_empty() {
                    "no feature differs".to_string()
                } else {
                    p.changes.join(" ")
                },
                p.ratio,
                p.low,
                p.high,
                match agrees {
                    Some(true) => "agrees with the measurement",
                    Some(false) => "DISAGREES with the measurement",
                    None => "no measurement to compare",
                }
            ),
            (None, _) => println!("    model: no projection for this class and workload"),
        }
        println!("    {}: {}", v.outcome.label(), v.why);
    }
    if let Some(hc) = b.host_class {
        for (w, p) in &b.host_projections {
            println!(
                "  on the host's {hc} disk the model projects {w} ×{:.3} ({:.3}–{:.3}, {})",
                p.ratio, p.low, p.high, p.status
            );
        }
    }
    for f in &b.results {
        println!("  runs: {}", f.display());
    }
}
