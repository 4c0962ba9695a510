//! Container layer churn (kind `containers`): what podman and CRI-O do to the disk through
//! containers-storage, replayed with two graph drivers (benchmark-method.md §3.4):
//!
//! - `containers-btrfs` ([`btrfs_driver`]): a subvolume per base layer, a snapshot per child
//!   layer and per container, in-place (copy-on-write) container writes, subvolume deletes;
//! - `containers-overlay` ([`overlay_driver`]): layers extracted into `diff` directories,
//!   container writes copying files up, `rm -rf` removals; on any filesystem (no mount).
//!
//! One round pulls an image ([`layers`]: a Debian base layer and package layers, sizes
//! measured from a real install), creates containers on it, lets each write
//! ([`churn`]), removes the containers and prunes the image ([`replay`]). Rounds repeat
//! until the time budget is spent.
//!
//! ```
//! use btrtune_workloads::containers::{ContainersConfig, ContainersWorkload, Driver};
//! use btrtune_workloads::Workload;
//! let w = ContainersWorkload::new(Driver::Overlay, ContainersConfig::default()).unwrap();
//! assert_eq!(w.name(), "containers-overlay");
//! assert!(!w.needs_btrfs());
//! ```

pub mod btrfs_driver;
pub mod churn;
pub mod content;
pub mod driver;
pub mod layers;
pub mod overlay_driver;
pub mod replay;
pub mod space;

use crate::registry::{Entry, WorkloadSpec};
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt::Display;
use std::path::Path;

/// The seed used unless a `seed` parameter says otherwise.
pub const DEFAULT_SEED: u64 = 0x6374_725f_6368_726e;

/// Sizes of a run (quick or full).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scale {
    /// Layers per image, the base included.
    pub layers: u32,
    /// Files of the base layer.
    pub base_files: u32,
    /// Files each child layer adds.
    pub child_files: u32,
    /// Lower-layer files each child layer replaces.
    pub child_replaced: u32,
    /// Lower-layer files each child layer deletes (whiteouts).
    pub child_deleted: u32,
    /// Containers per round.
    pub containers: u32,
    /// Writes per container.
    pub writes_per_container: u32,
    /// fsync after every n-th write of a container (0: never).
    pub fsync_every: u32,
    /// Time budget: rounds start until this many seconds have passed (the last one runs to
    /// its end).
    pub runtime_s: f64,
    /// A fixed number of rounds instead of the time budget.
    pub rounds: Option<u32>,
}

/// Quick sizes (CI): a base layer of 1 200 files (about 27 MB), two package layers of 150
/// files, 4 containers writing 30 files each; rounds for 3 s. Peak space about 50 MB.
pub const QUICK: Scale = Scale {
    layers: 3,
    base_files: 1200,
    child_files: 150,
    child_replaced: 20,
    child_deleted: 10,
    containers: 4,
    writes_per_container: 30,
    fsync_every: 4,
    runtime_s: 3.0,
    rounds: None,
};

/// Full sizes (calibration): the measured `debian:bookworm` base layer (5 190 files, about
/// 115 MB), three package layers of 600 files, 8 containers writing 100 files each; rounds
/// for 30 s. Peak space about 250 MB.
pub const FULL: Scale = Scale {
    layers: 4,
    base_files: 5190,
    child_files: 600,
    child_replaced: 50,
    child_deleted: 20,
    containers: 8,
    writes_per_container: 100,
    fsync_every: 4,
    runtime_s: 30.0,
    rounds: None,
};

impl Scale {
    /// The image shape of these sizes.
    pub fn image(&self) -> layers::ImageShape {
        layers::ImageShape {
            layers: self.layers,
            base_files: self.base_files,
            child_files: self.child_files,
            child_replaced: self.child_replaced,
            child_deleted: self.child_deleted,
        }
    }

