//! Mount options, split the way the kernel applies them.
//!
//! btrfs applies most of its options to the whole filesystem, and only the first mount of a
//! filesystem sets them; a later mount of another subvolume reuses the superblock and its
//! options (btrfs-tuning-facts.md §1.1, experiments E1, E7). Only VFS options (`ro`, atime
//! modes, `nodev`, `nosuid`, `noexec`) differ per mount. [`FsOptions`] holds the first kind,
//! [`VfsOptions`] the second; [`parse_mount_options`] sorts a written option list into both.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A btrfs compression algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// zlib, levels 1 to 9; what a bare `compress` means (§1.2).
    Zlib,
    /// LZO, no levels.
    Lzo,
    /// zstd, levels -15 to 15 (negative since 6.15), default 3.
    Zstd,
}

impl Algorithm {
    /// The name btrfs uses in mount options and properties.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Zlib => "zlib",
            Algorithm::Lzo => "lzo",
            Algorithm::Zstd => "zstd",
        }
    }
}

/// A compression setting as written in `compress=`: algorithm and optional level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Compression {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The level, if one is given (`zstd:1`); `None` means the algorithm's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i8>,
}

impl Compression {
    /// zstd at the given level.
    pub fn zstd(level: i8) -> Self {
        Compression {
            algorithm: Algorithm::Zstd,
            level: Some(level),
        }
    }

    /// Parses the value of `compress=` (`zstd`, `zstd:3`, `lzo`, `zlib:9`).
    /// Returns `Ok(None)` for the values that turn compression off (`no`, `none`, `off`, `false`).
    pub fn parse(value: &str) -> Result<Option<Self>, String> {
        let (alg, level) = match value.split_once(':') {
            Some((a, l)) => (a, Some(l)),
            None => (value, None),
        };
        let algorithm = match alg {
            "zlib" => Algorithm::Zlib,
            "lzo" => Algorithm::Lzo,
            "zstd" => Algorithm::Zstd,
            "no" | "none" | "off" | "false" if level.is_none() => return Ok(None),
            other => {
                return Err(format!(
                    "unknown compression algorithm `{other}` (expected zstd, lzo, zlib or no)"
                ));
            }
        };
        let level = match level {
            None => None,
            Some(l) => {
                let n: i8 = l
                    .parse()
                    .map_err(|_| format!("compression level `{l}` is not a number"))?;
                let ok = match algorithm {
                    Algorithm::Zlib => (1..=9).contains(&n),
                    Algorithm::Zstd => (-15..=15).contains(&n),
                    Algorithm::Lzo => false,
                };
                if !ok {
                    return Err(format!(
                        "level {n} is out of range for {} (zlib 1..9, zstd -15..15, lzo none)",
                        algorithm.as_str()
                    ));
                }
                Some(n)
            }
        };
        Ok(Some(Compression { algorithm, level }))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            Some(l) => write!(f, "{}:{l}", self.algorithm.as_str()),
            None => f.write_str(self.algorithm.as_str()),
        }
    }
}

/// The `discard` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    /// `discard=async`: batched TRIM, the default since 6.2 where supported.
    Async,
    /// `discard` / `discard=sync`: synchronous TRIM, "severe performance hit" (§1.2).
    Sync,
    /// `nodiscard`.
    Off,
}

/// The free-space cache version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceCache {
    /// `space_cache` / `space_cache=v1`: deprecated.
    V1,
    /// `space_cache=v2`: the free-space tree, the default.
    V2,
    /// `nospace_cache`.
    Off,
}

/// The `ssd` family of options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsdMode {
    /// `ssd`.
    Ssd,
    /// `ssd_spread`.
    SsdSpread,
    /// `nossd`.
    NoSsd,
}

