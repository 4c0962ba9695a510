//! containers-storage's btrfs driver (`drivers/btrfs/btrfs.go`, benchmark-method.md §3.4),
//! replayed with the same ioctls through `btrfs-uapi`, so the timings are the kernel's:
//!
//! - `Create(base)`: `BTRFS_IOC_SUBVOL_CREATE_V2` of `btrfs/subvolumes/<id>`;
//! - `Create(child, parent)` and `CreateReadWrite(container, top layer)`:
//!   `BTRFS_IOC_SNAP_CREATE_V2` of the parent's subvolume (read-write), which first flushes
//!   the parent's dirty data;
//! - `ApplyDiff`: tar extraction into the subvolume (whiteouts unlink the snapshot's file);
//! - container writes: in place in the container's snapshot, i.e. copy-on-write of the
//!   shared extents;
//! - `Remove`: a walk of the subvolume looking for nested subvolumes (`filepath.WalkDir` +
//!   `lstat` of every directory, inode 256 = subvolume root), then
//!   `BTRFS_IOC_SNAP_DESTROY_V2`; when that is not permitted (no `CAP_SYS_ADMIN`, no
//!   `user_subvol_rm_allowed`), `rm -rf`, which removes an empty subvolume since Linux 4.18,
//!   as the real driver falls back to.
//!
//! No qgroups (the driver enables them only for `size`/`min_space` options).

use super::churn::{ChurnKind, ChurnOp};
use super::content::{Io, Whiteouts, apply_layer};
use super::driver::GraphDriver;
use super::layers::LayerPlan;
use super::{io_error, space};
use crate::WorkloadError;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The inode number of every btrfs subvolume's root directory.
const SUBVOLUME_ROOT_INO: u64 = 256;

/// The btrfs driver below `<dir>/btrfs/subvolumes`.
#[derive(Debug)]
pub struct BtrfsDriver {
    subvolumes: PathBuf,
    dir: File,
    /// Ids of the subvolumes deleted since the last [`GraphDriver::settle`].
    deleted: Vec<u64>,
}

impl BtrfsDriver {
    /// The driver rooted at `root` (a directory on btrfs); makes `btrfs/subvolumes`.
    pub fn new(root: &Path) -> Result<Self, WorkloadError> {
        if !space::is_btrfs(root)? {
            return Err(WorkloadError::Failed(format!(
                "containers-btrfs: {} is not on btrfs (the btrfs driver makes subvolumes and snapshots; \
                 use containers=overlay on other filesystems)",
                root.display()
            )));
        }
        let subvolumes = root.join("btrfs").join("subvolumes");
        std::fs::create_dir_all(&subvolumes)
            .map_err(|e| io_error("cannot create directory", &subvolumes, e))?;
        let dir = File::open(&subvolumes).map_err(|e| io_error("cannot open", &subvolumes, e))?;
        Ok(Self {
            subvolumes,
            dir,
            deleted: Vec::new(),
        })
    }

    /// Where layer or container `id` lives.
    pub fn path(&self, id: &str) -> PathBuf {
        self.subvolumes.join(id)
    }

    fn snapshot(&self, source: &str, id: &str, io: &mut Io<'_>) -> Result<(), WorkloadError> {
        let src_path = self.path(source);
        let src = File::open(&src_path).map_err(|e| io_error("cannot open", &src_path, e))?;
        btrfs_uapi::subvolume::snapshot_create(
            self.dir.as_fd(),
            src.as_fd(),
            &name(id)?,
            false,
            &[],
        )
        .map_err(|e| {
            io_error(
                &format!("cannot snapshot {} as", src_path.display()),
                &self.path(id),
                e,
            )
        })?;
        io.tally.subvolumes_created += 1;
        Ok(())
    }

    /// Deletes the subvolume `name` in `parent` after deleting any subvolume nested in it,
    /// as `subvolDelete` does.
    fn delete(&mut self, parent: &Path, name_: &str, io: &mut Io<'_>) -> Result<(), WorkloadError> {
        let path = parent.join(name_);
        for nested in nested_subvolumes(&path, io)? {
            if let (Some(p), Some(n)) = (nested.parent(), nested.file_name()) {
                self.delete(p, &n.to_string_lossy(), io)?;
            }
        }
        let id = {
            let f = File::open(&path).map_err(|e| io_error("cannot open", &path, e))?;
            btrfs_uapi::subvolume::subvolume_info(f.as_fd())
                .map_err(|e| io_error("cannot read the subvolume id of", &path, e))?
                .id
        };
        let dir = File::open(parent).map_err(|e| io_error("cannot open", parent, e))?;
        match btrfs_uapi::subvolume::subvolume_delete(dir.as_fd(), &name(name_)?) {
            Ok(()) => {
                io.tally.subvolumes_deleted += 1;
                self.deleted.push(id);
            }
            Err(e) if e as i32 == nix::errno::Errno::EPERM as i32 => {
                // No CAP_SYS_ADMIN: empty it and rmdir it (Linux >= 4.18), like the driver.
                std::fs::remove_dir_all(&path).map_err(|e2| {
                    io_error(
                        "cannot delete the subvolume (BTRFS_IOC_SNAP_DESTROY: EPERM; run as root \
                         or mount with user_subvol_rm_allowed), nor rm -rf",
                        &path,
                        e2,
                    )
                })?;
                io.tally.subvolumes_deleted += 1;
                io.tally.subvolumes_removed_by_rmdir += 1;
            }
            Err(e) => return Err(io_error("cannot delete the subvolume", &path, e)),
        }
        Ok(())
    }
}

