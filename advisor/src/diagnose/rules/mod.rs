//! The rules: named checks with stable ids, like a linter's. Each rule reads the [`Host`] and
//! returns findings with a severity, a confidence, the input lines that triggered it and the
//! sources (sections of `btrfs-tuning-facts.md`, or a measurement) it rests on.

mod hardware;
pub(crate) mod layout;
mod mounts;
mod patterns;
mod space;
mod system;

use super::evidence::Evidence;
use super::host::Host;
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not scored as a problem.
    Info,
    /// A small cost.
    Low,
    /// A measurable cost.
    Medium,
    /// A large cost or a risk to data.
    High,
    /// Failure is near (ENOSPC, corruption).
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// The hardware against the work.
    Hardware,
    /// Space and allocation.
    Space,
    /// Subvolume layout, attributes and snapshots.
    Layout,
    /// Mount options.
    MountOptions,
    /// Kernel and block-layer settings.
    System,
    /// What the user observes, tied to causes.
    WorkloadPattern,
}

impl Area {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Hardware => "hardware",
            Area::Space => "space",
            Area::Layout => "layout",
            Area::MountOptions => "mount options",
            Area::System => "system",
            Area::WorkloadPattern => "workload pattern",
        }
    }
}

/// A rule of the catalogue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Rule {
    /// Stable id (`M01`).
    pub id: &'static str,
    /// Stable kebab-case name.
    pub name: &'static str,
    /// Its area.
    pub area: Area,
    /// What it checks, in one line.
    pub summary: &'static str,
    /// Sections of `btrfs-tuning-facts.md` it rests on.
    pub facts: &'static [&'static str],
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// The rule's name.
    pub name: &'static str,
    /// How bad.
    pub severity: Severity,
    /// How sure, 0–1: lower when the evidence is declared rather than live, or inferred.
    pub confidence: f64,
    /// What was found, in one sentence.
    pub title: String,
    /// Why it matters and how the evidence was weighed.
    pub detail: String,
    /// The input lines it rests on.
    pub evidence: Vec<Evidence>,
    /// Sources: `btrfs-tuning-facts.md §1.1`, or a measurement.
    pub sources: Vec<String>,
    /// Mount points it is about.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mountpoints: Vec<String>,
    /// The block device it is about (`loop1`, `nvme0n1`), for device findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The evidence points at the hardware, not the configuration.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hardware_bound: bool,
}

impl Finding {
    /// A finding of rule `id` (which must be in [`RULES`]).
    pub(crate) fn new(
        id: &'static str,
        severity: Severity,
        confidence: f64,
        title: String,
    ) -> Self {
        let rule = rule(id);
        Finding {
            rule: rule.id,
            name: rule.name,
            severity,
            confidence: (confidence.clamp(0.05, 1.0) * 100.0).round() / 100.0,
            title,
            detail: String::new(),
            evidence: vec![],
            sources: rule
                .facts
                .iter()
                .map(|s| format!("btrfs-tuning-facts.md §{s}"))
                .collect(),
            mountpoints: vec![],
            device: None,
            hardware_bound: false,
        }
    }

    pub(crate) fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }

    pub(crate) fn ev(mut self, e: impl IntoIterator<Item = Evidence>) -> Self {
        for x in e {
            if !self.evidence.contains(&x) {
                self.evidence.push(x);
            }
        }
        self
    }

    pub(crate) fn on_device(mut self, dev: &str) -> Self {
        self.device = Some(dev.to_string());
        self
    }

    pub(crate) fn at(mut self, mp: &str) -> Self {
        if !self.mountpoints.iter().any(|m| m == mp) {
            self.mountpoints.push(mp.to_string());
        }
        self
    }
}

