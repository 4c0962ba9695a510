//! The rules a buildable layout obeys: the kernel's (which options take effect where) and
//! disko's and NixOS's (names, mount points, swap).

use super::{BtrfsFilesystem, FsOptions, Layout, Snapshots};
use crate::error::AdvisorError;
use std::collections::BTreeMap;
use std::fmt;

/// One reason a layout cannot be built as written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Problem {
    /// A subvolume mount asks for filesystem-wide options that the first mount does not have;
    /// the kernel ignores them (btrfs-tuning-facts.md §1.1, E1, E7).
    IgnoredFsOptions {
        /// The subvolume.
        subvolume: String,
        /// Its mount point.
        mountpoint: String,
        /// The options that would be ignored.
        options: Vec<String>,
        /// The mount whose options win.
        first_mount: String,
    },
    /// NOCOW data cannot be compressed (§1.2, compression exclusions).
    NocowCompressed {
        /// Subvolume name or home path.
        subvolume: String,
    },
    /// `nodatacow` and `compress` on one filesystem: one of them is silently dropped.
    FsNodatacowWithCompress,
    /// Two things mount at one place.
    DuplicateMountpoint {
        /// The mount point.
        mountpoint: String,
        /// What mounts there.
        owners: Vec<String>,
    },
    /// A mount point NixOS or disko would reject.
    BadMountpoint {
        /// The mount point.
        mountpoint: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A subvolume name that disko's shell scripts or `subvol=` cannot take.
    BadSubvolumeName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two subvolumes with one name.
    DuplicateSubvolume {
        /// The name.
        name: String,
    },
    /// A nested subvolume whose parent subvolume is not in the layout.
    MissingParent {
        /// The nested subvolume.
        name: String,
        /// The parent it needs.
        parent: String,
    },
    /// A swap file in a subvolume without a mount point (disko needs one).
    SwapfileWithoutMount {
        /// The subvolume.
        subvolume: String,
    },
    /// A swap file in a snapshotted subvolume: btrfs refuses to snapshot a subvolume with an
    /// active swap file (§1.4).
    SwapfileSnapshotted {
        /// The subvolume.
        subvolume: String,
    },
    /// Home subvolumes on a filesystem that does not hold `/home`.
    HomeSubvolumesWithoutHome,
    /// A home subvolume path that is absolute, empty or climbs out of the home.
    BadHomePath {
        /// The path.
        path: String,
    },
    /// Two home subvolumes at one path.
    DuplicateHomePath {
        /// The path.
        path: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::IgnoredFsOptions {
                subvolume,
                mountpoint,
                options,
                first_mount,
            } => write!(
                f,
                "subvolume `{subvolume}` ({mountpoint}) asks for `{}` through its mount options, \
                 but these apply to the whole filesystem and only the first mount's count: \
                 `{first_mount}` mounts first, so the kernel ignores them \
                 (btrfs-tuning-facts.md §1.1). Use `chattr +C` on the empty subvolume for NOCOW \
                 and `btrfs property set <subvol> compression <alg>` for compression, or set the \
                 option identically on every mount of the filesystem",
                options.join(",")
            ),
            Problem::NocowCompressed { subvolume } => write!(
                f,
                "`{subvolume}` is NOCOW and has a compression property: btrfs never compresses \
                 NOCOW files (btrfs-tuning-facts.md §1.2); drop one of the two"
            ),
            Problem::FsNodatacowWithCompress => write!(
                f,
                "the filesystem has both `nodatacow` and `compress`: whichever comes last wins \
                 and the other is dropped (btrfs-tuning-facts.md §1.2, order)"
            ),
            Problem::DuplicateMountpoint { mountpoint, owners } => write!(
                f,
                "{mountpoint} is mounted more than once ({})",
                owners.join(", ")
            ),
            Problem::BadMountpoint { mountpoint, reason } => {
                write!(f, "mount point `{mountpoint}` {reason}")
            }
            Problem::BadSubvolumeName { name, reason } => {
                write!(f, "subvolume name `{name}` {reason}")
            }
            Problem::DuplicateSubvolume { name } => {
                write!(f, "subvolume `{name}` is defined twice")
            }
            Problem::MissingParent { name, parent } => write!(
                f,
                "subvolume `{name}` is nested in `{parent}`, which the layout does not create"
            ),
            Problem::SwapfileWithoutMount { subvolume } => write!(
                f,
                "subvolume `{subvolume}` has a swap file but no mount point (disko places swap \
                 files relative to the mount point)"
            ),
            Problem::SwapfileSnapshotted { subvolume } => write!(
                f,
                "subvolume `{subvolume}` holds a swap file and is snapshotted: btrfs cannot \
                 snapshot a subvolume with an active swap file (btrfs-tuning-facts.md §1.4)"
            ),
            Problem::HomeSubvolumesWithoutHome => write!(
                f,
                "per-user subvolumes are planned on a filesystem that does not hold /home"
            ),
            Problem::BadHomePath { path } => write!(
                f,
                "per-user subvolume path `{path}` must be relative to the home directory, \
                 without `..`, quotes, backslashes or control characters"
            ),
            Problem::DuplicateHomePath { path } => {
                write!(f, "per-user subvolume `~/{path}` is defined twice")
            }
        }
    }
}

