//! `btrtune calibrate` and `btrtune cleanup`: run a matrix of candidate layouts × workloads
//! on real btrfs (loop devices or a confirmed spare device), and release what a killed run
//! left behind.

use anyhow::{Context as _, Result, bail};
use btrtune_advisor::layout::Bytes;
use btrtune_harness::matrix::{Cell, Matrix};
use btrtune_harness::record::RunRecord;
use btrtune_harness::run::{Calibration, DeviceChoice, Progress, Summary, calibrate};
use btrtune_harness::{HarnessError, safety, state, sys};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The bundled matrices, by name.
const MATRICES: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../profiles/matrix/default.toml"),
    ),
    ("raw", include_str!("../../profiles/matrix/raw.toml")),
    ("quick", include_str!("../../profiles/matrix/quick.toml")),
    (
        "crosscheck",
        include_str!("../../profiles/matrix/crosscheck.toml"),
    ),
    (
        "workloads",
        include_str!("../../profiles/matrix/workloads.toml"),
    ),
];

/// Arguments of `btrtune calibrate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo btrtune calibrate --matrix default --out results/virtio/
  sudo btrtune calibrate --matrix raw --out results/ram/ --backing-dir /dev/shm
  sudo btrtune calibrate --matrix quick --out /tmp/r --quick --report /tmp/r/report
  sudo btrtune calibrate --matrix default --out results/nvme/ --device /dev/nvme1n1 --wipe /dev/nvme1n1
  sudo btrtune cleanup")]
pub struct CalibrateArgs {
    /// A bundled matrix (default, raw, quick, crosscheck, workloads) or a matrix file.
    #[arg(long, value_name = "NAME|FILE")]
    matrix: String,
    #[command(flatten)]
    run: RunOpts,
    /// After the calibration, write an HTML and Markdown report with plots of the results
    /// file into this directory (as `btrtune report`).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

/// How and where a matrix runs (shared by `calibrate` and `crosscheck`).
#[derive(Debug, Args)]
pub struct RunOpts {
    /// Directory for the results (`<matrix>.jsonl` is appended; finished cells are skipped).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A spare device to use instead of loop devices (everything on it is destroyed).
    #[arg(long, value_name = "DEV", requires = "wipe")]
    pub device: Option<PathBuf>,
    /// The same device again, to confirm that it may be wiped.
    #[arg(long, value_name = "DEV", requires = "device")]
    pub wipe: Option<PathBuf>,
    /// Wipe a spare device even though it carries a filesystem or partition table.
    #[arg(long, requires = "device")]
    pub force: bool,
    /// Device size (loop devices), e.g. 4G; default from the matrix.
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Where loop backing files go; its filesystem decides the hardware class (/dev/shm: ram).
    #[arg(long, value_name = "DIR", default_value = "/var/tmp/btrtune")]
    pub backing_dir: PathBuf,
    /// Quick runs for CI: smaller device, shorter jobs, fewer runs.
    #[arg(long)]
    pub quick: bool,
    /// Stop after this many new runs (resume later).
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
    /// Keep mounts visible to the system (by default they live in a private mount namespace,
    /// so they vanish even if the process is killed).
    #[arg(long)]
    pub no_namespace: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn total(&mut self, runs: u64) {
        self.0.inc_length(runs);
    }
    fn run_done(&mut self, cell: &Cell, r: &RunRecord) {
        self.0.set_message(format!(
            "{} / {}: {:.0} {}",
            cell.layout_name,
            cell.workload.name(),
            r.measurement.value,
            r.measurement.primary
        ));
        self.0.inc(1);
    }
    fn message(&mut self, text: &str) {
        self.0.println(text);
    }
}

/// A bundled matrix by name, or a matrix file.
pub fn load_matrix(m: &str) -> Result<Matrix> {
    if let Some((name, text)) = MATRICES.iter().find(|(n, _)| *n == m) {
        // Bundled matrices resolve relative paths against the current directory.
        return Ok(Matrix::parse(text, &format!("matrix {name}"), None)?);
    }
    let p = PathBuf::from(m);
    if !p.exists() {
        bail!(
            "no matrix `{m}`: give a file or one of the bundled ones ({})",
            MATRICES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(Matrix::read(&p)?)
}

fn require_root() -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "calibration builds filesystems on loop devices and mounts them: run it as root \
             (sudo)"
        );
    }
    Ok(())
}

/// Runs `btrtune calibrate`.
pub fn run(a: CalibrateArgs) -> Result<()> {
    let matrix = load_matrix(&a.matrix)?;
    let (summary, results) = execute(&matrix, &a.run)?;
    if a.run.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &results);
    }
    if let Some(dir) = &a.report {
        let from = super::report::ReportFrom {
            title: format!("btrtune calibrate: {}", matrix.name),
            sources: vec![results.display().to_string()],
            results: vec![results.clone()],
            ..Default::default()
        };
        let w = super::report::write_report_from(from, dir)?;
        eprintln!("{}", super::report::summary(&w, dir));
    }
    Ok(())
}

