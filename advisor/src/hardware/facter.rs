//! nixos-facter reports (`facter.json`): disks and their class, CPU, memory.
//!
//! [`parse_report`] reads a report into a [`HardwareProfile`] (what the planner reads) and
//! [`HardwareDetails`] (CPU topology and features, where the RAM figure came from, the devices
//! that are not disks, and caveats). [`parse`] and [`read`] return the profile only.
//!
//! # Format drift
//!
//! nixos-facter's output changed shape several times since 2024 while keeping `"version": 1`
//! (it was 2 from 19 August to 13 September 2024, then reset). All of these read the same:
//!
//! - ID fields (`vendor`, `device`, `bus_type`, `sub_class`, ...) as `{hex, name, value}`
//!   (November 2024 on), `{name, value}` or `{value}` (before), a bare string (hwinfo's
//!   "special" IDs, e.g. `"vendor": "Virtio"`) or a bare number;
//! - numbers as JSON numbers or strings, decimal or `0x` hex (`address_sizes`, `disk_geo.size`
//!   since April 2025);
//! - `hardware` as one list of devices tagged with `hardware_class`, and `smbios` as one list of
//!   typed entries (the shape of mid-August 2024), instead of objects grouped by class; a single
//!   object where a list is expected;
//! - CPU flags as `features` or the older `flags`, a list or one space-separated string; `null`
//!   CPU entries (gaps in physical ids, or hypervisors that give hwinfo no CPU detail);
//! - device names in `unix_device_names`, `unix_device_name` (dropped in July 2025) or only
//!   `sysfs_id`; `bus_type` or the older `bus`; `driver_modules` missing (built-in drivers);
//! - `smbios` as `{}` (ARM boards) or missing; the top-level `uefi` (November 2025) and
//!   `page_size`.
//!
//! # Errors and caveats
//!
//! Text that is not JSON is an [`AdvisorError::Input`] with line and column. JSON that is not a
//! facter report (no `hardware`; `hardware`, `hardware.disk`, `hardware.cpu`,
//! `hardware.memory`, `system` or `version` of the wrong type) is an error naming the field and
//! what was expected. Anything else that is odd or missing becomes a [`Caveat`] and the value
//! stays unknown. No input makes the reader panic.

use super::{
    Caveat, Confidence, CpuFeatures, CpuInfo, CpuModelSource, DeviceClass, DiskInfo,
    HardwareDetails, HardwareProfile, MemoryInfo, MemorySource, SkipReason, SkippedDevice,
    guess_class_from_model,
};
use crate::error::AdvisorError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The report format versions this reader knows; others are read best-effort, with a caveat.
pub const KNOWN_VERSIONS: [u64; 2] = [1, 2];

/// Above this size a SATA/SAS disk whose model matches no known family is taken as an HDD
/// (with [`Confidence::Low`]): SATA SSDs this large are rare, HDDs this large are common.
pub const LARGE_DISK_BYTES: u64 = 4_000_000_000_000;

/// A facter report, read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What the planner reads.
    pub profile: HardwareProfile,
    /// Everything else the report says, and what it leaves open.
    pub details: HardwareDetails,
}

/// Reads a facter report from a file: the profile only (see [`read_report`]).
pub fn read(path: &Path) -> Result<HardwareProfile, AdvisorError> {
    Ok(read_report(path)?.profile)
}

/// Parses a facter report; `origin` names it in errors and in the profile's `source`.
pub fn parse(text: &str, origin: &str) -> Result<HardwareProfile, AdvisorError> {
    Ok(parse_report(text, origin)?.profile)
}

/// Reads a facter report from a file, with its details.
pub fn read_report(path: &Path) -> Result<Report, AdvisorError> {
    let bytes = std::fs::read(path).map_err(|e| AdvisorError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let origin = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => parse_report(&text, &origin),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes());
            let (line, column) = crate::error::line_col(&text, valid);
            Err(AdvisorError::Input {
                path: origin,
                line,
                column,
                message: "not UTF-8 text (a facter report is JSON)".to_string(),
            })
        }
    }
}

/// Parses a facter report, with its details; `origin` names it in errors and in the
/// profile's `source`.
pub fn parse_report(text: &str, origin: &str) -> Result<Report, AdvisorError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        AdvisorError::Input {
            path: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message: format!(
                "not valid JSON: {}",
                full.strip_suffix(&suffix).unwrap_or(&full)
            ),
        }
    })?;
    let r = Reader {
        origin,
        caveats: Vec::new(),
    };
    let Value::Object(root) = &root else {
        return Err(r.error(format!(
            "not a nixos-facter report: expected a JSON object with `hardware`, `system` and \
             `version`, found {}",
            kind(&root)
        )));
    };
    r.read(root)
}

/// The reader's state: where the text came from and the caveats so far.
struct Reader<'o> {
    origin: &'o str,
    caveats: Vec<Caveat>,
}

