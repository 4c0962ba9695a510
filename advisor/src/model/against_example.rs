//! What a plan's choices are worth, per subvolume purpose, against disko's own example
//! layout (`example/btrfs-subvolumes.nix`), projected by the models. On that example `/` is
//! mounted first with no options, so nothing is compressed (its `compress=zstd` on `/home`
//! and `/nix` is ignored, `btrfs-tuning-facts.md` §1.1), everything is CoW, atime is the
//! default `relatime` except on `/nix` (`noatime`), and the kernel's `discard=async` applies
//! on devices that take TRIM.

use super::features::{Features, features_on, trims_by_default};
use super::project::{Change, ProjectError};
use super::set::ModelSet;
use crate::hardware::DeviceClass;
use crate::layout::{Layout, Purpose};
use serde::Serialize;

/// The calibrated workloads that stand for what a purpose's data sees.
pub fn workloads_for(purpose: Purpose) -> &'static [&'static str] {
    match purpose {
        Purpose::Database => &["wal-postgresql", "fio-randwrite-4k-fsync"],
        Purpose::VmImages | Purpose::AppState | Purpose::ServiceState | Purpose::Mail => {
            &["fio-randwrite-4k-fsync"]
        }
        Purpose::Projects | Purpose::BuildOutput => &["devtree-cargo"],
        Purpose::ContainerStorage | Purpose::ContainerVolumes => &["containers-overlay"],
        Purpose::System
        | Purpose::NixStore
        | Purpose::PackageCache
        | Purpose::Cache
        | Purpose::Games
        | Purpose::AiModels => &["fio-randread-4k-qd32"],
        Purpose::UserData | Purpose::Media | Purpose::Logs => &["fio-seqwrite-128k"],
        Purpose::Swap | Purpose::Snapshots | Purpose::Other => &[],
    }
}

/// The features the data at `mountpoint` has on disko's example layout.
pub fn disko_example_features(mountpoint: &str, class: DeviceClass) -> Features {
    let mut f = Features::default();
    if mountpoint != "/nix" {
        f.set("atime=relatime");
    }
    if trims_by_default(class) {
        f.set("discard=async");
    }
    f
}

/// One purpose's projected effect.
#[derive(Clone, Debug, Serialize)]
pub struct PurposeEffect {
    /// The purpose.
    pub purpose: Purpose,
    /// Its subvolume's mount point in the plan.
    pub mountpoint: String,
    /// The workload projected.
    pub workload: String,
    /// The projection, or why there is none.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A projection or the honest reason for its absence.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Projected.
    Projected(Change),
    /// Not from a model but measured directly: data the plan puts off btrfs (a database's
    /// own partition), with the committed runs of the database matrix on this class.
    Measured {
        /// The metric (`tps`).
        metric: String,
        /// Median per-round ratio.
        ratio: f64,
        /// Smallest per-round ratio.
        low: f64,
        /// Largest per-round ratio.
        high: f64,
        /// Rounds.
        n: usize,
        /// What was compared.
        what: String,
    },
    /// Not projected, and why.
    NotProjected(String),
}

/// The projected effect of the plan's treatment of each purpose (its first mounted
/// subvolume) against disko's example, on a device of `class`.
pub fn effects(layout: &Layout, class: DeviceClass, models: &ModelSet) -> Vec<PurposeEffect> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (_, fs) in layout.btrfs_filesystems() {
        for sv in &fs.subvolumes {
            let Some(m) = &sv.mount else { continue };
            let purpose = sv.data.purpose;
            if seen.contains(&purpose) || workloads_for(purpose).is_empty() {
                continue;
            }
            seen.push(purpose);
            let Some(after) = features_on(layout, &m.mountpoint, class) else {
                continue;
            };
            let before = disko_example_features(&m.mountpoint, class);
            for w in workloads_for(purpose) {
                let outcome = match models.project_change(class, w, &before, &after) {
                    Ok(c) => Outcome::Projected(c),
                    Err(
                        e @ (ProjectError::NoModel { .. } | ProjectError::NotCalibrated { .. }),
                    ) => Outcome::NotProjected(e.to_string()),
                };
                out.push(PurposeEffect {
                    purpose,
                    mountpoint: m.mountpoint.clone(),
                    workload: (*w).to_string(),
                    outcome,
                });
            }
        }
    }
    out.extend(partition_effects(layout, class));
    out
}

