//! Readers of what pgbench writes: its summary on standard output ([`Summary`]) and its
//! per-transaction logs (`--log`, [`TxLog`]).
//!
//! Both tolerate noise (progress lines, warnings, blank lines, stray whitespace) and turn
//! malformed input into an error naming the file and line, never a panic.

use crate::latency::Latencies;
use crate::{Percentiles, WorkloadError};
use std::collections::BTreeMap;
use std::time::Duration;

/// pgbench's summary of one run (PostgreSQL 10 to 17 wording).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// `transaction type: <builtin: TPC-B (sort of)>`.
    pub transaction_type: Option<String>,
    /// `scaling factor: 5`.
    pub scale: Option<u32>,
    /// `number of clients: 8`.
    pub clients: Option<u32>,
    /// `number of threads: 2`.
    pub threads: Option<u32>,
    /// `number of transactions actually processed: 5296` (the part before a `/`).
    pub transactions: Option<u64>,
    /// `number of failed transactions: 0 (0.000%)` (PostgreSQL ≥ 15; older: none).
    pub failed: Option<u64>,
    /// `latency average = 7.491 ms`, in milliseconds.
    pub latency_avg_ms: Option<f64>,
    /// `latency stddev = 2.728 ms` (printed with `-P` or `--rate`), in milliseconds.
    pub latency_stddev_ms: Option<f64>,
    /// `initial connection time = 49.057 ms`, in milliseconds.
    pub connection_ms: Option<f64>,
    /// `tps = 1065.753317 (without initial connection time)`; before PostgreSQL 14, the
    /// `(excluding connections establishing)` line.
    pub tps: f64,
}

fn output_error(what: &str, message: String) -> WorkloadError {
    WorkloadError::Output {
        what: what.to_owned(),
        message,
    }
}

impl Summary {
    /// The summary of exactly one run in `text` (what = the file, for messages).
    pub fn parse(text: &str, what: &str) -> Result<Summary, WorkloadError> {
        let mut all = Summary::parse_all(text, what)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err(output_error(
                what,
                format!(
                    "no `tps = ... (without initial connection time)` line: pgbench printed no \
                     summary{}",
                    error_lines(text)
                ),
            )),
            n => Err(output_error(
                what,
                format!("{n} runs' summaries, one expected"),
            )),
        }
    }

    /// Every run's summary in `text`, as when several runs' outputs are concatenated: each
    /// ends at its `tps` line.
    pub fn parse_all(text: &str, what: &str) -> Result<Vec<Summary>, WorkloadError> {
        let mut out = Vec::new();
        let mut cur = Summary::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let at = |message: String| output_error(what, format!("line {}: {message}", i + 1));
            if let Some(rest) = line.strip_prefix("tps = ") {
                let (num, note) = rest.split_once(' ').unwrap_or((rest, ""));
                if note.contains("including connections establishing") {
                    continue; // Before PostgreSQL 14 the next line has the one we want.
                }
                cur.tps = number(num).map_err(|m| at(format!("tps: {m}: {line:?}")))?;
                out.push(std::mem::take(&mut cur));
            } else if let Some(v) = line.strip_prefix("transaction type:") {
                cur.transaction_type = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("scaling factor:") {
                cur.scale = Some(integer(v).map_err(|m| at(format!("scaling factor: {m}")))?);
            } else if let Some(v) = line.strip_prefix("number of clients:") {
                cur.clients = Some(integer(v).map_err(|m| at(format!("clients: {m}")))?);
            } else if let Some(v) = line.strip_prefix("number of threads:") {
                cur.threads = Some(integer(v).map_err(|m| at(format!("threads: {m}")))?);
            } else if let Some(v) = line.strip_prefix("number of transactions actually processed:")
            {
                let n = v.split('/').next().unwrap_or(v);
                cur.transactions = Some(integer(n).map_err(|m| at(format!("transactions: {m}")))?);
            } else if let Some(v) = line.strip_prefix("number of failed transactions:") {
                let n = v.split_whitespace().next().unwrap_or("");
                cur.failed = Some(integer(n).map_err(|m| at(format!("failed transactions: {m}")))?);
            } else if let Some(v) = line.strip_prefix("latency average =") {
                cur.latency_avg_ms =
                    Some(millis(v).map_err(|m| at(format!("latency average: {m}")))?);
            } else if let Some(v) = line.strip_prefix("latency stddev =") {
                cur.latency_stddev_ms =
                    Some(millis(v).map_err(|m| at(format!("latency stddev: {m}")))?);
            } else if let Some(v) = line.strip_prefix("initial connection time =") {
                cur.connection_ms =
                    Some(millis(v).map_err(|m| at(format!("initial connection time: {m}")))?);
            }
        }
        Ok(out)
    }
}