impl Reader<'_> {
    fn note(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.caveats.push(Caveat {
            path: path.into(),
            message: message.into(),
        });
    }

    fn error(&self, message: String) -> AdvisorError {
        AdvisorError::Input {
            path: self.origin.to_string(),
            line: 0,
            column: 0,
            message,
        }
    }

    /// An essential field of the wrong type.
    fn wrong(&self, path: &str, expected: &str, found: &Value) -> AdvisorError {
        self.error(format!(
            "`{path}`: expected {expected}, found {}; is this a nixos-facter report?",
            kind(found)
        ))
    }

    fn read(mut self, root: &Map<String, Value>) -> Result<Report, AdvisorError> {
        let report_version =
            match root.get("version") {
                None | Some(Value::Null) => {
                    self.note(
                        "version",
                        "missing: a report from before August 2024; read like version 1",
                    );
                    None
                }
                Some(v) => Some(num(v).ok_or_else(|| {
                    self.wrong("version", "the report format version (a number)", v)
                })?),
            };
        if let Some(v) = report_version
            && !KNOWN_VERSIONS.contains(&v)
        {
            self.note(
                "version",
                format!("format version {v} is not one this reader knows (1, 2); read best-effort"),
            );
        }
        let mut system = match root.get("system") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => nonempty(s),
            Some(v) => {
                return Err(self.wrong("system", "a Nix system string like \"x86_64-linux\"", v));
            }
        };
        let virtualisation = match root.get("virtualisation") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => nonempty(s),
            Some(v) => {
                self.note(
                    "virtualisation",
                    format!(
                        "expected a string like \"none\" or \"kvm\", found {}; unknown",
                        kind(v)
                    ),
                );
                None
            }
        };
        let uefi = match root.get("uefi") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Object(m)) => m.get("supported").and_then(Value::as_bool),
            Some(v) => {
                self.note(
                    "uefi",
                    format!(
                        "expected an object with `supported`, found {}; unknown",
                        kind(v)
                    ),
                );
                None
            }
        };

        let (hardware, per_logical_cpu): (Cow<'_, Map<String, Value>>, bool) =
            match root.get("hardware") {
                Some(Value::Object(m)) => (Cow::Borrowed(m), false),
                Some(Value::Array(items)) => {
                    self.note(
                        "hardware",
                        "a list of devices (the shape of mid-2024 reports): grouped by \
                         `hardware_class`",
                    );
                    (Cow::Owned(self.group_devices(items)), true)
                }
                None | Some(Value::Null) => {
                    return Err(self.error(
                        "not a nixos-facter report: no `hardware` (expected `hardware`, \
                         `system` and `version` at the top level)"
                            .to_string(),
                    ));
                }
                Some(v) => return Err(self.wrong("hardware", "an object of device lists", v)),
            };
        let smbios: Cow<'_, Map<String, Value>> = match root.get("smbios") {
            Some(Value::Object(m)) => Cow::Borrowed(m),
            Some(Value::Array(items)) => Cow::Owned(group_smbios(items)),
            None | Some(Value::Null) => Cow::Owned(Map::new()),
            Some(v) => {
                self.note(
                    "smbios",
                    format!("expected an object, found {}; ignored", kind(v)),
                );
                Cow::Owned(Map::new())
            }
        };

        let mut cpu = self.cpu(&hardware, &smbios, per_logical_cpu)?;
        if cpu.architecture.is_none() {
            cpu.architecture = system
                .as_deref()
                .and_then(|s| s.split_once('-'))
                .map(|(arch, _)| arch.to_string());
        }
        if cpu.page_size.is_none() {
            cpu.page_size = root
                .get("page_size")
                .and_then(num)
                .and_then(|n| u32::try_from(n).ok());
        }
        if system.is_none()
            && let Some(arch) = &cpu.architecture
        {
            let guess = format!("{arch}-linux");
            self.note(
                "system",
                format!("missing: taken as `{guess}` from the CPU architecture"),
            );
            system = Some(guess);
        }
        let memory = self.memory(&hardware, &smbios)?;
        let (disks, skipped) = self.disks(&hardware)?;
        if disks.is_empty() {
            self.note("hardware.disk", "no disks: nothing to put a layout on");
        }

        let profile = HardwareProfile {
            source: format!("facter.json: {}", self.origin),
            system,
            virtualisation,
            cpu_model: cpu.model.clone(),
            cpu_threads: cpu.threads,
            cpu_avx2: cpu.features.as_ref().map(|f| f.avx2),
            ram_bytes: memory.bytes,
            disks,
            details: HardwareDetails::default(),
        };
        let details = HardwareDetails {
            report_version,
            uefi,
            cpu,
            memory,
            skipped,
            caveats: self.caveats,
        };
        Ok(Report {
            profile: HardwareProfile {
                details: details.clone(),
                ..profile
            },
            details,
        })
    }

    /// A device list under `hardware`: an array, or (drift) one object. Another type is an
    /// error: these lists are what makes a report.
    fn list<'v>(
        &mut self,
        hw: &'v Map<String, Value>,
        key: &str,
        expected: &str,
    ) -> Result<Vec<(usize, &'v Value)>, AdvisorError> {
        match hw.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().enumerate().collect()),
            Some(v @ Value::Object(_)) => {
                self.note(
                    format!("hardware.{key}"),
                    "one object where a list is expected: read as a list of one",
                );
                Ok(vec![(0, v)])
            }
            Some(v) => Err(self.wrong(&format!("hardware.{key}"), expected, v)),
        }
    }

    /// A list that is not essential: an array, one object, or nothing (with a caveat).
    fn items<'v>(&mut self, v: Option<&'v Value>, path: &str) -> Vec<(usize, &'v Value)> {
        match v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().enumerate().collect(),
            Some(v @ Value::Object(_)) => vec![(0, v)],
            Some(v) => {
                self.note(path, format!("expected a list, found {}; ignored", kind(v)));
                Vec::new()
            }
        }
    }

    /// The mid-2024 shape: one list of devices, each with `hardware_class`. CPU entries keep
    /// their `detail` (one per logical CPU).
    fn group_devices(&mut self, items: &[Value]) -> Map<String, Value> {
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                self.note(
                    format!("hardware[{i}]"),
                    format!("expected an object, found {}; ignored", kind(item)),
                );
                continue;
            };
            let Some(class) = m
                .get("hardware_class")
                .or_else(|| m.get("class"))
                .and_then(Value::as_str)
            else {
                self.note(
                    format!("hardware[{i}]"),
                    "no `hardware_class`: cannot tell what it is; ignored",
                );
                continue;
            };
            let key = if class == "storage_ctrl" {
                "storage_controller"
            } else {
                class
            };
            let entry = match (key, m.get("detail")) {
                ("cpu", Some(d @ Value::Object(_))) => d.clone(),
                _ => item.clone(),
            };
            groups.entry(key.to_string()).or_default().push(entry);
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, Value::Array(v)))
            .collect()
    }

    fn cpu(
        &mut self,
        hw: &Map<String, Value>,
        smbios: &Map<String, Value>,
        per_logical: bool,
    ) -> Result<CpuInfo, AdvisorError> {
        let entries = self.list(hw, "cpu", "a list of CPU entries")?;
        let mut cpus: Vec<&Map<String, Value>> = Vec::new();
        for (i, e) in entries {
            match e {
                Value::Object(m) => cpus.push(m),
                Value::Null => self.note(
                    format!("hardware.cpu[{i}]"),
                    "null: hwinfo had no detail for this CPU package (a gap in physical ids, or \
                     a hypervisor that hides it); left out of the counts",
                ),
                v => self.note(
                    format!("hardware.cpu[{i}]"),
                    format!("expected an object, found {}; ignored", kind(v)),
                ),
            }
        }
        let mut info = CpuInfo {
            architecture: cpus.iter().find_map(|c| string(c.get("architecture"))),
            vendor: cpus.iter().find_map(|c| string(c.get("vendor_name"))),
            page_size: cpus
                .iter()
                .find_map(|c| c.get("page_size").and_then(num))
                .and_then(|n| u32::try_from(n).ok()),
            ..CpuInfo::default()
        };

        // Model: the kernel's name, else the firmware's when it is a CPU name.
        if let Some(m) = cpus.iter().find_map(|c| string(c.get("model_name"))) {
            info.model = Some(m);
            info.model_source = Some(CpuModelSource::ModelName);
        } else {
            let mut rejected = None;
            for (i, p) in self.items(smbios.get("processor"), "smbios.processor") {
                match string(p.get("version")) {
                    Some(v) if is_cpu_name(&v) => {
                        info.model = Some(v);
                        info.model_source = Some(CpuModelSource::SmbiosProcessor);
                        break;
                    }
                    Some(v) if rejected.is_none() => rejected = Some((i, v)),
                    _ => {}
                }
            }
            if info.model.is_none() {
                match rejected {
                    Some((i, v)) => self.note(
                        format!("smbios.processor[{i}].version"),
                        format!(
                            "`{v}` is not a CPU name (a hypervisor machine type or a \
                             placeholder), and there is no `model_name`: CPU model unknown"
                        ),
                    ),
                    None if !cpus.is_empty() => self.note(
                        "hardware.cpu",
                        "no `model_name` (ARM reports have none) and no SMBIOS processor \
                         version: CPU model unknown",
                    ),
                    None => {}
                }
            }
        }

        // Topology.
        if cpus.is_empty() {
            self.note(
                "hardware.cpu",
                "no CPU entries: sockets, cores, threads and features unknown",
            );
        } else if per_logical {
            let ids: BTreeSet<u64> = cpus
                .iter()
                .filter_map(|c| c.get("physical_id").and_then(num))
                .collect();
            info.sockets = (!ids.is_empty()).then(|| saturate(ids.len()));
            info.threads = Some(saturate(cpus.len()));
            self.note(
                "hardware.cpu",
                "one entry per logical CPU (the mid-2024 shape): threads counted, cores unknown",
            );
        } else {
            info.cores = sum_all(&cpus, "cores");
            info.threads = sum_all(&cpus, "siblings");
            // One entry per physical id, but only x86 reports carry the topology that makes
            // the entries packages; elsewhere everything sits under physical id 0.
            if info.cores.is_some() || info.threads.is_some() {
                info.sockets = Some(saturate(cpus.len()));
            }
            let missing = match (info.cores, info.threads) {
                (None, None) => Some(
                    "no core or thread count (hwinfo reads the topology only on x86; ARM \
                     reports carry none): sockets, cores and threads unknown",
                ),
                (None, Some(_)) => Some("no core count (`cores`): cores unknown"),
                (Some(_), None) => Some("no thread count (`siblings`): threads unknown"),
                (Some(_), Some(_)) => None,
            };
            if let Some(m) = missing {
                self.note("hardware.cpu", m);
            }
        }

        // Features: `features`, or `flags` in older reports; a list or one string.
        let mut seen_list = false;
        let mut flags: Vec<&str> = Vec::new();
        for c in &cpus {
            match c.get("features").or_else(|| c.get("flags")) {
                Some(Value::Array(a)) => {
                    seen_list = true;
                    flags.extend(a.iter().filter_map(Value::as_str));
                }
                Some(Value::String(s)) => {
                    seen_list = true;
                    flags.extend(s.split_whitespace());
                }
                _ => {}
            }
        }
        if seen_list {
            info.features = Some(CpuFeatures::from_flags(flags));
        } else if !cpus.is_empty() {
            self.note(
                "hardware.cpu",
                "no feature list (`features` or `flags`): AVX2, SSE4.2, AES and the rest unknown",
            );
        }
        Ok(info)
    }

    fn memory(
        &mut self,
        hw: &Map<String, Value>,
        smbios: &Map<String, Value>,
    ) -> Result<MemoryInfo, AdvisorError> {
        let mut info = MemoryInfo::default();
        for (_, e) in self.list(hw, "memory", "a list of memory entries")? {
            for r in resources(e) {
                if res_type(r) == Some("phys_mem")
                    && let Some(n) = r.get("range").and_then(num)
                {
                    info.phys_mem_bytes = Some(info.phys_mem_bytes.unwrap_or(0).saturating_add(n));
                }
            }
        }
        let mut installed: u64 = 0;
        for (i, d) in self.items(smbios.get("memory_device"), "smbios.memory_device") {
            match d.get("size") {
                None | Some(Value::Null) => {}
                Some(s) => match num(s) {
                    // KiB; 0 is an empty slot.
                    Some(0) => {}
                    Some(kib) => {
                        installed = installed.saturating_add(kib.saturating_mul(1024));
                        info.smbios_modules = info.smbios_modules.saturating_add(1);
                    }
                    None => self.note(
                        format!("smbios.memory_device[{i}].size"),
                        format!("expected a size in KiB, found {}; not counted", kind(s)),
                    ),
                },
            }
        }
        if installed > 0 {
            info.smbios_bytes = Some(installed);
        }
        (info.bytes, info.source) = match (info.smbios_bytes, info.phys_mem_bytes) {
            (Some(s), Some(p)) if s < p => {
                self.note(
                    "smbios.memory_device",
                    format!(
                        "the modules add up to {} MiB, less than the {} MiB the kernel sees: \
                         the list is incomplete, so the kernel's figure is used",
                        s >> 20,
                        p >> 20
                    ),
                );
                (Some(p), Some(MemorySource::PhysMem))
            }
            (Some(s), _) => (Some(s), Some(MemorySource::Smbios)),
            (None, Some(p)) => (Some(p), Some(MemorySource::PhysMem)),
            (None, None) => {
                self.note(
                    "hardware.memory",
                    "no phys_mem resource and no SMBIOS memory devices: RAM unknown",
                );
                (None, None)
            }
        };
        Ok(info)
    }

    fn disks(
        &mut self,
        hw: &Map<String, Value>,
    ) -> Result<(Vec<DiskInfo>, Vec<SkippedDevice>), AdvisorError> {
        let entries = self.list(hw, "disk", "a list of disks")?;
        let mmc_hosts: BTreeMap<u64, String> = self
            .items(hw.get("mmc_controller"), "hardware.mmc_controller")
            .into_iter()
            .filter_map(|(_, c)| Some((c.get("index").and_then(num)?, string(c.get("model"))?)))
            .collect();
        let kernel_names: BTreeSet<String> = entries
            .iter()
            .filter_map(|(_, e)| e.as_object())
            .filter_map(|d| kernel_name(d, &device_names(d)))
            .collect();
        let mut disks = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, e) in entries {
            let path = format!("hardware.disk[{i}]");
            let Value::Object(d) = e else {
                self.note(
                    path,
                    format!("expected a disk object, found {}; ignored", kind(e)),
                );
                continue;
            };
            match self.disk(&path, d, &kernel_names, &mmc_hosts) {
                Entry::Disk(disk) => {
                    let key = disk
                        .kernel_name
                        .clone()
                        .unwrap_or_else(|| disk.device.clone());
                    if seen.insert(key.clone()) {
                        disks.push(disk);
                    } else {
                        skipped.push(SkippedDevice {
                            device: key,
                            reason: SkipReason::Duplicate,
                            size_bytes: disk.size_bytes,
                        });
                    }
                }
                Entry::Skip(s) => skipped.push(s),
            }
        }
        for (key, reason) in [
            ("cdrom", SkipReason::Optical),
            ("floppy", SkipReason::Floppy),
        ] {
            for (i, e) in self.items(hw.get(key), &format!("hardware.{key}")) {
                if let Value::Object(d) = e {
                    skipped.push(SkippedDevice {
                        device: kernel_name(d, &device_names(d))
                            .unwrap_or_else(|| format!("hardware.{key}[{i}]")),
                        reason,
                        size_bytes: size_bytes(d).0,
                    });
                }
            }
        }
        disks.sort_by(|a, b| a.device.cmp(&b.device));
        Ok((disks, skipped))
    }

    fn disk(
        &mut self,
        path: &str,
        d: &Map<String, Value>,
        kernel_names: &BTreeSet<String>,
        mmc_hosts: &BTreeMap<u64, String>,
    ) -> Entry {
        let names = device_names(d);
        let kernel = kernel_name(d, &names);
        let base = kernel
            .as_deref()
            .map(|k| k.trim_start_matches("/dev/"))
            .unwrap_or("");
        let (size, assumed_sector) = size_bytes(d);
        let model = string(d.get("model")).filter(|m| m != "Disk");
        let device_id = id(d.get("device"));
        let classes: Vec<String> = strings(d.get("class_list"))
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let skip = |reason| {
            Entry::Skip(SkippedDevice {
                device: kernel.clone().unwrap_or_else(|| path.to_string()),
                reason,
                size_bytes: size,
            })
        };
        if let Some(reason) = skip_reason(base, &classes, id(d.get("sub_class")).name.as_deref()) {
            return skip(reason);
        }
        let by_id = stable_by_id(&names);
        let model_names: Vec<String> = by_id
            .as_deref()
            .and_then(by_id_model)
            .into_iter()
            .chain(model.clone())
            .chain(device_id.name.clone())
            .collect();
        if size == Some(0) || (size.is_none() && model_names.iter().any(|n| is_card_reader(n))) {
            return skip(SkipReason::NoMedium);
        }
        let Some(device) = by_id.clone().or_else(|| kernel.clone()) else {
            return skip(SkipReason::NoDeviceName);
        };
        if size.is_none() {
            self.note(path, format!("{device}: no size resource; size unknown"));
        } else if assumed_sector {
            self.note(
                path,
                format!("{device}: size in sectors without a sector size; 512 bytes assumed"),
            );
        }

        let bus_id = id(d.get("bus_type").or_else(|| d.get("bus")));
        let bus = bus_id
            .name
            .clone()
            .or_else(|| bus_id.value.and_then(bus_name).map(String::from));
        let driver = string(d.get("driver"));
        let mut driver_modules = strings(d.get("driver_modules"));
        if driver_modules.is_empty()
            && let Some(m) = string(d.get("driver_module"))
        {
            driver_modules.push(m);
        }
        let drivers: BTreeSet<String> = driver
            .iter()
            .cloned()
            .chain(strings(d.get("drivers")))
            .chain(driver_modules.iter().cloned())
            .map(|s| s.to_ascii_lowercase().replace('-', "_"))
            .collect();
        let vendor_id = id(d.get("vendor"));
        // NVMe reports may give only the PCI vendor number.
        let nvme_bus = bus.as_deref() == Some("NVME") || base.starts_with("nvme");
        let vendor = match (&vendor_id.name, vendor_id.value) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(v)) if nvme_bus => pci_vendor(v).map(String::from),
            _ => None,
        };
        let facts = Facts {
            base,
            bus: bus.as_deref(),
            drivers: &drivers,
            classes: &classes,
            by_ids: names
                .iter()
                .filter_map(|n| n.strip_prefix("/dev/disk/by-id/"))
                .collect(),
            sysfs_link: string(d.get("sysfs_device_link")).unwrap_or_default(),
            model_names: model_names.iter().map(String::as_str).collect(),
            size,
            kernel_names,
            mmc_host: d
                .get("attached_to")
                .and_then(num)
                .and_then(|i| mmc_hosts.get(&i))
                .map(String::as_str),
        };
        let c = classify(&facts);
        Entry::Disk(DiskInfo {
            device,
            kernel_name: kernel,
            class: c.class,
            class_confidence: c.confidence,
            size_bytes: size,
            model,
            vendor,
            bus,
            driver,
            driver_modules,
            inner_class: c.inner,
            class_reason: c.reason,
        })
    }
}

