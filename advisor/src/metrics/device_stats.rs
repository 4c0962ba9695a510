//! `btrfs device stats` output (`-c` prints the same text; only the exit code differs):
//!
//! ```text
//! [/dev/sda].write_io_errs    0
//! [/dev/sda].read_io_errs     0
//! ...
//! ```
//!
//! A missing device shows as `[<missing disk>]` (btrfs-progs ≤ 6.x) or `[devid:3]`. The
//! tabular format (`-T`, `Id Path Write errors Read errors ...`) is read too. When the
//! command failed (it needs root) and printed `ERROR: ...`, that message is the error.

use super::text::{err, integer, numbered, shown, tokens};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The error counters of one device. Counters the kernel did not report are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStats {
    /// The device path in the brackets (`/dev/sda`, `<missing disk>`, `devid:3`).
    pub device: String,
    /// `write_io_errs`: failed writes reported by the lower layers.
    pub write_io_errs: Option<u64>,
    /// `read_io_errs`: failed reads.
    pub read_io_errs: Option<u64>,
    /// `flush_io_errs`: failed flushes.
    pub flush_io_errs: Option<u64>,
    /// `corruption_errs`: checksum mismatches and similar.
    pub corruption_errs: Option<u64>,
    /// `generation_errs`: blocks with an unexpected generation (lost writes).
    pub generation_errs: Option<u64>,
    /// Counters this parser does not know, by name.
    pub other: BTreeMap<String, u64>,
}

impl DeviceStats {
    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        [
            self.write_io_errs,
            self.read_io_errs,
            self.flush_io_errs,
            self.corruption_errs,
            self.generation_errs,
        ]
        .into_iter()
        .flatten()
        .chain(self.other.values().copied())
        .fold(0u64, u64::saturating_add)
    }
}

/// Parses `btrfs device stats` output into one entry per device, in order.
pub fn parse(text: &str, origin: &str) -> Result<Vec<DeviceStats>, AdvisorError> {
    let mut out: Vec<DeviceStats> = Vec::new();
    let mut table: Option<Vec<String>> = None;
    for (no, line) in numbered(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(msg) = t.strip_prefix("ERROR:") {
            return Err(err(
                origin,
                no,
                1,
                format!(
                    "btrfs-progs reported an error instead of counters: `{}` (expected `[/dev/sda].write_io_errs 0` lines; `btrfs device stats` needs root)",
                    msg.trim()
                ),
            ));
        }
        let toks = tokens(line);
        if toks.first().is_some_and(|x| x.s == "Id") && toks.get(1).is_some_and(|x| x.s == "Path") {
            table = Some(table_columns(origin, no, line)?);
            continue;
        }
        if let Some(cols) = &table {
            if toks.iter().all(|x| x.s.chars().all(|c| c == '-')) {
                continue;
            }
            out.push(table_row(origin, no, line, cols)?);
            continue;
        }
        let expected = "expected a line like `[/dev/sda].write_io_errs 0`";
        let fail = |col: usize| err(origin, no, col, format!("{expected}, found `{}`", shown(t)));
        let Some(body) = t.strip_prefix('[') else {
            return Err(fail(1));
        };
        // The device may itself contain `]` only in theory; the counter follows the last `].`.
        let Some(close) = body.rfind("].") else {
            return Err(fail(0));
        };
        let device = body.get(..close).unwrap_or("");
        let rest = body.get(close + 2..).unwrap_or("");
        let toks = tokens(rest);
        let [name, value] = toks.as_slice() else {
            return Err(fail(0));
        };
        let Some(value) = integer(value.s) else {
            let col = line
                .rfind(value.s)
                .map_or(0, |i| super::text::column(line, i));
            return Err(err(
                origin,
                no,
                col,
                format!(
                    "expected a counter value (a whole number), found `{}`",
                    shown(value.s)
                ),
            ));
        };
        if out.last().is_none_or(|d| d.device != device) {
            out.push(DeviceStats {
                device: device.to_string(),
                write_io_errs: None,
                read_io_errs: None,
                flush_io_errs: None,
                corruption_errs: None,
                generation_errs: None,
                other: BTreeMap::new(),
            });
        }
        let Some(d) = out.last_mut() else {
            continue;
        };
        let slot = match name.s {
            "write_io_errs" => &mut d.write_io_errs,
            "read_io_errs" => &mut d.read_io_errs,
            "flush_io_errs" => &mut d.flush_io_errs,
            "corruption_errs" => &mut d.corruption_errs,
            "generation_errs" => &mut d.generation_errs,
            other => {
                d.other.insert(other.to_string(), value);
                continue;
            }
        };
        if slot.is_some() {
            return Err(err(
                origin,
                no,
                0,
                format!("`{}` of `{device}` appears twice", name.s),
            ));
        }
        *slot = Some(value);
    }
    if out.is_empty() {
        return Err(err(
            origin,
            0,
            0,
            "no counters: expected `btrfs device stats` output like `[/dev/sda].write_io_errs 0`"
                .into(),
        ));
    }
    Ok(out)
}

