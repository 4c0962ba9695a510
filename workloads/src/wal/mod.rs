//! Synthetic write-ahead-log writers: the commit path of PostgreSQL, SQLite and InnoDB as
//! real files and real syscalls, replayed at the syscall shapes their straces show
//! (`shared/docs/benchmark-method.md` §3.1–3.3). fio cannot do this: it never rewrites the
//! partly filled tail page of a log, which is what fragments a copy-on-write WAL.
//!
//! Kind `wal`, names:
//!
//! | name | workload `name()` | stands for | config |
//! | --- | --- | --- | --- |
//! | `postgresql` | `wal-postgresql` | pgbench TPC-B against PostgreSQL: 8 KiB tail-page rewrites + `fdatasync` per commit, group commit, 16 MiB segments, background writer, checkpoints | [`PgConfig`] |
//! | `sqlite` | `wal-sqlite` | one SQLite connection in WAL mode: 24 + 4096-byte frame writes, `fdatasync` per commit with `synchronous=FULL`, checkpoints | [`SqliteConfig`] |
//! | `innodb` | `wal-innodb` | MySQL InnoDB: 512-byte redo blocks padded to 8 KiB write-ahead, `fsync` per commit, 32 circular redo files, doublewrite | [`InnodbConfig`] |
//!
//! Every run measures `commits_per_s` (the primary value, higher is better) after a
//! warm-up, commit latency (start of the commit to durable) and sync latency percentiles,
//! WAL bytes per second, CPU time, and per-profile counts in `extra`. Each profile leaves
//! its files in the directory for the harness to inspect.
//!
//! ```
//! use btrtune_workloads::wal::{PgConfig, Profile, WalWorkload};
//! use btrtune_workloads::Workload;
//!
//! let w = WalWorkload::new(Profile::Postgresql(PgConfig { clients: 8, ..PgConfig::default() }), "/data")
//!     .unwrap();
//! assert_eq!(w.name(), "wal-postgresql");
//! assert_eq!(w.params()["clients"], 8);
//! ```
//!
//! [`strace`] parses `strace -f -y` output into the shape summaries the tests compare
//! against the fixtures in `shared/corpus/`.

mod control;
mod doublewrite;
mod group_commit;
mod innodb;
mod io;
mod postgresql;
mod segments;
mod sqlite;
pub mod strace;
mod tables;

pub use innodb::{FlushMethod, InnodbConfig};
pub use postgresql::{PgConfig, SyncMethod};
pub use sqlite::{SqliteConfig, Synchronous};

use crate::latency::Latencies;
use crate::registry::{self, Entry, WorkloadSpec};
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use control::{Control, Timing};
use std::collections::BTreeMap;
use std::thread::ScopedJoinHandle;
use std::time::Duration;

/// Bumped when a profile's I/O changes, so that results of different versions are not
/// compared (it is part of [`Workload::params`]).
pub const MODEL_VERSION: u32 = 1;

/// The names of kind `wal` and what each stands for.
pub const PROFILES: &[(&str, &str)] = &[
    (
        "postgresql",
        "PostgreSQL WAL under pgbench (TPC-B): tail-page rewrites, fdatasync per commit, group commit, segments, checkpoints",
    ),
    (
        "sqlite",
        "SQLite in WAL mode: 24+4096-byte frames, fdatasync per commit (synchronous=FULL), checkpoints into the db file",
    ),
    (
        "innodb",
        "MySQL InnoDB redo log: 512-byte blocks, 8 KiB write-ahead, fsync per commit, doublewrite of 16 KiB pages",
    ),
];

/// A profile with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Profile {
    /// `wal=postgresql`.
    Postgresql(PgConfig),
    /// `wal=sqlite`.
    Sqlite(SqliteConfig),
    /// `wal=innodb`.
    Innodb(InnodbConfig),
}

