//! Mount-option rules: what the kernel ignores, and options that cost.

use super::{Finding, Severity, conf};
use crate::diagnose::evidence::{Evidence, whole};
use crate::diagnose::host::{Host, Work};
use crate::layout::options::{Algorithm, Discard, SpaceCache, SsdMode};
use crate::layout::{Atime, FsOptions};

pub fn check(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    ignored(h, &mut out);
    if let Some((o, at)) = &h.fs_options {
        let live = h.mounts_file.is_some();
        let written = h.declared_fs_options.as_ref();
        option_rules(h, o, at, written, live, &mut out);
    }
    relatime(h, &mut out);
    out
}

/// The line in the disko.nix (from the declaring line on) that writes `opt`.
fn option_line(h: &Host, from: Option<&Evidence>, opt: &str) -> Option<Evidence> {
    let e = from?;
    h.texts
        .find_from(&e.file, e.line.unwrap_or(1), |l| l.contains(opt))
}

fn ignored(h: &Host, out: &mut Vec<Finding>) {
    let first = h.first_mount.clone().unwrap_or_else(|| "/".into());
    let first_opts = h
        .declared_fs_options
        .as_ref()
        .map(|(o, _)| o.to_mount_options())
        .unwrap_or_default();
    for p in &h.places {
        if p.ignored.is_empty() {
            continue;
        }
        let mut ev: Vec<Evidence> = p
            .ignored
            .iter()
            .filter_map(|o| {
                option_line(h, p.declared_at.as_ref(), o.split('=').next().unwrap_or(o))
            })
            .take(1)
            .collect();
        if let Some((_, at)) = &h.declared_fs_options {
            ev.push(at.clone());
        }
        if let Some(l) = &p.live_at {
            ev.push(l.clone());
        }
        let wins = if first_opts.is_empty() {
            format!("{first} mounts first with no filesystem-wide options")
        } else {
            format!("{first} mounts first with {}", first_opts.join(","))
        };
        out.push(
            Finding::new(
                "M01",
                Severity::High,
                if p.live_at.is_some() { 0.95 } else { 0.85 },
                format!(
                    "{} on {} is ignored: {wins}, and its options win",
                    p.ignored.join(","),
                    p.mountpoint
                ),
            )
            .detail(format!(
                "compress, nodatacow, autodefrag, discard and most btrfs options are per \
                 filesystem: only the first mount's count, later subvolume mounts reuse it \
                 (E1, E7). {}Per subvolume, compression is `btrfs property set <subvolume> \
                 compression zstd` and NOCOW is `chattr +C` on the empty subvolume root.",
                if p.live_at.is_some() {
                    "findmnt confirms the mount runs without them. "
                } else {
                    ""
                }
            ))
            .at(&p.mountpoint)
            .ev(ev),
        );
    }
}