/// One `hardware.disk` entry, read.
enum Entry {
    Disk(DiskInfo),
    Skip(SkippedDevice),
}

/// What a disk's class is decided on.
struct Facts<'a> {
    /// Kernel name without `/dev/`.
    base: &'a str,
    bus: Option<&'a str>,
    /// Driver and module names, lower case, `-` as `_`.
    drivers: &'a BTreeSet<String>,
    classes: &'a [String],
    /// by-id names without `/dev/disk/by-id/`.
    by_ids: Vec<&'a str>,
    sysfs_link: String,
    /// Model names, fullest first.
    model_names: Vec<&'a str>,
    size: Option<u64>,
    /// Every kernel name in the report's disk list.
    kernel_names: &'a BTreeSet<String>,
    /// The model of the MMC host the disk hangs off, if any.
    mmc_host: Option<&'a str>,
}

struct Class {
    class: DeviceClass,
    confidence: Confidence,
    reason: String,
    inner: Option<DeviceClass>,
}

fn class(class: DeviceClass, confidence: Confidence, reason: impl Into<String>) -> Class {
    Class {
        class,
        confidence,
        reason: reason.into(),
        inner: None,
    }
}

fn classify(f: &Facts<'_>) -> Class {
    let has = |m: &str| f.drivers.contains(m);
    let high = Confidence::High;

    // USB first: a USB enclosure can hold any drive, and its name may say which.
    let usb_why = if has("usb_storage") {
        Some("driver usb-storage")
    } else if has("uas") {
        Some("driver uas")
    } else if f.by_ids.iter().any(|b| b.starts_with("usb-")) {
        Some("a usb- by-id name")
    } else if f.classes.iter().any(|c| c == "usb") || f.bus == Some("USB") {
        Some("hwinfo class usb")
    } else if f.sysfs_link.contains("/usb") {
        Some("a USB sysfs path")
    } else {
        None
    };
    if let Some(why) = usb_why {
        let inner = guess_class_from_model(&f.model_names)
            .filter(|g| matches!(g.class, DeviceClass::SataSsd | DeviceClass::Hdd))
            .map(|g| {
                let nvme = f
                    .model_names
                    .iter()
                    .any(|n| n.to_ascii_uppercase().contains("NVME"));
                if nvme && g.class == DeviceClass::SataSsd {
                    (DeviceClass::Nvme, format!("{}, NVMe", g.reason))
                } else {
                    (g.class, g.reason)
                }
            });
        return match inner {
            Some((c, why_inner)) => Class {
                class: DeviceClass::Usb,
                confidence: high,
                reason: format!("{why}: USB mass storage, holding a {c} ({why_inner})"),
                inner: Some(c),
            },
            None => class(
                DeviceClass::Usb,
                high,
                format!(
                    "{why}: USB mass storage (a stick or an enclosure that does not name its drive)"
                ),
            ),
        };
    }

    // Virtual disks, by driver.
    for (drv, what) in [
        ("virtio_blk", "driver virtio_blk: a virtio-blk virtual disk"),
        (
            "virtio_scsi",
            "driver virtio_scsi: a disk on a virtio-scsi controller",
        ),
        ("xen_blkfront", "driver xen-blkfront: a Xen virtual disk"),
        ("hv_storvsc", "driver hv_storvsc: a Hyper-V virtual disk"),
        ("vmw_pvscsi", "driver vmw_pvscsi: a VMware paravirtual disk"),
    ] {
        if has(drv) {
            return class(DeviceClass::Virtio, high, what);
        }
    }
    if f.base.starts_with("vd") {
        return class(
            DeviceClass::Virtio,
            high,
            "kernel name vd*: a virtio-blk disk",
        );
    }
    if f.base.starts_with("xvd") {
        return class(
            DeviceClass::Virtio,
            high,
            "kernel name xvd*: a Xen virtual disk",
        );
    }
    // Emulated and cloud disks on real-looking drivers (AWS EBS is NVMe, QEMU's IDE disk is
    // ahci).
    let guess = guess_class_from_model(&f.model_names);
    if let Some(g) = guess.as_ref().filter(|g| g.class == DeviceClass::Virtio) {
        return class(DeviceClass::Virtio, g.confidence, g.reason.clone());
    }

    if has("nvme") {
        return class(DeviceClass::Nvme, high, "driver nvme: an NVMe SSD");
    }
    if f.base.starts_with("nvme") || f.bus == Some("NVME") || f.classes.iter().any(|c| c == "nvme")
    {
        return class(DeviceClass::Nvme, high, "NVMe by name and bus: an NVMe SSD");
    }

    if f.base.starts_with("mmcblk")
        || f.by_ids.iter().any(|b| b.starts_with("mmc-"))
        || has("mmcblk")
        || matches!(f.bus, Some("MMC" | "SDIO"))
        || f.sysfs_link.contains("/mmc_host/")
    {
        return mmc_class(f);
    }

    // SATA, SAS and other SCSI disks: nothing says whether they spin but the model.
    if let Some(g) = guess {
        return class(g.class, g.confidence, g.reason);
    }
    let shown = f
        .model_names
        .first()
        .map_or_else(|| "no model name".to_string(), |m| format!("model \"{m}\""));
    match f.size {
        Some(s) if s > LARGE_DISK_BYTES => class(
            DeviceClass::Hdd,
            Confidence::Low,
            format!(
                "{shown} matches no known SSD or HDD family; at {} GB a SATA/SAS disk is most \
                 likely rotational",
                s / 1_000_000_000
            ),
        ),
        _ => class(
            DeviceClass::Unknown,
            Confidence::Low,
            format!(
                "{shown} matches no known SSD or HDD family, and the report has no rotational \
                 flag"
            ),
        ),
    }
}

