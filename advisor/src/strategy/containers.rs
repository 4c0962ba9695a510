//! Podman storage strategies (issue 8): the decision matrix of
//! `profiles/strategies/containers.toml` (workload profile × priority × mode → storage driver,
//! graphroot and volume treatment, snapshots, backups), the container-churn measurements of
//! `results/containers/` that back it, and what a choice generates: `storage.conf`, the NixOS
//! settings, the snapshot strategy, volume backups and a migration guide.
//!
//! ```
//! use btrtune_advisor::strategy::containers::{self, Request};
//! let choice = containers::choose(&Request::new("build-heavy")).unwrap();
//! assert!(containers::nixos_snippet(&choice).contains("virtualisation.containers.storage.settings"));
//! ```

mod explain;
mod generate;
mod results;

pub use explain::{example_markdown, explain_json, explain_markdown};
pub use generate::nixos_snippet;
pub use results::{CellStats, Measured, Spread};

use crate::error::{AdvisorError, input_at, toml_error};
use crate::profiles::Mode;
use crate::toolstack::Priority;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// The bundled matrix, as text.
pub const BUNDLED: &str = include_str!("../../../profiles/strategies/containers.toml");
/// The committed measurements the matrix cites (`results/containers/containers.jsonl`).
pub const BUNDLED_RESULTS: &str = include_str!("../../../results/containers/containers.jsonl");
/// Name of the results file inside a results directory.
pub const RESULTS_FILE: &str = "containers.jsonl";

/// The priorities every profile and mode must cover.
pub const PRIORITIES: [Priority; 3] = [
    Priority::Performance,
    Priority::Balanced,
    Priority::Durability,
];
/// The modes every profile and priority must cover.
pub const MODES: [Mode; 2] = [Mode::Rootful, Mode::Rootless];

/// The container-churn parameters a profile's `bench` may give.
const BENCH_KEYS: [&str; 9] = [
    "seed",
    "layers",
    "base_files",
    "child_files",
    "child_replaced",
    "child_deleted",
    "containers",
    "writes_per_container",
    "fsync_every",
];

/// containers-storage graph driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// `overlay`: layers are directories, containers copy files up.
    Overlay,
    /// `btrfs`: layers and containers are subvolume snapshots.
    Btrfs,
}

impl Driver {
    /// The name in `storage.conf` and in the results (`containers-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::Btrfs => "btrfs",
        }
    }
}

/// Compression of the graphroot subvolume (`btrfs property set … compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// Whatever the filesystem's `compress=` gives.
    Inherit,
    /// `zstd` (the level is the mount option's).
    Zstd,
    /// `none`: image layers are mostly compressed archives' contents; skip the CPU.
    None,
}

/// What database volumes get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbVolumes {
    /// `chattr +C` on the empty volume directory before the first start (facts §1.4, §2).
    Nocow,
    /// Copy-on-write with checksums (durability over fsync speed).
    Cow,
}

/// How often the volumes subvolume is snapshotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    /// snapper timeline, hourly.
    Hourly,
    /// Daily only.
    Daily,
    /// Never (backups only).
    Off,
}

/// How a volume backup treats the containers using it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backup {
    /// `podman stop`, snapshot, `podman start`: consistent, with downtime.
    Stop,
    /// `podman pause`, snapshot, `podman unpause`: crash-consistent, seconds of stall.
    Pause,
    /// The engine's own checkpoint (`CHECKPOINT`, `pg_backup_start`), live snapshot.
    Engine,
}

/// A workload profile: what the host's containers do, and the matrix parameters that stand for it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// `general`, `many-layers`, ...
    pub name: String,
    /// One line.
    pub description: String,
    /// The container-churn parameters (beyond the defaults) of its matrix cells.
    pub bench: serde_json::Map<String, serde_json::Value>,
}

/// One cell of the matrix: the treatment for some profiles × priorities × modes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    /// Profiles it covers.
    pub profiles: Vec<String>,
    /// Priorities it covers.
    pub priorities: Vec<Priority>,
    /// Modes it covers.
    pub modes: Vec<Mode>,
    /// Graph driver.
    pub driver: Driver,
    /// Graphroot subvolume compression.
    pub graphroot_compression: Compression,
    /// Database volumes.
    pub db_volumes: DbVolumes,
    /// Quotas (always false in the bundled matrix: only on request).
    pub qgroups: bool,
    /// Volume snapshots.
    pub volume_snapshots: Cadence,
    /// Volume backups.
    pub volume_backup: Backup,
    /// Why.
    pub why: String,
    /// Sections of btrfs-tuning-facts.md (`§3`).
    pub sources: Vec<String>,
    /// The results cells backing it: `LAYOUT/PROFILE` (both drivers of that cell).
    pub measured: Vec<String>,
    /// Line in the matrix file.
    pub line: usize,
}

