//! Facts about the machine and the device under test, recorded with every run.

use crate::record::{DeviceUnderTest, Host};
use btrtune_advisor::hardware::DeviceClass;
use std::path::Path;

fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The machine.
pub fn host() -> Host {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        })
        .unwrap_or_default();
    Host {
        hostname: read_trim("/proc/sys/kernel/hostname"),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        btrfs_progs: first_line("btrfs", &["--version"]),
        fio: first_line("fio", &["--version"]),
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

/// The filesystem type holding `path` (from `/proc/self/mountinfo`: the longest mount point
/// that is a prefix of it).
pub fn fs_type_of(path: &Path) -> Option<String> {
    let p = path.canonicalize().ok()?;
    crate::sys::mount::mountinfo()
        .into_iter()
        .filter(|m| p.starts_with(&m.target))
        .max_by_key(|m| m.target.len())
        .map(|m| m.fstype)
}

/// The class of a block device by its kernel name (`vda`, `nvme0n1`, `sda`, `loop3`).
pub fn class_of_block(name: &str) -> DeviceClass {
    let base = name.trim_start_matches("/dev/");
    // A partition: its disk.
    let disk = std::fs::read_link(format!("/sys/class/block/{base}"))
        .ok()
        .and_then(|l| {
            let s = l.to_string_lossy().into_owned();
            let parts: Vec<&str> = s.split('/').collect();
            let n = parts.len();
            if n >= 2
                && std::path::Path::new(&format!("/sys/class/block/{base}/partition")).exists()
            {
                Some(parts[n - 2].to_string())
            } else {
                None
            }
        })
        .unwrap_or_else(|| base.to_string());
    if disk.starts_with("nvme") {
        DeviceClass::Nvme
    } else if disk.starts_with("vd") {
        DeviceClass::Virtio
    } else if disk.starts_with("mmcblk") {
        // The MMC core names the card type: `MMC` for soldered eMMC, `SD` for a card.
        match read_trim(&format!("/sys/block/{disk}/device/type")).as_str() {
            "MMC" => DeviceClass::Emmc,
            _ => DeviceClass::Sd,
        }
    } else if disk.starts_with("zram") || disk.starts_with("ram") {
        DeviceClass::Ram
    } else if disk.starts_with("sd") {
        let driver = std::fs::read_link(format!("/sys/class/block/{disk}/device"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        if driver.contains("virtio") {
            DeviceClass::Virtio
        } else if driver.contains("usb") {
            DeviceClass::Usb
        } else if read_trim(&format!("/sys/block/{disk}/queue/rotational")) == "1" {
            DeviceClass::Hdd
        } else {
            DeviceClass::SataSsd
        }
    } else {
        DeviceClass::Unknown
    }
}

/// The class of the storage holding `path`: `ram` for tmpfs, else the class of the block
/// device under its filesystem.
pub fn class_of_path(path: &Path) -> DeviceClass {
    if matches!(fs_type_of(path).as_deref(), Some("tmpfs" | "ramfs")) {
        return DeviceClass::Ram;
    }
    let Ok(p) = path.canonicalize() else {
        return DeviceClass::Unknown;
    };
    let info = crate::sys::mount::mountinfo();
    let Some(m) = info
        .iter()
        .filter(|m| p.starts_with(&m.target))
        .max_by_key(|m| m.target.len())
    else {
        return DeviceClass::Unknown;
    };
    // major:minor -> /sys/dev/block/M:m -> name.
    std::fs::read_link(format!("/sys/dev/block/{}", m.dev))
        .ok()
        .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map_or(DeviceClass::Unknown, |n| class_of_block(&n))
}

/// The loop device under test, over a backing file in `dir`.
pub fn loop_under_test(dir: &Path, dio: Option<bool>, size: u64) -> DeviceUnderTest {
    DeviceUnderTest {
        class: class_of_path(dir),
        kind: "loop".into(),
        loop_dio: dio,
        backing_fs: fs_type_of(dir),
        size_bytes: size,
    }
}
