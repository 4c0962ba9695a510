//! Recommendations: for each finding, the concrete change (as edits of the current
//! [`Layout`] where it is a layout change, and the commands that make it), its disruption
//! class and risk, and the models' before/after projection for the affected workloads.

use super::host::{Host, holds, kernel_name};
use super::rules::{Finding, Severity, layout::place_for};
use crate::hardware::DeviceClass;
use crate::layout::options::{Compression, SpaceCache};
use crate::layout::{
    Atime, CompressionProperty, DataPolicy, Layout, Purpose, SchedulerRule, Snapshots, SubvolMount,
    Subvolume, Sysctl, VfsOptions,
};
use crate::model::against_example::workloads_for;
use crate::model::features::{Features, features_on};
use crate::model::set::ModelSet;
use crate::reason::{Ref, Why};
use serde::Serialize;

/// How disruptive a change is, least first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disruption {
    /// Applied to the running system (`mount -o remount`, `sysctl -w`, `btrfs property set`).
    LiveRemount,
    /// Takes effect at the next boot (or the next mount).
    NextBoot,
    /// Data has to be copied (NOCOW only applies to new files; a new subvolume).
    DataMigration,
    /// The filesystem has to be made again.
    Reformat,
    /// Needs different hardware.
    Hardware,
}

impl Disruption {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Disruption::LiveRemount => "live",
            Disruption::NextBoot => "next boot",
            Disruption::DataMigration => "data migration",
            Disruption::Reformat => "reformat",
            Disruption::Hardware => "hardware",
        }
    }

    fn weight(self) -> f64 {
        match self {
            Disruption::LiveRemount => 1.0,
            Disruption::NextBoot => 1.5,
            Disruption::DataMigration => 3.0,
            Disruption::Reformat => 6.0,
            Disruption::Hardware => 8.0,
        }
    }
}

/// How risky a change is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Reversible, no data at stake.
    Low,
    /// Reversible with care, or a trade-off (checksums, space).
    Medium,
    /// Data at stake: back up first.
    High,
}

/// A change to the layout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// Set the filesystem's compression (`None`: off), without force.
    Compress {
        /// The new value.
        value: Option<String>,
    },
    /// Filesystem discard mode back to the kernel default.
    DefaultDiscard,
    /// autodefrag off.
    NoAutodefrag,
    /// space_cache=v2.
    SpaceCacheV2,
    /// Drop a hand-written ssd option.
    DefaultSsd,
    /// nodatacow off for the filesystem.
    Datacow,
    /// A mount's access-time mode.
    Noatime {
        /// The mount point.
        mountpoint: String,
    },
    /// NOCOW on a subvolume.
    Nocow {
        /// The mount point.
        mountpoint: String,
    },
    /// A compression property on a subvolume.
    CompressionProperty {
        /// The mount point.
        mountpoint: String,
        /// The property.
        value: String,
    },
    /// Remove the ignored filesystem-wide options from a mount.
    DropIgnored {
        /// The mount point.
        mountpoint: String,
    },
    /// A new subvolume for data that shares one today.
    NewSubvolume {
        /// Its name.
        name: String,
        /// Where it mounts.
        mountpoint: String,
        /// What it holds.
        purpose: Purpose,
        /// NOCOW.
        nocow: bool,
    },
    /// Stop snapshotting a subvolume.
    NoSnapshots {
        /// The mount point.
        mountpoint: String,
    },
    /// A sysctl.
    Sysctl {
        /// Key.
        key: String,
        /// Value.
        value: u64,
    },
    /// An I/O scheduler for the device class.
    Scheduler {
        /// The class.
        class: DeviceClass,
        /// The scheduler.
        scheduler: String,
    },
}

/// A projection of one workload at one mount point.
#[derive(Clone, Debug, Serialize)]
pub struct Projected {
    /// The mount point.
    pub mountpoint: String,
    /// The workload (a calibrated one).
    pub workload: String,
    /// The metric, or empty when there is no projection.
    pub metric: String,
    /// The model's status label (`measured`, `prior`, `fails validation goals`) or why there
    /// is no projection (`not calibrated: ...`).
    pub status: String,
    /// Projected metric before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    /// Projected metric after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    /// after / before, with its 95 % interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<[f64; 3]>,
    /// The projection hit the device's capability: the hardware caps the gain.
    pub capped: bool,
    /// The layout features that change.
    pub changes: Vec<String>,
}

/// One recommendation.
#[derive(Clone, Debug, Serialize)]
pub struct Recommendation {
    /// `R1`, `R2`, ... in ranked order.
    pub id: String,
    /// What to do.
    pub title: String,
    /// The findings it answers.
    pub answers: Vec<String>,
    /// How disruptive.
    pub disruption: Disruption,
    /// How risky.
    pub risk: Risk,
    /// What could go wrong or is given up.
    pub risk_note: String,
    /// The steps, in order (commands are shown, never run).
    pub steps: Vec<String>,
    /// Commands of the live part, one argv each (for the dry-run script).
    pub commands: Vec<Vec<String>>,
    /// The layout edits (for the disko.nix diff and the projections).
    pub edits: Vec<Edit>,
    /// Projected effect per affected workload.
    pub projections: Vec<Projected>,
    /// Why there is no projection, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_note: Option<String>,
    /// Impact against disruption: the ranking key.
    pub priority: f64,
}

