//! The hardware a layout is planned for: disk classes, RAM and CPU.
//!
//! [`HardwareProfile`] is what the planner reads. It comes from a nixos-facter report
//! ([`facter`]), from a toolstack's `[hardware]` table, or from nothing (then every
//! hardware-dependent choice says it assumed a default). [`HardwareDetails`] holds what a
//! facter report says beyond that (CPU features, memory source, skipped devices, caveats).

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

    /// Rotational or slow flash: media where each random request costs milliseconds.
    pub fn is_slow_media(self) -> bool {
        self.is_rotational() || self.is_slow_flash()
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
    /// Vendor name (`Samsung`, `WDC`), when the source names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The bus as hwinfo names it: `NVME`, `SCSI` (also USB sticks and virtio-scsi), `IDE` (SATA
    /// disks on AHCI or behind a SAS HBA); none for virtio-blk and SD cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// The active kernel driver (`nvme`, `ahci`, `mpt3sas`, `usb-storage`, `virtio-pci`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The kernel modules behind it (`sd_mod`, `usb_storage`); empty when the driver is built in
    /// or the source does not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driver_modules: Vec<String>,
    /// For [`DeviceClass::Usb`]: the drive inside the enclosure, when its name reveals it
    /// (`usb-Samsung_SSD_870_...` holds a SATA SSD). `None` for sticks and unknown enclosures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_class: Option<DeviceClass>,
    /// Why the class is what it is (`driver nvme`, `model HTS725032A9A364 is a Hitachi
    /// Travelstar HDD family`); empty when the user stated it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class_reason: String,
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
    /// What a report says beyond this (CPU topology and features, memory source, skipped
    /// devices, caveats); empty when the profile does not come from a report.
    #[serde(default, skip_serializing_if = "HardwareDetails::is_empty")]
    pub details: HardwareDetails,
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

/// What a hardware report says beyond [`HardwareProfile`], and what it leaves open.
///
/// Every count is an `Option`: `None` means the report does not say (an ARM report carries no
/// core count), never zero. Whatever was guessed or left out is in [`caveats`](Self::caveats),
/// and every device that is not a real disk is in [`skipped`](Self::skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareDetails {
    /// The report's format `version` (nixos-facter: 1; 2 for a few weeks in August 2024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_version: Option<u64>,
    /// Whether the machine booted with UEFI (`uefi.supported`; reports since November 2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uefi: Option<bool>,
    /// The processor.
    #[serde(default)]
    pub cpu: CpuInfo,
    /// Installed memory.
    #[serde(default)]
    pub memory: MemoryInfo,
    /// Devices listed as disks (or optical drives) that are not real disks, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedDevice>,
    /// What the report does not say, or says oddly, and what was assumed instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caveats: Vec<Caveat>,
}

impl HardwareDetails {
    /// Nothing known.
    pub fn is_empty(&self) -> bool {
        *self == HardwareDetails::default()
    }
}

/// The processor, as far as the report tells.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuInfo {
    /// `x86_64`, `aarch64`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The vendor string (`GenuineIntel`, `AuthenticAMD`, `ARM Limited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The model name, whitespace collapsed (`AMD Ryzen 7 7840U w/ Radeon 780M Graphics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Where [`model`](Self::model) came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_source: Option<CpuModelSource>,
    /// Populated sockets (packages); a VM often shows one per vCPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    /// Physical cores over all sockets; `None` when the report has no count (ARM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// Hardware threads over all sockets; `None` when the report has no count (ARM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// The features that speed up compression and checksums; `None` when the report lists no
    /// CPU features at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<CpuFeatures>,
    /// The kernel's memory page size in bytes (4096; 16384 or 65536 on some ARM kernels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// Where a CPU model name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuModelSource {
    /// The kernel's model name (`hardware.cpu[].model_name`).
    ModelName,
    /// The firmware's SMBIOS processor record (`smbios.processor[].version`).
    SmbiosProcessor,
}