/// Filesystem-wide btrfs mount options: one set per filesystem, taken from its first mount.
///
/// `None` and `false` mean "not written", i.e. the kernel's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FsOptions {
    /// `compress=` (or `compress-force=` when [`FsOptions::compress_force`] is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compress: Option<Compression>,
    /// Compression was asked with `compress-force` (not recommended, §1.2).
    #[serde(skip_serializing_if = "is_false")]
    pub compress_force: bool,
    /// `nodatacow`: new files get the NOCOW attribute (and no checksums).
    #[serde(skip_serializing_if = "is_false")]
    pub nodatacow: bool,
    /// `nodatasum`: new files get no data checksums.
    #[serde(skip_serializing_if = "is_false")]
    pub nodatasum: bool,
    /// `autodefrag`.
    #[serde(skip_serializing_if = "is_false")]
    pub autodefrag: bool,
    /// `commit=N` in seconds (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<u32>,
    /// `discard` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discard: Option<Discard>,
    /// `space_cache` version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_cache: Option<SpaceCache>,
    /// `ssd` family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssd: Option<SsdMode>,
    /// `flushoncommit`.
    #[serde(skip_serializing_if = "is_false")]
    pub flushoncommit: bool,
    /// `max_inline=B`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inline: Option<u64>,
    /// `thread_pool=N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_pool: Option<u32>,
    /// `user_subvol_rm_allowed`: lets owners delete their subvolumes (rootless container drivers).
    #[serde(skip_serializing_if = "is_false")]
    pub user_subvol_rm_allowed: bool,
    /// Other filesystem-wide options kept verbatim (`skip_balance`, `device=...`, `degraded`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FsOptions {
    /// True when nothing is written (every option at the kernel default).
    pub fn is_default(&self) -> bool {
        *self == FsOptions::default()
    }

    /// The options in a fixed order, as they would be written in `mountOptions`.
    pub fn to_mount_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = self.compress {
            if self.compress_force {
                out.push(format!("compress-force={c}"));
            } else {
                out.push(format!("compress={c}"));
            }
        }
        if self.nodatacow {
            out.push("nodatacow".into());
        }
        if self.nodatasum && !self.nodatacow {
            out.push("nodatasum".into());
        }
        if self.autodefrag {
            out.push("autodefrag".into());
        }
        if let Some(c) = self.commit {
            out.push(format!("commit={c}"));
        }
        match self.discard {
            Some(Discard::Async) => out.push("discard=async".into()),
            Some(Discard::Sync) => out.push("discard=sync".into()),
            Some(Discard::Off) => out.push("nodiscard".into()),
            None => {}
        }
        match self.space_cache {
            Some(SpaceCache::V1) => out.push("space_cache=v1".into()),
            Some(SpaceCache::V2) => out.push("space_cache=v2".into()),
            Some(SpaceCache::Off) => out.push("nospace_cache".into()),
            None => {}
        }
        match self.ssd {
            Some(SsdMode::Ssd) => out.push("ssd".into()),
            Some(SsdMode::SsdSpread) => out.push("ssd_spread".into()),
            Some(SsdMode::NoSsd) => out.push("nossd".into()),
            None => {}
        }
        if self.flushoncommit {
            out.push("flushoncommit".into());
        }
        if let Some(m) = self.max_inline {
            out.push(format!("max_inline={m}"));
        }
        if let Some(t) = self.thread_pool {
            out.push(format!("thread_pool={t}"));
        }
        if self.user_subvol_rm_allowed {
            out.push("user_subvol_rm_allowed".into());
        }
        out.extend(self.other.iter().cloned());
        out
    }

    /// What compression new files get from the mount options alone (none under `nodatacow`).
    pub fn effective_compression(&self) -> Option<Compression> {
        if self.nodatacow { None } else { self.compress }
    }
}

/// How access times are updated: a per-mount (VFS) option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Atime {
    /// `noatime`: never write access times.
    Noatime,
    /// `relatime`: the kernel default.
    Relatime,
    /// `strictatime`: every access.
    Strictatime,
}

/// Per-mount options: the only ones that can differ between subvolumes of one filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VfsOptions {
    /// Access-time mode (`None`: kernel default, relatime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atime: Option<Atime>,
    /// `nodiratime`.
    #[serde(skip_serializing_if = "is_false")]
    pub nodiratime: bool,
    /// `lazytime`.
    #[serde(skip_serializing_if = "is_false")]
    pub lazytime: bool,
    /// `ro`.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `nodev`.
    #[serde(skip_serializing_if = "is_false")]
    pub nodev: bool,
    /// `nosuid`.
    #[serde(skip_serializing_if = "is_false")]
    pub nosuid: bool,
    /// `noexec`.
    #[serde(skip_serializing_if = "is_false")]
    pub noexec: bool,
    /// Options for fstab and systemd, never seen by btrfs (`nofail`, `x-systemd.automount`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

impl VfsOptions {
    /// `noatime` and nothing else.
    pub fn noatime() -> Self {
        VfsOptions {
            atime: Some(Atime::Noatime),
            ..VfsOptions::default()
        }
    }

