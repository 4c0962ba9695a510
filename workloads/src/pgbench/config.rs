//! What a pgbench run is made of: the builtin script, sizes, clients and the server settings.
//!
//! Everything here is part of the result's identity (`params()` of
//! [`PgbenchWorkload`](super::PgbenchWorkload) records all of it): two results are comparable
//! only when all of it is equal.

use crate::WorkloadError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One of pgbench's builtin scripts (`pgbench -b NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Builtin {
    /// `tpcb-like`: "TPC-B (sort of)", pgbench's default. Per transaction: three `UPDATE`s
    /// (accounts, tellers, branches), one `SELECT`, one `INSERT` into history, `COMMIT`: one
    /// WAL flush (`pwrite` + `fdatasync` of the tail page) per commit, grouped when clients
    /// commit together (benchmark-method.md §3.1).
    TpcB,
    /// `select-only`: one `SELECT` of a random account per transaction; no WAL flushes. Reads
    /// from shared buffers and the page cache: the control that layouts should not move.
    SelectOnly,
    /// `simple-update` (`pgbench -N`): tpcb-like without the tellers and branches updates, so
    /// clients do not queue on the few branch rows: the commit path itself (one WAL flush per
    /// commit) dominates. The shape of the issue-8 hand measurements.
    SimpleUpdate,
}

/// Every builtin, in catalogue order.
pub const BUILTINS: &[Builtin] = &[Builtin::TpcB, Builtin::SelectOnly, Builtin::SimpleUpdate];

impl Builtin {
    /// The name in the catalogue and in matrices (`pgbench = "tpcb"`).
    pub fn name(self) -> &'static str {
        match self {
            Builtin::TpcB => "tpcb",
            Builtin::SelectOnly => "select-only",
            Builtin::SimpleUpdate => "simple-update",
        }
    }

    /// pgbench's name for it (`-b`).
    pub fn pgbench_name(self) -> &'static str {
        match self {
            Builtin::TpcB => "tpcb-like",
            Builtin::SelectOnly => "select-only",
            Builtin::SimpleUpdate => "simple-update",
        }
    }

    /// What it stands for, for the catalogue.
    pub fn stands_for(self) -> &'static str {
        match self {
            Builtin::TpcB => {
                "real PostgreSQL + pgbench TPC-B (sort of): OLTP commits, WAL fdatasync per commit"
            }
            Builtin::SelectOnly => {
                "real PostgreSQL + pgbench select-only: cached point reads, no commits to flush"
            }
            Builtin::SimpleUpdate => {
                "real PostgreSQL + pgbench simple-update (-N): OLTP commits without branch-row \
                 contention, WAL fdatasync per commit"
            }
        }
    }

    /// The builtin named `name` (`tpcb`, `select-only`).
    pub fn from_name(name: &str) -> Result<Builtin, WorkloadError> {
        BUILTINS
            .iter()
            .copied()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                WorkloadError::Failed(format!(
                    "unknown pgbench workload `{name}`; there are: {}",
                    BUILTINS
                        .iter()
                        .map(|b| b.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// The sizes of a quick (CI) or a full (calibration) run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// `pgbench -i -s`: 100 000 accounts (about 15 MiB of table and index) per unit.
    pub scale: u32,
    /// `pgbench -T` of the measured run, in seconds.
    pub seconds: u32,
    /// `pgbench -T` of an unmeasured warm-up run before the checkpoint; 0: none.
    pub warmup_s: u32,
}

/// The parameters of a pgbench workload, as a matrix or `--param` gives them.
///
/// Unknown keys are errors. Defaults: 4 clients on 2 pgbench threads; quick runs at scale 2
/// for 3 s without warm-up, full runs at scale 10 for 30 s after a 5 s warm-up; pgbench's
/// random seed 1; the server settings of [`DEFAULT_SETTINGS`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgbenchConfig {
    /// The directory with `initdb`, `postgres`, `pgbench` and `psql`; unset: the highest
    /// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`, else `PATH`.
    pub bindir: Option<PathBuf>,
    /// The account PostgreSQL runs as when btrtune runs as root (PostgreSQL refuses root).
    /// Ignored otherwise: then it runs as the current user.
    pub user: String,
    /// `pgbench -c`: concurrent client sessions (1 to [`MAX_CLIENTS`]).
    pub clients: u32,
    /// `pgbench -j`: pgbench worker threads (1 to `clients`).
    pub jobs: u32,
    /// Scale of quick runs.
    pub quick_scale: u32,
    /// Measured seconds of quick runs.
    pub quick_seconds: u32,
    /// Warm-up seconds of quick runs.
    pub quick_warmup_s: u32,
    /// Scale of full runs.
    pub full_scale: u32,
    /// Measured seconds of full runs.
    pub full_seconds: u32,
    /// Warm-up seconds of full runs.
    pub full_warmup_s: u32,
    /// `pgbench --random-seed`: which accounts, tellers and branches the clients pick.
    pub seed: u64,
    /// Server settings added to or replacing [`DEFAULT_SETTINGS`] (`wal_recycle = "off"`).
    /// Values may be strings, numbers or booleans. The connection settings btrtune owns
    /// ([`RESERVED_SETTINGS`]) cannot be set.
    #[serde(deserialize_with = "settings_map")]
    pub settings: BTreeMap<String, String>,
}

/// At most this many clients: the server allows [`MAX_CONNECTIONS`], and psql needs one.
pub const MAX_CLIENTS: u32 = 90;

/// `max_connections` of the server.
pub const MAX_CONNECTIONS: u32 = 100;

/// The server settings every run uses, passed as `postgres -c NAME=VALUE`.
///
/// Durability exactly as shipped (`fsync`, `synchronous_commit`, `full_page_writes` on;
/// `wal_sync_method` left at its platform default, fdatasync on Linux), the stock sizes of
/// the checkpoint machinery written out so that a changed default cannot move results, and:
/// `autovacuum=off` (a worker that lands in one run and not the next is noise; runs are
/// shorter than its one-minute nap anyway) and `track_wal_io_timing=on` (the mean WAL
/// fdatasync time in `pg_stat_wal`, at the cost of two clock reads per WAL write).
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "128MB"),
    ("max_connections", "100"),
    ("fsync", "on"),
    ("synchronous_commit", "on"),
    ("full_page_writes", "on"),
    ("wal_level", "replica"),
    ("wal_buffers", "4MB"),
    ("wal_compression", "off"),
    ("wal_init_zero", "on"),
    ("wal_recycle", "on"),
    ("wal_writer_delay", "200ms"),
    ("commit_delay", "0"),
    ("checkpoint_timeout", "5min"),
    ("checkpoint_completion_target", "0.9"),
    ("max_wal_size", "1GB"),
    ("min_wal_size", "80MB"),
    ("autovacuum", "off"),
    ("track_wal_io_timing", "on"),
    ("huge_pages", "off"),
    ("log_checkpoints", "on"),
];

