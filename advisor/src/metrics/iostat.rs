//! `iostat` output: `-x` (extended), with or without `-d`, `-k`/`-m`, `-t`, several samples,
//! the sysstat 12 column set, the sysstat 11 ones (which differ across minor versions), and
//! `-o JSON`.
//!
//! Columns are mapped by their header names, never by position, and converted to common
//! units: throughput in bytes per second (`rkB/s`, `rMB/s` and `rsec/s` alike; sysstat's
//! kB is 1024 bytes, a sector 512), request sizes in bytes (`rareq-sz` is in kB,
//! `avgrq-sz` in sectors), latencies in milliseconds. A column this parser does not know
//! is kept in [`DeviceRow::other`] under its header name.
//!
//! The first sample is the average since boot; later ones cover one interval each.
//! `%util` does not show saturation of devices that serve requests in parallel (NVMe,
//! RAID; tuning facts §7).

use super::text::{Tok, err, err_at, number, numbered, shown, tokens};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed iostat run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IostatReport {
    /// The system line (`Linux 6.1.0 (host) 11/21/26 _x86_64_ (8 CPU)`) or the JSON host
    /// fields.
    pub host: Option<IostatHost>,
    /// Samples in order; the first one is the average since boot.
    pub samples: Vec<IostatSample>,
    /// Which column set the device report used.
    pub columns: ColumnSet,
    /// True for `-o JSON` input.
    pub json: bool,
}

/// The system iostat ran on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IostatHost {
    /// Kernel name (`Linux`).
    pub sysname: Option<String>,
    /// Kernel release.
    pub release: Option<String>,
    /// Host name.
    pub nodename: Option<String>,
    /// Date as printed (locale dependent).
    pub date: Option<String>,
    /// Machine (`x86_64`).
    pub machine: Option<String>,
    /// Number of CPUs.
    pub cpus: Option<u32>,
}

/// The device report's column set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColumnSet {
    /// sysstat ≥ 12: per-direction request sizes (`rareq-sz`) and `aqu-sz`, no `svctm`;
    /// discard (`d/s`) and flush (`f/s`) columns in later 12.x.
    Sysstat12,
    /// sysstat 11.5 – 11.7: `rareq-sz`, `aqu-sz`, `%rrqm` and still `svctm`.
    Sysstat11Late,
    /// sysstat ≤ 11.4 (and 10.x): `avgrq-sz` (sectors), `avgqu-sz`, `await`, `svctm`.
    Sysstat11Classic,
    /// The basic report without `-x` (`tps`, `kB_read/s`, ...).
    Basic,
    /// No device report (e.g. `iostat -c`), or a mix this parser could not place.
    Other,
}

/// One sample (one interval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IostatSample {
    /// The `-t` timestamp, as printed.
    pub timestamp: Option<String>,
    /// The CPU utilisation block (absent with `-d`).
    pub avg_cpu: Option<AvgCpu>,
    /// One row per device, in order.
    pub devices: Vec<DeviceRow>,
}

/// The `avg-cpu` block, in percent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AvgCpu {
    /// `%user`.
    pub user: Option<f64>,
    /// `%nice`.
    pub nice: Option<f64>,
    /// `%system`.
    pub system: Option<f64>,
    /// `%iowait`: time idle with outstanding I/O.
    pub iowait: Option<f64>,
    /// `%steal`.
    pub steal: Option<f64>,
    /// `%idle`.
    pub idle: Option<f64>,
    /// Other columns by name.
    pub other: BTreeMap<String, f64>,
}

