//! The workloads btrtune's harness replays, behind one trait.
//!
//! A [`Workload`] runs in a directory (a mounted subvolume of the layout under test) or on a
//! raw device, and returns a [`Measurement`]. The harness owns everything around it: fresh
//! filesystems, cache drops, repetitions, recording.

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod containers;
pub mod cpu;
pub mod devtree;
pub mod fio;
pub mod latency;
pub mod pgbench;
pub mod pgsnapshot;
pub mod registry;
pub mod rng;
pub mod text;
pub mod wal;

pub use registry::{WorkloadSpec, build, catalogue};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Where a workload runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Target {
    /// In the directory mounted at this mount point of the layout (`/data`).
    Mount {
        /// The layout's mount point.
        mountpoint: String,
    },
    /// On the raw block device (the `raw` matrix: the device's own capability).
    Device,
}

/// What a workload gets to run.
#[derive(Debug)]
pub struct RunContext<'a> {
    /// The directory to work in (for [`Target::Mount`]).
    pub dir: &'a Path,
    /// The block device under test (for [`Target::Device`] and device statistics).
    pub device: &'a Path,
    /// Short runs and small files, for CI.
    pub quick: bool,
    /// Set when the user interrupts: stop as soon as possible and return
    /// [`WorkloadError::Interrupted`].
    pub interrupted: &'a AtomicBool,
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Mean.
    pub mean: f64,
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Name of the headline metric (`iops`, `commits_per_s`, `bytes_per_s`).
    pub primary: String,
    /// Its value; higher is better.
    pub value: f64,
    /// Operations per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_per_s: Option<f64>,
    /// Bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_s: Option<f64>,
    /// Completion latency of the I/Os (or operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<Percentiles>,
    /// fsync/fdatasync latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_latency_ns: Option<Percentiles>,
    /// User CPU, percent of one CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_usr_pct: Option<f64>,
    /// System CPU, percent of one CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_sys_pct: Option<f64>,
    /// Measured time in seconds (without ramp).
    pub runtime_s: f64,
    /// Other named values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// Why a workload failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The user interrupted it.
    #[error("interrupted")]
    Interrupted,
    /// A tool it needs is missing.
    #[error("{tool} is needed but not installed ({hint})")]
    Missing {
        /// The tool.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// It ran and failed.
    #[error("{0}")]
    Failed(String),
    /// Its output could not be read.
    #[error("{what}: {message}")]
    Output {
        /// Which output.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// A workload the harness can replay.
pub trait Workload: Send + Sync {
    /// A short stable name (`fio-randwrite-4k-fsync`).
    fn name(&self) -> &str;
    /// Its parameters, recorded with every result (part of the cell's identity).
    fn params(&self) -> serde_json::Value;
    /// Where it runs.
    fn target(&self) -> Target;
    /// Runs it once.
    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError>;
    /// True when it can only run on btrfs (it creates subvolumes or snapshots); the harness
    /// then leaves it out for other filesystems.
    fn needs_btrfs(&self) -> bool {
        false
    }
}