/// The recommendations of a diagnosis and what they make.
pub struct Plan {
    /// Ranked recommendations.
    pub recommendations: Vec<Recommendation>,
    /// Everything applied at once.
    pub combined: Vec<Projected>,
    /// Current layout as disko.nix.
    pub current_disko: Option<String>,
    /// Proposed layout as disko.nix.
    pub proposed_disko: Option<String>,
    /// NixOS snippet of the system settings.
    pub nixos_snippet: Option<String>,
}

struct Draft {
    key: String,
    title: String,
    answers: Vec<String>,
    disruption: Disruption,
    risk: Risk,
    risk_note: String,
    steps: Vec<String>,
    commands: Vec<Vec<String>>,
    edits: Vec<Edit>,
    severity: Severity,
    confidence: f64,
}

fn argv(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn draft(f: &Finding, key: &str, title: String, d: Disruption, risk: Risk, note: &str) -> Draft {
    Draft {
        key: key.to_string(),
        title,
        answers: vec![format!("{} {}", f.rule, f.name)],
        disruption: d,
        risk,
        risk_note: note.to_string(),
        steps: vec![],
        commands: vec![],
        edits: vec![],
        severity: f.severity,
        confidence: f.confidence,
    }
}

impl Draft {
    fn step(mut self, s: impl Into<String>) -> Self {
        self.steps.push(s.into());
        self
    }
    fn step_opt(self, s: Option<String>) -> Self {
        match s {
            Some(s) => self.step(s),
            None => self,
        }
    }
    fn cmd(mut self, c: Vec<String>) -> Self {
        self.steps.push(format!("`{}`", shell_line(&c)));
        self.commands.push(c);
        self
    }
    fn edit(mut self, e: Edit) -> Self {
        self.edits.push(e);
        self
    }
}

/// A command line, quoted for a POSIX shell.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The engine settings the database matrix pairs with NOCOW data (its balanced cell), with
/// the measured effect, for the engine whose data is at `data_dir`.
fn db_strategy_step(data_dir: &str) -> Option<String> {
    let (matrix, results) = crate::strategy::db::bundled()?;
    let engine = if data_dir.contains("mysql") {
        "mysql"
    } else {
        "postgresql"
    };
    let c = matrix.choose(
        engine,
        crate::toolstack::Priority::Balanced,
        crate::hardware::DeviceClass::Unknown,
    )?;
    let measured = c
        .measured_text(results)
        .map(|(t, _)| format!(" ({t})"))
        .unwrap_or_default();
    Some(format!(
        "Pair the engine settings of the {} strategy (`btrtune explain db --engine {engine}`): {}{measured}; \
         `btrtune explain db --engine {engine} --path {data_dir}` prints the whole migration with checks and rollback.",
        c.family.name,
        c.settings_lines().join(", "),
    ))
}

/// One word quoted for a POSIX shell: bare when safe, else in single quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn first_mp(h: &Host) -> String {
    h.first_mount.clone().unwrap_or_else(|| "/".into())
}

/// `mount -o remount,<opts> <mp>`.
fn remount(mp: &str, opts: &str) -> Vec<String> {
    vec![
        "mount".into(),
        "-o".into(),
        format!("remount,{opts}"),
        mp.to_string(),
    ]
}

fn subvol_name_for(mp: &str) -> String {
    let last = mp
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("data");
    format!("@{}", if last.is_empty() { "root" } else { last })
}

