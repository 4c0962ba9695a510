//! The calibration loop: for every cell (candidate layout × workload), fresh filesystems,
//! cold caches, interleaved repetitions until the coefficient of variation is under the
//! target or the maximum count is reached, each run recorded durably as it finishes.

use crate::build::{BuildOptions, buildable, devices_needed};
use crate::error::HarnessError;
use crate::matrix::{Cell, Matrix};
use crate::record::{
    DeviceUnderTest, FsFacts, Host, Results, RunRecord, SCHEMA_VERSION, Timings, WorkloadRef,
};
use crate::state::{PREFIX, State};
use crate::sys::{Cmd, LoopDev};
use btrtune_workloads::{RunContext, Target};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Where the runs happen.
#[derive(Clone, Debug)]
pub enum DeviceChoice {
    /// Loop devices over fully written backing files in this directory.
    Loop {
        /// Directory for the backing files (its filesystem decides the hardware class).
        dir: PathBuf,
    },
    /// A spare device the user named twice (checked by [`crate::safety`]).
    Spare(crate::safety::SpareDevice),
}

/// Progress of a calibration, for a progress bar.
pub trait Progress {
    /// Total runs expected so far (grows if cells need more runs).
    fn total(&mut self, runs: u64);
    /// A run finished.
    fn run_done(&mut self, cell: &Cell, record: &RunRecord);
    /// Something to tell the user.
    fn message(&mut self, text: &str);
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn total(&mut self, _: u64) {}
    fn run_done(&mut self, _: &Cell, _: &RunRecord) {}
    fn message(&mut self, _: &str) {}
}

/// What a calibration asks for.
pub struct Calibration<'a> {
    /// The matrix.
    pub matrix: &'a Matrix,
    /// Quick (CI) settings.
    pub quick: bool,
    /// The results file (appended; finished cells are skipped).
    pub results: PathBuf,
    /// Device choice.
    pub device: DeviceChoice,
    /// Device size override.
    pub size: Option<u64>,
    /// Set by the signal handler.
    pub interrupted: Arc<AtomicBool>,
    /// Stop after this many new runs (for tests and budgets).
    pub max_new_runs: Option<u64>,
}

/// Summary of one cell.
#[derive(Clone, Debug, Serialize)]
pub struct CellSummary {
    /// The cell.
    pub cell: String,
    /// Candidate.
    pub layout: String,
    /// Workload.
    pub workload: String,
    /// Metric.
    pub metric: String,
    /// Runs recorded.
    pub runs: u32,
    /// Geometric mean of the metric.
    pub geomean: f64,
    /// Coefficient of variation.
    pub cv: f64,
    /// True when the CV stayed above the target at the maximum run count.
    pub unstable: bool,
}

/// What a calibration did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Runs made now.
    pub new_runs: u64,
    /// Runs found in the results file and skipped.
    pub resumed_runs: u64,
    /// Per cell.
    pub cells: Vec<CellSummary>,
}

/// Coefficient of variation; infinite with fewer than two runs (so the cell needs more).
fn cv(values: &[f64]) -> f64 {
    btrtune_advisor::stats::cv(values).unwrap_or(f64::INFINITY)
}

/// Devices for the session: loop devices (with their backing files) or the spare device.
struct Devices {
    loops: Vec<LoopDev>,
    spare: Option<PathBuf>,
    files: Vec<PathBuf>,
    state: Arc<State>,
}

impl Devices {
    fn paths(&self) -> Vec<PathBuf> {
        match &self.spare {
            Some(p) => vec![p.clone()],
            None => self.loops.iter().map(|l| l.path().to_path_buf()).collect(),
        }
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        // A spare device is left without signatures, so that it passes the checks again
        // (and a resumed calibration needs no --force).
        if let Some(dev) = &self.spare
            && let Err(e) = Cmd::new("wipefs").args(["-a", "-q"]).arg(dev).output()
        {
            eprintln!("btrtune: wiping the signatures off {}: {e}", dev.display());
        }
        self.loops.clear();
        for f in &self.files {
            if let Err(e) = std::fs::remove_file(f)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!("btrtune: removing {}: {e}", f.display());
            }
            self.state.remove_file(f);
        }
    }
}

