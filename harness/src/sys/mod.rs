//! The only place that attaches loop devices, mounts, and changes namespaces. Every
//! acquisition returns a guard that releases it on drop (also while unwinding from a panic),
//! and is recorded in the [`State`](crate::state::State) file so that `btrtune cleanup` can
//! release it if the process is killed.

pub mod cmd;
pub mod loopdev;
pub mod mount;
pub mod ns;

pub use cmd::{Cmd, run};
pub use loopdev::LoopDev;
pub use mount::Mount;

/// Creates `dir` and its missing ancestors with mode 0755 whatever the umask, so that
/// workloads that drop privileges (PostgreSQL runs as `postgres`) can reach their directory.
/// Directories that already exist are left as they are.
pub fn create_dirs(dir: &std::path::Path) -> Result<(), crate::HarnessError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        p = d.parent();
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| crate::HarnessError::io(d, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(crate::HarnessError::io(d, e)),
        }
    }
    Ok(())
}