    /// The options in a fixed order.
    pub fn to_mount_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.read_only {
            out.push("ro".into());
        }
        match self.atime {
            Some(Atime::Noatime) => out.push("noatime".into()),
            Some(Atime::Relatime) => out.push("relatime".into()),
            Some(Atime::Strictatime) => out.push("strictatime".into()),
            None => {}
        }
        if self.nodiratime {
            out.push("nodiratime".into());
        }
        if self.lazytime {
            out.push("lazytime".into());
        }
        if self.nodev {
            out.push("nodev".into());
        }
        if self.nosuid {
            out.push("nosuid".into());
        }
        if self.noexec {
            out.push("noexec".into());
        }
        out.extend(self.other.iter().cloned());
        out
    }
}

/// Where an option takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Per mount (VFS).
    Mount,
    /// The whole btrfs filesystem; only the first mount's value counts.
    Filesystem,
    /// Read by mount(8), fstab or systemd, not by the kernel.
    Userspace,
    /// Selects the subvolume (`subvol=`, `subvolid=`).
    Subvolume,
}

/// Which scope a written option belongs to.
pub fn scope_of(option: &str) -> Scope {
    let key = option.split_once('=').map_or(option, |(k, _)| k);
    match key {
        "ro" | "rw" | "noatime" | "atime" | "relatime" | "norelatime" | "strictatime"
        | "nostrictatime" | "lazytime" | "nolazytime" | "nodiratime" | "diratime" | "nodev"
        | "dev" | "nosuid" | "suid" | "noexec" | "exec" => Scope::Mount,
        "subvol" | "subvolid" => Scope::Subvolume,
        "defaults" | "auto" | "noauto" | "nofail" | "user" | "nouser" | "users" | "_netdev"
        | "owner" | "group" | "comment" => Scope::Userspace,
        k if k.starts_with("x-") || k.starts_with("X-") => Scope::Userspace,
        _ => Scope::Filesystem,
    }
}

/// A written mount option list, sorted into its scopes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedMountOptions {
    /// The filesystem-wide options this list asks for.
    pub fs: FsOptions,
    /// The per-mount options.
    pub vfs: VfsOptions,
    /// `subvol=` if present.
    pub subvol: Option<String>,
    /// `subvolid=` if present.
    pub subvolid: Option<u64>,
}

/// Parses a mount option list left to right, the way btrfs does: a later option overrides an
/// earlier one, and `compress` after `nodatacow` turns NOCOW off again (and the reverse).
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> Result<ParsedMountOptions, String> {
    let mut p = ParsedMountOptions::default();
    for raw in options {
        let raw = raw.as_ref().trim();
        if raw.is_empty() {
            continue;
        }
        // One list element may hold several comma-separated options.
        for opt in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            apply_option(&mut p, opt)?;
        }
    }
    Ok(p)
}

