//! containers-storage's overlay driver (`drivers/overlay/overlay.go`, benchmark-method.md
//! §3.4) on disk, without mounting (the harness alone mounts):
//!
//! - `create`: `overlay/<id>/diff`, a 26-character `link` id with its symlink
//!   `overlay/l/<link> -> ../<id>/diff`, `work/` and `merged/`; a base layer gets `empty/`,
//!   others a `lower` file (`l/<parent link>:<parent's lower>`, read from the parent);
//! - `ApplyDiff`: tar extraction into `diff/`; whiteouts are character devices 0:0 (as
//!   root; `.wh.<name>` files otherwise);
//! - container start: the same `create` above the image's top layer, plus the `work/work`
//!   directory the overlay mount makes;
//! - container writes, as overlayfs does them: the first write to a lower file copies it up
//!   whole (`ovl_copy_up_file`: a clone, else a splice copy, into a temporary file in the
//!   work directory, fsync unless the mount is `volatile`, then a rename into `diff/`). The
//!   copy here is `std::fs::copy`, i.e. `copy_file_range(2)`, which the kernel serves the
//!   same way: a reflink clone on filesystems that can (btrfs, XFS), else a splice copy
//!   (ext4); then the write lands in the upper file. New files are created in `diff/`
//!   directly, below copied-up parent directories;
//! - `Remove`: read `link`, remove `l/<link>`, `rm -rf overlay/<id>`.
//!
//! Not replayed: the mount itself, and the page-cache sharing and lookups it brings.

use super::churn::{ChurnKind, ChurnOp};
use super::content::{Io, Whiteouts, apply_layer, parent_of};
use super::driver::GraphDriver;
use super::io_error;
use super::layers::LayerPlan;
use crate::WorkloadError;
use crate::rng::SplitMix64;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Length of a layer's short link id (containers-storage's `idLength`).
const LINK_LEN: usize = 26;

/// The overlay driver below `<dir>/overlay`.
#[derive(Debug)]
pub struct OverlayDriver {
    home: PathBuf,
    rng: SplitMix64,
    whiteouts: Whiteouts,
    volatile: bool,
    /// Per container, the paths already copied up.
    copied: HashMap<String, HashSet<String>>,
    temp: u64,
}

impl OverlayDriver {
    /// The driver rooted at `root`; makes `overlay/l`. `volatile`: copy-ups are not fsynced
    /// (the overlay mount option of the same name). `seed` makes the link ids.
    pub fn new(root: &Path, volatile: bool, seed: u64) -> Result<Self, WorkloadError> {
        let home = root.join("overlay");
        let l = home.join("l");
        std::fs::create_dir_all(&l).map_err(|e| io_error("cannot create directory", &l, e))?;
        Ok(Self {
            home,
            rng: SplitMix64::derive(seed, &[0x11c]),
            whiteouts: Whiteouts::CharDevice,
            volatile,
            copied: HashMap::new(),
            temp: 0,
        })
    }

    /// Where layer or container `id` lives.
    pub fn path(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }

    /// Whether whiteouts were written as character devices (false: `.wh.` files).
    pub fn whiteout_devices(&self) -> bool {
        self.whiteouts == Whiteouts::CharDevice
    }