/// pgbench's own error lines in `text`, for messages.
fn error_lines(text: &str) -> String {
    let errs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("error") || l.starts_with("FATAL") || l.starts_with("ERROR"))
        .take(5)
        .collect();
    if errs.is_empty() {
        String::new()
    } else {
        format!("; it said: {}", errs.join(" | "))
    }
}

fn number(s: &str) -> Result<f64, String> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number")),
    }
}

fn integer<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let s = s.trim();
    s.parse()
        .map_err(|_| format!("`{s}` is not a whole number"))
}

/// `2.892 ms` → 2.892.
fn millis(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let Some(v) = s.split_whitespace().next() else {
        return Err("no value".to_owned());
    };
    match s.split_whitespace().nth(1) {
        Some("ms") | None => number(v),
        Some(unit) => Err(format!("unit `{unit}`, expected ms")),
    }
}

/// How a logged transaction ended (the third column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// Committed after this many microseconds.
    Done(u64),
    /// `skipped` (`--latency-limit` with `--rate`).
    Skipped,
    /// `failed`, or `serialization` / `deadlock` with `--failures-detailed` (PostgreSQL ≥ 15).
    Failed,
}

/// One line of a per-transaction log: `client_id transaction_no time script_no time_epoch
/// time_us [schedule_lag] [retries]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLine {
    /// The client.
    pub client: u32,
    /// The client's transaction number.
    pub transaction: u64,
    /// Its latency, or why there is none.
    pub outcome: TxOutcome,
    /// The script (0 with one builtin).
    pub script: u32,
    /// When it ended: Unix seconds...
    pub epoch_s: u64,
    /// ...and microseconds within that second.
    pub epoch_us: u32,
}

impl TxLine {
    /// Parses one line; the error says what is wrong.
    pub fn parse(line: &str) -> Result<TxLine, String> {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !(6..=8).contains(&f.len()) {
            return Err(format!("{} fields, expected 6 to 8", f.len()));
        }
        let outcome = match f[2] {
            "skipped" => TxOutcome::Skipped,
            "failed" | "serialization" | "deadlock" | "other" => TxOutcome::Failed,
            t => TxOutcome::Done(integer(t).map_err(|m| format!("time: {m}"))?),
        };
        let epoch_us: u32 = integer(f[5]).map_err(|m| format!("time_us: {m}"))?;
        if epoch_us >= 1_000_000 {
            return Err(format!("time_us {epoch_us} is not below 1000000"));
        }
        Ok(TxLine {
            client: integer(f[0]).map_err(|m| format!("client_id: {m}"))?,
            transaction: integer(f[1]).map_err(|m| format!("transaction_no: {m}"))?,
            outcome,
            script: integer(f[3]).map_err(|m| format!("script_no: {m}"))?,
            epoch_s: integer(f[4]).map_err(|m| format!("time_epoch: {m}"))?,
            epoch_us,
        })
    }
}

/// What the per-transaction logs of one run add up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxLog {
    /// Latency of every committed transaction.
    pub latencies: Latencies,
    /// Committed transactions.
    pub done: u64,
    /// Failed transactions.
    pub failed: u64,
    /// Skipped transactions.
    pub skipped: u64,
    /// Committed transactions per wall-clock second (by `time_epoch`).
    pub per_second: BTreeMap<u64, u64>,
}