/// Databases the plan moved to a partition of their own: their measured ratio against
/// disko's example from the database matrix's committed runs on this class.
fn partition_effects(layout: &Layout, class: DeviceClass) -> Vec<PurposeEffect> {
    use crate::layout::{Content, DiskContent};
    let Some((matrix, results)) = crate::strategy::db::bundled() else {
        return vec![];
    };
    let mut out = Vec::new();
    for d in &layout.disks {
        let (DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. }) = &d.content
        else {
            continue;
        };
        for p in partitions {
            let Some(Content::Filesystem(f)) = &p.content else {
                continue;
            };
            let (Some(mp), Some(family)) = (&f.mountpoint, matrix.family_of(&p.name)) else {
                continue;
            };
            let Some(r) = family
                .cells
                .iter()
                .filter(|c| c.placement == crate::strategy::db::Placement::Partition)
                .flat_map(|c| &c.measured)
                .find(|r| r.baseline == "disko-example")
            else {
                continue;
            };
            let outcome = match r.effect_on(results, class.as_str()) {
                Some(e) => Outcome::Measured {
                    metric: e.unit.clone(),
                    ratio: e.ratio,
                    low: e.ratio_min,
                    high: e.ratio_max,
                    n: e.n,
                    what: format!("measured: {} ({} partition)", r.label(), f.format),
                },
                None => Outcome::NotProjected(format!(
                    "the database matrix has no runs on {class} ({} partition; `btrtune explain \
                     db` shows the classes measured)",
                    f.format
                )),
            };
            out.push(PurposeEffect {
                purpose: Purpose::Database,
                mountpoint: mp.clone(),
                workload: r.workload.clone(),
                outcome,
            });
        }
    }
    out
}

/// The projections as a Markdown section for `plan.md`.
pub fn markdown(effects: &[PurposeEffect], class: DeviceClass) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "\n## Projected effect against disko's example layout\n\n\
         Device class `{class}`. The baseline is disko's `example/btrfs-subvolumes.nix`: CoW \
         everywhere, nothing compressed (its per-subvolume `compress=zstd` is ignored because \
         `/` is mounted first without it, btrfs-tuning-facts.md §1.1), `relatime`, and the \
         kernel's `discard=async` where the device takes TRIM. Ratios are after/before of the \
         workload's metric (higher is better) with the 95 % interval of one run of each, from \
         the fitted models (benchmark-method.md §5); `prior` marks a class nobody calibrated, \
         projected from documented device figures.\n\n\
         | purpose | mount | workload | metric | after/before | 95 % interval | changes | model |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for e in effects {
        match &e.outcome {
            Outcome::Projected(c) => {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | ×{:.2}{} | {:.2}–{:.2} | {} | {} |",
                    e.purpose.as_str(),
                    e.mountpoint,
                    e.workload,
                    c.metric,
                    c.ratio.value,
                    if c.capped { " (device cap)" } else { "" },
                    c.ratio.low,
                    c.ratio.high,
                    if c.changes.is_empty() {
                        "none".to_string()
                    } else {
                        c.changes
                            .iter()
                            .map(|x| format!("`{x}`"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    },
                    c.status.label()
                );
            }
            Outcome::Measured {
                metric,
                ratio,
                low,
                high,
                n,
                what,
            } => {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {metric} | ×{ratio:.2} | {low:.2}–{high:.2} (range of {n} \
                     rounds) | {} | measured |",
                    e.purpose.as_str(),
                    e.mountpoint,
                    e.workload,
                    what.replace('|', "/")
                );
            }
            Outcome::NotProjected(why) => {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | | not projected | | {} | |",
                    e.purpose.as_str(),
                    e.mountpoint,
                    e.workload,
                    why.replace('|', "/")
                );
            }
        }
    }
    s
}
