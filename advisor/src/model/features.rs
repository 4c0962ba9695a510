//! The layout features a model is fitted on: what the kernel really applies to the data at
//! one mount point of a [`Layout`], as 0/1 indicators against the baseline (btrfs, CoW, no
//! compression, no autodefrag, `commit=30`, `noatime`, no discard).
//!
//! Filesystem-wide options come from the filesystem's options (those of its first mount,
//! `btrfs-tuning-facts.md` §1.1); NOCOW and the compression property from the subvolume.
//! Compression is void on NOCOW data (§2), so a NOCOW subvolume has no compression feature:
//! `zstd:1` + NOCOW and NOCOW alone are the same point to the model.

use crate::hardware::DeviceClass;
use crate::layout::options::Discard;
use crate::layout::{
    Atime, BtrfsFilesystem, CompressionProperty, Content, DiskContent, Layout, Subvolume,
};
use std::collections::BTreeMap;

/// Named indicators; absent names are 0. Names look like `nocow`, `compress=zstd:1`,
/// `commit=120`, `atime=relatime`, `discard=async`, `autodefrag`, `fs=ext4`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Features(pub BTreeMap<String, u8>);

impl Features {
    /// The indicator `name` (0 when absent).
    pub fn get(&self, name: &str) -> f64 {
        f64::from(self.0.get(name).copied().unwrap_or(0))
    }

    /// The names set to 1.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Sets the indicator `name` to 1.
    pub fn set(&mut self, name: impl Into<String>) {
        self.0.insert(name.into(), 1);
    }
}

/// The features of the data mounted at `mountpoint`, or `None` when nothing in the layout
/// mounts there. `raw` layouts (no filesystem) have the single feature `fs=raw`.
pub fn features_at(layout: &Layout, mountpoint: &str) -> Option<Features> {
    if let Some((fs, sv)) = btrfs_at(layout, mountpoint) {
        return Some(btrfs_features(fs, sv));
    }
    plain_format_at(layout, mountpoint).map(|format| {
        let mut f = Features::default();
        f.set(format!("fs={format}"));
        f
    })
}

/// Whether a device of this class normally takes TRIM, so that the kernel mounts btrfs with
/// `discard=async` by default (since 6.2, `btrfs-tuning-facts.md` §1.2). USB bridges often
/// do not pass it; rotational disks and unknown devices are taken as not.
pub fn trims_by_default(class: DeviceClass) -> bool {
    matches!(
        class,
        DeviceClass::Nvme
            | DeviceClass::SataSsd
            | DeviceClass::Virtio
            | DeviceClass::Emmc
            | DeviceClass::Sd
    )
}

/// The features of a user's layout on a device of `class`: as [`features_at`], plus the
/// kernel's default `discard=async` where the layout says nothing about discard and the
/// device takes TRIM. (Calibration layouts go through [`features_at`]: the harness mounts
/// them `nodiscard` unless discard is the variable under test.)
pub fn features_on(layout: &Layout, mountpoint: &str, class: DeviceClass) -> Option<Features> {
    let mut f = features_at(layout, mountpoint)?;
    let silent = btrfs_at(layout, mountpoint).is_some_and(|(fs, _)| fs.options.discard.is_none());
    if silent && trims_by_default(class) {
        f.set("discard=async");
    }
    Some(f)
}

/// The btrfs filesystem mounted at `mountpoint`, and the subvolume (`None`: its top level).
fn btrfs_at<'a>(
    layout: &'a Layout,
    mountpoint: &str,
) -> Option<(&'a BtrfsFilesystem, Option<&'a Subvolume>)> {
    layout.btrfs_filesystems().into_iter().find_map(|(_, fs)| {
        if let Some(sv) = fs
            .subvolumes
            .iter()
            .find(|s| s.mount.as_ref().is_some_and(|m| m.mountpoint == mountpoint))
        {
            return Some((fs, Some(sv)));
        }
        fs.top_level
            .as_ref()
            .is_some_and(|t| t.mountpoint == mountpoint)
            .then_some((fs, None))
    })
}

