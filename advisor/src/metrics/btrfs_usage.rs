//! `btrfs filesystem usage` output: linear (default) or tabular (`-T`); human sizes
//! (default), `-b` (raw bytes) or any other unit option; single- and multi-device, degraded
//! (`<missing disk>`).
//!
//! ```text
//! Overall:
//!     Device size:                   1.50GiB
//!     ...
//!     Global reserve:                5.50MiB      (used: 0.00B)
//!     Multiple profiles:                 yes      (data)
//!
//! Data,single: Size:488.00MiB, Used:400.00MiB (81.97%)
//!    /dev/loop0    488.00MiB
//!
//! Unallocated:
//!    /dev/loop0    878.50MiB
//! ```
//!
//! The tabular format (`-T`) gives the same structure (without the used percentages, and
//! with each device's size in [`FsUsage::device_sizes`]). Run as non-root, btrfs-progs
//! prints no per-device lines (a `WARNING:` says so, kept in [`FsUsage::warnings`]) and a
//! bogus `Device slack` of `16.00EiB`, a wrapped negative number: that becomes `None`.
//!
//! Human sizes are rounded by btrfs-progs to 3 significant digits; [`FsUsage::exact`] says
//! whether every size was printed in bytes.

use super::text::{
    btrfs_signed_size, btrfs_size, btrfs_wrapped, err, integer, number, numbered, percent, shown,
    tokens,
};
use super::{BlockGroupKind, Profile};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A parsed `btrfs filesystem usage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FsUsage {
    /// The `Overall:` section.
    pub overall: Overall,
    /// One entry per block-group type and profile (`Data,single`, `Metadata,DUP`, ...), in
    /// the printed order. A filesystem in the middle of a conversion has two entries of one
    /// kind.
    pub block_groups: Vec<BlockGroup>,
    /// The `Unallocated:` section: per device, bytes not yet allocated to any chunk.
    /// Negative when a device holds more than its size (btrfs-progs prints that too).
    pub unallocated: Vec<DeviceUnallocated>,
    /// Each device's size, from the `Total` column of the tabular format (`-T`); empty
    /// for the linear format.
    pub device_sizes: Vec<DeviceBytes>,
    /// True for the tabular format (`-T`).
    pub tabular: bool,
    /// True when every size was printed as a plain byte count (`-b`/`--raw`).
    pub exact: bool,
    /// Lines btrfs-progs printed as `WARNING:`/`ERROR:` (e.g. for non-root runs), and
    /// notes about values this parser discarded as bogus.
    pub warnings: Vec<String>,
}

/// The `Overall:` section. Sizes in bytes (rounded as printed unless [`FsUsage::exact`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overall {
    /// `Device size`: the sum of the device sizes.
    pub device_size: u64,
    /// `Device allocated`: bytes allocated to chunks on all devices (raw, counting copies).
    pub device_allocated: u64,
    /// `Device unallocated`: raw bytes free for new chunks; ≈ 0 means metadata exhaustion
    /// and balance ENOSPC ahead (tuning facts §7). Negative values are possible.
    pub device_unallocated: i64,
    /// `Device missing`: the size of missing devices (a degraded mount).
    pub device_missing: u64,
    /// `Device slack` (btrfs-progs ≥ 5.1): device space beyond the filesystem's size.
    /// `None` when not printed, or printed as a wrapped negative number (non-root runs).
    pub device_slack: Option<u64>,
    /// `Device zone unusable` (zoned devices only).
    pub device_zone_unusable: Option<u64>,
    /// `Device zone size` (zoned devices only).
    pub device_zone_size: Option<u64>,
    /// `Used`: raw bytes used (counting copies).
    pub used: u64,
    /// `Free (estimated)`: bytes that can still be written with the current data profile.
    pub free_estimated: u64,
    /// The `(min: ...)` after `Free (estimated)`: the estimate with the most wasteful
    /// profile.
    pub free_estimated_min: Option<u64>,
    /// `Free (statfs, df)` (btrfs-progs ≥ 5.x): what `df` reports as available.
    pub free_statfs: Option<u64>,
    /// `Data ratio`: raw bytes per data byte (2.00 for RAID1 and DUP; between values
    /// during a conversion).
    pub data_ratio: f64,
    /// `Metadata ratio`.
    pub metadata_ratio: f64,
    /// `Global reserve`: the metadata emergency reserve.
    pub global_reserve: u64,
    /// The `(used: ...)` after `Global reserve`: > 0 means the reserve is in use (§7).
    pub global_reserve_used: Option<u64>,
    /// `Multiple profiles` (btrfs-progs ≥ 5.x): `yes` means an interrupted conversion
    /// (finish it with `balance start -dconvert=…,soft`, §7). `None` when not printed.
    pub multiple_profiles: Option<bool>,
    /// The block-group types that have several profiles, from `yes (data, metadata)`.
    pub multiple_profiles_in: Vec<String>,
    /// Other `Key: value` lines of the section, verbatim (keyed by the key without `:`).
    pub other: BTreeMap<String, String>,
}

/// One block-group type and profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockGroup {
    /// Data, Metadata, System, or Data+Metadata (mixed block groups).
    pub kind: BlockGroupKind,
    /// The profile (`single`, `DUP`, `RAID1`, ...).
    pub profile: Profile,
    /// `Size`: logical bytes allocated to chunks of this type.
    pub size: u64,
    /// `Used`: logical bytes used in them.
    pub used: u64,
    /// The printed `(81.97%)`, when there is one (btrfs-progs ≥ 5.x).
    pub used_percent: Option<f64>,
    /// Raw bytes of these chunks on each device (copies counted: a DUP device shows twice
    /// the size). Empty when btrfs-progs could not read chunk info (non-root).
    pub per_device: Vec<DeviceBytes>,
}

/// Bytes on one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBytes {
    /// The device path (`/dev/nvme0n1p2`), or `<missing disk>` / `devid:N` for a missing
    /// device.
    pub device: String,
    /// Bytes.
    pub bytes: u64,
}

/// Unallocated bytes on one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceUnallocated {
    /// The device path, or `<missing disk>` / `devid:N`.
    pub device: String,
    /// Bytes (negative when the device is over-allocated).
    pub bytes: i64,
}

#[derive(Default)]
struct OverallBuilder {
    values: BTreeMap<&'static str, (usize, String)>,
    other: BTreeMap<String, String>,
}

/// The keys of the `Overall:` section this parser reads, and whether each is required.
const OVERALL_KEYS: [(&str, bool); 14] = [
    ("Device size", true),
    ("Device allocated", true),
    ("Device unallocated", true),
    ("Device missing", true),
    ("Device slack", false),
    ("Device zone unusable", false),
    ("Device zone size", false),
    ("Used", true),
    ("Free (estimated)", true),
    ("Free (statfs, df)", false),
    ("Data ratio", true),
    ("Metadata ratio", true),
    ("Global reserve", true),
    ("Multiple profiles", false),
];

/// Parses `btrfs filesystem usage`, linear (default) or tabular (`-T`).
pub fn parse(text: &str, origin: &str) -> Result<FsUsage, AdvisorError> {
    #[derive(PartialEq)]
    enum Sec {
        Start,
        Overall,
        Group,
        Unallocated,
    }
    let mut sec = Sec::Start;
    let mut ob = OverallBuilder::default();
    let mut overall_line = 0;
    let mut groups: Vec<BlockGroup> = Vec::new();
    let mut unallocated = Vec::new();
    let mut warnings = Vec::new();
    let mut exact = true;

    let lines: Vec<(usize, &str)> = numbered(text).collect();
    // The tabular format: a line of block-group types, then `Id Path <profiles>
    // Unallocated Total Slack`.
    let header_at = lines.iter().position(|(_, l)| {
        let t = tokens(l);
        t.first().is_some_and(|x| x.s == "Id") && t.get(1).is_some_and(|x| x.s == "Path")
    });
    let table_at = header_at.map(|h| {
        lines[..h]
            .iter()
            .rposition(|(_, l)| !l.trim().is_empty())
            .filter(|&k| !lines[k].1.contains(':'))
            .unwrap_or(h)
    });
    let (linear, table) = lines.split_at(table_at.unwrap_or(lines.len()));

    for &(no, line) in linear {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("WARNING:") || t.starts_with("ERROR:") {
            warnings.push(t.to_string());
            continue;
        }
        if t == "Overall:" {
            if sec != Sec::Start {
                return Err(err(
                    origin,
                    no,
                    1,
                    "`Overall:` appears twice: expected one `btrfs filesystem usage` output".into(),
                ));
            }
            sec = Sec::Overall;
            overall_line = no;
            continue;
        }
        if t == "Unallocated:" {
            sec = Sec::Unallocated;
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        if !indented {
            // A block-group header: `Data,single: Size:488.00MiB, Used:400.00MiB (81.97%)`.
            if sec == Sec::Start {
                return Err(err(
                    origin,
                    no,
                    1,
                    format!(
                        "expected `Overall:` (the start of `btrfs filesystem usage`), found `{}`",
                        shown(t)
                    ),
                ));
            }
            let g = read_group_header(origin, no, line, &mut exact)?;
            groups.push(g);
            sec = Sec::Group;
            continue;
        }
        match sec {
            Sec::Start => {
                return Err(err(
                    origin,
                    no,
                    1,
                    format!(
                        "expected `Overall:` (the start of `btrfs filesystem usage`), found `{}`",
                        shown(t)
                    ),
                ));
            }
            Sec::Overall => {
                let Some((key, value)) = t.split_once(':') else {
                    return Err(err(
                        origin,
                        no,
                        0,
                        format!(
                            "expected `Key: value` in the Overall section, found `{}`",
                            shown(t)
                        ),
                    ));
                };
                let key = key.trim();
                let value = value.trim().to_string();
                match OVERALL_KEYS.iter().find(|(k, _)| *k == key) {
                    Some((k, _)) => {
                        ob.values.insert(k, (no, value));
                    }
                    None => {
                        ob.other.insert(key.to_string(), value);
                    }
                }
            }
            Sec::Group => {
                let (device, size) = device_line(origin, no, line)?;
                let bytes = btrfs_size(size).ok_or_else(|| bad_size(origin, no, line, size))?;
                exact &= is_raw(size);
                if let Some(g) = groups.last_mut() {
                    g.per_device.push(DeviceBytes { device, bytes });
                }
            }
            Sec::Unallocated => {
                let (device, size) = device_line(origin, no, line)?;
                let bytes =
                    btrfs_signed_size(size).ok_or_else(|| bad_size(origin, no, line, size))?;
                exact &= is_raw(size);
                unallocated.push(DeviceUnallocated { device, bytes });
            }
        }
    }
    if sec == Sec::Start {
        return Err(err(
            origin,
            0,
            0,
            "no `Overall:` section: expected `btrfs filesystem usage` output".into(),
        ));
    }
    let mut device_sizes = Vec::new();
    if !table.is_empty() {
        if !groups.is_empty() {
            return Err(err(origin, table[0].0, 0, "both block-group lines and a `-T` table: expected one `btrfs filesystem usage` output".into()));
        }
        let t = read_table(origin, table, &mut exact)?;
        groups = t.groups;
        unallocated = t.unallocated;
        device_sizes = t.sizes;
    }
    let overall = build_overall(origin, overall_line, ob, &mut exact, &mut warnings)?;
    Ok(FsUsage {
        overall,
        block_groups: groups,
        unallocated,
        device_sizes,
        tabular: !table.is_empty(),
        exact,
        warnings,
    })
}

