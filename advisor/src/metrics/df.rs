//! `df` output: the default (`1K-blocks`), `-k`, `-P`, `-B<size>`, `-h`, `-H` and `-T`, in
//! any combination, and `--output` with the same columns.
//!
//! Columns are found by their header names, so `-T` (a `Type` column) and `--output`
//! orders both work. Mount points may contain spaces (the mount point is the rest of the
//! line), and so may sources (the sizes are located first). Old coreutils wrapped a long
//! source onto its own line; such a line is joined with the next.
//!
//! `-h` and `-H` print the same header and the same suffixes (except `k`/`K` for kilo), so
//! [`parse`] reads human sizes as powers of 1024 unless a lowercase `k` shows SI; use
//! [`parse_si`] for `df -H` output. Human sizes are rounded (up) by df: [`DfReport::exact`]
//! says whether the numbers are exact.

use super::text::{Tok, err, err_at, integer, number, numbered, percent, shown, to_bytes, tokens};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};

/// A parsed `df` listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DfReport {
    /// How sizes were printed.
    pub units: DfUnits,
    /// True when sizes were printed in blocks (exact up to the block size); false for
    /// `-h`/`-H`, whose sizes df rounds up to 2 significant digits.
    pub exact: bool,
    /// One entry per listed filesystem, in order.
    pub filesystems: Vec<DfEntry>,
}

/// How `df` printed sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum DfUnits {
    /// Whole blocks (`1K-blocks`, `1024-blocks`, `1M-blocks`, ...).
    Blocks {
        /// Bytes per block.
        block_size: u64,
    },
    /// Human sizes with suffixes (`-h`: base 1024, `-H`/`--si`: base 1000).
    Human {
        /// 1024 or 1000.
        base: u64,
    },
}

/// One filesystem row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DfEntry {
    /// The `Filesystem` column (device or source, e.g. `/dev/nvme0n1p2`, `tmpfs`).
    pub source: String,
    /// The `Type` column (`-T`), when printed.
    pub fstype: Option<String>,
    /// Total size in bytes; `None` when df printed `-` (no statistics).
    pub size: Option<u64>,
    /// Used bytes; `None` when df printed `-`.
    pub used: Option<u64>,
    /// Bytes available to unprivileged users; `None` when df printed `-`. On btrfs this is
    /// 0 when metadata is full and no chunk can be allocated (tuning facts §7).
    pub avail: Option<u64>,
    /// `Use%` (`Capacity` with `-P`): used / (used + avail), rounded up by df; `None` for `-`.
    pub use_percent: Option<f64>,
    /// The mount point (may contain spaces).
    pub mountpoint: String,
}

/// What a header column holds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Col {
    Type,
    Size,
    Used,
    Avail,
    Pcent,
}

/// Parses `df` output; human sizes (`-h`) are read as powers of 1024.
pub fn parse(text: &str, origin: &str) -> Result<DfReport, AdvisorError> {
    parse_with(text, origin, None)
}

/// Parses `df -H` (`--si`) output: human sizes are powers of 1000.
pub fn parse_si(text: &str, origin: &str) -> Result<DfReport, AdvisorError> {
    parse_with(text, origin, Some(1000))
}

fn parse_with(text: &str, origin: &str, human_base: Option<u64>) -> Result<DfReport, AdvisorError> {
    let mut lines = numbered(text)
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some((hno, header)) = lines.next() else {
        return Err(err(
            origin,
            0,
            0,
            "empty input: expected df output starting with a `Filesystem ...` header".into(),
        ));
    };
    let (cols, units) = read_header(origin, hno, header, human_base, text)?;
    let base = match units {
        DfUnits::Human { base } => base,
        DfUnits::Blocks { .. } => 0,
    };
    let mut filesystems = Vec::new();
    while let Some((no, line)) = lines.next() {
        let toks = tokens(line);
        // Old coreutils: a long source alone on its line, the numbers on the next
        // (indented) line.
        if toks.len() == 1 {
            if let Some(&(_, next)) = lines.peek() {
                if next.starts_with(char::is_whitespace) {
                    lines.next();
                    let entry = read_row(origin, no, next, &cols, units, base, Some(toks[0].s))?;
                    filesystems.push(entry);
                    continue;
                }
            }
        }
        filesystems.push(read_row(origin, no, line, &cols, units, base, None)?);
    }
    Ok(DfReport {
        units,
        exact: matches!(units, DfUnits::Blocks { .. }),
        filesystems,
    })
}

