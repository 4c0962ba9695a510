//! Refusing devices that are in use.
//!
//! The harness writes to a real block device only when the user names it twice
//! (`--device /dev/X --wipe /dev/X`) and [`check_spare_device`] finds nothing on it worth
//! keeping. The checks, in the order they run (the first failure is reported):
//!
//! 1. **Confirmation.** Both paths are resolved (symlinks such as `/dev/disk/by-id/...`
//!    followed) and must be block devices with the same device number (`st_rdev`), not
//!    merely equal strings.
//! 2. **Not empty.** The device has a size (`/sys/dev/block/M:m/size`); a loop device with
//!    nothing attached has none.
//! 3. **Not the root disk.** The device of `/` (mountinfo major:minor, or the mount source
//!    for btrfs) is walked down through `partition` parents and `slaves/` (device-mapper,
//!    md) to the disks under it; the device, or the disk it is a partition of, must not be
//!    one of them.
//! 4. **Not mounted, not swap.** Every mounted device (from `/proc/self/mountinfo`, by
//!    device number, so a mount under any path is seen; btrfs members from
//!    `/sys/fs/btrfs/*/devices`) and every active swap partition (`/proc/swaps`, by
//!    device number) is compared with the device, its partitions and everything stacked
//!    on them (`holders/`).
//! 5. **Disk not shared.** If the device is a partition, no other partition of its disk (or
//!    anything stacked on one) may be mounted or swap: btrfs benchmarks only run on disks
//!    with nothing else in use.
//! 6. **No holders.** The device, its partitions and (for a partition) its disk have empty
//!    `holders/` directories: no device-mapper (LVM, dm-crypt, multipath), md or bcache
//!    device is built on them, mounted or not.
//! 7. **Writable.** `/sys/dev/block/M:m/ro` is 0.
//! 8. **No signature** (unless `force`). `blkid -p -o export` (a low-level probe that
//!    bypasses the cache) on the device and each partition finds no filesystem, RAID, LVM,
//!    swap, crypto or partition-table signature. When blkid finds several conflicting
//!    ones, `wipefs --no-act --json` lists them.
//! 9. **Exclusive.** Opening the device with `O_EXCL` succeeds (on Linux it fails with
//!    `EBUSY` while the device is mounted, swap, or claimed by a holder or another
//!    program, even in another mount namespace). The descriptor is closed at once.
//!
//! The checks only read: nothing here writes to any device. They describe a moment; the
//! caller should open the device with `O_EXCL` itself and keep it open while it works.

use crate::sys::mount::unescape_octal;
use btrtune_advisor::layout::Bytes;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// A block device number, `major:minor` (`st_rdev`, or mountinfo's third field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeviceNumber {
    /// The major number (the driver: 8 for sd, 7 for loop, 259 for NVMe and extended
    /// partitions).
    pub major: u64,
    /// The minor number (the device within the driver).
    pub minor: u64,
}

impl DeviceNumber {
    /// Splits a `dev_t` as `stat` returns it (`st_rdev`, `st_dev`).
    pub const fn from_dev_t(dev: u64) -> Self {
        DeviceNumber {
            major: nix::sys::stat::major(dev),
            minor: nix::sys::stat::minor(dev),
        }
    }
}

impl fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DeviceNumber {
    type Err = String;
    /// Parses `8:16` as sysfs `dev` files and mountinfo write it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ma, mi) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not major:minor"))?;
        let major = ma.parse().map_err(|_| format!("bad major in `{s}`"))?;
        let minor = mi.parse().map_err(|_| format!("bad minor in `{s}`"))?;
        Ok(DeviceNumber { major, minor })
    }
}

/// A signature found on the device or one of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// The device or partition it was found on.
    pub device: PathBuf,
    /// `TYPE` for a filesystem, swap, RAID member, LVM physical volume or crypto header;
    /// `PTTYPE` for a partition table.
    pub key: String,
    /// What it is, as libblkid names it (`ext4`, `btrfs`, `gpt`, `dos`, `LVM2_member`).
    pub value: String,
    /// What libblkid says it is used for (`filesystem`, `raid`, `crypto`, `other`,
    /// `partition-table`), when known.
    pub usage: Option<String>,
    /// The filesystem's label, when it has one (it helps recognise the disk).
    pub label: Option<String>,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)?;
        if let Some(label) = &self.label {
            write!(f, " LABEL={label:?}")?;
        }
        write!(f, " on {}", self.device.display())
    }
}

/// What a holder device is (how to stop it differs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum HolderKind {
    /// A device-mapper device (LVM logical volume, dm-crypt, multipath, `dmsetup create`).
    DeviceMapper {
        /// Its name (`/dev/mapper/<name>`, from `/sys/class/block/dm-N/dm/name`).
        name: String,
        /// Its uuid (`LVM-...`, `CRYPT-LUKS2-...`, `mpath-...`), empty if none.
        uuid: String,
    },
    /// An md RAID array.
    Md,
    /// A bcache device.
    Bcache,
    /// Another kind of stacked device.
    Other,
}

/// A device built on top of the device (an entry of its `holders/` directory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// The holder's device node (`/dev/dm-0`, `/dev/md0`).
    pub path: PathBuf,
    /// What it is.
    pub kind: HolderKind,
}

impl Holder {
    /// The command that releases the device.
    pub fn remedy(&self) -> String {
        let path = self.path.display();
        match &self.kind {
            HolderKind::DeviceMapper { name, uuid } if uuid.starts_with("LVM-") => {
                format!("lvchange -an /dev/mapper/{name}")
            }
            HolderKind::DeviceMapper { name, uuid } if uuid.starts_with("CRYPT-") => {
                format!("cryptsetup close {name}")
            }
            HolderKind::DeviceMapper { name, .. } => format!("dmsetup remove {name}"),
            HolderKind::Md => format!("mdadm --stop {path}"),
            HolderKind::Bcache => {
                let name = self.path.file_name().unwrap_or_default().to_string_lossy();
                format!("echo 1 > /sys/block/{name}/bcache/stop")
            }
            HolderKind::Other => format!("stop {path}"),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            HolderKind::DeviceMapper { name, uuid } => {
                let what = if uuid.starts_with("LVM-") {
                    "LVM logical volume"
                } else if uuid.starts_with("CRYPT-") {
                    "dm-crypt mapping"
                } else if uuid.starts_with("mpath-") {
                    "multipath device"
                } else {
                    "device-mapper device"
                };
                write!(f, "{what} {path} (/dev/mapper/{name})")
            }
            HolderKind::Md => write!(f, "md RAID array {path}"),
            HolderKind::Bcache => write!(f, "bcache device {path}"),
            HolderKind::Other => write!(f, "stacked device {path}"),
        }
    }
}

/// How another device on the same disk is in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Usage {
    /// A filesystem mounted at this mount point.
    Mounted(PathBuf),
    /// Active swap.
    Swap,
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Usage::Mounted(at) => write!(f, "mounted at {}", at.display()),
            Usage::Swap => f.write_str("active swap"),
        }
    }
}

