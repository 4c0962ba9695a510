//! How each kind of data is treated: its own subvolume or not, NOCOW, compression property,
//! snapshots. The rules follow btrfs-tuning-facts.md; every result carries its reasons.

use super::Context;
use crate::layout::{CompressionProperty, Consistency, Purpose, Snapshots};
use crate::profiles::{Access, Level, Tool};
use crate::reason::{Aspect, Reasons, Ref, Why};
use crate::toolstack::{HostPurpose, Priority};

/// What a piece of data gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Treatment {
    /// It gets a subvolume of its own (otherwise it follows the subvolume it is in).
    pub own: bool,
    /// NOCOW attribute.
    pub nocow: bool,
    /// Compression property.
    pub compression: Option<CompressionProperty>,
    /// Snapshots.
    pub snapshots: Snapshots,
    /// Reasons.
    pub why: Reasons,
}

impl Treatment {
    /// Data with equal keys can share a subvolume.
    pub fn key(&self, purpose: Purpose) -> (u8, bool, Option<CompressionProperty>, Snapshots) {
        (group(purpose), self.nocow, self.compression, self.snapshots)
    }
}

/// Purposes that may share a subvolume when nested.
fn group(p: Purpose) -> u8 {
    match p {
        Purpose::Cache | Purpose::PackageCache | Purpose::BuildOutput => 1,
        Purpose::Database => 2,
        Purpose::VmImages => 3,
        Purpose::ContainerStorage => 4,
        Purpose::ContainerVolumes => 5,
        Purpose::Projects => 6,
        Purpose::Games | Purpose::AiModels => 7,
        Purpose::Logs => 8,
        Purpose::NixStore => 9,
        Purpose::ServiceState => 10,
        Purpose::Swap => 11,
        Purpose::Snapshots => 12,
        Purpose::System => 13,
        Purpose::UserData | Purpose::AppState | Purpose::Media | Purpose::Mail => 14,
        Purpose::Other => 15,
    }
}

fn timeline(h: u32, d: u32, w: u32, m: u32, consistency: Consistency) -> Snapshots {
    Snapshots::Timeline {
        hourly: h,
        daily: d,
        weekly: w,
        monthly: m,
        consistency,
    }
}

fn tools_ref(tools: &[&Tool]) -> Vec<Ref> {
    tools.iter().map(|t| Ref::tool(&t.name)).collect()
}