fn btrfs_features(fs: &BtrfsFilesystem, sv: Option<&Subvolume>) -> Features {
    let o = &fs.options;
    let mut f = Features::default();
    let nocow = o.nodatacow || sv.is_some_and(|s| s.data.nocow);
    if nocow {
        f.set("nocow");
    }
    let compression = match sv.and_then(|s| s.data.compression) {
        Some(CompressionProperty::None) => None,
        Some(p) => {
            let algo = p.as_str();
            let level = o
                .compress
                .filter(|c| c.algorithm.as_str() == algo)
                .and_then(|c| c.level);
            Some(match level {
                Some(l) => format!("{algo}:{l}"),
                None => algo.to_string(),
            })
        }
        None => o.compress.map(|c| c.to_string()),
    };
    // zstd without a level is level 3, the kernel's default (§1.2): one point to the model.
    let compression = compression.map(|c| if c == "zstd" { "zstd:3".to_string() } else { c });
    if let Some(c) = compression.filter(|_| !nocow) {
        let force = if o.compress_force {
            "compress-force"
        } else {
            "compress"
        };
        f.set(format!("{force}={c}"));
    }
    if o.autodefrag {
        f.set("autodefrag");
    }
    if let Some(c) = o.commit.filter(|&c| c != 30) {
        f.set(format!("commit={c}"));
    }
    match o.discard {
        Some(Discard::Async) => f.set("discard=async"),
        Some(Discard::Sync) => f.set("discard=sync"),
        Some(Discard::Off) | None => {}
    }
    let atime = sv
        .and_then(|s| s.mount.as_ref())
        .map(|m| m.vfs.atime)
        .unwrap_or_else(|| fs.top_level.as_ref().and_then(|t| t.vfs.atime));
    match atime {
        Some(Atime::Noatime) => {}
        Some(Atime::Strictatime) => f.set("atime=strictatime"),
        Some(Atime::Relatime) | None => f.set("atime=relatime"),
    }
    if o.flushoncommit {
        f.set("flushoncommit");
    }
    f
}

/// The format of a non-btrfs filesystem mounted at `mountpoint`, or `raw` for a layout
/// that is a bare device.
fn plain_format_at(layout: &Layout, mountpoint: &str) -> Option<String> {
    fn walk(c: &Content, mp: &str) -> Option<String> {
        match c {
            Content::Filesystem(p) if p.mountpoint.as_deref() == Some(mp) => Some(p.format.clone()),
            Content::Luks(l) => walk(&l.content, mp),
            _ => None,
        }
    }
    for d in &layout.disks {
        let found = match &d.content {
            DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => partitions
                .iter()
                .filter_map(|p| p.content.as_ref())
                .find_map(|c| walk(c, mountpoint)),
            DiskContent::Whole { content } => walk(content, mountpoint),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts the harness really built in the committed crosscheck results.
    fn recorded_layouts() -> BTreeMap<String, Layout> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../results/crosscheck/crosscheck.jsonl"
        );
        let text = std::fs::read_to_string(p).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let name = v["layout_name"].as_str().unwrap().to_string();
                (name, serde_json::from_value(v["layout"].clone()).unwrap())
            })
            .collect()
    }

    #[test]
    fn features_of_the_layouts_the_harness_built() {
        let layouts = recorded_layouts();
        let names = |n: &str| -> Vec<String> {
            let f = features_at(&layouts[n], "/data").unwrap_or_else(|| panic!("{n}"));
            f.names().map(str::to_owned).collect()
        };
        assert_eq!(names("cow"), Vec::<String>::new());
        assert_eq!(names("nocow"), ["nocow"]);
        assert_eq!(names("zstd1"), ["compress=zstd:1"]);
        assert_eq!(
            names("zstd1-nocow"),
            ["nocow"],
            "compression is void on NOCOW data"
        );
        assert_eq!(names("lzo"), ["compress=lzo"]);
        assert_eq!(names("autodefrag"), ["autodefrag"]);
        assert_eq!(names("commit120"), ["commit=120"]);
        assert_eq!(names("ext4"), ["fs=ext4"]);
        assert!(features_at(&layouts["cow"], "/nowhere").is_none());
    }

    #[test]
    fn a_users_layout_gets_the_kernels_default_discard_where_the_device_trims() {
        let layouts = recorded_layouts();
        let cow = &layouts["cow"];
        let on = |class| -> Vec<String> {
            features_on(cow, "/data", class)
                .unwrap()
                .names()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(on(DeviceClass::Nvme), ["discard=async"]);
        assert_eq!(on(DeviceClass::Virtio), ["discard=async"]);
        assert_eq!(on(DeviceClass::Hdd), Vec::<String>::new());
        // A layout that says `nodiscard` keeps it.
        let mut off = cow.clone();
        for d in &mut off.disks {
            if let DiskContent::Whole {
                content: Content::Btrfs(fs),
            } = &mut d.content
            {
                fs.options.discard = Some(Discard::Off);
            }
        }
        assert!(
            features_on(&off, "/data", DeviceClass::Nvme)
                .unwrap()
                .0
                .is_empty()
        );
    }
}
