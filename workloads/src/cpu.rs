//! CPU time of this process or of its waited-for children, for a [`crate::Measurement`]'s
//! `cpu_usr_pct` / `cpu_sys_pct` (percent of one CPU over the measured wall time).

use crate::WorkloadError;
use nix::sys::resource::{UsageWho, getrusage};
use std::time::Duration;

/// User and system CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// User time.
    pub user: Duration,
    /// System time.
    pub system: Duration,
}

impl CpuTime {
    /// This process so far, every thread (`getrusage(RUSAGE_SELF)`).
    pub fn of_self() -> Result<Self, WorkloadError> {
        read(UsageWho::RUSAGE_SELF)
    }

    /// The children waited for so far (`getrusage(RUSAGE_CHILDREN)`).
    pub fn of_children() -> Result<Self, WorkloadError> {
        read(UsageWho::RUSAGE_CHILDREN)
    }

    /// The time spent since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// (user, system) as percent of one CPU over `wall_s` seconds.
    pub fn pct(self, wall_s: f64) -> (f64, f64) {
        (pct(self.user, wall_s), pct(self.system, wall_s))
    }
}

/// `cpu` as percent of one CPU over `wall_s` seconds (0 for no wall time).
pub fn pct(cpu: Duration, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        cpu.as_secs_f64() / wall_s * 100.0
    } else {
        0.0
    }
}

fn read(who: UsageWho) -> Result<CpuTime, WorkloadError> {
    let u = getrusage(who).map_err(|e| WorkloadError::Failed(format!("getrusage: {e}")))?;
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    Ok(CpuTime {
        user: d(u.user_time()),
        system: d(u.system_time()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_shows_up_as_user_time() {
        let t0 = CpuTime::of_self().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = CpuTime::of_self().unwrap().since(t0);
        assert!(used.user >= Duration::from_millis(50), "{used:?}");
        let (u, s) = used.pct(0.2);
        assert!(u > 20.0 && s >= 0.0, "{u} {s}");
        assert_eq!(pct(Duration::from_secs(1), 0.0), 0.0);
        assert_eq!(
            CpuTime::default().since(used),
            CpuTime::default(),
            "saturates"
        );
    }
}