/// The parsed matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Strategies {
    /// Workload profiles, in file order.
    pub profiles: Vec<Profile>,
    /// Cells, in file order.
    pub cells: Vec<Cell>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    profile: Vec<RawProfile>,
    cell: Vec<RawCell>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Spanned<String>,
    description: String,
    #[serde(default)]
    bench: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCell {
    profile: Spanned<Vec<String>>,
    priority: Vec<Priority>,
    mode: Vec<Mode>,
    driver: Driver,
    graphroot_compression: Compression,
    db_volumes: DbVolumes,
    qgroups: Spanned<bool>,
    volume_snapshots: Cadence,
    volume_backup: Backup,
    why: Spanned<String>,
    sources: Spanned<Vec<String>>,
    measured: Spanned<Vec<String>>,
}

impl Strategies {
    /// The bundled matrix.
    pub fn bundled() -> Result<Strategies, AdvisorError> {
        Self::parse(BUNDLED, "profiles/strategies/containers.toml")
    }

    /// Parses and checks a matrix: unknown keys, names, sources, and that every profile ×
    /// priority × mode has exactly one cell. Errors name `origin` and the line.
    pub fn parse(text: &str, origin: &str) -> Result<Strategies, AdvisorError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let at = |span, message| input_at(origin, text, span, message);
        let mut profiles = Vec::new();
        for p in raw.profile {
            let name = p.name.get_ref().clone();
            if profiles.iter().any(|q: &Profile| q.name == name) {
                return Err(at(
                    p.name.span(),
                    format!("profile `{name}` is defined twice"),
                ));
            }
            if let Some((k, _)) = p
                .bench
                .iter()
                .find(|(k, v)| !BENCH_KEYS.contains(&k.as_str()) || v.as_integer().is_none())
            {
                return Err(at(
                    p.name.span(),
                    format!(
                        "profile `{name}`: bench `{k}`: expected an integer parameter of the \
                         container-churn workload ({})",
                        BENCH_KEYS.join(", ")
                    ),
                ));
            }
            let bench = match serde_json::to_value(&p.bench) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(at(p.name.span(), "`bench` must be a table".into())),
            };
            profiles.push(Profile {
                name,
                description: p.description,
                bench,
            });
        }
        let mut cells = Vec::new();
        for c in raw.cell {
            let span = c.profile.span();
            for name in c.profile.get_ref() {
                if !profiles.iter().any(|p| &p.name == name) {
                    let known: Vec<_> = profiles.iter().map(|p| p.name.as_str()).collect();
                    return Err(at(
                        span.clone(),
                        format!("unknown profile `{name}` (known: {})", known.join(", ")),
                    ));
                }
            }
            if c.profile.get_ref().is_empty() || c.priority.is_empty() || c.mode.is_empty() {
                return Err(at(span, "a cell needs a profile, priority and mode".into()));
            }
            if c.why.get_ref().trim().is_empty() {
                return Err(at(c.why.span(), "`why` is empty".into()));
            }
            if c.sources.get_ref().is_empty()
                || c.sources.get_ref().iter().any(|s| !valid_section(s))
            {
                return Err(at(
                    c.sources.span(),
                    "`sources` must name sections of btrfs-tuning-facts.md (`§3`, `§1.4`)".into(),
                ));
            }
            if c.measured.get_ref().is_empty()
                || c.measured
                    .get_ref()
                    .iter()
                    .any(|m| m.split_once('/').is_none())
            {
                return Err(at(
                    c.measured.span(),
                    "`measured` lists result cells as `LAYOUT/PROFILE` (`cow/general`)".into(),
                ));
            }
            for m in c.measured.get_ref() {
                let prof = m.split_once('/').map_or("", |x| x.1);
                if !profiles.iter().any(|p| p.name == prof) {
                    return Err(at(
                        c.measured.span(),
                        format!("`{m}`: unknown profile `{prof}`"),
                    ));
                }
            }
            let (line, _) = crate::error::line_col(text, span.start);
            cells.push(Cell {
                profiles: c.profile.into_inner(),
                priorities: c.priority,
                modes: c.mode,
                driver: c.driver,
                graphroot_compression: c.graphroot_compression,
                db_volumes: c.db_volumes,
                qgroups: *c.qgroups.get_ref(),
                volume_snapshots: c.volume_snapshots,
                volume_backup: c.volume_backup,
                why: c.why.into_inner().trim().to_string(),
                sources: c.sources.into_inner(),
                measured: c.measured.into_inner(),
                line,
            });
        }
        let s = Strategies { profiles, cells };
        s.check_coverage().map_err(|message| AdvisorError::Input {
            path: origin.into(),
            line: 0,
            column: 0,
            message,
        })?;
        Ok(s)
    }

    /// Every profile × priority × mode has exactly one cell.
    pub fn check_coverage(&self) -> Result<(), String> {
        for p in &self.profiles {
            for pr in PRIORITIES {
                for m in MODES {
                    let hits: Vec<usize> = self
                        .cells
                        .iter()
                        .filter(|c| c.covers(&p.name, pr, m))
                        .map(|c| c.line)
                        .collect();
                    match hits.as_slice() {
                        [_] => {}
                        [] => {
                            return Err(format!(
                                "no cell for profile `{}`, priority `{pr}`, mode `{}`",
                                p.name,
                                mode_str(m)
                            ));
                        }
                        many => {
                            return Err(format!(
                                "profile `{}`, priority `{pr}`, mode `{}` has several cells \
                                 (lines {})",
                                p.name,
                                mode_str(m),
                                many.iter()
                                    .map(|l| l.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The cell for one profile, priority and mode.
    pub fn cell(&self, profile: &str, priority: Priority, mode: Mode) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.covers(profile, priority, mode))
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

impl Cell {
    /// Whether this cell is the one for these inputs.
    pub fn covers(&self, profile: &str, priority: Priority, mode: Mode) -> bool {
        self.profiles.iter().any(|p| p == profile)
            && self.priorities.contains(&priority)
            && self.modes.contains(&mode)
    }
}

fn valid_section(s: &str) -> bool {
    s.strip_prefix('§').is_some_and(|n| {
        !n.is_empty()
            && n.split('.')
                .all(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// `rootful` / `rootless`.
pub fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Rootful => "rootful",
        Mode::Rootless => "rootless",
    }
}

/// What to choose for.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Workload profile (`general`, `many-layers`, `high-density`, `build-heavy`,
    /// `multi-arch`).
    pub profile: String,
    /// Priority.
    pub priority: Priority,
    /// Rootful or rootless.
    pub mode: Mode,
    /// The user of a rootless store (paths under `/home/USER`); `$USER` when unset.
    pub user: Option<String>,
    /// Volumes that hold databases (NOCOW or engine-aware backups), by podman volume name.
    pub db_volumes: Vec<String>,
    /// Per-container size limits asked for (`10G`): the btrfs driver with qgroups, the only
    /// way containers-storage limits size on btrfs. `None`: no qgroups.
    pub quota: Option<String>,
}

impl Request {
    /// A balanced, rootful request for a profile.
    pub fn new(profile: &str) -> Request {
        Request {
            profile: profile.into(),
            priority: Priority::Balanced,
            mode: Mode::Rootful,
            user: None,
            db_volumes: vec![],
            quota: None,
        }
    }
}

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Paths {
    /// Where `storage.conf` goes.
    pub storage_conf: String,
    /// containers-storage's graphroot: its own subvolume, out of snapshots.
    pub graphroot: String,
    /// Runtime state (tmpfs).
    pub runroot: String,
    /// Podman's named volumes (`<graphroot>/volumes`): their own subvolume, snapshotted.
    pub volumes: String,
    /// The account owning the store (`root` or the user).
    pub owner: String,
}

impl Paths {
    /// The default paths of a mode (facts §3).
    pub fn of(mode: Mode, user: Option<&str>) -> Paths {
        match mode {
            Mode::Rootful => Paths {
                storage_conf: "/etc/containers/storage.conf".into(),
                graphroot: "/var/lib/containers/storage".into(),
                runroot: "/run/containers/storage".into(),
                volumes: "/var/lib/containers/storage/volumes".into(),
                owner: "root".into(),
            },
            Mode::Rootless => {
                let (home, owner) = match user {
                    Some(u) => (format!("/home/{u}"), u.to_string()),
                    None => ("$HOME".to_string(), "$USER".to_string()),
                };
                Paths {
                    storage_conf: format!("{home}/.config/containers/storage.conf"),
                    graphroot: format!("{home}/.local/share/containers/storage"),
                    runroot: "/run/user/$UID/containers".into(),
                    volumes: format!("{home}/.local/share/containers/storage/volumes"),
                    owner,
                }
            }
        }
    }
}

/// A chosen treatment with everything needed to generate its files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// Profile.
    pub profile: String,
    /// Priority.
    pub priority: Priority,
    /// Mode.
    pub mode: Mode,
    /// The matrix cell (with `qgroups` set when a quota was asked for).
    pub cell: Cell,
    /// Paths.
    pub paths: Paths,
    /// Database volumes by name.
    pub db_volumes: Vec<String>,
    /// The per-container size limit asked for.
    pub quota: Option<String>,
    /// What changed from the matrix cell, and why (quota requests).
    pub notes: Vec<String>,
    /// Measurements of the cited result cells (embedded results).
    pub measured: Vec<CellStats>,
}

/// Chooses the treatment for a request from the bundled matrix, with the embedded
/// measurements of the result cells it cites. A quota request switches to the btrfs driver
/// with qgroups and says so in `notes` (facts §3, §5: qgroups cost on every extent of the
/// filesystem). Errors: an unknown profile.
pub fn choose(req: &Request) -> Result<Choice, AdvisorError> {
    let s = Strategies::bundled()?;
    let m = Measured::bundled()?;
    choose_in(&s, &m, req)
}

/// [`choose`] over a given matrix and measurements.
pub fn choose_in(s: &Strategies, m: &Measured, req: &Request) -> Result<Choice, AdvisorError> {
    let cell = s
        .cell(&req.profile, req.priority, req.mode)
        .ok_or_else(|| {
            AdvisorError::Request(format!(
                "unknown container workload profile `{}` (known: {})",
                req.profile,
                s.profiles
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?
        .clone();
    let mut cell = cell;
    let mut notes = Vec::new();
    if let Some(q) = &req.quota {
        if cell.driver != Driver::Btrfs {
            notes.push(format!(
                "driver btrfs instead of {}: a per-container size limit ({q}) needs the btrfs \
                 driver's `size`, and overlay on btrfs has no quota support (facts §3)",
                cell.driver.as_str()
            ));
        }
        cell.driver = Driver::Btrfs;
        cell.qgroups = true;
        notes.push(
            "qgroups on, as asked: they cost on every extent change of the whole filesystem \
             and slow snapshot deletion and balance (facts §5); consider squota (Linux 6.7+)"
                .into(),
        );
    }
    // The cited cells of the requested profile, or all cited cells when none is its own.
    let cited: Vec<&CellStats> = cell
        .measured
        .iter()
        .filter_map(|r| {
            let (layout, profile) = r.split_once('/')?;
            m.cell(layout, profile)
        })
        .collect();
    let own = cited.iter().any(|c| c.profile == req.profile);
    let measured = cited
        .into_iter()
        .filter(|c| !own || c.profile == req.profile)
        .cloned()
        .collect();
    Ok(Choice {
        profile: req.profile.clone(),
        priority: req.priority,
        mode: req.mode,
        paths: Paths::of(req.mode, req.user.as_deref()),
        db_volumes: req.db_volumes.clone(),
        quota: req.quota.clone(),
        notes,
        measured,
        cell,
    })
}

/// Every profile, priority and mode's cell, for tables.
pub fn rows(s: &Strategies) -> Vec<(String, Priority, Mode, &Cell)> {
    let mut out = Vec::new();
    for p in &s.profiles {
        for pr in PRIORITIES {
            for m in MODES {
                if let Some(c) = s.cell(&p.name, pr, m) {
                    out.push((p.name.clone(), pr, m, c));
                }
            }
        }
    }
    out
}

/// Counts per profile of the bench keys, for matching records (most specific wins).
pub(crate) fn profile_of<'a>(
    profiles: &'a [Profile],
    full: &serde_json::Value,
) -> Result<Option<&'a Profile>, String> {
    let mut best: BTreeMap<usize, Vec<&Profile>> = BTreeMap::new();
    for p in profiles {
        if p.bench.iter().all(|(k, v)| full.get(k) == Some(v)) {
            best.entry(p.bench.len()).or_default().push(p);
        }
    }
    match best.pop_last() {
        None => Ok(None),
        Some((_, v)) if v.len() == 1 => Ok(Some(v[0])),
        Some((_, v)) => Err(format!(
            "a run matches the profiles {} equally",
            v.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_matrix_covers_every_profile_priority_and_mode() {
        let s = Strategies::bundled().unwrap();
        assert_eq!(s.profiles.len(), 5);
        assert_eq!(rows(&s).len(), 5 * 3 * 2);
        assert!(s.cells.iter().all(|c| !c.qgroups));
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = BUNDLED.replacen("volume_backup =", "volume_backups =", 1);
        let e = Strategies::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("c.toml:") && e.contains("volume_backups"),
            "{e}"
        );
        let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!(
            bad.lines()
                .nth(line - 1)
                .unwrap()
                .contains("volume_backups"),
            "{e}"
        );
        let bad = BUNDLED.replacen("bench = { layers = 12", "bench = { layer = 12", 1);
        let e = Strategies::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains("bench `layer`"), "{e}");
        let bad = BUNDLED.replacen("profile = [\"general\"", "profile = [\"genral\"", 1);
        let e = Strategies::parse(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains("unknown profile `genral`"), "{e}");
    }

    #[test]
    fn quota_requests_turn_on_qgroups_with_the_btrfs_driver() {
        let mut r = Request::new("general");
        r.quota = Some("10G".into());
        let c = choose(&r).unwrap();
        assert_eq!(c.cell.driver, Driver::Btrfs);
        assert!(c.cell.qgroups && !c.notes.is_empty());
        assert!(choose(&Request::new("nope")).is_err());
    }
}
