//! Sizes as disko writes them (`512M`, `8G`, `100%`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

const UNITS: [(char, u32); 5] = [('P', 50), ('T', 40), ('G', 30), ('M', 20), ('K', 10)];

impl Bytes {
    /// `n` GiB.
    pub const fn gib(n: u64) -> Self {
        Bytes(n << 30)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Bytes(n << 20)
    }

    /// Rounded up to a whole GiB (at least 1).
    pub fn ceil_gib(self) -> Self {
        Bytes(self.0.div_ceil(1 << 30).max(1) << 30)
    }
}

impl fmt::Display for Bytes {
    /// The largest binary unit that divides the value exactly, as disko and mkswapfile
    /// accept it (`8G`, `512M`, `1536M`); plain bytes otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (u, shift) in UNITS {
            let unit = 1u64 << shift;
            if self.0 >= unit && self.0 % unit == 0 {
                return write!(f, "{}{u}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for Bytes {
    type Err = String;
    /// Parses `8G`, `512M`, `8GiB`, `1T`, or plain bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t
            .strip_suffix("iB")
            .or_else(|| t.strip_suffix('B'))
            .unwrap_or(t);
        let (num, shift) = match t.chars().last() {
            Some(c) if c.is_ascii_alphabetic() => {
                let c = c.to_ascii_uppercase();
                let shift = UNITS
                    .iter()
                    .find(|(u, _)| *u == c)
                    .map(|(_, sh)| *sh)
                    .ok_or_else(|| format!("`{s}`: unknown unit (expected K, M, G, T or P)"))?;
                (&t[..t.len() - 1], shift)
            }
            _ => (t, 0),
        };
        let n: u64 = num
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a size (expected e.g. 512M, 8G)"))?;
        n.checked_shl(shift)
            .filter(|v| v >> shift == n)
            .map(Bytes)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

/// A partition size: fixed, or a share of what is left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartSize {
    /// A fixed size.
    Fixed(Bytes),
    /// A percentage of the remaining space (`100%` = the rest).
    Percent(u8),
    /// Start and end, as disko's legacy `table` format writes them (`1MiB`, `100%`).
    Span {
        /// Start.
        start: String,
        /// End.
        end: String,
    },
    /// A size disko passes to sgdisk as written, which this tool does not interpret.
    Raw(String),
}

impl fmt::Display for PartSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartSize::Fixed(b) => write!(f, "{b}"),
            PartSize::Percent(p) => write!(f, "{p}%"),
            PartSize::Span { start, end } => write!(f, "{start}..{end}"),
            PartSize::Raw(s) => f.write_str(s),
        }
    }
}

impl FromStr for PartSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_suffix('%') {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .map(PartSize::Percent)
                .ok_or_else(|| format!("`{s}`: expected a percentage from 1% to 100%")),
            None => s.parse().map(PartSize::Fixed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        assert_eq!(Bytes::gib(8).to_string(), "8G");
        assert_eq!(Bytes::mib(1536).to_string(), "1536M");
        assert_eq!("8G".parse::<Bytes>().unwrap(), Bytes::gib(8));
        assert_eq!("8GiB".parse::<Bytes>().unwrap(), Bytes::gib(8));
        assert_eq!("512m".parse::<Bytes>().unwrap(), Bytes::mib(512));
        assert!("8X".parse::<Bytes>().is_err());
        assert!("99999999999P".parse::<Bytes>().is_err());
        assert_eq!("100%".parse::<PartSize>().unwrap(), PartSize::Percent(100));
        assert!("0%".parse::<PartSize>().is_err());
        assert_eq!(Bytes(7_500_000_000).ceil_gib(), Bytes::gib(7));
    }
}
