//! What a diagnosis knows about a host: every input read, parsed and kept with its text, and
//! one view of where data lives ([`Place`]) that joins the declared disko.nix with the live
//! mounts (the live state wins where both speak: it is what the kernel applies).

use super::evidence::{Evidence, Texts, whole};
use crate::disko::parse::{ParseOptions, infer_purpose, parse_file};
use crate::error::AdvisorError;
use crate::hardware::{DeviceClass, DiskInfo, HardwareProfile, facter};
use crate::layout::options::{ParsedMountOptions, parse_mount_options};
use crate::layout::{
    Atime, BtrfsFilesystem, CompressionProperty, FsOptions, Layout, Problem, Purpose,
};
use crate::metrics::bundle::{self, Bundle, MountState};
use crate::metrics::observe::{Category, Observation, Symptom, classify};
use crate::metrics::{btrfs_df, btrfs_usage, device_stats, df, iostat, iotop};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The inputs of a diagnosis; every one is optional.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// A nixos-facter report.
    pub facter: Option<PathBuf>,
    /// The current disko.nix.
    pub disko: Option<PathBuf>,
    /// How to read the disko.nix.
    pub disko_options: ParseOptions,
    /// `df` output.
    pub df: Option<PathBuf>,
    /// `btrfs filesystem usage` output.
    pub btrfs_usage: Option<PathBuf>,
    /// `iostat -x` output (text or JSON).
    pub iostat: Option<PathBuf>,
    /// `iotop -b` output.
    pub iotop: Option<PathBuf>,
    /// A `btrtune collect` bundle.
    pub bundle: Option<PathBuf>,
    /// Free-text observations.
    pub observations: Vec<String>,
    /// Named symptoms.
    pub symptoms: Vec<Symptom>,
}

/// One btrfs filesystem's space reports.
#[derive(Clone, Debug, Default)]
pub struct FsState {
    /// A mount point of it (or the input's name).
    pub name: String,
    /// `btrfs filesystem usage -b` and its file.
    pub usage: Option<(btrfs_usage::FsUsage, String)>,
    /// `btrfs filesystem df -b` and its file.
    pub df: Option<(btrfs_df::FsDf, String)>,
    /// `btrfs device stats` and its file.
    pub stats: Option<(Vec<device_stats::DeviceStats>, String)>,
    /// `btrfs subvolume list -t` lines and its file.
    pub subvolumes: Option<(Vec<String>, String)>,
    /// Quotas on (`Some(true)`), off, or unknown; with the evidence.
    pub qgroups: Option<(bool, Evidence)>,
    /// btrfs sysfs knobs read (`bdi/read_ahead_kb`): value and evidence.
    pub sysfs: BTreeMap<String, (String, Evidence)>,
}

/// Where some data lives: a mounted subvolume (declared, live or both).
#[derive(Clone, Debug)]
pub struct Place {
    /// Mount point.
    pub mountpoint: String,
    /// Subvolume path below the top level (`@home`), `None` for the top level.
    pub subvolume: Option<String>,
    /// What it holds.
    pub purpose: Purpose,
    /// NOCOW on its root (live `lsattr` when known, else declared).
    pub nocow: Option<bool>,
    /// The compression property (`zstd`, `none`) when known.
    pub compression: Option<String>,
    /// Access-time mode as mounted (`None`: the kernel default, relatime).
    pub atime: Option<Atime>,
    /// Snapshots of it that exist or are configured.
    pub snapshots: usize,
    /// Whether it is snapshotted (snapshots exist or a snapshot subvolume is declared for it).
    pub snapshotted: bool,
    /// Swap files in it (declared) or a swap file seen live.
    pub has_swapfile: bool,
    /// The disko.nix line that declares it.
    pub declared_at: Option<Evidence>,
    /// The findmnt line that shows it mounted.
    pub live_at: Option<Evidence>,
    /// The lsattr line of its root.
    pub lsattr_at: Option<Evidence>,
    /// The snapshot list line that shows a snapshot of it.
    pub snapshot_at: Option<Evidence>,
    /// Filesystem-wide options written on this mount that the kernel ignores (declared).
    pub ignored: Vec<String>,
    /// The block device holding it (kernel name, from the live mount), if known.
    pub device: Option<String>,
    /// The class of the device holding it (see [`Host::class_of_place`]).
    pub class: DeviceClass,
}

/// What kind of work runs on the host, and what says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Work {
    /// A database server.
    Database,
    /// Containers (Podman, Docker).
    Containers,
    /// Builds and development.
    Development,
    /// Virtual machines.
    VirtualMachines,
}

/// Block queue settings: device → knob → value.
pub type Queues = BTreeMap<String, BTreeMap<String, String>>;

