//! The central `Layout` type: one description of a btrfs storage plan.
//!
//! The generator emits it (as disko.nix plus a NixOS snippet), the disko parser produces it,
//! the harness builds it on real devices, and the models predict for it. It encodes the
//! kernel's rules rather than mount-option strings:
//!
//! - filesystem-wide btrfs options ([`FsOptions`]) live on the [`BtrfsFilesystem`], once;
//! - a subvolume mount carries only per-mount VFS options ([`VfsOptions`]);
//! - per-subvolume NOCOW and compression are attributes of the data ([`DataPolicy`]): NOCOW
//!   is `chattr +C` on the empty subvolume root right after creation, compression is
//!   `btrfs property set <subvol> compression <alg>` (btrfs-tuning-facts.md §1.1, §1.4).
//!
//! A configuration that asks for per-subvolume `compress=` or `nodatacow` through mount
//! options (possible only in a parsed disko.nix) is recorded in [`SubvolMount::fs_override`]
//! and makes [`Layout::check`] fail: such a layout cannot be built, because the kernel would
//! ignore the option.

mod check;
pub mod options;
pub mod size;

pub use check::Problem;
pub use options::{Algorithm, Atime, Compression, FsOptions, VfsOptions};
pub use size::{Bytes, PartSize};

use crate::hardware::DeviceClass;
use crate::reason::{Reasons, Why};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the Layout's JSON form.
pub const SCHEMA_VERSION: u32 = 1;

/// A storage plan: disks, their partitions and filesystems, and the system settings that go
/// with them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Version of this format ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The disks, in name order.
    pub disks: Vec<Disk>,
    /// Mounts without a device (disko's `nodev`, e.g. a tmpfs on /tmp).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodev: Vec<NodevMount>,
    /// Kernel, udev and NixOS settings that disko does not hold.
    #[serde(default)]
    pub system: SystemSettings,
}

/// A mount without a device (`disko.devices.nodev.<mountpoint>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodevMount {
    /// Where.
    pub mountpoint: String,
    /// `tmpfs`, ...
    pub fs_type: String,
    /// Mount options, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
}

/// What kind of block device a [`Disk`] entry is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskKind {
    /// A disk (`disko.devices.disk`).
    #[default]
    Disk,
    /// An LVM logical volume (`disko.devices.lvm_vg.<vg>.lvs.<lv>`), named `<vg>/<lv>`.
    LvmLv,
    /// An md RAID array (`disko.devices.mdadm.<name>`).
    Mdadm,
}

impl DiskKind {
    fn is_disk(&self) -> bool {
        *self == DiskKind::Disk
    }
}

/// One disk (`disko.devices.disk.<name>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// The attribute name (`main`).
    pub name: String,
    /// What kind of device it is (a disk unless said otherwise).
    #[serde(default, skip_serializing_if = "DiskKind::is_disk")]
    pub kind: DiskKind,
    /// The device path (`/dev/disk/by-id/...`).
    pub device: String,
    /// Its class, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<DeviceClass>,
    /// How it is divided.
    pub content: DiskContent,
    /// Why this disk and device path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
}

/// What a disk holds.
#[allow(clippy::large_enum_variant)] // a few per layout: size does not matter, plain data does
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DiskContent {
    /// A GPT partition table (`type = "gpt"`), partitions in disko's order.
    Gpt {
        /// The partitions.
        partitions: Vec<Partition>,
    },
    /// disko's legacy `type = "table"` (`format = "gpt"` or `"msdos"`).
    Table {
        /// `gpt` or `msdos`.
        format: String,
        /// The partitions, in list order.
        partitions: Vec<Partition>,
    },
    /// A filesystem or container on the whole disk.
    Whole {
        /// What it is.
        content: Content,
    },
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// The attribute name (`ESP`, `root`).
    pub name: String,
    /// Its size.
    pub size: PartSize,
    /// GPT type code (`EF00` for an ESP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    /// What it holds (`None`: left empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why it exists and has this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
}

