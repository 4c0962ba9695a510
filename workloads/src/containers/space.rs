//! Space used by the filesystem under the run directory: `statvfs` after `syncfs` (so that
//! delayed allocation has happened), and on btrfs the data and metadata `used` bytes of
//! `BTRFS_IOC_SPACE_INFO` (what `btrfs filesystem df` prints).

use super::io_error;
use crate::WorkloadError;
use btrfs_uapi::space::BlockGroupFlags;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

/// True when `dir` is on btrfs (`statfs` magic).
pub fn is_btrfs(dir: &Path) -> Result<bool, WorkloadError> {
    let s = nix::sys::statfs::statfs(dir).map_err(|e| io_error("cannot statfs", dir, e))?;
    Ok(s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
}

/// Space in use at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `(f_blocks - f_bfree) * f_frsize`.
    pub used: u64,
    /// btrfs data block groups' used bytes.
    pub btrfs_data: Option<u64>,
    /// btrfs metadata block groups' used bytes (the global reserve left out).
    pub btrfs_metadata: Option<u64>,
}

impl Usage {
    /// `self - base` per field (`used`, btrfs data, btrfs metadata), signed: space can end
    /// below where it started.
    pub fn minus(&self, base: &Usage) -> (f64, Option<f64>, Option<f64>) {
        let d = |a: u64, b: u64| a as f64 - b as f64;
        (
            d(self.used, base.used),
            self.btrfs_data.zip(base.btrfs_data).map(|(a, b)| d(a, b)),
            self.btrfs_metadata
                .zip(base.btrfs_metadata)
                .map(|(a, b)| d(a, b)),
        )
    }
}

/// `syncfs` of the filesystem of `dir`, then its [`Usage`].
pub fn usage(dir: &Path, btrfs: bool) -> Result<Usage, WorkloadError> {
    let f = File::open(dir).map_err(|e| io_error("cannot open", dir, e))?;
    nix::unistd::syncfs(f.as_fd()).map_err(|e| io_error("cannot syncfs", dir, e))?;
    let s = nix::sys::statvfs::statvfs(dir).map_err(|e| io_error("cannot statvfs", dir, e))?;
    let mut u = Usage {
        used: (s.blocks().saturating_sub(s.blocks_free())).saturating_mul(s.fragment_size()),
        ..Usage::default()
    };
    if btrfs {
        let infos = btrfs_uapi::space::space_info(f.as_fd()).map_err(|e| {
            io_error(
                "cannot read btrfs space info (BTRFS_IOC_SPACE_INFO)",
                dir,
                e,
            )
        })?;
        let sum = |want: BlockGroupFlags| {
            infos
                .iter()
                .filter(|i| {
                    i.flags.contains(want) && !i.flags.contains(BlockGroupFlags::GLOBAL_RSV)
                })
                .map(|i| i.used_bytes)
                .sum::<u64>()
        };
        u.btrfs_data = Some(sum(BlockGroupFlags::DATA));
        u.btrfs_metadata = Some(sum(BlockGroupFlags::METADATA));
    }
    Ok(u)
}