/// SD cards and eMMC share the mmcblk driver; the report has no `type` to tell them apart.
fn mmc_class(f: &Facts<'_>) -> Class {
    let boot = format!("/dev/{}boot0", f.base);
    if f.kernel_names.contains(&boot) {
        return class(
            DeviceClass::Emmc,
            Confidence::High,
            format!("the report lists its boot area {boot}: an eMMC"),
        );
    }
    if f.model_names
        .iter()
        .any(|n| n.to_ascii_uppercase().contains("EMMC"))
    {
        return class(DeviceClass::Emmc, Confidence::Medium, "its name says eMMC");
    }
    if f.drivers.contains("sdhost_bcm2835") || f.drivers.contains("bcm2835_sdhost") {
        return class(
            DeviceClass::Sd,
            Confidence::Medium,
            "driver sdhost-bcm2835 is the Raspberry Pi's SD-card host: an SD card",
        );
    }
    match f.mmc_host {
        Some(h) if h.starts_with("SD ") => {
            return class(
                DeviceClass::Sd,
                Confidence::Medium,
                format!("its MMC host is \"{h}\": an SD card"),
            );
        }
        Some(h) if h.starts_with("MMC ") => {
            return class(
                DeviceClass::Emmc,
                Confidence::Medium,
                format!("its MMC host is \"{h}\": an eMMC"),
            );
        }
        _ => {}
    }
    class(
        DeviceClass::Sd,
        Confidence::Low,
        "an MMC block device: SD cards and eMMC share the driver and nothing in the report \
         tells them apart; taken as an SD card (the slower, more careful class)",
    )
}

