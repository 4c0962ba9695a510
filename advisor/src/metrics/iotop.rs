//! `iotop -b` (batch) output, usually with `-o` (only threads doing I/O) and `-n N`, from
//! both Debian packages: `iotop` (the Python one, `iotop-py`) and `iotop-c`.
//!
//! ```text
//! Total DISK READ:         0.00 B/s | Total DISK WRITE:       972.75 M/s
//! Current DISK READ:       0.00 B/s | Current DISK WRITE:     314.90 M/s
//!   TID  PRIO  USER     DISK READ  DISK WRITE  SWAPIN      IO    COMMAND
//! 13157 be/4 root        0.00 B/s  450.79 M/s ?unavailable?  [kworker/u8:3+btrfs-endio-meta]
//! 13566 be/4 root        0.00 B/s    6.49 M/s  0.00 % 15.12 % fio --name=x
//! ```
//!
//! `SWAPIN` and `IO` need kernel delay accounting (`kernel.task_delayacct=1`, tuning facts
//! §6). Without it the Python iotop prints `?unavailable?` and iotop-c prints a warning
//! (on stderr) and zeros; both become `None` here and [`IotopReport::delay_accounting`] is
//! [`DelayAccounting::Off`]. Rates use powers of 1024 (`K/s` = KiB/s), as both tools print
//! by default. `-t` (time) prefixes are accepted; `-a` (accumulated) prints totals instead
//! of rates, see [`IotopReport::accumulated`].

use super::text::{Tok, err, err_at, integer, number, numbered, percent, shown, to_bytes, tokens};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};

/// A parsed `iotop -b` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IotopReport {
    /// Which iotop printed it, as far as the layout tells.
    pub flavor: IotopFlavor,
    /// Whether SWAPIN/IO% were measured.
    pub delay_accounting: DelayAccounting,
    /// True when the first column is `PID` (`-P`, processes) rather than `TID`.
    pub processes: bool,
    /// True for `-a`: the read/write fields hold bytes since start, not bytes per second.
    pub accumulated: bool,
    /// One entry per refresh (`-n N` gives N).
    pub iterations: Vec<IotopIteration>,
    /// `Warning:` lines (iotop-c prints one when delay accounting is off).
    pub warnings: Vec<String>,
}

/// Which iotop produced the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IotopFlavor {
    /// The Python iotop (Debian `iotop`, `/usr/sbin/iotop-py`).
    Python,
    /// iotop-c (Debian `iotop-c`).
    C,
    /// No header line to tell (e.g. `-qqq`).
    Unknown,
}

/// Whether kernel delay accounting was on (needed for SWAPIN and IO%).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayAccounting {
    /// The columns were measured.
    On,
    /// Off (`?unavailable?`, or iotop-c's `task_delayacct is 0` warning): enable with
    /// `sysctl kernel.task_delayacct=1` or the `delayacct` boot parameter.
    Off,
    /// Nothing tells (no rows, or all zeros without a warning).
    Unknown,
}

/// One refresh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IotopIteration {
    /// The `-t` time, when printed.
    pub time: Option<String>,
    /// `Total DISK READ`: bytes/s read by the listed tasks (all tasks, not just shown).
    pub total_read_bytes_per_s: Option<f64>,
    /// `Total DISK WRITE`: bytes/s written by tasks.
    pub total_write_bytes_per_s: Option<f64>,
    /// `Current DISK READ` (`Actual` in older versions): bytes/s the block layer read.
    pub current_read_bytes_per_s: Option<f64>,
    /// `Current DISK WRITE` (`Actual`): bytes/s the block layer wrote (after the page
    /// cache, including writeback).
    pub current_write_bytes_per_s: Option<f64>,
    /// The rows, in printed order.
    pub threads: Vec<IotopRow>,
}

/// One thread (or process, with `-P`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IotopRow {
    /// `-t` time prefix, when printed.
    pub time: Option<String>,
    /// Thread id (process id with `-P`).
    pub tid: u32,
    /// I/O priority as printed (`be/4`, `rt/0`, `idle`).
    pub prio: String,
    /// User name (or uid).
    pub user: String,
    /// `DISK READ`, bytes per second (bytes with `-a`).
    pub read_bytes_per_s: f64,
    /// `DISK WRITE`, bytes per second (bytes with `-a`).
    pub write_bytes_per_s: f64,
    /// `SWAPIN`: percent of time waiting for swap-in; `None` without delay accounting.
    pub swapin_pct: Option<f64>,
    /// `IO`: percent of time waiting for I/O; `None` without delay accounting.
    pub io_pct: Option<f64>,
    /// The command (kernel threads in brackets for the Python iotop).
    pub command: String,
}

