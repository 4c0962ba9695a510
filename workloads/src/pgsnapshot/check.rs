//! Starting PostgreSQL on a snapshot and checking what it recovered to.

use crate::WorkloadError;
use crate::pgbench::account::RunAs;
use crate::pgbench::binaries::PgBinaries;
use crate::pgbench::client::Client;
use crate::pgbench::server::{PgServer, Stopped};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Every btree index on a pgbench table, checked with its heap (`heapallindexed`): one row
/// per index, so the row count says how many were checked.
const INDEX_CHECK: &str = "SELECT c.relname, bt_index_check(c.oid::regclass, true) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = c.relam \
     WHERE am.amname = 'btree' AND t.relname LIKE 'pgbench\\_%' ORDER BY c.relname";

/// Corruption `verify_heapam` finds in the pgbench tables (none: no rows).
const HEAP_CHECK: &str = "SELECT t.relname, v.blkno, v.offnum, v.msg FROM pg_class t \
     CROSS JOIN LATERAL verify_heapam(t.oid::regclass, on_error_stop => false) v \
     WHERE t.relkind = 'r' AND t.relname IN \
     ('pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history') LIMIT 5";

/// pgbench's invariant and the row counts, in one row.
const INVARIANT: &str = "SELECT (SELECT count(*) FROM pgbench_accounts), \
     (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts), \
     (SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches), \
     (SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers), \
     (SELECT coalesce(sum(delta), 0) FROM pgbench_history), \
     (SELECT count(*) FROM pgbench_history)";

/// The balance sums and row counts of a pgbench database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invariant {
    /// Rows of `pgbench_accounts`.
    pub accounts: i64,
    /// sum(abalance).
    pub abalance: i64,
    /// sum(bbalance).
    pub bbalance: i64,
    /// sum(tbalance).
    pub tbalance: i64,
    /// sum(delta) of `pgbench_history`.
    pub delta: i64,
    /// Rows of `pgbench_history`: the transactions the snapshot holds.
    pub history_rows: i64,
}

impl Invariant {
    /// From the row the invariant query prints.
    pub fn parse(row: &[String]) -> Result<Invariant, String> {
        let v: Vec<i64> = row
            .iter()
            .map(|f| {
                f.parse::<i64>()
                    .map_err(|_| format!("`{f}` is not an integer"))
            })
            .collect::<Result<_, _>>()?;
        match v.as_slice() {
            &[accounts, abalance, bbalance, tbalance, delta, history_rows] => Ok(Invariant {
                accounts,
                abalance,
                bbalance,
                tbalance,
                delta,
                history_rows,
            }),
            _ => Err(format!("6 fields expected, got {row:?}")),
        }
    }

    /// Why the invariant does not hold for a database of `scale`, or `None` when it does.
    pub fn violation(&self, scale: u32) -> Option<String> {
        let want = i64::from(scale) * 100_000;
        if self.accounts != want {
            return Some(format!("{} account rows, {want} expected", self.accounts));
        }
        let sums = [self.abalance, self.bbalance, self.tbalance, self.delta];
        if sums.iter().any(|s| *s != self.abalance) {
            return Some(format!(
                "balances differ: sum(abalance) {}, sum(bbalance) {}, sum(tbalance) {}, \
                 sum(delta) {}",
                self.abalance, self.bbalance, self.tbalance, self.delta
            ));
        }
        None
    }
}

/// What one snapshot recovered to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotOutcome {
    /// The server came up (crash recovery ended).
    pub recovered: bool,
    /// From starting `postgres` to ready, seconds (recovered only).
    pub recovery_s: Option<f64>,
    /// Btree indexes checked.
    pub indexes_checked: u32,
    /// Every index passed `bt_index_check` (false when not recovered).
    pub index_ok: bool,
    /// `verify_heapam` found nothing (true when not available: PostgreSQL < 14).
    pub heap_ok: bool,
    /// The balance sums and counts (recovered only).
    pub invariant: Option<Invariant>,
    /// pgbench's invariant holds.
    pub invariant_ok: bool,
    /// Why it is not consistent, when it is not.
    pub reasons: Vec<String>,
}

