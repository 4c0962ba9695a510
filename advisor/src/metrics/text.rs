//! Helpers shared by the metrics parsers: positioned tokens, number and size parsing, and
//! [`AdvisorError::Input`] construction. Nothing here indexes by an input-derived position
//! that is not a char boundary, so no parser can panic on odd input.

use crate::error::AdvisorError;

/// A whitespace-separated token and its byte offset in its line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok<'a> {
    /// Byte offset of the token's first char in the line.
    pub at: usize,
    /// The token.
    pub s: &'a str,
}

/// The whitespace-separated tokens of `line`, with their byte offsets.
pub(crate) fn tokens(line: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push(Tok {
                    at: st,
                    s: line.get(st..i).unwrap_or(""),
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(Tok {
            at: st,
            s: line.get(st..).unwrap_or(""),
        });
    }
    out
}

/// The 1-based column (in chars) of byte offset `at` in `line`.
pub(crate) fn column(line: &str, at: usize) -> usize {
    line.get(..at).map_or(0, |p| p.chars().count() + 1)
}

/// The lines of `text` with their 1-based numbers (`\r\n` endings accepted).
pub(crate) fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l))
}

/// An [`AdvisorError::Input`] at `line`:`column` (1-based, 0 when unknown).
pub(crate) fn err(origin: &str, line: usize, column: usize, message: String) -> AdvisorError {
    AdvisorError::Input {
        path: origin.to_string(),
        line,
        column,
        message,
    }
}

/// An [`AdvisorError::Input`] pointing at token `tok` of line `no` (text `line`).
pub(crate) fn err_at(
    origin: &str,
    no: usize,
    line: &str,
    tok: Tok<'_>,
    message: String,
) -> AdvisorError {
    err(origin, no, column(line, tok.at), message)
}

/// `s` shortened for an error message.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// A finite decimal number: optional sign, digits, optional fraction with `.` or `,` (some
/// locales print `0,50`). No exponents, `nan` or `inf`.
pub(crate) fn number(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut seps = 0;
    for c in body.chars() {
        match c {
            '0'..='9' => {}
            '.' | ',' => seps += 1,
            _ => return None,
        }
    }
    if seps > 1 || body.ends_with(['.', ',']) {
        return None;
    }
    let v: f64 = s.replace(',', ".").parse().ok()?;
    v.is_finite().then_some(v)
}

/// A non-negative integer without sign or separators.
pub(crate) fn integer(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `value * unit` rounded to whole bytes, if it fits in a `u64` and is not negative.
pub(crate) fn to_bytes(value: f64, unit: f64) -> Option<u64> {
    let b = (value * unit).round();
    // 2^64 as f64; anything at or above it does not fit.
    (b.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&b)).then_some(b as u64)
}

/// Splits `12.50MiB` into the number and its suffix (`MiB`).
pub(crate) fn split_suffix(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || c == ',' || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    (s.get(..end).unwrap_or(s), s.get(end..).unwrap_or(""))
}

/// The multiplier of a btrfs-progs size suffix (`B`, `KiB`..`EiB`, `kB`..`EB`); `""` is bytes.
pub(crate) fn btrfs_unit(suffix: &str) -> Option<f64> {
    const BIN: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    const DEC: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if suffix.is_empty() {
        return Some(1.0);
    }
    if let Some(i) = BIN.iter().position(|u| *u == suffix) {
        return Some(1024f64.powi(i32::try_from(i).ok()?));
    }
    DEC.iter()
        .position(|u| *u == suffix)
        .and_then(|i| i32::try_from(i).ok())
        .map(|i| 1000f64.powi(i))
}

/// A size as btrfs-progs prints it (`1.50GiB`, `0.00B`, `16384`), in bytes.
pub(crate) fn btrfs_size(s: &str) -> Option<u64> {
    let (num, suffix) = split_suffix(s);
    if num.starts_with('-') {
        return None;
    }
    let unit = btrfs_unit(suffix)?;
    if suffix.is_empty() {
        return integer(num);
    }
    to_bytes(number(num)?, unit)
}

/// A size that btrfs-progs may print as negative (`Device unallocated`), in bytes. Old
/// btrfs-progs printed a negative value as a wrapped `u64` (`16.00EiB`); that is unwrapped.
pub(crate) fn btrfs_signed_size(s: &str) -> Option<i64> {
    let (num, suffix) = split_suffix(s);
    let unit = btrfs_unit(suffix)?;
    let (neg, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num),
    };
    let magnitude: i128 = if suffix.is_empty() {
        i128::from(integer(digits)?)
    } else {
        let v = number(digits)? * unit;
        if !v.is_finite() || v >= 1.9e19 {
            return None;
        }
        v.round() as i128
    };
    let mut v = if neg { -magnitude } else { magnitude };
    if v > i128::from(i64::MAX) {
        v -= 1i128 << 64;
    }
    i64::try_from(v).ok()
}

/// True when a size printed by btrfs-progs is at least 2^63 bytes: a negative number
/// printed as unsigned (`16.00EiB`), not a real size.
pub(crate) fn btrfs_wrapped(s: &str) -> bool {
    let (num, suffix) = split_suffix(s);
    match (number(num), btrfs_unit(suffix)) {
        (Some(v), Some(u)) => v * u >= 9.2e18,
        _ => false,
    }
}

/// `12.5%` or `12.50` (the `%` is optional) as a number.
pub(crate) fn percent(s: &str) -> Option<f64> {
    number(s.strip_suffix('%').unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_offsets_and_handle_unicode() {
        let t = tokens("  ä b\tcc ");
        let got: Vec<(usize, &str)> = t.iter().map(|t| (t.at, t.s)).collect();
        assert_eq!(got, [(2, "ä"), (5, "b"), (7, "cc")]);
        assert_eq!(column("  ä b", 5), 5);
    }

    #[test]
    fn numbers() {
        assert_eq!(number("1.50"), Some(1.5));
        assert_eq!(number("0,50"), Some(0.5));
        assert_eq!(number("-2"), Some(-2.0));
        for bad in [
            "", "-", "nan", "inf", "1e5", "1.", ".5", "1.2.3", "1,2.3", "12a",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn btrfs_sizes() {
        assert_eq!(btrfs_size("0.00B"), Some(0));
        assert_eq!(btrfs_size("16.00KiB"), Some(16384));
        assert_eq!(btrfs_size("1.50GiB"), Some(1_610_612_736));
        assert_eq!(btrfs_size("2.00kB"), Some(2000));
        assert_eq!(btrfs_size("16384"), Some(16384));
        assert_eq!(btrfs_size("16.00EiB"), None);
        assert_eq!(btrfs_size("1.5"), None);
        assert_eq!(btrfs_size("-1.00MiB"), None);
        assert_eq!(btrfs_signed_size("-1.00MiB"), Some(-1_048_576));
        assert_eq!(btrfs_signed_size("18446744073709551615"), Some(-1));
        assert_eq!(btrfs_signed_size("16.00EiB"), Some(0));
    }
}