/// One device row. Every field is `None` when its column was not printed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRow {
    /// The device name (`nvme0n1`, `sda`, `dm-0`, `loop3`).
    pub device: String,
    /// `r/s`: read requests completed per second (after merging).
    pub reads_per_s: Option<f64>,
    /// `w/s`: write requests completed per second.
    pub writes_per_s: Option<f64>,
    /// `d/s`: discard requests per second.
    pub discards_per_s: Option<f64>,
    /// `f/s`: flush requests per second (fsync-heavy workloads show here, §7).
    pub flushes_per_s: Option<f64>,
    /// `tps` (basic report): transfers per second.
    pub tps: Option<f64>,
    /// `rkB/s`, `rMB/s`, `rsec/s`, `kB_read/s`, ...: bytes read per second.
    pub read_bytes_per_s: Option<f64>,
    /// `wkB/s`, `wMB/s`, `wsec/s`, `kB_wrtn/s`, ...: bytes written per second.
    pub write_bytes_per_s: Option<f64>,
    /// `dkB/s`, `dMB/s`, `kB_dscd/s`: bytes discarded per second.
    pub discard_bytes_per_s: Option<f64>,
    /// `rrqm/s`: read requests merged per second.
    pub read_merges_per_s: Option<f64>,
    /// `wrqm/s`: write requests merged per second.
    pub write_merges_per_s: Option<f64>,
    /// `drqm/s`: discard requests merged per second.
    pub discard_merges_per_s: Option<f64>,
    /// `%rrqm` (JSON `rrqm`): percent of read requests merged.
    pub read_merges_pct: Option<f64>,
    /// `%wrqm`: percent of write requests merged (low = fragmented or sync-heavy I/O, §7).
    pub write_merges_pct: Option<f64>,
    /// `%drqm`: percent of discard requests merged.
    pub discard_merges_pct: Option<f64>,
    /// `r_await`: mean read latency in ms, queue time included.
    pub read_await_ms: Option<f64>,
    /// `w_await`: mean write latency in ms.
    pub write_await_ms: Option<f64>,
    /// `d_await`: mean discard latency in ms.
    pub discard_await_ms: Option<f64>,
    /// `f_await`: mean flush latency in ms.
    pub flush_await_ms: Option<f64>,
    /// `await` (sysstat ≤ 11.4, and the short report): mean latency of all requests, ms.
    pub await_ms: Option<f64>,
    /// `rareq-sz` (kB): mean read request size in bytes.
    pub read_request_bytes: Option<f64>,
    /// `wareq-sz` (kB): mean write request size in bytes.
    pub write_request_bytes: Option<f64>,
    /// `dareq-sz` (kB): mean discard request size in bytes.
    pub discard_request_bytes: Option<f64>,
    /// `avgrq-sz` (sectors, sysstat ≤ 11.4) or `areq-sz` (kB, short report): mean request
    /// size in bytes.
    pub request_bytes: Option<f64>,
    /// `aqu-sz` / `avgqu-sz`: mean queue length.
    pub queue_size: Option<f64>,
    /// `svctm` (sysstat ≤ 11, deprecated and unreliable): mean service time, ms.
    pub service_ms: Option<f64>,
    /// `%util` (JSON `util`): percent of time the device had I/O in flight.
    pub util_pct: Option<f64>,
    /// Columns not mapped above, by header name, as printed (no unit conversion).
    pub other: BTreeMap<String, f64>,
}

impl IostatReport {
    /// The rows of one device across samples, with the sample index.
    pub fn device(&self, name: &str) -> impl Iterator<Item = (usize, &DeviceRow)> {
        let name = name.to_string();
        self.samples.iter().enumerate().flat_map(move |(i, s)| {
            s.devices
                .iter()
                .filter(|d| d.device == name)
                .map(move |d| (i, d))
                .collect::<Vec<_>>()
        })
    }
}

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;
const SECTOR: f64 = 512.0;