impl Profile {
    /// The name within kind `wal`.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Postgresql(_) => "postgresql",
            Profile::Sqlite(_) => "sqlite",
            Profile::Innodb(_) => "innodb",
        }
    }

    /// The profile `name` with the parameters of `spec` (defaults for the rest).
    pub fn from_spec(spec: &WorkloadSpec) -> Result<Profile, WorkloadError> {
        let profile = match spec.name.as_str() {
            "postgresql" => Profile::Postgresql(registry::params(spec)?),
            "sqlite" => Profile::Sqlite(registry::params(spec)?),
            "innodb" => Profile::Innodb(registry::params(spec)?),
            other => {
                let names: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
                return Err(WorkloadError::Failed(format!(
                    "unknown wal workload `{other}`; names: {}",
                    names.join(", ")
                )));
            }
        };
        profile.validate(&spec.label())?;
        Ok(profile)
    }

    fn validate(&self, label: &str) -> Result<(), WorkloadError> {
        match self {
            Profile::Postgresql(c) => c.validate(label),
            Profile::Sqlite(c) => c.validate(label),
            Profile::Innodb(c) => c.validate(label),
        }
    }
}

/// A WAL profile as a [`Workload`]; it runs in a directory ([`Target::Mount`]) only.
#[derive(Clone, Debug)]
pub struct WalWorkload {
    profile: Profile,
    name: String,
    target: Target,
}

impl WalWorkload {
    /// `profile` run in a directory of the layout mounted at `mountpoint`; checks the
    /// parameters.
    pub fn new(profile: Profile, mountpoint: impl Into<String>) -> Result<Self, WorkloadError> {
        profile.validate(&format!("wal={}", profile.name()))?;
        Ok(Self {
            name: format!("wal-{}", profile.name()),
            profile,
            target: Target::Mount {
                mountpoint: mountpoint.into(),
            },
        })
    }

    /// The workload a spec of kind `wal` names, at `target` (which must be a mount).
    pub fn from_spec(spec: &WorkloadSpec, target: Target) -> Result<Self, WorkloadError> {
        let profile = Profile::from_spec(spec)?;
        match target {
            Target::Mount { mountpoint } => Self::new(profile, mountpoint),
            Target::Device => Err(WorkloadError::Failed(format!(
                "{}: the WAL writers work on files in a directory and cannot run on a raw device",
                spec.label()
            ))),
        }
    }

    /// The profile and its parameters.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
}

impl Workload for WalWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> serde_json::Value {
        let config = match &self.profile {
            Profile::Postgresql(c) => serde_json::to_value(c),
            Profile::Sqlite(c) => serde_json::to_value(c),
            Profile::Innodb(c) => serde_json::to_value(c),
        };
        let mut v = match config {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        v.insert("kind".into(), "wal".into());
        v.insert("profile".into(), self.profile.name().into());
        v.insert("model_version".into(), MODEL_VERSION.into());
        serde_json::Value::Object(v)
    }

    fn target(&self) -> Target {
        self.target.clone()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        let r = match &self.profile {
            Profile::Postgresql(c) => postgresql::run(c, ctx),
            Profile::Sqlite(c) => sqlite::run(c, ctx),
            Profile::Innodb(c) => innodb::run(c, ctx),
        };
        r.map_err(|e| match e {
            WorkloadError::Failed(m) => WorkloadError::Failed(format!("{}: {m}", self.name)),
            other => other,
        })
    }
}

/// The catalogue entries of kind `wal`.
pub fn entries() -> Vec<Entry> {
    PROFILES
        .iter()
        .map(|(name, stands_for)| Entry {
            kind: "wal",
            name,
            stands_for,
        })
        .collect()
}

/// Run and warm-up lengths of quick and full runs (flat parameters of every profile).
#[derive(Clone, Copy, Debug)]
struct RunLength {
    quick_runtime_s: f64,
    full_runtime_s: f64,
    quick_warmup_s: f64,
    full_warmup_s: f64,
}

impl RunLength {
    fn validate(&self, label: &str) -> Result<(), WorkloadError> {
        in_range(
            label,
            "quick_runtime_s",
            self.quick_runtime_s,
            0.1,
            86_400.0,
        )?;
        in_range(label, "full_runtime_s", self.full_runtime_s, 0.1, 86_400.0)?;
        in_range(label, "quick_warmup_s", self.quick_warmup_s, 0.0, 3_600.0)?;
        in_range(label, "full_warmup_s", self.full_warmup_s, 0.0, 3_600.0)
    }

    /// (warm-up, measured time).
    fn lengths(&self, quick: bool) -> (Duration, Duration) {
        let (w, r) = if quick {
            (self.quick_warmup_s, self.quick_runtime_s)
        } else {
            (self.full_warmup_s, self.full_runtime_s)
        };
        (Duration::from_secs_f64(w), Duration::from_secs_f64(r))
    }
}

