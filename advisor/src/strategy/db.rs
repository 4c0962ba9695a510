//! The database decision matrix (`profiles/strategies/databases.toml`): per family of
//! engines and priority, where the data lives, CoW or NOCOW, compression, snapshots, the
//! engine settings to pair and the measurements behind each cell; plus the snapshot and
//! backup plan and the migration steps generated from a choice.

use super::measured::{Effect, Results, effect};
use crate::error::{AdvisorError, toml_error};
use crate::hardware::DeviceClass;
use crate::toolstack::Priority;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The bundled matrix, as text.
pub const BUNDLED: &str = include_str!("../../../profiles/strategies/databases.toml");

/// Every priority, in the order tables list them.
pub const PRIORITIES: [Priority; 3] = [
    Priority::Performance,
    Priority::Balanced,
    Priority::Durability,
];

/// Where a database's data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// A btrfs subvolume of its own.
    Subvolume,
    /// A dedicated partition with another filesystem (`filesystem`).
    Partition,
}

/// Compression of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellCompression {
    /// None (NOCOW files are never compressed anyway).
    None,
    /// Whatever the filesystem uses.
    Inherit,
}

/// Snapshot policy of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotPolicy {
    /// No btrfs snapshots: the engine's own backup tool.
    None,
    /// Those of the subvolume the data lives in (embedded databases).
    Inherit,
    /// Daily, few, short-lived.
    Daily,
    /// Hourly and daily.
    Hourly,
}

impl SnapshotPolicy {
    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotPolicy::None => "none (engine backups)",
            SnapshotPolicy::Inherit => "with its directory",
            SnapshotPolicy::Daily => "daily, 3 kept",
            SnapshotPolicy::Hourly => "hourly 24, daily 7",
        }
    }
}

/// A measurement backing a cell: `layout` under `workload` (with `settings`) against
/// `baseline` (with `baseline_settings`) in the result set `results`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredRef {
    /// What it shows, in words.
    pub what: String,
    /// The result set (`results/databases/<results>.jsonl`).
    pub results: String,
    /// The candidate layout's name in that set.
    pub layout: String,
    /// The workload's name.
    pub workload: String,
    /// Engine settings of the candidate's runs (pgbench), beyond stock.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The baseline layout's name.
    pub baseline: String,
    /// Engine settings of the baseline's runs.
    #[serde(default)]
    pub baseline_settings: BTreeMap<String, String>,
}

impl MeasuredRef {
    /// The effect on devices of `class`; `None` when either side has no runs there.
    pub fn effect_on(&self, results: &Results, class: &str) -> Option<Effect> {
        let c = results.runs(
            &self.results,
            class,
            &self.layout,
            &self.workload,
            &self.settings,
        );
        let b = results.runs(
            &self.results,
            class,
            &self.baseline,
            &self.workload,
            &self.baseline_settings,
        );
        effect(&c, &b)
    }

    /// The effect on every device class the result set has, in class order.
    pub fn effects(&self, results: &Results) -> Vec<(String, Effect)> {
        results
            .classes(&self.results)
            .into_iter()
            .filter_map(|c| Some((c.clone(), self.effect_on(results, &c)?)))
            .collect()
    }

    /// The effect on the first class with runs (`ram` sorts before `virtio`): see
    /// [`MeasuredRef::effects`] for all.
    pub fn effect(&self, results: &Results) -> Option<Effect> {
        self.effects(results).into_iter().next().map(|(_, e)| e)
    }

    /// `balanced [wal_compression=lz4] vs disko-example`.
    pub fn label(&self) -> String {
        let s = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                String::new()
            } else {
                format!(
                    " [{}]",
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        format!(
            "{}{} vs {}{}, {}",
            self.layout,
            s(&self.settings),
            self.baseline,
            s(&self.baseline_settings),
            self.workload
        )
    }
}

/// What changes on slow media (HDD, SD, eMMC, USB).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowOverride {
    /// Another snapshot policy.
    #[serde(default)]
    pub snapshots: Option<SnapshotPolicy>,
    /// autodefrag for this data's filesystem.
    #[serde(default)]
    pub autodefrag: Option<bool>,
    /// Why.
    pub note: String,
}