impl Layout {
    /// Every rule the layout breaks; empty when it can be built as described.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut by_mp: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (mp, owner) in self.mountpoints() {
            if let Some(reason) = mountpoint_problem(&mp) {
                out.push(Problem::BadMountpoint {
                    mountpoint: mp.clone(),
                    reason,
                });
            }
            by_mp.entry(mp).or_default().push(owner);
        }
        for (mp, owners) in by_mp {
            if owners.len() > 1 {
                out.push(Problem::DuplicateMountpoint {
                    mountpoint: mp,
                    owners,
                });
            }
        }
        for (_, fs) in self.btrfs_filesystems() {
            check_btrfs(fs, &mut out);
        }
        out
    }

    /// `Ok` when the layout can be built; otherwise every problem at once.
    pub fn check(&self) -> Result<(), AdvisorError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AdvisorError::InvalidLayout { problems })
        }
    }
}

fn mountpoint_problem(mp: &str) -> Option<&'static str> {
    if !mp.starts_with('/') {
        Some("is not absolute")
    } else if mp.len() > 1 && mp.ends_with('/') {
        Some("ends with `/` (NixOS `fileSystems` rejects it)")
    } else if mp.split('/').any(|c| c == ".." || c == ".") {
        Some("contains `.` or `..`")
    } else if mp.contains("//") {
        Some("contains an empty component")
    } else if mp
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '$')
    {
        Some("contains whitespace, quotes, `\\` or `$`")
    } else {
        None
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "/" {
        Some("is empty")
    } else if name.split('/').any(|c| c == ".." || c == ".") {
        Some("contains `.` or `..` components")
    } else if name.contains("//") || name.ends_with('/') {
        Some("contains an empty component")
    } else if name
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | '`' | ',' | '*' | '?'))
    {
        Some("contains whitespace, quotes, `,`, `$`, `\\` or glob characters")
    } else {
        None
    }
}

/// What a mount asks for beyond the filesystem's options (or, if nothing, what it lacks).
fn differing(asked: &FsOptions, fs: &FsOptions) -> Vec<String> {
    let ours = fs.to_mount_options();
    let theirs = asked.to_mount_options();
    let extra: Vec<String> = theirs
        .iter()
        .filter(|x| !ours.contains(x))
        .cloned()
        .collect();
    if !extra.is_empty() {
        return extra;
    }
    ours.into_iter()
        .filter(|x| !theirs.contains(x))
        .map(|x| format!("no {x}"))
        .collect()
}