struct Table {
    groups: Vec<BlockGroup>,
    unallocated: Vec<DeviceUnallocated>,
    sizes: Vec<DeviceBytes>,
}

/// The `-T` table: `lines[0]` holds the block-group types, `lines[1]` the header.
fn read_table(
    origin: &str,
    lines: &[(usize, &str)],
    exact: &mut bool,
) -> Result<Table, AdvisorError> {
    let (kno, kinds_line) = lines[0];
    let kinds: Vec<&str> = kinds_line.split_whitespace().collect();
    let Some(&(hno, header)) = lines.get(1) else {
        return Err(err(
            origin,
            kno,
            0,
            "expected the `Id Path ...` header of the `-T` table".into(),
        ));
    };
    let htoks: Vec<&str> = header.split_whitespace().collect();
    let n = kinds.len();
    if htoks.len() != n + 5 || htoks.get(n + 2..) != Some(&["Unallocated", "Total", "Slack"][..]) {
        return Err(err(
            origin,
            hno,
            0,
            format!(
                "expected `Id Path` and one profile per block-group type ({n}: {}) then `Unallocated Total Slack`, found `{}`",
                kinds.join(" "),
                shown(header.trim())
            ),
        ));
    }
    let mut groups: Vec<BlockGroup> = kinds
        .iter()
        .zip(&htoks[2..n + 2])
        .map(|(k, p)| BlockGroup {
            kind: BlockGroupKind::from_name(k),
            profile: Profile::from_name(p),
            size: 0,
            used: 0,
            used_percent: None,
            per_device: Vec::new(),
        })
        .collect();
    let mut unallocated = Vec::new();
    let mut sizes = Vec::new();
    let (mut saw_total, mut saw_used) = (false, false);
    let size_at = |no: usize, line: &str, s: &str, exact: &mut bool| -> Result<u64, AdvisorError> {
        *exact &= is_raw(s);
        btrfs_size(s).ok_or_else(|| bad_size(origin, no, line, s))
    };
    for &(no, line) in &lines[2..] {
        let toks = tokens(line);
        if toks.is_empty() || toks.iter().all(|t| t.s.chars().all(|c| c == '-')) {
            continue;
        }
        let first = toks[0].s;
        if first == "Total" || first == "Used" {
            let want = if first == "Total" { n + 3 } else { n };
            let vals = &toks[1..];
            if vals.len() != want {
                return Err(err(
                    origin,
                    no,
                    0,
                    format!(
                        "expected {want} values in the `{first}` row, found {}",
                        vals.len()
                    ),
                ));
            }
            for (g, v) in groups.iter_mut().zip(vals) {
                let b = size_at(no, line, v.s, exact)?;
                if first == "Total" {
                    g.size = b;
                } else {
                    g.used = b;
                }
            }
            if first == "Total" {
                saw_total = true;
            } else {
                saw_used = true;
            }
            continue;
        }
        // A device row: Id, Path (may contain spaces), one value per type, Unallocated,
        // Total, Slack.
        if integer(first).is_none() || toks.len() < n + 5 {
            return Err(err(
                origin,
                no,
                0,
                format!(
                    "expected a device row `ID PATH {} UNALLOCATED TOTAL SLACK`, found `{}`",
                    "SIZE ".repeat(n).trim_end(),
                    shown(line.trim())
                ),
            ));
        }
        let vals = &toks[toks.len() - (n + 3)..];
        let device = line
            .get(toks[1].at..vals[0].at)
            .unwrap_or("")
            .trim()
            .to_string();
        for (g, v) in groups.iter_mut().zip(vals) {
            if v.s != "-" {
                let bytes = size_at(no, line, v.s, exact)?;
                g.per_device.push(DeviceBytes {
                    device: device.clone(),
                    bytes,
                });
            }
        }
        let un = vals[n].s;
        *exact &= is_raw(un);
        let bytes = btrfs_signed_size(un).ok_or_else(|| bad_size(origin, no, line, un))?;
        unallocated.push(DeviceUnallocated {
            device: device.clone(),
            bytes,
        });
        let size = size_at(no, line, vals[n + 1].s, exact)?;
        sizes.push(DeviceBytes {
            device,
            bytes: size,
        });
    }
    if !saw_total || !saw_used {
        let last = lines.last().map_or(0, |l| l.0);
        return Err(err(
            origin,
            last,
            0,
            "the `-T` table ends early: expected `Total` and `Used` rows".into(),
        ));
    }
    Ok(Table {
        groups,
        unallocated,
        sizes,
    })
}