/// One cell: a family under one priority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// The priority.
    pub priority: Priority,
    /// Subvolume or partition.
    pub placement: Placement,
    /// The partition's filesystem (`ext4`, `xfs`).
    #[serde(default)]
    pub filesystem: Option<String>,
    /// NOCOW (`chattr +C` on the empty subvolume).
    pub nocow: bool,
    /// Compression.
    pub compression: CellCompression,
    /// Snapshots.
    pub snapshots: SnapshotPolicy,
    /// Engine settings to pair (`full_page_writes = "on"`).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Why, in words.
    pub why: String,
    /// Sections of btrfs-tuning-facts.md (`FACTS §2`).
    pub sources: Vec<String>,
    /// Measurements behind it.
    #[serde(default)]
    pub measured: Vec<MeasuredRef>,
    /// Changes on slow media.
    #[serde(default)]
    pub slow: Option<SlowOverride>,
}

/// A family of engines with the same I/O model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Its name (`postgresql`, `innodb`).
    pub name: String,
    /// The tools (profiles/tools.toml names) it covers.
    pub engines: Vec<String>,
    /// The I/O model, in words.
    pub io: String,
    /// NixOS attribute path of the engine's settings, when NixOS has one.
    #[serde(default)]
    pub settings_path: Option<String>,
    /// Where the data usually is.
    pub data: String,
    /// WAL/redo placement.
    pub wal: String,
    /// How to snapshot consistently.
    pub consistency: String,
    /// The engine's backup tools.
    pub backup: String,
    /// How to verify a copy.
    pub verify: String,
    /// The systemd service to stop for migrations (empty: none).
    pub service: String,
    /// Sources.
    pub sources: Vec<String>,
    /// One cell per priority.
    #[serde(rename = "cell")]
    pub cells: Vec<Cell>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    family: Vec<toml::Spanned<Family>>,
}

/// The parsed matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DbMatrix {
    /// Families, in file order.
    pub families: Vec<Family>,
}

/// A choice for one engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// The family.
    pub family: Family,
    /// The cell, with the slow-media override applied.
    pub cell: Cell,
    /// The media override applied, if any.
    pub slow_note: Option<String>,
}

impl DbMatrix {
    /// The bundled matrix.
    pub fn bundled() -> Result<DbMatrix, AdvisorError> {
        Self::parse(BUNDLED, "<bundled profiles/strategies/databases.toml>")
    }

    /// Parses matrix text; every family must have exactly one cell per priority.
    pub fn parse(text: &str, origin: &str) -> Result<DbMatrix, AdvisorError> {
        let raw: Raw = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let mut families = Vec::new();
        let mut seen = BTreeMap::new();
        for f in raw.family {
            let span = f.span();
            let f = f.into_inner();
            let bad = |m: String| crate::error::input_at(origin, text, span.clone(), m);
            for p in PRIORITIES {
                let n = f.cells.iter().filter(|c| c.priority == p).count();
                if n != 1 {
                    return Err(bad(format!(
                        "family `{}` has {n} cells for priority {p}; expected exactly one",
                        f.name
                    )));
                }
            }
            for c in &f.cells {
                if (c.placement == Placement::Partition) != c.filesystem.is_some() {
                    return Err(bad(format!(
                        "family `{}`, priority {}: `filesystem` goes with placement \
                         \"partition\" and only with it",
                        f.name, c.priority
                    )));
                }
                if c.sources.is_empty() || c.measured.is_empty() {
                    return Err(bad(format!(
                        "family `{}`, priority {}: every cell needs `sources` and at least \
                         one [[family.cell.measured]]",
                        f.name, c.priority
                    )));
                }
            }
            for e in &f.engines {
                if let Some(other) = seen.insert(e.clone(), f.name.clone()) {
                    return Err(bad(format!(
                        "engine `{e}` is in families `{other}` and `{}`",
                        f.name
                    )));
                }
            }
            families.push(f);
        }
        Ok(DbMatrix { families })
    }