/// Prints a calibration's summary.
pub fn print_summary(summary: &Summary, results: &std::path::Path) {
    println!(
        "{} new runs ({} found and kept) in {}",
        summary.new_runs,
        summary.resumed_runs,
        results.display()
    );
    let lw = summary
        .cells
        .iter()
        .map(|c| c.layout.len())
        .max()
        .unwrap_or(0);
    let ww = summary
        .cells
        .iter()
        .map(|c| c.workload.len())
        .max()
        .unwrap_or(0);
    for cell in &summary.cells {
        println!(
            "  {:<lw$} {:<ww$} {:>12.1} {:<14} n={:<3} cv={:>5.1}%{}",
            cell.layout,
            cell.workload,
            cell.geomean,
            cell.metric,
            cell.runs,
            cell.cv * 100.0,
            if cell.unstable { "  UNSTABLE" } else { "" }
        );
    }
}

/// Runs `matrix` as `a` says (root, namespace, signals, progress bar): the summary and the
/// results file.
pub fn execute(matrix: &Matrix, a: &RunOpts) -> Result<(Summary, PathBuf)> {
    let session = Session::open(a)?;
    let results = a.out.join(format!(
        "{}{}.jsonl",
        matrix.name,
        if a.quick { "-quick" } else { "" }
    ));
    let summary = session.run(matrix, &results)?;
    Ok((summary, results))
}

/// What every matrix of one command shares: root checked, the private mount namespace
/// entered (once, while the process has one thread), signal handlers, the device.
pub struct Session<'a> {
    opts: &'a RunOpts,
    device: DeviceChoice,
    size: Option<u64>,
    interrupted: Arc<AtomicBool>,
}

impl<'a> Session<'a> {
    /// Prepares a session as `a` says.
    pub fn open(a: &'a RunOpts) -> Result<Session<'a>> {
        require_root()?;
        // The namespace must be entered while this process has one thread.
        if !a.no_namespace {
            sys::ns::enter_private_mount_namespace()
                .context("entering a private mount namespace (use --no-namespace to skip)")?;
        }
        let device = match (&a.device, &a.wipe) {
            (Some(d), Some(w)) => {
                let spare = safety::check_spare_device(d, w, a.force)?;
                eprintln!(
                    "using {} ({} bytes): everything on it will be destroyed",
                    spare.path.display(),
                    spare.size_bytes
                );
                DeviceChoice::Spare(spare)
            }
            // Absolute: mount points are compared with /proc/self/mountinfo.
            _ => DeviceChoice::Loop {
                dir: std::path::absolute(&a.backing_dir)
                    .with_context(|| format!("--backing-dir {}", a.backing_dir.display()))?,
            },
        };
        let size = a
            .size
            .as_deref()
            .map(|s| s.parse::<Bytes>().map(|b| b.0))
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let interrupted = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // First signal: stop after cleaning up; second: exit at once.
            signal_hook::flag::register_conditional_shutdown(sig, 130, interrupted.clone())?;
            signal_hook::flag::register(sig, interrupted.clone())?;
        }
        if !a.no_namespace {
            state::State::open()?.set_private_namespace();
        }
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        Ok(Session {
            opts: a,
            device,
            size,
            interrupted,
        })
    }

    /// Runs one matrix into `results`, with a progress bar.
    pub fn run(&self, matrix: &Matrix, results: &std::path::Path) -> Result<Summary> {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs, ETA {eta}  {msg}",
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let mut progress = Bar(bar);
        let c = Calibration {
            matrix,
            quick: self.opts.quick,
            results: results.to_path_buf(),
            device: self.device.clone(),
            size: self.size,
            interrupted: self.interrupted.clone(),
            max_new_runs: self.opts.max_runs,
        };
        let summary = match calibrate(&c, &mut progress) {
            Ok(s) => s,
            Err(HarnessError::Interrupted) => {
                progress.0.abandon();
                bail!(
                    "interrupted: everything this run made is released; finished runs are in {} \
                     and the next run resumes from there",
                    results.display()
                );
            }
            Err(e) => {
                progress.0.abandon();
                return Err(e.into());
            }
        };
        progress.0.finish_and_clear();
        Ok(summary)
    }
}

/// Arguments of `btrtune cleanup`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo btrtune cleanup
  sudo btrtune cleanup --json")]
pub struct CleanupArgs {
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `btrtune cleanup`.
pub fn run_cleanup(a: CleanupArgs) -> Result<()> {
    require_root()?;
    let report = state::cleanup(&state::dir())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for m in &report.unmounted {
            println!("unmounted {}", m.display());
        }
        for d in &report.detached {
            println!("detached {}", d.display());
        }
        for f in &report.removed {
            println!("removed {}", f.display());
        }
        for p in &report.killed {
            println!("killed process {p} (it was still working in a run directory)");
        }
        for p in &report.skipped_live {
            println!("left alone: process {p} is still running");
        }
        if report.unmounted.is_empty()
            && report.detached.is_empty()
            && report.removed.is_empty()
            && report.killed.is_empty()
        {
            println!("nothing of btrtune's to clean up");
        }
    }
    for p in &report.problems {
        eprintln!("problem: {p}");
    }
    if !report.problems.is_empty() {
        bail!("{} problem(s) left", report.problems.len());
    }
    Ok(())
}
