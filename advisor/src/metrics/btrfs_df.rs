//! `btrfs filesystem df` output, human (default) or `-b`:
//!
//! ```text
//! Data, single: total=488.00MiB, used=400.00MiB
//! Metadata, DUP: total=76.75MiB, used=75.61MiB
//! GlobalReserve, single: total=5.50MiB, used=0.00B
//! ```
//!
//! `total` and `used` are logical bytes (one copy). Zoned filesystems add
//! `zone_unusable=...`. `WARNING:` lines (e.g. about multiple profiles) are kept.

use super::text::{btrfs_size, err, numbered, shown};
use super::{BlockGroupKind, Profile};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A parsed `btrfs filesystem df`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FsDf {
    /// One entry per line, in order.
    pub entries: Vec<DfLine>,
    /// True when every size was a plain byte count (`-b`).
    pub exact: bool,
    /// `WARNING:`/`ERROR:` lines btrfs-progs printed (stderr, when captured with `2>&1`).
    pub warnings: Vec<String>,
}

/// One `Type, profile: total=..., used=...` line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DfLine {
    /// Data, Metadata, System, Data+Metadata or GlobalReserve.
    pub kind: BlockGroupKind,
    /// The profile.
    pub profile: Profile,
    /// `total`: logical bytes allocated to chunks of this type.
    pub total: u64,
    /// `used`: logical bytes used.
    pub used: u64,
    /// `zone_unusable` (zoned devices).
    pub zone_unusable: Option<u64>,
    /// Other `key=value` pairs, verbatim.
    pub other: BTreeMap<String, String>,
}

impl FsDf {
    /// The entries of one kind.
    pub fn of_kind(&self, kind: &BlockGroupKind) -> impl Iterator<Item = &DfLine> {
        self.entries.iter().filter(move |e| &e.kind == kind)
    }

    /// True when `Metadata used + GlobalReserve total >= Metadata total` (with 1% slack
    /// for rounded human sizes): the allocated metadata chunks are full (the tuning facts
    /// §7 rule). That is only exhaustion when no unallocated space is left for a new chunk
    /// (check `Device unallocated` in `btrfs filesystem usage`): the captured fixtures show
    /// the rule firing on a filesystem with 878 MiB unallocated.
    pub fn metadata_full(&self) -> bool {
        let meta_total: u64 = self
            .of_kind(&BlockGroupKind::Metadata)
            .map(|e| e.total)
            .sum();
        let meta_used: u64 = self
            .of_kind(&BlockGroupKind::Metadata)
            .map(|e| e.used)
            .sum();
        let reserve: u64 = self
            .of_kind(&BlockGroupKind::GlobalReserve)
            .map(|e| e.total)
            .sum();
        if meta_total == 0 {
            return false;
        }
        let slack = if self.exact { 0 } else { meta_total / 100 };
        meta_used.saturating_add(reserve).saturating_add(slack) >= meta_total
    }
}

/// Parses `btrfs filesystem df`.
pub fn parse(text: &str, origin: &str) -> Result<FsDf, AdvisorError> {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut exact = true;
    for (no, line) in numbered(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("WARNING:") || t.starts_with("ERROR:") {
            warnings.push(t.to_string());
            continue;
        }
        let expected = "expected a line like `Data, single: total=1.00GiB, used=512.00MiB`";
        let fail = |col: usize| err(origin, no, col, format!("{expected}, found `{}`", shown(t)));
        let Some((head, rest)) = t.split_once(": ") else {
            return Err(fail(0));
        };
        let Some((kind, profile)) = head.split_once(',') else {
            return Err(fail(1));
        };
        let mut total = None;
        let mut used = None;
        let mut zone_unusable = None;
        let mut other = BTreeMap::new();
        for pair in rest.split(',') {
            let pair = pair.trim();
            let Some((k, v)) = pair.split_once('=') else {
                return Err(fail(0));
            };
            let v = v.trim();
            let size = || {
                btrfs_size(v).ok_or_else(|| {
                    let col = line.find(pair).map_or(0, |i| super::text::column(line, i));
                    err(
                        origin,
                        no,
                        col,
                        format!(
                            "`{k}`: expected a size like `1.50GiB` or `16384`, found `{}`",
                            shown(v)
                        ),
                    )
                })
            };
            match k.trim() {
                "total" => total = Some(size()?),
                "used" => used = Some(size()?),
                "zone_unusable" => zone_unusable = Some(size()?),
                other_key => {
                    other.insert(other_key.to_string(), v.to_string());
                    continue;
                }
            }
            exact &= v.bytes().all(|b| b.is_ascii_digit());
        }
        let (Some(total), Some(used)) = (total, used) else {
            return Err(err(
                origin,
                no,
                0,
                format!("expected both `total=` and `used=`, found `{}`", shown(t)),
            ));
        };
        entries.push(DfLine {
            kind: BlockGroupKind::from_name(kind.trim()),
            profile: Profile::from_name(profile.trim()),
            total,
            used,
            zone_unusable,
            other,
        });
    }
    if entries.is_empty() {
        return Err(err(origin, 0, 0, "no block-group lines: expected `btrfs filesystem df` output like `Data, single: total=..., used=...`".into()));
    }
    Ok(FsDf {
        entries,
        exact,
        warnings,
    })
}