/// CPU features that matter for btrfs compression (zstd, lzo) and checksums (crc32c, xxhash64,
/// sha256, blake2b). Flags are named as in `/proc/cpuinfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuFeatures {
    /// x86 AVX2: wide SIMD for zstd, xxhash and blake2b.
    pub avx2: bool,
    /// x86 AVX-512 subsets present (`avx512f`, `avx512bw`, ...), sorted; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avx512: Vec<String>,
    /// x86 SSE4.2: the `crc32` instruction behind hardware crc32c.
    pub sse4_2: bool,
    /// AES instructions (x86 AES-NI, or the ARMv8 crypto extension).
    pub aes: bool,
    /// x86 carry-less multiply: folds crc32c over long buffers.
    pub pclmulqdq: bool,
    /// x86 vector carry-less multiply (with AVX-512, faster crc folding).
    pub vpclmulqdq: bool,
    /// x86 SHA extensions: hardware sha256.
    pub sha_ni: bool,
    /// ARMv8 CRC32 instructions (crc32 and crc32c).
    pub crc32: bool,
    /// ARM Advanced SIMD (NEON).
    pub asimd: bool,
    /// ARMv8 SHA-256 instructions.
    pub sha2: bool,
    /// ARMv8 polynomial multiply (crc folding, GCM).
    pub pmull: bool,
}

impl CpuFeatures {
    /// Reads the flags that matter out of a CPU's feature list; the rest are ignored.
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Self {
        let mut f = CpuFeatures::default();
        for flag in flags {
            match flag {
                "avx2" => f.avx2 = true,
                "sse4_2" => f.sse4_2 = true,
                "aes" => f.aes = true,
                "pclmulqdq" => f.pclmulqdq = true,
                "vpclmulqdq" => f.vpclmulqdq = true,
                "sha_ni" => f.sha_ni = true,
                "crc32" => f.crc32 = true,
                "asimd" | "neon" => f.asimd = true,
                "sha2" => f.sha2 = true,
                "pmull" => f.pmull = true,
                a if a.starts_with("avx512") => f.avx512.push(a.to_string()),
                _ => {}
            }
        }
        f.avx512.sort();
        f.avx512.dedup();
        f
    }

    /// Whether crc32c (btrfs' default checksum) runs in hardware: SSE4.2 or ARMv8 CRC32.
    pub fn crc32c_in_hardware(&self) -> bool {
        self.sse4_2 || self.crc32
    }

    /// Whether sha256 checksums run in hardware: SHA-NI or ARMv8 SHA2.
    pub fn sha256_in_hardware(&self) -> bool {
        self.sha_ni || self.sha2
    }

    /// Whether any AVX-512 subset is present.
    pub fn has_avx512(&self) -> bool {
        !self.avx512.is_empty()
    }
}

/// Installed memory, and how it was counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryInfo {
    /// The figure used (also [`HardwareProfile::ram_bytes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Which count [`bytes`](Self::bytes) is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<MemorySource>,
    /// The sum of the SMBIOS memory devices (the modules installed), when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smbios_bytes: Option<u64>,
    /// Populated SMBIOS memory devices (empty slots, size 0, not counted).
    #[serde(default)]
    pub smbios_modules: u32,
    /// The kernel's estimate of physical memory (`phys_mem`, rounded by hwinfo, usually a
    /// little less than installed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phys_mem_bytes: Option<u64>,
}

/// Which count of memory was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemorySource {
    /// The sum of the SMBIOS memory devices: what is installed.
    Smbios,
    /// The kernel's `phys_mem` estimate: what the OS can see.
    PhysMem,
}

