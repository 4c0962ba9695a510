//! NOCOW, compression and swap rules: NOCOW data given a compression (`nocow/compressed`),
//! swap files made by hand copy-on-write or compressed (`swap/cow-swapfile`), disko swap
//! files without a mount point (`swap/no-mountpoint`), in a snapshotted subvolume
//! (`swap/snapshotted`), on a RAID or DUP data profile (`swap/profile`), or with a path
//! disko cannot create (`swap/path`, `mount/trailing-slash`).

use super::findings::{Finding, Severity};
use super::hooks::{self, Attributes, HandSwap};
use super::kernel::first_mount;
use super::locate::Sources;
use super::mkfs;
use super::model::{Fs, Model, SwapEntry};
use crate::disko::writer::attr_name;
use crate::layout::options::parse_mount_options;
use crate::nixeval::Loc;

pub(crate) fn check(model: &Model, src: &Sources, out: &mut Vec<Finding>) {
    for (fi, fs) in model.filesystems.iter().enumerate() {
        let attrs = hooks::attributes(model, fs, fi, src);
        let fs_opts = first_mount(model, fs)
            .and_then(|(i, _)| model.mounts.get(i))
            .map(|m| {
                let o: Vec<&str> = m.options.iter().map(|w| w.text.as_str()).collect();
                (parse_mount_options(&o).map(|p| p.fs).unwrap_or_default(), m)
            });
        compressed_nocow(
            fs,
            &attrs,
            fs_opts.as_ref().map(|(o, m)| (o, &m.loc, &m.path)),
            out,
        );
        let nocow_roots: Vec<usize> = attrs
            .nocow
            .iter()
            .filter(|a| a.target.resolved && a.target.rest.is_empty())
            .filter_map(|a| a.target.subvol)
            .collect();
        let compressed_roots: Vec<(usize, &Loc)> = attrs
            .compression
            .iter()
            .filter(|a| a.target.resolved && a.target.rest.is_empty())
            .filter_map(|a| a.target.subvol.map(|s| (s, &a.loc)))
            .collect();
        let fs_compress = fs_opts
            .as_ref()
            .and_then(|(o, _)| o.effective_compression().map(|c| (c, o.compress_force)));
        let fs_nodatacow = fs_opts.as_ref().is_some_and(|(o, _)| o.nodatacow);
        for h in hooks::hand_made_swap(model, fs, fi, src, &nocow_roots) {
            hand_swap(fs, &h, &compressed_roots, fs_compress, fs_nodatacow, out);
        }
        disko_swap(fs, out);
    }
}

fn compressed_nocow(
    fs: &Fs,
    a: &Attributes,
    fs_opts: Option<(&crate::layout::FsOptions, &Loc, &String)>,
    out: &mut Vec<Finding>,
) {
    for c in &a.compression {
        if !c.target.resolved {
            continue;
        }
        let same = a.nocow.iter().find(|n| {
            n.target.resolved
                && n.target.subvol == c.target.subvol
                && n.target.rest == c.target.rest
        });
        let place = match c.target.subvol.and_then(|i| fs.subvols.get(i)) {
            Some(s) if c.target.rest.is_empty() => format!("subvolume `{}`", s.raw_name),
            Some(s) => format!("`{}` in subvolume `{}`", c.target.rest, s.raw_name),
            None if c.target.rest.is_empty() => {
                format!("the top level (`{}`)", c.target.written)
            }
            None => format!("`{}`", c.target.written),
        };
        if let Some(n) = same {
            let effect = if n.when < c.when && c.what != "chattr +c" {
                "the kernel refuses a compression property on a NOCOW inode (EINVAL), so \
                 this command fails, and with it disko's format (its scripts run under `set -e`)"
            } else {
                "the compression is silently not applied"
            };
            out.push(Finding::at(
                "nocow/compressed",
                Severity::Error,
                &c.loc,
                format!(
                    "{place} is made NOCOW (`chattr +C`, line {}) and given compression `{}` \
                     here: btrfs never compresses NOCOW files (btrfs-tuning-facts.md §1.2, \
                     §1.4), and {effect}",
                    n.loc.line, c.what
                ),
                format!(
                    "drop one of the two: remove this compression command to keep in-place \
                     writes (databases, VM images), or remove `chattr +C \"{}\"` to compress",
                    n.target.written
                ),
            ));
            continue;
        }
        if let Some((o, loc, path)) = fs_opts
            && (o.nodatacow || o.nodatasum)
        {
            let what = if o.nodatacow {
                "nodatacow"
            } else {
                "nodatasum"
            };
            out.push(Finding::at(
                "nocow/compressed",
                Severity::Error,
                &c.loc,
                format!(
                    "{place} is given compression `{}`, but the filesystem's first mount ({path}, \
                     line {}) has `{what}`: every new file is {} and btrfs never compresses \
                     those (btrfs-tuning-facts.md §1.2), so the compression is not applied",
                    c.what,
                    loc.line,
                    if o.nodatacow {
                        "NOCOW (and without checksums)"
                    } else {
                        "without checksums"
                    }
                ),
                format!(
                    "remove `{what}` from the mountOptions and set NOCOW per subvolume with \
                     `chattr +C` where it is wanted, or remove this compression command"
                ),
            ));
        }
    }
}