/// Parses `iotop -b` output.
pub fn parse(text: &str, origin: &str) -> Result<IotopReport, AdvisorError> {
    let mut flavor = IotopFlavor::Unknown;
    let mut processes = false;
    let mut accumulated = false;
    let mut iterations: Vec<IotopIteration> = Vec::new();
    let mut warnings = Vec::new();
    let mut unavailable = false;
    let mut nonzero_delay = false;
    let mut saw_header = false;

    for (no, line) in numbered(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("Warning:") || t.starts_with("WARNING:") {
            if t.contains("task_delayacct") {
                flavor = IotopFlavor::C;
            }
            warnings.push(t.to_string());
            continue;
        }
        if let Some(i) = t.find("Total DISK READ") {
            // iotop-c right-aligns `Total` under `Current`; the Python iotop does not.
            if line.starts_with("  Total") {
                flavor = IotopFlavor::C;
            } else if flavor == IotopFlavor::Unknown {
                flavor = IotopFlavor::Python;
            }
            // `-t`: the Python iotop puts the time first, iotop-c appends ` | <ctime>`.
            let time = t
                .get(..i)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .or_else(|| t.split(" | ").nth(2).map(str::trim))
                .map(String::from);
            let (r, w) = summary(origin, no, line, "Total")?;
            accumulated |= r.1 || w.1;
            iterations.push(IotopIteration {
                time,
                total_read_bytes_per_s: Some(r.0),
                total_write_bytes_per_s: Some(w.0),
                current_read_bytes_per_s: None,
                current_write_bytes_per_s: None,
                threads: Vec::new(),
            });
            continue;
        }
        if t.contains("Current DISK READ") || t.contains("Actual DISK READ") {
            let word = if t.contains("Current DISK READ") {
                "Current"
            } else {
                "Actual"
            };
            let (r, w) = summary(origin, no, line, word)?;
            match iterations.last_mut() {
                Some(it) if it.threads.is_empty() && it.current_read_bytes_per_s.is_none() => {
                    it.current_read_bytes_per_s = Some(r.0);
                    it.current_write_bytes_per_s = Some(w.0);
                }
                _ => {
                    return Err(err(
                        origin,
                        no,
                        1,
                        format!(
                            "a `{word} DISK READ` line not right after a `Total DISK READ` line: expected iotop -b output"
                        ),
                    ));
                }
            }
            continue;
        }
        let toks = tokens(line);
        let is_header = toks.first().is_some_and(|f| integer(f.s).is_none())
            && toks.iter().any(|x| x.s == "TID" || x.s == "PID")
            && toks.iter().any(|x| x.s == "PRIO");
        if is_header {
            saw_header = true;
            processes = toks.iter().any(|x| x.s == "PID");
            if flavor == IotopFlavor::Unknown {
                flavor = if t.contains("PRIO     USER") || line.starts_with("   ") {
                    IotopFlavor::C
                } else {
                    IotopFlavor::Python
                };
            }
            continue;
        }
        let row = read_row(origin, no, line, &toks, &mut unavailable, &mut accumulated)?;
        if row.swapin_pct.is_some_and(|v| v > 0.0) || row.io_pct.is_some_and(|v| v > 0.0) {
            nonzero_delay = true;
        }
        if iterations.is_empty() {
            // `-qqq` prints rows only.
            iterations.push(IotopIteration {
                time: None,
                total_read_bytes_per_s: None,
                total_write_bytes_per_s: None,
                current_read_bytes_per_s: None,
                current_write_bytes_per_s: None,
                threads: Vec::new(),
            });
        }
        if let Some(it) = iterations.last_mut() {
            it.threads.push(row);
        }
    }
    if iterations.is_empty() && !saw_header {
        return Err(err(
            origin,
            0,
            0,
            "no iotop output: expected `Total DISK READ: ...` lines and thread rows (iotop -b)"
                .into(),
        ));
    }
    if unavailable {
        flavor = if flavor == IotopFlavor::Unknown {
            IotopFlavor::Python
        } else {
            flavor
        };
    }
    let warned_off = warnings.iter().any(|w| w.contains("task_delayacct is 0"));
    let delay_accounting = if unavailable || warned_off {
        DelayAccounting::Off
    } else if nonzero_delay {
        DelayAccounting::On
    } else {
        DelayAccounting::Unknown
    };
    if warned_off {
        // iotop-c prints zeros when delay accounting is off: they were not measured.
        for r in iterations.iter_mut().flat_map(|i| i.threads.iter_mut()) {
            r.swapin_pct = None;
            r.io_pct = None;
        }
    }
    Ok(IotopReport {
        flavor,
        delay_accounting,
        processes,
        accumulated,
        iterations,
        warnings,
    })
}

/// Reads `WORD DISK READ: <rate> | WORD DISK WRITE: <rate>`: ((read, accumulated), (write,
/// accumulated)).
#[allow(clippy::type_complexity)]
fn summary(
    origin: &str,
    no: usize,
    line: &str,
    word: &str,
) -> Result<((f64, bool), (f64, bool)), AdvisorError> {
    let value_after = |label: &str| -> Result<(f64, bool), AdvisorError> {
        let Some(i) = line.find(label) else {
            return Err(err(
                origin,
                no,
                0,
                format!("expected `{label}` on this line"),
            ));
        };
        let rest = line.get(i + label.len()..).unwrap_or("");
        let toks = tokens(rest);
        let (Some(n), Some(u)) = (toks.first(), toks.get(1)) else {
            return Err(err(
                origin,
                no,
                0,
                format!("expected a rate like `1.50 M/s` after `{label}`"),
            ));
        };
        rate(n.s, u.s).ok_or_else(|| {
            err(
                origin,
                no,
                super::text::column(line, i + label.len() + n.at),
                format!(
                    "expected a rate like `1.50 M/s` after `{label}`, found `{} {}`",
                    shown(n.s),
                    shown(u.s)
                ),
            )
        })
    };
    Ok((
        value_after(&format!("{word} DISK READ:"))?,
        value_after(&format!("{word} DISK WRITE:"))?,
    ))
}