fn open_devices(
    choice: &DeviceChoice,
    count: usize,
    size: u64,
    state: &Arc<State>,
) -> Result<(Devices, DeviceUnderTest), HarnessError> {
    match choice {
        DeviceChoice::Spare(s) => {
            if count > 1 {
                return Err(HarnessError::Layout(format!(
                    "a layout needs {count} devices; a spare device is one"
                )));
            }
            let dut = DeviceUnderTest {
                class: crate::env::class_of_block(&s.path.display().to_string()),
                kind: "spare".into(),
                loop_dio: None,
                backing_fs: None,
                size_bytes: s.size_bytes,
            };
            Ok((
                Devices {
                    loops: vec![],
                    spare: Some(s.path.clone()),
                    files: vec![],
                    state: state.clone(),
                },
                dut,
            ))
        }
        DeviceChoice::Loop { dir } => {
            std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
            let mut devs = Devices {
                loops: vec![],
                spare: None,
                files: vec![],
                state: state.clone(),
            };
            for i in 0..count {
                let f = dir.join(format!("{PREFIX}{}-{i}.img", std::process::id()));
                state.add_file(&f);
                devs.files.push(f.clone());
                crate::sys::loopdev::create_backing_file(&f, size)?;
                devs.loops.push(LoopDev::attach(&f, true, state)?);
            }
            let dio = devs.loops.first().and_then(LoopDev::direct_io);
            Ok((devs, crate::env::loop_under_test(dir, dio, size)))
        }
    }
}

/// Sectors written and flushes completed so far on a block device (`/sys/block/X/stat`).
fn disk_stat(dev: &Path) -> Option<(u64, u64)> {
    let name = dev.file_name()?.to_string_lossy().into_owned();
    let t = std::fs::read_to_string(format!("/sys/block/{name}/stat")).ok()?;
    let f: Vec<u64> = t
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Field 7 (index 6): sectors written; field 16 (index 15): flushes completed.
    Some((*f.get(6)?, f.get(15).copied().unwrap_or(0)))
}

/// Files and extents below `dir` (`filefrag`), for fragmentation.
fn extents(dir: &Path) -> (Option<u64>, Option<u64>) {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => files.push(p),
                _ => {}
            }
        }
        if files.len() > 2000 {
            break;
        }
    }
    if files.is_empty() {
        return (None, Some(0));
    }
    let mut total = 0u64;
    for chunk in files.chunks(200) {
        let Ok(out) = Cmd::new("filefrag").args(chunk).output() else {
            return (None, Some(files.len() as u64));
        };
        for l in out.lines() {
            // "<file>: N extents found" / "1 extent found"
            if let Some(n) = l
                .rsplit_once(": ")
                .and_then(|(_, r)| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                total += n;
            }
        }
    }
    (Some(total), Some(files.len() as u64))
}

fn used_bytes(built: &crate::build::Built) -> Option<u64> {
    if let Some(top) = &built.top {
        let out = Cmd::new("btrfs")
            .args(["filesystem", "usage", "-b"])
            .arg(top)
            .output()
            .ok()?;
        return btrtune_advisor::metrics::btrfs_usage::parse(&out, "btrfs filesystem usage")
            .ok()
            .map(|u| u.overall.used);
    }
    let p = built.targets.values().next()?;
    let s = nix::sys::statvfs::statvfs(p).ok()?;
    Some((s.blocks() - s.blocks_free()) * s.fragment_size())
}

/// What one run of a cell measured.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The workload's measurement.
    pub measurement: btrtune_workloads::Measurement,
    /// What the filesystem looked like afterwards.
    pub fs: FsFacts,
    /// Where the time went.
    pub timings: Timings,
}

