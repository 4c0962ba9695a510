//! Crash consistency of btrfs snapshots of a live PostgreSQL (`pgsnapshot`): the safety
//! check behind the "WAL placement" and "DB-consistent" facts (btrfs-tuning-facts.md §2,
//! §5), run on every candidate layout.
//!
//! Per run, in the target subvolume `<dir>` (a fresh filesystem each time):
//!
//! 1. `initdb` into `<dir>/pgdata`; for the `separate-wal-*` configurations `pg_wal` goes to
//!    a second subvolume `<dir>/wal` made with `BTRFS_IOC_SUBVOL_CREATE_V2` (`initdb
//!    --waldir`; NOCOW like the target when the target is NOCOW, since a new subvolume does
//!    not inherit `+C`);
//! 2. the server (pgbench's settings, [`SNAPSHOT_SETTINGS`] on top: a small `max_wal_size`,
//!    so that checkpoints and WAL recycling run while snapshots are taken), `pgbench -i`;
//! 3. `pgbench -b tpcb-like -c CLIENTS -T SECONDS --log` in the background; at
//!    `SECONDS·k/(N+1)`, k = 1..N, a snapshot as the [`Method`] says
//!    (`BTRFS_IOC_SNAP_CREATE_V2`, writable, into `<dir>/snapshots/`);
//! 4. after pgbench: the original server is stopped (fast). Each snapshot then gets its own
//!    server (own socket directory and port) on the snapshot's `pgdata` (`postmaster.pid`
//!    removed, `pg_wal` pointed at the WAL snapshot, `backup_label` written), which runs
//!    crash recovery; then `amcheck` (`bt_index_check(heapallindexed => true)` on every
//!    btree index of the pgbench tables, `verify_heapam` on the tables with PostgreSQL ≥ 14)
//!    and pgbench's invariant: sum(abalance) = sum(bbalance) = sum(tbalance) = sum(delta),
//!    and every account row present.
//!
//! A check that fails is a result, not an error: the primary value `consistent_fraction`
//! (the fraction of snapshots that recovered and passed every check) drops below 1, the
//! counts in `extra` say which check failed, and the reason (the server's `FATAL`/`PANIC`
//! line, amcheck's message) goes to standard error. Errors are kept for the harness itself
//! failing (PostgreSQL or amcheck missing, a snapshot ioctl refused, pgbench failing).
//!
//! `extra`: `snapshots`, `recovered`, `amcheck_ok`, `invariant_ok`, `consistent`,
//! `not_recovered`, `index_check_failed`, `heap_check_failed`, `invariant_failed`,
//! `indexes_checked`, `recovery_s_p50`, `recovery_s_max`, `snapshot_ms_mean`,
//! `snapshot_ms_max`, `tps_after_snapshot_ratio` (geometric mean over the snapshots of
//! pgbench's committed transactions per second in `window_s` seconds from the snapshot's
//! start over the `window_s` seconds before it), `tps_after_snapshot_ratio_min`,
//! `history_rows_min` (transactions a snapshot held), `tps`, `transactions`, `checkpoints`,
//! `scale`, `clients`, `seconds`, `server_version_num`.
//!
//! ```
//! use btrtune_workloads::pgsnapshot::{PgsnapshotConfig, PgsnapshotWorkload};
//! use btrtune_workloads::Workload;
//!
//! let w = PgsnapshotWorkload::mount("same-subvolume", "/data", PgsnapshotConfig::default())
//!     .unwrap();
//! assert_eq!(w.name(), "pgsnapshot-same-subvolume");
//! assert!(w.needs_btrfs());
//! ```

mod check;
mod run;
mod session;

pub use check::{Invariant, SnapshotOutcome};

