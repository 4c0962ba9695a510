//! System metrics and user observations: parsers for what `df`, `btrfs`, `iostat`, `iotop`
//! and `/proc/pressure/io` print, and the mapping of free-text observations to categories.
//!
//! Each parser is `parse(text, origin) -> Result<T, AdvisorError>`: `origin` names the
//! input in errors, which are [`AdvisorError::Input`] with a 1-based line (and column where
//! one is known) and what was expected. No parser panics on any input, and none drops a
//! line it does not understand: it parses it, keeps it in a field named `other` or
//! `warnings`, or fails. Sizes are bytes (`u64`), rates `f64` per second, percentages
//! `f64` in 0–100. The fixtures under `advisor/tests/fixtures/metrics/` are real outputs,
//! captured by `scripts/capture-metrics-fixtures.sh`.
//!
//! ```
//! use btrtune_advisor::metrics::{btrfs_df, psi};
//!
//! let df = btrfs_df::parse("Data, single: total=1.00GiB, used=512.00MiB\n", "example").unwrap();
//! assert_eq!(df.entries[0].used, 512 << 20);
//!
//! let err = psi::parse("some avg10=x\n", "pressure.txt").unwrap_err();
//! assert!(err.to_string().starts_with("pressure.txt:1:"));
//! ```

use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod btrfs_df;
pub mod btrfs_usage;
pub mod bundle;
pub mod device_stats;
pub mod df;
pub mod iostat;
pub mod iotop;
pub mod observe;
pub mod psi;
mod text;

/// A btrfs block-group type, as `btrfs filesystem df`/`usage` name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockGroupKind {
    /// `Data`.
    Data,
    /// `Metadata`.
    Metadata,
    /// `System`.
    System,
    /// `Data+Metadata` (mixed block groups, small filesystems).
    Mixed,
    /// `GlobalReserve` (`btrfs filesystem df` only).
    GlobalReserve,
    /// Anything else, verbatim (btrfs-progs prints `unknown` for unknown flags).
    Other(String),
}

impl BlockGroupKind {
    /// The kind for a printed name.
    pub fn from_name(s: &str) -> Self {
        match s {
            "Data" => BlockGroupKind::Data,
            "Metadata" => BlockGroupKind::Metadata,
            "System" => BlockGroupKind::System,
            "Data+Metadata" => BlockGroupKind::Mixed,
            "GlobalReserve" => BlockGroupKind::GlobalReserve,
            other => BlockGroupKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for BlockGroupKind {
    /// The name as btrfs-progs prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockGroupKind::Data => "Data",
            BlockGroupKind::Metadata => "Metadata",
            BlockGroupKind::System => "System",
            BlockGroupKind::Mixed => "Data+Metadata",
            BlockGroupKind::GlobalReserve => "GlobalReserve",
            BlockGroupKind::Other(s) => s,
        })
    }
}

/// A block-group profile.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// One copy.
    Single,
    /// Two copies on one device.
    Dup,
    /// Striped, no redundancy.
    Raid0,
    /// Two copies on two devices.
    Raid1,
    /// Three copies (kernel ≥ 5.5).
    Raid1c3,
    /// Four copies (kernel ≥ 5.5).
    Raid1c4,
    /// Striped mirrors.
    Raid10,
    /// Parity, one device may fail.
    Raid5,
    /// Double parity.
    Raid6,
    /// Anything else, verbatim.
    Other(String),
}