/// Settings btrtune sets itself to reach the server (private socket, no TCP).
pub const RESERVED_SETTINGS: &[&str] = &[
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_permissions",
    "unix_socket_group",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "max_connections",
];

impl Default for PgbenchConfig {
    fn default() -> Self {
        Self {
            bindir: None,
            user: "postgres".to_owned(),
            clients: 4,
            jobs: 2,
            quick_scale: 2,
            quick_seconds: 3,
            quick_warmup_s: 0,
            full_scale: 10,
            full_seconds: 30,
            full_warmup_s: 5,
            seed: 1,
            settings: BTreeMap::new(),
        }
    }
}

impl PgbenchConfig {
    /// The sizes of a quick or a full run.
    pub fn sizes(&self, quick: bool) -> Sizes {
        if quick {
            Sizes {
                scale: self.quick_scale,
                seconds: self.quick_seconds,
                warmup_s: self.quick_warmup_s,
            }
        } else {
            Sizes {
                scale: self.full_scale,
                seconds: self.full_seconds,
                warmup_s: self.full_warmup_s,
            }
        }
    }

    /// Checks every range; the message names the parameter and what it may be.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(format!(
                "clients = {}: must be 1 to {MAX_CLIENTS} (the server allows {MAX_CONNECTIONS} connections)",
                self.clients
            ));
        }
        if !(1..=self.clients).contains(&self.jobs) {
            return Err(format!(
                "jobs = {}: must be 1 to clients ({})",
                self.jobs, self.clients
            ));
        }
        for (what, v) in [
            ("quick_scale", self.quick_scale),
            ("full_scale", self.full_scale),
        ] {
            if !(1..=1000).contains(&v) {
                return Err(format!(
                    "{what} = {v}: must be 1 to 1000 (scale 10 is about 160 MiB)"
                ));
            }
        }
        for (what, v) in [
            ("quick_seconds", self.quick_seconds),
            ("full_seconds", self.full_seconds),
        ] {
            if !(1..=3600).contains(&v) {
                return Err(format!("{what} = {v}: must be 1 to 3600"));
            }
        }
        for (what, v) in [
            ("quick_warmup_s", self.quick_warmup_s),
            ("full_warmup_s", self.full_warmup_s),
        ] {
            if v > 600 {
                return Err(format!("{what} = {v}: must be 0 to 600"));
            }
        }
        if self.user.is_empty() || self.user == "root" {
            return Err(format!(
                "user = {:?}: PostgreSQL refuses to run as root; name an unprivileged account",
                self.user
            ));
        }
        if let Some(b) = &self.bindir
            && !b.is_absolute()
        {
            return Err(format!(
                "bindir = {}: must be an absolute path",
                b.display()
            ));
        }
        for (name, value) in &self.settings {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
            {
                return Err(format!(
                    "settings: `{name}` is not a PostgreSQL setting name (lower case, digits, `_`, `.`)"
                ));
            }
            if RESERVED_SETTINGS.contains(&name.as_str()) {
                return Err(format!(
                    "settings: `{name}` is set by btrtune itself and cannot be changed"
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "settings: the value of `{name}` contains a control character"
                ));
            }
        }
        Ok(())
    }

    /// [`DEFAULT_SETTINGS`] with `settings` applied, in name order.
    pub fn server_settings(&self) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = DEFAULT_SETTINGS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.extend(self.settings.clone());
        m
    }
}