/// `name` must be in `lo..=hi`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    label: &str,
    name: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), WorkloadError> {
    // `!(a <= b)` and not `a > b`, so that NaN is out of range too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(lo <= v && v <= hi) {
        return Err(WorkloadError::Failed(format!(
            "{label}: {name} must be from {lo} to {hi} (got {v})"
        )));
    }
    Ok(())
}

/// Joins worker threads that ran under [`Control::guard`]; a panicked one becomes an error.
fn join_all<T>(handles: Vec<ScopedJoinHandle<'_, Option<T>>>, ctl: &Control) -> Vec<T> {
    handles
        .into_iter()
        .filter_map(|h| match h.join() {
            Ok(v) => v,
            Err(_) => {
                ctl.fail(WorkloadError::Failed("a worker thread panicked".to_owned()));
                None
            }
        })
        .collect()
}

/// The common part of every profile's measurement.
fn measurement(
    commits: u64,
    wal_bytes: u64,
    timing: &Timing,
    commit_latency: &Latencies,
    sync_latency: &Latencies,
    extra: BTreeMap<String, f64>,
) -> Measurement {
    let secs = timing.runtime_s.max(1e-9);
    let rate = commits as f64 / secs;
    Measurement {
        primary: "commits_per_s".to_owned(),
        value: rate,
        ops_per_s: Some(rate),
        bytes_per_s: Some(wal_bytes as f64 / secs),
        latency_ns: commit_latency.percentiles(),
        sync_latency_ns: sync_latency.percentiles(),
        cpu_usr_pct: Some(timing.cpu_usr_pct),
        cpu_sys_pct: Some(timing.cpu_sys_pct),
        runtime_s: timing.runtime_s,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, params: serde_json::Value) -> WorkloadSpec {
        WorkloadSpec {
            kind: "wal".into(),
            name: name.into(),
            params: match params {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            },
        }
    }

    fn mount() -> Target {
        Target::Mount {
            mountpoint: "/data".into(),
        }
    }

    #[test]
    fn specs_build_with_checked_parameters() {
        for (name, _) in PROFILES {
            let w = WalWorkload::from_spec(&spec(name, json!({})), mount()).unwrap();
            assert_eq!(w.name(), format!("wal-{name}"));
            assert_eq!(w.params()["profile"], *name);
            assert_eq!(w.params()["model_version"], MODEL_VERSION);
            assert!(w.params()["quick_runtime_s"].as_f64().unwrap() > 0.0);
            assert!(w.params()["full_runtime_s"].as_f64().unwrap() > 0.0);
            assert_eq!(w.target(), mount());
            let e = WalWorkload::from_spec(&spec(name, json!({})), Target::Device).unwrap_err();
            assert!(e.to_string().contains("raw device"), "{e}");
            let e =
                WalWorkload::from_spec(&spec(name, json!({"clinets": 8})), mount()).unwrap_err();
            assert!(
                e.to_string().contains("clinets") && e.to_string().contains(&format!("wal={name}")),
                "{e}"
            );
        }
        let w =
            WalWorkload::from_spec(&spec("postgresql", json!({"clients": 8})), mount()).unwrap();
        assert_eq!(w.params()["clients"], 8);
        let e = WalWorkload::from_spec(&spec("postgresql", json!({"clients": 0})), mount())
            .unwrap_err();
        assert!(e.to_string().contains("clients must be from 1"), "{e}");
        let e = WalWorkload::from_spec(&spec("oracle", json!({})), mount()).unwrap_err();
        assert!(e.to_string().contains("postgresql, sqlite, innodb"), "{e}");
        let w = WalWorkload::from_spec(&spec("sqlite", json!({"synchronous": "NORMAL"})), mount())
            .unwrap();
        assert_eq!(w.params()["synchronous"], "normal");
        let w = WalWorkload::from_spec(
            &spec("innodb", json!({"flush_method": "O_DIRECT"})),
            mount(),
        )
        .unwrap();
        assert_eq!(w.params()["flush_method"], "O_DIRECT");
    }

    #[test]
    fn ranges_reject_nan() {
        assert!(in_range("x", "f", f64::NAN, 0.0, 1.0).is_err());
        assert!(in_range("x", "f", 1.0, 0.0, 1.0).is_ok());
    }
}