/// Why a listed disk is not one, from its kernel name and hwinfo classes.
fn skip_reason(base: &str, classes: &[String], sub_class: Option<&str>) -> Option<SkipReason> {
    let numbered = |p: &str| {
        base.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
    };
    let class = |c: &str| classes.iter().any(|x| x == c);
    if numbered("ram") {
        Some(SkipReason::RamDisk)
    } else if base.starts_with("zram") {
        Some(SkipReason::Zram)
    } else if base.starts_with("loop") {
        Some(SkipReason::Loop)
    } else if numbered("sr")
        || numbered("scd")
        || class("cdrom")
        || sub_class.is_some_and(|s| s.eq_ignore_ascii_case("CD-ROM"))
    {
        Some(SkipReason::Optical)
    } else if numbered("fd") || class("floppy") {
        Some(SkipReason::Floppy)
    } else if base.starts_with("nbd") {
        Some(SkipReason::NetworkBlock)
    } else if numbered("md")
        || base.starts_with("md/")
        || base.starts_with("dm-")
        || base.starts_with("mapper/")
    {
        Some(SkipReason::Virtual)
    } else if base.starts_with("mmcblk") && (base.contains("boot") || base.contains("rpmb")) {
        Some(SkipReason::EmmcHardwarePartition)
    } else {
        None
    }
}