/// `filepath.WalkDir` of a subvolume, `lstat`ing every directory below it: the nested
/// subvolumes (directories with inode 256; not descended into).
fn nested_subvolumes(root: &Path, io: &Io<'_>) -> Result<Vec<PathBuf>, WorkloadError> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        io.check()?;
        let rd = std::fs::read_dir(&d).map_err(|e| io_error("cannot read directory", &d, e))?;
        for e in rd {
            let e = e.map_err(|e| io_error("cannot read directory", &d, e))?;
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_dir {
                continue;
            }
            let p = e.path();
            let meta =
                std::fs::symlink_metadata(&p).map_err(|e| io_error("cannot lstat", &p, e))?;
            if meta.ino() == SUBVOLUME_ROOT_INO {
                found.push(p);
            } else {
                stack.push(p);
            }
        }
    }
    Ok(found)
}

pub(crate) fn name(id: &str) -> Result<CString, WorkloadError> {
    CString::new(id)
        .map_err(|_| WorkloadError::Failed(format!("a subvolume name with a NUL byte: {id:?}")))
}

impl GraphDriver for BtrfsDriver {
    fn pull(
        &mut self,
        id: &str,
        chain: &[String],
        layer: &LayerPlan,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        match chain.last() {
            None => {
                btrfs_uapi::subvolume::subvolume_create(self.dir.as_fd(), &name(id)?, &[])
                    .map_err(|e| io_error("cannot create the subvolume", &self.path(id), e))?;
                io.tally.subvolumes_created += 1;
            }
            Some(parent) => self.snapshot(parent, id, io)?,
        }
        apply_layer(&self.path(id), layer, &mut Whiteouts::Unlink, io)
    }

    fn create_container(
        &mut self,
        id: &str,
        image: &[String],
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        let top = image
            .last()
            .ok_or_else(|| WorkloadError::Failed("a container needs an image".to_owned()))?;
        self.snapshot(top, id, io)
    }

    fn write(
        &mut self,
        id: &str,
        _image: &[String],
        op: &ChurnOp,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        let path = self.path(id).join(&op.path);
        match op.kind {
            ChurnKind::Modify { offset, len } => {
                io.overwrite(&path, offset, len, op.content_seed, op.fsync)
            }
            ChurnKind::Append { len } => io.append(&path, len, op.content_seed, false, op.fsync),
            ChurnKind::Create { size } => io.append(&path, size, op.content_seed, true, op.fsync),
        }
    }

    fn remove(&mut self, id: &str, io: &mut Io<'_>) -> Result<(), WorkloadError> {
        let parent = self.subvolumes.clone();
        self.delete(&parent, id, io)
    }

    fn settle(&mut self, io: &mut Io<'_>) -> Result<bool, WorkloadError> {
        let ids = std::mem::take(&mut self.deleted);
        if ids.is_empty() {
            return Ok(true);
        }
        // A deleted subvolume is dropped by the cleaner thread once its last in-memory
        // inode is gone; the cleaner otherwise sleeps until the next periodic commit (up to
        // `commit=` seconds, 30 by default). So: one thread waits for each deleted
        // subvolume in turn (BTRFS_IOC_SUBVOL_SYNC_WAIT, Linux >= 6.13), while this one
        // kicks the cleaner every 100 ms with BTRFS_IOC_SYNC (`btrfs filesystem sync`:
        // commit, then wake the cleaner).
        let dir = self.dir.as_fd();
        let (tx, rx) = std::sync::mpsc::channel();
        let outcome = std::thread::scope(|s| {
            s.spawn(move || {
                let mut r = Ok(());
                for id in ids {
                    r = btrfs_uapi::subvolume::subvol_sync_wait_one(dir, id);
                    if r.is_err() {
                        break;
                    }
                }
                let _ = tx.send(r);
            });
            loop {
                if let Err(e) = btrfs_uapi::filesystem::sync(dir) {
                    // The waiter ends by itself once the periodic commit wakes the cleaner.
                    let _ = rx.recv();
                    return Err(io_error(
                        "cannot sync (BTRFS_IOC_SYNC)",
                        &self.subvolumes,
                        e,
                    ));
                }
                match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(r) => return Ok(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(WorkloadError::Failed(
                            "the thread waiting for the btrfs cleaner ended without a word"
                                .to_owned(),
                        ));
                    }
                }
            }
        })?;
        io.check()?;
        match outcome {
            Ok(()) => Ok(true),
            // Not permitted, or a kernel before 6.13 without BTRFS_IOC_SUBVOL_SYNC_WAIT.
            Err(e)
                if [
                    nix::errno::Errno::EPERM,
                    nix::errno::Errno::ENOTTY,
                    nix::errno::Errno::EINVAL,
                    nix::errno::Errno::EOPNOTSUPP,
                ]
                .iter()
                .any(|x| *x as i32 == e as i32) =>
            {
                Ok(false)
            }
            Err(e) => Err(io_error(
                "cannot wait for deleted subvolumes to be cleaned (BTRFS_IOC_SUBVOL_SYNC_WAIT)",
                &self.subvolumes,
                e,
            )),
        }
    }
}
