//! The hardware a layout is planned for: disk classes, RAM and CPU.
//!
//! [`HardwareProfile`] is what the planner reads. It comes from a nixos-facter report
//! ([`facter`]), from a toolstack's `[hardware]` table, or from nothing (then every
//! hardware-dependent choice says it assumed a default).

pub mod facter;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The class of a block device: what the models and the rules key on.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    /// NVMe SSD.
    Nvme,
    /// SATA or SAS SSD.
    SataSsd,
    /// Rotational disk.
    Hdd,
    /// A virtual disk (virtio-blk, virtio-scsi, cloud block volume).
    Virtio,
    /// Soldered eMMC.
    Emmc,
    /// SD card.
    Sd,
    /// USB mass storage (flash drive or enclosure).
    Usb,
    /// RAM-backed (tmpfs file, brd): a lab class for calibration.
    Ram,
    /// Not known.
    #[default]
    Unknown,
}

impl DeviceClass {
    /// Every class, in preference order for a system disk.
    pub const ALL: [DeviceClass; 9] = [
        DeviceClass::Nvme,
        DeviceClass::SataSsd,
        DeviceClass::Virtio,
        DeviceClass::Hdd,
        DeviceClass::Emmc,
        DeviceClass::Sd,
        DeviceClass::Usb,
        DeviceClass::Ram,
        DeviceClass::Unknown,
    ];

    /// The name used in files and on the command line (`sata-ssd`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Nvme => "nvme",
            DeviceClass::SataSsd => "sata-ssd",
            DeviceClass::Hdd => "hdd",
            DeviceClass::Virtio => "virtio",
            DeviceClass::Emmc => "emmc",
            DeviceClass::Sd => "sd",
            DeviceClass::Usb => "usb",
            DeviceClass::Ram => "ram",
            DeviceClass::Unknown => "unknown",
        }
    }

    /// Rotational media: seeks dominate, fragmentation costs most.
    pub fn is_rotational(self) -> bool {
        self == DeviceClass::Hdd
    }

    /// Slow flash (SD, eMMC, USB sticks): little write endurance, low throughput.
    pub fn is_slow_flash(self) -> bool {
        matches!(self, DeviceClass::Sd | DeviceClass::Emmc | DeviceClass::Usb)
    }

    /// A documented, conservative sequential write figure in MB/s for the class, used only to
    /// size writeback limits. Sources: typical datasheet figures (NVMe PCIe 3 ≥ 1500 MB/s,
    /// SATA 6 Gb/s ≈ 450–550 MB/s, 7200 rpm 2.5"/3.5" HDD 100–200 MB/s, UHS-I SD cards
    /// 10–90 MB/s, eMMC 5.1 50–250 MB/s, USB 2 sticks ≈ 30 MB/s); virtual disks are unknown
    /// and taken as a SATA SSD.
    pub fn nominal_write_mb_s(self) -> u64 {
        match self {
            DeviceClass::Nvme => 1500,
            DeviceClass::SataSsd => 450,
            DeviceClass::Virtio | DeviceClass::Unknown => 450,
            DeviceClass::Hdd => 120,
            DeviceClass::Emmc => 80,
            DeviceClass::Sd => 20,
            DeviceClass::Usb => 30,
            DeviceClass::Ram => 4000,
        }
    }

    /// The device path a plan uses when it knows nothing better.
    pub fn placeholder_device(self) -> &'static str {
        match self {
            DeviceClass::Nvme => "/dev/nvme0n1",
            DeviceClass::Virtio => "/dev/vda",
            DeviceClass::Emmc | DeviceClass::Sd => "/dev/mmcblk0",
            _ => "/dev/sda",
        }
    }
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceClass::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = DeviceClass::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown device class `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// How sure a disk's class is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Guessed from weak hints (size, unknown model).
    #[default]
    Low,
    /// Inferred from a model string.
    Medium,
    /// Stated by the driver or bus (nvme, virtio, mmc, usb-storage) or by the user.
    High,
}

/// One disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskInfo {
    /// The stable path to use (`/dev/disk/by-id/...` when known).
    pub device: String,
    /// The kernel name (`/dev/nvme0n1`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_name: Option<String>,
    /// Its class.
    pub class: DeviceClass,
    /// How sure the class is.
    pub class_confidence: Confidence,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Model string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// What the planner knows about the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareProfile {
    /// Where this came from (`facter.json: PATH`, `toolstack [hardware]`).
    pub source: String,
    /// Nix system double (`x86_64-linux`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// `none`, `kvm`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualisation: Option<String>,
    /// CPU model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Hardware threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<u32>,
    /// Whether the CPU has AVX2 (zstd and checksums are faster with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_avx2: Option<bool>,
    /// Installed RAM in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_bytes: Option<u64>,
    /// Real disks (no ram, loop, zram or optical devices).
    #[serde(default)]
    pub disks: Vec<DiskInfo>,
}

impl HardwareProfile {
    /// The disk a system layout goes on: the best class, then the largest; USB sticks only
    /// when nothing else exists.
    pub fn system_disk(&self) -> Option<&DiskInfo> {
        let rank = |c: DeviceClass| {
            DeviceClass::ALL
                .iter()
                .position(|x| *x == c)
                .unwrap_or(usize::MAX)
        };
        self.disks.iter().min_by(|a, b| {
            rank(a.class)
                .cmp(&rank(b.class))
                .then(b.size_bytes.cmp(&a.size_bytes))
                .then(a.device.cmp(&b.device))
        })
    }
}