    /// The family covering `engine` (a tools.toml name).
    pub fn family_of(&self, engine: &str) -> Option<&Family> {
        self.families
            .iter()
            .find(|f| f.engines.iter().any(|e| e == engine))
    }

    /// The cell for `engine` under `priority` on a device of `class`.
    pub fn choose(&self, engine: &str, priority: Priority, class: DeviceClass) -> Option<Choice> {
        let family = self.family_of(engine)?;
        let mut cell = family
            .cells
            .iter()
            .find(|c| c.priority == priority)?
            .clone();
        let mut slow_note = None;
        if class.is_slow_media()
            && let Some(s) = cell.slow.clone()
        {
            if let Some(p) = s.snapshots {
                cell.snapshots = p;
            }
            slow_note = Some(s.note);
        }
        Some(Choice {
            family: family.clone(),
            cell,
            slow_note,
        })
    }
}

impl Choice {
    /// autodefrag wanted for this data (slow media, small embedded databases).
    pub fn autodefrag(&self) -> bool {
        self.slow_note.is_some()
            && self
                .cell
                .slow
                .as_ref()
                .and_then(|s| s.autodefrag)
                .unwrap_or(false)
    }

    /// `key = value` pairs as the engine's configuration shows them.
    pub fn settings_lines(&self) -> Vec<String> {
        let sqlite = self.family.name == "sqlite";
        self.cell
            .settings
            .iter()
            .map(|(k, v)| {
                if sqlite {
                    format!("PRAGMA {k} = {v};")
                } else {
                    format!("{k} = {v}")
                }
            })
            .collect()
    }

    /// The snapshot and backup plan for the data at `path` (a subvolume's mount point).
    pub fn backup_plan(&self, path: &str) -> BackupPlan {
        let f = &self.family;
        let (hourly, daily) = match self.cell.snapshots {
            SnapshotPolicy::Hourly => (24, 7),
            SnapshotPolicy::Daily => (0, 3),
            SnapshotPolicy::None | SnapshotPolicy::Inherit => (0, 0),
        };
        let name = config_name(path);
        let snapper = (hourly + daily > 0).then(|| {
            format!(
                "services.snapper.configs.{name} = {{\n  SUBVOLUME = {};\n  \
                 TIMELINE_CREATE = true;\n  TIMELINE_CLEANUP = true;\n  \
                 TIMELINE_LIMIT_HOURLY = {hourly};\n  TIMELINE_LIMIT_DAILY = {daily};\n  \
                 TIMELINE_LIMIT_WEEKLY = 0;\n  TIMELINE_LIMIT_MONTHLY = 0;\n  \
                 TIMELINE_LIMIT_YEARLY = 0;\n}};\n",
                crate::disko::nix_string(path)
            )
        });
        let btrbk = (hourly + daily > 0).then(|| {
            let keep = if hourly > 0 {
                format!("{hourly}h {daily}d")
            } else {
                format!("{daily}d")
            };
            format!(
                "snapshot_preserve_min   2h\nsnapshot_preserve       {keep}\n\
                 snapshot_dir            .snapshots\nvolume /\n  subvolume {}\n",
                path.trim_start_matches('/')
            )
        });
        let cost = if self.cell.nocow && snapper.is_some() {
            "Each snapshot makes the next write to every NOCOW block copy-on-write once \
             (FACTS §1.4, §5): fragmentation grows with snapshot frequency, so the schedule \
             stays short and sparse."
        } else if self.cell.placement == Placement::Partition {
            "The data is not on btrfs: no btrfs snapshots; the engine's backup tool is the \
             only copy."
        } else {
            "Snapshots pin the extents they share: deleting data frees no space while a \
             snapshot keeps it (FACTS §5)."
        };
        BackupPlan {
            frequency: self.cell.snapshots,
            consistency: f.consistency.clone(),
            backup: f.backup.clone(),
            cost: cost.into(),
            snapper,
            btrbk,
        }
    }