/// A device the report lists that is not a disk to put a layout on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedDevice {
    /// Its kernel name (`/dev/ram0`), or where it is in the report when it has none.
    pub device: String,
    /// Why it is not a disk.
    pub reason: SkipReason,
    /// Its size, when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// Why a listed device is not a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A RAM disk (`/dev/ramN`, brd).
    RamDisk,
    /// A loop device.
    Loop,
    /// A compressed RAM swap device (`/dev/zramN`).
    Zram,
    /// An optical drive (`/dev/srN`).
    Optical,
    /// A floppy drive.
    Floppy,
    /// A network block device (`/dev/nbdN`).
    NetworkBlock,
    /// An md RAID array or device-mapper volume: built on disks, not one.
    Virtual,
    /// An eMMC boot or RPMB area (`mmcblk0boot0`): part of the eMMC, not a disk.
    EmmcHardwarePartition,
    /// Size 0 or no size with a card-reader name: an empty card reader or drive.
    NoMedium,
    /// No device name at all: nothing to put a layout on.
    NoDeviceName,
    /// The same kernel device listed twice.
    Duplicate,
}

impl SkipReason {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::RamDisk => "a RAM disk",
            SkipReason::Loop => "a loop device",
            SkipReason::Zram => "a compressed RAM (zram) device",
            SkipReason::Optical => "an optical drive",
            SkipReason::Floppy => "a floppy drive",
            SkipReason::NetworkBlock => "a network block device",
            SkipReason::Virtual => "an md or device-mapper volume, not a disk",
            SkipReason::EmmcHardwarePartition => "an eMMC boot or RPMB area",
            SkipReason::NoMedium => "no medium (an empty card reader or drive)",
            SkipReason::NoDeviceName => "no device name",
            SkipReason::Duplicate => "listed twice",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a report does not say, or says oddly, and what was assumed instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caveat {
    /// Where in the report (`hardware.cpu`, `hardware.disk[3]`, `smbios.processor[0].version`).
    pub path: String,
    /// What is missing or odd, and what was done about it.
    pub message: String,
}

impl fmt::Display for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A disk class read off a model name, with how sure and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelGuess {
    /// The class.
    pub class: DeviceClass,
    /// How sure ([`Confidence::Medium`]: a model family, never stated by the device).
    pub confidence: Confidence,
    /// Why (`model HTS725032A9A364 is a Hitachi Travelstar HDD family`).
    pub reason: String,
}

/// Reads a SATA/SAS disk's class off its model names (the `model` field, the model part of a
/// `/dev/disk/by-id` name, ...; fuller names first). Neither SATA nor SAS reports say whether
/// a disk spins, so this knows the model families of the common makers: SSD lines first
/// (including the SSD lines of HDD makers, like Seagate `ST…FM…` and HGST `HUSM…`), then HDD
/// lines, then emulated disks. `None` when no family matches.
///
/// ```
/// use btrtune_advisor::hardware::{guess_class_from_model, DeviceClass};
///
/// let g = guess_class_from_model(&["HITACHI_HTS725032A9A364", "HITACHI HTS72503"]).unwrap();
/// assert_eq!(g.class, DeviceClass::Hdd);
/// assert_eq!(g.reason, "model HTS725032A9A364 is a Hitachi Travelstar HDD family");
/// assert!(guess_class_from_model(&["Generic DISK00"]).is_none());
/// ```
pub fn guess_class_from_model(names: &[&str]) -> Option<ModelGuess> {
    // Per name: the display form (`_` as spaces), its upper-case form, and both split into
    // words the same way.
    let prepared: Vec<(String, String, Vec<String>, Vec<String>)> = names
        .iter()
        .map(|n| {
            let shown = n
                .replace('_', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let split = |t: &str| -> Vec<String> {
                t.split([' ', '-', '/', ','])
                    .filter(|w| !w.is_empty())
                    .map(String::from)
                    .collect()
            };
            let upper = shown.to_ascii_uppercase();
            let (words, upper_words) = (split(&shown), split(&upper));
            (shown, upper, words, upper_words)
        })
        .filter(|(t, ..)| !t.is_empty())
        .collect();
    use families::{MODEL_FAMILIES, Pattern};
    for family in MODEL_FAMILIES {
        for (shown, text, words, upper) in &prepared {
            let whole = || format!("\"{shown}\"");
            let word = |i: usize| words.get(i).cloned().unwrap_or_else(whole);
            let hit = match family.pattern {
                Pattern::Text(p) => text.contains(p).then(whole),
                Pattern::Word(p) => upper.iter().any(|w| w == p).then(whole),
                Pattern::Contains(p) => upper
                    .iter()
                    .position(|w| w.contains(p))
                    .map(|i| if upper[i] == p { whole() } else { word(i) }),
                Pattern::Prefix(p) => upper.iter().position(|w| w.starts_with(p)).map(word),
                Pattern::PrefixDigit(p) => upper
                    .iter()
                    .position(|w| {
                        w.strip_prefix(p)
                            .and_then(|r| r.chars().next())
                            .is_some_and(|c| c.is_ascii_digit())
                    })
                    .map(word),
                Pattern::Custom(f) => upper.iter().position(|w| f(w)).map(word),
            };
            if let Some(matched) = hit {
                return Some(ModelGuess {
                    class: family.class,
                    confidence: Confidence::Medium,
                    reason: format!("model {matched} {}", family.what),
                });
            }
        }
    }
    None
}

/// The model-family table behind [`guess_class_from_model`].
mod families {
    use super::DeviceClass::{self, Hdd, SataSsd, Virtio};
    use Pattern::{Contains, Custom, Prefix, PrefixDigit, Text, Word};

    #[derive(Clone, Copy)]
    pub(super) enum Pattern {
        /// The whole name (upper case, `_` as spaces) contains this.
        Text(&'static str),
        /// A word is exactly this.
        Word(&'static str),
        /// A word contains this.
        Contains(&'static str),
        /// A word starts with this.
        Prefix(&'static str),
        /// A word starts with this and then a digit.
        PrefixDigit(&'static str),
        /// A word passes this test.
        Custom(fn(&str) -> bool),
    }

    pub(super) struct Family {
        pub(super) pattern: Pattern,
        pub(super) class: DeviceClass,
        pub(super) what: &'static str,
    }

    const fn fam(pattern: Pattern, class: DeviceClass, what: &'static str) -> Family {
        Family {
            pattern,
            class,
            what,
        }
    }

    /// Seagate's SAS/SATA SSDs: `ST` + capacity + `F` + M/N/P (`ST400FM0053`); its HDDs never
    /// have an `F` there (`ST20000NE000`, `ST4000NM0023`).
    fn seagate_ssd(w: &str) -> bool {
        let Some(rest) = w.strip_prefix("ST") else {
            return false;
        };
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let mut tail = rest.chars().skip(digits);
        digits > 0 && tail.next() == Some('F') && matches!(tail.next(), Some('M' | 'N' | 'P'))
    }

    /// Model families, in the order they are tried. Sources: the makers' model-number guides
    /// (Seagate, WD, HGST/Hitachi, Toshiba, Samsung) and the names the kernel shows for them.
    #[rustfmt::skip]
    pub(super) const MODEL_FAMILIES: &[Family] = &[
        // Emulated and cloud disks that do not use a virtio driver.
        fam(Word("QEMU"), Virtio, "is a QEMU emulated disk"),
        fam(Word("VBOX"), Virtio, "is a VirtualBox emulated disk"),
        fam(Text("VMWARE VIRTUAL"), Virtio, "is a VMware virtual disk"),
        fam(Text("VIRTUAL DISK"), Virtio, "is a hypervisor's virtual disk"),
        fam(Word("BLOCKVOLUME"), Virtio, "is an Oracle Cloud block volume"),
        fam(Word("PERSISTENTDISK"), Virtio, "is a Google Cloud persistent disk"),
        fam(Text("ELASTIC BLOCK STORE"), Virtio, "is an AWS EBS volume"),
        // SSD lines of HDD makers, before their HDD rules.
        fam(Custom(seagate_ssd), SataSsd, "is a Seagate SSD family (ST…F…)"),
        fam(Prefix("HUSM"), SataSsd, "is an HGST Ultrastar SSD family (HUSM…)"),
        fam(Prefix("HUSSL"), SataSsd, "is an HGST Ultrastar SSD family (HUSSL…)"),
        fam(PrefixDigit("WDS"), SataSsd, "is a Western Digital SSD family (WDS…)"),
        fam(Prefix("SA510"), SataSsd, "is a Western Digital Blue SA510 SSD"),
        // SSDs.
        fam(Contains("SSD"), SataSsd, "names an SSD"),
        fam(Text("SOLID STATE"), SataSsd, "says solid state"),
        fam(PrefixDigit("HFS"), SataSsd, "is an SK hynix SSD family (HFS…)"),
        fam(Prefix("SHGS"), SataSsd, "is an SK hynix Gold SSD family (SHGS…)"),
        fam(Prefix("MZ7"), SataSsd, "is a Samsung OEM SSD family (MZ7…)"),
        fam(Text("MZ-7"), SataSsd, "is a Samsung SSD family (MZ-7…)"),
        fam(PrefixDigit("PM8"), SataSsd, "is a Samsung data-centre SSD family (PM8…)"),
        fam(PrefixDigit("SM8"), SataSsd, "is a Samsung data-centre SSD family (SM8…)"),
        fam(Prefix("MTFD"), SataSsd, "is a Micron SSD family (MTFD…)"),
        fam(Word("MX500"), SataSsd, "is a Crucial MX500 SSD"),
        fam(Word("BX500"), SataSsd, "is a Crucial BX500 SSD"),
        fam(Contains("TRION"), SataSsd, "is an OCZ/Toshiba Trion SSD family"),
        fam(Prefix("VERTEX"), SataSsd, "is an OCZ Vertex SSD family"),
        fam(Prefix("AGILITY"), SataSsd, "is an OCZ Agility SSD family"),
        fam(Prefix("SA400"), SataSsd, "is a Kingston A400 SSD family (SA400…)"),
        fam(Prefix("SUV"), SataSsd, "is a Kingston UV SSD family (SUV…)"),
        fam(Prefix("SEDC"), SataSsd, "is a Kingston data-centre SSD family (SEDC…)"),
        fam(Prefix("SKC"), SataSsd, "is a Kingston KC SSD family (SKC…)"),
        fam(Prefix("SV300"), SataSsd, "is a Kingston SSDNow V300"),
        fam(Prefix("HSAV25S"), SataSsd, "is an HDSTOR 2.5\" SATA SSD family (HSAV25S…)"),
        fam(Word("HDSTOR"), SataSsd, "is an HDSTOR SSD (the brand sells SSDs only)"),
        fam(Prefix("SDSSD"), SataSsd, "is a SanDisk SSD family (SDSSD…)"),
        fam(Prefix("SD6S"), SataSsd, "is a SanDisk OEM SSD family (SD6S…)"),
        fam(Prefix("SD7S"), SataSsd, "is a SanDisk OEM SSD family (SD7S…)"),
        fam(Prefix("SD8S"), SataSsd, "is a SanDisk OEM SSD family (SD8S…)"),
        fam(Prefix("SD9S"), SataSsd, "is a SanDisk OEM SSD family (SD9S…)"),
        fam(Prefix("THNS"), SataSsd, "is a Toshiba SSD family (THNS…)"),
        fam(PrefixDigit("ZA"), SataSsd, "is a Seagate SSD family (ZA…)"),
        fam(PrefixDigit("XA"), SataSsd, "is a Seagate Nytro SSD family (XA…)"),
        fam(PrefixDigit("SU"), SataSsd, "is an ADATA SSD family (SU…)"),
        fam(Word("PLEXTOR"), SataSsd, "is a Plextor SSD"),
        fam(Prefix("LITEON"), SataSsd, "is a Lite-On SSD"),
        // HDDs.
        fam(PrefixDigit("STM"), Hdd, "is a Maxtor/Seagate HDD family (STM…)"),
        fam(PrefixDigit("ST"), Hdd, "is a Seagate HDD family (ST…)"),
        fam(Word("MAXTOR"), Hdd, "is a Maxtor HDD"),
        fam(PrefixDigit("WD"), Hdd, "is a Western Digital HDD family (WD…)"),
        fam(PrefixDigit("HTS"), Hdd, "is a Hitachi Travelstar HDD family"),
        fam(PrefixDigit("HTE"), Hdd, "is a Hitachi Travelstar HDD family"),
        fam(PrefixDigit("HDS"), Hdd, "is a Hitachi Deskstar HDD family"),
        fam(PrefixDigit("HDT"), Hdd, "is a Hitachi Deskstar HDD family"),
        fam(PrefixDigit("HDP"), Hdd, "is a Hitachi Deskstar HDD family"),
        fam(PrefixDigit("HDN"), Hdd, "is an HGST Deskstar NAS HDD family"),
        fam(PrefixDigit("HUA"), Hdd, "is an HGST Ultrastar HDD family"),
        fam(PrefixDigit("HUS"), Hdd, "is an HGST Ultrastar HDD family"),
        fam(PrefixDigit("HUH"), Hdd, "is an HGST Ultrastar HDD family"),
        fam(PrefixDigit("HUC"), Hdd, "is an HGST Ultrastar HDD family"),
        fam(PrefixDigit("HD"), Hdd, "is a Samsung SpinPoint HDD family (HD…)"),
        fam(PrefixDigit("HM"), Hdd, "is a Samsung SpinPoint M HDD family (HM…)"),
        fam(PrefixDigit("SP"), Hdd, "is a Samsung SpinPoint P HDD family (SP…)"),
        fam(Text("HN-M"), Hdd, "is a Samsung SpinPoint M HDD family (HN-M…)"),
        fam(PrefixDigit("MQ"), Hdd, "is a Toshiba 2.5\" HDD family (MQ…)"),
        fam(PrefixDigit("MK"), Hdd, "is a Toshiba 2.5\" HDD family (MK…)"),
        fam(PrefixDigit("DT0"), Hdd, "is a Toshiba desktop HDD family (DT0…)"),
        fam(PrefixDigit("MG"), Hdd, "is a Toshiba enterprise HDD family (MG…)"),
        fam(PrefixDigit("MD0"), Hdd, "is a Toshiba HDD family (MD0…)"),
        fam(PrefixDigit("MN0"), Hdd, "is a Toshiba NAS HDD family (MN0…)"),
        fam(PrefixDigit("AL1"), Hdd, "is a Toshiba SAS HDD family (AL1…)"),
        fam(Prefix("HDW"), Hdd, "is a Toshiba HDD family (HDW…)"),
        fam(PrefixDigit("MHV"), Hdd, "is a Fujitsu mobile HDD family"),
        fam(PrefixDigit("MHW"), Hdd, "is a Fujitsu mobile HDD family"),
        fam(PrefixDigit("MHZ"), Hdd, "is a Fujitsu mobile HDD family"),
        fam(PrefixDigit("MJA"), Hdd, "is a Fujitsu mobile HDD family"),
        fam(Prefix("IC35L"), Hdd, "is an IBM/Hitachi Deskstar HDD family"),
        fam(Prefix("IC25N"), Hdd, "is an IBM/Hitachi Travelstar HDD family"),
        fam(Text("MY PASSPORT"), Hdd, "is a WD My Passport portable HDD"),
        fam(Text("MY BOOK"), Hdd, "is a WD My Book external HDD"),
        fam(Word("HDD"), Hdd, "names an HDD"),
    ];
}
