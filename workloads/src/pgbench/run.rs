//! A pgbench builtin as a [`Workload`]: [`PgbenchWorkload`].

use super::account::RunAs;
use super::binaries::PgBinaries;
use super::child::{pg_command, run_to_end};
use super::client::{Client, ServerStats};
use super::config::{Builtin, PgbenchConfig, Sizes};
use super::output::{Summary, TxLog};
use super::procstat::ServerCpu;
use super::server::{PgServer, Stopped};
use crate::cpu::{CpuTime, pct};
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `initdb`'s arguments besides `-D`. `--no-sync`: initdb's files are not fsynced one by
/// one (setup is not measured); a `syncfs` before the measured run writes them out.
pub const INITDB_ARGS: &[&str] = &["--no-sync", "--auth=trust", "--locale=C", "--encoding=UTF8"];

/// `pgbench -i -I`: drop, create tables, generate the rows client-side (`COPY`), vacuum,
/// primary keys (pgbench's default).
pub const INIT_STEPS: &str = "dtgvp";

/// The statements between the warm-up and the measured run: what pgbench does before a
/// run without `-n` (vacuum the two small tables, empty the history), then a checkpoint,
/// so that every measured run starts from the same state: nothing dirty, and the first
/// change of every page writes a full-page image, as after any checkpoint.
pub const PREPARE: &[&str] = &[
    "VACUUM pgbench_branches",
    "VACUUM pgbench_tellers",
    "TRUNCATE pgbench_history",
    "CHECKPOINT",
];

/// What the per-run steps are, recorded with the parameters.
const PROCEDURE: &str = "initdb --no-sync; postgres -c ...; pgbench -i -s SCALE -I dtgvp; \
     warm-up pgbench -n -T WARMUP (if any); VACUUM pgbench_branches, pgbench_tellers, \
     TRUNCATE pgbench_history, CHECKPOINT; syncfs; measured pgbench -n -T SECONDS --log; \
     fast shutdown";

/// A pgbench builtin run against a fresh PostgreSQL in the directory under test.
///
/// `run()` makes `<dir>/pgdata` (initdb), starts a private server on it (socket and logs in
/// a temporary directory under /tmp, nothing else in `dir`), loads it with `pgbench -i`,
/// optionally warms up, vacuums and checkpoints, then measures `pgbench -c -j -T` with
/// per-transaction logs. See the [module](super) for what it records.
#[derive(Clone, Debug)]
pub struct PgbenchWorkload {
    builtin: Builtin,
    mountpoint: String,
    config: PgbenchConfig,
    name: String,
}

impl PgbenchWorkload {
    /// The builtin named `name` (`tpcb`, `select-only`) in the layout's directory at
    /// `mountpoint`, with checked parameters.
    pub fn mount(
        name: &str,
        mountpoint: impl Into<String>,
        config: PgbenchConfig,
    ) -> Result<Self, WorkloadError> {
        let builtin = Builtin::from_name(name)?;
        config.validate().map_err(|m| {
            WorkloadError::Failed(format!("pgbench={}: parameters: {m}", builtin.name()))
        })?;
        Ok(Self {
            builtin,
            mountpoint: mountpoint.into(),
            config,
            name: format!("pgbench-{}", builtin.name()),
        })
    }

    /// The builtin.
    pub fn builtin(&self) -> Builtin {
        self.builtin
    }

    /// The parameters.
    pub fn config(&self) -> &PgbenchConfig {
        &self.config
    }

    /// pgbench's arguments for a timed run of `seconds` with `seed` (before the database
    /// name; `-h`/`-p` are added by the client).
    pub fn run_args(&self, seconds: u32, seed: u64, log_prefix: Option<&Path>) -> Vec<String> {
        let mut a = vec![
            "-n".to_owned(),
            "-b".to_owned(),
            self.builtin.pgbench_name().to_owned(),
            "-M".to_owned(),
            "simple".to_owned(),
            "-c".to_owned(),
            self.config.clients.to_string(),
            "-j".to_owned(),
            self.config.jobs.to_string(),
            "-T".to_owned(),
            seconds.to_string(),
            format!("--random-seed={seed}"),
        ];
        if let Some(p) = log_prefix {
            a.push("--log".to_owned());
            a.push(format!("--log-prefix={}", p.display()));
        }
        a
    }
}

pub(crate) fn check(interrupted: &AtomicBool) -> Result<(), WorkloadError> {
    if interrupted.load(Ordering::SeqCst) {
        Err(WorkloadError::Interrupted)
    } else {
        Ok(())
    }
}