fn apply_option(p: &mut ParsedMountOptions, opt: &str) -> Result<(), String> {
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    let fs = &mut p.fs;
    let vfs = &mut p.vfs;
    fn need<'a>(key: &str, v: Option<&'a str>) -> Result<&'a str, String> {
        v.ok_or_else(|| format!("`{key}` needs a value (`{key}=...`)"))
    }
    let num = |v: Option<&str>| -> Result<u64, String> {
        let v = need(key, v)?;
        v.parse::<u64>()
            .map_err(|_| format!("`{key}={v}`: `{v}` is not a number"))
    };
    match key {
        "compress" | "compress-force" => {
            let c = match value {
                None => Some(Compression {
                    algorithm: Algorithm::Zlib,
                    level: None,
                }),
                Some(v) => Compression::parse(v)?,
            };
            fs.compress = c;
            fs.compress_force = key == "compress-force" && c.is_some();
            if c.is_some() {
                fs.nodatacow = false;
                fs.nodatasum = false;
            }
        }
        "nodatacow" => {
            fs.nodatacow = true;
            fs.nodatasum = true;
            fs.compress = None;
            fs.compress_force = false;
        }
        "datacow" => fs.nodatacow = false,
        "nodatasum" => fs.nodatasum = true,
        "datasum" => {
            fs.nodatasum = false;
            fs.nodatacow = false;
        }
        "autodefrag" => fs.autodefrag = true,
        "noautodefrag" => fs.autodefrag = false,
        "commit" => {
            fs.commit =
                Some(u32::try_from(num(value)?).map_err(|_| format!("`{opt}`: value too large"))?)
        }
        "discard" => {
            fs.discard = Some(match value {
                None | Some("sync") => Discard::Sync,
                Some("async") => Discard::Async,
                Some(v) => return Err(format!("`discard={v}`: expected `sync` or `async`")),
            })
        }
        "nodiscard" => fs.discard = Some(Discard::Off),
        "space_cache" => {
            fs.space_cache = Some(match value {
                None | Some("v1") => SpaceCache::V1,
                Some("v2") => SpaceCache::V2,
                Some(v) => return Err(format!("`space_cache={v}`: expected `v1` or `v2`")),
            })
        }
        "nospace_cache" => fs.space_cache = Some(SpaceCache::Off),
        "ssd" => fs.ssd = Some(SsdMode::Ssd),
        "ssd_spread" => fs.ssd = Some(SsdMode::SsdSpread),
        "nossd" | "nossd_spread" => fs.ssd = Some(SsdMode::NoSsd),
        "flushoncommit" => fs.flushoncommit = true,
        "noflushoncommit" => fs.flushoncommit = false,
        "max_inline" => fs.max_inline = Some(num(value)?),
        "thread_pool" => {
            fs.thread_pool =
                Some(u32::try_from(num(value)?).map_err(|_| format!("`{opt}`: value too large"))?)
        }
        "user_subvol_rm_allowed" => fs.user_subvol_rm_allowed = true,
        "subvol" => p.subvol = Some(need(key, value)?.to_string()),
        "subvolid" => p.subvolid = Some(num(value)?),
        "noatime" => vfs.atime = Some(Atime::Noatime),
        "relatime" => vfs.atime = Some(Atime::Relatime),
        "strictatime" => vfs.atime = Some(Atime::Strictatime),
        "atime" | "norelatime" | "nostrictatime" => vfs.atime = None,
        "nodiratime" => vfs.nodiratime = true,
        "diratime" => vfs.nodiratime = false,
        "lazytime" => vfs.lazytime = true,
        "nolazytime" => vfs.lazytime = false,
        "ro" => vfs.read_only = true,
        "rw" => vfs.read_only = false,
        "nodev" => vfs.nodev = true,
        "dev" => vfs.nodev = false,
        "nosuid" => vfs.nosuid = true,
        "suid" => vfs.nosuid = false,
        "noexec" => vfs.noexec = true,
        "exec" => vfs.noexec = false,
        "defaults" => {}
        _ => match scope_of(opt) {
            Scope::Userspace => vfs.other.push(opt.to_string()),
            _ => fs.other.push(opt.to_string()),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_compress_means_zlib() {
        let p = parse_mount_options(&["compress"]).unwrap();
        assert_eq!(p.fs.compress.unwrap().algorithm, Algorithm::Zlib);
    }

    #[test]
    fn order_decides_between_nodatacow_and_compress() {
        let a = parse_mount_options(&["nodatacow", "compress=zstd"]).unwrap();
        assert!(!a.fs.nodatacow);
        assert_eq!(a.fs.compress, Some(Compression::zstd_default()));
        let b = parse_mount_options(&["compress=zstd,nodatacow"]).unwrap();
        assert!(b.fs.nodatacow);
        assert_eq!(b.fs.compress, None);
        assert_eq!(b.fs.effective_compression(), None);
    }

    #[test]
    fn splits_scopes() {
        let p = parse_mount_options(&[
            "compress=zstd:1",
            "noatime",
            "subvol=@home",
            "nofail",
            "x-systemd.automount",
        ])
        .unwrap();
        assert_eq!(p.fs.to_mount_options(), vec!["compress=zstd:1"]);
        assert_eq!(
            p.vfs.to_mount_options(),
            vec!["noatime", "nofail", "x-systemd.automount"]
        );
        assert_eq!(p.subvol.as_deref(), Some("@home"));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse_mount_options(&["compress=zstd:99"]).is_err());
        assert!(parse_mount_options(&["compress=brotli"]).is_err());
        assert!(parse_mount_options(&["commit=soon"]).is_err());
        assert!(parse_mount_options(&["discard=maybe"]).is_err());
    }

    #[test]
    fn render_parse_round_trip() {
        let fs = FsOptions {
            compress: Some(Compression::zstd(1)),
            autodefrag: true,
            commit: Some(60),
            discard: Some(Discard::Off),
            user_subvol_rm_allowed: true,
            ..FsOptions::default()
        };
        let vfs = VfsOptions::noatime();
        let mut all = fs.to_mount_options();
        all.extend(vfs.to_mount_options());
        let p = parse_mount_options(&all).unwrap();
        assert_eq!(p.fs, fs);
        assert_eq!(p.vfs, vfs);
    }

    impl Compression {
        fn zstd_default() -> Self {
            Compression {
                algorithm: Algorithm::Zstd,
                level: None,
            }
        }
    }
}