fn names(tools: &[&Tool]) -> String {
    tools
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The treatment for data of `purpose` written by `tools`, before explicit wishes.
pub(crate) fn treat(ctx: &Context, purpose: Purpose, tools: &[&Tool]) -> Treatment {
    let mut why = Reasons::new();
    let p = ctx.priority;
    let dev = ctx.purpose == HostPurpose::Development;
    let consistency = tools
        .iter()
        .map(|t| t.consistency)
        .max()
        .unwrap_or(Consistency::Any);
    let mut own = true;
    let mut nocow = false;
    let compression = None;
    let mut snapshots = Snapshots::Off;
    match purpose {
        Purpose::System => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "The operating system's own state; everything with another I/O pattern or \
                     snapshot need gets its own subvolume so that a rollback of / never rolls \
                     back data, and snapshots of / stay small (snapshots are not recursive).",
                    [Ref::fact("5")],
                ),
            );
            snapshots = if dev {
                timeline(0, 7, 2, 0, Consistency::Any)
            } else {
                timeline(0, 7, 4, 3, Consistency::Any)
            };
        }
        Purpose::UserData | Purpose::AppState | Purpose::Media | Purpose::Mail => {
            own = purpose == Purpose::UserData;
            let text = match purpose {
                Purpose::UserData => {
                    "Users' files: copy-on-write with checksums, snapshotted on a timeline; \
                     caches and re-creatable data inside homes get their own subvolumes so \
                     snapshots do not keep them."
                }
                Purpose::AppState => {
                    "SQLite-backed application state (profiles, settings): small random writes, \
                     but small files and worth protecting, so it stays copy-on-write with \
                     checksums, in the snapshotted home."
                }
                Purpose::Media => {
                    "Media are already compressed: the compression heuristic skips incompressible \
                     blocks on its own, so they need no subvolume of their own and stay with \
                     the snapshotted home."
                }
                _ => {
                    "Mail stores are small files worth protecting: kept with the snapshotted home."
                }
            };
            let mut refs = vec![Ref::fact("4"), Ref::fact("5")];
            if purpose == Purpose::Media {
                refs = vec![Ref::fact("4")];
            }
            refs.extend(tools_ref(tools));
            why.insert(Aspect::Placement, Why::new(text, refs));
            snapshots = if dev {
                timeline(24, 7, 4, 0, Consistency::Any)
            } else {
                timeline(0, 7, 4, 6, Consistency::Any)
            };
        }
        Purpose::Projects => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Source trees get their own subvolume for independent, frequent snapshots \
                     (the design's separation of project directories), apart from caches and \
                     build outputs.",
                    [Ref::fact("5"), Ref::input("toolstack projects")],
                ),
            );
            snapshots = if dev {
                timeline(48, 14, 4, 0, Consistency::Any)
            } else {
                timeline(12, 7, 4, 0, Consistency::Any)
            };
        }
        Purpose::Database => {
            // Container volumes declared as database storage hold engines we do not see:
            // assume in-place page writes.
            let overwrite = tools.iter().any(|t| {
                (t.access == Access::RandomOverwrite && t.cow_sensitivity >= Level::High)
                    || t.category == crate::profiles::Category::Container
            });
            let who = names(tools);
            why.insert(
                Aspect::Placement,
                Why::new(
                    format!(
                        "{who} data in its own subvolume: its own NOCOW and snapshot choices, \
                         no rollback together with /, and the data directory with its WAL in one \
                         subvolume so that one snapshot is crash-consistent."
                    ),
                    [Ref::fact("2"), Ref::fact("5")]
                        .into_iter()
                        .chain(tools_ref(tools)),
                ),
            );
            // The measured decision matrix (profiles/strategies/databases.toml) decides for
            // the engines it covers; container volumes keep the rule below.
            let strategy = crate::strategy::db::bundled().and_then(|(m, r)| {
                tools
                    .iter()
                    .find_map(|t| m.choose(&t.name, p, ctx.class))
                    .map(|c| (c, r))
            });
            nocow = match &strategy {
                // Data the matrix puts on a partition stays here only when the user keeps it
                // on btrfs: then it gets the balanced cell's btrfs treatment, unsnapshotted.
                Some((c, _)) if c.cell.placement == crate::strategy::db::Placement::Partition => c
                    .family
                    .cells
                    .iter()
                    .find(|x| x.priority == Priority::Balanced)
                    .is_some_and(|x| x.nocow),
                Some((c, _)) => c.cell.nocow,
                None => overwrite && p != Priority::Durability,
            };
            let mut refs = vec![Ref::fact("1.4"), Ref::fact("2"), Ref::method("6")];
            let mut nocow_text = if let Some((c, _)) = &strategy {
                format!(
                    "{who}, priority {p} ({} strategy): {}",
                    c.family.name, c.cell.why
                )
            } else if !overwrite {
                format!(
                    "{who} does not overwrite pages in place, so copy-on-write costs little: \
                     kept, with checksums."
                )
            } else if nocow {
                format!(
                    "{who} overwrites pages in place: copy-on-write fragments the files and adds \
                     metadata work to every commit. NOCOW via `chattr +C` on the empty subvolume \
                     before the first file is written; it costs data checksums and compression, \
                     and full_page_writes / the InnoDB doublewrite buffer must stay on."
                )
            } else {
                format!(
                    "Priority durability: {who} keeps copy-on-write with checksums (scrub can \
                     detect corruption) at the price of fragmentation and slower commits \
                     (about 40 % of ext4's pgbench read-write TPS in published runs)."
                )
            };
            if let Some((c, r)) = &strategy
                && let Some((text, at)) = c.measured_text(r)
            {
                nocow_text.push_str(&format!(
                    " {}{text}.",
                    if nocow_text.ends_with('.') { "" } else { ". " }
                ));
                refs.push(Ref::Measured { what: at });
            }
            if let Some((c, _)) = &strategy
                && let Some(note) = &c.slow_note
            {
                nocow_text.push_str(&format!(" {note}"));
            }
            why.insert(Aspect::Nocow, Why::new(nocow_text, refs));
            snapshots = match strategy.as_ref().map(|(c, _)| c.cell.snapshots) {
                Some(crate::strategy::db::SnapshotPolicy::None) => Snapshots::Off,
                Some(crate::strategy::db::SnapshotPolicy::Daily) => {
                    timeline(0, 3, 0, 0, consistency)
                }
                Some(crate::strategy::db::SnapshotPolicy::Hourly) => {
                    timeline(24, 7, 0, 0, consistency)
                }
                Some(crate::strategy::db::SnapshotPolicy::Inherit) | None => match (p, nocow) {
                    (Priority::Performance, _) => Snapshots::Off,
                    (_, true) => timeline(0, 3, 0, 0, consistency),
                    (_, false) => timeline(0, 7, 4, 0, consistency),
                },
            };
        }
        Purpose::ServiceState => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    format!(
                        "{} state in its own subvolume so a rollback of / does not roll it back, \
                         with its own snapshot schedule.",
                        names(tools)
                    ),
                    [Ref::fact("5")].into_iter().chain(tools_ref(tools)),
                ),
            );
            snapshots = timeline(0, 7, 4, 0, consistency);
        }
        Purpose::VmImages => {
            let who = names(tools);
            why.insert(
                Aspect::Placement,
                Why::new(
                    format!(
                        "{who} disk images: huge files overwritten in place, kept apart so their \
                         NOCOW attribute and snapshot policy do not touch other data."
                    ),
                    [Ref::fact("1.4")].into_iter().chain(tools_ref(tools)),
                ),
            );
            nocow = p != Priority::Durability;
            why.insert(
                Aspect::Nocow,
                Why::new(
                    if nocow {
                        "NOCOW, as the btrfs docs recommend for VM images: in-place writes, true \
                         O_DIRECT (since 6.14 O_DIRECT on checksummed files falls back to \
                         buffered); the cost is no data checksums (the guest's filesystem keeps \
                         its own)."
                    } else {
                        "Priority durability: images stay copy-on-write with checksums; expect \
                         fragmentation and buffered O_DIRECT (since 6.14)."
                    },
                    [Ref::fact("1.4")],
                ),
            );
        }
        Purpose::ContainerStorage => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Container images and layers are re-pullable: their own subvolume, never \
                     snapshotted (layer subvolumes would appear as empty stubs in snapshots \
                     anyway).",
                    [Ref::fact("3"), Ref::fact("5")]
                        .into_iter()
                        .chain(tools_ref(tools)),
                ),
            );
            why.insert(
                Aspect::Nocow,
                Why::new(
                    "Not NOCOW: layers are written once, overlay copy-up uses reflinks (which \
                     need equal NOCOW status on both sides), and write-heavy container data \
                     belongs in volumes.",
                    [Ref::fact("3"), Ref::fact("1.4")],
                ),
            );
        }
        Purpose::ContainerVolumes => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Container volumes hold the application data: their own subvolume, \
                     snapshotted, apart from the re-pullable layers.",
                    [Ref::fact("3")].into_iter().chain(tools_ref(tools)),
                ),
            );
            snapshots = timeline(0, 7, 4, 0, Consistency::NeedsQuiesce);
        }
        Purpose::Cache | Purpose::PackageCache | Purpose::BuildOutput => {
            let text = match purpose {
                Purpose::Cache => {
                    "Caches are non-essential by definition (XDG): their own subvolume keeps \
                     them out of every snapshot."
                }
                Purpose::PackageCache => {
                    "Downloaded packages and registries can be fetched again: out of snapshots."
                }
                _ => "Build trees are regenerated by a build: out of snapshots.",
            };
            why.insert(
                Aspect::Placement,
                Why::new(
                    text,
                    [Ref::fact("4"), Ref::fact("5")]
                        .into_iter()
                        .chain(tools_ref(tools)),
                ),
            );
        }
        Purpose::NixStore => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "The Nix store is write-once and rebuildable: its own subvolume, never \
                     snapshotted (a snapshot would pin every garbage-collected path). Since \
                     Nix 2.30 builds run in /nix/var/nix/builds, so build I/O lands here too. \
                     Keep nix's `preallocate-contents` false (the default): preallocated files \
                     are never compressed.",
                    [Ref::fact("4"), Ref::fact("5")]
                        .into_iter()
                        .chain(tools_ref(tools)),
                ),
            );
        }
        Purpose::Logs => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Logs are kept out of root snapshots so that a rollback keeps the logs that \
                     explain it; journald already sets NOCOW on its own files.",
                    [Ref::fact("1.4"), Ref::fact("5")],
                ),
            );
        }
        Purpose::Games | Purpose::AiModels => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Large, re-downloadable files: their own subvolume keeps them out of \
                     snapshots.",
                    [Ref::fact("5")].into_iter().chain(tools_ref(tools)),
                ),
            );
        }
        Purpose::Swap => {
            why.insert(
                Aspect::Placement,
                Why::new(
                    "Swap files need a subvolume of their own: a subvolume with an active swap \
                     file cannot be snapshotted. `btrfs filesystem mkswapfile` (what disko runs) \
                     makes the file NOCOW and preallocated.",
                    [Ref::fact("1.4")],
                ),
            );
        }
        Purpose::Snapshots | Purpose::Other => {}
    }
    let snapshots = if ctx.snapshots_enabled {
        snapshots
    } else {
        Snapshots::Off
    };
    why.insert(
        Aspect::Snapshots,
        snapshot_why(ctx, purpose, tools, nocow, &snapshots),
    );
    Treatment {
        own,
        nocow,
        compression,
        snapshots,
        why,
    }
}

