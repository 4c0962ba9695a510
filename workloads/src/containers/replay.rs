//! The replay loop of benchmark-method.md §3.4: pull L layers -> create C containers ->
//! each writes K files -> delete the containers -> prune the image; repeated until the time
//! budget is spent (or a fixed number of rounds), checking for Ctrl-C between operations.
//!
//! Timed per operation: layer pulls (create + extract), container creates, each
//! container's writes, container removes, layer removes. Not timed: generating the image
//! and the writes (before the loop), and the space measurements (a `syncfs`, then
//! `statvfs`, at the peak, i.e. before the containers are removed, and after the prune),
//! plus on btrfs the wait for the cleaner to drop deleted subvolumes (reported as
//! `cleaner_wait_s`), so that every round starts from a clean filesystem.

use super::btrfs_driver::BtrfsDriver;
use super::churn::ChurnPlanner;
use super::content::Io;
use super::driver::GraphDriver;
use super::layers::ImagePlan;
use super::overlay_driver::OverlayDriver;
use super::space::{self, Usage};
use super::{ContainersConfig, Driver, Scale};
use crate::cpu::CpuTime;
use crate::latency::Latencies;
use crate::rng::SplitMix64;
use crate::{Measurement, RunContext, WorkloadError};
use std::path::Path;
use std::time::{Duration, Instant};

/// What the rounds measured, before it becomes a [`Measurement`].
#[derive(Debug, Default)]
pub struct Rounds {
    /// Rounds completed.
    pub rounds: u64,
    /// Layers pulled.
    pub layers: u64,
    /// Containers created.
    pub containers: u64,
    /// Per layer: create + extract.
    pub pull: Latencies,
    /// Per container: create.
    pub create: Latencies,
    /// Per container: all its writes.
    pub churn: Latencies,
    /// Per container: remove.
    pub remove: Latencies,
    /// Per layer: remove.
    pub prune: Latencies,
    /// Seconds spent pulling.
    pub pull_s: f64,
    /// Seconds waiting for btrfs's cleaner after prunes.
    pub cleaner_wait_s: f64,
    /// True when every wait for the cleaner happened (btrfs as root, Linux >= 6.13).
    pub cleaner_waited: bool,
    /// Wall time of the rounds.
    pub wall_s: f64,
    /// Space at the start.
    pub start: Usage,
    /// Space at the fullest moment of each round, the largest.
    pub peak: Option<(f64, Option<f64>, Option<f64>)>,
    /// Space after the last prune.
    pub after_prune: Option<(f64, Option<f64>, Option<f64>)>,
}

/// A 64-hex-digit id (containers-storage ids are sha256 digests).
fn hex_id(seed: u64, tag: &[u64]) -> String {
    let mut r = SplitMix64::derive(seed, tag);
    (0..4).map(|_| format!("{:016x}", r.next_u64())).collect()
}

fn largest(
    a: Option<(f64, Option<f64>, Option<f64>)>,
    b: (f64, Option<f64>, Option<f64>),
) -> (f64, Option<f64>, Option<f64>) {
    let max = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    match a {
        None => b,
        Some(a) => (a.0.max(b.0), max(a.1, b.1), max(a.2, b.2)),
    }
}

fn timed<T>(
    lat: &mut Latencies,
    f: impl FnOnce() -> Result<T, WorkloadError>,
) -> Result<(T, Duration), WorkloadError> {
    let t = Instant::now();
    let v = f()?;
    let d = t.elapsed();
    lat.record(d);
    Ok((v, d))
}