/// A check [`check_spare_device`] passed, in the order they ran (for the CLI to print).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Check {
    /// `--device` and `--wipe` name the same block device.
    Confirmed,
    /// The device has a size.
    NotEmpty,
    /// Not the disk (or on the disk) that holds `/`; the root device, if `/` is on one.
    NotRootDisk(Option<PathBuf>),
    /// Neither the device nor any of its partitions or stacked devices is mounted, and
    /// its disk holds no mounted filesystem; the number of partitions checked.
    NotMounted(usize),
    /// Not active swap, nor a partition of a disk with swap on it.
    NotSwap,
    /// No device-mapper, md or bcache device is built on it.
    NoHolders,
    /// Not read-only.
    Writable,
    /// No filesystem, RAID, LVM, swap, crypto or partition-table signature.
    NoSignature,
    /// Signatures were found, and `force` allows overwriting them.
    SignaturesForced(Vec<Signature>),
    /// The signature probe could not run, and `force` allows going on; why.
    ProbeSkipped(String),
    /// It could be opened exclusively (`O_EXCL`): nothing else claims it.
    Exclusive,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Confirmed => f.write_str("--device and --wipe name the same block device"),
            Check::NotEmpty => f.write_str("it has storage (size > 0)"),
            Check::NotRootDisk(Some(root)) => write!(
                f,
                "it is not on the disk holding the root filesystem ({})",
                root.display()
            ),
            Check::NotRootDisk(None) => f.write_str("/ is not on a block device here"),
            Check::NotMounted(0) => {
                f.write_str("it is not mounted, and its disk holds no mounted filesystem")
            }
            Check::NotMounted(n) => write!(
                f,
                "neither it nor its {n} partition(s) are mounted, and its disk holds no mounted filesystem"
            ),
            Check::NotSwap => f.write_str("it is not swap, and its disk holds no swap"),
            Check::NoHolders => {
                f.write_str("no device-mapper, LVM, md or bcache device is built on it")
            }
            Check::Writable => f.write_str("it is writable"),
            Check::NoSignature => {
                f.write_str("no filesystem, RAID, LVM or partition-table signature (blkid -p)")
            }
            Check::SignaturesForced(sigs) => write!(
                f,
                "--force: these signatures will be overwritten: {}",
                join(sigs, ", ")
            ),
            Check::ProbeSkipped(why) => write!(f, "--force: signature probe skipped ({why})"),
            Check::Exclusive => {
                f.write_str("it can be opened exclusively (O_EXCL): nothing else claims it")
            }
        }
    }
}

/// A block device that passed every check, ready to be wiped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpareDevice {
    /// The canonical path of the device node (symlinks resolved: `/dev/sdb`).
    pub path: PathBuf,
    /// The kernel's name for it (`sdb`, `loop3`, `nvme1n1`).
    pub name: String,
    /// Its device number.
    pub dev: DeviceNumber,
    /// Its size in bytes (as `DeviceUnderTest::size_bytes` records it).
    pub size_bytes: u64,
    /// The checks it passed, in order.
    pub checks: Vec<Check>,
}

/// Why a device was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafetyError {
    /// A path could not be resolved or examined.
    #[error("cannot resolve {}: {source}; check the path (ls -l {})", .path.display(), .path.display())]
    Resolve {
        /// The path as given.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A path is not a block device.
    #[error(
        "{} is {kind}, not a block device: name a spare disk such as /dev/sdb (without --device the harness makes its own loop devices)",
        .path.display()
    )]
    NotBlockDevice {
        /// The path as given.
        path: PathBuf,
        /// What it is instead (`a regular file`, `a directory`, `a character device`).
        kind: &'static str,
    },
    /// `--device` and `--wipe` resolve to different devices.
    #[error(
        "the two paths name different devices: --device {} ({device_dev}) --wipe {} ({wipe_dev}); to confirm, name the device to wipe twice: --device {} --wipe {}",
        .device.display(), .wipe.display(), .device.display(), .device.display()
    )]
    PathsDiffer {
        /// `--device` as given.
        device: PathBuf,
        /// Its device number.
        device_dev: DeviceNumber,
        /// `--wipe` as given.
        wipe: PathBuf,
        /// Its device number.
        wipe_dev: DeviceNumber,
    },
    /// The kernel has no block device with this number (a stale device node).
    #[error(
        "{} ({dev}) is not a block device the kernel knows (no /sys/dev/block/{dev}): the device node is stale; check the name with lsblk",
        .device.display()
    )]
    UnknownDevice {
        /// The device.
        device: PathBuf,
        /// Its device number.
        dev: DeviceNumber,
    },
    /// sysfs or procfs could not be read.
    #[error("cannot read {}: {source}; is /sys (or /proc) mounted?", .path.display())]
    System {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The device has size 0.
    #[error(
        "{} has size 0 (no medium, or a loop device with nothing attached): name a device with storage",
        .device.display()
    )]
    Empty {
        /// The device.
        device: PathBuf,
    },
    /// The device is, or is on, the disk holding the root filesystem.
    #[error(
        "{} is {}the disk holding the root filesystem / ({}): btrtune never writes there; name a spare disk",
        .device.display(), on_disk(.device, .disk), .root.display()
    )]
    RootDisk {
        /// The device.
        device: PathBuf,
        /// Its disk (the device itself if it is not a partition).
        disk: PathBuf,
        /// The device `/` is mounted from.
        root: PathBuf,
    },
    /// The device, one of its partitions, or a device stacked on them is mounted.
    #[error(
        "{} is in use: {}{} is mounted at {}; unmount it first (umount {})",
        .device.display(), .mounted.display(), fmt_via(.via), .mount_point.display(), .mount_point.display()
    )]
    Mounted {
        /// The device.
        device: PathBuf,
        /// The mounted device (the device itself, a partition, or a stacked device).
        mounted: PathBuf,
        /// The devices between the two, outermost first (empty when direct).
        via: Vec<PathBuf>,
        /// Where it is mounted.
        mount_point: PathBuf,
    },
    /// The device, one of its partitions, or a device stacked on them is active swap.
    #[error(
        "{} is in use: {}{} is active swap; turn it off first (swapoff {})",
        .device.display(), .swap.display(), fmt_via(.via), .swap.display()
    )]
    Swap {
        /// The device.
        device: PathBuf,
        /// The swap device.
        swap: PathBuf,
        /// The devices between the two, outermost first (empty when direct).
        via: Vec<PathBuf>,
    },
    /// Another partition of the device's disk is mounted or swap.
    #[error(
        "{} is on {}, which also holds {} ({usage}): btrtune only uses disks with nothing else in use; free the whole disk or name another",
        .device.display(), .disk.display(), .other.display()
    )]
    SharesDisk {
        /// The device.
        device: PathBuf,
        /// Its disk.
        disk: PathBuf,
        /// The other device in use on that disk.
        other: PathBuf,
        /// How it is in use.
        usage: Usage,
    },
    /// A device-mapper, md or bcache device is built on the device or a partition.
    #[error(
        "{} is in use: {} is held by {}; stop it first ({}) or name another device",
        .device.display(), .held.display(), join(.holders, ", "), remedies(.holders)
    )]
    Holders {
        /// The device.
        device: PathBuf,
        /// The device (itself, a partition, or its disk) whose `holders/` is not empty.
        held: PathBuf,
        /// What holds it.
        holders: Vec<Holder>,
    },
    /// The device is read-only.
    #[error(
        "{} is read-only (/sys/class/block/{name}/ro is 1): make it writable (blockdev --setrw {}) or name another device",
        .device.display(), .device.display()
    )]
    ReadOnly {
        /// The device.
        device: PathBuf,
        /// Its kernel name.
        name: String,
    },
    /// Signatures were found and `force` was not given.
    #[error(
        "{} is not empty: it carries {}; pass --force to overwrite {}, or name an empty device",
        .device.display(), join(.found, ", "), what_force_overwrites(.found)
    )]
    Signature {
        /// The device.
        device: PathBuf,
        /// What was found.
        found: Vec<Signature>,
    },
    /// The probing tool is not installed and `force` was not given.
    #[error(
        "cannot check {} for filesystem or partition-table signatures: {tool} is not installed; install {package}, or pass --force to overwrite whatever is there",
        .device.display()
    )]
    ProbeToolMissing {
        /// The device.
        device: PathBuf,
        /// The tool (`blkid`).
        tool: &'static str,
        /// The package that has it.
        package: &'static str,
    },
    /// The probe failed and `force` was not given.
    #[error(
        "cannot check {} for signatures: {detail}; fix that, or pass --force to overwrite whatever is there",
        .device.display()
    )]
    ProbeFailed {
        /// The device.
        device: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The device cannot be opened.
    #[error("cannot open {}: {source}; run as root (or as a member of the disk group)", .device.display())]
    Open {
        /// The device.
        device: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Opening with `O_EXCL` failed: something else claims the device.
    #[error(
        "{} is busy: it cannot be opened exclusively ({source}); something claims it (a mount in another namespace, swap, a holder, or a program such as mkfs); find it with `lsblk {}` and `fuser -vm {}`, and stop it",
        .device.display(), .device.display(), .device.display()
    )]
    Busy {
        /// The device.
        device: PathBuf,
        /// The error (`EBUSY`).
        source: io::Error,
    },
}

fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn fmt_via(stack: &[PathBuf]) -> String {
    if stack.is_empty() {
        String::new()
    } else {
        let on: Vec<_> = stack.iter().map(|p| p.display().to_string()).collect();
        format!(" (on {})", on.join(" on "))
    }
}

fn on_disk(device: &Path, disk: &Path) -> String {
    if device == disk {
        String::new()
    } else {
        format!("on {}, ", disk.display())
    }
}

fn remedies(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(Holder::remedy)
        .collect::<Vec<_>>()
        .join("; ")
}

fn what_force_overwrites(found: &[Signature]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for s in found {
        let k = if s.key == "PTTYPE" {
            format!("the {} partition table", s.value)
        } else {
            format!("the {} signature", s.value)
        };
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.join(" and ")
}

/// Checks that `device` may be wiped: the user named it twice (`--device X --wipe X`), and it
/// is not mounted, swap, held, read-only, on the root disk, or (unless `force`) carrying a
/// signature. See the [module docs](self) for each check. Reads only.
///
/// ```no_run
/// use std::path::Path;
/// let dev = Path::new("/dev/sdb");
/// match btrtune_harness::safety::check_spare_device(dev, dev, false) {
///     Ok(spare) => {
///         for check in &spare.checks {
///             println!("ok: {check}");
///         }
///     }
///     Err(e) => eprintln!("refused: {e}"),
/// }
/// ```
pub fn check_spare_device(
    device: &Path,
    wipe_confirmation: &Path,
    force: bool,
) -> Result<SpareDevice, SafetyError> {
    let host = Host::system();
    let (path, dev) = resolve(device)?;
    let (_, wipe_dev) = resolve(wipe_confirmation)?;
    if dev != wipe_dev {
        return Err(SafetyError::PathsDiffer {
            device: device.to_path_buf(),
            device_dev: dev,
            wipe: wipe_confirmation.to_path_buf(),
            wipe_dev,
        });
    }
    let mut checks = vec![Check::Confirmed];
    let node = host.node(dev).map_err(|e| match e {
        SafetyError::System { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            SafetyError::UnknownDevice {
                device: path.clone(),
                dev,
            }
        }
        e => e,
    })?;
    let size = node.size()?;
    checks.extend(inspect(&host, &node, &path)?);

    // Can we read it at all? (blkid says "nothing found" when it cannot read.)
    drop(fs::File::open(&path).map_err(|source| SafetyError::Open {
        device: path.clone(),
        source,
    })?);
    let mut targets = vec![path.clone()];
    targets.extend(node.partitions()?.iter().map(Node::dev_path));
    checks.push(match probe_all(&targets) {
        Ok(found) if found.is_empty() => Check::NoSignature,
        Ok(found) if force => Check::SignaturesForced(found),
        Ok(found) => {
            return Err(SafetyError::Signature {
                device: path,
                found,
            });
        }
        Err(ProbeError::Missing) if force => Check::ProbeSkipped("blkid is not installed".into()),
        Err(ProbeError::Missing) => {
            return Err(SafetyError::ProbeToolMissing {
                device: path,
                tool: "blkid",
                package: "util-linux",
            });
        }
        Err(ProbeError::Failed(detail)) if force => Check::ProbeSkipped(detail),
        Err(ProbeError::Failed(detail)) => {
            return Err(SafetyError::ProbeFailed {
                device: path,
                detail,
            });
        }
    });

    open_exclusive(&path)?;
    checks.push(Check::Exclusive);
    Ok(SpareDevice {
        name: node.name.clone(),
        path,
        dev,
        size_bytes: size.0,
        checks,
    })
}

/// Canonicalizes `path` and returns it with its device number, if it is a block device.
fn resolve(path: &Path) -> Result<(PathBuf, DeviceNumber), SafetyError> {
    let err = |source| SafetyError::Resolve {
        path: path.to_path_buf(),
        source,
    };
    let canonical = fs::canonicalize(path).map_err(err)?;
    let meta = fs::metadata(&canonical).map_err(err)?;
    let ft = meta.file_type();
    if !ft.is_block_device() {
        let kind = if ft.is_file() {
            "a regular file"
        } else if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() {
            "a character device"
        } else {
            "not a device"
        };
        return Err(SafetyError::NotBlockDevice {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok((canonical, DeviceNumber::from_dev_t(meta.rdev())))
}

/// Opens `path` read-only with `O_EXCL` and closes it again.
fn open_exclusive(path: &Path) -> Result<(), SafetyError> {
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL | nix::libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => {
            drop(file);
            Ok(())
        }
        Err(source) if source.raw_os_error() == Some(nix::libc::EBUSY) => Err(SafetyError::Busy {
            device: path.to_path_buf(),
            source,
        }),
        Err(source) => Err(SafetyError::Open {
            device: path.to_path_buf(),
            source,
        }),
    }
}

/// The checks that read only sysfs and procfs (2 to 7 in the module docs).
fn inspect(host: &Host, target: &Node, device: &Path) -> Result<Vec<Check>, SafetyError> {
    let device = device.to_path_buf();
    let mut checks = Vec::new();
    if target.size()?.0 == 0 {
        return Err(SafetyError::Empty { device });
    }
    checks.push(Check::NotEmpty);

    let used = host.used_devices()?;
    let whole = target.whole_disk()?;

    // The root disk first: it gets the sternest message.
    let mut root = None;
    for u in used.iter().filter(|u| u.is_root()) {
        root.get_or_insert_with(|| u.path.clone());
        if u.below
            .iter()
            .any(|n| n.dev == target.dev || n.dev == whole.dev)
        {
            return Err(SafetyError::RootDisk {
                device,
                disk: whole.dev_path(),
                root: u.path.clone(),
            });
        }
    }
    checks.push(Check::NotRootDisk(root));

    // Mounted or swap: the device, a partition, or anything stacked on them.
    let above = host.above(target)?;
    for u in &used {
        let Some((node, stack)) = above.iter().find(|(n, _)| n.dev == u.dev) else {
            continue;
        };
        let via = stack.iter().rev().map(Node::dev_path).collect();
        let found = if u.path.starts_with("/dev") {
            u.path.clone()
        } else {
            node.dev_path()
        };
        return Err(match &u.usage {
            Usage::Mounted(at) => SafetyError::Mounted {
                device,
                mounted: found,
                via,
                mount_point: at.clone(),
            },
            Usage::Swap => SafetyError::Swap {
                device,
                swap: found,
                via,
            },
        });
    }
    // Another partition of the same disk (or something stacked on one) in use.
    for u in &used {
        if u.below.iter().any(|n| n.dev == whole.dev) {
            return Err(SafetyError::SharesDisk {
                device,
                disk: whole.dev_path(),
                other: u.path.clone(),
                usage: u.usage.clone(),
            });
        }
    }
    let partitions = target.partitions()?;
    checks.push(Check::NotMounted(partitions.len()));
    checks.push(Check::NotSwap);

    // Holders: the device, its partitions, and the disk itself if it is a partition.
    let mut held = vec![target.clone()];
    held.extend(partitions);
    if whole.dev != target.dev {
        held.push(whole.clone());
    }
    for n in &held {
        let holders = n.links("holders")?;
        if !holders.is_empty() {
            return Err(SafetyError::Holders {
                device,
                held: n.dev_path(),
                holders: holders.iter().map(Node::holder).collect(),
            });
        }
    }
    checks.push(Check::NoHolders);

    if read_trimmed(&target.dir.join("ro"))? == "1" {
        return Err(SafetyError::ReadOnly {
            device,
            name: target.name.clone(),
        });
    }
    checks.push(Check::Writable);
    Ok(checks)
}

// ---------------------------------------------------------------------------------------
// The system: sysfs, mountinfo and swaps, behind paths so tests can build a fake one.

/// Where the kernel's views live (`/sys`, `/proc`), and stat for mount and swap sources.
struct Host {
    sys: PathBuf,
    mountinfo: PathBuf,
    swaps: PathBuf,
    /// Device numbers for paths, consulted before `stat` (for tests).
    known: HashMap<PathBuf, DeviceNumber>,
}

/// A block device in sysfs.
#[derive(Clone, Debug)]
struct Node {
    dev: DeviceNumber,
    /// The kernel name (`sda1`, `dm-0`).
    name: String,
    /// Its canonical sysfs directory.
    dir: PathBuf,
}

/// A device in use: mounted or swap.
#[derive(Debug)]
struct Used {
    dev: DeviceNumber,
    /// As mountinfo or /proc/swaps names it (or `/dev/<name>`).
    path: PathBuf,
    usage: Usage,
    /// The device and everything under it: its disk, `slaves/`, their disks, ...
    below: Vec<Node>,
}

impl Used {
    fn is_root(&self) -> bool {
        self.usage == Usage::Mounted(PathBuf::from("/"))
    }
}

fn sys_err(path: &Path) -> impl FnOnce(io::Error) -> SafetyError + '_ {
    move |source| SafetyError::System {
        path: path.to_path_buf(),
        source,
    }
}

fn read_trimmed(path: &Path) -> Result<String, SafetyError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(sys_err(path))
}

impl Host {
    fn system() -> Self {
        Host {
            sys: PathBuf::from("/sys"),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            swaps: PathBuf::from("/proc/swaps"),
            known: HashMap::new(),
        }
    }

    /// The device number of the block device at `path`, if it is one.
    fn rdev(&self, path: &Path) -> Option<DeviceNumber> {
        if let Some(dev) = self.known.get(path) {
            return Some(*dev);
        }
        let meta = fs::metadata(path).ok()?;
        meta.file_type()
            .is_block_device()
            .then(|| DeviceNumber::from_dev_t(meta.rdev()))
    }

    fn node(&self, dev: DeviceNumber) -> Result<Node, SafetyError> {
        let link = self.sys.join(format!("dev/block/{dev}"));
        let dir = fs::canonicalize(&link).map_err(sys_err(&link))?;
        Node::at(dir)
    }

    /// Every mounted and swap device, with what lies under it.
    fn used_devices(&self) -> Result<Vec<Used>, SafetyError> {
        let text = fs::read_to_string(&self.mountinfo).map_err(sys_err(&self.mountinfo))?;
        let mut used: Vec<(DeviceNumber, PathBuf, Usage)> = Vec::new();
        let mut btrfs: Vec<usize> = Vec::new();
        for m in parse_mountinfo(&text) {
            let source = PathBuf::from(&m.source);
            let dev = if m.dev.major != 0 {
                Some(m.dev)
            } else if source.is_absolute() {
                // btrfs (and others) report an anonymous 0:N; the source names the device.
                self.rdev(&source)
            } else {
                None
            };
            let Some(dev) = dev else { continue };
            if m.fstype == "btrfs" {
                btrfs.push(used.len());
            }
            used.push((dev, source, Usage::Mounted(m.mount_point)));
        }
        // Every member of a mounted multi-device btrfs is in use; mountinfo names one.
        let fs_dir = self.sys.join("fs/btrfs");
        let entries = if btrfs.is_empty() {
            None
        } else {
            fs::read_dir(&fs_dir).ok()
        };
        if let Some(entries) = entries {
            for fsid in entries.flatten() {
                let Ok(members) = links(&fsid.path().join("devices")) else {
                    continue;
                };
                let Some(i) = btrfs
                    .iter()
                    .copied()
                    .find(|&i| members.iter().any(|n| n.dev == used[i].0))
                else {
                    continue;
                };
                let usage = used[i].2.clone();
                for n in members {
                    if !used.iter().any(|(d, _, _)| *d == n.dev) {
                        used.push((n.dev, n.dev_path(), usage.clone()));
                    }
                }
            }
        }
        let text = fs::read_to_string(&self.swaps).map_err(sys_err(&self.swaps))?;
        for s in parse_swaps(&text) {
            if s.kind != "partition" {
                continue; // a swap file: its filesystem is mounted anyway
            }
            if let Some(dev) = self.rdev(&s.path) {
                used.push((dev, s.path, Usage::Swap));
            }
        }
        let mut out = Vec::with_capacity(used.len());
        for (dev, path, usage) in used {
            // A device sysfs does not know is not a block device we could be asked about.
            let Ok(node) = self.node(dev) else { continue };
            // Keep the name the user knows (`/dev/mapper/vg-home`) if it leads to the device;
            // otherwise (`/dev/root`, `none`) use the kernel's.
            let path = if path.is_absolute() && self.rdev(&path) == Some(dev) {
                path
            } else {
                node.dev_path()
            };
            // It may vanish while we look (another program unmounting); O_EXCL still guards.
            let below = node.below().unwrap_or_else(|_| vec![node.clone()]);
            out.push(Used {
                dev,
                path,
                usage,
                below,
            });
        }
        Ok(out)
    }

    /// The device and everything built on it (partitions, holders, their partitions, ...),
    /// each with the chain of devices between (the device first, the node itself excluded).
    fn above(&self, target: &Node) -> Result<Vec<(Node, Vec<Node>)>, SafetyError> {
        let mut seen = HashSet::from([target.dev]);
        let mut out = vec![(target.clone(), Vec::new())];
        let mut queue = VecDeque::from([0]);
        while let Some(i) = queue.pop_front() {
            let (node, stack) = out[i].clone();
            let mut next = node.partitions()?;
            next.extend(node.links("holders")?);
            for n in next {
                if seen.insert(n.dev) {
                    let mut s = stack.clone();
                    if i != 0 {
                        s.push(node.clone());
                    }
                    out.push((n, s));
                    queue.push_back(out.len() - 1);
                }
            }
        }
        Ok(out)
    }
}

impl Node {
    fn at(dir: PathBuf) -> Result<Node, SafetyError> {
        let dev = read_trimmed(&dir.join("dev"))?;
        let dev = dev.parse().map_err(|e: String| SafetyError::System {
            path: dir.join("dev"),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Node { dev, name, dir })
    }

    /// `/dev/<name>` (`!` in kernel names stands for `/`).
    fn dev_path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/{}", self.name.replace('!', "/")))
    }

    fn size(&self) -> Result<Bytes, SafetyError> {
        let path = self.dir.join("size");
        let sectors: u64 = read_trimmed(&path)?
            .parse()
            .map_err(|_| sys_err(&path)(io::Error::from(io::ErrorKind::InvalidData)))?;
        Ok(Bytes(sectors.saturating_mul(512)))
    }

    fn is_partition(&self) -> bool {
        self.dir.join("partition").exists()
    }

    /// The disk this partition is on, or the device itself.
    fn whole_disk(&self) -> Result<Node, SafetyError> {
        match self.dir.parent() {
            Some(parent) if self.is_partition() => Node::at(parent.to_path_buf()),
            _ => Ok(self.clone()),
        }
    }

    fn partitions(&self) -> Result<Vec<Node>, SafetyError> {
        if self.is_partition() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(sys_err(&self.dir))? {
            let path = entry.map_err(sys_err(&self.dir))?.path();
            if path.join("partition").is_file() {
                out.push(Node::at(path)?);
            }
        }
        out.sort_by_key(|n| n.dev);
        Ok(out)
    }

    /// The devices in `holders/` or `slaves/`.
    fn links(&self, which: &str) -> Result<Vec<Node>, SafetyError> {
        links(&self.dir.join(which))
    }

    /// The device and everything it is built on: its disk, `slaves/`, their disks, ...
    fn below(&self) -> Result<Vec<Node>, SafetyError> {
        let mut seen = HashSet::from([self.dev]);
        let mut out = vec![self.clone()];
        let mut i = 0;
        while i < out.len() {
            let node = out[i].clone();
            let mut next = node.links("slaves")?;
            if node.is_partition() {
                next.push(node.whole_disk()?);
            }
            for n in next {
                if seen.insert(n.dev) {
                    out.push(n);
                }
            }
            i += 1;
        }
        Ok(out)
    }

    fn holder(&self) -> Holder {
        let read = |f: &str| {
            fs::read_to_string(self.dir.join(f))
                .map(|s| s.trim().to_string())
                .ok()
        };
        let kind = if let Some(name) = read("dm/name") {
            HolderKind::DeviceMapper {
                name,
                uuid: read("dm/uuid").unwrap_or_default(),
            }
        } else if self.dir.join("md").is_dir() {
            HolderKind::Md
        } else if self.dir.join("bcache").exists() || self.name.starts_with("bcache") {
            HolderKind::Bcache
        } else {
            HolderKind::Other
        };
        Holder {
            path: self.dev_path(),
            kind,
        }
    }
}

/// The block devices a `holders/`, `slaves/` or btrfs `devices/` directory links to (none
/// if it does not exist).
fn links(dir: &Path) -> Result<Vec<Node>, SafetyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(sys_err(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(sys_err(dir))?.path();
        let target = fs::canonicalize(&path).map_err(sys_err(&path))?;
        out.push(Node::at(target)?);
    }
    out.sort_by_key(|n| n.dev);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Signature probing.

enum ProbeError {
    /// blkid is not installed.
    Missing,
    /// It ran and failed; what it said.
    Failed(String),
}

fn probe_all(paths: &[PathBuf]) -> Result<Vec<Signature>, ProbeError> {
    let blkid = find_tool("blkid").ok_or(ProbeError::Missing)?;
    let mut found = Vec::new();
    for path in paths {
        found.extend(probe(&blkid, path)?);
    }
    Ok(found)
}

/// A tool from `PATH`, or from the sbin directories a user's `PATH` may lack.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn probe(blkid: &Path, device: &Path) -> Result<Vec<Signature>, ProbeError> {
    let out = Command::new(blkid)
        .args(["-p", "-o", "export"])
        .arg(device)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| ProbeError::Failed(format!("cannot run {}: {e}", blkid.display())))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match out.status.code() {
        Some(0) => Ok(signatures_from_blkid(
            device,
            &parse_blkid_export(&String::from_utf8_lossy(&out.stdout)),
        )),
        // Nothing found; but blkid also says 2 when it cannot read the device.
        Some(2) if stderr.is_empty() => Ok(Vec::new()),
        // Ambivalent: several signatures; wipefs lists them all.
        Some(8) => Ok(wipefs_list(device).unwrap_or_else(|| {
            vec![Signature {
                device: device.to_path_buf(),
                key: "TYPE".into(),
                value: "ambivalent".into(),
                usage: Some("several conflicting signatures: see wipefs --no-act".into()),
                label: None,
            }]
        })),
        _ => Err(ProbeError::Failed(format!(
            "blkid -p {} failed ({}){}",
            device.display(),
            out.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            }
        ))),
    }
}