/// Everything known about the host.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// Input texts, for evidence lines.
    pub texts: Texts,
    /// The hardware, and the file it came from.
    pub hardware: Option<(HardwareProfile, String)>,
    /// The class of the device holding the btrfs data.
    pub class: DeviceClass,
    /// How the class was decided.
    pub class_basis: String,
    /// Evidence for the class.
    pub class_at: Option<Evidence>,
    /// The declared layout and its file.
    pub declared: Option<(Layout, String)>,
    /// What the disko parser warned about.
    pub declared_warnings: Vec<String>,
    /// The layout as it is: declared, corrected by the live state, or built from live mounts.
    pub current: Option<Layout>,
    /// Live btrfs mounts and the findmnt file.
    pub mounts: Vec<MountState>,
    /// The findmnt file.
    pub mounts_file: Option<String>,
    /// Filesystem-wide options as applied (live) or as the first mount declares them.
    pub fs_options: Option<(FsOptions, Evidence)>,
    /// The options written on the first mount (declared), with their line.
    pub declared_fs_options: Option<(FsOptions, Evidence)>,
    /// The first mount's mount point (declared order, or live).
    pub first_mount: Option<String>,
    /// Where data lives.
    pub places: Vec<Place>,
    /// Space reports per filesystem.
    pub filesystems: Vec<FsState>,
    /// `df`.
    pub df: Option<(df::DfReport, String)>,
    /// `iostat`.
    pub iostat: Option<(iostat::IostatReport, String)>,
    /// `iotop`.
    pub iotop: Option<(iotop::IotopReport, String)>,
    /// `/proc/pressure/io` file, when read.
    pub pressure: Option<(crate::metrics::psi::Pressure, String)>,
    /// vm sysctls and their file.
    pub sysctls: Option<(BTreeMap<String, String>, String)>,
    /// Block queue settings per device and their file.
    pub queues: Option<(Queues, String)>,
    /// Observations (free text and `--symptom`).
    pub observations: Vec<Observation>,
    /// Work found on the host, with evidence.
    pub work: BTreeMap<Work, Vec<Evidence>>,
    /// Inputs that are missing or unreadable, and what that costs.
    pub missing: Vec<String>,
}

fn read_text(p: &Path) -> Result<String, AdvisorError> {
    std::fs::read_to_string(p).map_err(|e| AdvisorError::Io {
        path: p.to_path_buf(),
        source: e,
    })
}

impl Host {
    /// Reads every input. A file named on the command line that cannot be read or parsed is
    /// an error; a bundle file that cannot be parsed is reported in [`Host::missing`].
    pub fn load(inputs: &Inputs) -> Result<Host, AdvisorError> {
        let mut h = Host::default();
        let bundle = match &inputs.bundle {
            Some(dir) => Some(bundle::read(dir)?),
            None => None,
        };
        if let Some(b) = &bundle {
            h.take_bundle(b);
        }
        // Files named on the command line override the bundle's.
        if let Some(p) = &inputs.df {
            let (t, o) = (read_text(p)?, p.display().to_string());
            h.df = Some((df::parse(&t, &o)?, o.clone()));
            h.texts.insert(&o, t);
        }
        if let Some(p) = &inputs.btrfs_usage {
            let (t, o) = (read_text(p)?, p.display().to_string());
            let u = btrfs_usage::parse(&t, &o)?;
            h.texts.insert(&o, t);
            h.filesystems
                .retain(|f| f.usage.is_some() || f.df.is_some());
            h.filesystems.insert(
                0,
                FsState {
                    name: o.clone(),
                    usage: Some((u, o)),
                    ..FsState::default()
                },
            );
        }
        if let Some(p) = &inputs.iostat {
            let (t, o) = (read_text(p)?, p.display().to_string());
            h.iostat = Some((iostat::parse(&t, &o)?, o.clone()));
            h.texts.insert(&o, t);
        }
        if let Some(p) = &inputs.iotop {
            let (t, o) = (read_text(p)?, p.display().to_string());
            h.iotop = Some((iotop::parse(&t, &o)?, o.clone()));
            h.texts.insert(&o, t);
        }
        let facter_path = inputs.facter.clone().or_else(|| {
            bundle
                .as_ref()
                .and_then(|b| probe_file(b, "nixos-facter"))
                .map(PathBuf::from)
        });
        if let Some(p) = facter_path {
            let (t, o) = (read_text(&p)?, p.display().to_string());
            h.hardware = Some((facter::parse(&t, &o)?, o.clone()));
            h.texts.insert(&o, t);
        }
        let disko_path = inputs
            .disko
            .clone()
            .or_else(|| bundle.as_ref()?.disko_file.as_ref().map(PathBuf::from));
        if let Some(p) = disko_path {
            let parsed = parse_file(&p, &inputs.disko_options)?;
            let o = p.display().to_string();
            h.texts.insert(&o, read_text(&p)?);
            h.declared_warnings = parsed.warnings.iter().map(|w| w.to_string()).collect();
            h.declared = Some((parsed.layout, o));
        }
        h.observations = inputs
            .observations
            .iter()
            .map(|t| classify(t))
            .chain(inputs.symptoms.iter().map(|s| s.observation()))
            .collect();
        // A bundle probe that failed does not matter when the file was given directly.
        let (has_hw, has_disko) = (h.hardware.is_some(), h.declared.is_some());
        h.missing.retain(|m| {
            let known = (has_hw && m.starts_with("nixos-facter"))
                || (has_disko && m.starts_with("disko config"));
            !known
        });
        h.decide_class();
        h.build_places();
        h.find_work();
        h.note_missing(inputs);
        Ok(h)
    }

