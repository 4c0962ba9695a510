//! Running a profile's threads: the measurement window (warm-up excluded, like fio's
//! `ramp_time`, benchmark-method.md §2.1), stopping on time, on Ctrl-C or on the first
//! error, and the CPU time of the window.

use crate::cpu::CpuTime;
use crate::{RunContext, WorkloadError};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often the main thread and sleeping workers look at the stop flags.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// The measured part of a run: events that complete in `[start, end)` count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// End of the warm-up.
    pub start: Instant,
    /// End of the run.
    pub end: Instant,
}

impl Window {
    /// The window after `warmup` from now, `runtime` long.
    pub(crate) fn after(warmup: Duration, runtime: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self {
            start,
            end: start + runtime,
        }
    }

    /// True if `t` is inside.
    pub(crate) fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

/// A counter of events.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the threads of one run share: the window, the stop flags and the first error.
#[derive(Debug)]
pub(crate) struct Control {
    /// The measured window.
    pub window: Window,
    stop: AtomicBool,
    error: Mutex<Option<WorkloadError>>,
}

impl Control {
    /// A run measured in `window`.
    pub(crate) fn new(window: Window) -> Self {
        Self {
            window,
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    /// True once the run is over (time, interruption or an error).
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Ends the run.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Records the first error and ends the run.
    pub(crate) fn fail(&self, e: WorkloadError) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
        self.stop();
    }

    /// Runs a worker; an error is recorded (ending the run) and gives `None`.
    pub(crate) fn guard<T>(&self, f: impl FnOnce() -> Result<T, WorkloadError>) -> Option<T> {
        match f() {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// The first error, if any.
    pub(crate) fn take_error(&self) -> Option<WorkloadError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Sleeps `d`, waking early when the run ends; false if it has.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep((until - now).min(POLL));
        }
    }
}

/// What the main thread measured over the window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timing {
    /// Wall time of the window in seconds.
    pub runtime_s: f64,
    /// User CPU of the process over the window, percent of one CPU.
    pub cpu_usr_pct: f64,
    /// System CPU, percent of one CPU.
    pub cpu_sys_pct: f64,
}

/// The main thread's part of a run: waits out the warm-up, takes the CPU time at the start
/// and the end of the window, and stops the run at its end. Returns early with
/// [`WorkloadError::Interrupted`] when `ctx.interrupted` is set (checked every [`POLL`]), or
/// with the workers' first error.
pub(crate) fn drive(ctx: &RunContext<'_>, ctl: &Control) -> Result<Timing, WorkloadError> {
    let result = drive_inner(ctx, ctl);
    ctl.stop();
    result
}

fn drive_inner(ctx: &RunContext<'_>, ctl: &Control) -> Result<Timing, WorkloadError> {
    let mut started: Option<(Instant, CpuTime)> = None;
    loop {
        if ctx.interrupted.load(Ordering::SeqCst) {
            return Err(WorkloadError::Interrupted);
        }
        if ctl.stopping() {
            // A worker failed; the caller reports its error.
            return Err(WorkloadError::Failed("the run stopped early".to_owned()));
        }
        let now = Instant::now();
        if started.is_none() && now >= ctl.window.start {
            started = Some((now, CpuTime::of_self()?));
        }
        if let Some((t0, cpu0)) = started {
            if now >= ctl.window.end {
                let (cpu_usr_pct, cpu_sys_pct) = CpuTime::of_self()?
                    .since(cpu0)
                    .pct(now.duration_since(t0).as_secs_f64());
                return Ok(Timing {
                    runtime_s: ctl
                        .window
                        .end
                        .duration_since(ctl.window.start)
                        .as_secs_f64(),
                    cpu_usr_pct,
                    cpu_sys_pct,
                });
            }
        }
        let next = if started.is_none() {
            ctl.window.start
        } else {
            ctl.window.end
        };
        thread::sleep(next.saturating_duration_since(now).min(POLL));
    }
}

/// Returns [`WorkloadError::Interrupted`] once the user interrupted (for setup loops).
pub(crate) fn check(ctx: &RunContext<'_>) -> Result<(), WorkloadError> {
    if ctx.interrupted.load(Ordering::SeqCst) {
        Err(WorkloadError::Interrupted)
    } else {
        Ok(())
    }
}

/// The outcome of a run from the main thread's result and the workers' first error: an
/// interruption wins, then a worker's error, then the main thread's.
pub(crate) fn settle(
    timing: Result<Timing, WorkloadError>,
    ctl: &Control,
) -> Result<Timing, WorkloadError> {
    match timing {
        Err(WorkloadError::Interrupted) => Err(WorkloadError::Interrupted),
        other => match ctl.take_error() {
            Some(e) => Err(e),
            None => other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(flag: &AtomicBool) -> RunContext<'_> {
        RunContext {
            dir: std::path::Path::new("/nonexistent"),
            device: std::path::Path::new("/nonexistent"),
            quick: true,
            interrupted: flag,
        }
    }

    #[test]
    fn drive_measures_the_window_only() {
        let flag = AtomicBool::new(false);
        let ctl = Control::new(Window::after(
            Duration::from_millis(50),
            Duration::from_millis(100),
        ));
        let t = Instant::now();
        let timing = drive(&ctx(&flag), &ctl).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));
        assert!((timing.runtime_s - 0.1).abs() < 1e-6, "{timing:?}");
        assert!(ctl.stopping());
        assert!(!ctl.window.contains(ctl.window.end));
        assert!(ctl.window.contains(ctl.window.start));
    }

    #[test]
    fn drive_stops_on_interruption_and_on_errors() {
        let flag = AtomicBool::new(true);
        let ctl = Control::new(Window::after(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        let t = Instant::now();
        let r = drive(&ctx(&flag), &ctl);
        assert!(matches!(r, Err(WorkloadError::Interrupted)));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(matches!(settle(r, &ctl), Err(WorkloadError::Interrupted)));

        let flag = AtomicBool::new(false);
        let ctl = Control::new(Window::after(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        assert_eq!(
            ctl.guard(|| Err::<(), _>(WorkloadError::Failed("disk full".into()))),
            None
        );
        let r = drive(&ctx(&flag), &ctl);
        let e = settle(r, &ctl).unwrap_err().to_string();
        assert_eq!(e, "disk full");
        assert!(
            !ctl.sleep(Duration::from_secs(5)),
            "a stopped run does not sleep"
        );
    }
}
