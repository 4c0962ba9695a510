//! The harness's own cost, measured on real loop devices (root only).
//!
//! 1. **Setup + teardown per run**: for several candidate layouts, what one run costs
//!    besides its workload (mkfs, mounts, subvolumes, attributes, verification, cache drop;
//!    then the filesystem measurements and unmounting), with a workload that does almost
//!    nothing.
//! 2. **Harness vs bare fio**: one fio job run through the harness ([`run_cell_once`]) and
//!    the same job file run by hand (mkfs.btrfs, mount, btrfs subvolume create, mount, drop
//!    caches, `fio` on the command line) on the same loop device and the same layout, in
//!    pairs whose order alternates (AB BA AB ...). Reported as the ratio harness / bare per
//!    pair: geometric mean with a 95 % t-interval, and the spread of each arm.
//!
//! ```text
//! cargo bench -p btrtune-harness --bench overhead -- [--pairs 8] [--runtime 10]
//!     [--size-mib 256] [--reps 10] [--job randwrite-4k-fsync] [--job seqwrite-128k]
//!     [--backing-dir /var/tmp/btrtune] [--json FILE]
//! ```
//!
//! Run it alone: builds, tests and other benchmarks share the cores and the disk.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use btrtune_harness::matrix::{Cell, LayoutSpec, candidate, target_of};
use btrtune_harness::run::{RunOutcome, run_cell_once};
use btrtune_harness::state::State;
use btrtune_harness::sys::LoopDev;
use btrtune_workloads::fio::{self, FioWorkload, Sizing};
use btrtune_workloads::{Measurement, RunContext, Target, Workload, WorkloadError};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

struct Args {
    pairs: usize,
    runtime: u32,
    size_mib: u64,
    reps: usize,
    jobs: Vec<String>,
    backing_dir: PathBuf,
    json: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        pairs: 8,
        runtime: 10,
        size_mib: 256,
        reps: 10,
        jobs: vec![],
        backing_dir: PathBuf::from("/var/tmp/btrtune"),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{x} needs a value")))
        };
        match x.as_str() {
            "--bench" => {}
            "--pairs" => a.pairs = num(&val()),
            "--runtime" => a.runtime = num(&val()),
            "--size-mib" => a.size_mib = num(&val()),
            "--reps" => a.reps = num(&val()),
            "--job" => a.jobs.push(val()),
            "--backing-dir" => a.backing_dir = val().into(),
            "--json" => a.json = Some(val().into()),
            other => die(&format!("unknown argument `{other}`")),
        }
    }
    if a.jobs.is_empty() {
        a.jobs = vec!["randwrite-4k-fsync".into(), "seqwrite-128k".into()];
    }
    a
}

fn num<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| die(&format!("`{s}` is not a number")))
}

fn die(msg: &str) -> ! {
    eprintln!("overhead: {msg}");
    std::process::exit(2)
}

/// A workload that does next to nothing at a mount point: one 4 KiB file, fsynced.
struct Touch(String);

impl Workload for Touch {
    fn name(&self) -> &str {
        "touch"
    }
    fn params(&self) -> serde_json::Value {
        json!({})
    }
    fn target(&self) -> Target {
        Target::Mount {
            mountpoint: self.0.clone(),
        }
    }
    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        let t = Instant::now();
        let mut f = std::fs::File::create(ctx.dir.join("touch"))
            .map_err(|e| WorkloadError::Failed(e.to_string()))?;
        f.write_all(&[0u8; 4096])
            .and_then(|()| f.sync_all())
            .map_err(|e| WorkloadError::Failed(e.to_string()))?;
        Ok(Measurement {
            primary: "ops".into(),
            value: 1.0,
            runtime_s: t.elapsed().as_secs_f64(),
            ..Measurement::default()
        })
    }
}

fn spec(name: &str, f: impl FnOnce(&mut LayoutSpec)) -> LayoutSpec {
    let mut s = LayoutSpec {
        name: name.into(),
        kind: "btrfs".into(),
        ..LayoutSpec::default()
    };
    f(&mut s);
    s
}

fn cell(spec: &LayoutSpec, workload: Box<dyn Workload>) -> Cell {
    Cell {
        id: format!("bench-{}", spec.name),
        layout_name: spec.name.clone(),
        layout: candidate(spec, None).unwrap_or_else(|e| die(&format!("{}: {e}", spec.name))),
        workload,
    }
}

/// Mean, sample standard deviation, min, max.
fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, sd, min, max)
}

/// Two-sided 97.5 % quantile of Student's t for `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T.get(df.saturating_sub(1)).copied().unwrap_or(1.96)
}