    fn take_bundle(&mut self, b: &Bundle) {
        let dir = Path::new(&b.dir);
        let file_of = |name: &str| probe_file(b, name);
        let keep = |texts: &mut Texts, f: &str| {
            if !texts.has(f)
                && let Ok(t) = std::fs::read_to_string(f)
            {
                texts.insert(f, t);
            }
        };
        for p in &b.manifest.probes {
            if let Some(f) = &p.file {
                keep(&mut self.texts, &dir.join(f).display().to_string());
            }
        }
        for m in &b.mounts {
            let s = bundle::slug(&m.target);
            for f in [
                format!("lsattr-{s}.txt"),
                format!("property-compression-{s}.txt"),
            ] {
                let p = dir.join(&f);
                if p.is_file() {
                    keep(&mut self.texts, &p.display().to_string());
                }
            }
        }
        self.df = b.df.clone().zip(file_of("df"));
        self.mounts = b.mounts.clone();
        self.mounts_file = file_of("findmnt");
        self.iostat = b
            .iostat
            .clone()
            .zip(file_of("iostat json").or_else(|| file_of("iostat")));
        self.iotop = b.iotop.clone().zip(file_of("iotop"));
        self.pressure = b.pressure.clone().zip(file_of("pressure io"));
        if let Some(f) = file_of("sysctls") {
            self.sysctls = Some((b.sysctls.clone(), f));
        }
        if let Some(f) = file_of("I/O schedulers") {
            self.queues = Some((b.block_queues.clone(), f));
        }
        let mut seen_uuid = BTreeSet::new();
        for (mp, r) in &b.filesystems {
            // Probes run per mount: keep one mount per filesystem.
            let uuid = b
                .mounts
                .iter()
                .find(|m| &m.target == mp)
                .map(|m| m.uuid.clone());
            if let Some(u) = uuid.filter(|u| !u.is_empty())
                && !seen_uuid.insert(u)
            {
                continue;
            }
            let mut fs = FsState {
                name: mp.clone(),
                usage: r.usage.clone().zip(file_of(&format!("btrfs usage {mp}"))),
                df: r.df.clone().zip(file_of(&format!("btrfs df {mp}"))),
                stats: r
                    .device_stats
                    .clone()
                    .zip(file_of(&format!("btrfs device stats {mp}"))),
                subvolumes: file_of(&format!("btrfs subvolume list {mp}"))
                    .map(|f| (r.subvolumes.clone(), f)),
                ..FsState::default()
            };
            let qname = format!("btrfs qgroups {mp}");
            if let Some(on) = r.qgroups_enabled {
                let ev = match file_of(&qname) {
                    Some(f) => self.texts.find_or(&f, "qgroupid", "quotas enabled"),
                    None => whole(
                        &dir.join("manifest.json").display().to_string(),
                        format!("{qname}: quotas not enabled"),
                    ),
                };
                fs.qgroups = Some((on, ev));
            }
            for (knob, v) in &r.sysfs {
                let f = b
                    .manifest
                    .probes
                    .iter()
                    .find(|p| p.name == format!("btrfs sysfs {knob} {mp}"))
                    .and_then(|p| p.file.as_ref())
                    .map(|f| dir.join(f).display().to_string())
                    .unwrap_or_else(|| b.dir.clone());
                fs.sysfs.insert(
                    knob.clone(),
                    (v.clone(), whole(&f, format!("{knob} = {v}"))),
                );
            }
            self.filesystems.push(fs);
        }
        for p in &b.missing {
            self.missing.push(format!(
                "{} ({}): {}",
                p.name,
                p.source,
                p.reason.as_deref().unwrap_or(&p.status)
            ));
        }
        for u in &b.unreadable {
            self.missing.push(format!("unreadable: {u}"));
        }
    }