fn drafts_for(h: &Host, f: &Finding) -> Vec<Draft> {
    let fm = first_mp(h);
    let mp0 = f.mountpoints.first().cloned().unwrap_or_else(|| fm.clone());
    let hw = || {
        draft(
            f,
            "hardware",
            format!("Move the busiest data ({}) to faster storage", h.class),
            Disruption::Hardware,
            Risk::Medium,
            "a new device and a copy of the data; the configuration changes below still apply",
        )
        .step("Add an NVMe or SATA SSD; move the database, container storage and build trees to it (a subvolume each, laid out by `btrtune plan`).")
    };
    match f.rule {
        "H01" | "H02" | "H05" | "H06" | "W04" => vec![hw()],
        "H03" => vec![draft(f, "ram", "Add RAM (or move the work to a bigger host)".into(), Disruption::Hardware, Risk::Low, "none")
            .step("At 8 GiB or more the page cache holds a database's hot pages and the build trees; until then keep compression light (zstd:1) so CPU time is not added to misses.")],
        "H04" | "M02" | "M03" => {
            let level = if f.rule == "M02" { 3 } else { 1 };
            let v = format!("zstd:{level}");
            vec![draft(f, "compress", format!("Compress with `compress={v}` on {fm} (the first mount)"), Disruption::LiveRemount, Risk::Low,
                "only new writes change; existing files keep their compression until rewritten (`btrfs filesystem defrag -r -c` unshares snapshotted extents)")
                .cmd(remount(&fm, &format!("compress={v}")))
                .step(format!("In disko.nix: put `compress={v}` on the first mount ({fm}) and remove compress/compress-force elsewhere."))
                .edit(Edit::Compress { value: Some(v) })]
        }
        "H09" => {
            vec![draft(f, "errors", "Find the failing layer: back up, check SMART, scrub".into(), Disruption::LiveRemount, Risk::High,
                "errors mean data may already be damaged: back up before anything else")
                .step("Back up what matters now.")
                .cmd(argv(&["smartctl", "-a", "/dev/DEVICE"]))
                .cmd(vec!["btrfs".into(), "scrub".into(), "start".into(), "-B".into(), fm.clone()])
                .cmd(vec!["btrfs".into(), "device".into(), "stats".into(), fm.clone()])]
        }
        "S01" | "S02" | "S03" | "S04" => {
            let mut d = draft(f, "balance", format!("Return half-empty data chunks to unallocated space on {fm}"), Disruption::LiveRemount, Risk::Low,
                "balance reads and rewrites chunks: I/O load while it runs; if it fails with ENOSPC, free space or add a device first")
                .cmd(vec!["btrfs".into(), "balance".into(), "start".into(), "-dusage=0".into(), fm.clone()])
                .cmd(vec!["btrfs".into(), "balance".into(), "start".into(), "-dusage=10".into(), fm.clone()])
                .cmd(vec!["btrfs".into(), "balance".into(), "start".into(), "-dusage=25".into(), fm.clone()]);
            if matches!(f.rule, "S01" | "S02") {
                d = d.step("If balance cannot start (no workspace): delete old snapshots, or `btrfs device add` a spare (a USB stick will do) for the duration, balance, then `btrfs device remove` it.");
            }
            vec![d]
        }
        "S05" | "S06" => {
            let target = if f.rule == "S06" {
                "-mconvert=dup,soft".to_string()
            } else {
                "-dconvert=raid1,soft -mconvert=raid1,soft (use the profile you meant)".to_string()
            };
            let args: Vec<String> = ["btrfs", "balance", "start"]
                .iter()
                .map(|s| s.to_string())
                .chain(target.split_whitespace().take(if f.rule == "S06" { 1 } else { 2 }).map(str::to_string))
                .chain([fm.clone()])
                .collect();
            vec![draft(f, &format!("profile-{}", f.rule), format!("Finish the profile conversion on {fm} ({target})"), Disruption::LiveRemount, Risk::Medium,
                "a conversion rewrites every chunk of the type: hours on large filesystems; needs unallocated workspace")
                .cmd(args)]
        }
        "S07" => vec![draft(f, "free-space", format!("Free space on {mp0}"), Disruption::LiveRemount, Risk::Medium, "deleting snapshots removes restore points")
            .step("Delete old snapshots first (their space is held until deleted), then `nix-collect-garbage --delete-older-than 14d`, then caches.")
            .cmd(vec!["btrfs".into(), "filesystem".into(), "usage".into(), mp0.clone()])],
        "L01" | "L02" => {
            let purpose = if f.rule == "L01" { Purpose::Database } else { Purpose::VmImages };
            let own = h.places.iter().find(|p| p.purpose == purpose);
            let data_dir = match (own, f.rule) {
                (Some(p), _) => p.mountpoint.clone(),
                (None, "L01") => super::rules::layout::DB_PATHS
                    .iter()
                    .find(|p| place_for(h, p).is_some_and(|x| x.mountpoint == mp0))
                    .unwrap_or(&"/var/lib/postgresql")
                    .to_string(),
                _ => "/var/lib/libvirt/images".into(),
            };
            let service = if f.rule == "L01" { "postgresql" } else { "libvirtd" };
            let new = format!("{data_dir}.nocow");
            let mut d = draft(f, &format!("nocow-{data_dir}"), format!("Make {data_dir} NOCOW (chattr +C, then copy the files in)"), Disruption::DataMigration, Risk::Medium,
                "NOCOW data has no checksums (scrub cannot repair it) and no compression; keep full_page_writes / the doublewrite buffer on; needs the service stopped and free space for one copy")
                .cmd(argv(&["systemctl", "stop", service]));
            if own.is_none() {
                d = d.step(format!("Give {data_dir} a subvolume of its own (not snapshotted) so the attribute and the snapshot policy are its own:"))
                    .cmd(vec!["btrfs".into(), "subvolume".into(), "create".into(), new.clone()])
                    .edit(Edit::NewSubvolume { name: subvol_name_for(&data_dir), mountpoint: data_dir.clone(), purpose, nocow: true });
            } else {
                d = d.cmd(vec!["mkdir".into(), new.clone()]).edit(Edit::Nocow { mountpoint: data_dir.clone() });
            }
            d = d.cmd(vec!["chattr".into(), "+C".into(), new.clone()])
                .step("chattr +C only works on empty files, so the data must be copied, not moved or reflinked (a reflink needs both sides with the same NOCOW state):")
                .cmd(vec!["cp".into(), "-a".into(), "--reflink=never".into(), format!("{data_dir}/."), format!("{new}/")])
                .cmd(vec!["lsattr".into(), "-d".into(), new.clone()])
                .step(format!("Swap the directories ({data_dir} → {data_dir}.old, {new} → {data_dir}; with a new subvolume, mount it there via disko.nix), start {service}, check, then delete {data_dir}.old."))
                .cmd(argv(&["systemctl", "start", service]));
            if f.rule == "L01" {
                d = d.step_opt(db_strategy_step(&data_dir));
            }
            vec![d]
        }
        "L03" => vec![draft(f, "containers-subvolume", "Give /var/lib/containers a subvolume of its own, excluded from snapshots".into(), Disruption::DataMigration, Risk::Low,
            "images are re-pulled or copied; containers must be stopped")
            .cmd(argv(&["systemctl", "stop", "podman.socket"]))
            .cmd(argv(&["mv", "/var/lib/containers", "/var/lib/containers.old"]))
            .cmd(argv(&["btrfs", "subvolume", "create", "/var/lib/containers"]))
            .step("Copy back what is worth keeping (`cp -a --reflink=always /var/lib/containers.old/. /var/lib/containers/` keeps it cheap), or let podman re-pull; then delete the old directory.")
            .step("`btrtune explain containers` gives the measured storage-driver choice for your workload, a storage.conf, the snapshot strategy (volumes kept, layers excluded) and the full migration guide with checks and rollback.")
            .edit(Edit::NewSubvolume { name: "@containers".into(), mountpoint: "/var/lib/containers".into(), purpose: Purpose::ContainerStorage, nocow: false })],
        "L04" => {
            if f.mountpoints.first().is_some_and(|m| m == "/") {
                vec![draft(f, "nix-subvolume", "Give /nix a subvolume of its own, noatime, never snapshotted".into(), Disruption::DataMigration, Risk::Medium,
                    "the store is copied while the system runs from it: do it from a rescue system or with `nixos-enter`")
                    .step("From a rescue system: `btrfs subvolume create /mnt/@nix`, `cp -a --reflink=always /mnt/@root/nix/. /mnt/@nix/`, mount it at /nix in disko.nix, reboot, then remove the old copy.")
                    .edit(Edit::NewSubvolume { name: "@nix".into(), mountpoint: "/nix".into(), purpose: Purpose::NixStore, nocow: false })]
            } else if f.mountpoints.first().is_some_and(|m| m == "/home") {
                vec![draft(f, "home-cache", "Make each user's ~/.cache a subvolume (out of /home's snapshots)".into(), Disruption::NextBoot, Risk::Low,
                    "the cache is emptied once")
                    .step("Per user, logged out: `mv ~/.cache ~/.cache.old && btrfs subvolume create ~/.cache`, or declare `systemd.user.tmpfiles.rules = [ \"v %h/.cache 0700 - - -\" ]` (takes effect at the next login).")]
            } else {
                vec![draft(f, &format!("nosnap-{mp0}"), format!("Stop snapshotting {mp0}"), Disruption::LiveRemount, Risk::Low, "the data is re-creatable")
                    .step(format!("Remove {mp0} from the snapper/btrbk configuration and delete its snapshots."))
                    .edit(Edit::NoSnapshots { mountpoint: mp0.clone() })]
            }
        }
        "L05" => vec![draft(f, "prune-snapshots", "Keep fewer snapshots".into(), Disruption::LiveRemount, Risk::Medium, "old restore points go away")
            .step("Lower the retention (snapper: NUMBER_LIMIT=10, TIMELINE_LIMIT_HOURLY=10, DAILY=7, WEEKLY=0, MONTHLY=0, YEARLY=0), then let the cleanup run:")
            .cmd(argv(&["snapper", "cleanup", "number"]))
            .cmd(argv(&["snapper", "cleanup", "timeline"]))],
        "L06" => vec![draft(f, "quota-off", format!("Disable quotas on {fm}"), Disruption::LiveRemount, Risk::Low,
            "snapper's SPACE_LIMIT and qgroup-based container size limits stop working")
            .cmd(vec!["btrfs".into(), "quota".into(), "disable".into(), fm.clone()])],
        "L07" => vec![draft(f, "swap-subvolume", "Move the swap file to a NOCOW subvolume of its own".into(), Disruption::NextBoot, Risk::Low, "swap is off for a moment")
            .step("In disko.nix: a subvolume `@swap` mounted at /.swapvol with `swap.swapfile.size = \"8G\"` (disko makes it NOCOW); or live:")
            .cmd(argv(&["swapoff", "-a"]))
            .cmd(argv(&["btrfs", "subvolume", "create", "/.swapvol"]))
            .cmd(argv(&["btrfs", "filesystem", "mkswapfile", "--size", "8g", "/.swapvol/swapfile"]))
            .cmd(argv(&["swapon", "/.swapvol/swapfile"]))
            .edit(Edit::NewSubvolume { name: "@swap".into(), mountpoint: "/.swapvol".into(), purpose: Purpose::Swap, nocow: true })],
        "L08" => vec![draft(f, &format!("nosnap-{mp0}"), format!("Stop snapshotting the NOCOW data at {mp0}; back it up with its engine"), Disruption::LiveRemount, Risk::Medium,
            "no more snapshot restore points for this data: use pg_basebackup/dumps")
            .step(format!("Remove {mp0} from the snapper/btrbk configuration and delete its snapshots."))
            .edit(Edit::NoSnapshots { mountpoint: mp0.clone() })],
        "M01" => {
            let Some(p) = h.places.iter().find(|p| p.mountpoint == mp0) else { return vec![] };
            let mut d = draft(f, &format!("ignored-{mp0}"), format!("Make {mp0}'s intent real: per-subvolume attributes instead of ignored mount options"), Disruption::LiveRemount, Risk::Low,
                "only new files follow; recompressing existing ones (`btrfs filesystem defrag -r -czstd`) unshares snapshotted extents")
                .edit(Edit::DropIgnored { mountpoint: mp0.clone() });
            if let Some(c) = p.ignored.iter().find(|o| o.starts_with("compress")) {
                let alg = c.split('=').nth(1).unwrap_or("zstd").split(':').next().unwrap_or("zstd").to_string();
                d = d.cmd(vec!["btrfs".into(), "property".into(), "set".into(), mp0.clone(), "compression".into(), alg.clone()])
                    .edit(Edit::CompressionProperty { mountpoint: mp0.clone(), value: alg });
            }
            if p.ignored.iter().any(|o| o == "nodatacow") {
                d.disruption = Disruption::DataMigration;
                d = d.step(format!("NOCOW: `chattr +C` on the empty subvolume root of {mp0}, then copy the files in (existing files keep CoW)."))
                    .edit(Edit::Nocow { mountpoint: mp0.clone() });
            }
            if p.ignored.iter().any(|o| o == "autodefrag") {
                d = d.step("autodefrag exists only filesystem-wide: put it on the first mount if wanted everywhere, or drop it.");
            }
            vec![d
                .step(format!("In disko.nix: remove {} from {mp0}'s mountOptions and set the attribute in a postCreateHook (`btrtune plan` writes one).", p.ignored.join(",")))
                .step("Or, if the projection below shows a cost you do not want (compression spends CPU on every write), just remove the ignored option: the configuration then says what the kernel does.")]
        }
        "M04" => vec![draft(f, "discard", format!("Drop synchronous discard on {fm} (async is the default)"), Disruption::LiveRemount, Risk::Low, "none")
            .cmd(remount(&fm, "discard=async")).edit(Edit::DefaultDiscard)],
        "M05" => vec![draft(f, "autodefrag", format!("Turn autodefrag off on {fm}"), Disruption::LiveRemount, Risk::Low, "small-file fragmentation is no longer repaired in the background")
            .cmd(remount(&fm, "noautodefrag")).edit(Edit::NoAutodefrag)],
        "M06" => vec![draft(f, "noatime", format!("Mount {} noatime", f.mountpoints.join(", ")), Disruption::LiveRemount, Risk::Low, "programs that read atime (mutt's new-mail check, tmpwatch) lose it")
            .cmd(remount(&mp0, "noatime"))
            .edit(Edit::Noatime { mountpoint: mp0.clone() })],
        "M07" => vec![draft(f, "space-cache", format!("Convert {fm} to space_cache=v2"), Disruption::NextBoot, Risk::Low, "a one-time conversion at mount")
            .step("Add `clear_cache,space_cache=v2` to the first mount's options for one boot (then drop clear_cache); v2 is the default afterwards.").edit(Edit::SpaceCacheV2)],
        "M08" => vec![draft(f, "ssd", "Drop the hand-written ssd option".into(), Disruption::LiveRemount, Risk::Low, "none")
            .step("Remove ssd/ssd_spread/nossd from the first mount's options; `ssd` is set automatically.").edit(Edit::DefaultSsd)],
        "M09" => vec![draft(f, "datacow", format!("Turn nodatacow off on {fm}; NOCOW only for database/VM directories"), Disruption::DataMigration, Risk::Medium,
            "existing files stay NOCOW (no checksums) until copied")
            .cmd(remount(&fm, "datacow,datasum"))
            .step("Copy files that should be checksummed (`cp --reflink=never`) so they are rewritten as CoW; `chattr +C` the database and VM image directories before copying their files in.")
            .edit(Edit::Datacow)],
        "Y01" => {
            let bytes = (h.class.nominal_write_mb_s() * 1_000_000 * 3).max(64 << 20);
            let bg = bytes / 4;
            vec![draft(f, "dirty", format!("Cap dirty memory at about 3 s of writing ({} MiB)", bytes >> 20), Disruption::LiveRemount, Risk::Low,
                "bulk writers are throttled earlier (steadier, not slower overall)")
                .cmd(vec!["sysctl".into(), "-w".into(), format!("vm.dirty_bytes={bytes}")])
                .cmd(vec!["sysctl".into(), "-w".into(), format!("vm.dirty_background_bytes={bg}")])
                .edit(Edit::Sysctl { key: "vm.dirty_bytes".into(), value: bytes })
                .edit(Edit::Sysctl { key: "vm.dirty_background_bytes".into(), value: bg })]
        }
        "Y02" => {
            // The device the finding is about, else the first mount's.
            let dev = f.device.clone().or_else(|| h.mounts.first().map(|m| kernel_name(&m.source))).unwrap_or_default();
            let class = h.class_of_device(&dev);
            let want = if class == DeviceClass::Nvme { "none" } else { "mq-deadline" };
            let q = h.queue_of(&dev).map(|(n, _)| n.clone()).unwrap_or(dev);
            vec![draft(f, "scheduler", format!("Use the {want} scheduler (udev rule)"), Disruption::LiveRemount, Risk::Low, "none")
                .cmd(vec!["sh".into(), "-c".into(), format!("echo {want} > /sys/block/{q}/queue/scheduler")])
                .edit(Edit::Scheduler { class, scheduler: want.into() })]
        }
        "Y03" => {
            let uuid = h.mounts.first().map(|m| m.uuid.clone()).unwrap_or_else(|| "UUID".into());
            vec![draft(f, "readahead", "Restore btrfs read-ahead to 4 MiB".into(), Disruption::LiveRemount, Risk::Low, "none")
                .cmd(vec!["sh".into(), "-c".into(), format!("echo 4096 > /sys/fs/btrfs/{uuid}/bdi/read_ahead_kb")])
                .step("Find what lowers it (a udev rule or tuned profile setting read_ahead_kb) and remove that.")]
        }
        "Y04" => vec![draft(f, "delayacct", "Turn on delay accounting before collecting again".into(), Disruption::LiveRemount, Risk::Low, "a small scheduling overhead")
            .cmd(argv(&["sysctl", "-w", "kernel.task_delayacct=1"]))],
        _ => vec![],
    }
}

