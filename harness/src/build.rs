//! Build a [`Layout`] for real on a device, and check the result against it.
//!
//! The harness builds the layout's (first) btrfs filesystem on the whole device: partitions,
//! the ESP and LUKS are left out, since they are not what is measured. Subvolumes are created,
//! NOCOW set with `chattr +C` on the empty subvolume roots, compression properties set with
//! `btrfs property set`, per-user subvolumes made under `/home/bench`, and every subvolume with
//! a mount point mounted below the run's root directory with its per-mount options. A plain
//! filesystem (ext4, xfs: the outside reference) or the raw device can be built too.
//!
//! [`verify`] reads back `/proc/self/mountinfo`, `lsattr` and `btrfs property get`: a
//! mismatch is an error, because the benchmark would otherwise measure the wrong thing.

use crate::error::HarnessError;
use crate::state::State;
use crate::sys::mount::{MountInfo, mountinfo, vfs_flags};
use crate::sys::{Cmd, Mount};
use btrtune_advisor::layout::{
    Algorithm, Atime, BtrfsFilesystem, CompressionProperty, Content, DiskContent, FsOptions,
    Layout, PlainFilesystem, VfsOptions, options::Discard,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What of a layout the harness builds.
#[derive(Clone, Debug, PartialEq)]
pub enum Buildable {
    /// A btrfs filesystem (boxed: it is much larger than the other variants).
    Btrfs(Box<BtrfsFilesystem>),
    /// Another filesystem, mounted at its mount point.
    Plain(PlainFilesystem),
    /// Nothing: workloads run on the raw device.
    Raw,
}

/// The part of a layout to build: its first btrfs filesystem, else its first mounted plain
/// filesystem other than vfat, else raw (`Content::Other { disko_type: "raw" }`).
pub fn buildable(layout: &Layout) -> Result<Buildable, HarnessError> {
    if let Some((_, b)) = layout.btrfs_filesystems().first() {
        return Ok(Buildable::Btrfs(Box::new((*b).clone())));
    }
    fn find(c: &Content) -> Option<Buildable> {
        match c {
            Content::Filesystem(f) if f.mountpoint.is_some() && f.format != "vfat" => {
                Some(Buildable::Plain(f.clone()))
            }
            Content::Other { disko_type } if disko_type == "raw" => Some(Buildable::Raw),
            Content::Luks(l) => find(&l.content),
            _ => None,
        }
    }
    for d in &layout.disks {
        let found = match &d.content {
            DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => partitions
                .iter()
                .filter_map(|p| p.content.as_ref())
                .find_map(find),
            DiskContent::Whole { content } => find(content),
        };
        if let Some(b) = found {
            return Ok(b);
        }
    }
    Err(HarnessError::Layout(
        "the layout holds no btrfs filesystem, no mounted ext4/xfs filesystem and no raw \
         device: nothing to build"
            .into(),
    ))
}

/// How many devices the layout's filesystem needs (multi-device btrfs: 1 + extra devices).
pub fn devices_needed(b: &Buildable) -> usize {
    match b {
        Buildable::Btrfs(fs) => 1 + fs.mkfs.extra_devices.len(),
        _ => 1,
    }
}

/// A built layout: unmounted (innermost first) on drop.
#[derive(Debug)]
pub struct Built {
    mounts: Vec<Mount>,
    /// Where the layout's `/` is.
    pub root: PathBuf,
    /// Where the top-level subvolume is mounted (btrfs).
    pub top: Option<PathBuf>,
    /// Layout mount point -> real path.
    pub targets: BTreeMap<String, PathBuf>,
    /// The device(s) it is on.
    pub devices: Vec<PathBuf>,
    /// Options the harness added to every mount (`nodiscard` on loop devices).
    pub imposed: Vec<String>,
}

impl Built {
    /// The real path of a layout mount point (`/data` -> `<root>/data`).
    pub fn path_of(&self, mountpoint: &str) -> Option<&Path> {
        self.targets.get(mountpoint).map(PathBuf::as_path)
    }

    /// The real path of a layout path that is a mount point or lies below one (a plain
    /// directory of the mount that holds it, as on a host whose layout gives the path no
    /// mount of its own), and that mount's real path. The directory is created.
    pub fn dir_for(&self, path: &str) -> Result<(PathBuf, PathBuf), HarnessError> {
        if let Some(p) = self.path_of(path) {
            return Ok((p.to_path_buf(), p.to_path_buf()));
        }
        let holder = self
            .targets
            .iter()
            .filter(|(m, _)| {
                m.as_str() == "/"
                    || path
                        .strip_prefix(m.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .max_by_key(|(m, _)| m.len())
            .ok_or_else(|| HarnessError::Layout(format!("the layout mounts nothing at {path}")))?;
        let rel = path
            .strip_prefix(holder.0.as_str())
            .unwrap_or(path)
            .trim_start_matches('/');
        if rel.split('/').any(|c| c == ".." || c == ".") {
            return Err(HarnessError::Layout(format!(
                "{path}: `.` and `..` are not allowed in a target"
            )));
        }
        let dir = holder.1.join(rel);
        crate::sys::create_dirs(&dir)?;
        Ok((dir, holder.1.clone()))
    }

    /// Unmounts everything now, innermost first, reporting the first error.
    pub fn teardown(mut self) -> Result<(), HarnessError> {
        let mut first = None;
        while let Some(m) = self.mounts.pop() {
            if let Err(e) = m.unmount_now()
                && first.is_none()
            {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        while let Some(m) = self.mounts.pop() {
            drop(m);
        }
    }
}

/// Options for [`build`].
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The devices are loop devices: mkfs without TRIM and mounts with `nodiscard` (unless
    /// the layout sets discard), so the fully written backing file stays written (TRIM on a
    /// loop device punches holes in it).
    pub loop_devices: bool,
}

/// A path below `root` for a layout mount point.
fn under(root: &Path, mountpoint: &str) -> PathBuf {
    match mountpoint.trim_start_matches('/') {
        "" => root.to_path_buf(),
        rel => root.join(rel),
    }
}

fn mkfs_args(fs: &BtrfsFilesystem, loop_devices: bool) -> Vec<String> {
    let mut a = vec!["-f".to_string(), "-q".to_string()];
    if loop_devices {
        a.push("-K".into());
    }
    let m = &fs.mkfs;
    let mut mk = m.clone();
    // The devices come from the harness; -f is already there.
    mk.extra_devices.clear();
    mk.other.retain(|o| o != "-f" && o != "--force");
    a.extend(mk.to_args());
    a
}

/// The btrfs mount data for the filesystem's options plus `extra`.
fn mount_data(fs: &FsOptions, extra: &[String], subvol: &str) -> String {
    let mut o = fs.to_mount_options();
    o.extend(extra.iter().cloned());
    o.push(subvol.to_string());
    o.join(",")
}

/// Builds `layout` on `devices` (which the caller owns and has checked), mounting it below
/// `run_dir` (`<run_dir>/root` is the layout's `/`, `<run_dir>/top` the top level).
pub fn build(
    layout: &Layout,
    devices: &[PathBuf],
    run_dir: &Path,
    opts: &BuildOptions,
    state: &Arc<State>,
) -> Result<Built, HarnessError> {
    layout.check()?;
    let what = buildable(layout)?;
    let need = devices_needed(&what);
    if devices.len() != need {
        return Err(HarnessError::Layout(format!(
            "the layout's filesystem needs {need} device(s), {} given",
            devices.len()
        )));
    }
    let root = run_dir.join("root");
    let mut built = Built {
        mounts: Vec::new(),
        root: root.clone(),
        top: None,
        targets: BTreeMap::new(),
        devices: devices.to_vec(),
        imposed: Vec::new(),
    };
    match what {
        Buildable::Raw => {}
        Buildable::Plain(f) => {
            let mkfs = format!("mkfs.{}", f.format);
            let mut args: Vec<String> = match f.format.as_str() {
                "ext4" | "ext3" | "ext2" => vec!["-F".into(), "-q".into()],
                "xfs" => vec!["-f".into(), "-q".into()],
                _ => vec![],
            };
            if opts.loop_devices {
                match f.format.as_str() {
                    "ext4" | "ext3" | "ext2" => {
                        args.push("-E".into());
                        args.push("nodiscard,lazy_itable_init=0,lazy_journal_init=0".into());
                    }
                    "xfs" => args.push("-K".into()),
                    _ => {}
                }
            }
            args.extend(f.extra_args.iter().cloned());
            Cmd::new(&mkfs).args(&args).arg(&devices[0]).output()?;
            let parsed = btrtune_advisor::layout::options::parse_mount_options(&f.mount_options)
                .map_err(HarnessError::Layout)?;
            let mp = f.mountpoint.clone().unwrap_or_else(|| "/".into());
            let target = under(&root, &mp);
            let data = parsed.fs.other.join(",");
            built.mounts.push(Mount::new(
                &devices[0],
                &target,
                &f.format,
                vfs_flags(&parsed.vfs),
                &data,
                state,
            )?);
            built.targets.insert(mp, target);
        }
        Buildable::Btrfs(fs) => build_btrfs(&fs, devices, run_dir, opts, state, &mut built)?,
    }
    Ok(built)
}

fn build_btrfs(
    fs: &BtrfsFilesystem,
    devices: &[PathBuf],
    run_dir: &Path,
    opts: &BuildOptions,
    state: &Arc<State>,
    built: &mut Built,
) -> Result<(), HarnessError> {
    Cmd::new("mkfs.btrfs")
        .args(mkfs_args(fs, opts.loop_devices))
        .args(devices)
        .output()?;
    if devices.len() > 1 {
        // Multi-device: make sure the kernel knows every member before mounting.
        let _ = Cmd::new("btrfs")
            .args(["device", "scan"])
            .args(devices)
            .output();
    }
    if opts.loop_devices && fs.options.discard.is_none() {
        built.imposed.push("nodiscard".into());
    }
    let top = run_dir.join("top");
    let flags_top = vfs_flags(&VfsOptions::noatime());
    built.mounts.push(Mount::new(
        &devices[0],
        &top,
        "btrfs",
        flags_top,
        &mount_data(&fs.options, &built.imposed, "subvolid=5"),
        state,
    )?);
    built.top = Some(top.clone());

    // Subvolumes, parents first (names sort parents before children).
    let mut subs: Vec<_> = fs.subvolumes.iter().collect();
    subs.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &subs {
        let path = top.join(s.name.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            crate::sys::create_dirs(parent)?;
        }
        Cmd::new("btrfs")
            .args(["subvolume", "create"])
            .args(&s.extra_args)
            .arg(&path)
            .output()?;
        if s.data.nocow {
            Cmd::new("chattr").arg("+C").arg(&path).output()?;
        }
        if let Some(c) = s.data.compression {
            Cmd::new("btrfs")
                .args(["property", "set"])
                .arg(&path)
                .args(["compression", c.as_str()])
                .output()?;
        }
    }
    // Per-user subvolumes, as systemd-tmpfiles would make them for a user "bench".
    if !fs.home_subvolumes.is_empty()
        && let Some(home) = fs.home()
    {
        let base = top.join(home.name.trim_start_matches('/')).join("bench");
        for h in &fs.home_subvolumes {
            let p = base.join(&h.path);
            if let Some(parent) = p.parent() {
                crate::sys::create_dirs(parent)?;
            }
            Cmd::new("btrfs")
                .args(["subvolume", "create"])
                .arg(&p)
                .output()?;
            if h.data.nocow {
                Cmd::new("chattr").arg("+C").arg(&p).output()?;
            }
        }
    }
    // Mounts, shallowest first.
    let mut mounted: Vec<_> = subs
        .iter()
        .filter_map(|s| s.mount.as_ref().map(|m| (s, m)))
        .collect();
    mounted.sort_by_key(|(_, m)| {
        let mp = m.mountpoint.as_str();
        (
            if mp == "/" {
                0
            } else {
                mp.matches('/').count()
            },
            mp.to_string(),
        )
    });
    for (s, m) in mounted {
        let target = under(&built.root, &m.mountpoint);
        let data = mount_data(
            &fs.options,
            &built.imposed,
            &format!("subvol={}", s.name.trim_start_matches('/')),
        );
        built.mounts.push(Mount::new(
            &devices[0],
            &target,
            "btrfs",
            vfs_flags(&m.vfs),
            &data,
            state,
        )?);
        built.targets.insert(m.mountpoint.clone(), target);
    }
    if let Some(t) = &fs.top_level {
        let target = under(&built.root, &t.mountpoint);
        let data = mount_data(&fs.options, &built.imposed, "subvolid=5");
        built.mounts.push(Mount::new(
            &devices[0],
            &target,
            "btrfs",
            vfs_flags(&t.vfs),
            &data,
            state,
        )?);
        built.targets.insert(t.mountpoint.clone(), target);
    }
    verify(fs, built)
}

/// What the kernel shows in the superblock options for a compression setting.
fn shown_compression(fs: &FsOptions) -> Option<String> {
    let c = fs.effective_compression()?;
    let key = if fs.compress_force {
        "compress-force"
    } else {
        "compress"
    };
    Some(match (c.algorithm, c.level) {
        (Algorithm::Lzo, _) => format!("{key}=lzo"),
        (a, Some(l)) => format!("{key}={}:{l}", a.as_str()),
        (a, None) => format!("{key}={}:3", a.as_str()),
    })
}

/// Checks what the kernel applied against what the filesystem's options say.
fn check_super(fs: &FsOptions, imposed: &[String], m: &MountInfo, out: &mut Vec<String>) {
    let has = |k: &str| m.super_options.iter().any(|o| o == k);
    let key_of = |k: &str| {
        m.super_options
            .iter()
            .find(|o| o.split('=').next() == Some(k))
            .cloned()
    };
    let want = shown_compression(fs);
    let got = key_of("compress").or_else(|| key_of("compress-force"));
    if want != got {
        out.push(format!(
            "{}: compression is {}, the layout says {}",
            m.target,
            got.as_deref().unwrap_or("off"),
            want.as_deref().unwrap_or("off")
        ));
    }
    for (on, key) in [
        (fs.autodefrag, "autodefrag"),
        (fs.nodatacow, "nodatacow"),
        (fs.flushoncommit, "flushoncommit"),
        (fs.user_subvol_rm_allowed, "user_subvol_rm_allowed"),
    ] {
        if on != has(key) {
            out.push(format!(
                "{}: `{key}` is {}, the layout says {}",
                m.target,
                if has(key) { "on" } else { "off" },
                if on { "on" } else { "off" }
            ));
        }
    }
    let commit = key_of("commit");
    let want_commit = fs
        .commit
        .filter(|c| *c != 30)
        .map(|c| format!("commit={c}"));
    if commit != want_commit {
        out.push(format!(
            "{}: commit interval is {}, the layout says {}",
            m.target,
            commit.as_deref().unwrap_or("the default (30 s)"),
            want_commit.as_deref().unwrap_or("the default (30 s)")
        ));
    }
    let discard = if has("discard") {
        Some(Discard::Sync)
    } else if has("discard=async") {
        Some(Discard::Async)
    } else {
        Some(Discard::Off)
    };
    let want_discard = match fs.discard {
        Some(d) => Some(d),
        None if imposed.iter().any(|o| o == "nodiscard") => Some(Discard::Off),
        None => None, // kernel default: depends on the device
    };
    if want_discard.is_some() && want_discard != discard {
        out.push(format!(
            "{}: discard is {:?}, the layout says {:?}",
            m.target, discard, want_discard
        ));
    }
}

fn check_vfs(v: &VfsOptions, m: &MountInfo, out: &mut Vec<String>) {
    let has = |k: &str| m.mount_options.iter().any(|o| o == k);
    let atime = if has("noatime") {
        Some(Atime::Noatime)
    } else if has("relatime") {
        Some(Atime::Relatime)
    } else {
        Some(Atime::Strictatime)
    };
    let want = v.atime.or(Some(Atime::Relatime));
    if atime != want {
        out.push(format!(
            "{}: access times are {:?}, the layout says {:?}",
            m.target, atime, want
        ));
    }
    for (on, key) in [
        (v.read_only, "ro"),
        (v.nodev, "nodev"),
        (v.nosuid, "nosuid"),
        (v.noexec, "noexec"),
    ] {
        if on != has(key) {
            out.push(format!("{}: `{key}` does not match the layout", m.target));
        }
    }
}

fn lsattr_nocow(path: &Path) -> Result<bool, HarnessError> {
    let out = Cmd::new("lsattr").arg("-d").arg(path).output()?;
    Ok(out
        .split_whitespace()
        .next()
        .is_some_and(|flags| flags.contains('C')))
}

fn property(path: &Path) -> Result<Option<String>, HarnessError> {
    let out = Cmd::new("btrfs")
        .args(["property", "get"])
        .arg(path)
        .arg("compression")
        .output()?;
    Ok(out
        .trim()
        .strip_prefix("compression=")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// Checks a built btrfs filesystem against its layout.
pub fn verify(fs: &BtrfsFilesystem, built: &Built) -> Result<(), HarnessError> {
    let mut out = Vec::new();
    let info = mountinfo();
    let find = |p: &Path| {
        let t = p.display().to_string();
        info.iter().rev().find(|m| m.target == t).cloned()
    };
    for s in &fs.subvolumes {
        if let Some(m) = &s.mount {
            match built.path_of(&m.mountpoint).and_then(find) {
                None => out.push(format!("{} ({}) is not mounted", m.mountpoint, s.name)),
                Some(mi) => {
                    if mi.fstype != "btrfs" {
                        out.push(format!("{}: {} is not btrfs", m.mountpoint, mi.fstype));
                    }
                    let want = format!("subvol=/{}", s.name.trim_start_matches('/'));
                    if !mi.super_options.contains(&want) {
                        out.push(format!(
                            "{}: mounted subvolume is not {}",
                            m.mountpoint, s.name
                        ));
                    }
                    check_super(&fs.options, &built.imposed, &mi, &mut out);
                    check_vfs(&m.vfs, &mi, &mut out);
                }
            }
        }
        if let Some(top) = &built.top {
            let p = top.join(s.name.trim_start_matches('/'));
            let nocow = lsattr_nocow(&p)?;
            if nocow != s.data.nocow {
                out.push(format!(
                    "{}: NOCOW is {}, the layout says {}",
                    s.name,
                    if nocow { "set" } else { "not set" },
                    if s.data.nocow { "set" } else { "not set" }
                ));
            }
            let prop = property(&p)?;
            let want = s
                .data
                .compression
                .map(|c: CompressionProperty| c.as_str().to_string());
            if prop != want {
                out.push(format!(
                    "{}: compression property is {}, the layout says {}",
                    s.name,
                    prop.as_deref().unwrap_or("unset"),
                    want.as_deref().unwrap_or("unset")
                ));
            }
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(HarnessError::Mismatch { mismatches: out })
    }
}