impl Profile {
    /// The profile for a printed name (`single`, `DUP`, `RAID1C3`; case-insensitive).
    pub fn from_name(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "single" => Profile::Single,
            "dup" => Profile::Dup,
            "raid0" => Profile::Raid0,
            "raid1" => Profile::Raid1,
            "raid1c3" => Profile::Raid1c3,
            "raid1c4" => Profile::Raid1c4,
            "raid10" => Profile::Raid10,
            "raid5" => Profile::Raid5,
            "raid6" => Profile::Raid6,
            _ => Profile::Other(s.to_string()),
        }
    }

    /// The lowercase name mkfs.btrfs and balance filters take (`raid1c3`).
    pub fn name(&self) -> &str {
        match self {
            Profile::Single => "single",
            Profile::Dup => "dup",
            Profile::Raid0 => "raid0",
            Profile::Raid1 => "raid1",
            Profile::Raid1c3 => "raid1c3",
            Profile::Raid1c4 => "raid1c4",
            Profile::Raid10 => "raid10",
            Profile::Raid5 => "raid5",
            Profile::Raid6 => "raid6",
            Profile::Other(s) => s,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which command printed a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `df`.
    Df,
    /// `btrfs filesystem usage`.
    BtrfsUsage,
    /// `btrfs filesystem df`.
    BtrfsDf,
    /// `btrfs device stats`.
    DeviceStats,
    /// `iostat` (text or JSON).
    Iostat,
    /// `iotop -b`.
    Iotop,
    /// `/proc/pressure/io`.
    Pressure,
}

/// Any parsed metrics input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source", content = "data")]
pub enum Metrics {
    /// `df`.
    Df(df::DfReport),
    /// `btrfs filesystem usage`.
    BtrfsUsage(btrfs_usage::FsUsage),
    /// `btrfs filesystem df`.
    BtrfsDf(btrfs_df::FsDf),
    /// `btrfs device stats`.
    DeviceStats(Vec<device_stats::DeviceStats>),
    /// `iostat`.
    Iostat(iostat::IostatReport),
    /// `iotop -b`.
    Iotop(iotop::IotopReport),
    /// `/proc/pressure/io`.
    Pressure(psi::Pressure),
}

/// Guesses which command printed `text` from its first meaningful line; `None` if no
/// parser fits.
pub fn detect(text: &str) -> Option<Source> {
    let first = text.lines().map(str::trim).find(|l| {
        !l.is_empty()
            && !l.starts_with("WARNING:")
            && !l.starts_with("Warning:")
            && !l.starts_with("ERROR:")
    })?;
    let src = if first.starts_with("Filesystem ") {
        Source::Df
    } else if first == "Overall:" {
        Source::BtrfsUsage
    } else if (first.starts_with('[') && first.contains("]."))
        || (first.starts_with("Id ") && first.contains(" errors"))
    {
        Source::DeviceStats
    } else if first.starts_with("some ") || first.starts_with("full ") {
        Source::Pressure
    } else if first.contains("DISK READ") || first.contains("PRIO") {
        Source::Iotop
    } else if first.starts_with('{')
        || first.starts_with("Linux ")
        || first.starts_with("avg-cpu:")
        || first.starts_with("Device")
    {
        Source::Iostat
    } else if first.contains(": total=") {
        Source::BtrfsDf
    } else {
        return None;
    };
    Some(src)
}

/// Detects the source (see [`detect`]) and parses `text` with its parser.
pub fn parse_any(text: &str, origin: &str) -> Result<Metrics, AdvisorError> {
    let Some(src) = detect(text) else {
        return Err(AdvisorError::Input {
            path: origin.to_string(),
            line: 0,
            column: 0,
            message: "not a recognised metrics output: expected df, btrfs filesystem usage/df, \
                      btrfs device stats, iostat, iotop -b or /proc/pressure/io"
                .into(),
        });
    };
    Ok(match src {
        Source::Df => Metrics::Df(df::parse(text, origin)?),
        Source::BtrfsUsage => Metrics::BtrfsUsage(btrfs_usage::parse(text, origin)?),
        Source::BtrfsDf => Metrics::BtrfsDf(btrfs_df::parse(text, origin)?),
        Source::DeviceStats => Metrics::DeviceStats(device_stats::parse(text, origin)?),
        Source::Iostat => Metrics::Iostat(iostat::parse(text, origin)?),
        Source::Iotop => Metrics::Iotop(iotop::parse(text, origin)?),
        Source::Pressure => Metrics::Pressure(psi::parse(text, origin)?),
    })
}