    /// The device class of the btrfs data: the facter disk matching the live device, else
    /// the facter system disk; the rotational flag when there is no report.
    fn decide_class(&mut self) {
        let live_dev = self.mounts.first().map(|m| kernel_name(&m.source));
        if let Some((hw, file)) = &self.hardware {
            let matched = live_dev
                .as_deref()
                .and_then(|d| self.facter_disk_of(d))
                .cloned();
            // Else the disk the disko.nix puts btrfs on, by path or kernel name.
            let declared = self.declared.as_ref().and_then(|(l, _)| {
                l.btrfs_filesystems()
                    .into_iter()
                    .find_map(|(disk, _)| self.facter_disk_declared(&disk.device))
                    .cloned()
            });
            let (disk, basis) = match (matched, declared) {
                (Some(d), _) => (Some(d), "the facter disk holding the mounted btrfs"),
                (None, Some(d)) => (Some(d), "the facter disk the disko.nix puts btrfs on"),
                (None, None) => (
                    hw.system_disk().cloned(),
                    "the facter report's system disk (no live device matched a facter disk)",
                ),
            };
            if let Some(d) = disk {
                self.class = d.class;
                self.class_basis = format!("{basis}: {} ({})", d.device, d.class_reason);
                let needle = d
                    .model
                    .clone()
                    .or_else(|| d.kernel_name.clone())
                    .unwrap_or_else(|| d.device.clone());
                self.class_at = Some(self.texts.find_or(
                    file,
                    &needle,
                    &format!("{}: {}", d.device, d.class),
                ));
                return;
            }
        }
        if let (Some(name), Some((_, f))) = (&live_dev, &self.queues) {
            if let Some(r) = self
                .queue_of(name)
                .and_then(|(_, k)| k.get("rotational"))
                .cloned()
            {
                self.class = if r == "1" && !name.starts_with("loop") {
                    DeviceClass::Hdd
                } else {
                    DeviceClass::Unknown
                };
                self.class_basis = format!("{name} rotational={r} (no facter report)");
                self.class_at = self.texts.find(f, &format!("{name} rotational"));
                return;
            }
        }
        self.class_basis = "unknown: no facter report and no live device".into();
    }

    fn build_places(&mut self) {
        // Declared.
        if let Some((layout, file)) = &self.declared {
            // What the kernel ignores, as the layout check finds it (options the first mount
            // has and this one lacks are not "asked for", so `no ...` entries are left out).
            let ignored: Vec<(String, Vec<String>)> = layout
                .problems()
                .into_iter()
                .filter_map(|p| match p {
                    Problem::IgnoredFsOptions {
                        mountpoint,
                        options,
                        ..
                    } => {
                        let mut asked: Vec<String> = options
                            .into_iter()
                            .filter(|o| !o.starts_with("no "))
                            .collect();
                        asked.sort();
                        Some((mountpoint, asked))
                    }
                    _ => None,
                })
                .collect();
            for (_, fs) in layout.btrfs_filesystems() {
                let first = fs.first_mount().map(str::to_string);
                if self.first_mount.is_none() {
                    self.first_mount = first.clone();
                    let at = fs
                        .why
                        .get("options")
                        .and_then(|w| source_line(&w.refs))
                        .and_then(|l| {
                            self.texts
                                .find_from(file, l, |x| x.contains("mountOptions"))
                        })
                        .or_else(|| {
                            first
                                .as_deref()
                                .and_then(|mp| self.texts.find(file, &format!("\"{mp}\"")))
                        })
                        .unwrap_or_else(|| whole(file, "first mount"));
                    self.declared_fs_options = Some((fs.options.clone(), at));
                }
                let snapshot_subvol = fs
                    .subvolumes
                    .iter()
                    .any(|s| s.data.purpose == Purpose::Snapshots);
                for sv in &fs.subvolumes {
                    let Some(m) = &sv.mount else { continue };
                    let at_line = sv
                        .data
                        .why
                        .values()
                        .find_map(|w| source_line(&w.refs))
                        .unwrap_or(1);
                    let declared_at = self
                        .texts
                        .find_from(file, at_line, |l| l.contains(&format!("\"{}\"", sv.name)))
                        .or_else(|| self.texts.find(file, &format!("\"{}\"", m.mountpoint)));
                    let ignored = ignored
                        .iter()
                        .find(|(mp, _)| *mp == m.mountpoint)
                        .map(|(_, o)| o.clone())
                        .unwrap_or_default();
                    let snapshotted = sv.data.snapshots.is_on()
                        || (snapshot_subvol && declared_snapshot_target(fs, &sv.name));
                    self.places.push(Place {
                        mountpoint: m.mountpoint.clone(),
                        subvolume: Some(sv.name.clone()),
                        purpose: sv.data.purpose,
                        nocow: Some(sv.data.nocow || fs.options.nodatacow),
                        compression: sv.data.compression.map(|c| c.as_str().to_string()),
                        atime: m.vfs.atime,
                        snapshots: 0,
                        snapshotted,
                        has_swapfile: !sv.swapfiles.is_empty(),
                        declared_at,
                        live_at: None,
                        lsattr_at: None,
                        snapshot_at: None,
                        ignored,
                        device: None,
                        class: DeviceClass::Unknown,
                    });
                }
            }
        }
        // Live: what the kernel applies wins.
        let mounts = self.mounts.clone();
        for m in &mounts {
            let live_at = self
                .mounts_file
                .as_ref()
                .and_then(|f| self.texts.find(f, &format!("\"target\": \"{}\"", m.target)));
            let parsed: ParsedMountOptions = parse_mount_options(&m.options).unwrap_or_default();
            let subvol = parsed
                .subvol
                .as_deref()
                .map(|s| s.trim_start_matches('/').to_string())
                .filter(|s| !s.is_empty());
            if self.fs_options.is_none() {
                let ev = live_at.clone().unwrap_or_else(|| {
                    whole(self.mounts_file.as_deref().unwrap_or("findmnt"), &m.target)
                });
                self.fs_options = Some((parsed.fs.clone(), ev));
            }
            let lsattr_at = self.lsattr_evidence(&m.target);
            let idx = self.places.iter().position(|p| p.mountpoint == m.target);
            let place = match idx {
                Some(i) => &mut self.places[i],
                None => {
                    let name = subvol.clone().unwrap_or_default();
                    self.places.push(Place {
                        mountpoint: m.target.clone(),
                        subvolume: subvol.clone(),
                        purpose: infer_purpose(&name, Some(&m.target), false),
                        nocow: None,
                        compression: None,
                        atime: None,
                        snapshots: 0,
                        snapshotted: false,
                        has_swapfile: false,
                        declared_at: None,
                        live_at: None,
                        lsattr_at: None,
                        snapshot_at: None,
                        ignored: vec![],
                        device: None,
                        class: DeviceClass::Unknown,
                    });
                    self.places.last_mut().expect("just pushed")
                }
            };
            place.live_at = live_at;
            place.device = Some(kernel_name(&m.source)).filter(|d| !d.is_empty());
            place.atime = parsed.vfs.atime.or(Some(Atime::Relatime));
            if m.nocow.is_some() {
                place.nocow = m.nocow.map(|c| c || parsed.fs.nodatacow);
                place.lsattr_at = lsattr_at;
            }
            if m.compression.is_some() {
                place.compression = m.compression.clone().filter(|c| c != "none");
            }
        }
        if self.first_mount.is_none() {
            self.first_mount = mounts
                .iter()
                .map(|m| m.target.clone())
                .min_by_key(|t| (crate::layout::mount_depth(t), t.clone()));
        }
        if self.fs_options.is_none()
            && let Some((o, at)) = &self.declared_fs_options
        {
            self.fs_options = Some((o.clone(), at.clone()));
        }
        self.count_snapshots();
        for i in 0..self.places.len() {
            self.places[i].class = self.class_of_place(&self.places[i]);
        }
        self.current = self.current_layout();
    }