/// Why a subvolume is snapshotted the way it is.
pub(crate) fn snapshot_why(
    ctx: &Context,
    purpose: Purpose,
    tools: &[&Tool],
    nocow: bool,
    snapshots: &Snapshots,
) -> Why {
    if !ctx.snapshots_enabled {
        return Why::new(
            "No snapshots: the toolstack turns snapshots off.",
            [Ref::input("toolstack snapshots = false")],
        );
    }
    match snapshots {
        Snapshots::Off => {
            let text = match purpose {
                Purpose::Database => format!(
                    "Priority performance: no btrfs snapshots of {} data{}; back up with the \
                     engine's own tools (pg_basebackup, mariabackup, an RDB or AOF copy).",
                    names(tools),
                    if nocow {
                        " (every snapshot makes the next write to each NOCOW block \
                         copy-on-write again)"
                    } else {
                        " (a snapshot pins old extents while the database rewrites them)"
                    }
                ),
                Purpose::VmImages => "Not snapshotted: after a snapshot the first write to every \
                     NOCOW block is copy-on-write again, fragmenting the images; use the \
                     hypervisor's own snapshots and backups."
                    .to_string(),
                Purpose::Swap => {
                    "A subvolume with an active swap file cannot be snapshotted.".to_string()
                }
                Purpose::Snapshots => "Holds snapshots; never snapshotted itself.".to_string(),
                Purpose::Logs => "Not snapshotted: logs stay as they are across a rollback of \
                     /, and they rotate on their own."
                    .to_string(),
                _ => "Not snapshotted: the data can be re-created or re-downloaded, and \
                      snapshots would keep its old extents alive."
                    .to_string(),
            };
            Why::new(text, [Ref::fact("5"), Ref::fact("1.4")])
        }
        Snapshots::Timeline { consistency, .. } => {
            let mut text = format!(
                "Timeline snapshots with snapper, keeping {}",
                snapshots.retention().unwrap_or_default()
            );
            text.push_str(match consistency {
                Consistency::Any => ".",
                Consistency::CrashConsistent => {
                    "; one subvolume holds all of the data (WAL included), so a snapshot \
                     restores like a crash and the engine replays its log."
                }
                Consistency::NeedsQuiesce => {
                    "; the program must be stopped or flushed for a clean copy: take an \
                     application-consistent backup too."
                }
            });
            if nocow {
                text.push_str(
                    " Kept few and short-lived: each snapshot makes the first later write to \
                     every NOCOW block copy-on-write again.",
                );
            }
            if ctx.purpose == HostPurpose::Development
                && matches!(purpose, Purpose::Projects | Purpose::UserData)
            {
                text.push_str(" Development host: frequent snapshots of work in progress.");
            }
            let mut refs = vec![Ref::fact("5")];
            if nocow {
                refs.push(Ref::fact("1.4"));
            }
            Why::new(text, refs)
        }
    }
}
