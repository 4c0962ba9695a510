//! Space rules: metadata exhaustion, unallocated space, balance, profiles, fullness.

use super::{Finding, Severity, conf};
use crate::diagnose::evidence::whole;
use crate::diagnose::host::{Host, kernel_name};
use crate::metrics::btrfs_usage::FsUsage;
use crate::metrics::{BlockGroupKind, Profile};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

pub fn check(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    for fs in &h.filesystems {
        if let Some((u, file)) = &fs.usage {
            usage_rules(h, u, file, &fs.name, &mut out);
        }
    }
    df_full(h, &mut out);
    out
}

fn gib(b: u64) -> String {
    if b >= GIB {
        format!("{:.2} GiB", b as f64 / GIB as f64)
    } else {
        format!("{} MiB", b / MIB)
    }
}

/// Copies of each block a profile keeps (parity profiles count as surviving one loss).
fn copies(p: &Profile) -> u32 {
    match p {
        Profile::Single | Profile::Raid0 => 1,
        Profile::Dup | Profile::Raid1 | Profile::Raid10 | Profile::Raid5 => 2,
        Profile::Raid1c3 | Profile::Raid6 => 3,
        Profile::Raid1c4 => 4,
        Profile::Other(_) => 1,
    }
}

fn usage_rules(h: &Host, u: &FsUsage, file: &str, name: &str, out: &mut Vec<Finding>) {
    let o = &u.overall;
    // What a new chunk can use: on one device its unallocated space; on several, a
    // mirrored chunk needs room on two devices, so twice the second largest.
    let mut per_dev: Vec<u64> = u
        .unallocated
        .iter()
        .map(|d| d.bytes.max(0) as u64)
        .collect();
    per_dev.sort_unstable_by(|a, b| b.cmp(a));
    let unalloc = match per_dev.as_slice() {
        [] => o.device_unallocated.max(0) as u64,
        [one] => *one,
        [_, second, ..] => second * 2,
    };
    let unalloc_ev = h
        .texts
        .find_or(file, "Device unallocated", "Device unallocated");
    let device_size = o.device_size.max(1);
    // A metadata chunk is 256 MiB below 50 GiB, else 1 GiB; data chunks 1 GiB (§7).
    let meta_chunk = if device_size < 50 * GIB {
        256 * MIB
    } else {
        GIB
    };
    let low_unalloc = unalloc < GIB.min(device_size / 20).max(meta_chunk);
    let meta = u
        .block_groups
        .iter()
        .find(|b| matches!(b.kind, BlockGroupKind::Metadata | BlockGroupKind::Mixed));
    let data = u
        .block_groups
        .iter()
        .find(|b| b.kind == BlockGroupKind::Data);
    if let Some(m) = meta {
        let fill = (m.used + o.global_reserve) as f64 / m.size.max(1) as f64;
        if fill >= 0.9 && unalloc < meta_chunk {
            let mev = h.texts.find_or(
                file,
                &format!("{},", m.kind),
                &format!("{} used {}", m.kind, gib(m.used)),
            );
            out.push(
                Finding::new(
                    "S01",
                    if fill >= 0.97 {
                        Severity::Critical
                    } else {
                        Severity::High
                    },
                    conf(true),
                    format!(
                        "{name}: metadata {:.0} % full (with the global reserve) and only {} \
                         unallocated",
                        fill * 100.0,
                        gib(unalloc)
                    ),
                )
                .detail(format!(
                    "Metadata block groups hold {} of {} plus a {} global reserve, and no new \
                     metadata chunk ({}) fits in the unallocated space: writes fail with ENOSPC \
                     while data still has room. Free data chunks with a filtered balance to \
                     give metadata room.",
                    gib(m.used),
                    gib(m.size),
                    gib(o.global_reserve),
                    gib(meta_chunk)
                ))
                .ev([mev, unalloc_ev.clone()]),
            );
        }
    }
    if o.global_reserve_used.unwrap_or(0) > 0 {
        out.push(
            Finding::new(
                "S02",
                Severity::High,
                conf(true),
                format!(
                    "{name}: global reserve in use ({} of {})",
                    gib(o.global_reserve_used.unwrap_or(0)),
                    gib(o.global_reserve)
                ),
            )
            .detail("The emergency reserve is used only when metadata ran out: ENOSPC is near.")
            .ev([h.texts.find_or(file, "Global reserve", "Global reserve")]),
        );
    }
    if low_unalloc {
        out.push(
            Finding::new(
                "S03",
                Severity::High,
                conf(true),
                format!(
                    "{name}: only {} unallocated of {}",
                    gib(unalloc),
                    gib(o.device_size)
                ),
            )
            .detail(
                "btrfs allocates space in chunks; with nothing unallocated no new metadata or \
                 data chunk can be made, and balance itself needs one chunk of workspace per \
                 device.",
            )
            .ev([unalloc_ev.clone()]),
        );
    }
    if let Some(d) = data {
        let free = d.size.saturating_sub(d.used);
        let ratio = d.used as f64 / d.size.max(1) as f64;
        if low_unalloc && ratio < 0.8 && free >= GIB.min(d.size / 5) {
            out.push(
                Finding::new(
                    "S04",
                    Severity::Medium,
                    conf(true),
                    format!(
                        "{name}: data chunks {:.0} % used ({} free inside them) while \
                         unallocated space is short",
                        ratio * 100.0,
                        gib(free)
                    ),
                )
                .detail(
                    "Half-empty data chunks can be compacted with `btrfs balance start \
                     -dusage=N`, starting low (0, then 10, 25): it returns whole chunks to \
                     unallocated space, which metadata can then use.",
                )
                .ev([h.texts.find_or(file, "Data,", "Data"), unalloc_ev.clone()]),
            );
        }
    }
    let mut kinds: Vec<(&BlockGroupKind, Vec<&Profile>)> = Vec::new();
    for b in &u.block_groups {
        match kinds.iter_mut().find(|(k, _)| *k == &b.kind) {
            Some((_, ps)) => {
                if !ps.contains(&&b.profile) {
                    ps.push(&b.profile)
                }
            }
            None => kinds.push((&b.kind, vec![&b.profile])),
        }
    }
    let mixed_kinds: Vec<_> = kinds.iter().filter(|(_, ps)| ps.len() > 1).collect();
    if o.multiple_profiles == Some(true) || !mixed_kinds.is_empty() {
        let what = mixed_kinds
            .iter()
            .map(|(k, ps)| {
                format!(
                    "{k}: {}",
                    ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(" + ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut ev = vec![
            h.texts
                .find_or(file, "Multiple profiles", "Multiple profiles: yes"),
        ];
        for (k, ps) in &mixed_kinds {
            for p in ps {
                if let Some(e) = h.texts.find_from(file, 1, |l| {
                    l.to_ascii_lowercase().starts_with(&format!(
                        "{},{}:",
                        k.to_string().to_ascii_lowercase(),
                        p.name()
                    ))
                }) {
                    ev.push(e);
                }
            }
        }
        out.push(
            Finding::new(
                "S05",
                Severity::High,
                conf(true),
                format!("{name}: several profiles at once ({what})"),
            )
            .detail(
                "A profile conversion was interrupted or limited: new chunks may go to either \
                 profile, so redundancy is not what was asked. Finish it with `btrfs balance \
                 start -dconvert=PROFILE,soft` (and `-mconvert` for metadata).",
            )
            .ev(ev),
        );
    }
    if let (Some(m), Some(d)) = (meta, data)
        && m.kind == BlockGroupKind::Metadata
    {
        let single_device = u.unallocated.len() <= 1;
        let weaker = copies(&m.profile) < copies(&d.profile);
        let single_meta = single_device && m.profile == Profile::Single;
        if weaker || single_meta {
            out.push(
                Finding::new(
                    "S06",
                    if weaker {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    conf(true),
                    format!(
                        "{name}: metadata {} while data is {}",
                        m.profile.name(),
                        d.profile.name()
                    ),
                )
                .detail(if weaker {
                    "Metadata keeps fewer copies than data: losing a metadata block loses the \
                     files it describes, so metadata should be at least as redundant as data."
                } else {
                    "On one device mkfs has made metadata DUP (two copies) since btrfs-progs \
                     5.15, SSDs included: a single metadata copy cannot be repaired from a \
                     checksum error."
                })
                .ev([
                    h.texts.find_or(
                        file,
                        &format!("Metadata,{}", m.profile.to_string().to_uppercase()),
                        "Metadata",
                    ),
                    h.texts.find_or(file, "Data,", "Data"),
                ]),
            );
        }
    }
}

fn df_full(h: &Host, out: &mut Vec<Finding>) {
    let Some((df, file)) = &h.df else { return };
    let btrfs_mps: Vec<&str> = h.places.iter().map(|p| p.mountpoint.as_str()).collect();
    let mut seen = std::collections::BTreeSet::new();
    for e in &df.filesystems {
        // Without a type column: the known btrfs mounts, or (knowing none) every device.
        let is_btrfs = e.fstype.as_deref() == Some("btrfs")
            || (e.fstype.is_none()
                && (btrfs_mps.contains(&e.mountpoint.as_str())
                    || (btrfs_mps.is_empty() && e.source.starts_with("/dev/"))));
        let Some(pct) = e.use_percent else { continue };
        if !is_btrfs || pct < 90.0 || !seen.insert(kernel_name(&e.source)) {
            continue;
        }
        let ev = h
            .texts
            .find_from(file, 1, |l| l.ends_with(&format!(" {}", e.mountpoint)))
            .unwrap_or_else(|| whole(file, format!("{} {pct}%", e.mountpoint)));
        out.push(
            Finding::new(
                "S07",
                if pct >= 97.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                conf(true),
                format!("{} is {pct:.0} % full", e.mountpoint),
            )
            .detail(
                "A nearly full btrfs fragments free space and runs out of room for new chunks; \
                 snapshots keep deleted files' space until they are removed.",
            )
            .at(&e.mountpoint)
            .ev([ev]),
        );
    }
}