impl TxLog {
    /// No transactions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the lines of one log file (`what` names it in errors). Blank lines are skipped.
    pub fn add(&mut self, text: &str, what: &str) -> Result<(), WorkloadError> {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let tx = TxLine::parse(line).map_err(|m| {
                output_error(what, format!("line {}: {m}: {:?}", i + 1, head_chars(line)))
            })?;
            match tx.outcome {
                TxOutcome::Done(us) => {
                    self.done += 1;
                    self.latencies.record(Duration::from_micros(us));
                    *self.per_second.entry(tx.epoch_s).or_default() += 1;
                }
                TxOutcome::Failed => self.failed += 1,
                TxOutcome::Skipped => self.skipped += 1,
            }
        }
        Ok(())
    }

    /// Latency percentiles in nanoseconds; `None` without committed transactions.
    pub fn percentiles(&self) -> Option<Percentiles> {
        self.latencies.percentiles()
    }

    /// The coefficient of variation (percent) of committed transactions per second, over
    /// the whole seconds (the first and the last, partly measured, left out); `None` with
    /// fewer than two whole seconds.
    pub fn tps_cv_pct(&self) -> Option<f64> {
        let counts: Vec<f64> = self.per_second.values().map(|&n| n as f64).collect();
        if counts.len() < 4 {
            return None;
        }
        let whole = &counts[1..counts.len() - 1];
        let n = whole.len() as f64;
        let mean = whole.iter().sum::<f64>() / n;
        if mean <= 0.0 {
            return None;
        }
        let var = whole.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Some(var.sqrt() / mean * 100.0)
    }
}

/// A line cut to 120 characters for an error message.
fn head_chars(line: &str) -> String {
    line.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines() {
        let l = TxLine::parse("1 2 1224 0 1795263391 233797").unwrap();
        assert_eq!(
            l,
            TxLine {
                client: 1,
                transaction: 2,
                outcome: TxOutcome::Done(1224),
                script: 0,
                epoch_s: 1_795_263_391,
                epoch_us: 233_797
            }
        );
        // --rate adds the schedule lag, --max-tries the retries.
        let l = TxLine::parse("0 7 failed 0 1795263391 5 120 2").unwrap();
        assert_eq!(l.outcome, TxOutcome::Failed);
        assert_eq!(
            TxLine::parse("0 7 skipped 0 1 5 120").unwrap().outcome,
            TxOutcome::Skipped
        );
        for (bad, msg) in [
            ("1 2 3", "3 fields"),
            ("1 2 x 0 1 2", "time: `x`"),
            ("1 2 -5 0 1 2", "time: `-5`"),
            ("a 2 3 0 1 2", "client_id"),
            ("1 2 3 0 1 1000000", "not below"),
            ("1 2 3 0 1 2 3 4 5", "9 fields"),
        ] {
            let e = TxLine::parse(bad).unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[test]
    fn logs_add_up_and_name_the_bad_line() {
        let mut log = TxLog::new();
        let text = "1 1 9856 0 100 232532\n1 2 1224 0 100 233797\n\n  \n2 1 2000 0 101 1 \n\
                    2 2 failed 0 101 5\n2 3 3000 0 102 5\n2 4 4000 0 103 5\n";
        log.add(text, "txlog.1").unwrap();
        assert_eq!((log.done, log.failed, log.skipped), (5, 1, 0));
        let p = log.percentiles().unwrap();
        assert_eq!(p.p50, 3_000_000.0);
        assert_eq!(p.p999, 9_856_000.0);
        assert_eq!(
            log.per_second,
            [(100, 2), (101, 1), (102, 1), (103, 1)].into()
        );
        // Whole seconds 101 and 102: 1 and 1.
        assert_eq!(log.tps_cv_pct(), Some(0.0));
        let e = log
            .add("1 1 10 0 100 1\n1 2 oops\n", "txlog.2")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("txlog.2: line 2: 3 fields"), "{e}");
        assert!(TxLog::new().tps_cv_pct().is_none());
        assert!(TxLog::new().percentiles().is_none());
    }

    #[test]
    fn summary_noise_and_errors() {
        let text = "pgbench: warning: something\nprogress: 1.0 s, 3 tps\n\
                    number of transactions actually processed: 10/10\n\
                    tps = 12.5 (including connections establishing)\n\
                    tps = 13.5 (excluding connections establishing)\n";
        let s = Summary::parse(text, "old.txt").unwrap();
        assert_eq!((s.transactions, s.tps, s.failed), (Some(10), 13.5, None));
        let e = Summary::parse("pgbench: error: connection to server failed\n", "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no `tps") && e.contains("connection to server failed"),
            "{e}"
        );
        let e = Summary::parse("scaling factor: five\ntps = 1\n", "y.txt")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("y.txt: line 1: scaling factor"), "{e}");
        let e = Summary::parse("latency average = 3 s\ntps = 1\n", "z")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unit `s`"), "{e}");
        let e = Summary::parse("tps = 1\ntps = 2\n", "w")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 runs"), "{e}");
        let e = Summary::parse("tps = NaN (without initial connection time)\n", "v")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a number"), "{e}");
    }
}