/// The rule with this id.
///
/// # Panics
/// On an id not in [`RULES`]: a programming error the unit tests catch.
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("rule {id} is not in the catalogue"))
}

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    Rule {
        id: "H01",
        name: "database-on-slow-media",
        area: Area::Hardware,
        summary: "Database data on an HDD, SD card, eMMC or USB device: fsync latency and random I/O are bound by the medium.",
        facts: &["2", "7"],
    },
    Rule {
        id: "H02",
        name: "containers-on-slow-media",
        area: Area::Hardware,
        summary: "Container storage (image layers) on an HDD, SD card, eMMC or USB device: layer extraction is many small writes.",
        facts: &["3"],
    },
    Rule {
        id: "H03",
        name: "ram-small-for-working-set",
        area: Area::Hardware,
        summary: "Less than 8 GiB of RAM under databases, containers, VMs or builds: the page cache cannot hold the working set.",
        facts: &["6"],
    },
    Rule {
        id: "H04",
        name: "weak-cpu-heavy-compression",
        area: Area::Hardware,
        summary: "Heavy compression (zstd level >= 6, zlib, compress-force) on a CPU without AVX2 or with <= 4 threads.",
        facts: &["1.2"],
    },
    Rule {
        id: "H05",
        name: "device-saturated",
        area: Area::Hardware,
        summary: "iostat: the queue (aqu-sz) is deep and await high in most samples: the device is at its limit.",
        facts: &["7"],
    },
    Rule {
        id: "H06",
        name: "device-latency-bound",
        area: Area::Hardware,
        summary: "iostat: await is high at a shallow queue: each request is slow on this medium.",
        facts: &["7"],
    },
    Rule {
        id: "H07",
        name: "flush-bound",
        area: Area::Hardware,
        summary: "iostat: flushes (f/s) with a high f_await: fsync-heavy work waits on the device's cache flush.",
        facts: &["7", "2"],
    },
    Rule {
        id: "H08",
        name: "util-is-not-saturation",
        area: Area::Hardware,
        summary: "iostat %util near 100 on a device that serves requests in parallel, with low await: not saturated.",
        facts: &["7", "9"],
    },
    Rule {
        id: "H09",
        name: "device-errors",
        area: Area::Hardware,
        summary: "btrfs device stats counts I/O, corruption or generation errors.",
        facts: &["7"],
    },
    Rule {
        id: "S01",
        name: "metadata-exhaustion",
        area: Area::Space,
        summary: "Metadata nearly full with too little unallocated space for a new chunk: ENOSPC although data has room.",
        facts: &["7"],
    },
    Rule {
        id: "S02",
        name: "global-reserve-in-use",
        area: Area::Space,
        summary: "The global (emergency) reserve is in use.",
        facts: &["7"],
    },
    Rule {
        id: "S03",
        name: "unallocated-exhausted",
        area: Area::Space,
        summary: "Unallocated space nearly gone: no new chunks, balance needs workspace.",
        facts: &["7"],
    },
    Rule {
        id: "S04",
        name: "data-chunks-underused",
        area: Area::Space,
        summary: "Data chunks far from full while unallocated space is short: compact them with balance -dusage.",
        facts: &["7"],
    },
    Rule {
        id: "S05",
        name: "multiple-profiles",
        area: Area::Space,
        summary: "One block-group type has several profiles: an interrupted conversion.",
        facts: &["7", "1.3"],
    },
    Rule {
        id: "S06",
        name: "metadata-less-redundant",
        area: Area::Space,
        summary: "Metadata keeps fewer copies than data (or a single copy on one device).",
        facts: &["1.3"],
    },
    Rule {
        id: "S07",
        name: "filesystem-nearly-full",
        area: Area::Space,
        summary: "df shows the filesystem at 90 % or more.",
        facts: &["7"],
    },
    Rule {
        id: "L01",
        name: "database-on-cow",
        area: Area::Layout,
        summary: "Database files on CoW: in-place overwrites become fragmentation and metadata work.",
        facts: &["2", "1.4"],
    },
    Rule {
        id: "L02",
        name: "vm-images-on-cow",
        area: Area::Layout,
        summary: "VM images on CoW (and, since 6.14, O_DIRECT falls back to buffered on checksummed files).",
        facts: &["1.4"],
    },
    Rule {
        id: "L03",
        name: "containers-inside-snapshots",
        area: Area::Layout,
        summary: "Container storage has no subvolume of its own and sits in a snapshotted one.",
        facts: &["3", "5"],
    },
    Rule {
        id: "L04",
        name: "caches-inside-snapshots",
        area: Area::Layout,
        summary: "Caches, build outputs or the Nix store inside a snapshotted subvolume: snapshots pin them.",
        facts: &["4", "5"],
    },
    Rule {
        id: "L05",
        name: "too-many-snapshots",
        area: Area::Layout,
        summary: "More than 100 snapshots: deletion, balance and qgroups scale with them.",
        facts: &["5"],
    },
    Rule {
        id: "L06",
        name: "qgroups-enabled",
        area: Area::Layout,
        summary: "Quotas (qgroups) are on: they cost on all extent processing, most with snapshots.",
        facts: &["5", "3"],
    },
    Rule {
        id: "L07",
        name: "swapfile-in-snapshots",
        area: Area::Layout,
        summary: "A swap file in a snapshotted subvolume (btrfs refuses to snapshot it while active).",
        facts: &["1.4", "5"],
    },
    Rule {
        id: "L08",
        name: "nocow-snapshotted",
        area: Area::Layout,
        summary: "NOCOW data that is snapshotted: every snapshot makes the next write of each block CoW (fragmentation).",
        facts: &["1.4", "5"],
    },
    Rule {
        id: "M01",
        name: "ignored-subvolume-option",
        area: Area::MountOptions,
        summary: "compress/nodatacow/autodefrag written on a subvolume mount are ignored: the first mount's options win.",
        facts: &["1.1"],
    },
    Rule {
        id: "M02",
        name: "bare-compress-is-zlib",
        area: Area::MountOptions,
        summary: "Bare `compress` means zlib, not zstd.",
        facts: &["1.2", "9"],
    },
    Rule {
        id: "M03",
        name: "compress-force",
        area: Area::MountOptions,
        summary: "compress-force compresses every block, bypassing the heuristics.",
        facts: &["1.2"],
    },
    Rule {
        id: "M04",
        name: "discard-sync",
        area: Area::MountOptions,
        summary: "Synchronous `discard`: a severe performance hit; discard=async is the default.",
        facts: &["1.2"],
    },
    Rule {
        id: "M05",
        name: "autodefrag-with-databases",
        area: Area::MountOptions,
        summary: "autodefrag with large database files or VM images.",
        facts: &["1.2", "2"],
    },
    Rule {
        id: "M06",
        name: "relatime-with-snapshots",
        area: Area::MountOptions,
        summary: "relatime on a snapshotted subvolume: reads after a snapshot rewrite metadata (atime CoW).",
        facts: &["1.2", "5"],
    },
    Rule {
        id: "M07",
        name: "space-cache-v1",
        area: Area::MountOptions,
        summary: "space_cache v1 is deprecated; v2 (free-space tree) is the default.",
        facts: &["1.2"],
    },
    Rule {
        id: "M08",
        name: "ssd-option-myth",
        area: Area::MountOptions,
        summary: "ssd/ssd_spread/nossd written by hand: ssd is automatic and its layout tweaks are gone since 4.14.",
        facts: &["1.2", "9"],
    },
    Rule {
        id: "M09",
        name: "nodatacow-filesystem-wide",
        area: Area::MountOptions,
        summary: "nodatacow on the whole filesystem: no checksums and no compression for any new file.",
        facts: &["1.2", "1.4"],
    },
    Rule {
        id: "Y01",
        name: "dirty-limits-too-large",
        area: Area::System,
        summary: "The dirty page limit takes over 10 s (slow media) or 30 s (others) to write back at the device's speed: long stalls when it is hit.",
        facts: &["6"],
    },
    Rule {
        id: "Y02",
        name: "scheduler-mismatch",
        area: Area::System,
        summary: "The I/O scheduler does not suit the device class (none on HDD/SD/eMMC, bfq on NVMe).",
        facts: &["6"],
    },
    Rule {
        id: "Y03",
        name: "btrfs-readahead-lowered",
        area: Area::System,
        summary: "btrfs's own read-ahead (bdi read_ahead_kb) is below its 4 MiB default.",
        facts: &["6"],
    },
    Rule {
        id: "Y04",
        name: "delay-accounting-off",
        area: Area::System,
        summary: "iotop ran without delay accounting: its IO% column is empty.",
        facts: &["6", "7"],
    },
    Rule {
        id: "W01",
        name: "slow-database-writes-explained",
        area: Area::WorkloadPattern,
        summary: "Slow database work tied to its likely cause in the configuration or the device.",
        facts: &["2"],
    },
    Rule {
        id: "W02",
        name: "slow-containers-explained",
        area: Area::WorkloadPattern,
        summary: "Slow container pulls or I/O tied to their likely cause.",
        facts: &["3"],
    },
    Rule {
        id: "W03",
        name: "slow-builds-explained",
        area: Area::WorkloadPattern,
        summary: "Slow builds or IDE freezes tied to their likely cause.",
        facts: &["4"],
    },
    Rule {
        id: "W04",
        name: "hardware-bound",
        area: Area::WorkloadPattern,
        summary: "The evidence points at the device, not the configuration: tuning gains are capped.",
        facts: &["7"],
    },
    Rule {
        id: "W05",
        name: "unexplained-observation",
        area: Area::WorkloadPattern,
        summary: "An observation that no finding explains: what else to collect.",
        facts: &["7"],
    },
];

/// Runs every rule.
pub fn check_all(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(hardware::check(h));
    out.extend(space::check(h));
    out.extend(layout::check(h));
    out.extend(mounts::check(h));
    out.extend(system::check(h));
    let patterns = patterns::check(h, &out);
    out.extend(patterns);
    out
}

/// Confidence of evidence: live (what the kernel shows) beats declared.
pub(crate) fn conf(live: bool) -> f64 {
    if live { 0.9 } else { 0.7 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_and_names_are_unique_and_at_least_25() {
        let ids: BTreeSet<_> = RULES.iter().map(|r| r.id).collect();
        let names: BTreeSet<_> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(ids.len(), RULES.len());
        assert_eq!(names.len(), RULES.len());
        assert!(RULES.len() >= 25);
        for r in RULES {
            assert!(!r.facts.is_empty(), "{} cites no source", r.id);
        }
    }
}