    /// The class of the device holding a place: the facter disk of its live device's kernel
    /// name, else the facter disk the disko.nix puts its filesystem on, else an HDD when the
    /// device says `rotational=1` on a machine that has HDDs (the flag lies on virtual and
    /// loop devices, §1.2), else the host's class.
    pub fn class_of_place(&self, p: &Place) -> DeviceClass {
        if let Some(d) = p.device.as_deref().and_then(|d| self.facter_disk_of(d)) {
            return d.class;
        }
        if let Some((l, _)) = &self.declared {
            let disk = l.btrfs_filesystems().into_iter().find_map(|(disk, fs)| {
                fs.subvolumes
                    .iter()
                    .any(|s| {
                        s.mount
                            .as_ref()
                            .is_some_and(|m| m.mountpoint == p.mountpoint)
                    })
                    .then_some(disk)
            });
            if let Some(k) = disk.and_then(|d| self.facter_disk_declared(&d.device)) {
                return k.class;
            }
        }
        if let Some(dev) = &p.device {
            return self.class_of_device(dev);
        }
        self.class
    }

    /// The facter disk whose kernel name `dev` (`nvme0n1p2`) is, or is a partition of.
    fn facter_disk_of(&self, dev: &str) -> Option<&DiskInfo> {
        let (hw, _) = self.hardware.as_ref()?;
        hw.disks.iter().find(|d| {
            d.kernel_name.as_deref().is_some_and(|k| {
                let k = k.trim_start_matches("/dev/");
                !k.is_empty() && dev.starts_with(k)
            })
        })
    }

    /// The facter disk a disko.nix `device` names (a by-id path or a kernel name).
    fn facter_disk_declared(&self, device: &str) -> Option<&DiskInfo> {
        let (hw, _) = self.hardware.as_ref()?;
        hw.disks
            .iter()
            .find(|k| k.device == device || k.kernel_name.as_deref() == Some(device))
    }

    /// The block queue settings of `dev`'s disk (`nvme0n1` for `nvme0n1p2`): its name and knobs.
    pub fn queue_of(&self, dev: &str) -> Option<(&String, &BTreeMap<String, String>)> {
        let (q, _) = self.queues.as_ref()?;
        q.iter()
            .filter(|(n, _)| dev.starts_with(n.as_str()))
            .max_by_key(|(n, _)| n.len())
    }

    /// The class of a block device by kernel name: a place on it, the facter disk of that
    /// name, the rotational flag on a machine with HDDs, else the host's class.
    pub fn class_of_device(&self, dev: &str) -> DeviceClass {
        if let Some(p) = self
            .places
            .iter()
            .find(|p| p.device.as_deref() == Some(dev) && p.class != DeviceClass::Unknown)
        {
            return p.class;
        }
        if let Some(d) = self.facter_disk_of(dev) {
            return d.class;
        }
        let has_hdd = self
            .hardware
            .as_ref()
            .is_some_and(|(hw, _)| hw.disks.iter().any(|d| d.class == DeviceClass::Hdd));
        let rotational = self.queue_of(dev).and_then(|(_, k)| k.get("rotational"));
        if rotational.map(String::as_str) == Some("1")
            && (has_hdd || self.class == DeviceClass::Unknown)
        {
            return DeviceClass::Hdd;
        }
        self.class
    }