/// Stores `v` (as printed under column `name`) in `row`; false if the name is unknown.
fn assign(row: &mut DeviceRow, name: &str, v: f64) -> bool {
    let (slot, mult) = match name {
        "r/s" => (&mut row.reads_per_s, 1.0),
        "w/s" => (&mut row.writes_per_s, 1.0),
        "d/s" => (&mut row.discards_per_s, 1.0),
        "f/s" => (&mut row.flushes_per_s, 1.0),
        "tps" => (&mut row.tps, 1.0),
        "rkB/s" | "kB_read/s" => (&mut row.read_bytes_per_s, KB),
        "rMB/s" | "MB_read/s" => (&mut row.read_bytes_per_s, MB),
        "rsec/s" | "Blk_read/s" => (&mut row.read_bytes_per_s, SECTOR),
        "wkB/s" | "kB_wrtn/s" => (&mut row.write_bytes_per_s, KB),
        "wMB/s" | "MB_wrtn/s" => (&mut row.write_bytes_per_s, MB),
        "wsec/s" | "Blk_wrtn/s" => (&mut row.write_bytes_per_s, SECTOR),
        "dkB/s" | "kB_dscd/s" => (&mut row.discard_bytes_per_s, KB),
        "dMB/s" | "MB_dscd/s" => (&mut row.discard_bytes_per_s, MB),
        "dsec/s" | "Blk_dscd/s" => (&mut row.discard_bytes_per_s, SECTOR),
        "rrqm/s" => (&mut row.read_merges_per_s, 1.0),
        "wrqm/s" => (&mut row.write_merges_per_s, 1.0),
        "drqm/s" => (&mut row.discard_merges_per_s, 1.0),
        "%rrqm" | "rrqm" => (&mut row.read_merges_pct, 1.0),
        "%wrqm" | "wrqm" => (&mut row.write_merges_pct, 1.0),
        "%drqm" | "drqm" => (&mut row.discard_merges_pct, 1.0),
        "r_await" => (&mut row.read_await_ms, 1.0),
        "w_await" => (&mut row.write_await_ms, 1.0),
        "d_await" => (&mut row.discard_await_ms, 1.0),
        "f_await" => (&mut row.flush_await_ms, 1.0),
        "await" => (&mut row.await_ms, 1.0),
        "rareq-sz" => (&mut row.read_request_bytes, KB),
        "wareq-sz" => (&mut row.write_request_bytes, KB),
        "dareq-sz" => (&mut row.discard_request_bytes, KB),
        "avgrq-sz" => (&mut row.request_bytes, SECTOR),
        "areq-sz" => (&mut row.request_bytes, KB),
        "aqu-sz" | "avgqu-sz" => (&mut row.queue_size, 1.0),
        "svctm" => (&mut row.service_ms, 1.0),
        "%util" | "util" => (&mut row.util_pct, 1.0),
        _ => return false,
    };
    *slot = Some(v * mult);
    true
}

fn assign_cpu(cpu: &mut AvgCpu, name: &str, v: f64) {
    let slot = match name.trim_start_matches('%') {
        "user" => &mut cpu.user,
        "nice" => &mut cpu.nice,
        "system" => &mut cpu.system,
        "iowait" => &mut cpu.iowait,
        "steal" => &mut cpu.steal,
        "idle" => &mut cpu.idle,
        _ => {
            cpu.other.insert(name.to_string(), v);
            return;
        }
    };
    *slot = Some(v);
}

fn column_set<'a>(names: impl IntoIterator<Item = &'a str>) -> ColumnSet {
    let names: Vec<&str> = names.into_iter().collect();
    let has = |n: &str| names.contains(&n);
    if has("avgrq-sz") || has("avgqu-sz") {
        ColumnSet::Sysstat11Classic
    } else if has("rareq-sz") && has("svctm") {
        ColumnSet::Sysstat11Late
    } else if has("rareq-sz") || has("aqu-sz") {
        ColumnSet::Sysstat12
    } else if has("tps") {
        ColumnSet::Basic
    } else {
        ColumnSet::Other
    }
}

/// Parses iostat output: text (any of the forms above) or `-o JSON`.
pub fn parse(text: &str, origin: &str) -> Result<IostatReport, AdvisorError> {
    if text.trim_start().starts_with('{') {
        parse_json(text, origin)
    } else {
        parse_text(text, origin)
    }
}

