//! Every workload by kind and name, and how to make one from a spec.
//!
//! A spec is what a matrix's `[[workload]]` table or `btrtune workload run` names: a kind
//! (`fio`, `wal`, ...), a name within it (`randwrite-4k-fsync`, `postgresql`, ...) and
//! parameters (`clients = 8`). Each kind checks its own parameters and says which it takes.

use crate::{Target, Workload, WorkloadError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workload as a matrix or the command line names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// The kind: one of [`KINDS`].
    pub kind: String,
    /// The name within the kind.
    pub name: String,
    /// Parameters, checked by the kind.
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// One entry of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Kind.
    pub kind: &'static str,
    /// Name within the kind.
    pub name: &'static str,
    /// The real program or activity it stands for.
    pub stands_for: &'static str,
}

/// The kinds of workload, in the order they are listed.
pub const KINDS: &[&str] = &[
    "fio",
    "wal",
    "containers",
    "devtree",
    "pgbench",
    "pgsnapshot",
];

impl WorkloadSpec {
    /// A spec from a table with exactly one kind key (`fio = "randwrite-4k-fsync"`,
    /// `wal = "postgresql"`) whose other keys are parameters.
    pub fn from_table(table: &Map<String, Value>) -> Result<WorkloadSpec, String> {
        let kinds: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| table.contains_key(*k))
            .collect();
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                return Err(format!(
                    "a workload needs one of the keys {} (e.g. `fio = \"randwrite-4k-fsync\"`)",
                    KINDS.join(", ")
                ));
            }
            many => {
                return Err(format!(
                    "a workload has one kind; this one names {}",
                    many.join(" and ")
                ));
            }
        };
        let name = match &table[kind] {
            Value::String(s) => s.clone(),
            other => return Err(format!("`{kind}` must be a name in quotes, not {other}")),
        };
        let params = table
            .iter()
            .filter(|(k, _)| k.as_str() != kind)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(WorkloadSpec {
            kind: kind.to_string(),
            name,
            params,
        })
    }

    /// `kind=name` plus parameters, for messages.
    pub fn label(&self) -> String {
        let mut s = format!("{}={}", self.kind, self.name);
        for (k, v) in &self.params {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

/// Makes the workload a spec names, running at `target`.
pub fn build(spec: &WorkloadSpec, target: Target) -> Result<Box<dyn Workload>, WorkloadError> {
    match spec.kind.as_str() {
        "fio" => {
            let p = params::<FioParams>(spec)?;
            let w = match target {
                Target::Mount { mountpoint } => {
                    crate::fio::FioWorkload::mount(&spec.name, mountpoint)?
                }
                Target::Device => crate::fio::FioWorkload::device(&spec.name)?,
            };
            let mut full = w.sizing(false);
            if let Some(s) = p.full_runtime_s {
                if !(1..=86_400).contains(&s) {
                    return Err(WorkloadError::Failed(format!(
                        "{}: full_runtime_s = {s} must be 1..=86400 seconds",
                        spec.label()
                    )));
                }
                full.runtime_s = s;
            }
            if let Some(m) = p.full_size_mib {
                if !(1..=1 << 20).contains(&m) {
                    return Err(WorkloadError::Failed(format!(
                        "{}: full_size_mib = {m} must be 1..=1048576 MiB",
                        spec.label()
                    )));
                }
                full.size_bytes = m * 1024 * 1024;
            }
            let quick = w.sizing(true);
            Ok(Box::new(w.with_sizes(quick, full)))
        }
        "pgbench" => {
            let config = params::<crate::pgbench::PgbenchConfig>(spec)?;
            match target {
                Target::Mount { mountpoint } => Ok(Box::new(
                    crate::pgbench::PgbenchWorkload::mount(&spec.name, mountpoint, config)?,
                )),
                Target::Device => Err(WorkloadError::Failed(format!(
                    "{}: pgbench runs PostgreSQL in a directory of the layout, not on a raw device",
                    spec.label()
                ))),
            }
        }
        "pgsnapshot" => {
            let config = params::<crate::pgsnapshot::PgsnapshotConfig>(spec)?;
            match target {
                Target::Mount { mountpoint } => Ok(Box::new(
                    crate::pgsnapshot::PgsnapshotWorkload::mount(&spec.name, mountpoint, config)?,
                )),
                Target::Device => Err(WorkloadError::Failed(format!(
                    "{}: pgsnapshot snapshots a btrfs subvolume, not a raw device",
                    spec.label()
                ))),
            }
        }
        "devtree" => {
            let config = params::<crate::devtree::DevtreeConfig>(spec)?;
            match target {
                Target::Mount { mountpoint } => Ok(Box::new(
                    crate::devtree::DevtreeWorkload::mount(&spec.name, config, mountpoint)?,
                )),
                Target::Device => Err(WorkloadError::Failed(format!(
                    "{}: dev-tree churn runs in a directory of a mounted layout, not on a raw device",
                    spec.label()
                ))),
            }
        }
        "containers" => Ok(Box::new(crate::containers::ContainersWorkload::from_spec(
            spec, target,
        )?)),
        "wal" => Ok(Box::new(crate::wal::WalWorkload::from_spec(spec, target)?)),
        other => Err(WorkloadError::Failed(format!(
            "unknown workload kind `{other}`; kinds: {}",
            KINDS.join(", ")
        ))),
    }
}

/// Every workload there is.
pub fn catalogue() -> Vec<Entry> {
    let mut v: Vec<Entry> = crate::fio::JOBS
        .iter()
        .map(|j| Entry {
            kind: "fio",
            name: j.name,
            stands_for: j.stands_for,
        })
        .collect();
    v.extend(extra_entries());
    v
}

/// The catalogue entries of the kinds other than fio.
fn extra_entries() -> Vec<Entry> {
    let mut v = Vec::new();
    v.extend(crate::pgbench::BUILTINS.iter().map(|b| Entry {
        kind: "pgbench",
        name: b.name(),
        stands_for: b.stands_for(),
    }));
    v.extend(crate::pgsnapshot::entries());
    v.extend(crate::containers::entries());
    v.extend(crate::devtree::catalogue());
    v.extend(crate::wal::entries());
    v
}

/// A fio job's parameters: its full-run sizing (quick runs keep the CI sizes).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FioParams {
    /// Measured seconds of a full run (the job's default: 30).
    full_runtime_s: Option<u32>,
    /// File or region size of a full run, in MiB.
    full_size_mib: Option<u64>,
}

/// Deserialises a kind's parameters, naming the workload in errors. Use with
/// `#[serde(deny_unknown_fields)]` structs with defaults.
pub fn params<T: serde::de::DeserializeOwned>(spec: &WorkloadSpec) -> Result<T, WorkloadError> {
    serde_json::from_value(Value::Object(spec.params.clone()))
        .map_err(|e| WorkloadError::Failed(format!("{}={}: parameters: {e}", spec.kind, spec.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_table_names_one_kind() {
        let s =
            WorkloadSpec::from_table(&table(json!({"wal": "postgresql", "clients": 8}))).unwrap();
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("wal", "postgresql"));
        assert_eq!(s.params["clients"], 8);
        assert_eq!(s.label(), "wal=postgresql clients=8");
        let e = WorkloadSpec::from_table(&table(json!({"clients": 8}))).unwrap_err();
        assert!(e.contains("needs one of the keys"), "{e}");
        let e = WorkloadSpec::from_table(&table(json!({"fio": "a", "wal": "b"}))).unwrap_err();
        assert!(e.contains("fio and wal"), "{e}");
        let e = WorkloadSpec::from_table(&table(json!({"fio": 3}))).unwrap_err();
        assert!(e.contains("in quotes"), "{e}");
    }

    #[test]
    fn fio_specs_build_and_take_no_parameters() {
        let mount = Target::Mount {
            mountpoint: "/data".into(),
        };
        let s = WorkloadSpec::from_table(&table(json!({"fio": "randwrite-4k-fsync"}))).unwrap();
        assert_eq!(
            build(&s, mount.clone()).unwrap().name(),
            "fio-randwrite-4k-fsync"
        );
        assert!(build(&s, Target::Device).is_ok());
        let s = WorkloadSpec::from_table(&table(json!({"fio": "smallfile-create"}))).unwrap();
        assert!(build(&s, Target::Device).is_err(), "not a device job");
        let s =
            WorkloadSpec::from_table(&table(json!({"fio": "randwrite-4k-fsync", "x": 1}))).unwrap();
        let e = build(&s, mount.clone()).err().unwrap().to_string();
        assert!(e.contains("unknown field `x`"), "{e}");
        let s = WorkloadSpec::from_table(&table(
            json!({"fio": "randwrite-4k-fsync", "full_runtime_s": 10, "full_size_mib": 64}),
        ))
        .unwrap();
        let w = build(&s, mount.clone()).unwrap();
        assert_eq!(w.params()["full"]["runtime_s"], 10);
        assert_eq!(w.params()["full"]["size_bytes"], 64 << 20);
        assert_eq!(
            w.params()["quick"]["runtime_s"],
            3,
            "quick runs keep the CI sizes"
        );
        let s = WorkloadSpec::from_table(&table(
            json!({"fio": "randwrite-4k-fsync", "full_runtime_s": 0}),
        ))
        .unwrap();
        let e = build(&s, mount.clone()).err().unwrap().to_string();
        assert!(e.contains("full_runtime_s = 0"), "{e}");
        let s = WorkloadSpec {
            kind: "zfs".into(),
            name: "x".into(),
            params: Map::new(),
        };
        let e = build(&s, mount).err().unwrap().to_string();
        assert!(e.contains("unknown workload kind"), "{e}");
        assert!(
            catalogue()
                .iter()
                .any(|e| e.kind == "fio" && e.name == "seqread-128k")
        );
    }

    #[test]
    fn pgbench_specs_build_with_checked_parameters() {
        let mount = Target::Mount {
            mountpoint: "/data".into(),
        };
        let s = WorkloadSpec::from_table(&table(json!({"pgbench": "tpcb", "clients": 8}))).unwrap();
        let w = build(&s, mount.clone()).unwrap();
        assert_eq!(w.name(), "pgbench-tpcb");
        assert_eq!(w.params()["clients"], 8);
        assert_eq!(w.target(), mount);
        let e = build(&s, Target::Device).err().unwrap().to_string();
        assert!(e.contains("not on a raw device"), "{e}");
        let s = WorkloadSpec::from_table(&table(json!({"pgbench": "tpcb", "clients": 0}))).unwrap();
        let e = build(&s, mount.clone()).err().unwrap().to_string();
        assert!(e.contains("clients = 0"), "{e}");
        let s = WorkloadSpec::from_table(&table(json!({"pgbench": "tpcb", "scale": 5}))).unwrap();
        let e = build(&s, mount.clone()).err().unwrap().to_string();
        assert!(
            e.contains("pgbench=tpcb") && e.contains("unknown field `scale`"),
            "{e}"
        );
        let s = WorkloadSpec::from_table(&table(json!({"pgbench": "select-only"}))).unwrap();
        assert_eq!(build(&s, mount).unwrap().name(), "pgbench-select-only");
        let names: Vec<&str> = catalogue()
            .iter()
            .filter(|e| e.kind == "pgbench")
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["tpcb", "select-only", "simple-update"]);
    }
}