fn wipefs_list(device: &Path) -> Option<Vec<Signature>> {
    let out = Command::new(find_tool("wipefs")?)
        .args([
            "--no-act",
            "--json",
            "--output",
            "DEVICE,OFFSET,TYPE,USAGE,LABEL",
        ])
        .arg(device)
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_wipefs_json(device, &String::from_utf8_lossy(&out.stdout))
}

/// Signatures from `wipefs --json --output DEVICE,OFFSET,TYPE,USAGE,LABEL` (one per type).
fn parse_wipefs_json(device: &Path, text: &str) -> Option<Vec<Signature>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut out: Vec<Signature> = Vec::new();
    for s in v.get("signatures")?.as_array()? {
        let field = |k: &str| s.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let Some(value) = field("type") else { continue };
        let usage = field("usage");
        let key = if usage.as_deref() == Some("partition-table") {
            "PTTYPE"
        } else {
            "TYPE"
        };
        let sig = Signature {
            device: device.to_path_buf(),
            key: key.into(),
            value,
            usage,
            label: field("label"),
        };
        if !out.contains(&sig) {
            out.push(sig);
        }
    }
    Some(out)
}

/// `TYPE` (with `USAGE` and `LABEL`) and `PTTYPE` from `blkid -p -o export` tokens.
fn signatures_from_blkid(device: &Path, tokens: &[(String, String)]) -> Vec<Signature> {
    let get = |k: &str| {
        tokens
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    if let Some(value) = get("PTTYPE") {
        out.push(Signature {
            device: device.to_path_buf(),
            key: "PTTYPE".into(),
            value,
            usage: Some("partition-table".into()),
            label: None,
        });
    }
    if let Some(value) = get("TYPE") {
        out.push(Signature {
            device: device.to_path_buf(),
            key: "TYPE".into(),
            value,
            usage: get("USAGE"),
            label: get("LABEL"),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parsers.

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MountEntry {
    /// Field 3: the device number of the filesystem (0:N for btrfs and virtual ones).
    dev: DeviceNumber,
    mount_point: PathBuf,
    fstype: String,
    /// The mount source (`/dev/sda1`, `tmpfs`, `server:/export`).
    source: String,
}

/// Parses `/proc/self/mountinfo` (proc(5)); skips lines it cannot read.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let dev = f.get(2)?.parse().ok()?;
            let mount_point = PathBuf::from(unescape_octal(f.get(4)?));
            let mut r = right.split(' ');
            let fstype = r.next()?.to_string();
            let source = unescape_octal(r.next()?);
            Some(MountEntry {
                dev,
                mount_point,
                fstype,
                source,
            })
        })
        .collect()
}

/// One line of `/proc/swaps`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SwapEntry {
    path: PathBuf,
    /// `partition` or `file`.
    kind: String,
}

/// Parses `/proc/swaps` (header line, then `Filename Type Size Used Priority`).
fn parse_swaps(text: &str) -> Vec<SwapEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let path = PathBuf::from(unescape_octal(f.next()?));
            let kind = f.next()?.to_string();
            Some(SwapEntry { path, kind })
        })
        .collect()
}