/// What a partition or disk holds.
#[allow(clippy::large_enum_variant)] // a few per layout: size does not matter, plain data does
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Content {
    /// A btrfs filesystem.
    Btrfs(BtrfsFilesystem),
    /// Another filesystem (vfat ESP, ext4, xfs).
    Filesystem(PlainFilesystem),
    /// A swap partition.
    Swap(SwapPartition),
    /// A LUKS container.
    Luks(Luks),
    /// Something this tool does not model (lvm_pv, mdraid, zfs), kept by type name.
    Other {
        /// disko's `type`.
        disko_type: String,
    },
}

/// A non-btrfs filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainFilesystem {
    /// `vfat`, `ext4`, `xfs`, ...
    pub format: String,
    /// Where it is mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mountpoint: Option<String>,
    /// Mount options, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
    /// mkfs arguments, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

/// A swap partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapPartition {
    /// Encrypted with a random key at every boot (no hibernation).
    #[serde(default)]
    pub random_encryption: bool,
    /// Used as the hibernation resume device.
    #[serde(default)]
    pub resume_device: bool,
}

/// A LUKS container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Luks {
    /// The mapper name (`/dev/mapper/<name>`).
    pub name: String,
    /// Pass TRIM through (`settings.allowDiscards`): needed for `discard=async` to reach
    /// the SSD (§1.2, every layer must pass discard).
    #[serde(default)]
    pub allow_discards: bool,
    /// What is inside.
    pub content: Box<Content>,
    /// Why it is encrypted and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
}

/// A btrfs filesystem with its subvolumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BtrfsFilesystem {
    /// mkfs.btrfs options.
    #[serde(default)]
    pub mkfs: MkfsOptions,
    /// Filesystem-wide mount options: the ones every mount of this filesystem gets.
    #[serde(default)]
    pub options: FsOptions,
    /// A mount of the top-level subvolume (id 5), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_level: Option<TopLevelMount>,
    /// Subvolumes created at format time, in name order.
    #[serde(default)]
    pub subvolumes: Vec<Subvolume>,
    /// Subvolumes inside each user's home, created by systemd-tmpfiles at login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub home_subvolumes: Vec<HomeSubvolume>,
    /// Hooks kept as text (from a parsed disko.nix; the generator writes its own).
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// Why each filesystem-wide option (keyed by option name, e.g. `compress`) and mkfs
    /// choice (`mkfs`) was made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub why: BTreeMap<String, Why>,
}

/// mkfs.btrfs options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MkfsOptions {
    /// `-L`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `-d` (`single`, `dup`, `raid1`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_profile: Option<String>,
    /// `-m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_profile: Option<String>,
    /// `--csum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// `-n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodesize: Option<String>,
    /// `-O` features.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Further devices of a multi-device filesystem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_devices: Vec<String>,
    /// Other arguments, verbatim.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

impl MkfsOptions {
    /// The arguments in a fixed order, as disko's `extraArgs`.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut push = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.push(flag.to_string());
                a.push(v.clone());
            }
        };
        push("-L", &self.label);
        push("-d", &self.data_profile);
        push("-m", &self.metadata_profile);
        push("--csum", &self.checksum);
        push("-n", &self.nodesize);
        if !self.features.is_empty() {
            a.push("-O".into());
            a.push(self.features.join(","));
        }
        a.extend(self.other.iter().cloned());
        a.extend(self.extra_devices.iter().cloned());
        a
    }
}

/// A mount of the top-level subvolume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopLevelMount {
    /// Where.
    pub mountpoint: String,
    /// Per-mount options.
    #[serde(default)]
    pub vfs: VfsOptions,
    /// Filesystem-wide options written on this mount that differ from the filesystem's
    /// (see [`SubvolMount::fs_override`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_override: Option<FsOptions>,
    /// Swap files in the top-level subvolume, relative to the mount point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swapfiles: Vec<Swapfile>,
}