    fn validate(&self, which: &str) -> Result<(), String> {
        let range = |name: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{which}: {name} = {v} is out of range {lo}..={hi}"))
            }
        };
        range("layers", self.layers, 1, 128)?;
        range("base_files", self.base_files, 1, 1_000_000)?;
        range("child_files", self.child_files, 0, 1_000_000)?;
        range("containers", self.containers, 1, 10_000)?;
        range(
            "writes_per_container",
            self.writes_per_container,
            0,
            1_000_000,
        )?;
        range("fsync_every", self.fsync_every, 0, 1_000_000)?;
        if u64::from(self.child_replaced) + u64::from(self.child_deleted)
            > u64::from(self.base_files)
        {
            return Err(format!(
                "{which}: child_replaced + child_deleted ({} + {}) must not exceed base_files ({})",
                self.child_replaced, self.child_deleted, self.base_files
            ));
        }
        if !(self.runtime_s.is_finite() && self.runtime_s > 0.0 && self.runtime_s <= 3600.0) {
            return Err(format!(
                "{which}: runtime_s = {} must be a number of seconds in (0, 3600]",
                self.runtime_s
            ));
        }
        if let Some(r) = self.rounds {
            range("rounds", r, 1, 100_000)?;
        }
        Ok(())
    }
}

/// The parameters a matrix's `[[workload]]` table or `--param` may give. Each one given
/// replaces the quick and the full value alike.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainersParams {
    /// Seed of the image and of the container writes.
    pub seed: Option<u64>,
    /// See [`Scale::layers`].
    pub layers: Option<u32>,
    /// See [`Scale::base_files`].
    pub base_files: Option<u32>,
    /// See [`Scale::child_files`].
    pub child_files: Option<u32>,
    /// See [`Scale::child_replaced`].
    pub child_replaced: Option<u32>,
    /// See [`Scale::child_deleted`].
    pub child_deleted: Option<u32>,
    /// See [`Scale::containers`].
    pub containers: Option<u32>,
    /// See [`Scale::writes_per_container`].
    pub writes_per_container: Option<u32>,
    /// See [`Scale::fsync_every`].
    pub fsync_every: Option<u32>,
    /// See [`Scale::runtime_s`].
    pub runtime_s: Option<f64>,
    /// See [`Scale::rounds`].
    pub rounds: Option<u32>,
    /// Overlay only: copy-ups are not fsynced (the `volatile` overlay mount option).
    pub volatile: Option<bool>,
}

/// A container-churn workload's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainersConfig {
    /// Seed of the image and of the container writes.
    pub seed: u64,
    /// Sizes of quick runs.
    pub quick: Scale,
    /// Sizes of full runs.
    pub full: Scale,
    /// Overlay only: copy-ups are not fsynced.
    pub volatile: bool,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            quick: QUICK,
            full: FULL,
            volatile: false,
        }
    }
}

impl ContainersConfig {
    /// The defaults with `p`'s values put in.
    pub fn from_params(p: &ContainersParams) -> ContainersConfig {
        let mut c = ContainersConfig::default();
        if let Some(s) = p.seed {
            c.seed = s;
        }
        if let Some(v) = p.volatile {
            c.volatile = v;
        }
        for s in [&mut c.quick, &mut c.full] {
            macro_rules! put {
                ($($f:ident),*) => { $( if let Some(v) = p.$f { s.$f = v; } )* };
            }
            put!(
                layers,
                base_files,
                child_files,
                child_replaced,
                child_deleted,
                containers,
                writes_per_container,
                fsync_every,
                runtime_s
            );
            if p.rounds.is_some() {
                s.rounds = p.rounds;
            }
        }
        c
    }

    /// Checks the ranges; the message names the offending parameter.
    pub fn validate(&self) -> Result<(), String> {
        self.quick.validate("quick")?;
        self.full.validate("full")
    }

    /// The sizes of a quick or a full run.
    pub fn scale(&self, quick: bool) -> &Scale {
        if quick { &self.quick } else { &self.full }
    }
}

/// The graph driver replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// containers-storage's btrfs driver: subvolumes and snapshots.
    Btrfs,
    /// containers-storage's overlay driver: directories and copy-up.
    Overlay,
}

