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