/// One run of `cell` on a fresh filesystem over `devices` (the first is the device under
/// test): build and verify the layout, drop caches, run the workload, measure the
/// filesystem, tear down. `loop_devices` says the devices are the harness's loop devices
/// (mkfs without discard, nodiscard imposed: benchmark-method.md §1).
pub fn run_cell_once(
    cell: &Cell,
    devices: &[PathBuf],
    loop_devices: bool,
    run_dir: &Path,
    quick: bool,
    interrupted: &AtomicBool,
    state: &Arc<State>,
) -> Result<RunOutcome, HarnessError> {
    let opts = BuildOptions { loop_devices };
    let t0 = Instant::now();
    let paths = devices;
    let need = devices_needed(&buildable(&cell.layout)?);
    if paths.len() < need {
        return Err(HarnessError::Layout(format!(
            "the layout needs {need} devices; {} given",
            paths.len()
        )));
    }
    let built = crate::build::build(&cell.layout, &paths[..need], run_dir, &opts, state)?;
    crate::sys::cmd::drop_caches()?;
    let setup_s = t0.elapsed().as_secs_f64();
    if interrupted.load(Ordering::SeqCst) {
        return Err(HarnessError::Interrupted);
    }
    let target = cell.workload.target();
    let (dir, mount_dir) = match &target {
        Target::Mount { mountpoint } => built.dir_for(mountpoint)?,
        Target::Device => (run_dir.to_path_buf(), run_dir.to_path_buf()),
    };
    let before = disk_stat(&paths[0]);
    let t1 = Instant::now();
    let ctx = RunContext {
        dir: &dir,
        device: &paths[0],
        quick,
        interrupted,
    };
    let m = cell.workload.run(&ctx).map_err(|e| match e {
        btrtune_workloads::WorkloadError::Interrupted => HarnessError::Interrupted,
        other => HarnessError::Workload {
            name: cell.workload.name().to_string(),
            source: other,
        },
    })?;
    let run_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let after = disk_stat(&paths[0]);
    let mut fs = FsFacts::default();
    if let (Some(b), Some(a)) = (before, after) {
        fs.device_sectors_written = Some(a.0.saturating_sub(b.0));
        fs.device_flushes = Some(a.1.saturating_sub(b.1));
    }
    if !matches!(target, Target::Device) {
        nix::unistd::sync();
        fs.used_bytes = used_bytes(&built);
        let (e, n) = extents(&dir);
        fs.extents = e;
        fs.files = n;
        let t = mount_dir.display().to_string();
        fs.applied_options = crate::sys::mount::mountinfo()
            .into_iter()
            .rev()
            .find(|mi| mi.target == t)
            .map(|mi| {
                let mut o = mi.mount_options;
                o.extend(mi.super_options);
                o
            })
            .unwrap_or_default();
    }
    built.teardown()?;
    let teardown_s = t2.elapsed().as_secs_f64();
    Ok(RunOutcome {
        measurement: m,
        fs,
        timings: Timings {
            setup_s,
            run_s,
            teardown_s,
        },
    })
}