/// Parses `blkid -o export` output: `KEY=value` lines, with `\` before special characters.
fn parse_blkid_export(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            let mut value = String::with_capacity(v.len());
            let mut chars = v.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
            Some((k.trim().to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake `/sys` and `/proc` in a temporary directory.
    struct Fake {
        dir: tempfile::TempDir,
        known: HashMap<PathBuf, DeviceNumber>,
    }

    impl Fake {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for d in ["sys/dev/block", "sys/devices/virtual/block", "sys/fs/btrfs"] {
                fs::create_dir_all(dir.path().join(d)).unwrap();
            }
            let f = Fake {
                dir,
                known: HashMap::new(),
            };
            f.mountinfo("");
            f.swaps(&[]);
            f
        }

        fn sys(&self) -> PathBuf {
            self.dir.path().join("sys")
        }

        fn block_dir(&self, dir: &Path, dev: &str, sectors: u64) {
            fs::create_dir_all(dir.join("holders")).unwrap();
            fs::create_dir_all(dir.join("slaves")).unwrap();
            fs::write(dir.join("dev"), format!("{dev}\n")).unwrap();
            fs::write(dir.join("size"), format!("{sectors}\n")).unwrap();
            fs::write(dir.join("ro"), "0\n").unwrap();
            symlink(dir, self.sys().join("dev/block").join(dev)).unwrap();
        }

        /// A whole disk of 1 GiB.
        fn disk(&self, name: &str, dev: &str) -> PathBuf {
            let dir = self.sys().join("devices/virtual/block").join(name);
            self.block_dir(&dir, dev, 2 << 20);
            dir
        }

        fn part(&self, disk: &Path, name: &str, dev: &str) -> PathBuf {
            let dir = disk.join(name);
            self.block_dir(&dir, dev, 1 << 20);
            fs::write(dir.join("partition"), "1\n").unwrap();
            dir
        }

        /// `upper` is built on each of `lowers` (holders/ and slaves/ links).
        fn stack(&self, upper: &Path, lowers: &[&Path]) {
            let name = |p: &Path| p.file_name().unwrap().to_owned();
            for lower in lowers {
                symlink(upper, lower.join("holders").join(name(upper))).unwrap();
                symlink(lower, upper.join("slaves").join(name(lower))).unwrap();
            }
        }

        fn dm(&self, kname: &str, dev: &str, name: &str, uuid: &str, lowers: &[&Path]) -> PathBuf {
            let dir = self.disk(kname, dev);
            fs::create_dir_all(dir.join("dm")).unwrap();
            fs::write(dir.join("dm/name"), format!("{name}\n")).unwrap();
            fs::write(dir.join("dm/uuid"), format!("{uuid}\n")).unwrap();
            self.stack(&dir, lowers);
            dir
        }

        fn mountinfo(&self, text: &str) {
            fs::write(self.dir.path().join("mountinfo"), text).unwrap();
        }

        fn swaps(&self, lines: &[&str]) {
            let mut text = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            fs::write(self.dir.path().join("swaps"), text).unwrap();
        }

        fn host(&self) -> Host {
            Host {
                sys: self.sys(),
                mountinfo: self.dir.path().join("mountinfo"),
                swaps: self.dir.path().join("swaps"),
                known: self.known.clone(),
            }
        }

        fn inspect(&self, dev: &str) -> Result<Vec<Check>, SafetyError> {
            let host = self.host();
            let node = host.node(dev.parse().unwrap()).unwrap();
            let path = node.dev_path();
            inspect(&host, &node, &path)
        }
    }

    const ROOT_ON_VDA2: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw
28 27 253:1 / /boot rw,relatime shared:2 - vfat /dev/vda1 rw
29 27 0:25 / /tmp rw - tmpfs tmpfs rw
";

    /// vda (vda1 /boot, vda2 /, vda3 unused), vdb (unused).
    fn two_disks() -> Fake {
        let f = Fake::new();
        let vda = f.disk("vda", "253:0");
        f.part(&vda, "vda1", "253:1");
        f.part(&vda, "vda2", "253:2");
        f.part(&vda, "vda3", "253:3");
        f.disk("vdb", "253:16");
        f.mountinfo(ROOT_ON_VDA2);
        f
    }

    #[test]
    fn the_root_disk_and_its_partitions_are_refused() {
        let f = two_disks();
        for dev in ["253:0", "253:2", "253:3", "253:1"] {
            let err = f.inspect(dev).unwrap_err();
            assert!(
                matches!(&err, SafetyError::RootDisk { disk, root, .. }
                if disk == Path::new("/dev/vda") && root == Path::new("/dev/vda2")),
                "{dev}: {err}"
            );
        }
        assert_eq!(
            f.inspect("253:0").unwrap_err().to_string(),
            "/dev/vda is the disk holding the root filesystem / (/dev/vda2): \
             btrtune never writes there; name a spare disk"
        );
        let err = f.inspect("253:3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/vda3 is on /dev/vda, the disk holding the root filesystem / (/dev/vda2): \
             btrtune never writes there; name a spare disk"
        );
    }

    #[test]
    fn a_mount_source_that_names_no_device_is_replaced_by_the_kernel_name() {
        let f = Fake::new();
        let sda = f.disk("sda", "8:0");
        f.part(&sda, "sda1", "8:1");
        f.mountinfo("27 1 8:1 / / rw - ext4 /dev/root rw\n");
        let err = f.inspect("8:0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sda is the disk holding the root filesystem / (/dev/sda1): btrtune never \
             writes there; name a spare disk"
        );
    }

    #[test]
    fn a_clean_disk_passes_and_lists_its_checks() {
        let f = two_disks();
        let checks = f.inspect("253:16").unwrap();
        assert_eq!(
            checks,
            [
                Check::NotEmpty,
                Check::NotRootDisk(Some("/dev/vda2".into())),
                Check::NotMounted(0),
                Check::NotSwap,
                Check::NoHolders,
                Check::Writable,
            ]
        );
        assert_eq!(
            checks[1].to_string(),
            "it is not on the disk holding the root filesystem (/dev/vda2)"
        );
    }

    #[test]
    fn root_on_lvm_on_nvme_refuses_the_nvme_disk_and_its_other_partitions() {
        let f = Fake::new();
        let nvme = f.disk("nvme0n1", "259:0");
        f.part(&nvme, "nvme0n1p1", "259:1");
        let p2 = f.part(&nvme, "nvme0n1p2", "259:2");
        f.part(&nvme, "nvme0n1p3", "259:3");
        f.dm("dm-0", "254:0", "vg-root", "LVM-abc", &[&p2]);
        f.disk("sda", "8:0");
        f.mountinfo("27 1 254:0 / / rw - xfs /dev/mapper/vg-root rw\n");
        for dev in ["259:0", "259:3", "254:0"] {
            assert!(
                matches!(f.inspect(dev), Err(SafetyError::RootDisk { .. })),
                "{dev}"
            );
        }
        assert!(f.inspect("8:0").is_ok());
    }

    #[test]
    fn root_on_btrfs_is_found_through_the_mount_source() {
        let mut f = Fake::new();
        f.disk("sda", "8:0");
        f.disk("sdb", "8:16");
        f.known.insert("/dev/sda".into(), "8:0".parse().unwrap());
        f.mountinfo("27 1 0:31 /@ / rw - btrfs /dev/sda rw,subvol=/@\n");
        assert!(matches!(
            f.inspect("8:0"),
            Err(SafetyError::RootDisk { .. })
        ));
        assert!(f.inspect("8:16").is_ok());
    }

    #[test]
    fn members_of_a_mounted_multi_device_btrfs_are_mounted() {
        let mut f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        let sdc = f.disk("sdc", "8:32");
        f.disk("sdd", "8:48");
        let members = f.sys().join("fs/btrfs/1234/devices");
        fs::create_dir_all(&members).unwrap();
        symlink(&sdb, members.join("sdb")).unwrap();
        symlink(&sdc, members.join("sdc")).unwrap();
        f.known.insert("/dev/sdb".into(), "8:16".parse().unwrap());
        f.mountinfo("40 27 0:40 / /srv rw - btrfs /dev/sdb rw\n");
        let err = f.inspect("8:32").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdc is in use: /dev/sdc is mounted at /srv; unmount it first (umount /srv)"
        );
        assert!(f.inspect("8:48").is_ok());
    }

    #[test]
    fn a_mounted_partition_refuses_its_disk_and_its_siblings() {
        let f = two_disks();
        let sdb = f.disk("sdb", "8:16");
        f.part(&sdb, "sdb1", "8:17");
        f.part(&sdb, "sdb2", "8:18");
        f.mountinfo(&format!(
            "{ROOT_ON_VDA2}50 27 8:17 / /mnt/my\\040data rw - ext4 /dev/sdb1 rw\n"
        ));
        let err = f.inspect("8:16").unwrap_err();
        assert!(
            matches!(&err, SafetyError::Mounted { mounted, mount_point, via, .. }
                if mounted == Path::new("/dev/sdb1") && mount_point == Path::new("/mnt/my data")
                    && via.is_empty()),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "/dev/sdb is in use: /dev/sdb1 is mounted at /mnt/my data; unmount it first \
             (umount /mnt/my data)"
        );
        let err = f.inspect("8:18").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdb2 is on /dev/sdb, which also holds /dev/sdb1 (mounted at /mnt/my data): \
             btrtune only uses disks with nothing else in use; free the whole disk or name another"
        );
    }

    #[test]
    fn a_mount_on_a_stacked_device_names_the_stack() {
        let mut f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        let p1 = f.part(&sdb, "sdb1", "8:17");
        let dm0 = f.dm("dm-0", "254:0", "crypt", "CRYPT-LUKS2-x", &[&p1]);
        f.dm("dm-1", "254:1", "vg-home", "LVM-y", &[&dm0]);
        f.known
            .insert("/dev/mapper/vg-home".into(), "254:1".parse().unwrap());
        f.mountinfo("60 27 254:1 / /home rw - ext4 /dev/mapper/vg-home rw\n");
        let err = f.inspect("8:16").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdb is in use: /dev/mapper/vg-home (on /dev/dm-0 on /dev/sdb1) is mounted at \
             /home; unmount it first (umount /home)"
        );
    }

    #[test]
    fn an_unmounted_holder_is_named() {
        let f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        let p1 = f.part(&sdb, "sdb1", "8:17");
        f.dm("dm-3", "254:3", "btrtune-test", "", &[&p1]);
        let err = f.inspect("8:16").unwrap_err();
        assert!(
            matches!(&err, SafetyError::Holders { held, holders, .. }
                if held == Path::new("/dev/sdb1") && holders.len() == 1),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "/dev/sdb is in use: /dev/sdb1 is held by device-mapper device /dev/dm-3 \
             (/dev/mapper/btrtune-test); stop it first (dmsetup remove btrtune-test) or name \
             another device"
        );
    }

    #[test]
    fn md_and_lvm_holders_get_their_own_remedies() {
        let f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        let sdc = f.disk("sdc", "8:32");
        let md = f.disk("md0", "9:0");
        fs::create_dir_all(md.join("md")).unwrap();
        f.stack(&md, &[&sdb]);
        f.dm("dm-0", "254:0", "vg-lv", "LVM-xyz", &[&sdc]);
        let err = f.inspect("8:16").unwrap_err();
        assert!(
            err.to_string()
                .contains("held by md RAID array /dev/md0; stop it first (mdadm --stop /dev/md0)"),
            "{err}"
        );
        let err = f.inspect("8:32").unwrap_err();
        assert!(err.to_string().contains("LVM logical volume /dev/dm-0 (/dev/mapper/vg-lv); stop it first (lvchange -an /dev/mapper/vg-lv)"), "{err}");
    }

    #[test]
    fn a_holder_of_the_whole_disk_refuses_a_partition() {
        let f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        f.part(&sdb, "sdb1", "8:17");
        f.dm("dm-0", "254:0", "mpatha", "mpath-3600", &[&sdb]);
        assert!(matches!(
            f.inspect("8:17"),
            Err(SafetyError::Holders { held, .. }) if held == Path::new("/dev/sdb")
        ));
    }

    #[test]
    fn swap_on_a_partition_refuses_the_disk_and_its_siblings() {
        let mut f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        f.part(&sdb, "sdb1", "8:17");
        f.part(&sdb, "sdb2", "8:18");
        f.known.insert("/dev/sdb1".into(), "8:17".parse().unwrap());
        f.swaps(&[
            "/dev/sdb1                               partition\t8388604\t\t0\t\t-2",
            "/swap\\040file                          file\t\t1048572\t\t0\t\t-3",
        ]);
        let err = f.inspect("8:16").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdb is in use: /dev/sdb1 is active swap; turn it off first (swapoff /dev/sdb1)"
        );
        assert!(matches!(
            f.inspect("8:18"),
            Err(SafetyError::SharesDisk {
                usage: Usage::Swap,
                ..
            })
        ));
    }

    #[test]
    fn read_only_and_empty_devices_are_refused() {
        let f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        fs::write(sdb.join("ro"), "1\n").unwrap();
        let sdc = f.disk("sdc", "8:32");
        fs::write(sdc.join("size"), "0\n").unwrap();
        let err = f.inspect("8:16").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdb is read-only (/sys/class/block/sdb/ro is 1): make it writable \
             (blockdev --setrw /dev/sdb) or name another device"
        );
        assert!(matches!(f.inspect("8:32"), Err(SafetyError::Empty { .. })));
    }

    #[test]
    fn partitions_are_counted_and_found() {
        let f = Fake::new();
        let sdb = f.disk("sdb", "8:16");
        f.part(&sdb, "sdb1", "8:17");
        f.part(&sdb, "sdb2", "8:18");
        let checks = f.inspect("8:16").unwrap();
        assert!(checks.contains(&Check::NotMounted(2)));
        let node = f.host().node("8:16".parse().unwrap()).unwrap();
        let parts: Vec<_> = node
            .partitions()
            .unwrap()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        assert_eq!(parts, ["sdb1", "sdb2"]);
        let p = f.host().node("8:18".parse().unwrap()).unwrap();
        assert_eq!(p.whole_disk().unwrap().name, "sdb");
        assert_eq!(p.dev_path(), Path::new("/dev/sdb2"));
    }

    #[test]
    fn mountinfo_is_parsed() {
        let text = "\
36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
43 27 0:39 / /tmp/exp/m rw,relatime - btrfs /dev/loop0 rw,space_cache=v2,subvolid=5,subvol=/
garbage line
";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0],
            MountEntry {
                dev: DeviceNumber {
                    major: 98,
                    minor: 0
                },
                mount_point: "/mnt/parent dir".into(),
                fstype: "ext3".into(),
                source: "/dev/root".into(),
            }
        );
        assert_eq!(
            m[2].dev,
            DeviceNumber {
                major: 0,
                minor: 39
            }
        );
        assert_eq!(m[2].source, "/dev/loop0");
    }

    #[test]
    fn swaps_are_parsed() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
