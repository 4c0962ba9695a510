//! A running PostgreSQL server that is always stopped: [`PgServer`].
//!
//! Started as `postgres -D <pgdata> -k <scratch> -p <port> -c listen_addresses= -c ...`
//! (what `pg_ctl start -o ...` runs, without pg_ctl's shell), as a child of btrtune in its
//! own process group, its log in the scratch directory. No TCP: clients reach it only by
//! the Unix socket in the private scratch directory, so two runs never share a socket; the
//! port only names the socket file and is still picked from a range and retried if the
//! server says it is taken. Ready when `postmaster.pid` says `ready` (what `pg_ctl -w`
//! waits for).
//!
//! Stopped by [`PgServer::stop`] or, on every other path (error, panic, interruption), by
//! `Drop`: SIGINT (what `pg_ctl stop -m fast` sends: abort sessions, shutdown checkpoint),
//! then SIGQUIT (`-m immediate`), then SIGKILL to the postmaster and each of its children.

use super::account::RunAs;
use super::binaries::PgBinaries;
use super::child::{POLL, pg_command, read_lossy, wait_up_to};
use super::procstat;
use crate::WorkloadError;
use crate::text::tail;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a fast shutdown may take (its shutdown checkpoint writes every dirty buffer).
const FAST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an immediate shutdown may take.
const IMMEDIATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports are tried.
const START_ATTEMPTS: u32 = 5;

/// How the server was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It had exited already (or was stopped before).
    AlreadyGone,
    /// Fast shutdown (SIGINT).
    Fast,
    /// Immediate shutdown (SIGQUIT), after the fast one did not finish.
    Immediate,
    /// SIGKILL to the postmaster and its children.
    Killed,
}

/// A running PostgreSQL server; stopped when dropped.
#[derive(Debug)]
pub struct PgServer {
    child: Option<Child>,
    pid: i32,
    port: u16,
    datadir: PathBuf,
    sockdir: PathBuf,
    log: PathBuf,
}