    /// Kernel names of the block devices behind the btrfs filesystems (`loop0`,
    /// `nvme0n1p2`): mount sources and every device in the usage reports.
    pub fn backing_devices(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |d: &str| {
            let d = kernel_name(d);
            if !d.is_empty() && !d.starts_with('<') && !out.contains(&d) {
                out.push(d);
            }
        };
        for m in &self.mounts {
            add(&m.source);
        }
        for f in &self.filesystems {
            if let Some((u, _)) = &f.usage {
                for d in &u.unallocated {
                    add(&d.device);
                }
            }
        }
        out
    }

    fn lsattr_evidence(&self, target: &str) -> Option<Evidence> {
        let suffix = format!("lsattr-{}.txt", bundle::slug(target));
        let f = self
            .texts
            .names()
            .into_iter()
            .find(|f| f.ends_with(&suffix))?;
        self.texts.find(&f, target)
    }

    /// Counts live snapshots per subvolume from `btrfs subvolume list` paths (snapper's
    /// `<subvol>/.snapshots/N/snapshot`, a `@snapshots` subvolume for `/`, btrbk's
    /// `<name>.<timestamp>`).
    fn count_snapshots(&mut self) {
        let lists: Vec<(Vec<String>, String)> = self
            .filesystems
            .iter()
            .filter_map(|f| f.subvolumes.clone())
            .collect();
        let root_sub = self
            .places
            .iter()
            .find(|p| p.mountpoint == "/")
            .and_then(|p| p.subvolume.clone());
        for (lines, file) in lists {
            for (i, l) in lines.iter().enumerate() {
                let Some(path) = l.split_whitespace().last() else {
                    continue;
                };
                let Some(src) = snapshot_source(path, root_sub.as_deref(), &self.places) else {
                    continue;
                };
                if let Some(p) = self
                    .places
                    .iter_mut()
                    .find(|p| p.subvolume.as_deref() == Some(src.as_str()))
                {
                    p.snapshots += 1;
                    p.snapshotted = true;
                    if p.snapshot_at.is_none() {
                        p.snapshot_at = Some(Evidence {
                            file: file.clone(),
                            line: Some(i + 1),
                            text: l.trim().to_string(),
                        });
                    }
                }
            }
        }
    }

    /// The layout as it is: the declared one with the live attributes and options, or one
    /// built from the live mounts.
    fn current_layout(&self) -> Option<Layout> {
        let mut layout = match &self.declared {
            Some((l, _)) => l.clone(),
            None if !self.places.is_empty() => live_layout(self),
            None => return None,
        };
        let live_fs = self
            .mounts
            .first()
            .and_then(|m| parse_mount_options(&m.options).ok())
            .map(|p| p.fs);
        for fs in layout.btrfs_filesystems_mut() {
            if let Some(o) = &live_fs {
                fs.options = o.clone();
            }
            for sv in &mut fs.subvolumes {
                let Some(m) = &mut sv.mount else { continue };
                if let Some(p) = self.places.iter().find(|p| p.mountpoint == m.mountpoint) {
                    if let Some(c) = p.nocow {
                        sv.data.nocow = c;
                    }
                    if let Some(c) = &p.compression {
                        sv.data.compression =
                            CompressionProperty::from_name(c.split(':').next().unwrap_or(c));
                    }
                    if p.live_at.is_some() {
                        m.vfs.atime = p.atime;
                    }
                    if p.snapshotted && !sv.data.snapshots.is_on() {
                        sv.data.snapshots = crate::layout::Snapshots::Timeline {
                            hourly: 0,
                            daily: p.snapshots.max(1) as u32,
                            weekly: 0,
                            monthly: 0,
                            consistency: crate::layout::Consistency::Any,
                        };
                    }
                }
            }
        }
        Some(layout)
    }