/dev/loop0p1                            partition\t64508\t\t0\t\t-2\n\
/var/swap\\040file                        file\t\t1024\t\t0\t\t-3\n";
        assert_eq!(
            parse_swaps(text),
            [
                SwapEntry {
                    path: "/dev/loop0p1".into(),
                    kind: "partition".into()
                },
                SwapEntry {
                    path: "/var/swap file".into(),
                    kind: "file".into()
                },
            ]
        );
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
    }

    #[test]
    fn octal_escapes_are_undone() {
        assert_eq!(unescape_octal(r"a\040b\011c\134d\012"), "a b\tc\\d\n");
        assert_eq!(unescape_octal(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape_octal(r"\999"), r"\999");
    }

    #[test]
    fn blkid_export_is_parsed() {
        let text = "DEVNAME=/dev/loop1\nSEC_TYPE=msdos\nLABEL_FATBOOT=MY\\ DISK\nLABEL=MY\\ DISK\n\
UUID=B8AB-35BF\nVERSION=FAT16\nBLOCK_SIZE=512\nTYPE=vfat\nUSAGE=filesystem\n";
        let tokens = parse_blkid_export(text);
        assert!(tokens.contains(&("LABEL".into(), "MY DISK".into())));
        let sigs = signatures_from_blkid(Path::new("/dev/loop1"), &tokens);
        assert_eq!(sigs.len(), 1);
        assert_eq!(
            sigs[0].to_string(),
            "TYPE=vfat LABEL=\"MY DISK\" on /dev/loop1"
        );
        assert_eq!(sigs[0].usage.as_deref(), Some("filesystem"));

        let gpt = "DEVNAME=/dev/loop0\nPTUUID=c5b7dcea-a851-44ba-9566-2bb929cff461\nPTTYPE=gpt\n";
        let sigs = signatures_from_blkid(Path::new("/dev/loop0"), &parse_blkid_export(gpt));
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].to_string(), "PTTYPE=gpt on /dev/loop0");

        // A partition's entry in its parent's table is no signature of its own.
        let part = "DEVNAME=/dev/sdb1\nPART_ENTRY_SCHEME=gpt\nPART_ENTRY_TYPE=0fc63daf\n";
        assert!(
            signatures_from_blkid(Path::new("/dev/sdb1"), &parse_blkid_export(part)).is_empty()
        );
    }

    #[test]
    fn wipefs_json_is_parsed() {
        let text = r#"{
   "signatures": [
      {"device": "loop0", "offset": "0x438", "type": "ext4", "usage": "filesystem", "label": null},
      {"device": "loop0", "offset": "0x10040", "type": "btrfs", "usage": "filesystem", "label": "data"},
      {"device": "loop0", "offset": "0x200", "type": "gpt", "usage": "partition-table", "label": null},
      {"device": "loop0", "offset": "0x3fffe00", "type": "gpt", "usage": "partition-table", "label": null}
   ]
}"#;
        let sigs = parse_wipefs_json(Path::new("/dev/loop0"), text).unwrap();
        assert_eq!(
            join(&sigs, ", "),
            "TYPE=ext4 on /dev/loop0, TYPE=btrfs LABEL=\"data\" on /dev/loop0, PTTYPE=gpt on /dev/loop0"
        );
        assert_eq!(
            what_force_overwrites(&sigs),
            "the ext4 signature and the btrfs signature and the gpt partition table"
        );
        assert!(parse_wipefs_json(Path::new("/dev/x"), "not json").is_none());
    }

    #[test]
    fn device_numbers() {
        let d: DeviceNumber = "259:12\n".parse().unwrap();
        assert_eq!(
            d,
            DeviceNumber {
                major: 259,
                minor: 12
            }
        );
        assert_eq!(d.to_string(), "259:12");
        assert!("8".parse::<DeviceNumber>().is_err());
        assert!("a:1".parse::<DeviceNumber>().is_err());
        // glibc's encoding: major 259, minor 300 (above 255, so split across the word).
        let dev_t = (259u64 << 8) | (300 & 0xff) | ((300 & !0xff) << 12);
        assert_eq!(
            DeviceNumber::from_dev_t(dev_t),
            DeviceNumber {
                major: 259,
                minor: 300
            }
        );
    }

    #[test]
    fn files_and_missing_paths_are_not_block_devices() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        fs::write(&file, b"x").unwrap();
        let err = check_spare_device(&file, &file, true).unwrap_err();
        assert!(matches!(
            err,
            SafetyError::NotBlockDevice {
                kind: "a regular file",
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("is a regular file, not a block device"),
            "{err}"
        );
        let err =
            check_spare_device(Path::new("/dev/null"), Path::new("/dev/null"), true).unwrap_err();
        assert!(matches!(
            err,
            SafetyError::NotBlockDevice {
                kind: "a character device",
                ..
            }
        ));
        let missing = dir.path().join("nope");
        let err = check_spare_device(&missing, &missing, true).unwrap_err();
        assert!(matches!(err, SafetyError::Resolve { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot resolve {}", missing.display()))
        );
    }

    #[test]
    fn other_messages_say_what_to_do() {
        let err = SafetyError::PathsDiffer {
            device: "/dev/sdb".into(),
            device_dev: "8:16".parse().unwrap(),
            wipe: "/dev/sdc".into(),
            wipe_dev: "8:32".parse().unwrap(),
        };
        assert_eq!(
            err.to_string(),
            "the two paths name different devices: --device /dev/sdb (8:16) --wipe /dev/sdc \
             (8:32); to confirm, name the device to wipe twice: --device /dev/sdb --wipe /dev/sdb"
        );
        let err = SafetyError::Signature {
            device: "/dev/sdb".into(),
            found: vec![Signature {
                device: "/dev/sdb".into(),
                key: "TYPE".into(),
                value: "ext4".into(),
                usage: Some("filesystem".into()),
                label: Some("backup".into()),
            }],
        };
        assert_eq!(
            err.to_string(),
            "/dev/sdb is not empty: it carries TYPE=ext4 LABEL=\"backup\" on /dev/sdb; pass \
             --force to overwrite the ext4 signature, or name an empty device"
        );
        let err = SafetyError::ProbeToolMissing {
            device: "/dev/sdb".into(),
            tool: "blkid",
            package: "util-linux",
        };
        assert!(
            err.to_string()
                .contains("blkid is not installed; install util-linux, or pass --force")
        );
    }
}
