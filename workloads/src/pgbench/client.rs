//! Talking to the running server: `psql` statements and queries, `pgbench` runs, and the
//! server-side counters read before and after the measured run ([`ServerStats`]).

use super::account::RunAs;
use super::binaries::PgBinaries;
use super::child::{Finished, pg_command, run_to_end};
use crate::WorkloadError;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

/// How long one psql call may take (a CHECKPOINT after a big `pgbench -i` writes it all).
const PSQL_TIMEOUT: Duration = Duration::from_secs(600);

/// The client side of a run: which programs, as whom, where, and the server's socket.
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    /// PostgreSQL's programs.
    pub bins: &'a PgBinaries,
    /// The account they run as.
    pub run_as: &'a RunAs,
    /// The scratch directory: the socket, logs, outputs.
    pub scratch: &'a Path,
    /// The server's port.
    pub port: u16,
    /// Set on Ctrl-C.
    pub interrupted: &'a AtomicBool,
}

impl Client<'_> {
    /// The server's `server_version_num`; an error below PostgreSQL 10.
    pub fn server_version(&self) -> Result<u32, WorkloadError> {
        let rows = self.psql("version", &["SHOW server_version_num"])?;
        let version: u32 = cell(&rows, 0, 0, "server_version_num")?
            .parse()
            .map_err(|_| WorkloadError::Failed(format!("server_version_num: {rows:?}")))?;
        if version < 100_000 {
            return Err(WorkloadError::Failed(format!(
                "PostgreSQL {version} in {} is too old: 10 or newer is needed",
                self.bins.bindir().display()
            )));
        }
        Ok(version)
    }

    /// A client program aimed at the server (`-h <scratch> -p <port>`).
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = pg_command(self.bins, program, self.run_as, self.scratch);
        cmd.arg("-h")
            .arg(self.scratch)
            .args(["-p", &self.port.to_string()]);
        cmd
    }

    /// Runs each statement in its own transaction (`psql -c` per statement, so `VACUUM`
    /// works), stopping at the first error; returns the rows printed, fields split at `|`.
    pub fn psql(&self, tag: &str, statements: &[&str]) -> Result<Vec<Vec<String>>, WorkloadError> {
        let mut cmd = self.command("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"]);
        for s in statements {
            cmd.arg("-c").arg(s);
        }
        cmd.args(["-d", "postgres"]);
        let what = format!("psql ({})", statements.join("; "));
        let f = run_to_end(
            cmd,
            &what,
            self.scratch,
            tag,
            PSQL_TIMEOUT,
            self.interrupted,
        )?;
        Ok(f.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('|').map(|f| f.trim().to_owned()).collect())
            .collect())
    }

    /// Runs pgbench with `args` against the `postgres` database, to its end within
    /// `timeout`.
    pub fn pgbench(
        &self,
        tag: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Finished, WorkloadError> {
        let mut cmd = self.command("pgbench");
        cmd.args(args).arg("postgres");
        let what = format!("pgbench {}", args.join(" "));
        run_to_end(cmd, &what, self.scratch, tag, timeout, self.interrupted)
    }

    /// Waits (at most `limit`) until no client session but psql's own is left, so that the
    /// backends of a finished pgbench have flushed their statistics (they do as they exit).
    pub fn wait_for_sessions_to_end(&self, limit: Duration) -> Result<(), WorkloadError> {
        let until = Instant::now() + limit;
        loop {
            let rows = self.psql(
                "sessions",
                &["SELECT count(*) FROM pg_stat_activity \
                   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"],
            )?;
            if cell(&rows, 0, 0, "sessions")? == "0" || Instant::now() >= until {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Server-side counters: the WAL position, checkpoints and `pg_stat_wal`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerStats {
    /// `pg_current_wal_insert_lsn()` in bytes.
    pub wal_lsn: u64,
    /// Checkpoints so far, timed and requested.
    pub checkpoints: u64,
    /// `pg_stat_wal` (PostgreSQL ≥ 14).
    pub wal: Option<WalStats>,
}

/// The columns of `pg_stat_wal` used here.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WalStats {
    /// WAL records.
    pub records: u64,
    /// Full-page images.
    pub fpi: u64,
    /// `write()`s of WAL buffers.
    pub write: u64,
    /// `fdatasync()`s (or the configured method's syncs) of WAL files.
    pub sync: u64,
    /// Time spent in those syncs, milliseconds (with `track_wal_io_timing`).
    pub sync_time_ms: f64,
}

impl ServerStats {
    /// Reads them from a server of version `version_num` (`server_version_num`).
    pub fn read(client: &Client<'_>, version_num: u32) -> Result<ServerStats, WorkloadError> {
        let checkpoints = if version_num >= 170_000 {
            "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
        } else {
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
        };
        let mut statements = vec!["SELECT pg_current_wal_insert_lsn()", checkpoints];
        if version_num >= 140_000 {
            statements.push(
                "SELECT wal_records, wal_fpi, wal_write, wal_sync, wal_sync_time FROM pg_stat_wal",
            );
        }
        let rows = client.psql("stats", &statements)?;
        let what = "psql's server statistics";
        let wal = if version_num >= 140_000 {
            Some(WalStats {
                records: int(cell(&rows, 2, 0, what)?, what)?,
                fpi: int(cell(&rows, 2, 1, what)?, what)?,
                write: int(cell(&rows, 2, 2, what)?, what)?,
                sync: int(cell(&rows, 2, 3, what)?, what)?,
                sync_time_ms: cell(&rows, 2, 4, what)?.parse().map_err(|_| {
                    out_err(what, format!("wal_sync_time {:?}", cell(&rows, 2, 4, what)))
                })?,
            })
        } else {
            None
        };
        Ok(ServerStats {
            wal_lsn: parse_lsn(cell(&rows, 0, 0, what)?)
                .ok_or_else(|| out_err(what, format!("LSN {:?}", cell(&rows, 0, 0, what))))?,
            checkpoints: int(cell(&rows, 1, 0, what)?, what)?,
            wal,
        })
    }
}

fn out_err(what: &str, message: String) -> WorkloadError {
    WorkloadError::Output {
        what: what.to_owned(),
        message: format!("unexpected {message}"),
    }
}

/// Row `r`, field `f` of psql's output.
pub fn cell<'r>(
    rows: &'r [Vec<String>],
    r: usize,
    f: usize,
    what: &str,
) -> Result<&'r str, WorkloadError> {
    rows.get(r)
        .and_then(|row| row.get(f))
        .map(String::as_str)
        .ok_or_else(|| out_err(what, format!("output: no field {f} in row {r} of {rows:?}")))
}

fn int(s: &str, what: &str) -> Result<u64, WorkloadError> {
    s.parse()
        .map_err(|_| out_err(what, format!("`{s}` where a count belongs")))
}

/// A WAL position `X/Y` (two hex numbers, the high and low 32 bits) in bytes.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u64::from(u32::MAX) && lo <= u64::from(u32::MAX)).then_some((hi << 32) | lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns() {
        assert_eq!(parse_lsn("0/2FE1600"), Some(0x2FE_1600));
        assert_eq!(parse_lsn(" 1/0 "), Some(1 << 32));
        assert_eq!(parse_lsn("0/x"), None);
        assert_eq!(parse_lsn("02FE1600"), None);
        assert_eq!(parse_lsn("100000000/0"), None);
    }

    #[test]
    fn cells() {
        let rows = vec![vec!["1".to_owned(), "2".to_owned()]];
        assert_eq!(cell(&rows, 0, 1, "q").unwrap(), "2");
        let e = cell(&rows, 1, 0, "q").unwrap_err().to_string();
        assert!(e.contains("no field 0 in row 1"), "{e}");
        assert!(int("x", "q").is_err());
    }
}