/// Runs a calibration.
pub fn calibrate(
    c: &Calibration<'_>,
    progress: &mut dyn Progress,
) -> Result<Summary, HarnessError> {
    let state = State::open()?;
    let mut results = Results::open(&c.results)?;
    if let Some(n) = results.repaired {
        progress.message(&format!(
            "{}: cut a torn last record ({n} bytes) left by an earlier crash",
            c.results.display()
        ));
    }
    let runs = if c.quick {
        &c.matrix.quick
    } else {
        &c.matrix.runs
    };
    let cells = c.matrix.cells(c.quick)?;
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut metric: BTreeMap<String, String> = BTreeMap::new();
    for r in &results.existing {
        values
            .entry(r.cell.clone())
            .or_default()
            .push(r.measurement.value);
        metric.insert(r.cell.clone(), r.measurement.primary.clone());
    }
    let resumed: u64 = cells
        .iter()
        .map(|cell| values.get(&cell.id).map_or(0, |v| v.len() as u64))
        .sum();
    let needs = |v: Option<&Vec<f64>>| -> bool {
        let n = v.map_or(0, Vec::len) as u32;
        n < runs.min || (n < runs.max && v.is_some_and(|v| cv(v) > runs.cv_target))
    };
    let pending: Vec<&Cell> = cells
        .iter()
        .filter(|cell| needs(values.get(&cell.id)))
        .collect();
    let mut new_runs = 0u64;
    if !pending.is_empty() {
        let count = pending
            .iter()
            .map(|cell| buildable(&cell.layout).map(|b| devices_needed(&b)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(1);
        let size = match c.size {
            Some(s) => s,
            None => c.matrix.size_for(c.quick)?,
        };
        let host: Host = crate::env::host();
        let (devices, dut) = open_devices(&c.device, count, size, &state)?;
        let work = match &c.device {
            DeviceChoice::Loop { dir } => dir.clone(),
            DeviceChoice::Spare(_) => std::env::temp_dir(),
        };
        let run_dir = work.join(format!("{PREFIX}run-{}", std::process::id()));
        crate::sys::create_dirs(&run_dir)?;
        state.add_dir(&run_dir);
        let expected: u64 = cells
            .iter()
            .map(|cell| {
                u64::from(runs.min)
                    .saturating_sub(values.get(&cell.id).map_or(0, |v| v.len() as u64))
            })
            .sum();
        progress.total(expected);
        let result = (|| -> Result<(), HarnessError> {
            loop {
                // Cells with the fewest runs first, so that every cell gets its k-th run
                // before any gets its (k+1)-th, also after a resume; within a round the
                // order is shuffled, seeded by the round, so that no candidate always runs
                // right after the same neighbour (benchmark-method.md §5.4).
                let mut round: Vec<&Cell> = cells
                    .iter()
                    .filter(|cell| needs(values.get(&cell.id)))
                    .collect();
                round.sort_by_cached_key(|cell| {
                    let n = values.get(&cell.id).map_or(0, Vec::len);
                    (n, round_order(&c.matrix.name, n, &cell.id))
                });
                if round.is_empty() {
                    return Ok(());
                }
                for cell in round {
                    if c.interrupted.load(Ordering::SeqCst) {
                        return Err(HarnessError::Interrupted);
                    }
                    if c.max_new_runs.is_some_and(|m| new_runs >= m) {
                        return Ok(());
                    }
                    let n = values.get(&cell.id).map_or(0, Vec::len) as u32;
                    if n >= runs.min {
                        progress.total(1);
                    }
                    let started_unix = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let RunOutcome {
                        measurement: m,
                        fs,
                        timings,
                    } = run_cell_once(
                        cell,
                        &devices.paths(),
                        devices.spare.is_none(),
                        &run_dir,
                        c.quick,
                        &c.interrupted,
                        &state,
                    )?;
                    let record = RunRecord {
                        schema_version: SCHEMA_VERSION,
                        cell: cell.id.clone(),
                        matrix: c.matrix.name.clone(),
                        layout_name: cell.layout_name.clone(),
                        run: n,
                        quick: c.quick,
                        started_unix,
                        host: host.clone(),
                        device: dut.clone(),
                        layout: cell.layout.clone(),
                        workload: WorkloadRef {
                            name: cell.workload.name().to_string(),
                            params: cell.workload.params(),
                            target: cell.workload.target(),
                        },
                        measurement: m,
                        fs,
                        timings,
                    };
                    results.append(&record)?;
                    values
                        .entry(cell.id.clone())
                        .or_default()
                        .push(record.measurement.value);
                    metric.insert(cell.id.clone(), record.measurement.primary.clone());
                    new_runs += 1;
                    progress.run_done(cell, &record);
                }
            }
        })();
        let cleanup = crate::state::remove_empty_tree(&run_dir);
        state.remove_dir(&run_dir);
        drop(devices);
        result?;
        if let Err(e) = cleanup
            && e.kind() != std::io::ErrorKind::NotFound
        {
            progress.message(&format!("{}: {e}", run_dir.display()));
        }
    }
    let cells_summary = cells
        .iter()
        .map(|cell| {
            let v = values.get(&cell.id).cloned().unwrap_or_default();
            let c_v = cv(&v);
            CellSummary {
                cell: cell.id.clone(),
                layout: cell.layout_name.clone(),
                workload: cell.workload.name().to_string(),
                metric: metric.get(&cell.id).cloned().unwrap_or_default(),
                runs: v.len() as u32,
                geomean: btrtune_advisor::stats::geomean(&v).unwrap_or(0.0),
                cv: if c_v.is_finite() { c_v } else { 0.0 },
                unstable: v.len() >= 2 && v.len() as u32 >= runs.max && c_v > runs.cv_target,
            }
        })
        .collect();
    Ok(Summary {
        new_runs,
        resumed_runs: resumed,
        cells: cells_summary,
    })
}

/// A cell's place within round `n` of a matrix: a seeded shuffle (FNV-1a of the cell id,
/// mixed with the matrix and the round by SplitMix64), the same on every resume.
fn round_order(matrix: &str, n: usize, cell: &str) -> u64 {
    use crate::record::fnv1a;
    btrtune_workloads::rng::mix(fnv1a(matrix.as_bytes()) ^ n as u64, fnv1a(cell.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_with_one_run_is_never_stable() {
        assert!(cv(&[1.0]).is_infinite());
        assert!(cv(&[10.0, 10.0, 10.0]).abs() < 1e-12);
        assert!((cv(&[9.0, 10.0, 11.0]) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn rounds_are_shuffled_the_same_way_on_every_resume() {
        let cells: Vec<String> = (0..8).map(|i| format!("layout{i}/wal")).collect();
        let order = |n: usize| {
            let mut v: Vec<&String> = cells.iter().collect();
            v.sort_by_key(|c| round_order("m", n, c));
            v
        };
        assert_eq!(order(0), order(0));
        let orders: std::collections::BTreeSet<_> = (0..6).map(order).collect();
        assert!(orders.len() >= 5, "rounds differ in order: {orders:?}");
        // Not always the matrix order, and no cell always first.
        let firsts: std::collections::BTreeSet<_> = (0..6).map(|n| order(n)[0]).collect();
        assert!(firsts.len() >= 3, "{firsts:?}");
        assert_ne!(round_order("m", 0, "a"), round_order("other", 0, "a"));
    }
}
