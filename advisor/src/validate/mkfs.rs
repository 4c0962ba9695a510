//! mkfs.btrfs argument rules (disko passes `extraArgs` to `mkfs.btrfs <device>` unquoted and
//! space-joined): block-group profiles that need more devices than given
//! (`mkfs/profile-devices`), unknown profiles, and further devices that the configuration
//! does not create, formats itself, or creates too late.

use super::findings::{Finding, Severity};
use super::model::{Fs, Model, Word};

use crate::disko::parse::MKFS_TAKES_VALUE as TAKES_VALUE;

/// A block-group profile and the devices it needs (btrfs-progs `btrfs_raid_array.devs_min`).
fn min_devices(profile: &str) -> Option<usize> {
    Some(match profile.to_ascii_lowercase().as_str() {
        "single" | "dup" | "raid0" => 1,
        "raid1" | "raid10" | "raid5" => 2,
        "raid1c3" | "raid6" => 3,
        "raid1c4" => 4,
        _ => return None,
    })
}

/// What the mkfs arguments of a filesystem say, with where each part is written.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub data: Option<Word>,
    pub metadata: Option<Word>,
    pub devices: Vec<Word>,
}

pub(crate) fn args(fs: &Fs) -> Args {
    let mut a = Args::default();
    let w = &fs.extra_args;
    let mut i = 0;
    while i < w.len() {
        let word = &w[i];
        let (flag, inline) = match word.text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (word.text.as_str(), None),
        };
        if TAKES_VALUE.contains(&flag) {
            let value = match inline {
                Some(v) => Some(Word {
                    text: v.to_string(),
                    loc: word.loc.clone(),
                }),
                None => {
                    i += 1;
                    w.get(i).cloned()
                }
            };
            if let Some(v) = value {
                match flag {
                    "-d" | "--data" => a.data = Some(v),
                    "-m" | "--metadata" => a.metadata = Some(v),
                    _ => {}
                }
            }
        } else if !word.text.starts_with('-') {
            a.devices.push(word.clone());
        }
        i += 1;
    }
    a
}

pub(crate) fn check(model: &Model, out: &mut Vec<Finding>) {
    for fs in &model.filesystems {
        let a = args(fs);
        let count = 1 + a.devices.len();
        for (w, kind) in [(&a.data, "data"), (&a.metadata, "metadata")] {
            let Some(w) = w else { continue };
            let flag = if kind == "data" { "-d" } else { "-m" };
            match min_devices(&w.text) {
                None => out.push(Finding::at(
                    "mkfs/unknown-profile",
                    Severity::Error,
                    &w.loc,
                    format!(
                        "`{flag} {}`: mkfs.btrfs knows no {kind} profile `{}` and refuses to \
                         create the filesystem",
                        w.text, w.text
                    ),
                    "use one of single, dup, raid0, raid1, raid1c3, raid1c4, raid10, raid5, \
                     raid6"
                        .to_string(),
                )),
                Some(min) if count < min => {
                    let alternative = if kind == "data" { "single" } else { "dup" };
                    out.push(Finding::at(
                        "mkfs/profile-devices",
                        Severity::Error,
                        &w.loc,
                        format!(
                            "`{flag} {}` needs at least {min} devices, but this filesystem has \
                             {count} ({}): mkfs.btrfs stops with \"unable to create FS with \
                             {kind} profile {} (have {count} devices but {min} devices are \
                             required)\", and disko's format with it",
                            w.text,
                            device_list(fs, &a),
                            w.text.to_ascii_uppercase()
                        ),
                        format!(
                            "add {} more device{} to extraArgs (e.g. the partition \
                             `/dev/disk/by-partlabel/disk-<name>-<part>` of another disk \
                             declared without content), or use `{flag} {alternative}` on {}",
                            min - count,
                            if min - count == 1 { "" } else { "s" },
                            if count == 1 {
                                "one device"
                            } else {
                                "these devices"
                            }
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        for d in &a.devices {
            extra_device(model, fs, d, out);
        }
    }
}

fn device_list(fs: &Fs, a: &Args) -> String {
    fs.device
        .iter()
        .cloned()
        .chain(a.devices.iter().map(|d| d.text.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Device paths disko itself names: a path there that the configuration does not create
/// does not exist when mkfs runs.
fn disko_namespace(model: &Model, p: &str) -> bool {
    p.starts_with("/dev/disk/by-partlabel/")
        || p.starts_with("/dev/mapper/")
        || p.starts_with("/dev/md/")
        || model
            .volume_groups
            .iter()
            .any(|vg| p.starts_with(&format!("/dev/{vg}/")))
}

fn extra_device(model: &Model, fs: &Fs, d: &Word, out: &mut Vec<Finding>) {
    let p = d.text.as_str();
    let Some(dev) = model.devices.iter().find(|x| x.path == p) else {
        let hashed = model.hashed_labels
            && p.strip_prefix("/dev/disk/by-partlabel/")
                .is_some_and(|l| l.len() == 36 && l.bytes().all(|b| b.is_ascii_hexdigit()));
        if hashed {
            return;
        }
        let known: Vec<&str> = model
            .devices
            .iter()
            .filter(|x| !x.has_content)
            .map(|x| x.path.as_str())
            .collect();
        let suggestion = super::schema::did_you_mean(p, known.iter().copied());
        let fix = match suggestion {
            Some(s) => format!("did you mean `{s}`? write that path in extraArgs"),
            None => "declare the device in this configuration (a disk, or a partition or LUKS \
                     device without content) and name it here by the path disko gives it \
                     (`/dev/disk/by-partlabel/disk-<disk>-<partition>`, `/dev/mapper/<name>`)"
                .to_string(),
        };
        if disko_namespace(model, p) {
            out.push(Finding::at(
                "mkfs/unknown-device",
                Severity::Error,
                &d.loc,
                format!(
                    "extraArgs names the device `{p}`, which this configuration does not create: \
                     disko gives its partitions, LUKS and md devices such paths, and no entry \
                     has this one, so mkfs.btrfs finds no such device and the format fails"
                ),
                fix,
            ));
        } else {
            out.push(Finding::at(
                "mkfs/unknown-device",
                Severity::Warning,
                &d.loc,
                format!(
                    "extraArgs names the device `{p}`, which this configuration does not \
                     declare: disko neither wipes nor partitions it, and mkfs.btrfs makes it \
                     part of this filesystem as it is"
                ),
                fix,
            ));
        }
        return;
    };
    if dev.has_content {
        out.push(Finding::at(
            "mkfs/device-in-use",
            Severity::Error,
            &d.loc,
            format!(
                "extraArgs adds `{p}` ({}) to this btrfs filesystem, but the configuration also \
                 gives it content of its own (line {}): the two formats destroy each other \
                 (mkfs.btrfs refuses a device holding a filesystem unless forced, and then \
                 wipes it)",
                dev.what, dev.loc.line
            ),
            format!(
                "remove the `content` of {} (it only provides space here)",
                dev.what
            ),
        ));
    }
    if let (Some(here), Some(there)) = (&fs.disk, &dev.disk)
        && dev.created
        && there > here
    {
        out.push(Finding::at(
            "mkfs/device-order",
            Severity::Error,
            &d.loc,
            format!(
                "`{p}` is on disk `{there}`, but this filesystem is on disk `{here}`: disko \
                 formats disks in name order, so mkfs.btrfs runs before `{there}` is \
                 partitioned and the device does not exist yet"
            ),
            format!(
                "put the btrfs content on the disk whose name sorts last (`{there}`) and name \
                 the `{here}` device in its extraArgs, or rename the disks"
            ),
        ));
    }
}