fn parse_text(text: &str, origin: &str) -> Result<IostatReport, AdvisorError> {
    let mut host = None;
    let mut samples: Vec<IostatSample> = Vec::new();
    let mut cur: Option<IostatSample> = None;
    let mut pending_time: Option<String> = None;
    let mut columns: Option<(usize, Vec<String>)> = None; // (header line, names)
    let mut in_devices = false;
    let mut cpu_names: Option<(usize, Vec<String>)> = None; // waiting for the values line
    let mut set = ColumnSet::Other;
    let mut seen_any = false;

    let new_sample = |t: &mut Option<String>| IostatSample {
        timestamp: t.take(),
        avg_cpu: None,
        devices: Vec::new(),
    };

    for (no, line) in numbered(text) {
        let toks = tokens(line);
        let Some(first) = toks.first() else {
            in_devices = false;
            continue;
        };
        if !seen_any {
            seen_any = true;
            if first.s == "Linux" || line.contains(" CPU)") {
                host = Some(read_host_line(line));
                continue;
            }
        }
        if let Some((cno, names)) = cpu_names.take() {
            if toks.len() != names.len() {
                return Err(err(
                    origin,
                    no,
                    0,
                    format!(
                        "expected {} avg-cpu values (for the header on line {cno}), found {}",
                        names.len(),
                        toks.len()
                    ),
                ));
            }
            let mut cpu = AvgCpu::default();
            for (t, n) in toks.iter().zip(&names) {
                let v = num(origin, no, line, *t)?;
                assign_cpu(&mut cpu, n, v);
            }
            if let Some(s) = cur.as_mut() {
                s.avg_cpu = Some(cpu);
            }
            continue;
        }
        if first.s == "avg-cpu:" {
            if let Some(s) = cur.take() {
                samples.push(s);
            }
            cur = Some(new_sample(&mut pending_time));
            cpu_names = Some((no, toks[1..].iter().map(|t| t.s.to_string()).collect()));
            in_devices = false;
            continue;
        }
        if first.s == "Device" || first.s == "Device:" {
            let names: Vec<String> = toks[1..].iter().map(|t| t.s.to_string()).collect();
            if names.is_empty() {
                return Err(err(
                    origin,
                    no,
                    0,
                    "expected column names after `Device`".into(),
                ));
            }
            let start_new = match &cur {
                None => true,
                Some(s) => !s.devices.is_empty() || s.avg_cpu.is_none() || pending_time.is_some(),
            };
            if start_new {
                if let Some(s) = cur.take() {
                    samples.push(s);
                }
                cur = Some(new_sample(&mut pending_time));
            }
            let this = column_set(names.iter().map(String::as_str));
            if set == ColumnSet::Other {
                set = this;
            } else if this != set && this != ColumnSet::Other {
                return Err(err(
                    origin,
                    no,
                    1,
                    "a device header with a different column set than the first: expected one iostat run".into(),
                ));
            }
            columns = Some((no, names));
            in_devices = true;
            continue;
        }
        if in_devices {
            let Some((hno, names)) = &columns else {
                in_devices = false;
                continue;
            };
            let values = &toks[1..];
            if values.len() != names.len() {
                return Err(err(
                    origin,
                    no,
                    0,
                    format!(
                        "expected a device name and {} values (the columns of the header on line {hno}), found {} values",
                        names.len(),
                        values.len()
                    ),
                ));
            }
            let mut row = DeviceRow {
                device: first.s.to_string(),
                ..DeviceRow::default()
            };
            for (t, n) in values.iter().zip(names) {
                let v = num(origin, no, line, *t)?;
                if !assign(&mut row, n, v) {
                    row.other.insert(n.clone(), v);
                }
            }
            if let Some(s) = cur.as_mut() {
                s.devices.push(row);
            }
            continue;
        }
        // Between blocks: a `-t` timestamp (`11/21/26 10:08:22`, ISO `2026-11-21T10:08:22+0100`).
        let t = line.trim();
        if pending_time.is_none() && t.contains(':') && t.starts_with(|c: char| c.is_ascii_digit())
        {
            pending_time = Some(t.to_string());
            continue;
        }
        return Err(err_at(
            origin,
            no,
            line,
            *first,
            format!(
                "expected `avg-cpu:`, a `Device` header, a device row or a timestamp, found `{}`",
                shown(t)
            ),
        ));
    }
    if let Some((cno, _)) = cpu_names {
        return Err(err(
            origin,
            cno,
            0,
            "the input ends after an `avg-cpu:` header: expected a line of values".into(),
        ));
    }
    if let Some(s) = cur.take() {
        samples.push(s);
    }
    if samples.is_empty() {
        return Err(err(
            origin,
            0,
            0,
            "no samples: expected iostat output with `avg-cpu:` and/or `Device` blocks".into(),
        ));
    }
    Ok(IostatReport {
        host,
        samples,
        columns: set,
        json: false,
    })
}

fn num(origin: &str, no: usize, line: &str, t: Tok<'_>) -> Result<f64, AdvisorError> {
    number(t.s).ok_or_else(|| {
        err_at(
            origin,
            no,
            line,
            t,
            format!(
                "expected a number like `12.34`, found `{}` (human-readable `-h`/`--human` output is not supported)",
                shown(t.s)
            ),
        )
    })
}