fn is_card_reader(name: &str) -> bool {
    let n = name.to_ascii_uppercase().replace(['_', '-'], " ");
    [
        "CARD READER",
        "CARDREADER",
        "SD/MMC",
        "SD MMC",
        "MULTI CARD",
        "MULTICARD",
        "SD READER",
        "XD PICTURE",
        "MS/MS PRO",
    ]
    .iter()
    .any(|p| n.contains(p))
}

/// Every device path listed: `unix_device_names` (a list, or drift: one string), then
/// `unix_device_name`.
fn device_names(d: &Map<String, Value>) -> Vec<String> {
    let mut out = strings(d.get("unix_device_names"));
    if let Some(n) = string(d.get("unix_device_name"))
        && !out.contains(&n)
    {
        out.push(n);
    }
    out
}

/// The kernel device (`/dev/sda`): `unix_device_name`, else a plain `/dev` name in the list,
/// else from `sysfs_id` (`/class/block/sda`).
fn kernel_name(d: &Map<String, Value>, names: &[String]) -> Option<String> {
    let plain = |n: &str| {
        n.starts_with("/dev/")
            && !n.starts_with("/dev/disk/")
            && !n.starts_with("/dev/sg")
            && n.len() > "/dev/".len()
    };
    string(d.get("unix_device_name"))
        .filter(|n| plain(n))
        .or_else(|| names.iter().find(|n| plain(n)).cloned())
        .or_else(|| {
            let id = string(d.get("sysfs_id"))?;
            let name = id
                .strip_prefix("/class/block/")
                .or_else(|| id.strip_prefix("/block/"))?;
            (!name.is_empty() && !name.contains('/'))
                .then(|| format!("/dev/{}", name.replace('!', "/")))
        })
}

/// The by-id name to use: readable names (`ata-`, `nvme-`, `usb-`, `mmc-`, `scsi-S…`) before
/// SCSI NAA numbers (`scsi-3…`, stable but unreadable), before `nvme-nvme.` hex; never `wwn-`
/// or `eui.` names, never partitions. Shortest first within a rank.
fn stable_by_id(names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| by_id_rank(n).map(|r| (r, n.len(), n)))
        .min()
        .map(|(_, _, n)| n.clone())
}

fn by_id_rank(name: &str) -> Option<u8> {
    let id = name.strip_prefix("/dev/disk/by-id/")?;
    let lower = id.to_ascii_lowercase();
    let partition = lower
        .rsplit_once("-part")
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if id.is_empty()
        || partition
        || ["wwn-", "eui.", "nvme-eui.", "dm-", "md-", "lvm-", "raid-"]
            .iter()
            .any(|p| lower.starts_with(p))
    {
        return None;
    }
    if lower.starts_with("nvme-nvme.") {
        return Some(2);
    }
    if let Some(rest) = id.strip_prefix("scsi-") {
        return Some(match rest.chars().next() {
            Some('0' | '1' | 'S') => 0,
            _ => 1,
        });
    }
    Some(0)
}

/// The model part of a readable by-id name: `ata-HITACHI_HTS725032A9A364_100801PCK304VKKVP91J`
/// gives `HITACHI_HTS725032A9A364`; `usb-Lexar_USB_Flash_Drive_7699653851157210-0:0` gives
/// `Lexar_USB_Flash_Drive`.
fn by_id_model(name: &str) -> Option<String> {
    let id = name.strip_prefix("/dev/disk/by-id/")?;
    let (kind, rest) = id.split_once('-')?;
    let rest = match kind {
        "ata" | "nvme" | "mmc" | "virtio" | "memstick" | "ieee1394" => rest,
        // `-0:0`: the SCSI LUN.
        "usb" => rest
            .rsplit_once('-')
            .filter(|(_, lun)| lun.contains(':'))
            .map_or(rest, |(m, _)| m),
        "scsi" => match rest.chars().next() {
            Some('0' | '1' | 'S') => rest.get(1..)?,
            _ => return None,
        },
        _ => return None,
    };
    if rest.starts_with("eui.") || rest.starts_with("nvme.") {
        return None;
    }
    let model = rest.rsplit_once('_').map_or(rest, |(m, _serial)| m);
    (!model.is_empty()).then(|| model.to_string())
}

/// A disk's size from its `size` resource: `(bytes, whether 512-byte sectors were assumed)`.
fn size_bytes(d: &Map<String, Value>) -> (Option<u64>, bool) {
    for r in resources_of(d.get("resources")) {
        if res_type(r) != Some("size") {
            continue;
        }
        let Some(v1) = r.get("value_1").and_then(num) else {
            continue;
        };
        let unit = match r.get("unit") {
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            // hwinfo's size_unit enum.
            Some(Value::Number(n)) => match n.as_u64() {
                Some(2) => "byte".into(),
                Some(3) => "sectors".into(),
                Some(4) => "kbyte".into(),
                Some(5) => "mbyte".into(),
                Some(6) => "gbyte".into(),
                _ => continue,
            },
            _ => "sectors".into(),
        };
        let sector = r.get("value_2").and_then(num).filter(|n| *n > 0);
        return match unit.as_str() {
            "sectors" => (v1.checked_mul(sector.unwrap_or(512)), sector.is_none()),
            "byte" | "bytes" => (Some(v1), false),
            "kbyte" => (v1.checked_mul(1 << 10), false),
            "mbyte" => (v1.checked_mul(1 << 20), false),
            "gbyte" => (v1.checked_mul(1 << 30), false),
            _ => continue,
        };
    }
    (None, false)
}