use crate::pgbench::config::settings_map;
use crate::pgbench::{INITDB_ARGS, PgbenchConfig};
use crate::registry::Entry;
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How the snapshot of the running database is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `pgdata` including `pg_wal` in the target subvolume; one snapshot of it, no
    /// quiescing: crash-consistent by construction.
    SameSubvolume,
    /// `pg_wal` on its own subvolume; `pg_backup_start` (fast checkpoint), snapshot of the
    /// data, `pg_backup_stop` in the same session, `backup_label` written into the data
    /// snapshot, then the WAL snapshot: PostgreSQL's documented low-level backup.
    SeparateWalBackupApi,
    /// `pg_wal` on its own subvolume; the data snapshot, then the WAL snapshot, no backup
    /// API: the two are taken at different moments, which PostgreSQL does not promise to
    /// recover from.
    SeparateWalNoBackupApi,
}

/// Every configuration, in catalogue order.
pub const METHODS: &[Method] = &[
    Method::SameSubvolume,
    Method::SeparateWalBackupApi,
    Method::SeparateWalNoBackupApi,
];

impl Method {
    /// The name in matrices (`pgsnapshot = "same-subvolume"`).
    pub fn name(self) -> &'static str {
        match self {
            Method::SameSubvolume => "same-subvolume",
            Method::SeparateWalBackupApi => "separate-wal-backup-api",
            Method::SeparateWalNoBackupApi => "separate-wal-no-backup-api",
        }
    }

    /// What it stands for.
    pub fn stands_for(self) -> &'static str {
        match self {
            Method::SameSubvolume => {
                "a snapper/btrbk snapshot of a PostgreSQL subvolume holding pgdata and pg_wal, \
                 taken under load: crash-consistent?"
            }
            Method::SeparateWalBackupApi => {
                "pg_wal on its own subvolume, snapshots between pg_backup_start and \
                 pg_backup_stop: the documented low-level backup"
            }
            Method::SeparateWalNoBackupApi => {
                "pg_wal on its own subvolume, data and WAL snapshotted one after the other \
                 without the backup API"
            }
        }
    }

    /// True when `pg_wal` is on a second subvolume.
    pub fn separate_wal(self) -> bool {
        !matches!(self, Method::SameSubvolume)
    }

    /// The configuration named `name`.
    pub fn from_name(name: &str) -> Result<Method, WorkloadError> {
        METHODS
            .iter()
            .copied()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                WorkloadError::Failed(format!(
                    "unknown pgsnapshot workload `{name}`; there are: {}",
                    METHODS
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// The catalogue entries.
pub fn entries() -> Vec<Entry> {
    METHODS
        .iter()
        .map(|m| Entry {
            kind: "pgsnapshot",
            name: m.name(),
            stands_for: m.stands_for(),
        })
        .collect()
}

/// Settings on top of pgbench's [`DEFAULT_SETTINGS`](crate::pgbench::DEFAULT_SETTINGS): a
/// `max_wal_size` small enough that WAL-triggered checkpoints (writing data files) and WAL
/// segment recycling run during the load, so that snapshots land in the middle of them.
pub const SNAPSHOT_SETTINGS: &[(&str, &str)] =
    &[("max_wal_size", "64MB"), ("min_wal_size", "32MB")];

/// The parameters of a `pgsnapshot` workload. Unknown keys are errors.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgsnapshotConfig {
    /// The directory with `initdb`, `postgres`, `pgbench` and `psql`.
    pub bindir: Option<PathBuf>,
    /// The account PostgreSQL runs as when btrtune is root.
    pub user: String,
    /// `pgbench -c` (4).
    pub clients: u32,
    /// `pgbench -j` (2).
    pub jobs: u32,
    /// Scale of quick runs (2).
    pub quick_scale: u32,
    /// pgbench seconds of quick runs (6).
    pub quick_seconds: u32,
    /// Scale of full runs (5: about 80 MiB; with the small `max_wal_size` checkpoints
    /// write data pages during the load).
    pub full_scale: u32,
    /// pgbench seconds of full runs (12).
    pub full_seconds: u32,
    /// Snapshots per run (2), evenly spaced through the pgbench run.
    pub snapshots: u32,
    /// Seconds before and after each snapshot compared for `tps_after_snapshot_ratio` (3;
    /// shortened to fit between snapshots).
    pub window_s: u32,
    /// `pgbench --random-seed` (1).
    pub seed: u64,
    /// Server settings on top of pgbench's defaults and [`SNAPSHOT_SETTINGS`].
    #[serde(deserialize_with = "settings_map")]
    pub settings: BTreeMap<String, String>,
}

impl Default for PgsnapshotConfig {
    fn default() -> Self {
        Self {
            bindir: None,
            user: "postgres".to_owned(),
            clients: 4,
            jobs: 2,
            quick_scale: 2,
            quick_seconds: 6,
            full_scale: 5,
            full_seconds: 12,
            snapshots: 2,
            window_s: 3,
            seed: 1,
            settings: BTreeMap::new(),
        }
    }
}

impl PgsnapshotConfig {
    /// The equivalent pgbench parameters (for their checks and the server settings).
    fn pgbench(&self) -> PgbenchConfig {
        let mut settings: BTreeMap<String, String> = SNAPSHOT_SETTINGS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        settings.extend(self.settings.clone());
        PgbenchConfig {
            bindir: self.bindir.clone(),
            user: self.user.clone(),
            clients: self.clients,
            jobs: self.jobs,
            quick_scale: self.quick_scale,
            quick_seconds: self.quick_seconds,
            quick_warmup_s: 0,
            full_scale: self.full_scale,
            full_seconds: self.full_seconds,
            full_warmup_s: 0,
            seed: self.seed,
            settings,
        }
    }

    /// Checks every range.
    pub fn validate(&self) -> Result<(), String> {
        self.pgbench().validate()?;
        if !(1..=10).contains(&self.snapshots) {
            return Err(format!("snapshots = {}: must be 1 to 10", self.snapshots));
        }
        if !(1..=60).contains(&self.window_s) {
            return Err(format!("window_s = {}: must be 1 to 60", self.window_s));
        }
        for (what, s) in [
            ("quick_seconds", self.quick_seconds),
            ("full_seconds", self.full_seconds),
        ] {
            if s < 2 * (self.snapshots + 1) {
                return Err(format!(
                    "{what} = {s}: must leave at least 2 s around each of the {} snapshots",
                    self.snapshots
                ));
            }
        }
        Ok(())
    }

    /// (scale, seconds) of a quick or full run.
    fn sizes(&self, quick: bool) -> (u32, u32) {
        if quick {
            (self.quick_scale, self.quick_seconds)
        } else {
            (self.full_scale, self.full_seconds)
        }
    }
}

/// What the per-run steps are, recorded with the parameters.
const PROCEDURE: &str = "initdb (--waldir on a second subvolume for separate-wal-*); postgres -c ...; \
     pgbench -i -s SCALE -I dtgvp; CHECKPOINT; pgbench -n -b tpcb-like -T SECONDS --log in the \
     background, snapshots at SECONDS*k/(N+1); fast shutdown; per snapshot: postgres on the \
     writable snapshot (crash recovery), CREATE EXTENSION amcheck, bt_index_check(heapallindexed) \
     on the pgbench btree indexes, verify_heapam on the pgbench tables, balance sums; fast shutdown";

/// The snapshot crash-consistency check of one [`Method`] in the layout's directory.
#[derive(Clone, Debug)]
pub struct PgsnapshotWorkload {
    method: Method,
    mountpoint: String,
    config: PgsnapshotConfig,
    name: String,
}

impl PgsnapshotWorkload {
    /// The configuration named `name` in the layout's directory at `mountpoint`.
    pub fn mount(
        name: &str,
        mountpoint: impl Into<String>,
        config: PgsnapshotConfig,
    ) -> Result<Self, WorkloadError> {
        let method = Method::from_name(name)?;
        config.validate().map_err(|m| {
            WorkloadError::Failed(format!("pgsnapshot={}: parameters: {m}", method.name()))
        })?;
        Ok(Self {
            method,
            mountpoint: mountpoint.into(),
            config,
            name: format!("pgsnapshot-{}", method.name()),
        })
    }

    /// The configuration.
    pub fn method(&self) -> Method {
        self.method
    }
}

impl Workload for PgsnapshotWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> serde_json::Value {
        let c = &self.config;
        let (qs, qt) = c.sizes(true);
        let (fs, ft) = c.sizes(false);
        json!({
            "tool": "pgbench",
            "builtin": "tpcb-like",
            "method": self.method.name(),
            "wal": if self.method.separate_wal() { "own subvolume <dir>/wal" } else { "in pgdata" },
            "backup_api": self.method == Method::SeparateWalBackupApi,
            "clients": c.clients,
            "jobs": c.jobs,
            "seed": c.seed,
            "snapshots": c.snapshots,
            "window_s": c.window_s,
            "quick": {"scale": qs, "seconds": qt},
            "full": {"scale": fs, "seconds": ft},
            "initdb_args": INITDB_ARGS,
            "settings": c.pgbench().server_settings(),
            "bindir": c.bindir,
            "user": c.user,
            "snapshot": "BTRFS_IOC_SNAP_CREATE_V2, writable",
            "checks": ["recovery", "bt_index_check(heapallindexed)", "verify_heapam", "balance sums"],
            "procedure": PROCEDURE,
        })
    }

    fn target(&self) -> Target {
        Target::Mount {
            mountpoint: self.mountpoint.clone(),
        }
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        run::run(self, ctx)
    }

    fn needs_btrfs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parameters_and_identity() {
        for m in METHODS {
            let w =
                PgsnapshotWorkload::mount(m.name(), "/data", PgsnapshotConfig::default()).unwrap();
            assert_eq!(w.name(), format!("pgsnapshot-{}", m.name()));
            assert_eq!(w.params()["method"], m.name());
            assert!(w.needs_btrfs());
        }
        let e = PgsnapshotWorkload::mount("lvm", "/data", PgsnapshotConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("same-subvolume, separate-wal-backup-api"), "{e}");
        let w =
            PgsnapshotWorkload::mount("same-subvolume", "/d", PgsnapshotConfig::default()).unwrap();
        let p = w.params();
        assert_eq!(p["settings"]["max_wal_size"], "64MB");
        assert_eq!(p["settings"]["full_page_writes"], "on");
        assert_eq!(p["full"]["scale"], 5);
        let e = PgsnapshotWorkload::mount(
            "same-subvolume",
            "/d",
            PgsnapshotConfig {
                snapshots: 4,
                quick_seconds: 6,
                ..PgsnapshotConfig::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("quick_seconds = 6"), "{e}");
        let e = PgsnapshotWorkload::mount(
            "same-subvolume",
            "/d",
            PgsnapshotConfig {
                clients: 0,
                ..PgsnapshotConfig::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("clients = 0"), "{e}");
        assert_eq!(entries().len(), 3);
    }

    #[test]
    fn the_registry_builds_it_for_mounts_only() {
        let mut params = serde_json::Map::new();
        params.insert("pgsnapshot".into(), json!("separate-wal-backup-api"));
        params.insert("window_s".into(), json!(2));
        let spec = crate::WorkloadSpec::from_table(&params).unwrap();
        let mount = Target::Mount {
            mountpoint: "/data".into(),
        };
        let w = crate::build(&spec, mount.clone()).unwrap();
        assert_eq!(w.name(), "pgsnapshot-separate-wal-backup-api");
        assert_eq!(w.params()["window_s"], 2);
        assert!(w.needs_btrfs());
        let e = crate::build(&spec, Target::Device)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a raw device"), "{e}");
        params.insert("scale".into(), json!(3));
        let spec = crate::WorkloadSpec::from_table(&params).unwrap();
        let e = crate::build(&spec, mount).err().unwrap().to_string();
        assert!(e.contains("unknown field `scale`"), "{e}");
        assert!(
            crate::catalogue()
                .iter()
                .any(|e| e.kind == "pgsnapshot" && e.name == "same-subvolume")
        );
    }
}