impl SnapshotOutcome {
    /// Recovered and passed every check.
    pub fn consistent(&self) -> bool {
        self.recovered && self.index_ok && self.heap_ok && self.invariant_ok
    }

    /// amcheck passed (indexes and heap).
    pub fn amcheck_ok(&self) -> bool {
        self.recovered && self.index_ok && self.heap_ok
    }
}

/// The first `PANIC` line of a server log, else the first `FATAL` line, else its last line.
pub fn log_reason(log: &str) -> String {
    let pick = |tag: &str| log.lines().find(|l| l.contains(tag)).map(str::trim);
    pick("PANIC:")
        .or_else(|| pick("FATAL:"))
        .or_else(|| {
            log.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim)
        })
        .unwrap_or("(empty log)")
        .chars()
        .take(400)
        .collect()
}

/// A failed check's message, shortened to its error line.
fn short(e: &WorkloadError) -> String {
    let s = e.to_string();
    let line = s
        .split(';')
        .find(|p| p.contains("ERROR:"))
        .unwrap_or(&s)
        .trim();
    line.chars().take(400).collect()
}

/// What a check needs.
pub struct Checker<'a> {
    /// PostgreSQL's programs.
    pub bins: &'a PgBinaries,
    /// As whom.
    pub run_as: &'a RunAs,
    /// The server settings.
    pub settings: &'a BTreeMap<String, String>,
    /// `pgbench -i -s`.
    pub scale: u32,
    /// `server_version_num` of the original server.
    pub version: u32,
    /// Set on Ctrl-C.
    pub interrupted: &'a AtomicBool,
}