/// `1.50` `M/s` -> (bytes/s, false); `1.50` `M` (accumulated) -> (bytes, true).
fn rate(n: &str, unit: &str) -> Option<(f64, bool)> {
    let v = number(n)?;
    let (letter, acc) = match unit.strip_suffix("/s") {
        Some(l) => (l, false),
        None => (unit, true),
    };
    let mut chars = letter.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    let exp = "BKMGTPEZY".find(c)?;
    let mult = 1024f64.powi(i32::try_from(exp).ok()?);
    // Rates are kept as f64; check only that they are finite and not negative.
    to_bytes(v, mult)?;
    Some((v * mult, acc))
}

fn read_row(
    origin: &str,
    no: usize,
    line: &str,
    toks: &[Tok<'_>],
    unavailable: &mut bool,
    accumulated: &mut bool,
) -> Result<IotopRow, AdvisorError> {
    let expected =
        "expected a thread row `TID PRIO USER READ UNIT WRITE UNIT SWAPIN % IO % COMMAND`";
    let mut i = 0;
    let time = match toks.first() {
        Some(t) if t.s.contains(':') && t.s.starts_with(|c: char| c.is_ascii_digit()) => {
            i = 1;
            Some(t.s.to_string())
        }
        _ => None,
    };
    let tok = |k: usize| toks.get(k).copied();
    let Some(tid_t) = tok(i) else {
        return Err(err(
            origin,
            no,
            0,
            format!("{expected}, found `{}`", shown(line.trim())),
        ));
    };
    let Some(tid) = integer(tid_t.s).and_then(|n| u32::try_from(n).ok()) else {
        return Err(err_at(
            origin,
            no,
            line,
            tid_t,
            format!(
                "{expected}: the first column should be a thread id, found `{}`",
                shown(tid_t.s)
            ),
        ));
    };
    let (Some(prio), Some(user)) = (tok(i + 1), tok(i + 2)) else {
        return Err(err(
            origin,
            no,
            0,
            format!("{expected}, found `{}`", shown(line.trim())),
        ));
    };
    let mut rw = [0.0; 2];
    for (k, slot) in rw.iter_mut().enumerate() {
        let (Some(n), Some(u)) = (tok(i + 3 + 2 * k), tok(i + 4 + 2 * k)) else {
            return Err(err(
                origin,
                no,
                0,
                format!("{expected}: the row ends early"),
            ));
        };
        let Some((v, acc)) = rate(n.s, u.s) else {
            return Err(err_at(
                origin,
                no,
                line,
                n,
                format!(
                    "expected a rate like `1.50 M/s`, found `{} {}`",
                    shown(n.s),
                    shown(u.s)
                ),
            ));
        };
        *accumulated |= acc;
        *slot = v;
    }
    let mut k = i + 7;
    let (swapin_pct, io_pct) = match tok(k) {
        Some(t) if t.s == "?unavailable?" => {
            *unavailable = true;
            k += 1;
            (None, None)
        }
        Some(_) => {
            let mut pcts = [0.0; 2];
            for p in &mut pcts {
                let (Some(n), Some(pc)) = (tok(k), tok(k + 1)) else {
                    return Err(err(
                        origin,
                        no,
                        0,
                        format!("{expected}: the row ends early"),
                    ));
                };
                let v = (pc.s == "%")
                    .then(|| percent(n.s))
                    .flatten()
                    .filter(|v| *v >= 0.0);
                let Some(v) = v else {
                    return Err(err_at(
                        origin,
                        no,
                        line,
                        n,
                        format!(
                            "expected a percentage like `12.50 %` or `?unavailable?`, found `{} {}`",
                            shown(n.s),
                            shown(pc.s)
                        ),
                    ));
                };
                *p = v;
                k += 2;
            }
            (Some(pcts[0]), Some(pcts[1]))
        }
        None => {
            return Err(err(
                origin,
                no,
                0,
                format!("{expected}: the row ends early"),
            ));
        }
    };
    let command = match tok(k) {
        Some(t) => line.get(t.at..).unwrap_or("").trim_end().to_string(),
        None => String::new(),
    };
    Ok(IotopRow {
        time,
        tid,
        prio: prio.s.to_string(),
        user: user.s.to_string(),
        read_bytes_per_s: rw[0],
        write_bytes_per_s: rw[1],
        swapin_pct,
        io_pct,
        command,
    })
}