    /// Shell steps moving the data at `path` into the recommended layout: a new subvolume
    /// (NOCOW set while empty) or partition, a copy with `cp` (so files are created anew and
    /// inherit NOCOW; `mv` keeps the old copy-on-write files), verification and rollback.
    pub fn migration_script(&self, path: &str) -> String {
        let f = &self.family;
        let q = crate::diagnose::shell_quote(path);
        // For comments: no line breaks or other control characters from the path.
        let shown: String = path
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let old = crate::diagnose::shell_quote(&format!("{path}.pre-btrtune"));
        let new = crate::diagnose::shell_quote(&format!("{path}.new"));
        let mut o = String::new();
        let _ = writeln!(
            o,
            "#!/bin/sh\n# Move {shown} ({} family) to the {} layout: {}.\n# Generated by \
             btrtune; read it before running it, as root, with a current backup.\nset -eu",
            f.name,
            self.cell.priority,
            self.summary()
        );
        let _ = writeln!(
            o,
            "if mountpoint -q {q}; then\n  printf '%s is a mount point: create the new \
             subvolume at the top level instead and point its mount (disko.nix subvol=) at \
             it\\n' {q} >&2; exit 1\nfi\nneed=$(du -sx --block-size=1 {q} | cut -f1)\n\
             free=$(df --output=avail -B1 \"$(dirname {q})\" | tail -1)\n\
             [ \"$free\" -gt \"$need\" ] || {{ printf 'not enough free space for a copy of \
             %s\\n' {q} >&2; exit 1; }}\n\
             for p in {new} {old}; do\n  [ ! -e \"$p\" ] || {{ echo \"$p exists: an earlier \
             migration? finish or roll it back first\" >&2; exit 1; }}\ndone"
        );
        if !f.service.is_empty() {
            let _ = writeln!(o, "systemctl stop {}", f.service);
        } else {
            let _ = writeln!(o, "# stop every program that writes {shown} first");
        }
        match self.cell.placement {
            Placement::Subvolume => {
                let _ = writeln!(o, "btrfs subvolume create {new}");
                if self.cell.nocow {
                    let _ = writeln!(
                        o,
                        "chattr +C {new}   # while empty: new files inherit NOCOW (FACTS §1.4)"
                    );
                }
            }
            Placement::Partition => {
                let fs = self.cell.filesystem.as_deref().unwrap_or("ext4");
                let _ = writeln!(
                    o,
                    "# the new {fs} partition (from the plan's disko.nix) is PART:\n\
                     mkfs.{fs} -L {} \"$PART\"\nmkdir -p {new}\nmount -o noatime \"$PART\" {new}",
                    f.name
                );
            }
        }
        let _ = writeln!(
            o,
            "cp -a --reflink=never {q}/. {new}/   # cp, not mv: files are written anew\n\
             chown --reference={q} {new} && chmod --reference={q} {new}"
        );
        if self.cell.nocow {
            let _ = writeln!(
                o,
                "lsattr -d {new} | cut -d' ' -f1 | grep -q C   # the directory is NOCOW\n\
                 test -z \"$(find {new} -type f -exec lsattr {{}} + | awk '$1 !~ /C/')\"   \
                 # and every file in it"
            );
        }
        let _ = writeln!(
            o,
            "diff -r --brief {q} {new}   # same files\nmv {q} {old}\nmv {new} {q}"
        );
        if self.cell.placement == Placement::Partition {
            let _ = writeln!(
                o,
                "umount {q} && mount -o noatime \"$PART\" {q}   # then add it to disko.nix / \
                 fileSystems"
            );
        }
        if !f.service.is_empty() {
            let _ = writeln!(o, "systemctl start {}", f.service);
        }
        let _ = writeln!(
            o,
            "# verify: {}\n# rollback: stop the service, mv {q} {new}; mv {old} {q}; start it.\n\
             # once verified and backed up: btrfs subvolume delete {old} (or rm -r)",
            f.verify
        );
        o
    }