fn failed(msg: String) -> WorkloadError {
    WorkloadError::Failed(msg)
}

/// `<dir>/pgdata`, new, mode 0700, owned by the account PostgreSQL runs as.
pub(crate) fn make_datadir(dir: &Path, run_as: &RunAs) -> Result<PathBuf, WorkloadError> {
    let datadir = dir.join("pgdata");
    std::fs::create_dir(&datadir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            failed(format!(
                "{} exists already: pgbench needs an empty directory",
                datadir.display()
            ))
        } else {
            failed(format!("cannot create {}: {e}", datadir.display()))
        }
    })?;
    std::fs::set_permissions(&datadir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| failed(format!("cannot chmod {}: {e}", datadir.display())))?;
    run_as.chown(&datadir)?;
    Ok(datadir)
}

/// A private directory under /tmp (short: the socket path must fit in 107 bytes) for the
/// socket, the server log, pgbench's logs and outputs; removed when dropped.
pub(crate) fn scratch_dir(run_as: &RunAs) -> Result<tempfile::TempDir, WorkloadError> {
    let t = tempfile::Builder::new()
        .prefix("btrtune-pg-")
        .tempdir_in("/tmp")
        .map_err(|e| failed(format!("cannot make a temporary directory in /tmp: {e}")))?;
    run_as.chown(t.path())?;
    Ok(t)
}

/// Writes out everything dirty on the filesystem of `dir` (`syncfs`).
pub(crate) fn sync_filesystem(dir: &Path) -> Result<(), WorkloadError> {
    let f = std::fs::File::open(dir)
        .map_err(|e| failed(format!("cannot open {}: {e}", dir.display())))?;
    nix::unistd::syncfs(&f).map_err(|e| failed(format!("syncfs {}: {e}", dir.display())))
}

/// The per-transaction logs `<prefix>.<pid>` and `<prefix>.<pid>.<thread>` in `dir`.
pub(crate) fn read_logs(dir: &Path, prefix: &str) -> Result<TxLog, WorkloadError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| failed(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{prefix}.")))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(WorkloadError::Output {
            what: format!(
                "pgbench's per-transaction logs ({}/{prefix}.*)",
                dir.display()
            ),
            message: "none were written".to_owned(),
        });
    }
    let mut log = TxLog::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| failed(format!("cannot read {}: {e}", f.display())))?;
        log.add(&text, &f.display().to_string())?;
    }
    Ok(log)
}