impl Checker<'_> {
    /// Starts a server on the prepared snapshot `datadir` (socket and log in a new private
    /// directory), waits for recovery to end, checks, stops it. Failed checks are in the
    /// outcome; errors only for the harness failing (interrupted, amcheck missing).
    pub fn check(&self, datadir: &Path) -> Result<SnapshotOutcome, WorkloadError> {
        let scratch = crate::pgbench::run::scratch_dir(self.run_as)?;
        let mut out = SnapshotOutcome::default();
        let started = Instant::now();
        let mut server = match PgServer::start(
            self.bins,
            self.run_as,
            datadir,
            scratch.path(),
            self.settings,
            self.interrupted,
        ) {
            Ok(s) => s,
            Err(WorkloadError::Failed(m)) => {
                let log = m.split_once("its log: ").map_or(m.as_str(), |(_, l)| l);
                out.reasons
                    .push(format!("did not recover: {}", log_reason(log)));
                return Ok(out);
            }
            Err(e) => return Err(e),
        };
        out.recovered = true;
        out.recovery_s = Some(started.elapsed().as_secs_f64());
        let client = Client {
            bins: self.bins,
            run_as: self.run_as,
            scratch: scratch.path(),
            port: server.port(),
            interrupted: self.interrupted,
        };
        // Errors of the SQL are results; anything else (interrupt) ends the run.
        let recorded = |r: Result<Vec<Vec<String>>, WorkloadError>| match r {
            Ok(rows) => Ok(Ok(rows)),
            Err(e @ WorkloadError::Failed(_)) => Ok(Err(short(&e))),
            Err(e) => Err(e),
        };

        match recorded(client.psql("amcheck", &["CREATE EXTENSION IF NOT EXISTS amcheck"]))? {
            Ok(_) => {
                match recorded(client.psql("index-check", &[INDEX_CHECK]))? {
                    Ok(rows) if rows.len() >= 3 => {
                        out.index_ok = true;
                        out.indexes_checked = u32::try_from(rows.len()).unwrap_or(u32::MAX);
                    }
                    Ok(rows) => out.reasons.push(format!(
                        "bt_index_check: only {} btree indexes on the pgbench tables",
                        rows.len()
                    )),
                    Err(m) => out.reasons.push(format!("bt_index_check: {m}")),
                }
                if self.version >= 140_000 {
                    match recorded(client.psql("heap-check", &[HEAP_CHECK]))? {
                        Ok(rows) if rows.is_empty() => out.heap_ok = true,
                        Ok(rows) => out.reasons.push(format!(
                            "verify_heapam: {}",
                            rows.first().map(|r| r.join(" ")).unwrap_or_default()
                        )),
                        Err(m) => out.reasons.push(format!("verify_heapam: {m}")),
                    }
                } else {
                    out.heap_ok = true;
                }
            }
            Err(m) if m.contains("extension control file") || m.contains("amcheck.control") => {
                return Err(WorkloadError::Missing {
                    tool: "PostgreSQL's amcheck extension".to_owned(),
                    hint: format!(
                        "{m}; Debian's postgresql-NN package ships it, elsewhere install \
                         postgresql-contrib"
                    ),
                });
            }
            Err(m) => out.reasons.push(format!("CREATE EXTENSION amcheck: {m}")),
        }

        match recorded(client.psql("invariant", &[INVARIANT]))? {
            Ok(rows) => match rows.first().map(|r| Invariant::parse(r)) {
                Some(Ok(inv)) => {
                    match inv.violation(self.scale) {
                        None => out.invariant_ok = true,
                        Some(v) => out.reasons.push(format!("invariant: {v}")),
                    }
                    out.invariant = Some(inv);
                }
                Some(Err(m)) => {
                    return Err(WorkloadError::Output {
                        what: "psql's balance sums".to_owned(),
                        message: m,
                    });
                }
                None => out.reasons.push("invariant: no row".to_owned()),
            },
            Err(m) => out.reasons.push(format!("invariant: {m}")),
        }

        match server.stop()? {
            Stopped::Fast | Stopped::AlreadyGone => {}
            how => eprintln!(
                "btrtune: PostgreSQL on the snapshot {} needed {how:?} to stop",
                datadir.display()
            ),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn invariant_from_psql() {
        let inv =
            Invariant::parse(&row(&["200000", "-1234", "-1234", "-1234", "-1234", "812"])).unwrap();
        assert_eq!(inv.history_rows, 812);
        assert_eq!(inv.violation(2), None);
        assert!(inv.violation(3).unwrap().contains("200000 account rows"));
        let bad = Invariant { tbalance: 7, ..inv };
        assert!(
            bad.violation(2).unwrap().contains("sum(tbalance) 7"),
            "{bad:?}"
        );
        assert!(
            Invariant::parse(&row(&["1", "2"]))
                .unwrap_err()
                .contains("6 fields")
        );
        assert!(Invariant::parse(&row(&["1", "", "0", "0", "0", "0"])).is_err());
    }

    #[test]
    fn reasons_from_logs_and_errors() {
        let log = "2026-11-21 LOG:  database system was interrupted\n\
                   2026-11-21 FATAL:  could not open file \"pg_wal/000000010000000000000003\"\n\
                   2026-11-21 PANIC:  could not locate a valid checkpoint record\n\
                   2026-11-21 LOG:  startup process was terminated\n";
        assert!(log_reason(log).contains("PANIC:  could not locate"));
        assert!(log_reason(&log.replace("PANIC", "LOG")).contains("FATAL:  could not open"));
        assert_eq!(log_reason("a\nlast line\n\n"), "last line");
        assert_eq!(log_reason(""), "(empty log)");
        let e = WorkloadError::Failed(
            "psql (SELECT ...) failed (exit status: 3); its stderr: ERROR:  index \"x\" lacks a \
             main relation fork; its stdout: "
                .to_owned(),
        );
        assert_eq!(
            short(&e),
            "its stderr: ERROR:  index \"x\" lacks a main relation fork"
        );
    }

    #[test]
    fn outcomes_add_up() {
        let mut o = SnapshotOutcome {
            recovered: true,
            index_ok: true,
            heap_ok: true,
            invariant_ok: true,
            ..SnapshotOutcome::default()
        };
        assert!(o.consistent() && o.amcheck_ok());
        o.invariant_ok = false;
        assert!(!o.consistent() && o.amcheck_ok());
        assert!(!SnapshotOutcome::default().consistent());
    }
}
