//! One run: the database under load, the snapshots, then each snapshot recovered and
//! checked.

use super::check::{Checker, SnapshotOutcome};
use super::session::{BackupSession, backup_start_sql, backup_stop_sql, unhex, valid_label};
use super::{Method, PgsnapshotWorkload};
use crate::containers::btrfs_driver::name as c_name;
use crate::containers::space::is_btrfs;
use crate::pgbench::account::RunAs;
use crate::pgbench::binaries::PgBinaries;
use crate::pgbench::child::{pg_command, read_lossy, run_to_end, stop};
use crate::pgbench::client::{Client, ServerStats};
use crate::pgbench::output::{Summary, TxLog};
use crate::pgbench::run::{check, make_datadir, read_logs, scratch_dir, sync_filesystem};
use crate::pgbench::server::{PgServer, Stopped};
use crate::pgbench::{INIT_STEPS, INITDB_ARGS};
use crate::text::tail;
use crate::{Measurement, RunContext, WorkloadError};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn failed(msg: String) -> WorkloadError {
    WorkloadError::Failed(msg)
}

/// One snapshot taken under load.
#[derive(Debug)]
struct Taken {
    /// The data snapshot's `pgdata`.
    datadir: PathBuf,
    /// The WAL snapshot's root (separate-wal only).
    wal: Option<PathBuf>,
    /// When the procedure started (seconds since the epoch).
    started_epoch_s: f64,
    /// How long it took (backup API included).
    took: Duration,
}

/// pgbench running in the background; stopped when dropped.
struct Background {
    child: Option<Child>,
    err: PathBuf,
    out: PathBuf,
}

impl Background {
    /// Whether it is still running (`Err` when it exited unsuccessfully).
    fn running(&mut self) -> Result<bool, WorkloadError> {
        let Some(c) = self.child.as_mut() else {
            return Ok(false);
        };
        match c.try_wait() {
            Ok(None) => Ok(true),
            Ok(Some(s)) => {
                self.child = None;
                if s.success() {
                    Ok(false)
                } else {
                    Err(failed(format!(
                        "pgbench under the snapshots failed ({s}); its stderr: {}",
                        tail(&read_lossy(&self.err), 2000)
                    )))
                }
            }
            Err(e) => Err(failed(format!("waiting for pgbench: {e}"))),
        }
    }