impl Workload for PgbenchWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> serde_json::Value {
        let c = &self.config;
        let sizes =
            |s: Sizes| json!({"scale": s.scale, "seconds": s.seconds, "warmup_s": s.warmup_s});
        json!({
            "tool": "pgbench",
            "builtin": self.builtin.pgbench_name(),
            "clients": c.clients,
            "jobs": c.jobs,
            "seed": c.seed,
            "quick": sizes(c.sizes(true)),
            "full": sizes(c.sizes(false)),
            "query_mode": "simple",
            "init_steps": INIT_STEPS,
            "initdb_args": INITDB_ARGS,
            "settings": c.server_settings(),
            "listen_addresses": "",
            "bindir": c.bindir,
            "user": c.user,
            "prepare": PREPARE,
            "procedure": PROCEDURE,
            "latency": "per-transaction log (--log), exact nearest-rank",
        })
    }

    fn target(&self) -> Target {
        Target::Mount {
            mountpoint: self.mountpoint.clone(),
        }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        check(ctx.interrupted)?;
        let sizes = self.config.sizes(ctx.quick);
        let bins = PgBinaries::find(self.config.bindir.as_deref())?;
        let run_as = RunAs::resolve(&self.config.user)?;
        // Absolute: PostgreSQL's programs run in the scratch directory.
        let dir = match ctx.dir.canonicalize() {
            Ok(d) if d.is_dir() => d,
            Ok(_) => {
                return Err(failed(format!(
                    "{}: {} is not a directory",
                    self.name,
                    ctx.dir.display()
                )));
            }
            Err(e) => {
                return Err(failed(format!(
                    "{}: directory {}: {e}",
                    self.name,
                    ctx.dir.display()
                )));
            }
        };
        if run_as.switches() {
            run_as.check_traversable(&dir)?;
        }
        let datadir = make_datadir(&dir, &run_as)?;
        // Declared before the server: dropped after it has stopped.
        let scratch = scratch_dir(&run_as)?;
        let scratch_path = scratch.path();

        let initdb = {
            let mut cmd = pg_command(&bins, "initdb", &run_as, scratch_path);
            cmd.arg("-D").arg(&datadir).args(INITDB_ARGS);
            run_to_end(
                cmd,
                &format!("initdb -D {}", datadir.display()),
                scratch_path,
                "initdb",
                Duration::from_secs(300),
                ctx.interrupted,
            )?
        };
        check(ctx.interrupted)?;
        let mut server = PgServer::start(
            &bins,
            &run_as,
            &datadir,
            scratch_path,
            &self.config.server_settings(),
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
            sizes.scale.to_string(),
        ];
        let init = client
            .pgbench(
                "init",
                &init_args,
                Duration::from_secs(300 + 30 * u64::from(sizes.scale)),
            )
            .map_err(with_log)?;
        if sizes.warmup_s > 0 {
            client
                .pgbench(
                    "warmup",
                    &self.run_args(sizes.warmup_s, self.config.seed.wrapping_add(1), None),
                    Duration::from_secs(u64::from(sizes.warmup_s) + 120),
                )
                .map_err(with_log)?;
        }
        client.psql("prepare", PREPARE).map_err(with_log)?;
        sync_filesystem(&dir)?;
        check(ctx.interrupted)?;

        let before = ServerStats::read(&client, version).map_err(with_log)?;
        let log_prefix = "txlog";
        let args = self.run_args(
            sizes.seconds,
            self.config.seed,
            Some(&scratch_path.join(log_prefix)),
        );
        let server_cpu0 = ServerCpu::read(server.pid());
        let client_cpu0 = CpuTime::of_children().unwrap_or_default();
        let bench = client
            .pgbench(
                "measure",
                &args,
                Duration::from_secs(u64::from(sizes.seconds) + 120),
            )
            .map_err(with_log)?;
        let client_cpu1 = CpuTime::of_children().unwrap_or_default();
        let server_cpu1 = ServerCpu::read(server.pid());
        client.wait_for_sessions_to_end(Duration::from_secs(5))?;
        let after = ServerStats::read(&client, version).map_err(with_log)?;

        let what = format!(
            "pgbench's output ({})",
            scratch_path.join("measure.out").display()
        );
        let summary = Summary::parse(&bench.stdout, &what)?;
        let log = read_logs(scratch_path, log_prefix)?;
        match server.stop()? {
            Stopped::Fast | Stopped::AlreadyGone => {}
            how => eprintln!(
                "btrtune: PostgreSQL on {} needed {how:?} to stop",
                datadir.display()
            ),
        }

        let failed_tx = summary.failed.unwrap_or(0).max(log.failed);
        if failed_tx > 0 {
            return Err(failed(format!(
                "{}: {failed_tx} transactions failed (pgbench's output: {})",
                self.name,
                crate::text::tail(&bench.stdout, 1500)
            )));
        }
        let transactions = summary.transactions.ok_or_else(|| WorkloadError::Output {
            what: what.clone(),
            message: "no `number of transactions actually processed` line".to_owned(),
        })?;
        if transactions == 0 || summary.tps <= 0.0 {
            return Err(failed(format!(
                "{}: pgbench committed no transactions in {} s",
                self.name, sizes.seconds
            )));
        }
        if log.done != transactions {
            return Err(WorkloadError::Output {
                what: format!(
                    "pgbench's per-transaction logs in {}",
                    scratch_path.display()
                ),
                message: format!(
                    "{} committed transactions logged, but pgbench reports {transactions}",
                    log.done
                ),
            });
        }

        let wall = bench.elapsed.as_secs_f64();
        let CpuTime {
            user: cu,
            system: cs,
        } = client_cpu1.since(client_cpu0);
        let (su, ss) = match (&server_cpu0, &server_cpu1) {
            (Some(a), Some(b)) => b.since(a),
            _ => (Duration::ZERO, Duration::ZERO),
        };
        let runtime_s = transactions as f64 / summary.tps;
        let mut m = Measurement {
            primary: "tps".to_owned(),
            value: summary.tps,
            ops_per_s: Some(summary.tps),
            latency_ns: log.percentiles(),
            cpu_usr_pct: Some(pct(cu + su, wall)),
            cpu_sys_pct: Some(pct(cs + ss, wall)),
            runtime_s,
            ..Measurement::default()
        };
        let x = &mut m.extra;
        x.insert("transactions".into(), transactions as f64);
        x.insert("failed".into(), failed_tx as f64);
        x.insert("scale".into(), f64::from(sizes.scale));
        x.insert("clients".into(), f64::from(self.config.clients));
        x.insert("jobs".into(), f64::from(self.config.jobs));
        x.insert("seconds".into(), f64::from(sizes.seconds));
        x.insert("warmup_s".into(), f64::from(sizes.warmup_s));
        x.insert("server_version_num".into(), f64::from(version));
        if let Some(l) = summary.latency_avg_ms {
            x.insert("pgbench_latency_avg_ms".into(), l);
        }
        if let Some(c) = summary.connection_ms {
            x.insert("connection_ms".into(), c);
        }
        if let Some(cv) = log.tps_cv_pct() {
            x.insert("tps_cv_pct".into(), cv);
        }
        x.insert("initdb_s".into(), initdb.elapsed.as_secs_f64());
        x.insert("init_s".into(), init.elapsed.as_secs_f64());
        x.insert("client_cpu_usr_pct".into(), pct(cu, wall));
        x.insert("client_cpu_sys_pct".into(), pct(cs, wall));
        if server_cpu0.is_some() && server_cpu1.is_some() {
            x.insert("server_cpu_usr_pct".into(), pct(su, wall));
            x.insert("server_cpu_sys_pct".into(), pct(ss, wall));
        }
        let wal_bytes = after.wal_lsn.saturating_sub(before.wal_lsn);
        x.insert("wal_bytes".into(), wal_bytes as f64);
        x.insert(
            "wal_bytes_per_tx".into(),
            wal_bytes as f64 / transactions as f64,
        );
        x.insert(
            "checkpoints".into(),
            after.checkpoints.saturating_sub(before.checkpoints) as f64,
        );
        if let (Some(a), Some(b)) = (before.wal, after.wal) {
            let syncs = b.sync.saturating_sub(a.sync);
            x.insert(
                "wal_records".into(),
                b.records.saturating_sub(a.records) as f64,
            );
            x.insert("wal_fpi".into(), b.fpi.saturating_sub(a.fpi) as f64);
            x.insert("wal_write".into(), b.write.saturating_sub(a.write) as f64);
            x.insert("wal_sync".into(), syncs as f64);
            x.insert("wal_sync_per_tx".into(), syncs as f64 / transactions as f64);
            if syncs > 0 {
                x.insert(
                    "wal_sync_mean_us".into(),
                    (b.sync_time_ms - a.sync_time_ms).max(0.0) * 1000.0 / syncs as f64,
                );
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_and_identity() {
        let w = PgbenchWorkload::mount("tpcb", "/data", PgbenchConfig::default()).unwrap();
        assert_eq!(w.name(), "pgbench-tpcb");
        let a = w.run_args(30, 1, Some(Path::new("/tmp/x/txlog"))).join(" ");
        assert_eq!(
            a,
            "-n -b tpcb-like -M simple -c 4 -j 2 -T 30 --random-seed=1 --log --log-prefix=/tmp/x/txlog"
        );
        let p = w.params();
        assert_eq!(p["full"]["scale"], 10);
        assert_eq!(p["quick"]["seconds"], 3);
        assert_eq!(p["settings"]["synchronous_commit"], "on");
        let other = PgbenchWorkload::mount(
            "tpcb",
            "/data",
            PgbenchConfig {
                clients: 8,
                ..PgbenchConfig::default()
            },
        )
        .unwrap();
        assert_ne!(other.params(), p, "the parameters are part of the identity");
        let e = PgbenchWorkload::mount(
            "tpcb",
            "/data",
            PgbenchConfig {
                jobs: 9,
                ..PgbenchConfig::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("pgbench=tpcb: parameters: jobs = 9"), "{e}");
    }

    #[test]
    fn a_missing_dir_or_an_interrupt_stops_before_anything_starts() {
        let w = PgbenchWorkload::mount("select-only", "/data", PgbenchConfig::default()).unwrap();
        let interrupted = AtomicBool::new(false);
        let ctx = RunContext {
            dir: Path::new("/nonexistent/btrtune"),
            device: Path::new("/dev/null"),
            quick: true,
            interrupted: &interrupted,
        };
        let e = w.run(&ctx).unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/btrtune") || e.contains("PostgreSQL"),
            "{e}"
        );
        interrupted.store(true, Ordering::SeqCst);
        assert!(matches!(w.run(&ctx), Err(WorkloadError::Interrupted)));
    }
}