    fn find_work(&mut self) {
        let add = |w: Work, e: Evidence, work: &mut BTreeMap<Work, Vec<Evidence>>| {
            work.entry(w).or_default().push(e);
        };
        let mut work = BTreeMap::new();
        for p in &self.places {
            let w = match p.purpose {
                Purpose::Database => Work::Database,
                Purpose::ContainerStorage | Purpose::ContainerVolumes => Work::Containers,
                Purpose::VmImages => Work::VirtualMachines,
                Purpose::BuildOutput | Purpose::Projects => Work::Development,
                _ => continue,
            };
            if let Some(e) = p.declared_at.clone().or_else(|| p.live_at.clone()) {
                add(w, e, &mut work);
            }
        }
        if let Some((r, file)) = &self.iotop {
            const PROCS: [(&str, Work); 12] = [
                ("postgres", Work::Database),
                ("mysqld", Work::Database),
                ("mariadbd", Work::Database),
                ("pgbench", Work::Database),
                ("podman", Work::Containers),
                ("containerd", Work::Containers),
                ("dockerd", Work::Containers),
                ("conmon", Work::Containers),
                ("rustc", Work::Development),
                ("cargo", Work::Development),
                ("nix-daemon", Work::Development),
                ("qemu", Work::VirtualMachines),
            ];
            let mut seen = BTreeSet::new();
            for it in &r.iterations {
                for t in &it.threads {
                    for (name, w) in PROCS {
                        if t.command.contains(name) && seen.insert(w) {
                            add(
                                w,
                                self.texts.find_or(file, &t.command, &t.command),
                                &mut work,
                            );
                        }
                    }
                }
            }
        }
        for o in &self.observations {
            for m in &o.matches {
                let w = match m.category {
                    Category::Database => Work::Database,
                    Category::Containers => Work::Containers,
                    Category::Development => Work::Development,
                    _ => continue,
                };
                add(w, whole("observation", o.text.clone()), &mut work);
            }
        }
        self.work = work;
    }

    fn note_missing(&mut self, inputs: &Inputs) {
        let mut say = |cond: bool, s: &str| {
            if cond {
                self.missing.push(s.to_string());
            }
        };
        say(
            self.hardware.is_none(),
            "no facter.json: the device class is not known, hardware rules cannot fire and \
             projections use no class model",
        );
        say(
            self.declared.is_none(),
            "no disko.nix: what the configuration asks for (and which options it writes that \
             the kernel ignores) is not known; the live mounts stand in",
        );
        say(
            self.mounts.is_empty(),
            "no live mounts (findmnt, from a bundle): attributes and options as the kernel \
             applies them are not known, declared ones stand in",
        );
        say(
            !self.filesystems.iter().any(|f| f.usage.is_some()),
            "no `btrfs filesystem usage`: space rules (metadata, unallocated, balance) cannot fire",
        );
        say(
            self.iostat.is_none(),
            "no iostat: device saturation and latency cannot be judged",
        );
        say(
            self.iotop.is_none(),
            "no iotop: which processes do the I/O is not known",
        );
        say(
            inputs.observations.is_empty() && inputs.symptoms.is_empty(),
            "no observations: findings are not tied to what feels slow",
        );
    }
}

/// Whether data at `path` lives under the mount point `mp` (`/` holds everything).
pub(crate) fn holds(mp: &str, path: &str) -> bool {
    mp == "/" || path == mp || path.starts_with(&format!("{}/", mp.trim_end_matches('/')))
}

/// `loop0` for `/dev/loop0[/@root]`.
pub(crate) fn kernel_name(source: &str) -> String {
    source
        .split('[')
        .next()
        .unwrap_or("")
        .trim_start_matches("/dev/")
        .to_string()
}

fn probe_file(b: &Bundle, name: &str) -> Option<String> {
    b.manifest
        .probes
        .iter()
        .find(|p| p.name == name && p.status == "ok")
        .and_then(|p| p.file.as_ref())
        .map(|f| Path::new(&b.dir).join(f).display().to_string())
}

/// The line of the first `Source` reference (`file:line:col`).
fn source_line(refs: &[crate::reason::Ref]) -> Option<usize> {
    refs.iter().find_map(|r| match r {
        crate::reason::Ref::Source { at } => at.rsplit(':').nth(1)?.parse().ok(),
        _ => None,
    })
}

fn declared_snapshot_target(fs: &BtrfsFilesystem, name: &str) -> bool {
    // A `.snapshots` subvolume nested in `name`, or a top-level `@snapshots` for `/`.
    fs.subvolumes.iter().any(|s| {
        s.data.purpose == Purpose::Snapshots
            && (s.name.starts_with(&format!("{name}/"))
                || (s
                    .mount
                    .as_ref()
                    .is_some_and(|m| m.mountpoint == "/.snapshots")
                    && fs
                        .subvolume(name)
                        .and_then(|x| x.mount.as_ref())
                        .is_some_and(|m| m.mountpoint == "/")))
    })
}

/// The subvolume a snapshot path was taken of, if the path looks like a snapshot.
fn snapshot_source(path: &str, root_sub: Option<&str>, places: &[Place]) -> Option<String> {
    let path = path
        .trim_start_matches("<FS_TREE>/")
        .trim_start_matches('/');
    if let Some((src, rest)) = path.split_once("/.snapshots/") {
        return rest.ends_with("snapshot").then(|| src.to_string());
    }
    for prefix in [".snapshots/", "@snapshots/", "snapshots/", "@.snapshots/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if rest.ends_with("/snapshot") {
                return root_sub.map(str::to_string);
            }
            // btrbk/hand-made names: `<subvol>.<date>` or `<subvol>-<date>`.
            let base = rest.rsplit('/').next().unwrap_or(rest);
            return places
                .iter()
                .filter_map(|p| p.subvolume.as_deref())
                .filter(|s| {
                    base.starts_with(&format!("{s}.")) || base.starts_with(&format!("{s}-"))
                })
                .max_by_key(|s| s.len())
                .map(str::to_string);
        }
    }
    None
}

