//! Running PostgreSQL's client programs (`initdb`, `pgbench`, `psql`) to their end while
//! watching for Ctrl-C and a deadline.
//!
//! Each runs in its own process group (the terminal's Ctrl-C reaches btrtune, whose handler
//! sets `interrupted`; btrtune then stops the group), with a clean environment (no `PG*`
//! variables from the caller can redirect it to another server), in the run's scratch
//! directory, its output captured in files there.

use super::account::RunAs;
use super::binaries::PgBinaries;
use crate::WorkloadError;
use crate::text::tail;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often a wait looks at the child and at `interrupted`.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a stopped client gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A PostgreSQL program run as `run_as` in `scratch`, with a clean environment.
pub fn pg_command(bins: &PgBinaries, program: &str, run_as: &RunAs, scratch: &Path) -> Command {
    let mut cmd = Command::new(bins.program(program));
    cmd.env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bins.bindir().display()))
        .env("HOME", scratch)
        .env("LC_ALL", "C")
        .current_dir(scratch)
        .stdin(Stdio::null());
    run_as.apply(&mut cmd);
    cmd
}

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` to its end, its output in `<dir>/<tag>.out` and `<tag>.err`. Stops it and
/// returns [`WorkloadError::Interrupted`] when `interrupted` is set, and fails when it runs
/// past `timeout` or exits unsuccessfully (the message has the end of its output).
pub fn run_to_end(
    mut cmd: Command,
    what: &str,
    dir: &Path,
    tag: &str,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> Result<Finished, WorkloadError> {
    let out_path = dir.join(format!("{tag}.out"));
    let err_path = dir.join(format!("{tag}.err"));
    let create = |p: &Path| {
        File::create(p).map_err(|e| {
            WorkloadError::Failed(format!("{what}: cannot create {}: {e}", p.display()))
        })
    };
    cmd.stdout(create(&out_path)?)
        .stderr(create(&err_path)?)
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| spawn_error(what, cmd.get_program(), e))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => {
                stop(&mut child);
                return Err(WorkloadError::Failed(format!("{what}: waiting: {e}")));
            }
        }
        if interrupted.load(Ordering::SeqCst) {
            stop(&mut child);
            return Err(WorkloadError::Interrupted);
        }
        if started.elapsed() > timeout {
            stop(&mut child);
            return Err(WorkloadError::Failed(format!(
                "{what} did not finish within {} s and was stopped; its stderr: {}",
                timeout.as_secs(),
                tail(&read_lossy(&err_path), 2000)
            )));
        }
        thread::sleep(POLL);
    };
    let elapsed = started.elapsed();
    let stdout = read_lossy(&out_path);
    let stderr = read_lossy(&err_path);
    if !status.success() {
        return Err(failure(what, status, &stdout, &stderr));
    }
    Ok(Finished {
        stdout,
        stderr,
        elapsed,
    })
}

fn spawn_error(what: &str, program: &std::ffi::OsStr, e: std::io::Error) -> WorkloadError {
    if e.kind() == std::io::ErrorKind::NotFound {
        WorkloadError::Missing {
            tool: Path::new(program).display().to_string(),
            hint: super::binaries::INSTALL_HINT.to_owned(),
        }
    } else {
        WorkloadError::Failed(format!(
            "{what}: cannot start {}: {e}",
            Path::new(program).display()
        ))
    }
}

fn failure(what: &str, status: ExitStatus, stdout: &str, stderr: &str) -> WorkloadError {
    let mut msg = format!("{what} failed ({status})");
    let err = tail(stderr, 3000);
    if !err.is_empty() {
        msg.push_str(&format!("; its stderr: {err}"));
    }
    let out = tail(stdout, 1000);
    if !out.is_empty() {
        msg.push_str(&format!("; its stdout: {out}"));
    }
    WorkloadError::Failed(msg)
}

/// A file's text, lossily decoded; empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Waits up to `limit` for `child` to exit; its status, or `None` if it is still running.
pub fn wait_up_to(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= until {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a client: SIGTERM to its process group, SIGKILL after a grace period, then reaps
/// it. Signals go only to the group of the child this run started, while it is unreaped.
pub fn stop(child: &mut Child) {
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    if wait_up_to(child, KILL_GRACE).is_some() {
        return;
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_failure_timeout_and_interrupt() {
        let t = tempfile::tempdir().unwrap();
        let no = AtomicBool::new(false);
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "echo out; echo err >&2"]);
        let f = run_to_end(c, "sh", t.path(), "ok", Duration::from_secs(10), &no).unwrap();
        assert_eq!((f.stdout.as_str(), f.stderr.as_str()), ("out\n", "err\n"));

        let mut c = Command::new("/bin/sh");
        c.args(["-c", "echo broken >&2; exit 3"]);
        let e = run_to_end(c, "sh", t.path(), "bad", Duration::from_secs(10), &no)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sh failed") && e.contains("broken"), "{e}");

        let mut c = Command::new("/bin/sleep");
        c.arg("30");
        let started = Instant::now();
        let e = run_to_end(
            c,
            "sleep",
            t.path(),
            "slow",
            Duration::from_millis(200),
            &no,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("did not finish within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));

        let yes = AtomicBool::new(true);
        let mut c = Command::new("/bin/sleep");
        c.arg("30");
        let e = run_to_end(c, "sleep", t.path(), "int", Duration::from_secs(60), &yes).unwrap_err();
        assert!(matches!(e, WorkloadError::Interrupted), "{e}");

        let c = Command::new("/nonexistent/pgbench");
        let e =
            run_to_end(c, "pgbench", t.path(), "none", Duration::from_secs(1), &no).unwrap_err();
        assert!(matches!(e, WorkloadError::Missing { .. }), "{e}");
    }
}