/// Runs the rounds with `driver` in `dir`.
pub fn rounds<D: GraphDriver>(
    driver: &mut D,
    dir: &Path,
    scale: &Scale,
    seed: u64,
    btrfs_fs: bool,
    io: &mut Io<'_>,
) -> Result<Rounds, WorkloadError> {
    let image = ImagePlan::generate(seed, &scale.image());
    let planner = ChurnPlanner::new(&image);
    let mut r = Rounds {
        cleaner_waited: true,
        start: space::usage(dir, btrfs_fs)?,
        ..Rounds::default()
    };
    let budget = Duration::from_secs_f64(scale.runtime_s);
    let started = Instant::now();
    loop {
        let more = match scale.rounds {
            Some(n) => r.rounds < u64::from(n),
            None => r.rounds == 0 || started.elapsed() < budget,
        };
        if !more {
            break;
        }
        let round = r.rounds;
        let layer_ids: Vec<String> = (0..image.layers.len() as u64)
            .map(|i| hex_id(seed, &[0x1a, round, i]))
            .collect();
        let ctr_ids: Vec<String> = (0..u64::from(scale.containers))
            .map(|c| hex_id(seed, &[0xc7, round, c]))
            .collect();
        let plans: Vec<_> = (0..u64::from(scale.containers))
            .map(|c| {
                planner.plan(
                    seed,
                    round,
                    c,
                    scale.writes_per_container,
                    scale.fsync_every,
                )
            })
            .collect();

        // Pull.
        for (i, layer) in image.layers.iter().enumerate() {
            io.check()?;
            let (_, d) = timed(&mut r.pull, || {
                driver.pull(&layer_ids[i], &layer_ids[..i], layer, io)
            })?;
            r.pull_s += d.as_secs_f64();
            r.layers += 1;
        }
        // Containers: create, then each one's writes.
        for id in &ctr_ids {
            io.check()?;
            timed(&mut r.create, || {
                driver.create_container(id, &layer_ids, io)
            })?;
            r.containers += 1;
        }
        for (id, ops) in ctr_ids.iter().zip(&plans) {
            timed(&mut r.churn, || {
                for op in ops {
                    io.check()?;
                    driver.write(id, &layer_ids, op, io)?;
                }
                Ok(())
            })?;
        }
        io.check()?;
        let peak = space::usage(dir, btrfs_fs)?.minus(&r.start);
        r.peak = Some(largest(r.peak, peak));
        // Remove the containers, then prune the image top-down.
        for id in &ctr_ids {
            io.check()?;
            timed(&mut r.remove, || driver.remove(id, io))?;
        }
        for id in layer_ids.iter().rev() {
            io.check()?;
            timed(&mut r.prune, || driver.remove(id, io))?;
        }
        let t = Instant::now();
        let waited = driver.settle(io)?;
        r.cleaner_wait_s += t.elapsed().as_secs_f64();
        r.cleaner_waited &= waited;
        r.after_prune = Some(space::usage(dir, btrfs_fs)?.minus(&r.start));
        r.rounds += 1;
    }
    r.wall_s = started.elapsed().as_secs_f64();
    Ok(r)
}

/// One run of `driver` with `config` in `ctx`.
pub fn run(
    driver: Driver,
    config: &ContainersConfig,
    ctx: &RunContext<'_>,
) -> Result<Measurement, WorkloadError> {
    let mut io = Io::new(ctx.interrupted);
    io.check()?;
    let scale = config.scale(ctx.quick);
    let btrfs_fs = space::is_btrfs(ctx.dir)?;
    let cpu0 = CpuTime::of_self()?;
    let mut whiteout_devices = None;
    let r = match driver {
        Driver::Btrfs => {
            let mut d = BtrfsDriver::new(ctx.dir)?;
            rounds(&mut d, ctx.dir, scale, config.seed, btrfs_fs, &mut io)?
        }
        Driver::Overlay => {
            let mut d = OverlayDriver::new(ctx.dir, config.volatile, config.seed)?;
            let r = rounds(&mut d, ctx.dir, scale, config.seed, btrfs_fs, &mut io)?;
            whiteout_devices = Some(d.whiteout_devices());
            r
        }
    };
    let cpu = CpuTime::of_self()?.since(cpu0);
    Ok(measurement(
        driver,
        &r,
        &io,
        cpu,
        btrfs_fs,
        whiteout_devices,
    ))
}