fn read_header(
    origin: &str,
    no: usize,
    line: &str,
    human_base: Option<u64>,
    text: &str,
) -> Result<(Vec<Col>, DfUnits), AdvisorError> {
    let toks = tokens(line);
    let expected =
        "a df header like `Filesystem [Type] 1K-blocks|Size Used Available Use% Mounted on`";
    if toks.first().map(|t| t.s) != Some("Filesystem") {
        return Err(err(
            origin,
            no,
            1,
            format!("expected {expected}, found `{}`", shown(line.trim())),
        ));
    }
    let n = toks.len();
    if n < 3 || toks[n - 2].s != "Mounted" || toks[n - 1].s != "on" {
        return Err(err(
            origin,
            no,
            0,
            format!(
                "expected {expected} ending in `Mounted on`, found `{}`",
                shown(line.trim())
            ),
        ));
    }
    let mut cols = Vec::new();
    let mut units = None;
    for t in &toks[1..n - 2] {
        let col = match t.s {
            "Type" => Col::Type,
            "Size" => {
                units = Some(DfUnits::Human {
                    base: human_base.unwrap_or_else(|| guess_base(text)),
                });
                Col::Size
            }
            "Used" => Col::Used,
            "Avail" | "Available" => Col::Avail,
            "Use%" | "Capacity" => Col::Pcent,
            s if s.ends_with("-blocks") => {
                let spec = s.trim_end_matches("-blocks");
                let Some(bs) = block_size(spec) else {
                    return Err(err_at(
                        origin,
                        no,
                        line,
                        *t,
                        format!(
                            "expected a block size like `1K-blocks` or `1024-blocks`, found `{}`",
                            shown(s)
                        ),
                    ));
                };
                units = Some(DfUnits::Blocks { block_size: bs });
                Col::Size
            }
            other => {
                let hint = if other.starts_with('I') {
                    " (inode listings, `df -i`, are not supported)"
                } else {
                    ""
                };
                return Err(err_at(
                    origin,
                    no,
                    line,
                    *t,
                    format!(
                        "unexpected df column `{}`: expected Type, Size, 1K-blocks, Used, Avail, Use%{hint}",
                        shown(other)
                    ),
                ));
            }
        };
        if cols.contains(&col) {
            return Err(err_at(
                origin,
                no,
                line,
                *t,
                format!("column `{}` appears twice", t.s),
            ));
        }
        cols.push(col);
    }
    let Some(units) = units else {
        return Err(err(
            origin,
            no,
            0,
            "expected a size column (`1K-blocks` or `Size`) in the df header".into(),
        ));
    };
    Ok((cols, units))
}

/// `1K` -> 1024, `1024` -> 1024, `1M` -> 1048576, `512` -> 512, `1kB` -> 1000.
fn block_size(spec: &str) -> Option<u64> {
    let end = spec
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(spec.len());
    let n = integer(spec.get(..end)?)?;
    let mult = human_mult(spec.get(end..)?, 1024)?;
    n.checked_mul(mult)
}

/// The multiplier of a df size suffix: `K M G T P E Z Y` (and `k`), optionally followed by
/// `B` (SI, base 1000) or `iB` (base 1024), as `-B` accepts them.
fn human_mult(suffix: &str, base: u64) -> Option<u64> {
    if suffix.is_empty() {
        return Some(1);
    }
    let mut chars = suffix.chars();
    let letter = chars.next()?;
    let rest: String = chars.collect();
    let base = match rest.as_str() {
        "" => base,
        "B" => 1000,
        "iB" => 1024,
        _ => return None,
    };
    let exp = "KMGTPEZY".find(letter.to_ascii_uppercase())?;
    base.checked_pow(u32::try_from(exp).ok()? + 1)
}

/// A lowercase `k` suffix only appears with `--si`.
fn guess_base(text: &str) -> u64 {
    let si = text.lines().skip(1).any(|l| {
        tokens(l)
            .iter()
            .any(|t| t.s.ends_with('k') && number(t.s.trim_end_matches('k')).is_some())
    });
    if si { 1000 } else { 1024 }
}