/// The counter names of a `-T` header (`Write errors` -> `write_io_errs`, ...).
fn table_columns(origin: &str, no: usize, line: &str) -> Result<Vec<String>, AdvisorError> {
    let words: Vec<&str> = line.split_whitespace().skip(2).collect();
    let mut cols = Vec::new();
    for pair in words.chunks(2) {
        let [name, errors] = pair else {
            return Err(err(
                origin,
                no,
                0,
                format!(
                    "expected `<Kind> errors` column names after `Id Path`, found `{}`",
                    shown(line.trim())
                ),
            ));
        };
        if *errors != "errors" {
            return Err(err(
                origin,
                no,
                0,
                format!(
                    "expected `<Kind> errors` column names after `Id Path`, found `{}`",
                    shown(line.trim())
                ),
            ));
        }
        let key = match name.to_ascii_lowercase().as_str() {
            k @ ("write" | "read" | "flush") => format!("{k}_io_errs"),
            k => format!("{k}_errs"),
        };
        cols.push(key);
    }
    if cols.is_empty() {
        return Err(err(
            origin,
            no,
            0,
            "expected `<Kind> errors` columns after `Id Path` (btrfs device stats -T)".into(),
        ));
    }
    Ok(cols)
}

/// A `-T` row: `Id Path <one value per column>`; the path may contain spaces.
fn table_row(
    origin: &str,
    no: usize,
    line: &str,
    cols: &[String],
) -> Result<DeviceStats, AdvisorError> {
    let toks = tokens(line);
    let n = cols.len();
    if n == 0 || toks.len() < n + 2 || integer(toks[0].s).is_none() {
        return Err(err(
            origin,
            no,
            0,
            format!(
                "expected a row `ID PATH` and {n} counters, found `{}`",
                shown(line.trim())
            ),
        ));
    }
    let vals = &toks[toks.len() - n..];
    let mut d = DeviceStats {
        device: line
            .get(toks[1].at..vals[0].at)
            .unwrap_or("")
            .trim()
            .to_string(),
        write_io_errs: None,
        read_io_errs: None,
        flush_io_errs: None,
        corruption_errs: None,
        generation_errs: None,
        other: BTreeMap::new(),
    };
    for (v, name) in vals.iter().zip(cols) {
        let Some(value) = integer(v.s) else {
            return Err(err(
                origin,
                no,
                super::text::column(line, v.at),
                format!(
                    "expected a counter value (a whole number), found `{}`",
                    shown(v.s)
                ),
            ));
        };
        let slot = match name.as_str() {
            "write_io_errs" => &mut d.write_io_errs,
            "read_io_errs" => &mut d.read_io_errs,
            "flush_io_errs" => &mut d.flush_io_errs,
            "corruption_errs" => &mut d.corruption_errs,
            "generation_errs" => &mut d.generation_errs,
            other => {
                d.other.insert(other.to_string(), value);
                continue;
            }
        };
        *slot = Some(value);
    }
    Ok(d)
}