impl PgServer {
    /// Starts `postgres` on the initialised `datadir` as `run_as`, its socket and log in
    /// `scratch`, with these settings (`-c NAME=VALUE` each). Waits until it accepts
    /// connections; stops it and returns [`WorkloadError::Interrupted`] when `interrupted`
    /// is set meanwhile.
    pub fn start(
        bins: &PgBinaries,
        run_as: &RunAs,
        datadir: &Path,
        scratch: &Path,
        settings: &BTreeMap<String, String>,
        interrupted: &AtomicBool,
    ) -> Result<PgServer, WorkloadError> {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = next_port();
            let log = scratch.join(format!("server-{port}.log"));
            let file = File::create(&log).map_err(|e| {
                WorkloadError::Failed(format!("cannot create {}: {e}", log.display()))
            })?;
            let file2 = file.try_clone().map_err(|e| {
                WorkloadError::Failed(format!("cannot reopen {}: {e}", log.display()))
            })?;
            let mut cmd = pg_command(bins, "postgres", run_as, scratch);
            cmd.arg("-D").arg(datadir).arg("-k").arg(scratch).args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=",
            ]);
            for (k, v) in settings {
                cmd.arg("-c").arg(format!("{k}={v}"));
            }
            cmd.stdout(file).stderr(file2).process_group(0);
            let child = cmd.spawn().map_err(|e| {
                WorkloadError::Failed(format!(
                    "cannot start {}: {e}",
                    bins.program("postgres").display()
                ))
            })?;
            let pid = i32::try_from(child.id()).map_err(|_| {
                WorkloadError::Failed(format!("postgres has an odd pid {}", child.id()))
            })?;
            let mut server = PgServer {
                child: Some(child),
                pid,
                port,
                datadir: datadir.to_path_buf(),
                sockdir: scratch.to_path_buf(),
                log,
            };
            match server.wait_ready(interrupted)? {
                true => return Ok(server),
                false => {
                    last_log = server.log_tail(3000);
                    if !port_taken(&last_log) {
                        break;
                    }
                }
            }
        }
        Err(WorkloadError::Failed(format!(
            "PostgreSQL did not start on {}; its log: {last_log}",
            datadir.display()
        )))
    }

    /// `Ok(true)` when ready, `Ok(false)` when the server exited (the log says why).
    fn wait_ready(&mut self, interrupted: &AtomicBool) -> Result<bool, WorkloadError> {
        let started = Instant::now();
        let pidfile = self.datadir.join("postmaster.pid");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return Ok(false);
            }
            if ready(&read_lossy(&pidfile), self.pid) {
                return Ok(true);
            }
            if interrupted.load(Ordering::SeqCst) {
                self.stop_logged();
                return Err(WorkloadError::Interrupted);
            }
            if started.elapsed() > START_TIMEOUT {
                let log = self.log_tail(3000);
                self.stop_logged();
                return Err(WorkloadError::Failed(format!(
                    "PostgreSQL on {} was not ready within {} s; its log: {log}",
                    self.datadir.display(),
                    START_TIMEOUT.as_secs()
                )));
            }
            thread::sleep(POLL);
        }
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The port (it names the socket file `.s.PGSQL.<port>`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of its socket.
    pub fn sockdir(&self) -> &Path {
        &self.sockdir
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self, max: usize) -> String {
        tail(&read_lossy(&self.log), max)
    }

    /// A failure while talking to the server, with the end of its log (what the server
    /// said is usually the reason).
    pub fn with_log(&self, e: WorkloadError) -> WorkloadError {
        match e {
            WorkloadError::Failed(m) => {
                WorkloadError::Failed(format!("{m}; the server's log: {}", self.log_tail(1500)))
            }
            other => other,
        }
    }

    /// Stops the server (fast, then immediate, then SIGKILL) and says how. Calling it again
    /// does nothing.
    pub fn stop(&mut self) -> Result<Stopped, WorkloadError> {
        let Some(mut child) = self.child.take() else {
            return Ok(Stopped::AlreadyGone);
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(Stopped::AlreadyGone);
        }
        let pm = Pid::from_raw(self.pid);
        let _ = kill(pm, Signal::SIGINT);
        if wait_up_to(&mut child, FAST_TIMEOUT).is_some() {
            return Ok(Stopped::Fast);
        }
        let _ = kill(pm, Signal::SIGQUIT);
        if wait_up_to(&mut child, IMMEDIATE_TIMEOUT).is_some() {
            return Ok(Stopped::Immediate);
        }
        // The children first: once the postmaster is gone they would be orphans.
        let children = procstat::children_of(self.pid);
        for c in &children {
            let _ = kill(Pid::from_raw(c.pid), Signal::SIGKILL);
        }
        let _ = child.kill();
        match child.wait() {
            Ok(_) => Ok(Stopped::Killed),
            Err(e) => Err(WorkloadError::Failed(format!(
                "PostgreSQL on {} (pid {}) survived SIGKILL: {e}",
                self.datadir.display(),
                self.pid
            ))),
        }
    }

    fn stop_logged(&mut self) {
        match self.stop() {
            Ok(Stopped::Fast | Stopped::AlreadyGone) => {}
            Ok(how) => eprintln!(
                "btrtune: PostgreSQL on {} needed {how:?} to stop",
                self.datadir.display()
            ),
            Err(e) => eprintln!("btrtune: {e}"),
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop_logged();
    }
}

/// True when `postmaster.pid` names `pid` and says `ready` (its 8th line; PostgreSQL ≥ 10).
pub fn ready(pidfile: &str, pid: i32) -> bool {
    let lines: Vec<&str> = pidfile.lines().collect();
    lines.first().and_then(|l| l.trim().parse::<i32>().ok()) == Some(pid)
        && lines.get(7).is_some_and(|l| l.trim() == "ready")
}

/// Whether the server's log says its port (socket lock file) is taken.
fn port_taken(log: &str) -> bool {
    log.contains("could not create lock file") || log.contains("already in use")
}

/// A port in 40000..60000, different for every start of this process and likely different
/// from other processes'.
fn next_port() -> u16 {
    static STARTS: AtomicU32 = AtomicU32::new(0);
    let n = STARTS.fetch_add(1, Ordering::Relaxed);
    let v = std::process::id()
        .wrapping_mul(31)
        .wrapping_add(n.wrapping_mul(1013))
        % 20_000;
    // < 20 000, so it fits.
    40_000 + u16::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_from_postmaster_pid() {
        let text = "2451\n/var/tmp/x/pgdata\n1795263388\n54999\n/tmp/pgs.WHDR\n\n   827396    262183\nready   \n";
        assert!(ready(text, 2451));
        assert!(!ready(text, 2452), "another postmaster's file");
        assert!(!ready(&text.replace("ready", "starting"), 2451));
        assert!(!ready("2451\n/x\n", 2451));
        assert!(!ready("", 2451));
    }

    #[test]
    fn ports_differ_and_stay_in_range() {
        let a = next_port();
        let b = next_port();
        assert_ne!(a, b);
        assert!((40_000..60_000).contains(&a) && (40_000..60_000).contains(&b));
        assert!(port_taken(
            "FATAL:  could not create lock file \"/tmp/x/.s.PGSQL.5432.lock\": File exists"
        ));
        assert!(!port_taken("FATAL:  data directory has wrong ownership"));
    }
}