impl Driver {
    /// Its name in a spec (`btrfs`, `overlay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Btrfs => "btrfs",
            Driver::Overlay => "overlay",
        }
    }

    /// The driver a spec names.
    pub fn from_name(name: &str) -> Result<Driver, WorkloadError> {
        match name {
            "btrfs" => Ok(Driver::Btrfs),
            "overlay" => Ok(Driver::Overlay),
            other => Err(WorkloadError::Failed(format!(
                "unknown containers workload `{other}`; there are: btrfs, overlay"
            ))),
        }
    }
}

/// The catalogue entries of the kind.
pub fn entries() -> Vec<Entry> {
    vec![
        Entry {
            kind: "containers",
            name: "btrfs",
            stands_for: "podman/CRI-O on containers-storage's btrfs driver: pull (subvolume, snapshot per layer, untar), container start (snapshot), CoW writes, rm and rmi (subvolume delete)",
        },
        Entry {
            kind: "containers",
            name: "overlay",
            stands_for: "podman/Docker on the overlay driver, without the mount: pull (untar into diff dirs), container start, copy-up writes, rm and rmi (rm -rf)",
        },
    ]
}

/// Counts of what a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Files written (extracted, created or written by containers).
    pub files_written: u64,
    /// Bytes written to them (copy-ups not included).
    pub bytes_written: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// fsyncs (container writes and, on overlay, copy-ups).
    pub fsyncs: u64,
    /// Files copied up (overlay).
    pub copy_ups: u64,
    /// Bytes copied up (overlay).
    pub copy_up_bytes: u64,
    /// Subvolumes and snapshots created (btrfs).
    pub subvolumes_created: u64,
    /// Subvolumes deleted (btrfs).
    pub subvolumes_deleted: u64,
    /// Of those, deleted by `rm -rf` because the ioctl was not permitted.
    pub subvolumes_removed_by_rmdir: u64,
}

/// An I/O error naming what was done to which path.
pub(crate) fn io_error(what: &str, path: &Path, e: impl Display) -> WorkloadError {
    WorkloadError::Failed(format!("{what} {}: {e}", path.display()))
}

/// Container layer churn with one graph driver, runnable by the harness.
#[derive(Clone, Debug)]
pub struct ContainersWorkload {
    driver: Driver,
    config: ContainersConfig,
    name: String,
    mountpoint: String,
}

impl ContainersWorkload {
    /// The workload for `driver` with `config`, after checking its ranges, run in the
    /// layout's `/data` (see [`ContainersWorkload::at`]).
    pub fn new(driver: Driver, config: ContainersConfig) -> Result<Self, WorkloadError> {
        let name = format!("containers-{}", driver.as_str());
        config
            .validate()
            .map_err(|e| WorkloadError::Failed(format!("{name}: {e}")))?;
        if config.volatile && driver == Driver::Btrfs {
            return Err(WorkloadError::Failed(format!(
                "{name}: `volatile` is an overlay mount option; it applies to containers=overlay only"
            )));
        }
        Ok(Self {
            driver,
            config,
            name,
            mountpoint: "/data".to_owned(),
        })
    }

    /// The same workload run in the layout's `mountpoint` instead.
    pub fn at(mut self, mountpoint: impl Into<String>) -> Self {
        self.mountpoint = mountpoint.into();
        self
    }

    /// The workload a spec (`containers = "btrfs"` plus parameters) names, at `target`
    /// (a mount point only).
    pub fn from_spec(spec: &WorkloadSpec, target: Target) -> Result<Self, WorkloadError> {
        let driver = Driver::from_name(&spec.name)?;
        let Target::Mount { mountpoint } = target else {
            return Err(WorkloadError::Failed(format!(
                "{}: container churn works on files in a directory; it cannot run on a raw device",
                spec.label()
            )));
        };
        let p: ContainersParams = crate::registry::params(spec)?;
        Ok(Self::new(driver, ContainersConfig::from_params(&p))
            .map_err(|e| WorkloadError::Failed(format!("{}: {e}", spec.label())))?
            .at(mountpoint))
    }

    /// The driver.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The configuration.
    pub fn config(&self) -> &ContainersConfig {
        &self.config
    }
}