fn mkswapfile_fix(fs: &Fs, h: &HandSwap) -> String {
    let sub = h.target.subvol.and_then(|i| fs.subvols.get(i));
    match sub {
        Some(s) => {
            let file = if h.target.rest.is_empty() {
                "swapfile".to_string()
            } else {
                h.target.rest.clone()
            };
            format!(
                "remove the hand-made swap file and let disko make it with `btrfs filesystem \
                 mkswapfile` (NOCOW and preallocated, btrfs-tuning-facts.md §1.4):\n\
                 subvolumes.{}.swap.{}.size = \"8G\";  # needs a mountpoint on the \
                 subvolume",
                attr_name(&s.raw_name),
                attr_name(&file)
            )
        }
        None => "remove the hand-made swap file and use disko's swap option instead: \
                 `subvolumes.\"@swap\" = { mountpoint = \"/.swapvol\"; swap.swapfile.size = \"8G\"; };` \
                 (disko runs `btrfs filesystem mkswapfile`, which makes the file NOCOW and \
                 preallocated, btrfs-tuning-facts.md §1.4)"
            .to_string(),
    }
}

fn hand_swap(
    fs: &Fs,
    h: &HandSwap,
    compressed_roots: &[(usize, &Loc)],
    fs_compress: Option<(crate::layout::Compression, bool)>,
    fs_nodatacow: bool,
    out: &mut Vec<Finding>,
) {
    let fix = mkswapfile_fix(fs, h);
    let path = &h.target.written;
    let compressed = h
        .target
        .subvol
        .and_then(|s| compressed_roots.iter().find(|(i, _)| *i == s));
    if !h.nocow_before_data && !fs_nodatacow {
        let at = h.data_at.as_ref().unwrap_or(&h.mkswap_at);
        let late = h
            .late_nocow
            .as_ref()
            .map(|l| {
                format!(
                    "; the `chattr +C` on line {} comes after data was written, and \
                     `chattr +C` does nothing on a non-empty file (btrfs-tuning-facts.md §1.4, \
                     E3)",
                    l.line
                )
            })
            .unwrap_or_default();
        let comp = match fs_compress {
            Some((c, force)) => format!(
                ", and the filesystem compresses (`{}{c}`), so its data can be compressed, \
                 which swapon refuses too",
                if force {
                    "compress-force="
                } else {
                    "compress="
                }
            ),
            None => String::new(),
        };
        out.push(Finding::at(
            "swap/cow-swapfile",
            Severity::Error,
            at,
            format!(
                "the {} makes the swap file `{path}` by hand without `btrfs filesystem \
                 mkswapfile` and without `chattr +C` on the empty file or its directory first: \
                 the file is copy-on-write, and the kernel refuses a COW swap file (swapon: \
                 \"swapfile must not be copy-on-write\"; btrfs-tuning-facts.md §1.4){late}{comp}",
                h.hook
            ),
            fix,
        ));
        return;
    }
    if h.sparse {
        let at = h.data_at.as_ref().unwrap_or(&h.mkswap_at);
        out.push(Finding::at(
            "swap/cow-swapfile",
            Severity::Error,
            at,
            format!(
                "the swap file `{path}` gets its size from `truncate`, which makes a sparse file \
                 (all holes): the kernel refuses swap files with holes (\"swapfile must not \
                 have holes\"), so swapon fails; it needs `fallocate` or `dd`, or better \
                 `btrfs filesystem mkswapfile`"
            ),
            fix,
        ));
        return;
    }
    if let Some((_, loc)) = compressed {
        out.push(Finding::at(
            "swap/cow-swapfile",
            Severity::Error,
            &h.mkswap_at,
            format!(
                "the swap file `{path}` is made by hand in a subvolume that gets a compression \
                 property (line {}): a new file inherits the compression flag, and the kernel \
                 refuses a swap file marked compressed (\"swapfile must not be compressed\"; \
                 btrfs-tuning-facts.md §1.4)",
                loc.line
            ),
            fix,
        ));
    }
}