fn is_raw(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

fn bad_size(origin: &str, no: usize, line: &str, s: &str) -> AdvisorError {
    let at = line.find(s).unwrap_or(0);
    err(
        origin,
        no,
        super::text::column(line, at),
        format!(
            "expected a size like `1.50GiB` or `16384`, found `{}`",
            shown(s)
        ),
    )
}

/// `   /dev/loop0\t 488.00MiB` or `   <missing disk>\t   1.24GiB`: (device, size text).
fn device_line<'a>(
    origin: &str,
    no: usize,
    line: &'a str,
) -> Result<(String, &'a str), AdvisorError> {
    let toks = tokens(line);
    match toks.as_slice() {
        [first, .., last] => {
            let device = line.get(first.at..last.at).unwrap_or("").trim().to_string();
            Ok((device, last.s))
        }
        _ => Err(err(
            origin,
            no,
            0,
            format!(
                "expected `DEVICE SIZE` (a per-device line), found `{}`",
                shown(line.trim())
            ),
        )),
    }
}

fn read_group_header(
    origin: &str,
    no: usize,
    line: &str,
    exact: &mut bool,
) -> Result<BlockGroup, AdvisorError> {
    let expected =
        "expected a block-group line like `Data,single: Size:1.00GiB, Used:512.00MiB (50.00%)`";
    let fail = |col: usize| {
        err(
            origin,
            no,
            col,
            format!("{expected}, found `{}`", shown(line.trim())),
        )
    };
    let Some((head, rest)) = line.split_once(": ") else {
        return Err(fail(0));
    };
    let Some((kind, profile)) = head.trim().split_once(',') else {
        return Err(fail(1));
    };
    let kind = BlockGroupKind::from_name(kind.trim());
    let profile = Profile::from_name(profile.trim());
    let rest = rest.trim();
    let Some(rest) = rest.strip_prefix("Size:") else {
        return Err(fail(head.len() + 3));
    };
    let Some((size, rest)) = rest.split_once(',') else {
        return Err(fail(0));
    };
    let rest = rest.trim();
    let Some(rest) = rest.strip_prefix("Used:") else {
        return Err(fail(0));
    };
    let (used, pct) = match rest.split_once(' ') {
        Some((u, p)) => (u, Some(p.trim())),
        None => (rest, None),
    };
    let size_b = btrfs_size(size.trim()).ok_or_else(|| bad_size(origin, no, line, size.trim()))?;
    let used_b = btrfs_size(used.trim()).ok_or_else(|| bad_size(origin, no, line, used.trim()))?;
    *exact &= is_raw(size.trim()) && is_raw(used.trim());
    let used_percent = match pct {
        None => None,
        Some(p) => {
            let inner = p.strip_prefix('(').and_then(|p| p.strip_suffix(')'));
            Some(inner.and_then(percent).ok_or_else(|| {
                err(
                    origin,
                    no,
                    0,
                    format!(
                        "expected a percentage like `(50.00%)` after `Used:`, found `{}`",
                        shown(p)
                    ),
                )
            })?)
        }
    };
    Ok(BlockGroup {
        kind,
        profile,
        size: size_b,
        used: used_b,
        used_percent,
        per_device: Vec::new(),
    })
}

