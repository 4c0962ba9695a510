//! Settings outside disko: writeback limits, I/O schedulers, zram, tmpfiles, snapper, scrub,
//! and the engine settings that go with the chosen layout.

use super::Context;
use crate::hardware::DeviceClass;
use crate::layout::{
    BtrfsFilesystem, NixValue, NixosSetting, Purpose, SchedulerRule, Snapshots, Sysctl,
    SystemSettings, TmpfilesRule, Zram,
};
use crate::profiles::{Tool, ToolDb};
use crate::reason::{Ref, Why};
use crate::toolstack::{HostPurpose, Toolstack};
use std::collections::BTreeMap;

pub(crate) fn settings(
    ctx: &Context,
    tools: &[&Tool],
    ts: &Toolstack,
    db: &ToolDb,
    fs: &BtrfsFilesystem,
) -> SystemSettings {
    let mut s = SystemSettings::default();
    writeback(ctx, &mut s);
    scheduler(ctx, &mut s);
    if ctx.class.is_slow_flash() {
        s.zram = Some(Zram {
            memory_percent: 50,
            why: Why::new(
                format!(
                    "Compressed swap in RAM instead of a swap file: swapping to {} wears the \
                     flash and is slow.",
                    ctx.class
                ),
                [Ref::input("hardware disk class")],
            ),
        });
    }
    project_owners(ts, &mut s);
    snapper(ts, fs, &mut s);
    scrub(fs, &mut s);
    engines(ctx, tools, ts, db, fs, &mut s);
    s.nixos.sort_by(|a, b| a.path.cmp(&b.path));
    // Two tools can ask for the same setting (mysql and mariadb share a data directory).
    s.nixos.dedup_by(|a, b| a.path == b.path);
    s
}

/// Dirty-page limits scaled to the device: the kernel's default (20 % of available memory)
/// can hold minutes of writes for a slow disk, and fsync-heavy programs then stall behind it.
fn writeback(ctx: &Context, s: &mut SystemSettings) {
    let Some(ram) = ctx.ram else { return };
    let speed = ctx.class.nominal_write_mb_s() * 1_000_000;
    let default_dirty = ram / 5;
    let target = (speed * 5).max(256 << 20).next_power_of_two();
    if default_dirty < target * 2 {
        return;
    }
    let why = Why::new(
        format!(
            "The default dirty limit (20 % of available memory, about {} MiB here) is over a \
             minute of writes for a {} disk at ~{} MB/s; fsync and commit then wait behind it. \
             Capped at about 5 s of writes ({} MiB), background writeback from a quarter of that; \
             tuned's postgresql profile uses 512 MiB / 64 MiB the same way. Setting the _bytes \
             variant zeroes the _ratio one.",
            default_dirty >> 20,
            ctx.class,
            ctx.class.nominal_write_mb_s(),
            target >> 20
        ),
        [Ref::fact("6")],
    );
    s.sysctls.push(Sysctl {
        key: "vm.dirty_bytes".into(),
        value: target,
        why: why.clone(),
    });
    s.sysctls.push(Sysctl {
        key: "vm.dirty_background_bytes".into(),
        value: target / 4,
        why,
    });
}

fn scheduler(ctx: &Context, s: &mut SystemSettings) {
    let (sched, text) = match ctx.class {
        DeviceClass::Nvme => (
            "none",
            "NVMe has many hardware queues: no scheduler (`none`, the kernel's default for \
             multi-queue devices), stated so it stays that way; BFQ would cost CPU per request \
             at NVMe rates.",
        ),
        DeviceClass::SataSsd => (
            "mq-deadline",
            "A SATA SSD has one queue: `mq-deadline` (the kernel's default for single-queue \
             devices) bounds latency at little CPU cost.",
        ),
        DeviceClass::Hdd => match ctx.purpose {
            HostPurpose::Development => (
                "bfq",
                "`bfq` on a rotational disk of an interactive machine: it keeps the desktop \
                 responsive while a build or a copy runs; its CPU cost per request is \
                 irrelevant at HDD rates.",
            ),
            HostPurpose::Production => (
                "mq-deadline",
                "`mq-deadline` on a server HDD: bounded latency for throughput work, at little \
                 CPU cost.",
            ),
        },
        DeviceClass::Sd | DeviceClass::Emmc | DeviceClass::Usb => (
            "bfq",
            "`bfq` on slow flash: writes of a few MB/s otherwise starve reads and the system \
             freezes during updates.",
        ),
        DeviceClass::Virtio => (
            "none",
            "A virtual disk is scheduled again by the host: `none` in the guest avoids a second \
             reordering pass.",
        ),
        DeviceClass::Ram | DeviceClass::Unknown => return,
    };
    s.io_schedulers.push(SchedulerRule {
        class: ctx.class,
        scheduler: sched.into(),
        why: Why::new(
            format!(
                "{text} Set by a udev rule: the `elevator=` boot parameter has no effect on \
                 blk-mq."
            ),
            [Ref::fact("6"), Ref::fact("9")],
        ),
    });
}