fn disko_swap(fs: &Fs, out: &mut Vec<Finding>) {
    let a = mkfs::args(fs);
    let profile = a.data.as_ref().map(|w| w.text.to_ascii_lowercase());
    let multi = !a.devices.is_empty();
    let entries = fs.top_swap.iter().map(|e| (None, e)).chain(
        fs.subvols
            .iter()
            .flat_map(|s| s.swap.iter().map(move |e| (Some(s), e))),
    );
    let mut profile_reported = false;
    for (sub, e) in entries {
        swap_path(e, out);
        match sub {
            Some(s) if s.mount.is_none() => out.push(Finding::at(
                "swap/no-mountpoint",
                Severity::Error,
                &e.loc,
                format!(
                    "subvolume `{}` has the swap file `{}` but no mountpoint: disko places swap \
                     files below the mount point (`swapDevices.*.device = \"<mountpoint>/<path>\"`), \
                     so evaluation fails (\"cannot coerce null to a string\")",
                    s.raw_name, e.path
                ),
                format!(
                    "give subvolume `{}` a mountpoint, e.g. `mountpoint = \"/.swapvol\";`",
                    s.raw_name
                ),
            )),
            None if fs.top_mount.is_none() => out.push(Finding::at(
                "swap/no-mountpoint",
                Severity::Error,
                &e.loc,
                format!(
                    "the btrfs filesystem has the top-level swap file `{}` but no mountpoint: \
                     disko places it below the mount point, so evaluation fails (\"cannot \
                     coerce null to a string\")",
                    e.path
                ),
                "move the swap file into a subvolume of its own with a mountpoint: \
                 `subvolumes.\"@swap\" = { mountpoint = \"/.swapvol\"; swap.swapfile.size = \"8G\"; };`"
                    .to_string(),
            )),
            _ => {}
        }
        if let Some(s) = sub {
            let snap = format!("{}/.snapshots", s.name);
            if let Some(sn) = fs.subvols.iter().find(|x| x.name == snap) {
                out.push(Finding::at(
                    "swap/snapshotted",
                    Severity::Error,
                    &e.loc,
                    format!(
                        "subvolume `{}` holds the swap file `{}`, and its nested `{}` (line {}) \
                         says it is snapshotted (snapper): btrfs refuses to snapshot a \
                         subvolume with an active swap file (btrfs-tuning-facts.md §1.4), so \
                         every snapshot fails while swap is on",
                        s.raw_name, e.path, sn.raw_name, sn.loc.line
                    ),
                    "put the swap file in a subvolume of its own that is never snapshotted: \
                     `subvolumes.\"@swap\" = { mountpoint = \"/.swapvol\"; swap.swapfile.size = \"8G\"; };`"
                        .to_string(),
                ));
            }
        }
        if !profile_reported {
            let bad = profile.as_deref().filter(|p| *p != "single");
            if let Some(p) = bad {
                profile_reported = true;
                out.push(Finding::at(
                    "swap/profile",
                    Severity::Error,
                    &e.loc,
                    format!(
                        "swap file `{}` on a filesystem with data profile `{p}` (mkfs `-d {p}`): \
                         the kernel activates swap files only on the single data profile \
                         (\"swapfile must have single data profile\"; btrfs-tuning-facts.md \
                         §1.4), so swapon fails",
                        e.path
                    ),
                    "use a swap partition (`type = \"swap\"`) or zram instead of a swap file on \
                     this filesystem, or create it with `-d single`"
                        .to_string(),
                ));
            } else if multi {
                profile_reported = true;
                out.push(Finding::at(
                    "swap/profile",
                    Severity::Warning,
                    &e.loc,
                    format!(
                        "swap file `{}` on a filesystem of {} devices: the kernel activates a \
                         swap file only when all of it is on one device (btrfs-tuning-facts.md \
                         §1.4), which the allocator does not promise, so swapon can fail",
                        e.path,
                        a.devices.len() + 1
                    ),
                    "use a swap partition (`type = \"swap\"`) or zram instead of a swap file on \
                     a multi-device filesystem"
                        .to_string(),
                ));
            }
        }
    }
}

