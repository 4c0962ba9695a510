//! Layout rules: where data lives, its attributes and its snapshots.

use super::{Finding, Severity, conf};
use crate::diagnose::evidence::Evidence;
use crate::diagnose::host::{Host, Place, Work, holds};
use crate::layout::Purpose;
use crate::metrics::observe::Symptom;

pub fn check(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    cow_data(h, &mut out);
    containers(h, &mut out);
    caches(h, &mut out);
    snapshots(h, &mut out);
    swap(h, &mut out);
    out
}

/// The place holding `path`: the mount with the longest matching prefix.
pub(crate) fn place_for<'a>(h: &'a Host, path: &str) -> Option<&'a Place> {
    h.places
        .iter()
        .filter(|p| holds(&p.mountpoint, path))
        .max_by_key(|p| p.mountpoint.len())
}

pub(crate) const DB_PATHS: [&str; 3] = ["/var/lib/postgresql", "/var/lib/mysql", "/var/lib/pgsql"];
pub(crate) const CONTAINER_PATHS: [&str; 2] = ["/var/lib/containers", "/var/lib/docker"];
pub(crate) const VM_PATHS: [&str; 1] = ["/var/lib/libvirt/images"];

fn place_evidence(p: &Place) -> Vec<Evidence> {
    [
        p.lsattr_at.clone(),
        p.declared_at.clone(),
        p.live_at.clone(),
    ]
    .into_iter()
    .flatten()
    .take(2)
    .collect()
}

fn cow_data(h: &Host, out: &mut Vec<Finding>) {
    for (work, purpose, paths, id, what) in [
        (
            Work::Database,
            Purpose::Database,
            &DB_PATHS[..],
            "L01",
            "database files",
        ),
        (
            Work::VirtualMachines,
            Purpose::VmImages,
            &VM_PATHS[..],
            "L02",
            "VM images",
        ),
    ] {
        let own = h.places.iter().find(|p| p.purpose == purpose);
        if own.is_none() && !h.work.contains_key(&work) {
            continue;
        }
        let Some(p) = own.or_else(|| paths.iter().find_map(|x| place_for(h, x))) else {
            continue;
        };
        if p.nocow != Some(false) {
            continue;
        }
        let live = p.lsattr_at.is_some();
        let place = if own.is_some() {
            format!(
                "subvolume {} at {}",
                p.subvolume.as_deref().unwrap_or("(top level)"),
                p.mountpoint
            )
        } else {
            format!("{} (no subvolume of their own)", p.mountpoint)
        };
        let mut f = Finding::new(
            id,
            Severity::High,
            conf(live) * if own.is_some() { 1.0 } else { 0.9 },
            format!("{what} are on CoW: {place}"),
        )
        .detail(format!(
            "{} the data is copy-on-write: every in-place page write becomes a new extent plus \
             metadata, so the files fragment and fsync writes more (btrfs ran PostgreSQL at \
             21–48 % of ext4's read-write TPS in Vondra's runs, §2). NOCOW (`chattr +C` on the \
             empty directory, then copy the files in) writes in place; it gives up checksums \
             and compression for this data only.",
            if live {
                "lsattr shows no C on the mounted root:"
            } else {
                "The configuration sets no NOCOW attribute:"
            }
        ))
        .at(&p.mountpoint)
        .ev(place_evidence(p));
        if let Some(w) = h.work.get(&work) {
            f = f.ev(w.iter().take(1).cloned());
        }
        out.push(f);
    }
    for p in &h.places {
        if p.nocow == Some(true) && p.snapshotted {
            out.push(
                Finding::new(
                    "L08",
                    Severity::Medium,
                    conf(p.snapshot_at.is_some()),
                    if p.snapshot_at.is_some() {
                        format!("NOCOW data at {} is snapshotted", p.mountpoint)
                    } else {
                        format!(
                            "NOCOW data at {} is set up to be snapshotted (a snapshot subvolume \
                             is declared for it)",
                            p.mountpoint
                        )
                    },
                )
                .detail(
                    "After each snapshot the first write to every NOCOW block is copied once \
                     (E6), so frequent snapshots fragment the files NOCOW was meant to keep \
                     in place. Back the data up with its engine's tools instead, or snapshot \
                     rarely.",
                )
                .at(&p.mountpoint)
                .ev(place_evidence(p))
                .ev(p.snapshot_at.clone()),
            );
        }
    }
}

fn containers(h: &Host, out: &mut Vec<Finding>) {
    let own = h
        .places
        .iter()
        .any(|p| p.purpose == Purpose::ContainerStorage);
    if own || !h.work.contains_key(&Work::Containers) {
        return;
    }
    let Some(p) = CONTAINER_PATHS.iter().find_map(|x| place_for(h, x)) else {
        return;
    };
    if !p.snapshotted {
        return;
    }
    out.push(
        Finding::new(
            "L03",
            Severity::Medium,
            conf(p.snapshot_at.is_some()),
            format!(
                "container storage sits in {} ({}), which is snapshotted",
                p.mountpoint,
                p.subvolume.as_deref().unwrap_or("top level")
            ),
        )
        .detail(
            "Image layers are re-creatable and churn: inside a snapshotted subvolume every \
             pull and prune is pinned by the snapshots (space, and work when snapshots are \
             deleted). Give /var/lib/containers a subvolume of its own, excluded from \
             snapshots (a nested subvolume is a snapshot barrier, §2 of the layout rules).",
        )
        .at(&p.mountpoint)
        .ev(p.snapshot_at.clone())
        .ev(h.work[&Work::Containers].iter().take(1).cloned()),
    );
}