/// Project subvolumes are created by root; hand them to their owner.
fn project_owners(ts: &Toolstack, s: &mut SystemSettings) {
    for p in &ts.projects {
        let owner = p
            .strip_prefix("/home/")
            .and_then(|r| r.split('/').next())
            .filter(|u| !u.is_empty());
        let Some(user) = owner else { continue };
        if !ts.users.is_empty() && !ts.users.iter().any(|u| u == user) {
            continue;
        }
        s.tmpfiles.push(TmpfilesRule {
            line: format!("d {p} 0755 {user} users -"),
            why: Why::new(
                format!(
                    "The project subvolume at {p} is created by root at format time; this hands \
                     it to {user} (tmpfiles adjusts the owner of an existing directory)."
                ),
                [Ref::input("toolstack projects")],
            ),
        });
    }
}

fn config_name(subvol: &str) -> String {
    subvol.trim_start_matches('@').replace('/', "-")
}

fn snapper(ts: &Toolstack, fs: &BtrfsFilesystem, s: &mut SystemSettings) {
    for sv in &fs.subvolumes {
        let (
            Snapshots::Timeline {
                hourly,
                daily,
                weekly,
                monthly,
                ..
            },
            Some(m),
        ) = (sv.data.snapshots, &sv.mount)
        else {
            continue;
        };
        let mut c = BTreeMap::new();
        let s_ = |v: u32| NixValue::Str(v.to_string());
        c.insert("SUBVOLUME".into(), NixValue::Str(m.mountpoint.clone()));
        c.insert("TIMELINE_CREATE".into(), NixValue::Bool(true));
        c.insert("TIMELINE_CLEANUP".into(), NixValue::Bool(true));
        c.insert("TIMELINE_LIMIT_HOURLY".into(), s_(hourly));
        c.insert("TIMELINE_LIMIT_DAILY".into(), s_(daily));
        c.insert("TIMELINE_LIMIT_WEEKLY".into(), s_(weekly));
        c.insert("TIMELINE_LIMIT_MONTHLY".into(), s_(monthly));
        c.insert("TIMELINE_LIMIT_QUARTERLY".into(), s_(0));
        c.insert("TIMELINE_LIMIT_YEARLY".into(), s_(0));
        let personal = matches!(sv.data.purpose, Purpose::UserData | Purpose::Projects);
        if personal && !ts.users.is_empty() {
            c.insert(
                "ALLOW_USERS".into(),
                NixValue::List(ts.users.iter().cloned().map(NixValue::Str).collect()),
            );
        }
        s.nixos.push(NixosSetting {
            path: format!("services.snapper.configs.{}", config_name(&sv.name)),
            value: NixValue::Attrs(c),
            why: Why::new(
                format!(
                    "snapper timeline for {} ({}); its snapshots go to the nested \
                     {}/.snapshots subvolume that disko creates. Quarterly and yearly limits are \
                     set to 0 because snapper's defaults keep 10 yearly snapshots. No qgroups: \
                     they slow every extent operation of the whole filesystem.",
                    m.mountpoint, sv.name, sv.name
                ),
                [Ref::fact("5")],
            ),
        });
    }
}

fn scrub(fs: &BtrfsFilesystem, s: &mut SystemSettings) {
    let Some(first) = fs.first_mount() else {
        return;
    };
    let nocow: Vec<&str> = fs
        .subvolumes
        .iter()
        .filter(|v| v.data.nocow)
        .filter_map(|v| v.mount.as_ref().map(|m| m.mountpoint.as_str()))
        .collect();
    let mut text = String::from(
        "A monthly scrub reads every block and checks it against its checksum, so corruption \
         is found while the other copy (DUP metadata, snapshots, backups) still exists.",
    );
    if !nocow.is_empty() {
        text.push_str(&format!(
            " NOCOW data has no checksums, so scrub cannot verify {}.",
            nocow.join(", ")
        ));
    }
    let why = Why::new(text, [Ref::fact("1.4"), Ref::fact("7")]);
    s.nixos.push(NixosSetting {
        path: "services.btrfs.autoScrub.enable".into(),
        value: NixValue::Bool(true),
        why: why.clone(),
    });
    s.nixos.push(NixosSetting {
        path: "services.btrfs.autoScrub.fileSystems".into(),
        value: NixValue::List(vec![NixValue::Str(first.to_string())]),
        why,
    });
}