fn swap_path(e: &SwapEntry, out: &mut Vec<Finding>) {
    let p = &e.path;
    let trimmed = p.trim_matches('/');
    if p.trim().is_empty() || trimmed.is_empty() {
        out.push(Finding::at(
            "swap/path",
            Severity::Error,
            &e.path_loc,
            format!(
                "swap file `{}` has the path `{p}`: that is the mount point itself, not a file, \
                 so `btrfs filesystem mkswapfile` fails",
                e.key
            ),
            "path = \"swapfile\";".to_string(),
        ));
        return;
    }
    if p.len() > 1 && p.ends_with('/') {
        out.push(Finding::at(
            "mount/trailing-slash",
            Severity::Error,
            &e.path_loc,
            format!(
                "swap file path `{p}` ends with `/`: it names a directory, so `btrfs filesystem \
                 mkswapfile` fails, and NixOS `swapDevices` gets a path with a trailing slash"
            ),
            format!("path = \"{}\";", p.trim_end_matches('/')),
        ));
        return;
    }
    if trimmed.split('/').any(|c| c == ".." || c == ".") {
        out.push(Finding::at(
            "swap/path",
            Severity::Error,
            &e.path_loc,
            format!(
                "swap file path `{p}` has a `.` or `..` component: the file would land outside \
                 its subvolume, or not where NixOS `swapDevices` looks"
            ),
            "use a plain file name, e.g. path = \"swapfile\";".to_string(),
        ));
    } else if trimmed.contains('/') {
        out.push(Finding::at(
            "swap/path",
            Severity::Error,
            &e.path_loc,
            format!(
                "swap file path `{p}` has a directory part, but disko runs `btrfs filesystem \
                 mkswapfile` on `<mount point>/{trimmed}` without creating `{}`, so the format \
                 fails (it does not exist in a fresh subvolume)",
                trimmed.rsplit_once('/').map_or("", |(d, _)| d)
            ),
            format!(
                "path = \"{}\"; (the file directly below the mount point)",
                trimmed.rsplit('/').next().unwrap_or(trimmed)
            ),
        ));
    } else if p.starts_with('/') {
        out.push(Finding::at(
            "swap/path",
            Severity::Warning,
            &e.path_loc,
            format!(
                "swap file path `{p}` starts with `/`, but it is relative to the mount point \
                 (disko writes `<mount point>/{p}`, a doubled `/`)"
            ),
            format!("path = \"{trimmed}\";"),
        ));
    }
}