/// Applies edits to a layout.
pub fn apply(layout: &mut Layout, edits: &[Edit]) {
    for e in edits {
        match e {
            Edit::Sysctl { key, value } => {
                layout.system.sysctls.retain(|s| &s.key != key);
                layout.system.sysctls.push(Sysctl {
                    key: key.clone(),
                    value: *value,
                    why: Why::new(
                        "Dirty memory capped at a few seconds of device writes.",
                        [Ref::fact("6")],
                    ),
                });
                continue;
            }
            Edit::Scheduler { class, scheduler } => {
                layout.system.io_schedulers.retain(|s| &s.class != class);
                layout.system.io_schedulers.push(SchedulerRule {
                    class: *class,
                    scheduler: scheduler.clone(),
                    why: Why::new(
                        format!("{scheduler} suits {class} devices."),
                        [Ref::fact("6")],
                    ),
                });
                continue;
            }
            _ => {}
        }
        // Filesystem-wide edits are about the filesystem of the first mount (`/`); a new
        // subvolume goes to the filesystem holding its parent directory.
        let target = match e {
            Edit::NewSubvolume { mountpoint, .. } => fs_holding(layout, mountpoint),
            _ => fs_holding(layout, "/"),
        };
        for (i, fs) in layout.btrfs_filesystems_mut().into_iter().enumerate() {
            let o = &mut fs.options;
            let fs_wide = matches!(
                e,
                Edit::Compress { .. }
                    | Edit::DefaultDiscard
                    | Edit::NoAutodefrag
                    | Edit::SpaceCacheV2
                    | Edit::DefaultSsd
                    | Edit::Datacow
                    | Edit::NewSubvolume { .. }
            );
            if fs_wide && i != target {
                continue;
            }
            match e {
                Edit::Compress { value } => {
                    o.compress = value
                        .as_deref()
                        .and_then(|v| Compression::parse(v).ok().flatten());
                    o.compress_force = false;
                }
                Edit::DefaultDiscard => o.discard = None,
                Edit::NoAutodefrag => o.autodefrag = false,
                Edit::SpaceCacheV2 => o.space_cache = Some(SpaceCache::V2),
                Edit::DefaultSsd => o.ssd = None,
                Edit::Datacow => {
                    o.nodatacow = false;
                    o.nodatasum = false;
                }
                Edit::NewSubvolume {
                    name,
                    mountpoint,
                    purpose,
                    nocow,
                } => {
                    if fs.subvolumes.iter().any(|s| {
                        s.mount
                            .as_ref()
                            .is_some_and(|m| &m.mountpoint == mountpoint)
                    }) || !fs.subvolumes.iter().any(|s| s.mount.is_some())
                    {
                        continue;
                    }
                    let mut data = DataPolicy::new(*purpose);
                    data.nocow = *nocow;
                    data.why.insert(
                        crate::reason::Aspect::Placement,
                        Why::new(
                            "A subvolume of its own, not snapshotted (btrtune diagnose).",
                            [Ref::fact("5")],
                        ),
                    );
                    fs.subvolumes.push(Subvolume {
                        name: name.clone(),
                        mount: Some(SubvolMount {
                            mountpoint: mountpoint.clone(),
                            vfs: VfsOptions::noatime(),
                            fs_override: None,
                        }),
                        data,
                        swapfiles: vec![],
                        extra_args: vec![],
                    });
                    fs.subvolumes.sort_by(|a, b| a.name.cmp(&b.name));
                }
                _ => {
                    for sv in &mut fs.subvolumes {
                        let Some(m) = &mut sv.mount else { continue };
                        let here = |mp: &String| &m.mountpoint == mp;
                        match e {
                            Edit::Noatime { mountpoint } if here(mountpoint) => {
                                m.vfs.atime = Some(Atime::Noatime)
                            }
                            Edit::Nocow { mountpoint } if here(mountpoint) => sv.data.nocow = true,
                            Edit::CompressionProperty { mountpoint, value } if here(mountpoint) => {
                                sv.data.compression = match value.as_str() {
                                    "lzo" => Some(CompressionProperty::Lzo),
                                    "zlib" => Some(CompressionProperty::Zlib),
                                    "none" => Some(CompressionProperty::None),
                                    _ => Some(CompressionProperty::Zstd),
                                }
                            }
                            Edit::DropIgnored { mountpoint } if here(mountpoint) => {
                                m.fs_override = None
                            }
                            Edit::NoSnapshots { mountpoint } if here(mountpoint) => {
                                sv.data.snapshots = Snapshots::Off
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// The index (in [`Layout::btrfs_filesystems`] order) of the btrfs filesystem whose mounts hold
/// `path` best (longest mount-point prefix); 0 when none does.
fn fs_holding(layout: &Layout, path: &str) -> usize {
    layout
        .btrfs_filesystems()
        .iter()
        .enumerate()
        .filter_map(|(i, (_, fs))| {
            fs.subvolumes
                .iter()
                .filter_map(|s| s.mount.as_ref().map(|m| m.mountpoint.as_str()))
                .chain(fs.top_level.as_ref().map(|t| t.mountpoint.as_str()))
                .filter(|mp| holds(mp, path))
                .map(|mp| mp.len())
                .max()
                .map(|l| (i, l))
        })
        .max_by_key(|&(i, l)| (l, std::cmp::Reverse(i)))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// The mount point in `layout` whose data holds `path` (exact, else the longest prefix).
fn mount_for(layout: &Layout, path: &str) -> Option<String> {
    layout
        .mountpoints()
        .into_iter()
        .map(|(mp, _)| mp)
        .filter(|mp| holds(mp, path))
        .max_by_key(|mp| mp.len())
}

fn features_for(layout: &Layout, path: &str, class: DeviceClass) -> Option<Features> {
    features_on(layout, &mount_for(layout, path)?, class)
}

/// The mount points (and purposes) an edit set touches.
fn touched(h: &Host, edits: &[Edit]) -> Vec<(String, Purpose)> {
    let mut out: Vec<(String, Purpose)> = Vec::new();
    let mut add = |mp: &str, p: Purpose| {
        if !out.iter().any(|(m, _)| m == mp) {
            out.push((mp.to_string(), p));
        }
    };
    for e in edits {
        match e {
            Edit::Noatime { mountpoint }
            | Edit::Nocow { mountpoint }
            | Edit::CompressionProperty { mountpoint, .. }
            | Edit::DropIgnored { mountpoint }
            | Edit::NoSnapshots { mountpoint } => {
                let p = h
                    .places
                    .iter()
                    .find(|p| &p.mountpoint == mountpoint)
                    .map(|p| p.purpose)
                    .unwrap_or(Purpose::Other);
                add(mountpoint, p);
            }
            Edit::NewSubvolume {
                mountpoint,
                purpose,
                ..
            } => add(mountpoint, *purpose),
            Edit::Compress { .. }
            | Edit::DefaultDiscard
            | Edit::NoAutodefrag
            | Edit::SpaceCacheV2
            | Edit::DefaultSsd
            | Edit::Datacow => {
                for p in &h.places {
                    add(&p.mountpoint, p.purpose);
                }
            }
            Edit::Sysctl { .. } | Edit::Scheduler { .. } => {}
        }
    }
    out
}

/// Projections of going from `current` to `proposed` for the touched mount points.
fn project(
    h: &Host,
    models: &ModelSet,
    current: &Layout,
    proposed: &Layout,
    edits: &[Edit],
) -> Vec<Projected> {
    let mut out = Vec::new();
    for (mp, purpose) in touched(h, edits) {
        let (Some(before), Some(after)) = (
            features_for(current, &mp, h.class),
            features_for(proposed, &mp, h.class),
        ) else {
            continue;
        };
        if before == after {
            continue;
        }
        for wl in workloads_for(purpose) {
            let mut shared_unknown = Vec::new();
            let result = models
                .project_change(h.class, wl, &before, &after)
                .or_else(|e| {
                    // Features the model never saw cancel in the contrast when they are the
                    // same before and after: project the ratio without them.
                    let m = models.model(h.class, wl).map_err(|_| e)?;
                    let known = |n: &str| m.fitted.effects.iter().any(|x| x.feature == n);
                    let (mut b, mut a) = (before.clone(), after.clone());
                    for n in before.names().filter(|n| after.get(n) == 1.0 && !known(n)) {
                        shared_unknown.push(n.to_string());
                        b.0.remove(n);
                        a.0.remove(n);
                    }
                    models.project_change(h.class, wl, &b, &a)
                });
            out.push(match result {
                Ok(c) if !shared_unknown.is_empty() => Projected {
                    mountpoint: mp.clone(),
                    workload: wl.to_string(),
                    metric: c.metric.clone(),
                    status: format!(
                        "{}; ratio only: {} was never calibrated (unchanged, it cancels)",
                        c.status.label(),
                        shared_unknown.join(", ")
                    ),
                    before: None,
                    after: None,
                    ratio: Some([c.ratio.value, c.ratio.low, c.ratio.high]),
                    capped: false,
                    changes: c.changes,
                },
                Ok(c) => Projected {
                    mountpoint: mp.clone(),
                    workload: wl.to_string(),
                    metric: c.metric.clone(),
                    status: c.status.label().to_string(),
                    before: Some(c.before.value),
                    after: Some(c.after.value),
                    ratio: Some([c.ratio.value, c.ratio.low, c.ratio.high]),
                    capped: c.capped,
                    changes: c.changes,
                },
                Err(e) => Projected {
                    mountpoint: mp.clone(),
                    workload: wl.to_string(),
                    metric: String::new(),
                    status: format!("not calibrated: {e}"),
                    before: None,
                    after: None,
                    ratio: None,
                    capped: false,
                    changes: vec![],
                },
            });
        }
    }
    out
}

fn severity_weight(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.3,
        Severity::Low => 1.0,
        Severity::Medium => 2.0,
        Severity::High => 3.5,
        Severity::Critical => 6.0,
    }
}

/// Builds, merges, projects and ranks the recommendations for the findings.
pub fn recommend(h: &Host, findings: &[Finding], models: &ModelSet) -> Plan {
    let mut drafts: Vec<Draft> = Vec::new();
    for f in findings {
        for d in drafts_for(h, f) {
            match drafts.iter_mut().find(|x| x.key == d.key) {
                Some(x) => {
                    for a in d.answers {
                        if !x.answers.contains(&a) {
                            x.answers.push(a);
                        }
                    }
                    for e in d.edits {
                        if !x.edits.contains(&e) {
                            x.edits.push(e);
                        }
                    }
                    for c in d.commands {
                        if !x.commands.contains(&c) {
                            x.steps.push(format!("`{}`", shell_line(&c)));
                            x.commands.push(c);
                        }
                    }
                    x.severity = x.severity.max(d.severity);
                    x.confidence = x.confidence.max(d.confidence);
                }
                None => drafts.push(d),
            }
        }
    }
    // Mount-specific remounts of the same option merge into one title.
    let current = h.current.clone();
    let mut recs: Vec<Recommendation> = drafts
        .into_iter()
        .map(|d| {
            let (projections, note) = match &current {
                Some(cur) => {
                    let mut proposed = cur.clone();
                    apply(&mut proposed, &d.edits);
                    let p = project(h, models, cur, &proposed, &d.edits);
                    let note = p.is_empty().then(|| {
                        if d.edits.is_empty() || d.edits.iter().all(|e| matches!(e, Edit::Sysctl { .. } | Edit::Scheduler { .. })) {
                            "not calibrated: the models vary layout features (NOCOW, compression, atime, autodefrag, commit, discard); this change is outside them".to_string()
                        } else {
                            "not calibrated: the change does not alter a modelled feature at a mounted workload".to_string()
                        }
                    });
                    (p, note)
                }
                None => (vec![], Some("not calibrated: no layout to project from (give --disko or a bundle with live mounts)".to_string())),
            };
            let gain = projections
                .iter()
                .filter_map(|p| p.ratio.map(|r| r[0]))
                .fold(1.0f64, f64::max)
                .ln()
                .max(0.0);
            let priority = severity_weight(d.severity) * d.confidence * (1.0 + gain) / d.disruption.weight();
            Recommendation {
                id: String::new(),
                title: d.title,
                answers: d.answers,
                disruption: d.disruption,
                risk: d.risk,
                risk_note: d.risk_note,
                steps: d.steps,
                commands: d.commands,
                edits: d.edits,
                projections,
                projection_note: note,
                priority: (priority * 1000.0).round() / 1000.0,
            }
        })
        .collect();
    recs.sort_by(|a, b| {
        b.priority
            .total_cmp(&a.priority)
            .then(a.disruption.cmp(&b.disruption))
            .then(a.title.cmp(&b.title))
    });
    for (i, r) in recs.iter_mut().enumerate() {
        r.id = format!("R{}", i + 1);
    }
    let all_edits: Vec<Edit> = recs.iter().flat_map(|r| r.edits.clone()).collect();
    let (combined, current_disko, proposed_disko, nixos_snippet) = match &current {
        Some(cur) => {
            let mut proposed = cur.clone();
            apply(&mut proposed, &all_edits);
            let combined = if recs.iter().filter(|r| !r.projections.is_empty()).count() > 1 {
                project(h, models, cur, &proposed, &all_edits)
            } else {
                vec![]
            };
            let layout_changed = all_edits
                .iter()
                .any(|e| !matches!(e, Edit::Sysctl { .. } | Edit::Scheduler { .. }));
            // One header for both, so the diff shows only the layout's changes.
            let header =
                |_: &str| vec!["btrtune diagnose: btrtune's rendering of the layout".to_string()];
            let (c, p) = if layout_changed {
                (
                    Some(crate::disko::emit_layout(cur, &header("current layout"))),
                    Some(crate::disko::emit_layout(
                        &proposed,
                        &header("proposed layout"),
                    )),
                )
            } else {
                (None, None)
            };
            let sys =
                !proposed.system.sysctls.is_empty() || !proposed.system.io_schedulers.is_empty();
            let nixos = sys.then(|| {
                let only = Layout {
                    schema_version: proposed.schema_version,
                    disks: vec![],
                    nodev: vec![],
                    system: crate::layout::SystemSettings {
                        sysctls: proposed.system.sysctls.clone(),
                        io_schedulers: proposed.system.io_schedulers.clone(),
                        ..Default::default()
                    },
                };
                crate::nixos::emit_layout(
                    &only,
                    &["System settings recommended by btrtune diagnose.".to_string()],
                )
            });
            (combined, c, p, nixos)
        }
        None => (vec![], None, None, None),
    };
    Plan {
        recommendations: recs,
        combined,
        current_disko,
        proposed_disko,
        nixos_snippet,
    }
}
