//! A bundle: what `btrtune collect` gathers from a live host, as a directory of raw command
//! outputs plus `manifest.json`. [`read`] parses every file with its parser; a file that
//! does not parse is reported (with its location), not dropped and not fatal, so a diagnosis
//! can go on with lower confidence.

use super::{btrfs_df, btrfs_usage, device_stats, df, iostat, iotop, psi};
use crate::error::AdvisorError;
use crate::hardware::{HardwareProfile, facter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the bundle format.
pub const BUNDLE_VERSION: u32 = 1;

/// What one probe did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// What it is (`btrfs usage /`).
    pub name: String,
    /// The command or file read.
    pub source: String,
    /// The file in the bundle, when something was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `ok`, `missing` (tool or file not there), `failed` (it ran and failed), `empty`.
    pub status: String,
    /// Why, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `manifest.json`: the bundle's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_VERSION`].
    pub schema_version: u32,
    /// The btrtune version that collected it.
    pub btrtune: String,
    /// Host name.
    pub host: String,
    /// Kernel release.
    pub kernel: String,
    /// When (Unix seconds).
    pub collected_at_unix: u64,
    /// Whether it ran as root (some probes need it).
    pub as_root: bool,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

/// One mounted btrfs subvolume (or top level) as the host has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MountState {
    /// Mount point.
    pub target: String,
    /// `findmnt`'s source (`/dev/nvme0n1p2[/@home]`).
    pub source: String,
    /// Options as applied (what the kernel really uses).
    pub options: Vec<String>,
    /// Filesystem UUID.
    pub uuid: String,
    /// NOCOW attribute on the mounted subvolume root (`lsattr -d`), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocow: Option<bool>,
    /// Compression property of the mounted subvolume root, when read (`none` if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// The reports of one btrfs filesystem.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FsReports {
    /// `btrfs filesystem usage -b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<btrfs_usage::FsUsage>,
    /// `btrfs filesystem df -b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub df: Option<btrfs_df::FsDf>,
    /// `btrfs device stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_stats: Option<Vec<device_stats::DeviceStats>>,
    /// Subvolumes (`btrfs subvolume list -t`), as lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subvolumes: Vec<String>,
    /// Whether quotas (qgroups) are on: `btrfs qgroup show` succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qgroups_enabled: Option<bool>,
    /// sysfs values (`bdi/read_ahead_kb`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysfs: BTreeMap<String, String>,
}

/// A parsed bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The directory it was read from.
    pub dir: String,
    /// Its index.
    pub manifest: Manifest,
    /// `df -T -k`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub df: Option<df::DfReport>,
    /// Mounted btrfs subvolumes.
    #[serde(default)]
    pub mounts: Vec<MountState>,
    /// Per-filesystem reports, keyed by the mount point they were taken on.
    #[serde(default)]
    pub filesystems: BTreeMap<String, FsReports>,
    /// `iostat -x` (the JSON form when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iostat: Option<iostat::IostatReport>,
    /// `iotop -b -o`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iotop: Option<iotop::IotopReport>,
    /// `/proc/pressure/io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<psi::Pressure>,
    /// sysctls read (`vm.dirty_ratio` -> `20`).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Block-queue settings per device (`nvme0n1` -> `scheduler` -> `[none] mq-deadline`).
    #[serde(default)]
    pub block_queues: BTreeMap<String, BTreeMap<String, String>>,
    /// The nixos-facter report, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareProfile>,
    /// Path of the disko.nix copied into the bundle, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disko_file: Option<String>,
    /// Probes that did not give data, with why.
    #[serde(default)]
    pub missing: Vec<Probe>,
    /// Files that were saved but do not parse, with the parser's message.
    #[serde(default)]
    pub unreadable: Vec<String>,
}

/// The mount-point slug `collect` uses in file names (`/` -> `root`).
pub fn slug(mp: &str) -> String {
    let s: String = mp
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.is_empty() { "root".into() } else { s }
}

