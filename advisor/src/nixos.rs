//! The NixOS module for what disko does not hold: sysctls, the I/O scheduler udev rule,
//! tmpfiles (per-user subvolumes and project owners), zram, snapper, scrub and engine
//! settings.

use crate::disko::writer::{NixWriter, quote};
use crate::hardware::DeviceClass;
use crate::layout::{HomeSubvolume, Layout, NixValue};
use crate::plan::Plan;

/// udev match keys for a device class.
pub fn udev_matches(class: DeviceClass) -> Vec<&'static str> {
    match class {
        DeviceClass::Nvme => vec![r#"KERNEL=="nvme[0-9]*n[0-9]*", ENV{DEVTYPE}=="disk""#],
        DeviceClass::SataSsd => vec![
            r#"KERNEL=="sd[a-z]*", ENV{DEVTYPE}=="disk", ENV{ID_BUS}=="ata", ATTR{queue/rotational}=="0""#,
        ],
        DeviceClass::Hdd => {
            vec![r#"KERNEL=="sd[a-z]*", ENV{DEVTYPE}=="disk", ATTR{queue/rotational}=="1""#]
        }
        DeviceClass::Sd | DeviceClass::Emmc => {
            vec![r#"KERNEL=="mmcblk[0-9]*", ENV{DEVTYPE}=="disk""#]
        }
        DeviceClass::Usb => vec![r#"KERNEL=="sd[a-z]*", ENV{DEVTYPE}=="disk", ENV{ID_BUS}=="usb""#],
        DeviceClass::Virtio => vec![
            r#"KERNEL=="vd[a-z]*", ENV{DEVTYPE}=="disk""#,
            r#"KERNEL=="sd[a-z]*", ENV{DEVTYPE}=="disk", DRIVERS=="virtio_scsi""#,
        ],
        DeviceClass::Ram | DeviceClass::Unknown => vec![],
    }
}

/// The systemd-tmpfiles lines (for `systemd.user.tmpfiles.rules`) that create a per-user
/// subvolume: `v` makes the subvolume (a plain directory where / is not a btrfs subvolume),
/// `h` sets NOCOW while it is still empty.
pub fn user_tmpfiles(h: &HomeSubvolume) -> Vec<String> {
    let path = format!("%h/{}", tmpfiles_escape(&h.path));
    let mut v = vec![format!("v {path} 0700 - - -")];
    if h.data.nocow {
        v.push(format!("h {path} - - - - +C"));
    }
    v
}

/// Escapes a path for a tmpfiles line (spaces as `\x20`, `%` as `%%`).
fn tmpfiles_escape(p: &str) -> String {
    p.replace('%', "%%").replace(' ', "\\x20")
}

fn value(v: &NixValue, w: &mut NixWriter, key: &str) {
    match v {
        NixValue::Bool(b) => w.raw(key, &b.to_string()),
        NixValue::Int(i) => w.raw(key, &i.to_string()),
        NixValue::Str(s) => w.string(key, s),
        NixValue::List(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            w.list(key, &parts);
        }
        NixValue::Attrs(m) => {
            w.open(key);
            for (k, v) in m {
                value(v, w, k);
            }
            w.close();
        }
    }
}

fn inline(v: &NixValue) -> String {
    match v {
        NixValue::Bool(b) => b.to_string(),
        NixValue::Int(i) => i.to_string(),
        NixValue::Str(s) => quote(s),
        NixValue::List(items) => format!(
            "[ {} ]",
            items.iter().map(inline).collect::<Vec<_>>().join(" ")
        ),
        NixValue::Attrs(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {};", crate::disko::writer::attr_name(k), inline(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// The NixOS module for a plan.
pub fn emit(plan: &Plan) -> String {
    emit_layout(
        &plan.layout,
        &[format!(
            "NixOS settings that go with the disko.nix btrtune {} generated from {}: import this \
             module next to it. Each setting says why.",
            env!("CARGO_PKG_VERSION"),
            plan.input.origin
        )],
    )
}

/// The NixOS module for a layout.
pub fn emit_layout(layout: &Layout, header: &[String]) -> String {
    let s = &layout.system;
    let mut w = NixWriter::new();
    for h in header {
        w.comment(h);
    }
    w.line("{ ... }:");
    w.open_bare();
    let mut first = true;
    let gap = |w: &mut NixWriter, first: &mut bool| {
        if !*first {
            w.line("");
        }
        *first = false;
    };

    if !s.sysctls.is_empty() {
        gap(&mut w, &mut first);
        w.open("boot.kernel.sysctl");
        let mut last = String::new();
        for c in &s.sysctls {
            if c.why.text != last {
                w.comment(&c.why.text);
                last = c.why.text.clone();
            }
            w.raw(&quote(&c.key), &c.value.to_string());
        }
        w.close();
    }

    if !s.io_schedulers.is_empty() {
        gap(&mut w, &mut first);
        let mut rules = String::new();
        for r in &s.io_schedulers {
            for l in crate::disko::writer::wrap(&r.why.text, 90) {
                rules.push_str(&format!("# {l}\n"));
            }
            for m in udev_matches(r.class) {
                rules.push_str(&format!(
                    "ACTION==\"add|change\", {m}, ATTR{{queue/scheduler}}=\"{}\"\n",
                    r.scheduler
                ));
            }
        }
        w.indented_string("services.udev.extraRules", &rules);
    }

    if let Some(z) = &s.zram {
        gap(&mut w, &mut first);
        w.comment(&z.why.text);
        w.raw("zramSwap.enable", "true");
        w.raw("zramSwap.memoryPercent", &z.memory_percent.to_string());
    }

    if !s.tmpfiles.is_empty() {
        gap(&mut w, &mut first);
        let mut last = String::new();
        for t in &s.tmpfiles {
            if t.why.text != last {
                w.comment(&t.why.text);
                last = t.why.text.clone();
            }
        }
        let lines: Vec<String> = s.tmpfiles.iter().map(|t| t.line.clone()).collect();
        w.string_list("systemd.tmpfiles.rules", &lines);
    }

    let homes: Vec<&HomeSubvolume> = layout
        .btrfs_filesystems()
        .into_iter()
        .flat_map(|(_, b)| b.home_subvolumes.iter())
        .collect();
    if !homes.is_empty() {
        gap(&mut w, &mut first);
        w.comment(
            "Per-user subvolumes, made by systemd-tmpfiles when each user logs in: `v` creates \
             the subvolume (owned by the user) if the path does not exist yet, `h +C` sets \
             NOCOW while it is empty. Nested subvolumes are left out of snapshots of /home. \
             Existing directories are not converted: move their contents out, log in again, \
             and move them back.",
        );
        let mut lines = Vec::new();
        for h in &homes {
            let tools = if h.data.tools.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.data.tools.join(", "))
            };
            for l in user_tmpfiles(h) {
                lines.push(format!(
                    "{} # ~/{}: {}{}",
                    quote(&l),
                    h.path,
                    h.data.purpose,
                    tools
                ));
            }
        }
        w.line("systemd.user.tmpfiles.rules = [");
        for l in lines {
            w.line(&format!("  {l}"));
        }
        w.line("];");
    }

    let mut last = String::new();
    for n in &s.nixos {
        if n.why.text != last {
            gap(&mut w, &mut first);
            w.comment(&n.why.text);
            last = n.why.text.clone();
        }
        value(&n.value, &mut w, &n.path);
    }
    if first {
        w.comment("Nothing to set.");
    }
    w.close_bare();
    w.finish()
}