/// A layout built from the live mounts alone: one disk, one btrfs filesystem, a subvolume per
/// mounted subvolume.
fn live_layout(h: &Host) -> Layout {
    use crate::layout::{
        Content, DataPolicy, Disk, DiskContent, DiskKind, SubvolMount, Subvolume, SystemSettings,
        TopLevelMount, VfsOptions,
    };
    let device = h
        .mounts
        .first()
        .map(|m| format!("/dev/{}", kernel_name(&m.source)))
        .unwrap_or_else(|| "/dev/unknown".into());
    let mut fs = BtrfsFilesystem {
        mkfs: Default::default(),
        options: h
            .fs_options
            .as_ref()
            .map(|(o, _)| o.clone())
            .unwrap_or_default(),
        top_level: None,
        subvolumes: vec![],
        home_subvolumes: vec![],
        hooks: Default::default(),
        why: Default::default(),
    };
    for p in &h.places {
        let vfs = VfsOptions {
            atime: p.atime,
            ..VfsOptions::default()
        };
        match &p.subvolume {
            None => {
                fs.top_level = Some(TopLevelMount {
                    mountpoint: p.mountpoint.clone(),
                    vfs,
                    fs_override: None,
                    swapfiles: vec![],
                })
            }
            Some(name) => {
                let mut data = DataPolicy::new(p.purpose);
                data.nocow = p.nocow.unwrap_or(false);
                fs.subvolumes.push(Subvolume {
                    name: name.clone(),
                    mount: Some(SubvolMount {
                        mountpoint: p.mountpoint.clone(),
                        vfs,
                        fs_override: None,
                    }),
                    data,
                    swapfiles: vec![],
                    extra_args: vec![],
                })
            }
        }
    }
    fs.subvolumes.sort_by(|a, b| a.name.cmp(&b.name));
    Layout {
        schema_version: crate::layout::SCHEMA_VERSION,
        disks: vec![Disk {
            name: "main".into(),
            kind: DiskKind::Disk,
            device,
            class: Some(h.class),
            content: DiskContent::Whole {
                content: Content::Btrfs(fs),
            },
            why: None,
        }],
        nodev: vec![],
        system: SystemSettings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(sub: &str, mp: &str) -> Place {
        Place {
            mountpoint: mp.into(),
            subvolume: Some(sub.into()),
            purpose: Purpose::Other,
            nocow: None,
            compression: None,
            atime: None,
            snapshots: 0,
            snapshotted: false,
            has_swapfile: false,
            declared_at: None,
            live_at: None,
            lsattr_at: None,
            snapshot_at: None,
            ignored: vec![],
            device: None,
            class: DeviceClass::Unknown,
        }
    }

    #[test]
    fn snapshot_paths_name_their_source() {
        let places = [place("@root", "/"), place("@home", "/home")];
        let src = |p| snapshot_source(p, Some("@root"), &places);
        assert_eq!(
            src("@home/.snapshots/12/snapshot").as_deref(),
            Some("@home")
        );
        assert_eq!(src(".snapshots/3/snapshot").as_deref(), Some("@root"));
        assert_eq!(src("@snapshots/3/snapshot").as_deref(), Some("@root"));
        assert_eq!(
            src("snapshots/@home.20261121T0100").as_deref(),
            Some("@home")
        );
        assert_eq!(src("@home/.snapshots").as_deref(), None);
        assert_eq!(src("@home"), None);
        assert_eq!(src("@home/jan/.cache"), None);
    }

    #[test]
    fn ignored_options_are_those_the_first_mount_lacks() {
        let dir = std::env::temp_dir().join(format!("btrtune-ignored-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("disko.nix");
        std::fs::write(
            &f,
            r#"{ disko.devices.disk.d = { type = "disk"; device = "/dev/vda"; content = {
                 type = "btrfs"; subvolumes = {
                   "@root" = { mountpoint = "/"; mountOptions = [ "noatime" ]; };
                   "@home" = { mountpoint = "/home"; mountOptions = [ "compress=zstd" "autodefrag" ]; };
                   "@nix" = { mountpoint = "/nix"; mountOptions = [ "noatime" ]; }; }; }; }; }"#,
        )
        .expect("write");
        let h = Host::load(&Inputs {
            disko: Some(f),
            ..Inputs::default()
        })
        .expect("loads");
        std::fs::remove_dir_all(&dir).ok();
        let ignored = |mp: &str| {
            h.places
                .iter()
                .find(|p| p.mountpoint == mp)
                .map(|p| p.ignored.clone())
                .expect("place")
        };
        assert_eq!(ignored("/home"), ["autodefrag", "compress=zstd"]);
        assert!(ignored("/nix").is_empty());
        assert!(ignored("/").is_empty());
    }
}
