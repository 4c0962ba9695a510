//! Loop devices over backing files, attached with autoclear and direct I/O.

use crate::error::HarnessError;
use crate::state::State;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An attached loop device; detached on drop. It is attached with autoclear, so the kernel
/// also detaches it when the last user goes away (e.g. the process is killed).
pub struct LoopDev {
    dev: loopdev::LoopDevice,
    path: PathBuf,
    backing: PathBuf,
    state: Arc<State>,
}

impl std::fmt::Debug for LoopDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopDev")
            .field("path", &self.path)
            .field("backing", &self.backing)
            .finish()
    }
}

impl LoopDev {
    /// Attaches the first free loop device to `backing` (retrying if another process takes
    /// the one offered first: loop numbers are never assumed).
    pub fn attach(
        backing: &Path,
        direct_io: bool,
        state: &Arc<State>,
    ) -> Result<LoopDev, HarnessError> {
        let lc =
            loopdev::LoopControl::open().map_err(|e| HarnessError::io("/dev/loop-control", e))?;
        let mut last = None;
        for _ in 0..20 {
            let dev = lc
                .next_free()
                .map_err(|e| HarnessError::io("/dev/loop-control", e))?;
            let path = dev
                .path()
                .ok_or_else(|| HarnessError::Layout("a loop device without a path".into()))?;
            match dev.with().autoclear(true).attach(backing) {
                Ok(()) => {
                    state.add_loop(&path, backing);
                    let l = LoopDev {
                        dev,
                        path,
                        backing: backing.to_path_buf(),
                        state: state.clone(),
                    };
                    if direct_io {
                        l.dev
                            .set_direct_io(true)
                            .map_err(|e| HarnessError::io(&l.path, e))?;
                    }
                    return Ok(l);
                }
                // Taken by someone else between `next_free` and `attach`: try the next one.
                Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => last = Some(e),
                Err(e) => return Err(HarnessError::io(backing, e)),
            }
        }
        Err(HarnessError::io(
            backing,
            last.unwrap_or_else(|| std::io::Error::other("no free loop device")),
        ))
    }

    /// `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backing file.
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// Whether the kernel reports direct I/O on (`/sys/block/loopN/loop/dio`).
    pub fn direct_io(&self) -> Option<bool> {
        let name = self.path.file_name()?.to_string_lossy().into_owned();
        std::fs::read_to_string(format!("/sys/block/{name}/loop/dio"))
            .ok()
            .map(|s| s.trim() == "1")
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        // EBUSY means something still uses it; autoclear detaches it when that ends.
        if let Err(e) = self.dev.detach()
            && e.raw_os_error() != Some(nix::libc::ENXIO)
        {
            eprintln!(
                "btrtune: detaching {}: {e} (autoclear will detach it when it is no longer used)",
                self.path.display()
            );
        }
        self.state.remove_loop(&self.path);
    }
}

/// The backing file of a loop device, if attached.
pub fn backing_file(device: &Path) -> Option<PathBuf> {
    let name = device.file_name()?.to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
        .ok()
        .map(|s| PathBuf::from(s.trim_end_matches('\n').trim_end_matches(" (deleted)")))
}

/// Detaches a loop device by path (for `cleanup`).
pub fn detach(device: &Path) -> Result<(), HarnessError> {
    let d = loopdev::LoopDevice::open(device).map_err(|e| HarnessError::io(device, e))?;
    d.detach().map_err(|e| HarnessError::io(device, e))
}

/// Whether any loop device is attached to `file`.
pub fn attached_to(file: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return false;
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("loop"))
        .any(|e| backing_file(&Path::new("/dev").join(e.file_name())).as_deref() == Some(file))
}

/// Creates a backing file of `size` bytes, fully written with zeros (not sparse, so that
/// writes through the loop device do not pay for allocation in the backing filesystem).
pub fn create_backing_file(path: &Path, size: u64) -> Result<(), HarnessError> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| HarnessError::io(path, e))?;
    let chunk = vec![0u8; 4 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])
            .map_err(|e| HarnessError::io(path, e))?;
        left -= n as u64;
    }
    f.sync_all().map_err(|e| HarnessError::io(path, e))
}