/// Geometric mean of ratios with a 95 % t-interval (on the logarithms).
fn ratio_ci(r: &[f64]) -> (f64, f64, f64) {
    let logs: Vec<f64> = r.iter().map(|x| x.ln()).collect();
    let (m, sd, _, _) = stats(&logs);
    let half = t975(logs.len() - 1) * sd / (logs.len() as f64).sqrt();
    (m.exp(), (m - half).exp(), (m + half).exp())
}

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| die(&format!("{program}: {e}")));
    if !out.status.success() {
        die(&format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// Unmounts what the bare arm mounted, also when it panics.
struct BareMounts(Vec<PathBuf>);

impl Drop for BareMounts {
    fn drop(&mut self) {
        while let Some(p) = self.0.pop() {
            let _ = Command::new("umount").arg(&p).status();
        }
    }
}

/// The same job by hand: what a user would type, on the same device and layout.
fn bare_run(
    job: &str,
    dev: &Path,
    dir: &Path,
    sizing: Sizing,
    mount_opts: &str,
) -> (f64, Vec<String>) {
    let top = dir.join("bare-top");
    let data = dir.join("bare-data");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let d = dev.to_str().unwrap();
    sh("mkfs.btrfs", &["-f", "-q", "-K", d]);
    let mut mounts = BareMounts(vec![]);
    sh("mount", &["-o", mount_opts, d, top.to_str().unwrap()]);
    mounts.0.push(top.clone());
    sh(
        "btrfs",
        &[
            "-q",
            "subvolume",
            "create",
            top.join("@data").to_str().unwrap(),
        ],
    );
    let sub_opts = format!("{mount_opts},subvol=/@data");
    sh("mount", &["-o", &sub_opts, d, data.to_str().unwrap()]);
    mounts.0.push(data.clone());
    let applied = mount_options_of(&data);
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3").unwrap();
    let jobfile = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../workloads/fio/{job}.fio"));
    let out = Command::new("fio")
        .arg("--output-format=json+")
        .arg(format!("--directory={}", data.display()))
        .arg(&jobfile)
        .env("BTRTUNE_RUNTIME", sizing.runtime_s.to_string())
        .env("BTRTUNE_SIZE", sizing.size_bytes.to_string())
        .output()
        .unwrap_or_else(|e| die(&format!("fio: {e}")));
    if !out.status.success() {
        die(&format!("fio: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let parsed = fio::parse(&out.stdout, "bare fio").unwrap();
    let primary = fio::job::job(job).unwrap().primary;
    let m = fio::measurement(&parsed, primary).unwrap();
    drop(mounts);
    (m.value, applied)
}

/// The options of the mount at `p` (per-mount and superblock), minus the subvolume id.
fn mount_options_of(p: &Path) -> Vec<String> {
    let t = p.display().to_string();
    let mi = btrtune_harness::sys::mount::mountinfo()
        .into_iter()
        .rev()
        .find(|m| m.target == t)
        .unwrap_or_else(|| die(&format!("{t} is not mounted")));
    normalize(mi.mount_options.into_iter().chain(mi.super_options))
}

fn normalize(o: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = o
        .into_iter()
        .filter(|o| !o.starts_with("subvolid="))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn main() {
    let a = args();
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("overhead: needs root (loop devices, mkfs, mount); nothing measured");
        return;
    }
    let state = State::open().unwrap();
    std::fs::create_dir_all(&a.backing_dir).unwrap();
    let work = tempfile::Builder::new()
        .prefix("btrtune-bench-")
        .tempdir_in(&a.backing_dir)
        .unwrap();
    let backing = work.path().join("device.img");
    let size = 4u64 << 30;
    let t = Instant::now();
    btrtune_harness::sys::loopdev::create_backing_file(&backing, size).unwrap();
    let lo = LoopDev::attach(&backing, true, &state).unwrap();
    let session_s = t.elapsed().as_secs_f64();
    let dev = lo.path().to_path_buf();
    let run_dir = work.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let stop = AtomicBool::new(false);
    let host = btrtune_harness::env::host();
    println!(
        "device: {} over {} (4 GiB, direct-io {:?}); kernel {}; once per session: backing file \
         + attach {session_s:.2} s",
        dev.display(),
        backing.display(),
        lo.direct_io(),
        host.kernel
    );
    let mut report = json!({
        "device": dev, "direct_io": lo.direct_io(), "kernel": host.kernel,
        "session_setup_s": session_s, "setup_teardown": [], "fio": [],
    });

    // 1. Setup + teardown per run.
    println!(
        "\n1. setup + teardown per run, {} runs each (workload: one 4 KiB file)",
        a.reps
    );
    println!(
        "{:<22} {:>16} {:>16} {:>16} {:>9}",
        "layout", "setup s", "teardown s", "total s", "max s"
    );
    let layouts = vec![
        spec("cow", |s| s.compress = Some("none".into())),
        spec("zstd1-nocow", |s| {
            s.compress = Some("zstd:1".into());
            s.nocow = true;
        }),
        spec("ext4", |s| s.kind = "ext4".into()),
        spec("workstation-plan", |s| {
            s.kind = "example".into();
            s.example = Some("workstation".into());
            s.target = Some("/var/lib/postgresql".into());
        }),
    ];
    for l in &layouts {
        let Target::Mount { mountpoint } = target_of(l) else {
            unreachable!("file-system layouts only")
        };
        let c = cell(l, Box::new(Touch(mountpoint)));
        let (mut setup, mut teardown, mut total) = (vec![], vec![], vec![]);
        for _ in 0..a.reps {
            let o = run_cell_once(
                &c,
                std::slice::from_ref(&dev),
                true,
                &run_dir,
                true,
                &stop,
                &state,
            )
            .unwrap_or_else(|e| die(&format!("{}: {e}", l.name)));
            setup.push(o.timings.setup_s);
            teardown.push(o.timings.teardown_s);
            total.push(o.timings.setup_s + o.timings.teardown_s);
        }
        let (sm, ss, _, _) = stats(&setup);
        let (tm, ts, _, _) = stats(&teardown);
        let (am, asd, _, amax) = stats(&total);
        println!(
            "{:<22} {:>7.3} ± {:<6.3} {:>7.3} ± {:<6.3} {:>7.3} ± {:<6.3} {:>9.3}",
            l.name, sm, ss, tm, ts, am, asd, amax
        );
        report["setup_teardown"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "layout": l.name, "setup_s": setup, "teardown_s": teardown,
                "total_mean_s": am, "total_sd_s": asd, "total_max_s": amax,
            }));
    }

    // 2. Harness vs bare fio.
    let cow = &layouts[0];
    for job in &a.jobs {
        let sizing = Sizing::new(a.runtime, a.size_mib);
        let Target::Mount { mountpoint } = target_of(cow) else {
            unreachable!()
        };
        let w = FioWorkload::mount(job, &mountpoint)
            .unwrap_or_else(|e| die(&e.to_string()))
            .with_sizes(sizing, sizing);
        let c = cell(cow, Box::new(w));
        println!(
            "\n2. {job} on `{}`: harness vs bare fio, {} pairs, {} s + 2 s ramp over {} MiB",
            cow.name, a.pairs, a.runtime, a.size_mib
        );
        let (mut hv, mut bv, mut ratios) = (vec![], vec![], vec![]);
        let mut harness_opts: Option<Vec<String>> = None;
        let mut bare_opts: Option<Vec<String>> = None;
        for i in 0..a.pairs {
            let harness_run = |hv: &mut Vec<f64>, opts: &mut Option<Vec<String>>| {
                let o: RunOutcome = run_cell_once(
                    &c,
                    std::slice::from_ref(&dev),
                    true,
                    &run_dir,
                    false,
                    &stop,
                    &state,
                )
                .unwrap_or_else(|e| die(&format!("harness run: {e}")));
                hv.push(o.measurement.value);
                opts.get_or_insert_with(|| normalize(o.fs.applied_options.clone()));
                o.measurement.value
            };
            // The bare run mounts with the options the harness's layout asks for.
            let bare = |bv: &mut Vec<f64>, opts: &mut Option<Vec<String>>| {
                let (v, applied) = bare_run(job, &dev, work.path(), sizing, "noatime,nodiscard");
                bv.push(v);
                opts.get_or_insert(applied);
                v
            };
            let (h, b) = if i % 2 == 0 {
                let h = harness_run(&mut hv, &mut harness_opts);
                (h, bare(&mut bv, &mut bare_opts))
            } else {
                let b = bare(&mut bv, &mut bare_opts);
                (harness_run(&mut hv, &mut harness_opts), b)
            };
            ratios.push(h / b);
            println!(
                "   pair {:>2}: harness {h:>12.1}  bare {b:>12.1}  ratio {:.4}",
                i + 1,
                h / b
            );
        }
        // Same layout in both arms, or the comparison means nothing.
        if harness_opts != bare_opts {
            die(&format!(
                "the arms mounted differently: harness {harness_opts:?}, bare {bare_opts:?}"
            ));
        }
        let (hm, hs, _, _) = stats(&hv);
        let (bm, bs, _, _) = stats(&bv);
        let (g, lo_ci, hi_ci) = ratio_ci(&ratios);
        let unit = fio::job::job(job).unwrap().primary.as_str();
        println!(
            "   harness {hm:.1} ± {hs:.1} {unit} (CV {:.1} %), bare {bm:.1} ± {bs:.1} (CV {:.1} %)",
            100.0 * hs / hm,
            100.0 * bs / bm
        );
        println!(
            "   ratio harness/bare: geomean {g:.4}, 95 % CI [{lo_ci:.4}, {hi_ci:.4}]; \
             mount options {}",
            harness_opts.unwrap_or_default().join(",")
        );
        report["fio"].as_array_mut().unwrap().push(json!({
            "job": job, "layout": cow.name, "runtime_s": a.runtime, "size_mib": a.size_mib,
            "unit": unit, "harness": hv, "bare": bv, "ratios": ratios,
            "ratio_geomean": g, "ratio_ci95": [lo_ci, hi_ci],
        }));
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        println!("\nwrote {}", p.display());
    }
    drop(lo);
}