/// disko hooks on the btrfs node, kept verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hooks {
    /// `preCreateHook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_create: Option<String>,
    /// `postCreateHook` (beyond what the Layout's attributes already say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_create: Option<String>,
    /// `preMountHook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_mount: Option<String>,
    /// `postMountHook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_mount: Option<String>,
    /// `preUnmountHook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_unmount: Option<String>,
    /// `postUnmountHook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_unmount: Option<String>,
}

impl Hooks {
    /// No hook text at all.
    pub fn is_empty(&self) -> bool {
        *self == Hooks::default()
    }
}

/// A subvolume created at format time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subvolume {
    /// Path below the top level (`@home`, or nested `@home/.snapshots`).
    pub name: String,
    /// Where it is mounted; `None` for a subvolume reached through its parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<SubvolMount>,
    /// What it holds and how.
    pub data: DataPolicy,
    /// Swap files inside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swapfiles: Vec<Swapfile>,
    /// Extra arguments to `btrfs subvolume create`, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

/// A subvolume's mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubvolMount {
    /// Absolute mount point.
    pub mountpoint: String,
    /// Per-mount options.
    #[serde(default)]
    pub vfs: VfsOptions,
    /// Filesystem-wide options written on this mount that differ from the filesystem's.
    /// Only a parsed configuration can have them; the kernel ignores them
    /// (btrfs-tuning-facts.md §1.1), so a layout with one fails [`Layout::check`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_override: Option<FsOptions>,
}

/// A subvolume in every user's home (`~/.cache`), made by `systemd-tmpfiles --user` with a
/// `v` line at login (so the user owns it), with `h ... +C` for NOCOW.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeSubvolume {
    /// Path relative to the home directory (`.cache`).
    pub path: String,
    /// What it holds and how.
    pub data: DataPolicy,
}

/// What a subvolume holds, and the attributes and snapshots its data gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPolicy {
    /// The kind of data.
    pub purpose: Purpose,
    /// The tools whose data lives here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The paths it holds (tool data directories merged into it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
    /// The NOCOW attribute on the subvolume root (`chattr +C`), inherited by new files.
    #[serde(default)]
    pub nocow: bool,
    /// The compression property on the subvolume root; `None` inherits the mount option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionProperty>,
    /// Snapshots of this subvolume.
    #[serde(default)]
    pub snapshots: Snapshots,
    /// Why each choice.
    #[serde(default, skip_serializing_if = "Reasons::is_empty")]
    pub why: Reasons,
}

impl DataPolicy {
    /// A policy with no attributes and no snapshots.
    pub fn new(purpose: Purpose) -> Self {
        DataPolicy {
            purpose,
            tools: Vec::new(),
            holds: Vec::new(),
            nocow: false,
            compression: None,
            snapshots: Snapshots::Off,
            why: Reasons::new(),
        }
    }

    /// The compression new files here really get, given the filesystem's options:
    /// none for NOCOW data, the property if set, else the mount option.
    pub fn effective_compression(&self, fs: &FsOptions) -> Option<Algorithm> {
        if self.nocow || fs.nodatacow {
            return None;
        }
        match self.compression {
            Some(p) => p.algorithm(),
            None => fs.effective_compression().map(|c| c.algorithm),
        }
    }
}

/// The value of the `compression` property (`btrfs property set PATH compression VALUE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionProperty {
    /// `zstd` (the property takes no level; the mount option's level applies if any).
    Zstd,
    /// `lzo`.
    Lzo,
    /// `zlib`.
    Zlib,
    /// `none`: never compress (kernel ≥ 5.14).
    None,
}