    /// Waits for its end (within `limit`), watching for Ctrl-C; its stdout.
    fn finish(
        &mut self,
        limit: Duration,
        interrupted: &AtomicBool,
    ) -> Result<String, WorkloadError> {
        let until = Instant::now() + limit;
        while self.running()? {
            check(interrupted)?;
            if Instant::now() > until {
                return Err(failed(format!(
                    "pgbench did not finish within {} s",
                    limit.as_secs()
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(read_lossy(&self.out))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c);
        }
    }
}

/// `lsattr -d` output: whether the first field (the flags) has `C` (NOCOW).
pub fn lsattr_nocow(out: &str) -> bool {
    out.split_whitespace()
        .next()
        .is_some_and(|f| f.contains('C'))
}

/// Whether `dir` is NOCOW (`lsattr -d`).
fn is_nocow(dir: &Path) -> Result<bool, WorkloadError> {
    let out = Command::new("lsattr")
        .arg("-d")
        .arg(dir)
        .output()
        .map_err(|e| WorkloadError::Missing {
            tool: "lsattr".to_owned(),
            hint: format!("e2fsprogs ({e})"),
        })?;
    if !out.status.success() {
        return Err(failed(format!(
            "lsattr -d {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(lsattr_nocow(&String::from_utf8_lossy(&out.stdout)))
}

/// `<dir>/<name>` as a new subvolume (`BTRFS_IOC_SUBVOL_CREATE_V2`), NOCOW when `nocow`.
fn create_subvolume(dir: &Path, name: &str, nocow: bool) -> Result<PathBuf, WorkloadError> {
    let parent =
        File::open(dir).map_err(|e| failed(format!("cannot open {}: {e}", dir.display())))?;
    let path = dir.join(name);
    btrfs_uapi::subvolume::subvolume_create(parent.as_fd(), &c_name(name)?, &[]).map_err(|e| {
        failed(format!(
            "cannot create the subvolume {}: {e}",
            path.display()
        ))
    })?;
    if nocow {
        let s = Command::new("chattr")
            .arg("+C")
            .arg(&path)
            .status()
            .map_err(|e| failed(format!("chattr +C {}: {e}", path.display())))?;
        if !s.success() {
            return Err(failed(format!("chattr +C {} failed ({s})", path.display())));
        }
    }
    Ok(path)
}

/// A writable snapshot of the subvolume at `source` as `<parent>/<name>`.
fn snapshot(
    source: &Path,
    parent: &File,
    parent_path: &Path,
    name: &str,
) -> Result<PathBuf, WorkloadError> {
    let src =
        File::open(source).map_err(|e| failed(format!("cannot open {}: {e}", source.display())))?;
    let path = parent_path.join(name);
    btrfs_uapi::subvolume::snapshot_create(parent.as_fd(), src.as_fd(), &c_name(name)?, false, &[])
        .map_err(|e| {
            failed(format!(
                "cannot snapshot {} as {}: {e}",
                source.display(),
                path.display()
            ))
        })?;
    Ok(path)
}

/// The ratio of committed transactions per second in the `window` seconds from
/// `start_epoch_s` (its second included) to the `window` seconds before it. Seconds without
/// a commit count as 0; `None` when the windows do not fit in the log's whole seconds (the
/// first and last, partly measured, left out) or nothing committed before.
pub fn tps_ratio(per_second: &BTreeMap<u64, u64>, start_epoch_s: f64, window: u64) -> Option<f64> {
    let first = *per_second.keys().next()? + 1;
    let last = per_second.keys().next_back()?.checked_sub(1)?;
    if !start_epoch_s.is_finite() || start_epoch_s < 0.0 || window == 0 {
        return None;
    }
    // Whole seconds since the epoch fit in u64.
    let s0 = start_epoch_s.floor() as u64;
    let before_start = s0.checked_sub(window)?;
    let after_end = s0 + window - 1;
    if before_start < first || after_end > last {
        return None;
    }
    let sum = |a: u64, b: u64| {
        (a..=b)
            .map(|s| per_second.get(&s).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let before = sum(before_start, s0 - 1);
    let after = sum(s0, after_end);
    (before > 0).then(|| after as f64 / before as f64)
}

/// The median of non-empty `v` (sorted in place).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Readies a snapshot for its own server: no `postmaster.pid`/`postmaster.opts` (what base
/// backups leave out), and `pg_wal` pointing at the WAL snapshot.
fn prepare(t: &Taken) -> Result<(), WorkloadError> {
    for f in ["postmaster.pid", "postmaster.opts"] {
        let p = t.datadir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(format!("cannot remove {}: {e}", p.display()))),
        }
    }
    if let Some(wal) = &t.wal {
        let link = t.datadir.join("pg_wal");
        std::fs::remove_file(&link)
            .map_err(|e| failed(format!("cannot remove the symlink {}: {e}", link.display())))?;
        std::os::unix::fs::symlink(wal.join("pg_wal"), &link).map_err(|e| {
            failed(format!(
                "cannot link {} to the WAL snapshot: {e}",
                link.display()
            ))
        })?;
    }
    Ok(())
}

pub(super) fn run(
    w: &PgsnapshotWorkload,
    ctx: &RunContext<'_>,
) -> Result<Measurement, WorkloadError> {
    check(ctx.interrupted)?;
    let name = w.name.as_str();
    let method = w.method;
    let (scale, seconds) = w.config.sizes(ctx.quick);
    let settings = w.config.pgbench().server_settings();
    let bins = PgBinaries::find(w.config.bindir.as_deref())?;
    let run_as = RunAs::resolve(&w.config.user)?;
    let dir = ctx
        .dir
        .canonicalize()
        .map_err(|e| failed(format!("{name}: directory {}: {e}", ctx.dir.display())))?;
    if !is_btrfs(&dir)? {
        return Err(failed(format!(
            "{name}: {} is not on btrfs (the check takes btrfs snapshots)",
            dir.display()
        )));
    }
    if run_as.switches() {
        run_as.check_traversable(&dir)?;
    }
    let snapdir = dir.join("snapshots");
    std::fs::create_dir(&snapdir)
        .and_then(|()| std::fs::set_permissions(&snapdir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| failed(format!("{name}: cannot create {}: {e}", snapdir.display())))?;
    let snapdir_fd = File::open(&snapdir)
        .map_err(|e| failed(format!("cannot open {}: {e}", snapdir.display())))?;
    let wal_subvol = if method.separate_wal() {
        let v = create_subvolume(&dir, "wal", is_nocow(&dir)?)?;
        run_as.chown(&v)?;
        Some(v)
    } else {
        None
    };
    let datadir = make_datadir(&dir, &run_as)?;
    // Declared before the server: dropped after it has stopped.
    let scratch = scratch_dir(&run_as)?;
    let scratch_path = scratch.path();

    {
        let mut cmd = pg_command(&bins, "initdb", &run_as, scratch_path);
        cmd.arg("-D").arg(&datadir).args(INITDB_ARGS);
        if let Some(v) = &wal_subvol {
            cmd.arg(format!("--waldir={}", v.join("pg_wal").display()));
        }
        run_to_end(
            cmd,
            &format!("initdb -D {}", datadir.display()),
            scratch_path,
            "initdb",
            Duration::from_secs(300),
            ctx.interrupted,
        )?;
    }
    check(ctx.interrupted)?;
    let mut server = PgServer::start(
        &bins,
        &run_as,
        &datadir,
        scratch_path,
        &settings,
        ctx.interrupted,
    )?;
    let client = Client {
        bins: &bins,
        run_as: &run_as,
        scratch: scratch_path,
        port: server.port(),
        interrupted: ctx.interrupted,
    };
    let with_log = |e| server.with_log(e);
    let version = client.server_version().map_err(with_log)?;
    let init_args: Vec<String> = vec![
        "-i".into(),
        "-q".into(),
        "-I".into(),
        INIT_STEPS.into(),
        "-s".into(),
        scale.to_string(),
    ];
    client
        .pgbench(
            "init",
            &init_args,
            Duration::from_secs(300 + 30 * u64::from(scale)),
        )
        .map_err(with_log)?;
    client.psql("prepare", &["CHECKPOINT"]).map_err(with_log)?;
    sync_filesystem(&dir)?;
    check(ctx.interrupted)?;
    let before = ServerStats::read(&client, version).map_err(with_log)?;

    // pgbench in the background.
    let log_prefix = "txlog";
    let mut bench = {
        let mut cmd = client.command("pgbench");
        cmd.args([
            "-n",
            "-b",
            "tpcb-like",
            "-M",
            "simple",
            "-c",
            &w.config.clients.to_string(),
            "-j",
            &w.config.jobs.to_string(),
            "-T",
            &seconds.to_string(),
            &format!("--random-seed={}", w.config.seed),
            "--log",
            &format!("--log-prefix={}", scratch_path.join(log_prefix).display()),
            "postgres",
        ]);
        let out = scratch_path.join("measure.out");
        let err = scratch_path.join("measure.err");
        let create = |p: &Path| {
            File::create(p).map_err(|e| failed(format!("cannot create {}: {e}", p.display())))
        };
        cmd.stdout(create(&out)?)
            .stderr(create(&err)?)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot start pgbench: {e}")))?;
        Background {
            child: Some(child),
            err,
            out,
        }
    };
    let started = Instant::now();
    let n = w.config.snapshots;
    let mut taken: Vec<Taken> = Vec::new();
    for k in 1..=n {
        let at = Duration::from_secs_f64(f64::from(seconds) * f64::from(k) / f64::from(n + 1));
        while started.elapsed() < at {
            check(ctx.interrupted)?;
            if !bench.running()? {
                return Err(failed(format!(
                    "{name}: pgbench ended after {:.1} s, before snapshot {k} at {:.1} s",
                    started.elapsed().as_secs_f64(),
                    at.as_secs_f64()
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
        let t0 = Instant::now();
        let started_epoch_s = epoch_now();
        let t = match (method, &wal_subvol) {
            (Method::SameSubvolume, _) | (_, None) => {
                let s = snapshot(&dir, &snapdir_fd, &snapdir, &format!("snap-{k}"))?;
                Taken {
                    datadir: s.join("pgdata"),
                    wal: None,
                    started_epoch_s,
                    took: Duration::ZERO,
                }
            }
            (Method::SeparateWalNoBackupApi, Some(wal)) => {
                let d = snapshot(&dir, &snapdir_fd, &snapdir, &format!("data-{k}"))?;
                let v = snapshot(wal, &snapdir_fd, &snapdir, &format!("wal-{k}"))?;
                Taken {
                    datadir: d.join("pgdata"),
                    wal: Some(v),
                    started_epoch_s,
                    took: Duration::ZERO,
                }
            }
            (Method::SeparateWalBackupApi, Some(wal)) => {
                let session = BackupSession::start(
                    client,
                    &format!("backup-{k}"),
                    &backup_start_sql(version, &format!("btrtune-{k}")),
                )
                .map_err(with_log)?;
                let d = snapshot(&dir, &snapdir_fd, &snapdir, &format!("data-{k}"))?;
                let hex = session.stop(backup_stop_sql(version)).map_err(with_log)?;
                let label = unhex(&hex)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|l| valid_label(l))
                    .ok_or_else(|| WorkloadError::Output {
                        what: "pg_backup_stop's label file".to_owned(),
                        message: format!("not a backup label: {}", tail(&hex, 300)),
                    })?;
                let v = snapshot(wal, &snapdir_fd, &snapdir, &format!("wal-{k}"))?;
                let datadir = d.join("pgdata");
                let lf = datadir.join("backup_label");
                std::fs::write(&lf, label)
                    .and_then(|()| {
                        std::fs::set_permissions(&lf, std::fs::Permissions::from_mode(0o600))
                    })
                    .map_err(|e| failed(format!("cannot write {}: {e}", lf.display())))?;
                run_as.chown(&lf)?;
                Taken {
                    datadir,
                    wal: Some(v),
                    started_epoch_s,
                    took: Duration::ZERO,
                }
            }
        };
        taken.push(Taken {
            took: t0.elapsed(),
            ..t
        });
    }
    let stdout = bench
        .finish(
            Duration::from_secs(u64::from(seconds) + 120),
            ctx.interrupted,
        )
        .map_err(with_log)?;
    let summary = Summary::parse(&stdout, "pgbench's output (measure.out)")?;
    let log: TxLog = read_logs(scratch_path, log_prefix)?;
    let after = ServerStats::read(&client, version).map_err(with_log)?;
    match server.stop()? {
        Stopped::Fast | Stopped::AlreadyGone => {}
        how => eprintln!(
            "btrtune: PostgreSQL on {} needed {how:?} to stop",
            datadir.display()
        ),
    }
    drop(server);

    // Each snapshot on its own server.
    let checker = Checker {
        bins: &bins,
        run_as: &run_as,
        settings: &settings,
        scale,
        version,
        interrupted: ctx.interrupted,
    };
    let mut outcomes: Vec<SnapshotOutcome> = Vec::new();
    for (i, t) in taken.iter().enumerate() {
        check(ctx.interrupted)?;
        prepare(t)?;
        let o = checker.check(&t.datadir)?;
        if !o.consistent() {
            eprintln!(
                "btrtune: {name}: snapshot {} of {} is not consistent: {}",
                i + 1,
                taken.len(),
                o.reasons.join("; ")
            );
        }
        outcomes.push(o);
    }

    // The measurement.
    let count =
        |f: &dyn Fn(&SnapshotOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as f64;
    let snapshots = outcomes.len() as f64;
    let consistent = count(&|o| o.consistent());
    let mut m = Measurement {
        primary: "consistent_fraction".to_owned(),
        value: consistent / snapshots,
        ops_per_s: Some(summary.tps),
        latency_ns: log.percentiles(),
        runtime_s: started.elapsed().as_secs_f64(),
        ..Measurement::default()
    };
    let x = &mut m.extra;
    x.insert("snapshots".into(), snapshots);
    x.insert("consistent".into(), consistent);
    x.insert("recovered".into(), count(&|o| o.recovered));
    x.insert("amcheck_ok".into(), count(&|o| o.amcheck_ok()));
    x.insert("invariant_ok".into(), count(&|o| o.invariant_ok));
    x.insert("not_recovered".into(), count(&|o| !o.recovered));
    x.insert(
        "index_check_failed".into(),
        count(&|o| o.recovered && !o.index_ok),
    );
    x.insert(
        "heap_check_failed".into(),
        count(&|o| o.recovered && !o.heap_ok),
    );
    x.insert(
        "invariant_failed".into(),
        count(&|o| o.recovered && !o.invariant_ok),
    );
    x.insert(
        "indexes_checked".into(),
        outcomes.iter().map(|o| f64::from(o.indexes_checked)).sum(),
    );
    let mut rec: Vec<f64> = outcomes.iter().filter_map(|o| o.recovery_s).collect();
    if let Some(max) = rec.iter().copied().reduce(f64::max) {
        x.insert("recovery_s_max".into(), max);
    }
    if let Some(p50) = median(&mut rec) {
        x.insert("recovery_s_p50".into(), p50);
    }
    let ms: Vec<f64> = taken
        .iter()
        .map(|t| t.took.as_secs_f64() * 1000.0)
        .collect();
    x.insert(
        "snapshot_ms_mean".into(),
        ms.iter().sum::<f64>() / ms.len().max(1) as f64,
    );
    x.insert(
        "snapshot_ms_max".into(),
        ms.iter().copied().fold(0.0, f64::max),
    );
    let window = u64::from(w.config.window_s)
        .min((u64::from(seconds) / u64::from(n + 1)).saturating_sub(1))
        .max(1);
    let ratios: Vec<f64> = taken
        .iter()
        .filter_map(|t| tps_ratio(&log.per_second, t.started_epoch_s, window))
        .filter(|r| *r > 0.0)
        .collect();
    if !ratios.is_empty() {
        let g = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        x.insert("tps_after_snapshot_ratio".into(), g);
        x.insert(
            "tps_after_snapshot_ratio_min".into(),
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
        );
    }
    x.insert("tps_window_s".into(), window as f64);
    if let Some(h) = outcomes
        .iter()
        .filter_map(|o| o.invariant.map(|i| i.history_rows))
        .min()
    {
        x.insert("history_rows_min".into(), h as f64);
    }
    x.insert("tps".into(), summary.tps);
    if let Some(t) = summary.transactions {
        x.insert("transactions".into(), t as f64);
    }
    x.insert(
        "failed".into(),
        summary.failed.unwrap_or(0).max(log.failed) as f64,
    );
    x.insert(
        "checkpoints".into(),
        after.checkpoints.saturating_sub(before.checkpoints) as f64,
    );
    x.insert(
        "wal_bytes".into(),
        after.wal_lsn.saturating_sub(before.wal_lsn) as f64,
    );
    x.insert("scale".into(), f64::from(scale));
    x.insert("clients".into(), f64::from(w.config.clients));
    x.insert("seconds".into(), f64::from(seconds));
    x.insert("server_version_num".into(), f64::from(version));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_ratio_windows() {
        // Seconds 100..=110; a stall at 105 (no commit: missing from the map).
        let mut ps: BTreeMap<u64, u64> = (100..=110).map(|s| (s, 100)).collect();
        ps.remove(&105);
        ps.insert(106, 50);
        // before 102..=104 (300), after 105..=107 (0 + 50 + 100).
        let r = tps_ratio(&ps, 105.7, 3).unwrap();
        assert!((r - 0.5).abs() < 1e-9, "{r}");
        assert_eq!(tps_ratio(&ps, 103.0, 1), Some(1.0));
        // Windows reaching the partial first or last second do not count.
        assert_eq!(tps_ratio(&ps, 102.0, 2), None);
        assert_eq!(tps_ratio(&ps, 108.0, 3), None);
        assert_eq!(tps_ratio(&BTreeMap::new(), 1.0, 1), None);
        assert_eq!(tps_ratio(&ps, f64::NAN, 1), None);
    }

    #[test]
    fn nocow_from_lsattr_and_medians() {
        assert!(lsattr_nocow("---------------C------ /mnt/data\n"));
        assert!(!lsattr_nocow("---------------------- /mnt/data\n"));
        assert!(!lsattr_nocow(""));
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