    /// The driver's `create`.
    fn create(
        &mut self,
        id: &str,
        parent: Option<&str>,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        let dir = self.path(id);
        let mkdir = |p: PathBuf, io: &mut Io<'_>| -> Result<(), WorkloadError> {
            std::fs::create_dir(&p).map_err(|e| io_error("cannot create directory", &p, e))?;
            io.tally.dirs_created += 1;
            Ok(())
        };
        mkdir(dir.clone(), io)?;
        mkdir(dir.join("diff"), io)?;
        let link: String = (0..LINK_LEN)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[self.rng.below(32) as usize]))
            .collect();
        let sym = self.home.join("l").join(&link);
        std::os::unix::fs::symlink(Path::new("..").join(id).join("diff"), &sym)
            .map_err(|e| io_error("cannot create the symlink", &sym, e))?;
        write_small(&dir.join("link"), link.as_bytes())?;
        mkdir(dir.join("work"), io)?;
        mkdir(dir.join("merged"), io)?;
        match parent {
            None => mkdir(dir.join("empty"), io)?,
            Some(p) => {
                // getLower: the parent's link, then the parent's own lowers.
                let pdir = self.path(p);
                let plink = read_small(&pdir.join("link"))?;
                let mut lower = format!("l/{plink}");
                let plower = pdir.join("lower");
                if plower.exists() {
                    lower.push(':');
                    lower.push_str(&read_small(&plower)?);
                }
                write_small(&dir.join("lower"), lower.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Copies `op.path` up from the layer it is visible from into container `id`'s `diff`.
    fn copy_up(
        &mut self,
        id: &str,
        image: &[String],
        op: &ChurnOp,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        let Some(vis) = op.lower else {
            return Ok(());
        };
        let layer = image.get(vis.layer).ok_or_else(|| {
            WorkloadError::Failed(format!("{}: no layer {} in the image", op.path, vis.layer))
        })?;
        let src = self.path(layer).join("diff").join(&op.path);
        let upper = self.path(id).join("diff");
        let parent = parent_of(&op.path);
        if !parent.is_empty() {
            let p = upper.join(parent);
            if !p.is_dir() {
                std::fs::create_dir_all(&p)
                    .map_err(|e| io_error("cannot create directory", &p, e))?;
                io.tally.dirs_created += 1;
            }
        }
        self.temp += 1;
        let tmp = self
            .path(id)
            .join("work")
            .join("work")
            .join(format!("#{:x}", self.temp));
        let n = std::fs::copy(&src, &tmp)
            .map_err(|e| io_error(&format!("cannot copy up {} to", src.display()), &tmp, e))?;
        if !self.volatile {
            let f = File::open(&tmp).map_err(|e| io_error("cannot open", &tmp, e))?;
            io.fsync(&f, &tmp)?;
        }
        let dst = upper.join(&op.path);
        std::fs::rename(&tmp, &dst)
            .map_err(|e| io_error(&format!("cannot rename {} to", tmp.display()), &dst, e))?;
        io.tally.copy_ups += 1;
        io.tally.copy_up_bytes += n;
        Ok(())
    }
}

fn write_small(path: &Path, data: &[u8]) -> Result<(), WorkloadError> {
    std::fs::write(path, data).map_err(|e| io_error("cannot write", path, e))
}

fn read_small(path: &Path) -> Result<String, WorkloadError> {
    std::fs::read_to_string(path).map_err(|e| io_error("cannot read", path, e))
}

impl GraphDriver for OverlayDriver {
    fn pull(
        &mut self,
        id: &str,
        chain: &[String],
        layer: &LayerPlan,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        self.create(id, chain.last().map(String::as_str), io)?;
        let diff = self.path(id).join("diff");
        apply_layer(&diff, layer, &mut self.whiteouts, io)
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
        self.create(id, Some(top), io)?;
        // What mounting would add: overlayfs's own work directory.
        let ww = self.path(id).join("work").join("work");
        std::fs::create_dir(&ww).map_err(|e| io_error("cannot create directory", &ww, e))?;
        io.tally.dirs_created += 1;
        self.copied.insert(id.to_owned(), HashSet::new());
        Ok(())
    }

    fn write(
        &mut self,
        id: &str,
        image: &[String],
        op: &ChurnOp,
        io: &mut Io<'_>,
    ) -> Result<(), WorkloadError> {
        let upper = self.path(id).join("diff");
        let path = upper.join(&op.path);
        let first = self
            .copied
            .get_mut(id)
            .map(|s| s.insert(op.path.clone()))
            .unwrap_or(true);
        match op.kind {
            ChurnKind::Create { size } => {
                let parent = parent_of(&op.path);
                if first && !parent.is_empty() {
                    let p = upper.join(parent);
                    if !p.is_dir() {
                        std::fs::create_dir_all(&p)
                            .map_err(|e| io_error("cannot create directory", &p, e))?;
                        io.tally.dirs_created += 1;
                    }
                }
                io.append(&path, size, op.content_seed, true, op.fsync)
            }
            ChurnKind::Modify { offset, len } => {
                if first {
                    self.copy_up(id, image, op, io)?;
                }
                io.overwrite(&path, offset, len, op.content_seed, op.fsync)
            }
            ChurnKind::Append { len } => {
                if first {
                    self.copy_up(id, image, op, io)?;
                }
                io.append(&path, len, op.content_seed, false, op.fsync)
            }
        }
    }

    fn remove(&mut self, id: &str, _io: &mut Io<'_>) -> Result<(), WorkloadError> {
        let dir = self.path(id);
        if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
            let sym = self.home.join("l").join(link.trim());
            std::fs::remove_file(&sym).map_err(|e| io_error("cannot remove", &sym, e))?;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| io_error("cannot remove", &dir, e))?;
        self.copied.remove(id);
        Ok(())
    }

    fn settle(&mut self, _io: &mut Io<'_>) -> Result<bool, WorkloadError> {
        Ok(false)
    }
}
