//! A private mount namespace: mounts made after entering it are invisible to the rest of the
//! system and disappear with the process, even after `kill -KILL`. The loop devices under them
//! (attached with autoclear) are then freed by the kernel too.

use crate::error::HarnessError;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

/// Moves this process into a new mount namespace whose mounts do not propagate back.
///
/// Must be called while the process has a single thread (the kernel refuses otherwise), so
/// before any progress bar or worker thread starts.
pub fn enter_private_mount_namespace() -> Result<(), HarnessError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| HarnessError::sys("unshare the mount namespace", e))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| HarnessError::sys("make / private in the new namespace", e))
}