fn caches(h: &Host, out: &mut Vec<Finding>) {
    for p in &h.places {
        if p.snapshotted
            && matches!(
                p.purpose,
                Purpose::Cache | Purpose::BuildOutput | Purpose::PackageCache | Purpose::NixStore
            )
        {
            out.push(
                Finding::new(
                    "L04",
                    Severity::Medium,
                    conf(p.snapshot_at.is_some()),
                    format!("{} ({}) is snapshotted", p.mountpoint, p.purpose),
                )
                .detail("Re-creatable data in snapshots only pins space and slows deletion.")
                .at(&p.mountpoint)
                .ev(p.snapshot_at.clone()),
            );
        }
    }
    // /nix inside a snapshotted root.
    let nix_own = h.places.iter().any(|p| p.mountpoint == "/nix");
    if let Some(root) = h.places.iter().find(|p| p.mountpoint == "/")
        && root.snapshotted
        && !nix_own
    {
        out.push(
            Finding::new(
                "L04",
                Severity::Medium,
                conf(root.snapshot_at.is_some()),
                "the Nix store is inside the snapshotted root subvolume".to_string(),
            )
            .detail(
                "Snapshots of / pin every store path they saw, so nix-collect-garbage frees \
                 nothing a snapshot still references (§4); builds (Nix ≥ 2.30 builds in \
                 /nix/var/nix/builds) churn inside it.",
            )
            .at("/")
            .ev(root.snapshot_at.clone()),
        );
    }
    // ~/.cache and build trees inside a snapshotted /home, where builds or a browser (whose
    // cache lives there) are seen.
    if let Some(home) = h.places.iter().find(|p| p.mountpoint == "/home")
        && home.snapshotted
        && (h.work.contains_key(&Work::Development)
            || h.observations.iter().any(|o| {
                o.matches.iter().any(|m| {
                    matches!(
                        m.symptom,
                        Symptom::BrowserStutter | Symptom::IdeFreezes | Symptom::SlowBuilds
                    )
                })
            }))
    {
        let cache_sub = h.places.iter().any(|p| p.mountpoint.ends_with("/.cache"))
            || h.filesystems.iter().any(|f| {
                f.subvolumes
                    .as_ref()
                    .is_some_and(|(l, _)| l.iter().any(|x| x.trim_end().ends_with("/.cache")))
            })
            || h.declared.as_ref().is_some_and(|(l, _)| {
                l.btrfs_filesystems()
                    .iter()
                    .any(|(_, fs)| fs.home_subvolumes.iter().any(|s| s.path == ".cache"))
            });
        if !cache_sub {
            out.push(
                Finding::new(
                    "L04",
                    Severity::Low,
                    conf(home.snapshot_at.is_some()) * 0.9,
                    "~/.cache and build trees in /home are inside its snapshots".to_string(),
                )
                .detail(
                    "$XDG_CACHE_HOME is non-essential by specification (§4): a per-user \
                     subvolume keeps it (and browser caches, cargo targets) out of \
                     /home's snapshots.",
                )
                .at("/home")
                .ev(home.snapshot_at.clone()),
            );
        }
    }
}

fn snapshots(h: &Host, out: &mut Vec<Finding>) {
    let total: usize = h.places.iter().map(|p| p.snapshots).sum();
    let qgroups = h
        .filesystems
        .iter()
        .find_map(|f| f.qgroups.as_ref().filter(|(on, _)| *on));
    if total > 100 {
        let top = h
            .places
            .iter()
            .max_by_key(|p| p.snapshots)
            .expect("some place has snapshots");
        out.push(
            Finding::new(
                "L05",
                if qgroups.is_some() {
                    Severity::High
                } else {
                    Severity::Medium
                },
                conf(true),
                format!(
                    "{total} snapshots ({} of {})",
                    top.snapshots, top.mountpoint
                ),
            )
            .detail(
                "Deleting a snapshot costs metadata work proportional to what it shares; \
                 balance and qgroup accounting slow down with the count. snapper's defaults \
                 keep about 50 numbered and 40 timeline snapshots per config.",
            )
            .ev(top.snapshot_at.clone()),
        );
    }
    if let Some((_, ev)) = qgroups {
        out.push(
            Finding::new(
                "L06",
                if total > 50 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                conf(true),
                format!("quotas (qgroups) are enabled, with {total} snapshots"),
            )
            .detail(
                "qgroups \"affect all extent processing\" and are \"not recommended unless the \
                 user intends to actually use them\"; snapshot deletion with full qgroups is a \
                 known CPU/IO bottleneck. Disable them (`btrfs quota disable`) unless snapper's \
                 space limits or a container driver need them; simple quotas (6.7+) are cheap.",
            )
            .ev([ev.clone()]),
        );
    }
}

fn swap(h: &Host, out: &mut Vec<Finding>) {
    for p in &h.places {
        if (p.has_swapfile || p.purpose == Purpose::Swap) && p.snapshotted {
            out.push(
                Finding::new(
                    "L07",
                    Severity::Medium,
                    conf(p.snapshot_at.is_some()),
                    format!(
                        "a swap file lives in the snapshotted subvolume at {}",
                        p.mountpoint
                    ),
                )
                .detail(
                    "btrfs cannot snapshot a subvolume with an active swap file, so either the \
                     snapshots fail or swap had to be off; a swap file needs its own NOCOW \
                     subvolume that is never snapshotted (disko's `swap` does this).",
                )
                .at(&p.mountpoint)
                .ev(p.declared_at.clone())
                .ev(p.snapshot_at.clone()),
            );
        }
    }
}