fn resources(entry: &Value) -> Vec<&Value> {
    resources_of(entry.get("resources"))
}

fn resources_of(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

fn res_type(r: &Value) -> Option<&str> {
    r.get("type").and_then(Value::as_str)
}

/// `smbios` as a list of typed entries (mid-2024) grouped by `type`, like current reports.
fn group_smbios(items: &[Value]) -> Map<String, Value> {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for item in items {
        if let Some(t) = item.get("type").and_then(Value::as_str) {
            groups.entry(t.to_string()).or_default().push(item.clone());
        }
    }
    groups
        .into_iter()
        .map(|(k, v)| (k, Value::Array(v)))
        .collect()
}

/// An hwinfo ID: `{hex, name, value}`, `{name, value}`, `{value}`, a bare name or number.
#[derive(Default)]
struct Id {
    name: Option<String>,
    value: Option<u64>,
}

fn id(v: Option<&Value>) -> Id {
    match v {
        Some(Value::Object(m)) => Id {
            name: string(m.get("name")),
            value: m
                .get("value")
                .and_then(num)
                .or_else(|| m.get("hex").and_then(hex)),
        },
        Some(Value::String(s)) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) if u64::from_str_radix(h, 16).is_ok() => Id {
                    name: None,
                    value: u64::from_str_radix(h, 16).ok(),
                },
                _ => Id {
                    name: nonempty(t),
                    value: None,
                },
            }
        }
        Some(n @ Value::Number(_)) => Id {
            name: None,
            value: num(n),
        },
        _ => Id::default(),
    }
}

/// A non-negative integer: a JSON number (integral floats too) or a string, decimal or `0x`
/// hex.
fn num(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => t.parse().ok(),
            }
        }
        _ => None,
    }
}

/// A hex string without `0x` (`"0085"`, the `hex` of an ID), or a number.
fn hex(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            u64::from_str_radix(
                t.strip_prefix("0x")
                    .or_else(|| t.strip_prefix("0X"))
                    .unwrap_or(t),
                16,
            )
            .ok()
        }
        other => num(other),
    }
}

/// A string field, whitespace collapsed; `None` when absent, empty or not a string.
fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).and_then(nonempty)
}