fn option_rules(
    h: &Host,
    o: &FsOptions,
    at: &Evidence,
    written: Option<&(FsOptions, Evidence)>,
    live: bool,
    out: &mut Vec<Finding>,
) {
    let w = |needle: &str| -> Evidence {
        written
            .and_then(|(_, e)| option_line(h, Some(e), needle))
            .unwrap_or_else(|| at.clone())
    };
    if let Some(c) = o.compress
        && c.algorithm == Algorithm::Zlib
    {
        // Bare `compress` in the configuration, or zlib seen live with nothing written.
        let bare = written.and_then(|(_, e)| {
            h.texts.find_from(&e.file, e.line.unwrap_or(1), |l| {
                l.contains("\"compress\"")
                    || l.contains("compress,")
                    || l.contains("\"compress-force\"")
            })
        });
        if bare.is_some() || written.is_none() {
            out.push(
                Finding::new(
                    "M02",
                    Severity::Low,
                    if bare.is_some() { 0.9 } else { 0.5 },
                    format!(
                        "compression is zlib{}",
                        if bare.is_some() {
                            " (bare `compress`)"
                        } else {
                            ""
                        }
                    ),
                )
                .detail(
                    "Bare `compress` selects zlib, not zstd: zlib compresses slower for a \
                     similar ratio. Write `compress=zstd:1` (or :3) explicitly.",
                )
                .ev(bare.into_iter().chain([at.clone()])),
            );
        }
    }
    if o.compress_force {
        out.push(
            Finding::new(
                "M03",
                Severity::Medium,
                conf(live),
                "compress-force is on".to_string(),
            )
            .detail(
                "compress-force tries every block, even incompressible media and packed \
                 archives (\"not recommended, the heuristics are supposed to decide\"), and \
                 splits data into 128 KiB extents. Plain `compress=zstd:1` keeps the saving \
                 on compressible data.",
            )
            .ev([w("compress-force"), at.clone()]),
        );
    }
    if o.discard == Some(Discard::Sync) {
        out.push(
            Finding::new(
                "M04",
                Severity::Medium,
                conf(live),
                "synchronous `discard` is on".into(),
            )
            .detail(
                "Synchronous TRIM on every free is a \"severe performance hit\"; since 6.2 \
                     the kernel uses discard=async by default where the device supports it. \
                     Drop `discard` (or write `discard=async`).",
            )
            .ev([w("discard"), at.clone()]),
        );
    }
    let heavy_files =
        h.work.contains_key(&Work::Database) || h.work.contains_key(&Work::VirtualMachines);
    if o.autodefrag && heavy_files {
        out.push(
            Finding::new(
                "M05",
                Severity::Medium,
                conf(live),
                "autodefrag is on with database or VM image files".into(),
            )
            .detail(
                "autodefrag queues a rewrite of files after small random writes: it \"may not \
                 be well suited for large database workloads\" and unshares snapshotted \
                 extents. Put such files on NOCOW instead and drop autodefrag.",
            )
            .ev([w("autodefrag"), at.clone()]),
        );
    }
    if o.space_cache == Some(SpaceCache::V1) {
        out.push(
            Finding::new(
                "M07",
                Severity::Medium,
                conf(live),
                "space_cache v1 is in use".into(),
            )
            .detail(
                "v1 is deprecated (warns since 6.11); v2, the free-space tree, is the \
                     default and scales better. Mount once with `clear_cache,space_cache=v2` \
                     to convert.",
            )
            .ev([w("space_cache"), at.clone()]),
        );
    }
    // Only options the user wrote: the kernel adds `ssd` itself on non-rotational devices.
    if let Some((wo, we)) = written
        && let Some(s) = wo.ssd
    {
        let name = match s {
            SsdMode::Ssd => "ssd",
            SsdMode::SsdSpread => "ssd_spread",
            SsdMode::NoSsd => "nossd",
        };
        out.push(
            Finding::new(
                "M08",
                Severity::Low,
                0.8,
                format!("`{name}` is written by hand"),
            )
            .detail(
                "`ssd` is set automatically from the rotational flag and its allocation \
                     tweaks were removed in 4.14; only `ssd_spread` still changes allocation \
                     (it may help low-end SSDs). Drop the option unless measured.",
            )
            .ev([option_line(h, Some(we), name).unwrap_or_else(|| we.clone())]),
        );
    }
    if o.nodatacow {
        out.push(
            Finding::new(
                "M09",
                Severity::High,
                conf(live),
                "nodatacow is on for the whole filesystem".into(),
            )
            .detail(
                "Every new file gets NOCOW: no data checksums (scrub cannot verify or repair), \
                 no compression, torn writes possible on a crash. Set NOCOW only where it pays \
                 (database and VM image directories, `chattr +C`).",
            )
            .ev([w("nodatacow"), at.clone()]),
        );
    }
}

fn relatime(h: &Host, out: &mut Vec<Finding>) {
    for p in &h.places {
        let relatime = matches!(p.atime, None | Some(Atime::Relatime | Atime::Strictatime));
        if !(p.snapshotted && relatime) {
            continue;
        }
        let ev = p
            .live_at
            .clone()
            .or_else(|| p.declared_at.clone())
            .unwrap_or_else(|| whole("layout", &p.mountpoint));
        out.push(
            Finding::new(
                "M06",
                Severity::Medium,
                conf(p.live_at.is_some() && p.snapshot_at.is_some()),
                format!("{} is snapshotted and mounted with relatime", p.mountpoint),
            )
            .detail(
                "With relatime the first read of each file older than a day after a snapshot \
                 updates its atime, which un-shares the inode's metadata from the snapshot: \
                 reading a tree after each snapshot turns into a metadata write storm. Mount \
                 snapshotted subvolumes `noatime` (per mount, live by remount).",
            )
            .at(&p.mountpoint)
            .ev([ev])
            .ev(p.snapshot_at.clone()),
        );
    }
}