impl Workload for ContainersWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> serde_json::Value {
        json!({
            "kind": "containers",
            "driver": self.driver,
            "seed": self.config.seed,
            "quick": self.config.quick,
            "full": self.config.full,
            "volatile": self.config.volatile,
            "base_sizes": "debian-bookworm-required-closure (5190 files, 115575457 bytes, 768 dirs)",
            "package_sizes": "debian-12-other-packages (89100 files, 11038 dirs, top bucket closed at 32 MiB)",
            "random_per_4k_block": content::RANDOM_PER_BLOCK,
            "write_chunk": content::WRITE_CHUNK,
            "churn_mix": "modify 1/2, append 1/4, create 1/4",
        })
    }

    fn target(&self) -> Target {
        Target::Mount {
            mountpoint: self.mountpoint.clone(),
        }
    }

    fn needs_btrfs(&self) -> bool {
        self.driver == Driver::Btrfs
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        if !ctx.dir.is_dir() {
            return Err(WorkloadError::Failed(format!(
                "{}: directory {} does not exist",
                self.name,
                ctx.dir.display()
            )));
        }
        replay::run(self.driver, &self.config, ctx).map_err(|e| match e {
            WorkloadError::Failed(m) => WorkloadError::Failed(format!("{}: {m}", self.name)),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn spec(name: &str, params: Value) -> WorkloadSpec {
        let Value::Object(params) = params else {
            unreachable!()
        };
        WorkloadSpec {
            kind: "containers".into(),
            name: name.into(),
            params,
        }
    }

    fn mount() -> Target {
        Target::Mount {
            mountpoint: "/data".into(),
        }
    }

    #[test]
    fn specs_build_with_checked_parameters() {
        let w = ContainersWorkload::from_spec(&spec("btrfs", json!({})), mount()).unwrap();
        assert_eq!(w.name(), "containers-btrfs");
        assert!(w.needs_btrfs());
        assert_eq!(w.config(), &ContainersConfig::default());
        assert_eq!(w.target(), mount());
        let home = Target::Mount {
            mountpoint: "/home".into(),
        };
        let w = ContainersWorkload::from_spec(&spec("btrfs", json!({})), home.clone()).unwrap();
        assert_eq!(w.target(), home);
        let w = ContainersWorkload::from_spec(
            &spec(
                "overlay",
                json!({"containers": 2, "seed": 5, "volatile": true}),
            ),
            mount(),
        )
        .unwrap();
        assert_eq!(w.name(), "containers-overlay");
        assert_eq!(
            (w.config().quick.containers, w.config().full.containers),
            (2, 2)
        );
        assert_eq!(w.config().seed, 5);
        assert_eq!(w.params()["full"]["containers"], 2);
        assert_eq!(w.params()["quick"]["base_files"], QUICK.base_files);

        let err = |name: &str, p: Value, t: Target| {
            ContainersWorkload::from_spec(&spec(name, p), t)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = err("zfs", json!({}), mount());
        assert!(e.contains("btrfs, overlay"), "{e}");
        let e = err("overlay", json!({"contaners": 2}), mount());
        assert!(
            e.contains("containers=overlay") && e.contains("contaners"),
            "{e}"
        );
        let e = err("overlay", json!({"containers": 0}), mount());
        assert!(e.contains("containers = 0 is out of range"), "{e}");
        let e = err("overlay", json!({"child_replaced": 2000}), mount());
        assert!(e.contains("must not exceed base_files"), "{e}");
        let e = err("overlay", json!({"runtime_s": -1.0}), mount());
        assert!(e.contains("runtime_s"), "{e}");
        let e = err("btrfs", json!({"volatile": true}), mount());
        assert!(e.contains("overlay only"), "{e}");
        let e = err("btrfs", json!({}), Target::Device);
        assert!(e.contains("raw device"), "{e}");
        let e = err("overlay", json!({"layers": "many"}), mount());
        assert!(e.contains("parameters"), "{e}");
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let w = ContainersWorkload::new(Driver::Overlay, ContainersConfig::default()).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let ctx = RunContext {
            dir: Path::new("/nonexistent/btrtune"),
            device: Path::new("/dev/null"),
            quick: true,
            interrupted: &stop,
        };
        let e = w.run(&ctx).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