fn nocow_at(fs: &BtrfsFilesystem, tool: &str) -> Option<bool> {
    fs.subvolumes
        .iter()
        .find(|s| s.data.tools.iter().any(|t| t == tool) && s.data.purpose == Purpose::Database)
        .map(|s| s.data.nocow)
}

/// The engine settings the database matrix pairs with where each engine's data ended up
/// (its own partition, a NOCOW or a copy-on-write subvolume).
fn engines(
    ctx: &Context,
    tools: &[&Tool],
    ts: &Toolstack,
    db: &ToolDb,
    fs: &BtrfsFilesystem,
    s: &mut SystemSettings,
) {
    let mut set = |path: &str, value: NixValue, why: Why| {
        s.nixos.push(NixosSetting {
            path: path.into(),
            value,
            why,
        });
    };
    let strategy = crate::strategy::db::bundled();
    for t in tools {
        if let Some((matrix, _)) = strategy
            && let Some(family) = matrix.family_of(&t.name)
            && let Some(prefix) = &family.settings_path
        {
            use crate::strategy::db::Placement;
            // Where the data is: no subvolume means the plan gave it a partition.
            let actual = match nocow_at(fs, &t.name) {
                Some(nocow) => (Placement::Subvolume, nocow),
                None => (Placement::Partition, false),
            };
            let Some(chosen) = matrix.choose(&t.name, ctx.priority, ctx.class) else {
                continue;
            };
            // The cell of the priority, unless the data ended elsewhere (a wish, an option):
            // then the family's cell that matches where it is.
            let cell = if (chosen.cell.placement, chosen.cell.nocow) == actual {
                chosen.cell
            } else if let Some(c) = family
                .cells
                .iter()
                .find(|c| (c.placement, c.nocow) == actual)
            {
                c.clone()
            } else {
                continue;
            };
            let place = match actual {
                (Placement::Partition, _) => "its own partition",
                (_, true) => "a NOCOW subvolume",
                (_, false) => "a copy-on-write subvolume",
            };
            for (k, v) in &cell.settings {
                let value = match v.as_str() {
                    "on" => NixValue::Bool(true),
                    "off" => NixValue::Bool(false),
                    _ => NixValue::Str(v.clone()),
                };
                set(
                    &format!("{prefix}.{k}"),
                    value,
                    Why::new(
                        format!(
                            "{} on {place} ({} strategy, priority {}): {}",
                            t.name, family.name, cell.priority, cell.why
                        ),
                        [Ref::fact("2"), Ref::tool(&t.name)],
                    ),
                );
            }
            continue;
        }
        match t.name.as_str() {
            "podman" | "docker" => {
                let opts = ts.options_for(db, &t.name);
                // The containers matrix (profiles/strategies/containers.toml) picks the driver
                // for the toolstack's workload profile, unless the toolstack names one.
                let profile = opts.profile.clone().unwrap_or_else(|| "general".into());
                let chosen =
                    crate::strategy::containers::choose(&crate::strategy::containers::Request {
                        profile: profile.clone(),
                        priority: ctx.priority,
                        mode: if opts.mode == Some(crate::toolstack::ModeChoice::Rootless) {
                            crate::profiles::Mode::Rootless
                        } else {
                            crate::profiles::Mode::Rootful
                        },
                        ..crate::strategy::containers::Request::new(&profile)
                    })
                    .ok();
                let (driver, asked) = match (&opts.driver, &chosen) {
                    (Some(d), _) => (d.clone(), true),
                    (None, Some(c)) => (c.cell.driver.as_str().to_string(), false),
                    (None, None) => ("overlay".to_string(), false),
                };
                let why = Why::new(
                    format!(
                        "Storage driver `{driver}`{}: overlay is the default and what Docker \
                         advises even on btrfs hosts; the btrfs driver makes a subvolume per \
                         layer, and its `size`/`min_space` options turn on qgroups, which slow \
                         the whole filesystem.{}",
                        if asked {
                            " as asked in the toolstack".to_string()
                        } else {
                            format!(
                                " (containers strategy, profile `{profile}`, priority {}; \
                                 `btrtune explain containers`)",
                                ctx.priority
                            )
                        },
                        match (&chosen, asked) {
                            (Some(c), false) => format!(" {}", c.cell.why),
                            _ => String::new(),
                        }
                    ),
                    [Ref::fact("3"), Ref::tool(&t.name)],
                );
                if t.name == "podman" {
                    set(
                        "virtualisation.containers.storage.settings.storage.driver",
                        NixValue::Str(driver),
                        why,
                    );
                } else {
                    set(
                        "virtualisation.docker.storageDriver",
                        NixValue::Str(if driver == "overlay" {
                            "overlay2".into()
                        } else {
                            driver
                        }),
                        why,
                    );
                }
            }
            _ => {}
        }
    }
}