/// `Linux 6.18.44-fc-v657 (vm) \t11/21/26 \t_x86_64_\t(2 CPU)`.
fn read_host_line(line: &str) -> IostatHost {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let mut h = IostatHost::default();
    let mut rest: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if i == 0 {
            h.sysname = Some(t.to_string());
        } else if i == 1 {
            h.release = Some(t.to_string());
        } else if h.nodename.is_none() && t.starts_with('(') && t.ends_with(')') && t.len() > 1 {
            h.nodename = t.get(1..t.len() - 1).map(String::from);
        } else if t.starts_with('(') && toks.get(i + 1).is_some_and(|n| n.starts_with("CPU")) {
            h.cpus = t.trim_start_matches('(').parse().ok();
            i += 1;
        } else if t.starts_with('_') && t.ends_with('_') && t.len() > 2 {
            h.machine = t.get(1..t.len() - 1).map(String::from);
        } else {
            rest.push(t);
        }
        i += 1;
    }
    if !rest.is_empty() {
        h.date = Some(rest.join(" "));
    }
    h
}

fn parse_json(text: &str, origin: &str) -> Result<IostatReport, AdvisorError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        err(
            origin,
            e.line(),
            e.column(),
            format!("not valid JSON (expected `iostat -o JSON` output): {e}"),
        )
    })?;
    // Structural errors point at the line of the key concerned.
    let at = |key: &str| -> usize {
        text.find(&format!("\"{key}\"")).map_or(0, |i| {
            text.get(..i).map_or(0, |p| p.matches('\n').count() + 1)
        })
    };
    let bad = |key: &str, what: &str| err(origin, at(key), 0, format!("expected {what}"));
    let hosts = root
        .get("sysstat")
        .and_then(|s| s.get("hosts"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(
                "sysstat",
                "`{\"sysstat\": {\"hosts\": [...]}}` (iostat -o JSON)",
            )
        })?;
    let [hostv] = hosts.as_slice() else {
        return Err(bad("hosts", "exactly one entry in `hosts`"));
    };
    let s = |k: &str| hostv.get(k).and_then(Value::as_str).map(String::from);
    let host = IostatHost {
        sysname: s("sysname"),
        release: s("release"),
        nodename: s("nodename"),
        date: s("date"),
        machine: s("machine"),
        cpus: hostv
            .get("number-of-cpus")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
    };
    let stats = hostv
        .get("statistics")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("statistics", "a `statistics` array in the host entry"))?;
    let mut samples = Vec::new();
    let mut set = ColumnSet::Other;
    for st in stats {
        let avg_cpu = match st.get("avg-cpu") {
            None => None,
            Some(Value::Object(m)) => {
                let mut cpu = AvgCpu::default();
                for (k, v) in m {
                    let v = v
                        .as_f64()
                        .ok_or_else(|| bad("avg-cpu", "numbers in `avg-cpu`"))?;
                    assign_cpu(&mut cpu, k, v);
                }
                Some(cpu)
            }
            Some(_) => return Err(bad("avg-cpu", "`avg-cpu` to be an object")),
        };
        let mut devices = Vec::new();
        match st.get("disk") {
            None => {}
            Some(Value::Array(disks)) => {
                for d in disks {
                    let Some(m) = d.as_object() else {
                        return Err(bad("disk", "objects in the `disk` array"));
                    };
                    let Some(name) = m.get("disk_device").and_then(Value::as_str) else {
                        return Err(bad("disk", "a `disk_device` name in every `disk` entry"));
                    };
                    if set == ColumnSet::Other {
                        set = column_set(m.keys().map(String::as_str));
                    }
                    let mut row = DeviceRow {
                        device: name.to_string(),
                        ..DeviceRow::default()
                    };
                    for (k, v) in m {
                        if k == "disk_device" {
                            continue;
                        }
                        let Some(v) = v.as_f64() else {
                            return Err(bad(k, &format!("a number for `{k}` of `{name}`")));
                        };
                        if !assign(&mut row, k, v) {
                            row.other.insert(k.clone(), v);
                        }
                    }
                    devices.push(row);
                }
            }
            Some(_) => return Err(bad("disk", "`disk` to be an array")),
        }
        samples.push(IostatSample {
            timestamp: st
                .get("timestamp")
                .and_then(Value::as_str)
                .map(String::from),
            avg_cpu,
            devices,
        });
    }
    Ok(IostatReport {
        host: Some(host),
        samples,
        columns: set,
        json: true,
    })
}