impl CompressionProperty {
    /// The property for a value as `btrfs property set` takes it (`zstd`, `lzo`, `zlib`,
    /// `none`/`no`/empty), quotes ignored; `None` for anything else.
    pub fn from_name(value: &str) -> Option<Self> {
        Some(match value.trim_matches(|c| c == '"' || c == '\'') {
            "zstd" => CompressionProperty::Zstd,
            "lzo" => CompressionProperty::Lzo,
            "zlib" => CompressionProperty::Zlib,
            "none" | "no" | "" => CompressionProperty::None,
            _ => return None,
        })
    }

    /// The property value.
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionProperty::Zstd => "zstd",
            CompressionProperty::Lzo => "lzo",
            CompressionProperty::Zlib => "zlib",
            CompressionProperty::None => "none",
        }
    }

    /// The algorithm it selects, if any.
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            CompressionProperty::Zstd => Some(Algorithm::Zstd),
            CompressionProperty::Lzo => Some(Algorithm::Lzo),
            CompressionProperty::Zlib => Some(Algorithm::Zlib),
            CompressionProperty::None => None,
        }
    }
}

/// The kind of data a subvolume holds: it decides separation, attributes and snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// The operating system (`/`).
    System,
    /// Users' documents and settings.
    UserData,
    /// SQLite-backed application state (browser profiles, IDE state).
    AppState,
    /// Source trees.
    Projects,
    /// A database server's data directory.
    Database,
    /// Other service state.
    ServiceState,
    /// Virtual machine disk images.
    VmImages,
    /// Container images and layers.
    ContainerStorage,
    /// Container volumes.
    ContainerVolumes,
    /// Re-creatable caches.
    Cache,
    /// Build trees and outputs.
    BuildOutput,
    /// Downloaded packages and registries.
    PackageCache,
    /// The Nix store.
    NixStore,
    /// Logs.
    Logs,
    /// Photos, music, video.
    Media,
    /// Game libraries.
    Games,
    /// Machine-learning model files.
    AiModels,
    /// Mail stores.
    Mail,
    /// Swap files.
    Swap,
    /// A snapper `.snapshots` subvolume.
    Snapshots,
    /// Anything else (parsed configurations).
    Other,
}

impl Purpose {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::System => "system",
            Purpose::UserData => "user-data",
            Purpose::AppState => "app-state",
            Purpose::Projects => "projects",
            Purpose::Database => "database",
            Purpose::ServiceState => "service-state",
            Purpose::VmImages => "vm-images",
            Purpose::ContainerStorage => "container-storage",
            Purpose::ContainerVolumes => "container-volumes",
            Purpose::Cache => "cache",
            Purpose::BuildOutput => "build-output",
            Purpose::PackageCache => "package-cache",
            Purpose::NixStore => "nix-store",
            Purpose::Logs => "logs",
            Purpose::Media => "media",
            Purpose::Games => "games",
            Purpose::AiModels => "ai-models",
            Purpose::Mail => "mail",
            Purpose::Swap => "swap",
            Purpose::Snapshots => "snapshots",
            Purpose::Other => "other",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a snapshot of the data is worth when restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Files are independent: any snapshot is good.
    Any,
    /// A snapshot of the one subvolume restores like a crash (WAL replay).
    CrashConsistent,
    /// Stop or flush the program first.
    NeedsQuiesce,
}

/// Snapshots of a subvolume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Snapshots {
    /// Never snapshotted (re-creatable data, or data with its own backup method).
    #[default]
    Off,
    /// Timeline snapshots (snapper), keeping this many of each.
    Timeline {
        /// Hourly snapshots kept.
        hourly: u32,
        /// Daily snapshots kept.
        daily: u32,
        /// Weekly snapshots kept.
        weekly: u32,
        /// Monthly snapshots kept.
        monthly: u32,
        /// What a snapshot is worth.
        consistency: Consistency,
    },
}

impl Snapshots {
    /// True for any snapshot schedule.
    pub fn is_on(&self) -> bool {
        !matches!(self, Snapshots::Off)
    }

