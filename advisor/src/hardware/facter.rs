//! A small reader for nixos-facter reports (`facter.json`).
//!
//! It takes what the planner needs (disks and their class, RAM, CPU threads, AVX2) and is
//! tolerant of the format drift seen in real reports (ID fields as objects or strings, fields
//! that come and go). The full ingest, with every field a diagnosis needs, replaces it later.

use super::{Confidence, DeviceClass, DiskInfo, HardwareProfile};
use crate::error::AdvisorError;
use serde_json::Value;
use std::path::Path;

/// Reads a facter report from a file.
pub fn read(path: &Path) -> Result<HardwareProfile, AdvisorError> {
    let text = std::fs::read_to_string(path).map_err(|e| AdvisorError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses a facter report; `origin` names it in errors and in the profile's `source`.
pub fn parse(text: &str, origin: &str) -> Result<HardwareProfile, AdvisorError> {
    let root: Value = serde_json::from_str(text).map_err(|e| AdvisorError::Input {
        path: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: format!("not valid JSON: {e}"),
    })?;
    let bad = |message: String| AdvisorError::Input {
        path: origin.to_string(),
        line: 0,
        column: 0,
        message,
    };
    let Some(obj) = root.as_object() else {
        return Err(bad("expected a JSON object (a nixos-facter report)".into()));
    };
    let Some(hw) = obj.get("hardware").and_then(Value::as_object) else {
        return Err(bad(
            "no `hardware` object: is this a nixos-facter report?".into()
        ));
    };

    let mut profile = HardwareProfile {
        source: format!("facter.json: {origin}"),
        system: obj.get("system").and_then(Value::as_str).map(String::from),
        virtualisation: obj
            .get("virtualisation")
            .and_then(Value::as_str)
            .map(String::from),
        ..HardwareProfile::default()
    };

    // CPU: one entry per package; threads = sum of `siblings`. Entries can be null.
    let cpus: Vec<&Value> = hw
        .get("cpu")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|c| c.is_object()).collect())
        .unwrap_or_default();
    let threads: u64 = cpus
        .iter()
        .filter_map(|c| c.get("siblings").and_then(as_u64))
        .sum();
    profile.cpu_threads = (threads > 0).then(|| u32::try_from(threads).unwrap_or(u32::MAX));
    profile.cpu_model = cpus
        .iter()
        .find_map(|c| c.get("model_name").and_then(Value::as_str))
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    // CPU flags are `features` in current reports (`flags` in older ones).
    let flags = |c: &Value| {
        c.get("features")
            .or_else(|| c.get("flags"))
            .and_then(Value::as_array)
            .cloned()
    };
    if cpus.iter().any(|c| flags(c).is_some()) {
        profile.cpu_avx2 = Some(
            cpus.iter()
                .any(|c| flags(c).is_some_and(|f| f.iter().any(|x| x.as_str() == Some("avx2")))),
        );
    }

    // RAM: the SMBIOS sum when present (KiB), else the kernel's phys_mem estimate.
    let smbios_kib: u64 = obj
        .get("smbios")
        .and_then(|s| s.get("memory_device"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("size").and_then(as_u64))
                .sum()
        })
        .unwrap_or(0);
    profile.ram_bytes = if smbios_kib > 0 {
        Some(smbios_kib * 1024)
    } else {
        hw.get("memory").and_then(Value::as_array).and_then(|m| {
            m.iter()
                .flat_map(|e| resources(e, "phys_mem"))
                .find_map(|r| r.get("range").and_then(as_u64))
        })
    };

    for disk in hw
        .get("disk")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(d) = read_disk(disk) {
            profile.disks.push(d);
        }
    }
    profile.disks.sort_by(|a, b| a.device.cmp(&b.device));
    Ok(profile)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_prefix("0x")
            .map_or_else(|| s.parse().ok(), |h| u64::from_str_radix(h, 16).ok()),
        _ => None,
    }
}

fn resources<'a>(entry: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    entry
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |r| r.get("type").and_then(Value::as_str) == Some(kind))
}

fn names(disk: &Value) -> Vec<String> {
    let mut out: Vec<String> = disk
        .get("unix_device_names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if let Some(n) = disk.get("unix_device_name").and_then(Value::as_str) {
        out.push(n.to_string());
    }
    out
}