fn nonempty(s: &str) -> Option<String> {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

/// A list of strings (drift: one string).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| string(Some(x))).collect(),
        Some(Value::String(s)) => nonempty(s).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The sum of a count field over every entry, when every entry has it (and it is not 0).
fn sum_all(cpus: &[&Map<String, Value>], field: &str) -> Option<u32> {
    let mut total: u64 = 0;
    for c in cpus {
        let n = c.get(field).and_then(num).filter(|n| *n > 0)?;
        total = total.saturating_add(n);
    }
    Some(u32::try_from(total).unwrap_or(u32::MAX))
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether an SMBIOS processor `version` names a CPU. QEMU puts its machine type there
/// (`pc-i440fx-9.2`, `pc-q35-8.1`, `virt-9.0`) and firmware often a placeholder.
fn is_cpu_name(s: &str) -> bool {
    let u = s.to_ascii_uppercase();
    let machine_type = ["PC-", "VIRT-", "PSERIES", "S390-CCW", "MICROVM"]
        .iter()
        .any(|p| u.starts_with(p));
    let placeholder = [
        "NOT SPECIFIED",
        "TO BE FILLED",
        "DEFAULT STRING",
        "UNKNOWN",
        "NONE",
        "OEM",
        "N/A",
    ]
    .iter()
    .any(|p| u.starts_with(p));
    let brand = [
        "INTEL",
        "AMD",
        "RYZEN",
        "XEON",
        "EPYC",
        "CORE",
        "CELERON",
        "PENTIUM",
        "ATOM",
        "OPTERON",
        "ATHLON",
        "PHENOM",
        "CORTEX",
        "NEOVERSE",
        "AMPERE",
        "GRAVITON",
        "APPLE",
        "QUALCOMM",
        "SNAPDRAGON",
        "BCM",
        "BROADCOM",
        "ROCKCHIP",
        "ALLWINNER",
        "MEDIATEK",
        "HYGON",
        "ZHAOXIN",
        "LOONGSON",
        "SIFIVE",
        "POWER",
        "PROCESSOR",
        "CPU",
        "ARM",
    ]
    .iter()
    .any(|b| u.contains(b));
    !machine_type && !placeholder && brand
}

/// hwinfo's bus numbers (hd.h `bus_*`), for reports that give the ID as a bare number.
fn bus_name(v: u64) -> Option<&'static str> {
    Some(match v {
        4 => "PCI",
        131 => "Floppy",
        132 => "SCSI",
        133 => "IDE",
        134 => "USB",
        136 => "RAID",
        143 => "Virtio",
        147 => "MMC",
        148 => "SDIO",
        150 => "NVME",
        _ => return None,
    })
}

/// PCI vendor IDs of NVMe SSD makers, for reports that give only the number.
fn pci_vendor(v: u64) -> Option<&'static str> {
    Some(match v {
        0x144d => "Samsung",
        0x15b7 => "SanDisk",
        0x1c5c => "SK hynix",
        0x1987 => "Phison",
        0x8086 => "Intel",
        0x1344 | 0xc0a9 => "Micron",
        0x1e0f => "KIOXIA",
        0x1179 => "Toshiba",
        0x126f => "Silicon Motion",
        0x2646 => "Kingston",
        0x1bb1 => "Seagate",
        0x1cc1 => "ADATA",
        0x1d97 => "Lexar",
        0x1e4b => "MAXIO",
        0x10ec => "Realtek",
        0x106b => "Apple",
        0x1b4b => "Marvell",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_in_every_spelling() {
        assert_eq!(num(&json!(48)), Some(48));
        assert_eq!(num(&json!("0x30")), Some(48));
        assert_eq!(num(&json!("0X30")), Some(48));
        assert_eq!(num(&json!(" 48 ")), Some(48));
        assert_eq!(num(&json!(3992.0)), Some(3992));
        assert_eq!(num(&json!(3992.49)), None);
        assert_eq!(num(&json!(-1)), None);
        assert_eq!(num(&json!("0x")), None);
        assert_eq!(num(&json!("zz")), None);
        assert_eq!(num(&json!(1e300)), None);
        assert_eq!(num(&json!(null)), None);
    }

    #[test]
    fn ids_in_every_shape() {
        let full = id(Some(&json!({"hex": "0085", "name": "IDE", "value": 133})));
        assert_eq!((full.name.as_deref(), full.value), (Some("IDE"), Some(133)));
        let hex_only = id(Some(&json!({"hex": "144d"})));
        assert_eq!(hex_only.value, Some(0x144d));
        let bare = id(Some(&json!("Virtio")));
        assert_eq!((bare.name.as_deref(), bare.value), (Some("Virtio"), None));
        assert_eq!(id(Some(&json!("0x0085"))).value, Some(0x85));
        assert_eq!(id(Some(&json!(150))).value, Some(150));
        assert!(id(Some(&json!([1]))).name.is_none());
    }

    #[test]
    fn by_id_ranking() {
        let names: Vec<String> = [
            "/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_2TB_S4J4NG0M922749W_1",
            "/dev/disk/by-id/nvme-eui.002538599150f621",
            "/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_2TB_S4J4NG0M922749W",
            "/dev/disk/by-id/wwn-0x5000cca5b7f66816",
            "/dev/nvme0n1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            stable_by_id(&names).as_deref(),
            Some("/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_2TB_S4J4NG0M922749W")
        );
        // Only a wwn: no by-id name.
        assert_eq!(stable_by_id(&["/dev/disk/by-id/wwn-0x5".to_string()]), None);
        // A readable name beats a shorter NAA number.
        let scsi = [
            "/dev/disk/by-id/scsi-35000c500e48d1e67",
            "/dev/disk/by-id/scsi-SATA_ST20000NE000-3G5_ZVT0BV94",
        ]
        .map(String::from);
        assert!(stable_by_id(&scsi).unwrap().contains("SATA_ST20000"));
        assert_eq!(by_id_rank("/dev/disk/by-id/ata-X_Y-part1"), None);
    }

    #[test]
    fn by_id_models() {
        let m = |s: &str| by_id_model(&format!("/dev/disk/by-id/{s}"));
        assert_eq!(
            m("ata-HITACHI_HTS725032A9A364_100801PCK304VKKVP91J").as_deref(),
            Some("HITACHI_HTS725032A9A364")
        );
        assert_eq!(
            m("usb-Lexar_USB_Flash_Drive_7699653851157210-0:0").as_deref(),
            Some("Lexar_USB_Flash_Drive")
        );
        assert_eq!(m("mmc-SC16G_0x41c23916").as_deref(), Some("SC16G"));
        assert_eq!(
            m("scsi-SATA_ST2000DM001-1CH_Z1E5").as_deref(),
            Some("ATA_ST2000DM001-1CH")
        );
        assert_eq!(m("scsi-360ca40f3255a4d989b3e16f1a82d258f"), None);
        assert_eq!(m("nvme-eui.002538599150f621"), None);
        assert_eq!(m("ata-"), None);
    }

    #[test]
    fn cpu_names() {
        assert!(is_cpu_name("Intel(R) Core(TM) i3-2310M CPU @ 2.10GHz"));
        assert!(is_cpu_name("AMD EPYC 7763 64-Core Processor"));
        assert!(!is_cpu_name("pc-i440fx-9.2"));
        assert!(!is_cpu_name("pc-q35-8.1"));
        assert!(!is_cpu_name("Not Specified"));
        assert!(!is_cpu_name("To Be Filled By O.E.M."));
        assert!(!is_cpu_name(""));
    }

    #[test]
    fn size_units() {
        let d = |r: Value| json!({ "resources": [r] }).as_object().cloned().unwrap();
        let s = |r| size_bytes(&d(r));
        assert_eq!(
            s(json!({"type": "size", "unit": "sectors", "value_1": 2, "value_2": 4096})),
            (Some(8192), false)
        );
        assert_eq!(
            s(json!({"type": "size", "unit": "sectors", "value_1": 2})),
            (Some(1024), true)
        );
        assert_eq!(
            s(json!({"type": "size", "unit": 3, "value_1": "0x2", "value_2": 512})),
            (Some(1024), false)
        );
        assert_eq!(
            s(json!({"type": "size", "unit": "sectors", "value_1": u64::MAX, "value_2": 512})),
            (None, false)
        );
        assert_eq!(
            s(json!({"type": "size", "unit": "cm", "value_1": 30})),
            (None, false)
        );
    }

    #[test]
    fn model_families() {
        let c = |s: &str| guess_class_from_model(&[s]).map(|g| g.class);
        assert_eq!(c("HFS500G32TND-N1A"), Some(DeviceClass::SataSsd));
        assert_eq!(c("HITACHI HTS72503"), Some(DeviceClass::Hdd));
        assert_eq!(c("SAMSUNG HD154UI"), Some(DeviceClass::Hdd));
        assert_eq!(c("OCZ-TRION100"), Some(DeviceClass::SataSsd));
        assert_eq!(c("HDSTOR_-_HSAV25ST250AX"), Some(DeviceClass::SataSsd));
        assert_eq!(c("ST20000NE000-3G5"), Some(DeviceClass::Hdd));
        assert_eq!(c("ST400FM0053"), Some(DeviceClass::SataSsd));
        assert_eq!(c("WDC WD201KFGX-68"), Some(DeviceClass::Hdd));
        assert_eq!(c("WDC WDS500G2B0A"), Some(DeviceClass::SataSsd));
        assert_eq!(c("HGST HUSMM1640ASS204"), Some(DeviceClass::SataSsd));
        assert_eq!(c("HGST HUS726040ALE610"), Some(DeviceClass::Hdd));
        assert_eq!(c("Samsung SSD 840"), Some(DeviceClass::SataSsd));
        assert_eq!(c("TOSHIBA MQ01ABD100"), Some(DeviceClass::Hdd));
        assert_eq!(c("QEMU HARDDISK"), Some(DeviceClass::Virtio));
        assert_eq!(c("Lexar USB Flash Drive"), None);
        assert_eq!(c("Generic DISK00"), None);
        assert_eq!(c(""), None);
    }
}