    /// What a timeline keeps, in words (`48 hourly, 14 daily, 4 weekly`); `None` when off.
    pub fn retention(&self) -> Option<String> {
        let Snapshots::Timeline {
            hourly,
            daily,
            weekly,
            monthly,
            ..
        } = self
        else {
            return None;
        };
        let kept: Vec<String> = [
            (hourly, "hourly"),
            (daily, "daily"),
            (weekly, "weekly"),
            (monthly, "monthly"),
        ]
        .iter()
        .filter(|(n, _)| **n > 0)
        .map(|(n, k)| format!("{n} {k}"))
        .collect();
        Some(kept.join(", "))
    }
}

/// A swap file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swapfile {
    /// Path relative to the subvolume's mount point.
    pub path: String,
    /// Size.
    pub size: Bytes,
    /// Swap priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Options for `swapDevices` (`nofail`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Settings outside disko: sysctls, I/O schedulers, tmpfiles, zram, NixOS options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemSettings {
    /// `boot.kernel.sysctl` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysctls: Vec<Sysctl>,
    /// I/O scheduler per device class (a udev rule each).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_schedulers: Vec<SchedulerRule>,
    /// System `systemd.tmpfiles.rules`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfiles: Vec<TmpfilesRule>,
    /// Compressed swap in RAM instead of (or besides) a swap file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zram: Option<Zram>,
    /// Other NixOS options (engine settings, storage driver, scrub).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nixos: Vec<NixosSetting>,
}

/// A sysctl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    /// Key (`vm.dirty_bytes`).
    pub key: String,
    /// Value.
    pub value: u64,
    /// Why.
    pub why: Why,
}

/// An I/O scheduler for a class of devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerRule {
    /// The device class.
    pub class: DeviceClass,
    /// `none`, `mq-deadline`, `bfq` or `kyber`.
    pub scheduler: String,
    /// Why.
    pub why: Why,
}

/// A systemd-tmpfiles line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfilesRule {
    /// The line (`d /home/alice/src 0755 alice users -`).
    pub line: String,
    /// Why.
    pub why: Why,
}

/// zram swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zram {
    /// Share of RAM, in percent.
    pub memory_percent: u8,
    /// Why.
    pub why: Why,
}

/// One NixOS option set to a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NixosSetting {
    /// Attribute path (`services.postgresql.settings.wal_init_zero`).
    pub path: String,
    /// Value.
    pub value: NixValue,
    /// Why.
    pub why: Why,
}

/// A Nix value in a NixOS setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NixValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<NixValue>),
    /// An attribute set.
    Attrs(BTreeMap<String, NixValue>),
}