fn check_btrfs(fs: &BtrfsFilesystem, out: &mut Vec<Problem>) {
    if fs.options.nodatacow && fs.options.compress.is_some() {
        out.push(Problem::FsNodatacowWithCompress);
    }
    let first = fs.first_mount().unwrap_or("(none)").to_string();
    if let Some(t) = &fs.top_level
        && let Some(o) = &t.fs_override
        && *o != fs.options
    {
        out.push(Problem::IgnoredFsOptions {
            subvolume: "(top level)".into(),
            mountpoint: t.mountpoint.clone(),
            options: differing(o, &fs.options),
            first_mount: first.clone(),
        });
    }
    let mut seen = BTreeMap::new();
    for s in &fs.subvolumes {
        if let Some(reason) = name_problem(&s.name) {
            out.push(Problem::BadSubvolumeName {
                name: s.name.clone(),
                reason,
            });
        }
        if seen.insert(s.name.trim_start_matches('/'), ()).is_some() {
            out.push(Problem::DuplicateSubvolume {
                name: s.name.clone(),
            });
        }
        if let Some((parent, _)) = s.name.trim_start_matches('/').rsplit_once('/') {
            let exists = fs
                .subvolumes
                .iter()
                .any(|p| p.name.trim_start_matches('/') == parent);
            if !exists {
                out.push(Problem::MissingParent {
                    name: s.name.clone(),
                    parent: parent.to_string(),
                });
            }
        }
        if let Some(m) = &s.mount
            && let Some(o) = &m.fs_override
            && *o != fs.options
        {
            out.push(Problem::IgnoredFsOptions {
                subvolume: s.name.clone(),
                mountpoint: m.mountpoint.clone(),
                options: differing(o, &fs.options),
                first_mount: first.clone(),
            });
        }
        if s.data.nocow
            && s.data
                .compression
                .is_some_and(|c| c != super::CompressionProperty::None)
        {
            out.push(Problem::NocowCompressed {
                subvolume: s.name.clone(),
            });
        }
        if !s.swapfiles.is_empty() {
            if s.mount.is_none() {
                out.push(Problem::SwapfileWithoutMount {
                    subvolume: s.name.clone(),
                });
            }
            if !matches!(s.data.snapshots, Snapshots::Off) {
                out.push(Problem::SwapfileSnapshotted {
                    subvolume: s.name.clone(),
                });
            }
        }
    }
    if !fs.home_subvolumes.is_empty() && fs.home().is_none() {
        out.push(Problem::HomeSubvolumesWithoutHome);
    }
    let mut seen_home = BTreeMap::new();
    for h in &fs.home_subvolumes {
        if h.path.is_empty()
            || h.path.starts_with('/')
            || h.path.ends_with('/')
            || h.path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
            || h.path
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            out.push(Problem::BadHomePath {
                path: h.path.clone(),
            });
        }
        if seen_home.insert(h.path.as_str(), ()).is_some() {
            out.push(Problem::DuplicateHomePath {
                path: h.path.clone(),
            });
        }
        if h.data.nocow
            && h.data
                .compression
                .is_some_and(|c| c != super::CompressionProperty::None)
        {
            out.push(Problem::NocowCompressed {
                subvolume: format!("~/{}", h.path),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::options::parse_mount_options;
    use crate::layout::{Bytes, CompressionProperty, Content, DiskContent, SubvolMount, Swapfile};
    use crate::plan::plan;
    use crate::profiles::ToolDb;
    use crate::toolstack::Toolstack;

    /// A planned layout to break in one way at a time.
    fn layout() -> Layout {
        let ts = Toolstack::from_tools("postgresql,nix").unwrap();
        plan(&ts, &ToolDb::bundled().unwrap(), None, Some("/dev/nvme0n1"))
            .unwrap()
            .layout
    }

    fn fs_mut(l: &mut Layout) -> &mut BtrfsFilesystem {
        let DiskContent::Gpt { partitions } = &mut l.disks[0].content else {
            panic!("gpt")
        };
        partitions
            .iter_mut()
            .find_map(|p| match &mut p.content {
                Some(Content::Btrfs(b)) => Some(b),
                _ => None,
            })
            .unwrap()
    }

    fn sub_mut<'a>(l: &'a mut Layout, name: &str) -> &'a mut Subvolume {
        fs_mut(l)
            .subvolumes
            .iter_mut()
            .find(|s| s.name == name)
            .unwrap()
    }

    use super::super::Subvolume;

    #[test]
    fn planned_layout_is_valid_and_survives_json() {
        let l = layout();
        assert!(l.problems().is_empty());
        let json = serde_json::to_string(&l).unwrap();
        let back: Layout = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        let bare = l.without_reasons();
        assert!(bare.problems().is_empty());
        let (_, fs) = bare.btrfs_filesystems()[0];
        assert!(fs.why.is_empty() && fs.subvolumes.iter().all(|s| s.data.why.is_empty()));
    }

    #[test]
    fn per_subvolume_compress_by_mount_option_cannot_be_built() {
        // disko's example: / mounts without compress, /home asks for compress=zstd.
        let mut l = layout();
        fs_mut(&mut l).options = Default::default();
        let asked = parse_mount_options(&["compress=zstd", "noatime"]).unwrap();
        sub_mut(&mut l, "@home").mount.as_mut().unwrap().fs_override = Some(asked.fs);
        let e = l.check().unwrap_err().to_string();
        assert!(
            e.contains("`@home` (/home) asks for `compress=zstd`"),
            "{e}"
        );
        assert!(e.contains("`/` mounts first"), "{e}");
        assert!(e.contains("btrfs property set"), "{e}");
    }

    #[test]
    fn per_subvolume_nodatacow_by_mount_option_cannot_be_built() {
        let mut l = layout();
        let asked = parse_mount_options(&["compress=zstd:1", "nodatacow"]).unwrap();
        let m = sub_mut(&mut l, "@postgresql").mount.as_mut().unwrap();
        m.fs_override = Some(asked.fs);
        let e = l.check().unwrap_err().to_string();
        assert!(e.contains("nodatacow"), "{e}");
        assert!(e.contains("chattr +C"), "{e}");
    }

    #[test]
    fn identical_options_on_every_mount_are_fine() {
        let mut l = layout();
        let same = fs_mut(&mut l).options.clone();
        sub_mut(&mut l, "@home").mount.as_mut().unwrap().fs_override = Some(same);
        assert!(l.problems().is_empty());
    }

    #[test]
    fn each_rule_is_enforced() {
        let mut l = layout();
        sub_mut(&mut l, "@postgresql").data.compression = Some(CompressionProperty::Zstd);
        assert!(matches!(
            l.problems()[..],
            [Problem::NocowCompressed { .. }]
        ));

        let mut l = layout();
        sub_mut(&mut l, "@log").mount.as_mut().unwrap().mountpoint = "/nix".into();
        assert!(l.problems().iter().any(
            |p| matches!(p, Problem::DuplicateMountpoint { mountpoint, .. } if mountpoint == "/nix")
        ));

        let mut l = layout();
        sub_mut(&mut l, "@log").mount.as_mut().unwrap().mountpoint = "/var/log/".into();
        assert!(matches!(l.problems()[..], [Problem::BadMountpoint { .. }]));

        let mut l = layout();
        sub_mut(&mut l, "@root").swapfiles.push(Swapfile {
            path: "swapfile".into(),
            size: Bytes::gib(1),
            priority: None,
            options: vec![],
        });
        assert!(matches!(
            l.problems()[..],
            [Problem::SwapfileSnapshotted { .. }]
        ));

        let mut l = layout();
        let mut orphan = sub_mut(&mut l, "@root/.snapshots").clone();
        orphan.name = "@gone/.snapshots".into();
        fs_mut(&mut l).subvolumes.push(orphan);
        assert!(matches!(l.problems()[..], [Problem::MissingParent { .. }]));

        let mut l = layout();
        let mut dup = sub_mut(&mut l, "@nix").clone();
        dup.mount = Some(SubvolMount {
            mountpoint: "/nix2".into(),
            vfs: Default::default(),
            fs_override: None,
        });
        fs_mut(&mut l).subvolumes.push(dup);
        assert!(matches!(
            l.problems()[..],
            [Problem::DuplicateSubvolume { .. }]
        ));

        let mut l = layout();
        sub_mut(&mut l, "@nix").name = "@nix store".into();
        assert!(
            l.problems()
                .iter()
                .any(|p| matches!(p, Problem::BadSubvolumeName { .. }))
        );

        let mut l = layout();
        let fs = fs_mut(&mut l);
        fs.options.nodatacow = true;
        assert!(matches!(
            l.problems()[..],
            [Problem::FsNodatacowWithCompress]
        ));
    }
}
