//! One psql session held open across the snapshot: the non-exclusive backup API needs
//! `pg_backup_start` and `pg_backup_stop` in the same session, with the snapshot in between.
//!
//! psql reads the statements from a pipe. Its output to a pipe is block-buffered, so the end
//! of `pg_backup_start` is not read from psql but from the server: the session shows up in
//! `pg_stat_activity` as `idle` with that statement as its last query. The label file comes
//! from psql's output after it exits.

use crate::WorkloadError;
use crate::pgbench::child::{read_lossy, stop, wait_up_to};
use crate::pgbench::client::Client;
use crate::text::tail;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

/// How long `pg_backup_start` (an immediate checkpoint) and `pg_backup_stop` may take.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(300);

/// A psql process in the middle of a non-exclusive backup; stopped when dropped (which
/// ends the session and aborts the backup).
pub struct BackupSession<'a> {
    child: Child,
    stdin: Option<ChildStdin>,
    out: PathBuf,
    err: PathBuf,
    client: Client<'a>,
}

impl<'a> BackupSession<'a> {
    /// Starts psql, sends `start_sql` and waits until the server has finished it.
    pub fn start(
        client: Client<'a>,
        tag: &str,
        start_sql: &str,
    ) -> Result<BackupSession<'a>, WorkloadError> {
        let out = client.scratch.join(format!("{tag}.out"));
        let err = client.scratch.join(format!("{tag}.err"));
        let create = |p: &PathBuf| {
            File::create(p)
                .map_err(|e| WorkloadError::Failed(format!("cannot create {}: {e}", p.display())))
        };
        let mut cmd = client.command("psql");
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
        ])
        .stdin(Stdio::piped())
        .stdout(create(&out)?)
        .stderr(create(&err)?)
        .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| WorkloadError::Failed(format!("cannot start psql: {e}")))?;
        let stdin = child.stdin.take();
        let mut s = BackupSession {
            child,
            stdin,
            out,
            err,
            client,
        };
        s.send(start_sql)?;
        let prefix = start_sql
            .split_inclusive('(')
            .next()
            .unwrap_or(start_sql)
            .replace('\'', "''");
        let done = format!(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' \
             AND state = 'idle' AND left(query, {}) = '{prefix}'",
            prefix.chars().count()
        );
        let until = Instant::now() + BACKUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(s.failure(&format!("psql ended ({status}) during `{start_sql}`")));
            }
            if !s.client.psql("backup-wait", &[&done])?.is_empty() {
                return Ok(s);
            }
            if s.client.interrupted.load(Ordering::SeqCst) {
                return Err(WorkloadError::Interrupted);
            }
            if Instant::now() > until {
                return Err(s.failure(&format!(
                    "`{start_sql}` did not finish within {} s",
                    BACKUP_TIMEOUT.as_secs()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, sql: &str) -> Result<(), WorkloadError> {
        let r = match self.stdin.as_mut() {
            Some(i) => i
                .write_all(format!("{sql};\n").as_bytes())
                .and_then(|()| i.flush()),
            None => Ok(()),
        };
        r.map_err(|e| self.failure(&format!("writing `{sql}` to psql: {e}")))
    }

    fn failure(&mut self, what: &str) -> WorkloadError {
        let _ = wait_up_to(&mut self.child, Duration::from_secs(2));
        WorkloadError::Failed(format!(
            "backup session: {what}; psql's stderr: {}",
            tail(&read_lossy(&self.err), 2000)
        ))
    }

    /// Sends `stop_sql`, ends psql and returns the last line it printed.
    pub fn stop(mut self, stop_sql: &str) -> Result<String, WorkloadError> {
        self.send(stop_sql)?;
        self.stdin.take();
        let status = wait_up_to(&mut self.child, BACKUP_TIMEOUT);
        match status {
            Some(s) if s.success() => {}
            Some(s) => return Err(self.failure(&format!("psql ended ({s}) during `{stop_sql}`"))),
            None => {
                return Err(self.failure(&format!(
                    "`{stop_sql}` did not finish within {} s",
                    BACKUP_TIMEOUT.as_secs()
                )));
            }
        }
        Ok(last_line(&read_lossy(&self.out)))
    }
}

impl Drop for BackupSession<'_> {
    fn drop(&mut self) {
        // Closing stdin ends psql (and the session, aborting a backup still in progress).
        self.stdin.take();
        if wait_up_to(&mut self.child, Duration::from_secs(5)).is_none() {
            stop(&mut self.child);
        }
    }
}

/// The last non-empty line of psql's output, trimmed.
pub fn last_line(out: &str) -> String {
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// The statement starting a non-exclusive backup on a server of `version_num`, with an
/// immediate (fast) checkpoint.
pub fn backup_start_sql(version_num: u32, label: &str) -> String {
    if version_num >= 150_000 {
        format!("SELECT pg_backup_start('{label}', true)")
    } else {
        format!("SELECT pg_start_backup('{label}', true, false)")
    }
}

/// The statement ending it, returning the backup label file hex-encoded (one line, no
/// matter what the label holds).
pub fn backup_stop_sql(version_num: u32) -> &'static str {
    if version_num >= 150_000 {
        "SELECT encode(convert_to(labelfile, 'UTF8'), 'hex') FROM pg_backup_stop(true)"
    } else {
        "SELECT encode(convert_to(labelfile, 'UTF8'), 'hex') FROM pg_stop_backup(false, true)"
    }
}

/// Decodes PostgreSQL's `encode(..., 'hex')` (whitespace ignored).
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    let val = |b: u8| -> Result<u8, String> {
        (b as char)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| format!("`{}` is not a hex digit", b as char))
    };
    digits
        .chunks(2)
        .map(|p| Ok(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

/// Checks that a backup label looks like one (`START WAL LOCATION: ... CHECKPOINT
/// LOCATION: ...`).
pub fn valid_label(label: &str) -> bool {
    label.starts_with("START WAL LOCATION:") && label.contains("\nCHECKPOINT LOCATION:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_statements_by_version() {
        assert_eq!(
            backup_start_sql(150_018, "snap-1"),
            "SELECT pg_backup_start('snap-1', true)"
        );
        assert!(backup_start_sql(140_000, "x").contains("pg_start_backup('x', true, false)"));
        assert!(backup_stop_sql(160_000).contains("pg_backup_stop(true)"));
        assert!(backup_stop_sql(130_000).contains("pg_stop_backup(false, true)"));
    }

    #[test]
    fn labels_decode_from_hex() {
        let label = "START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\n\
                     CHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\n";
        let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
        let back = unhex(&hex).unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), label);
        assert!(valid_label(label));
        assert!(!valid_label("CHECKPOINT LOCATION: 0/1\n"));
        assert_eq!(unhex(" 41\n42 ").unwrap(), b"AB");
        assert!(unhex("414").unwrap_err().contains("odd"));
        assert!(unhex("4g").unwrap_err().contains("`g`"));
        assert_eq!(last_line("0/5000028\n5354\n\n"), "5354");
        assert_eq!(last_line(""), "");
    }
}