/// Turns the rounds into a [`Measurement`]:
///
/// - `layers_per_s` (primary): layers pulled per second of pull time (create + extract);
/// - `latency_ns`: container create latency; `sync_latency_ns`: every fsync (container
///   writes, overlay copy-ups);
/// - `ops_per_s`, `bytes_per_s`: files and bytes written per second of wall time;
/// - `cpu_usr_pct`, `cpu_sys_pct`: this process's CPU over the wall time;
/// - `extra`: `container_remove_p50_ns`/`_p99_ns`, `layer_pull_p50_ns`/`_p99_ns`,
///   `layer_remove_p50_ns`/`_p99_ns`, `container_writes_p50_ns`/`_p99_ns` (all writes of
///   one container), `files_written`, `bytes_written`, `dirs_created`, `whiteouts`,
///   `fsyncs`, `rounds`, `layers_pulled`, `containers_created`, `space_used_peak_bytes`
///   and `space_used_after_prune_bytes` (statvfs, relative to the start), on btrfs
///   `btrfs_data_peak_bytes`, `btrfs_metadata_peak_bytes`,
///   `btrfs_metadata_after_prune_bytes`; for the btrfs driver `subvolumes_created`,
///   `subvolumes_deleted`, `subvolumes_removed_by_rmdir`, `cleaner_wait_s`,
///   `cleaner_waited` (1 when every wait happened); for overlay `copy_ups`,
///   `copy_up_bytes`, `whiteout_devices` (1: character devices, 0: `.wh.` files).
pub fn measurement(
    driver: Driver,
    r: &Rounds,
    io: &Io<'_>,
    cpu: CpuTime,
    btrfs_fs: bool,
    whiteout_devices: Option<bool>,
) -> Measurement {
    let wall = r.wall_s.max(1e-9);
    let t = &io.tally;
    let mut m = Measurement {
        primary: "layers_per_s".to_owned(),
        value: if r.pull_s > 0.0 {
            r.layers as f64 / r.pull_s
        } else {
            0.0
        },
        ops_per_s: Some(t.files_written as f64 / wall),
        bytes_per_s: Some(t.bytes_written as f64 / wall),
        latency_ns: r.create.percentiles(),
        sync_latency_ns: io.fsyncs.percentiles(),
        cpu_usr_pct: Some(cpu.pct(wall).0),
        cpu_sys_pct: Some(cpu.pct(wall).1),
        runtime_s: r.wall_s,
        ..Measurement::default()
    };
    let e = &mut m.extra;
    for (name, lat) in [
        ("container_remove", &r.remove),
        ("layer_pull", &r.pull),
        ("layer_remove", &r.prune),
        ("container_writes", &r.churn),
    ] {
        if let Some(p) = lat.percentiles() {
            e.insert(format!("{name}_p50_ns"), p.p50);
            e.insert(format!("{name}_p99_ns"), p.p99);
        }
    }
    for (k, v) in [
        ("files_written", t.files_written),
        ("bytes_written", t.bytes_written),
        ("dirs_created", t.dirs_created),
        ("whiteouts", t.whiteouts),
        ("fsyncs", t.fsyncs),
        ("rounds", r.rounds),
        ("layers_pulled", r.layers),
        ("containers_created", r.containers),
    ] {
        e.insert(k.to_owned(), v as f64);
    }
    if let Some((used, data, meta)) = r.peak {
        e.insert("space_used_peak_bytes".to_owned(), used);
        if btrfs_fs {
            if let Some(d) = data {
                e.insert("btrfs_data_peak_bytes".to_owned(), d);
            }
            if let Some(md) = meta {
                e.insert("btrfs_metadata_peak_bytes".to_owned(), md);
            }
        }
    }
    if let Some((used, _, meta)) = r.after_prune {
        e.insert("space_used_after_prune_bytes".to_owned(), used);
        if let (true, Some(md)) = (btrfs_fs, meta) {
            e.insert("btrfs_metadata_after_prune_bytes".to_owned(), md);
        }
    }
    match driver {
        Driver::Btrfs => {
            for (k, v) in [
                ("subvolumes_created", t.subvolumes_created),
                ("subvolumes_deleted", t.subvolumes_deleted),
                ("subvolumes_removed_by_rmdir", t.subvolumes_removed_by_rmdir),
            ] {
                e.insert(k.to_owned(), v as f64);
            }
            e.insert("cleaner_wait_s".to_owned(), r.cleaner_wait_s);
            e.insert(
                "cleaner_waited".to_owned(),
                f64::from(u8::from(r.cleaner_waited)),
            );
        }
        Driver::Overlay => {
            e.insert("copy_ups".to_owned(), t.copy_ups as f64);
            e.insert("copy_up_bytes".to_owned(), t.copy_up_bytes as f64);
            if let Some(w) = whiteout_devices {
                e.insert("whiteout_devices".to_owned(), f64::from(u8::from(w)));
            }
        }
    }
    m
}