fn read_disk(disk: &Value) -> Option<DiskInfo> {
    let names = names(disk);
    let kernel = names
        .iter()
        .find(|n| n.starts_with("/dev/") && !n.starts_with("/dev/disk/"))
        .cloned();
    let kname = kernel.as_deref().unwrap_or("");
    let base = kname.trim_start_matches("/dev/");
    if ["ram", "loop", "zram", "sr", "fd"]
        .iter()
        .any(|p| base.starts_with(p))
    {
        return None;
    }
    let size = resources(disk, "size").find_map(|r| {
        let n = r.get("value_1").and_then(as_u64)?;
        let unit = r.get("value_2").and_then(as_u64).unwrap_or(512);
        n.checked_mul(unit)
    });
    if size == Some(0) {
        return None; // an empty card reader
    }
    let by_id = names
        .iter()
        .filter(|n| n.starts_with("/dev/disk/by-id/"))
        .filter(|n| !n.contains("/by-id/wwn-") && !n.contains("eui."))
        .min_by_key(|n| n.len())
        .cloned();
    let model = disk
        .get("model")
        .and_then(Value::as_str)
        .map(String::from)
        .filter(|m| m != "Disk");
    let driver = disk.get("driver").and_then(Value::as_str).unwrap_or("");
    let modules: Vec<&str> = disk
        .get("driver_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let has = |m: &str| driver.contains(m) || modules.iter().any(|x| x.contains(m));
    let id_text = format!(
        "{} {}",
        model.clone().unwrap_or_default(),
        by_id.clone().unwrap_or_default()
    );
    let (class, confidence) = if has("nvme") || base.starts_with("nvme") {
        (DeviceClass::Nvme, Confidence::High)
    } else if has("virtio") || base.starts_with("vd") {
        (DeviceClass::Virtio, Confidence::High)
    } else if has("usb") || by_id.as_deref().is_some_and(|b| b.contains("/usb-")) {
        (DeviceClass::Usb, Confidence::High)
    } else if base.starts_with("mmcblk") {
        // SD cards and eMMC share the mmc driver; eMMC shows boot partitions and MMC ids.
        let emmc = id_text.to_ascii_lowercase().contains("emmc");
        (
            if emmc {
                DeviceClass::Emmc
            } else {
                DeviceClass::Sd
            },
            Confidence::Medium,
        )
    } else {
        sata_class(&id_text, size)
    };
    Some(DiskInfo {
        device: by_id.or_else(|| kernel.clone())?,
        kernel_name: kernel,
        class,
        class_confidence: confidence,
        size_bytes: size,
        model,
    })
}

/// SATA/SAS disks: the report has no rotational flag, so read the model string (and the
/// by-id name, which often carries the full model).
fn sata_class(id_text: &str, size: Option<u64>) -> (DeviceClass, Confidence) {
    let t = id_text.to_ascii_uppercase();
    const SSD_HINTS: [&str; 14] = [
        "SSD",
        "TRION",
        "HFS",
        "MZ7",
        "CT250",
        "CT500",
        "CT1000",
        "CT2000",
        "SANDISK SD",
        "SA400",
        "MX500",
        "BX500",
        "HDSTOR",
        "SOLID",
    ];
    if SSD_HINTS.iter().any(|h| t.contains(h)) {
        return (DeviceClass::SataSsd, Confidence::Medium);
    }
    // HDD model families: Seagate ST<digits>, WD WD<digits>, Hitachi/HGST HTS/HDS/HUS/HDN,
    // Samsung Spinpoint HD<digits>, Toshiba MQ/DT/MG/HDW.
    let words: Vec<&str> = t
        .split([' ', '_', '-', '/'])
        .filter(|w| !w.is_empty())
        .collect();
    let digit_after = |w: &str, p: &str| {
        w.strip_prefix(p)
            .and_then(|r| r.chars().next())
            .is_some_and(|c| c.is_ascii_digit())
    };
    let hdd = words.iter().any(|w| {
        digit_after(w, "ST")
            || digit_after(w, "WD")
            || digit_after(w, "HD")
            || [
                "HTS", "HDS", "HUS", "HDN", "HUA", "HDW", "MQ0", "DT0", "MG0",
            ]
            .iter()
            .any(|p| w.starts_with(p))
    });
    if hdd {
        return (DeviceClass::Hdd, Confidence::Medium);
    }
    match size {
        // Above 4 TB a SATA disk is almost always rotational.
        Some(s) if s > 4_000_000_000_000 => (DeviceClass::Hdd, Confidence::Low),
        _ => (DeviceClass::Unknown, Confidence::Low),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> HardwareProfile {
        read(
            &crate::testutil::shared_dir()
                .join("corpus/facter")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn framework_is_nvme_with_32_gib() {
        let h = corpus("framework13-amd-nvme-laptop.json");
        let d = h.system_disk().unwrap();
        assert_eq!(d.class, DeviceClass::Nvme);
        assert!(d.device.starts_with("/dev/disk/by-id/nvme-Samsung_SSD_970"));
        assert_eq!(h.ram_bytes, Some(32 << 30));
        assert_eq!(h.cpu_threads, Some(16));
        assert_eq!(h.cpu_avx2, Some(true));
        assert_eq!(h.disks.len(), 2);
    }

    #[test]
    fn raspberry_pi_skips_ram_disks() {
        let h = corpus("raspberrypi-sdcard-aarch64.json");
        assert_eq!(h.disks.len(), 1);
        assert_eq!(h.disks[0].class, DeviceClass::Sd);
        assert_eq!(h.ram_bytes, Some(436_207_616));
    }

    #[test]
    fn sata_model_strings() {
        assert_eq!(sata_class("HFS500G32TND-N1A", None).0, DeviceClass::SataSsd);
        assert_eq!(sata_class("HITACHI HTS72503", None).0, DeviceClass::Hdd);
        assert_eq!(sata_class("SAMSUNG HD154UI", None).0, DeviceClass::Hdd);
        assert_eq!(sata_class("OCZ-TRION100", None).0, DeviceClass::SataSsd);
        assert_eq!(
            sata_class(
                "HDSTOR - HSAV25S ata-HDSTOR_-_HSAV25ST250AX_HS23082515A173856",
                None
            )
            .0,
            DeviceClass::SataSsd
        );
        assert_eq!(sata_class("ST20000NE000-3G5", None).0, DeviceClass::Hdd);
        assert_eq!(sata_class("WDC WD201KFGX-68", None).0, DeviceClass::Hdd);
        assert_eq!(sata_class("Samsung SSD 840", None).0, DeviceClass::SataSsd);
        assert_eq!(sata_class("QEMU HARDDISK", None).0, DeviceClass::Unknown);
    }

    #[test]
    fn bad_json_names_line() {
        let e = parse("{\n  \"hardware\": [\n", "x.json").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("x.json:3:"), "{s}");
    }
}