/// Reads a map of setting values given as strings, numbers or booleans.
pub(crate) fn settings_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "on" } else { "off" }.to_owned(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "settings.{k}: expected a string, number or boolean, not {other}"
                    )));
                }
            };
            Ok((k, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<PgbenchConfig, String> {
        serde_json::from_value::<PgbenchConfig>(v).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_sizes() {
        let c = parse(json!({})).unwrap();
        assert_eq!(c, PgbenchConfig::default());
        c.validate().unwrap();
        assert_eq!(
            c.sizes(true),
            Sizes {
                scale: 2,
                seconds: 3,
                warmup_s: 0
            }
        );
        assert_eq!(c.sizes(false).scale, 10);
        assert_eq!(c.sizes(false).seconds, 30);
        let s = c.server_settings();
        assert_eq!(s["shared_buffers"], "128MB");
        assert_eq!(s["fsync"], "on");
        assert!(!s.contains_key("wal_sync_method"), "left at its default");
    }

    #[test]
    fn settings_override_and_convert() {
        let c = parse(
            json!({"settings": {"wal_recycle": false, "commit_delay": 10,
            "wal_sync_method": "open_datasync"}}),
        )
        .unwrap();
        c.validate().unwrap();
        let s = c.server_settings();
        assert_eq!(s["wal_recycle"], "off");
        assert_eq!(s["commit_delay"], "10");
        assert_eq!(s["wal_sync_method"], "open_datasync");
        let e = parse(json!({"settings": {"x": [1]}})).unwrap_err();
        assert!(e.contains("settings.x"), "{e}");
        for (bad, msg) in [
            (json!({"settings": {"port": 5}}), "set by btrtune"),
            (
                json!({"settings": {"Bad Name": "1"}}),
                "not a PostgreSQL setting",
            ),
            (json!({"settings": {"a": "x\ny"}}), "control character"),
        ] {
            let e = parse(bad).unwrap().validate().unwrap_err();
            assert!(e.contains(msg), "{e}");
        }
    }

    #[test]
    fn ranges_are_checked() {
        for (bad, msg) in [
            (json!({"clients": 0}), "clients = 0"),
            (json!({"clients": 91}), "clients = 91"),
            (json!({"clients": 2, "jobs": 3}), "jobs = 3"),
            (json!({"jobs": 0}), "jobs = 0"),
            (json!({"quick_scale": 0}), "quick_scale = 0"),
            (json!({"full_seconds": 0}), "full_seconds = 0"),
            (json!({"full_warmup_s": 601}), "full_warmup_s = 601"),
            (json!({"user": "root"}), "refuses to run as root"),
            (json!({"bindir": "bin"}), "absolute"),
        ] {
            let e = parse(bad).unwrap().validate().unwrap_err();
            assert!(e.contains(msg), "{e}");
        }
        let e = parse(json!({"client": 3})).unwrap_err();
        assert!(e.contains("unknown field `client`"), "{e}");
    }

    #[test]
    fn builtins_by_name() {
        assert_eq!(Builtin::from_name("tpcb").unwrap(), Builtin::TpcB);
        assert_eq!(
            Builtin::from_name("select-only").unwrap().pgbench_name(),
            "select-only"
        );
        let e = Builtin::from_name("tpcc").unwrap_err().to_string();
        assert!(e.contains("tpcb, select-only"), "{e}");
    }
}