/// Reads a bundle directory.
pub fn read(dir: &Path) -> Result<Bundle, AdvisorError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| AdvisorError::Io {
        path: mpath.clone(),
        source: e,
    })?;
    let origin = mpath.display().to_string();
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| AdvisorError::Input {
        path: origin.clone(),
        line: e.line(),
        column: e.column(),
        message: format!("not a btrtune bundle manifest: {e}"),
    })?;
    if manifest.schema_version != BUNDLE_VERSION {
        return Err(AdvisorError::Input {
            path: origin,
            line: 0,
            column: 0,
            message: format!(
                "bundle format {} is not the one this btrtune reads ({BUNDLE_VERSION}): collect \
                 it again with this version",
                manifest.schema_version
            ),
        });
    }
    let mut b = Bundle {
        dir: dir.display().to_string(),
        manifest: manifest.clone(),
        df: None,
        mounts: Vec::new(),
        filesystems: BTreeMap::new(),
        iostat: None,
        iotop: None,
        pressure: None,
        sysctls: BTreeMap::new(),
        block_queues: BTreeMap::new(),
        hardware: None,
        disko_file: None,
        missing: Vec::new(),
        unreadable: Vec::new(),
    };
    let load = |file: &str| -> Option<(String, String)> {
        let p = dir.join(file);
        // Only files inside the bundle directory.
        if file.contains("..") || file.starts_with('/') {
            return None;
        }
        std::fs::read_to_string(&p)
            .ok()
            .map(|t| (t, p.display().to_string()))
    };
    let mut unset_compression = Vec::new();
    for p in &manifest.probes {
        // Two "failures" that are answers: no compression property set, quotas off.
        if p.status == "empty"
            && let Some(mp) = p.name.strip_prefix("compression property ")
        {
            unset_compression.push(mp.to_string());
            continue;
        }
        if p.status == "failed"
            && p.reason
                .as_deref()
                .is_some_and(|r| r.contains("quotas not enabled"))
            && let Some(mp) = p.name.strip_prefix("btrfs qgroups ")
        {
            b.filesystems
                .entry(mp.to_string())
                .or_default()
                .qgroups_enabled = Some(false);
            continue;
        }
        if p.status != "ok" {
            b.missing.push(p.clone());
            continue;
        }
        let Some(file) = &p.file else { continue };
        let Some((text, origin)) = load(file) else {
            b.unreadable.push(format!(
                "{}: listed in the manifest but missing",
                dir.join(file).display()
            ));
            continue;
        };
        let name = p.name.as_str();
        let mut fail = |e: AdvisorError| b.unreadable.push(e.to_string());
        let fs_of = |name: &str, prefix: &str| name.strip_prefix(prefix).map(str::to_string);
        if name == "df" {
            match df::parse(&text, &origin) {
                Ok(v) => b.df = Some(v),
                Err(e) => fail(e),
            }
        } else if name == "findmnt" {
            match findmnt(&text, &origin) {
                Ok(v) => b.mounts = v,
                Err(e) => fail(e),
            }
        } else if let Some(mp) = fs_of(name, "btrfs usage ") {
            match btrfs_usage::parse(&text, &origin) {
                Ok(v) => b.filesystems.entry(mp).or_default().usage = Some(v),
                Err(e) => fail(e),
            }
        } else if let Some(mp) = fs_of(name, "btrfs df ") {
            match btrfs_df::parse(&text, &origin) {
                Ok(v) => b.filesystems.entry(mp).or_default().df = Some(v),
                Err(e) => fail(e),
            }
        } else if let Some(mp) = fs_of(name, "btrfs device stats ") {
            match device_stats::parse(&text, &origin) {
                Ok(v) => b.filesystems.entry(mp).or_default().device_stats = Some(v),
                Err(e) => fail(e),
            }
        } else if let Some(mp) = fs_of(name, "btrfs subvolume list ") {
            b.filesystems.entry(mp).or_default().subvolumes =
                text.lines().map(str::to_string).collect();
        } else if let Some(mp) = fs_of(name, "btrfs qgroups ") {
            b.filesystems.entry(mp).or_default().qgroups_enabled = Some(true);
        } else if let Some(rest) = fs_of(name, "btrfs sysfs ") {
            if let Some((knob, mp)) = rest.split_once(' ') {
                b.filesystems
                    .entry(mp.to_string())
                    .or_default()
                    .sysfs
                    .insert(knob.to_string(), text.trim().to_string());
            }
        } else if name == "iostat json" {
            match iostat::parse(&text, &origin) {
                Ok(v) => b.iostat = Some(v),
                Err(e) => fail(e),
            }
        } else if name == "iostat" {
            if b.iostat.is_none() {
                match iostat::parse(&text, &origin) {
                    Ok(v) => b.iostat = Some(v),
                    Err(e) => fail(e),
                }
            }
        } else if name == "iotop" {
            match iotop::parse(&text, &origin) {
                Ok(v) => b.iotop = Some(v),
                Err(e) => fail(e),
            }
        } else if name == "pressure io" {
            match psi::parse(&text, &origin) {
                Ok(v) => b.pressure = Some(v),
                Err(e) => fail(e),
            }
        } else if name == "sysctls" {
            for l in text.lines().filter(|l| !l.starts_with('#')) {
                if let Some((k, v)) = l.split_once(" = ") {
                    b.sysctls.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        } else if name == "I/O schedulers" {
            for l in text.lines() {
                let mut it = l.splitn(3, ' ');
                if let (Some(d), Some(k), Some(v)) = (it.next(), it.next(), it.next()) {
                    b.block_queues
                        .entry(d.to_string())
                        .or_default()
                        .insert(k.to_string(), v.to_string());
                }
            }
        } else if name == "nixos-facter" {
            match facter::parse(&text, &origin) {
                Ok(v) => b.hardware = Some(v),
                Err(e) => fail(e),
            }
        } else if name == "disko config" {
            b.disko_file = Some(dir.join(file).display().to_string());
        }
    }
    // Attributes of mounted subvolume roots.
    for m in &mut b.mounts {
        let s = slug(&m.target);
        if let Some((t, _)) = load(&format!("lsattr-{s}.txt")) {
            m.nocow = t.split_whitespace().next().map(|f| f.contains('C'));
        }
        if unset_compression.contains(&m.target) {
            m.compression = Some("none".into());
        } else if let Some((t, _)) = load(&format!("property-compression-{s}.txt")) {
            let v = t.trim().strip_prefix("compression=").unwrap_or("").trim();
            m.compression = Some(if v.is_empty() {
                "none".into()
            } else {
                v.into()
            });
        }
    }
    Ok(b)
}

/// btrfs mounts from `findmnt -J -o TARGET,SOURCE,FSTYPE,OPTIONS,UUID`.
pub fn findmnt(text: &str, origin: &str) -> Result<Vec<MountState>, AdvisorError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| AdvisorError::Input {
        path: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: format!("not findmnt JSON: {e}"),
    })?;
    let Some(top) = v.get("filesystems").and_then(|f| f.as_array()) else {
        return Err(AdvisorError::Input {
            path: origin.to_string(),
            line: 1,
            column: 1,
            message: "expected findmnt's `{\"filesystems\": [...]}`".into(),
        });
    };
    let mut out = Vec::new();
    let mut stack: Vec<&serde_json::Value> = top.iter().collect();
    while let Some(fs) = stack.pop() {
        let s = |k: &str| fs.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if s("fstype") == "btrfs" {
            out.push(MountState {
                target: s("target"),
                source: s("source"),
                options: s("options").split(',').map(str::to_string).collect(),
                uuid: s("uuid"),
                nocow: None,
                compression: None,
            });
        }
        if let Some(ch) = fs.get("children").and_then(|c| c.as_array()) {
            stack.extend(ch.iter());
        }
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}