    /// The cell in one line.
    pub fn summary(&self) -> String {
        let c = &self.cell;
        let where_ = match c.placement {
            Placement::Partition => format!(
                "dedicated {} partition",
                c.filesystem.as_deref().unwrap_or("ext4")
            ),
            Placement::Subvolume => format!(
                "own subvolume, {}",
                if c.nocow {
                    "NOCOW"
                } else {
                    "copy-on-write with checksums"
                }
            ),
        };
        format!("{where_}, snapshots {}", c.snapshots.as_str())
    }
}

/// The bundled matrix and results, parsed once (both are tested to parse).
pub fn bundled() -> Option<&'static (DbMatrix, Results)> {
    static CELL: std::sync::OnceLock<Option<(DbMatrix, Results)>> = std::sync::OnceLock::new();
    CELL.get_or_init(|| Some((DbMatrix::bundled().ok()?, Results::bundled().ok()?)))
        .as_ref()
}

impl Choice {
    /// The first measurement of the cell that has numbers, in words, with where they are.
    pub fn measured_text(&self, results: &Results) -> Option<(String, String)> {
        self.cell.measured.iter().find_map(|r| {
            let effects = r.effects(results);
            if effects.is_empty() {
                return None;
            }
            let text = effects
                .iter()
                .map(|(c, e)| {
                    format!(
                        "{c} {}, {:.0} vs {:.0} {}",
                        e.short(),
                        e.value,
                        e.baseline_value,
                        e.unit
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Some((
                format!("measured here ({}, {}): {text}", r.what, r.workload),
                format!("results/databases/: {}", r.label()),
            ))
        })
    }
}

fn config_name(path: &str) -> String {
    let s: String = path
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.is_empty() { "root".into() } else { s }
}

/// The snapshot and backup plan of one database.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackupPlan {
    /// Snapshot frequency.
    pub frequency: SnapshotPolicy,
    /// How to make a consistent snapshot.
    pub consistency: String,
    /// The engine's backup tools.
    pub backup: String,
    /// What snapshots cost here.
    pub cost: String,
    /// A snapper config (NixOS), when snapshots are planned.
    pub snapper: Option<String>,
    /// The same as btrbk.conf lines.
    pub btrbk: Option<String>,
}

/// `virtio ×1.10 (0.90–1.30, n=3); ram ×1.02 (…)`, or `not measured`.
fn effects_text(r: &MeasuredRef, results: &Results) -> String {
    let e = r.effects(results);
    if e.is_empty() {
        return "not measured".into();
    }
    e.iter()
        .map(|(c, e)| format!("{c} {}", e.short()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The matrix with measured numbers, as Markdown: one table per family, then the goals.
pub fn explain_markdown(m: &DbMatrix, results: &Results) -> String {
    let mut o = String::new();
    for f in &m.families {
        let _ = writeln!(o, "### {} ({})\n", f.name, f.engines.join(", "));
        let _ = writeln!(o, "I/O: {}.\n", f.io);
        let _ = writeln!(
            o,
            "| priority | placement | NOCOW | compression | snapshots | engine settings | measured (ratio median, min–max over paired rounds) | sources |\n\
             |---|---|---|---|---|---|---|---|"
        );
        for c in &f.cells {
            let placement = match c.placement {
                Placement::Subvolume => "subvolume".to_string(),
                Placement::Partition => {
                    format!("{} partition", c.filesystem.as_deref().unwrap_or("?"))
                }
            };
            let measured = c
                .measured
                .iter()
                .map(|r| format!("{}: {}", r.label(), effects_text(r, results)))
                .collect::<Vec<_>>()
                .join("<br>");
            let settings = if c.settings.is_empty() {
                "—".to_string()
            } else {
                c.settings
                    .iter()
                    .map(|(k, v)| format!("`{k}={v}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                o,
                "| {} | {placement} | {} | {} | {} | {settings} | {measured} | {} |",
                c.priority,
                if c.nocow { "yes" } else { "no" },
                match c.compression {
                    CellCompression::None => "none",
                    CellCompression::Inherit => "filesystem's",
                },
                c.snapshots.as_str(),
                c.sources.join(", ")
            );
        }
        let _ = writeln!(
            o,
            "\nWAL: {}. Consistent snapshots: {} Backups: {}. Verify: {}.\n",
            f.wal, f.consistency, f.backup, f.verify
        );
    }
    o
}

/// The issue-8 goals, measured: `performance` PostgreSQL ≥ 0.9× ext4, `balanced` ≥ 1.25×
/// disko's example. `(name, goal, effect)`.
pub fn goals(m: &DbMatrix, results: &Results) -> Vec<(String, f64, Option<Effect>)> {
    let Some(pg) = m.family_of("postgresql") else {
        return vec![];
    };
    let find = |p: Priority, baseline: &str| {
        pg.cells
            .iter()
            .find(|c| c.priority == p)
            .and_then(|c| c.measured.iter().find(|r| r.baseline == baseline))
    };
    let mut out = Vec::new();
    for (p, baseline, goal, name) in [
        (
            Priority::Performance,
            "ext4",
            0.9,
            "performance plan vs ext4",
        ),
        (
            Priority::Balanced,
            "disko-example",
            1.25,
            "balanced plan vs disko's example",
        ),
    ] {
        let Some(r) = find(p, baseline) else { continue };
        let effects = r.effects(results);
        if effects.is_empty() {
            out.push((name.to_string(), goal, None));
        }
        for (class, e) in effects {
            out.push((format!("{name} ({class})"), goal, Some(e)));
        }
    }
    out
}

/// The goals as a Markdown table.
pub fn goals_markdown(m: &DbMatrix, results: &Results) -> String {
    let mut o = String::from(
        "| goal | required | measured TPS ratio (median, min–max) | TPS (plan / baseline) | met |\n|---|---|---|---|---|\n",
    );
    for (name, goal, e) in goals(m, results) {
        let _ = match e {
            Some(e) => writeln!(
                o,
                "| {name} | ≥ {goal:.2} | {} | {:.0} / {:.0} | {} |",
                e.short(),
                e.value,
                e.baseline_value,
                if e.ratio >= goal { "yes" } else { "**no**" }
            ),
            None => writeln!(o, "| {name} | ≥ {goal:.2} | not measured | — | — |"),
        };
    }
    o
}

/// `{class: effect}` of a measurement.
pub fn effects_json(r: &MeasuredRef, results: &Results) -> serde_json::Value {
    serde_json::Value::Object(
        r.effects(results)
            .into_iter()
            .map(|(c, e)| (c, serde_json::json!(e)))
            .collect(),
    )
}

/// The matrix and its measured effects as JSON.
pub fn explain_json(m: &DbMatrix, results: &Results) -> serde_json::Value {
    let families: Vec<_> = m
        .families
        .iter()
        .map(|f| {
            let cells: Vec<_> = f
                .cells
                .iter()
                .map(|c| {
                    let measured: Vec<_> = c
                        .measured
                        .iter()
                        .map(|r| serde_json::json!({ "ref": r, "effects": effects_json(r, results) }))
                        .collect();
                    serde_json::json!({ "cell": c, "measured": measured })
                })
                .collect();
            serde_json::json!({
                "name": f.name, "engines": f.engines, "io": f.io, "wal": f.wal,
                "consistency": f.consistency, "backup": f.backup, "verify": f.verify,
                "sources": f.sources, "cells": cells,
            })
        })
        .collect();
    let goals: Vec<_> = goals(m, results)
        .into_iter()
        .map(|(n, g, e)| serde_json::json!({ "goal": n, "required": g, "effect": e }))
        .collect();
    serde_json::json!({ "schema_version": 1, "families": families, "goals": goals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_matrix_parses_and_chooses() {
        let m = DbMatrix::bundled().unwrap();
        let c = m
            .choose("postgresql", Priority::Performance, DeviceClass::Nvme)
            .unwrap();
        assert_eq!(c.cell.placement, Placement::Partition);
        let b = m
            .choose("postgresql", Priority::Balanced, DeviceClass::Virtio)
            .unwrap();
        assert!(b.cell.nocow && b.cell.settings["full_page_writes"] == "on");
        let s = m
            .choose("sqlite", Priority::Balanced, DeviceClass::Hdd)
            .unwrap();
        assert!(s.autodefrag() && s.slow_note.is_some());
        assert!(
            !m.choose("sqlite", Priority::Balanced, DeviceClass::Nvme)
                .unwrap()
                .autodefrag()
        );
        assert!(
            m.choose("nginx", Priority::Balanced, DeviceClass::Nvme)
                .is_none()
        );
    }

    #[test]
    fn a_missing_priority_or_unknown_key_is_an_error_with_a_line() {
        let text = BUNDLED.replacen("priority = \"durability\"", "priority = \"balanced\"", 1);
        let e = DbMatrix::parse(&text, "m.toml").unwrap_err().to_string();
        assert!(e.contains("m.toml:") && e.contains("priority"), "{e}");
        let text = BUNDLED.replacen("nocow = true", "nocow = true\nnocwo = 1", 1);
        let e = DbMatrix::parse(&text, "m.toml").unwrap_err().to_string();
        assert!(e.contains("nocwo"), "{e}");
    }

    #[test]
    fn hostile_paths_stay_quoted_in_scripts_and_configs() {
        let m = DbMatrix::bundled().unwrap();
        let c = m
            .choose("postgresql", Priority::Balanced, DeviceClass::Nvme)
            .unwrap();
        let path = "/srv/a\"b $(reboot)\nrm -rf /";
        let s = c.migration_script(path);
        // Outside the first comment line, the path only appears as one single-quoted word.
        let body = s.split_once('\n').unwrap().1.split_once('\n').unwrap().1;
        assert_eq!(
            body.matches("$(reboot)").count(),
            body.matches("'/srv/a\"b $(reboot)\nrm -rf /").count(),
            "{s}"
        );
        assert!(
            s.lines().nth(1).unwrap().contains("$(reboot)?rm -rf /"),
            "{s}"
        );
        let snapper = c.backup_plan(path).snapper.unwrap();
        assert!(
            snapper.contains(r#"SUBVOLUME = "/srv/a\"b $(reboot)\nrm -rf /";"#),
            "{snapper}"
        );
    }

    #[test]
    fn migration_copies_into_a_nocow_subvolume_and_can_roll_back() {
        let m = DbMatrix::bundled().unwrap();
        let c = m
            .choose("postgresql", Priority::Balanced, DeviceClass::Nvme)
            .unwrap();
        let s = c.migration_script("/var/lib/postgresql");
        let create = s.find("btrfs subvolume create").unwrap();
        let chattr = s.find("chattr +C").unwrap();
        let cp = s.find("cp -a").unwrap();
        assert!(create < chattr && chattr < cp, "{s}");
        assert!(s.contains("systemctl stop postgresql") && s.contains("rollback"));
        assert!(!s.contains("\nmv /var/lib/postgresql /var/lib/postgresql.new"));
        let p = c.backup_plan("/var/lib/postgresql");
        assert!(p.snapper.unwrap().contains("TIMELINE_LIMIT_DAILY = 3"));
        assert!(p.cost.contains("NOCOW"));
    }
}