impl Layout {
    /// Every btrfs filesystem in the layout, mutable, in [`Layout::btrfs_filesystems`] order.
    pub fn btrfs_filesystems_mut(&mut self) -> Vec<&mut BtrfsFilesystem> {
        fn walk<'a>(c: &'a mut Content, out: &mut Vec<&'a mut BtrfsFilesystem>) {
            match c {
                Content::Btrfs(b) => out.push(b),
                Content::Luks(l) => walk(&mut l.content, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for d in &mut self.disks {
            match &mut d.content {
                DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                    for p in partitions {
                        if let Some(c) = &mut p.content {
                            walk(c, &mut out);
                        }
                    }
                }
                DiskContent::Whole { content } => walk(content, &mut out),
            }
        }
        out
    }

    /// Every btrfs filesystem in the layout, with the disk it is on.
    pub fn btrfs_filesystems(&self) -> Vec<(&Disk, &BtrfsFilesystem)> {
        fn walk<'a>(c: &'a Content, out: &mut Vec<&'a BtrfsFilesystem>) {
            match c {
                Content::Btrfs(b) => out.push(b),
                Content::Luks(l) => walk(&l.content, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for d in &self.disks {
            let mut here = Vec::new();
            match &d.content {
                DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                    for p in partitions {
                        if let Some(c) = &p.content {
                            walk(c, &mut here);
                        }
                    }
                }
                DiskContent::Whole { content } => walk(content, &mut here),
            }
            out.extend(here.into_iter().map(|b| (d, b)));
        }
        out
    }

    /// Every mount point in the layout with what provides it, in layout order.
    pub fn mountpoints(&self) -> Vec<(String, String)> {
        fn walk(c: &Content, owner: &str, out: &mut Vec<(String, String)>) {
            match c {
                Content::Btrfs(b) => {
                    if let Some(t) = &b.top_level {
                        out.push((t.mountpoint.clone(), format!("{owner} (top level)")));
                    }
                    for s in &b.subvolumes {
                        if let Some(m) = &s.mount {
                            out.push((m.mountpoint.clone(), format!("subvolume {}", s.name)));
                        }
                    }
                }
                Content::Filesystem(f) => {
                    if let Some(m) = &f.mountpoint {
                        out.push((m.clone(), owner.to_string()));
                    }
                }
                Content::Luks(l) => walk(&l.content, owner, out),
                Content::Swap(_) | Content::Other { .. } => {}
            }
        }
        let mut out = Vec::new();
        for d in &self.disks {
            match &d.content {
                DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                    for p in partitions {
                        if let Some(c) = &p.content {
                            walk(c, &format!("partition {}.{}", d.name, p.name), &mut out);
                        }
                    }
                }
                DiskContent::Whole { content } => {
                    walk(content, &format!("disk {}", d.name), &mut out)
                }
            }
        }
        out
    }

    /// A copy without any reasons: what two layouts are compared by when only the structure
    /// matters (a parsed disko.nix has no reasons of ours).
    pub fn without_reasons(&self) -> Layout {
        fn strip_content(c: &mut Content) {
            match c {
                Content::Btrfs(b) => {
                    b.why.clear();
                    for s in &mut b.subvolumes {
                        s.data.why.clear();
                    }
                    for h in &mut b.home_subvolumes {
                        h.data.why.clear();
                    }
                }
                Content::Luks(l) => {
                    l.why = None;
                    strip_content(&mut l.content);
                }
                _ => {}
            }
        }
        let mut l = self.clone();
        for d in &mut l.disks {
            d.why = None;
            match &mut d.content {
                DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                    for p in partitions {
                        p.why = None;
                        if let Some(c) = &mut p.content {
                            strip_content(c);
                        }
                    }
                }
                DiskContent::Whole { content } => strip_content(content),
            }
        }
        l.system = SystemSettings::default();
        l
    }
}

/// How deep a mount point is, for mount order: `/` is 0, `/home` 1, `/var/lib/x` 3. Mounts
/// happen shallowest first (then alphabetically), so the first mount of a filesystem is the
/// one with the least depth.
pub fn mount_depth(mp: &str) -> usize {
    if mp == "/" {
        0
    } else {
        mp.matches('/').count()
    }
}

impl BtrfsFilesystem {
    /// The mount that sets this filesystem's options: `/` if it is here, else the top-level
    /// mount, else the shallowest (then alphabetically first) mount point; `None` when
    /// nothing of it is mounted.
    pub fn first_mount(&self) -> Option<&str> {
        let mut mps: Vec<&str> = self
            .subvolumes
            .iter()
            .filter_map(|s| s.mount.as_ref().map(|m| m.mountpoint.as_str()))
            .chain(self.top_level.as_ref().map(|t| t.mountpoint.as_str()))
            .collect();
        mps.sort_by_key(|m| (mount_depth(m), *m));
        mps.first().copied()
    }

    /// The subvolume with this name.
    pub fn subvolume(&self, name: &str) -> Option<&Subvolume> {
        self.subvolumes.iter().find(|s| s.name == name)
    }

    /// The subvolume mounted at `/home`, if any (home subvolumes live inside it).
    pub fn home(&self) -> Option<&Subvolume> {
        self.subvolumes
            .iter()
            .find(|s| s.mount.as_ref().is_some_and(|m| m.mountpoint == "/home"))
    }
}