fn build_overall(
    origin: &str,
    at: usize,
    ob: OverallBuilder,
    exact: &mut bool,
    warnings: &mut Vec<String>,
) -> Result<Overall, AdvisorError> {
    for (k, required) in OVERALL_KEYS {
        if required && !ob.values.contains_key(k) {
            return Err(err(
                origin,
                at,
                0,
                format!(
                    "the Overall section has no `{k}:` line (expected every line btrfs-progs prints)"
                ),
            ));
        }
    }
    let get = |k: &str| ob.values.get(k).map(|(no, v)| (*no, v.as_str()));
    // The first whitespace-separated word of a value: the size; the rest is `(min: ...)` etc.
    let size_of = |k: &str, exact: &mut bool| -> Result<Option<u64>, AdvisorError> {
        let Some((no, v)) = get(k) else {
            return Ok(None);
        };
        let s = v.split_whitespace().next().unwrap_or("");
        *exact &= is_raw(s);
        btrfs_size(s).map(Some).ok_or_else(|| {
            err(
                origin,
                no,
                0,
                format!(
                    "`{k}`: expected a size like `1.50GiB` or `16384`, found `{}`",
                    shown(v)
                ),
            )
        })
    };
    let need = |v: Option<u64>| v.unwrap_or_default();
    let paren = |k: &str, label: &str, exact: &mut bool| -> Result<Option<u64>, AdvisorError> {
        let Some((no, v)) = get(k) else {
            return Ok(None);
        };
        let Some(i) = v.find(&format!("({label}:")) else {
            return Ok(None);
        };
        let inner = v.get(i + label.len() + 2..).unwrap_or("");
        let s = inner.trim().trim_end_matches(')').trim();
        *exact &= is_raw(s);
        btrfs_size(s).map(Some).ok_or_else(|| {
            err(
                origin,
                no,
                0,
                format!("`{k}`: expected `({label}: SIZE)`, found `{}`", shown(v)),
            )
        })
    };
    let ratio = |k: &str| -> Result<f64, AdvisorError> {
        let (no, v) = get(k).unwrap_or((at, ""));
        number(v).ok_or_else(|| {
            err(
                origin,
                no,
                0,
                format!("`{k}`: expected a number like `2.00`, found `{}`", shown(v)),
            )
        })
    };
    let unalloc = {
        let (no, v) = get("Device unallocated").unwrap_or((at, ""));
        let s = v.split_whitespace().next().unwrap_or("");
        *exact &= is_raw(s);
        btrfs_signed_size(s).ok_or_else(|| {
            err(
                origin,
                no,
                0,
                format!(
                    "`Device unallocated`: expected a size like `1.50GiB` or `-16384`, found `{}`",
                    shown(v)
                ),
            )
        })?
    };
    // Non-root runs print a wrapped negative slack (`16.00EiB`).
    let device_slack = match get("Device slack") {
        None => None,
        Some((no, v)) => {
            let s = v.split_whitespace().next().unwrap_or("");
            *exact &= is_raw(s);
            let b = btrfs_signed_size(s).ok_or_else(|| {
                err(
                    origin,
                    no,
                    0,
                    format!(
                        "`Device slack`: expected a size like `0.00B` or `16384`, found `{}`",
                        shown(v)
                    ),
                )
            })?;
            if b < 0 || btrfs_wrapped(s) {
                warnings.push(format!("`Device slack: {v}` is a wrapped negative number (btrfs-progs could not read the device sizes; run as root): ignored"));
                None
            } else {
                u64::try_from(b).ok()
            }
        }
    };
    let (multiple_profiles, multiple_profiles_in) = match get("Multiple profiles") {
        None => (None, Vec::new()),
        Some((no, v)) => {
            let mut words = v.splitn(2, char::is_whitespace);
            let yn = match words.next() {
                Some("yes") => true,
                Some("no") => false,
                _ => {
                    return Err(err(
                        origin,
                        no,
                        0,
                        format!(
                            "`Multiple profiles`: expected `yes` or `no`, found `{}`",
                            shown(v)
                        ),
                    ));
                }
            };
            let kinds = words
                .next()
                .map(|r| r.trim().trim_start_matches('(').trim_end_matches(')'))
                .map(|r| {
                    r.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            (Some(yn), kinds)
        }
    };
    Ok(Overall {
        device_size: need(size_of("Device size", exact)?),
        device_allocated: need(size_of("Device allocated", exact)?),
        device_unallocated: unalloc,
        device_missing: need(size_of("Device missing", exact)?),
        device_slack,
        device_zone_unusable: size_of("Device zone unusable", exact)?,
        device_zone_size: size_of("Device zone size", exact)?,
        used: need(size_of("Used", exact)?),
        free_estimated: need(size_of("Free (estimated)", exact)?),
        free_estimated_min: paren("Free (estimated)", "min", exact)?,
        free_statfs: size_of("Free (statfs, df)", exact)?,
        data_ratio: ratio("Data ratio")?,
        metadata_ratio: ratio("Metadata ratio")?,
        global_reserve: need(size_of("Global reserve", exact)?),
        global_reserve_used: paren("Global reserve", "used", exact)?,
        multiple_profiles,
        multiple_profiles_in,
        other: ob.other,
    })
}