fn read_row(
    origin: &str,
    no: usize,
    line: &str,
    cols: &[Col],
    units: DfUnits,
    base: u64,
    wrapped_source: Option<&str>,
) -> Result<DfEntry, AdvisorError> {
    let toks = tokens(line);
    // Where the value columns start: after the source (which may contain spaces), so try
    // each position and take the first at which every column parses and a mount point
    // remains.
    let first = if wrapped_source.is_some() { 0 } else { 1 };
    let mut last_problem = None;
    for start in first..toks.len() {
        let Some(values) = toks.get(start..start + cols.len()) else {
            break;
        };
        if toks.len() <= start + cols.len() {
            last_problem = Some(format!(
                "expected a mount point after the {} value columns",
                cols.len()
            ));
            break;
        }
        match read_values(values, cols, units, base) {
            Ok(mut entry) => {
                entry.source = match wrapped_source {
                    Some(s) => s.to_string(),
                    None => line.get(..toks[start].at).unwrap_or("").trim().to_string(),
                };
                let mp_at = toks[start + cols.len()].at;
                entry.mountpoint = line.get(mp_at..).unwrap_or("").trim_end().to_string();
                return Ok(entry);
            }
            Err((i, msg)) => {
                if last_problem.is_none() {
                    last_problem = Some(format!("{msg} (column {i})"));
                }
            }
        }
    }
    let what = last_problem.unwrap_or_else(|| "too few columns".into());
    Err(err(
        origin,
        no,
        0,
        format!(
            "expected a df row `SOURCE {}MOUNTPOINT` matching the header: {what}; found `{}`",
            cols.iter()
                .map(|c| match c {
                    Col::Type => "TYPE ",
                    Col::Size => "SIZE ",
                    Col::Used => "USED ",
                    Col::Avail => "AVAIL ",
                    Col::Pcent => "USE% ",
                })
                .collect::<String>(),
            shown(line.trim())
        ),
    ))
}

fn read_values(
    values: &[Tok<'_>],
    cols: &[Col],
    units: DfUnits,
    base: u64,
) -> Result<DfEntry, (usize, String)> {
    let mut e = DfEntry {
        source: String::new(),
        fstype: None,
        size: None,
        used: None,
        avail: None,
        use_percent: None,
        mountpoint: String::new(),
    };
    for (i, (t, col)) in values.iter().zip(cols).enumerate() {
        let size = |s: &str| -> Result<Option<u64>, (usize, String)> {
            if s == "-" {
                return Ok(None);
            }
            let v = match units {
                DfUnits::Blocks { block_size } => {
                    integer(s).and_then(|n| n.checked_mul(block_size))
                }
                DfUnits::Human { .. } => human_size(s, base),
            };
            v.map(Some)
                .ok_or_else(|| (i + 1, format!("expected a size, found `{}`", shown(s))))
        };
        match col {
            Col::Type => e.fstype = Some(t.s.to_string()),
            Col::Size => e.size = size(t.s)?,
            Col::Used => e.used = size(t.s)?,
            Col::Avail => e.avail = size(t.s)?,
            Col::Pcent => {
                e.use_percent = if t.s == "-" {
                    None
                } else {
                    Some(
                        t.s.strip_suffix('%')
                            .and_then(percent)
                            .filter(|p| *p >= 0.0)
                            .ok_or_else(|| {
                                (
                                    i + 1,
                                    format!(
                                        "expected a percentage like `37%`, found `{}`",
                                        shown(t.s)
                                    ),
                                )
                            })?,
                    )
                };
            }
        }
    }
    Ok(e)
}

/// `1.5G`, `557M`, `0`, `4.0K`, `966M` in bytes.
fn human_size(s: &str, base: u64) -> Option<u64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num = number(s.get(..end)?)?;
    let mult = human_mult(s.get(end..)?, base)?;
    #[allow(clippy::cast_precision_loss)] // multipliers are powers of 1000/1024
    to_bytes(num, mult as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_size("1.5G", 1024), Some(1_610_612_736));
        assert_eq!(human_size("0", 1024), Some(0));
        assert_eq!(human_size("584M", 1000), Some(584_000_000));
        assert_eq!(human_size("4.0k", 1000), Some(4000));
        assert_eq!(human_size("1.5X", 1024), None);
        assert_eq!(block_size("1K"), Some(1024));
        assert_eq!(block_size("1024"), Some(1024));
        assert_eq!(block_size("1M"), Some(1 << 20));
        assert_eq!(block_size("1kB"), Some(1000));
    }
}
