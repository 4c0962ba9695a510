//! Mounts, with a guard that unmounts (retrying, then detaching lazily) on drop.

use crate::error::HarnessError;
use crate::state::State;
use btrtune_advisor::layout::{Atime, VfsOptions};
use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A mounted filesystem; unmounted on drop.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    state: Arc<State>,
}

/// The mount flags for per-mount (VFS) options.
pub fn vfs_flags(v: &VfsOptions) -> MsFlags {
    let mut f = MsFlags::empty();
    match v.atime {
        Some(Atime::Noatime) => f |= MsFlags::MS_NOATIME,
        Some(Atime::Relatime) => f |= MsFlags::MS_RELATIME,
        Some(Atime::Strictatime) => f |= MsFlags::MS_STRICTATIME,
        None => {}
    }
    for (on, flag) in [
        (v.nodiratime, MsFlags::MS_NODIRATIME),
        (v.lazytime, MsFlags::MS_LAZYTIME),
        (v.read_only, MsFlags::MS_RDONLY),
        (v.nodev, MsFlags::MS_NODEV),
        (v.nosuid, MsFlags::MS_NOSUID),
        (v.noexec, MsFlags::MS_NOEXEC),
    ] {
        if on {
            f |= flag;
        }
    }
    f
}

impl Mount {
    /// Mounts `source` (a device) on `target` (created if needed).
    pub fn new(
        source: &Path,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: &str,
        state: &Arc<State>,
    ) -> Result<Mount, HarnessError> {
        super::create_dirs(target)?;
        nix::mount::mount(
            Some(source),
            target,
            Some(fstype),
            flags,
            (!data.is_empty()).then_some(data),
        )
        .map_err(|e| {
            HarnessError::sys(
                format!(
                    "mount {} on {} ({fstype}, {data})",
                    source.display(),
                    target.display()
                ),
                e,
            )
        })?;
        state.add_mount(target);
        Ok(Mount {
            target: target.to_path_buf(),
            state: state.clone(),
        })
    }

    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, returning the error instead of logging it.
    pub fn unmount_now(self) -> Result<(), HarnessError> {
        let r = unmount(&self.target);
        self.state.remove_mount(&self.target);
        std::mem::forget(self);
        r
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.target) {
            eprintln!("btrtune: {e}");
        }
        self.state.remove_mount(&self.target);
    }
}

/// Unmounts `target`: a few tries (a just-finished process may still hold it), then a lazy
/// detach so that it goes away as soon as it is free.
pub fn unmount(target: &Path) -> Result<(), HarnessError> {
    for _ in 0..10 {
        match nix::mount::umount2(target, MntFlags::empty()) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(nix::errno::Errno::EINVAL) => return Ok(()), // not mounted
            Err(e) => {
                return Err(HarnessError::sys(
                    format!("unmount {}", target.display()),
                    e,
                ));
            }
        }
    }
    nix::mount::umount2(target, MntFlags::MNT_DETACH)
        .map_err(|e| HarnessError::sys(format!("lazy unmount {}", target.display()), e))
}

/// Mount points in this process's namespace.
pub fn mounted_targets() -> Vec<PathBuf> {
    mountinfo()
        .into_iter()
        .map(|m| PathBuf::from(m.target))
        .collect()
}

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// `major:minor` of the device.
    pub dev: String,
    /// The root of the mount within its filesystem (`/@home` for a subvolume).
    pub root: String,
    /// Mount point.
    pub target: String,
    /// Per-mount options (`rw,noatime`).
    pub mount_options: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Source.
    pub source: String,
    /// Per-superblock options (`rw,compress=zstd:1,subvol=/@home`).
    pub super_options: Vec<String>,
}

/// Undoes the kernel's `\040`-style escapes (space, tab, newline, backslash).
pub(crate) fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(c) = u8::try_from(v) {
                out.push(c);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(MountInfo {
            dev: l[2].to_string(),
            root: unescape_octal(l[3]),
            target: unescape_octal(l[4]),
            mount_options: l[5].split(',').map(String::from).collect(),
            fstype: r[0].to_string(),
            source: unescape_octal(r[1]),
            super_options: r[2].split(',').map(String::from).collect(),
        });
    }
    out
}

/// `/proc/self/mountinfo`, parsed.
pub fn mountinfo() -> Vec<MountInfo> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let t = "36 35 0:34 /@home /tmp/a\\040b rw,noatime shared:1 - btrfs /dev/loop3 rw,compress=zstd:1,ssd,discard=async,space_cache=v2,subvolid=257,subvol=/@home\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].target, "/tmp/a b");
        assert_eq!(m[0].root, "/@home");
        assert!(m[0].mount_options.contains(&"noatime".to_string()));
        assert!(m[0].super_options.contains(&"compress=zstd:1".to_string()));
        assert_eq!(m[0].fstype, "btrfs");
    }
}
