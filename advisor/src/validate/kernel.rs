//! Mount option rules for btrfs mounts: options btrfs does not know or cannot parse, options
//! that cancel each other inside one list (processed left to right, the last wins), and
//! filesystem-wide options on a mount other than the filesystem's first, which the kernel
//! ignores (btrfs-tuning-facts.md §1.1, §1.2).

use super::findings::{Finding, Severity};
use super::model::{Fs, Model, Mount, MountKind, Word};
use super::mounts::{beneath, canon};
use super::schema::{did_you_mean, hook_snippet};
use crate::layout::FsOptions;
use crate::layout::options::{
    Compression, Discard, Scope, SpaceCache, parse_mount_options, scope_of,
};
use crate::nixeval::Loc;

/// Filesystem-wide options btrfs knows (kernel `fs/btrfs/super.c`, btrfs(5)), including
/// deprecated ones it still accepts or ignores with a message.
const BTRFS_OPTIONS: &[&str] = &[
    "acl",
    "noacl",
    "autodefrag",
    "noautodefrag",
    "barrier",
    "nobarrier",
    "check_int",
    "check_int_data",
    "check_int_print_mask",
    "clear_cache",
    "commit",
    "compress",
    "compress-force",
    "datacow",
    "nodatacow",
    "datasum",
    "nodatasum",
    "degraded",
    "device",
    "discard",
    "nodiscard",
    "enospc_debug",
    "noenospc_debug",
    "fatal_errors",
    "flushoncommit",
    "noflushoncommit",
    "fragment",
    "inode_cache",
    "noinode_cache",
    "max_inline",
    "metadata_ratio",
    "norecovery",
    "nologreplay",
    "recovery",
    "ref_verify",
    "rescan_uuid_tree",
    "rescue",
    "skip_balance",
    "space_cache",
    "nospace_cache",
    "ssd",
    "ssd_spread",
    "nossd",
    "nossd_spread",
    "subvolrootid",
    "thread_pool",
    "treelog",
    "notreelog",
    "usebackuproot",
    "user_subvol_rm_allowed",
    "alloc_start",
];

/// Generic options the VFS or mount(8) handle for every filesystem.
const GENERIC_OPTIONS: &[&str] = &[
    "sync",
    "async",
    "dirsync",
    "mand",
    "nomand",
    "silent",
    "loud",
    "iversion",
    "noiversion",
    "nosymfollow",
    "symfollow",
    "context",
    "fscontext",
    "defcontext",
    "rootcontext",
    "remount",
    "bind",
];

/// All option names, for suggestions.
const VFS_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "noatime",
    "atime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "nolazytime",
    "nodiratime",
    "diratime",
    "nodev",
    "dev",
    "nosuid",
    "suid",
    "noexec",
    "exec",
    "defaults",
    "auto",
    "noauto",
    "nofail",
    "subvol",
    "subvolid",
];

/// Paths NixOS mounts in the initrd (`fsNeededForBoot`), before systemd mounts the rest.
const NEEDED_FOR_BOOT: &[&str] = &[
    "/",
    "/nix",
    "/nix/store",
    "/var",
    "/var/log",
    "/var/lib",
    "/var/lib/nixos",
    "/etc",
    "/usr",
];

fn key(tok: &str) -> &str {
    tok.split_once('=').map_or(tok, |(k, _)| k)
}

/// Options that set the same thing, so that a later one overrides an earlier one.
fn family(tok: &str) -> Option<&'static str> {
    Some(match key(tok) {
        "compress" | "compress-force" => "compress",
        "nodatacow" | "datacow" => "datacow",
        "nodatasum" | "datasum" => "datasum",
        "autodefrag" | "noautodefrag" => "autodefrag",
        "discard" | "nodiscard" => "discard",
        "space_cache" | "nospace_cache" => "space_cache",
        "ssd" | "ssd_spread" | "nossd" | "nossd_spread" => "ssd",
        "flushoncommit" | "noflushoncommit" => "flushoncommit",
        "barrier" | "nobarrier" => "barrier",
        "treelog" | "notreelog" => "treelog",
        "acl" | "noacl" => "acl",
        "commit" => "commit",
        "max_inline" => "max_inline",
        "thread_pool" => "thread_pool",
        "fatal_errors" => "fatal_errors",
        "metadata_ratio" => "metadata_ratio",
        "noatime" | "atime" | "relatime" | "norelatime" | "strictatime" | "nostrictatime" => {
            "atime"
        }
        "ro" | "rw" => "ro",
        "nodiratime" | "diratime" => "diratime",
        "lazytime" | "nolazytime" => "lazytime",
        "nodev" | "dev" => "dev",
        "nosuid" | "suid" => "suid",
        "noexec" | "exec" => "exec",
        "auto" | "noauto" => "auto",
        "subvol" => "subvol",
        "subvolid" => "subvolid",
        _ => return None,
    })
}

/// The compression a `compress=`/`compress-force=` option turns on (`None`: off or not one).
fn compress_on(tok: &str) -> Option<Option<Compression>> {
    let (k, v) = match tok.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (tok, None),
    };
    if k != "compress" && k != "compress-force" {
        return None;
    }
    Some(match v {
        None => Compression::parse("zlib").ok().flatten(),
        Some(v) => Compression::parse(v).ok().flatten(),
    })
}

fn line(l: &Loc) -> String {
    format!("line {}", l.line)
}

/// The mounts of a filesystem (indices into `model.mounts`).
fn fs_mounts(model: &Model, fs: &Fs) -> Vec<usize> {
    fs.top_mount
        .into_iter()
        .chain(fs.subvols.iter().filter_map(|s| s.mount))
        .filter(|&i| model.mounts.get(i).is_some())
        .collect()
}

/// The mount that sets a filesystem's options, and whether that order is fixed at boot too.
/// `/` mounts first (disko's mount order is by path prefix, and NixOS mounts `/` in the
/// initrd); else the paths NixOS mounts in the initrd; else the shallowest mount, which is
/// first at boot only when every other mount lies beneath it.
pub(crate) fn first_mount(model: &Model, fs: &Fs) -> Option<(usize, bool)> {
    let ms = fs_mounts(model, fs);
    let key = |i: &usize| {
        let p = canon(&model.mounts[*i].path);
        (crate::layout::mount_depth(&p), p)
    };
    let initrd: Vec<usize> = ms
        .iter()
        .copied()
        .filter(|&i| NEEDED_FOR_BOOT.contains(&canon(&model.mounts[i].path).as_str()))
        .collect();
    // The initrd's mounts come before the rest; among a group, only nesting fixes the order.
    let group = if initrd.is_empty() { &ms } else { &initrd };
    let first = *group.iter().min_by_key(|i| key(i))?;
    let fp = canon(&model.mounts[first].path);
    let fixed = group
        .iter()
        .all(|&i| i == first || beneath(&canon(&model.mounts[i].path), &fp));
    Some((first, fixed))
}

pub(crate) fn check(model: &Model, out: &mut Vec<Finding>) {
    for fs in &model.filesystems {
        let ms = fs_mounts(model, fs);
        for &i in &ms {
            let m = &model.mounts[i];
            known_and_valid(m, out);
            order(m, out);
            subvol_option(fs, m, out);
        }
        ignored(model, fs, &ms, out);
        for s in &fs.subvols {
            if let Some((opts, loc)) = &s.unused_options {
                let fs_wide: Vec<&String> = opts
                    .iter()
                    .filter(|o| scope_of(o) == Scope::Filesystem)
                    .collect();
                let fix = if fs_wide.iter().any(|o| o.contains("cow")) {
                    format!(
                        "remove mountOptions; for NOCOW set the attribute in the btrfs node's \
                         postCreateHook:\n{}",
                        hook_snippet(&format!("chattr +C \"$MNTPOINT/{}\"", s.name))
                    )
                } else if fs_wide.iter().any(|o| o.starts_with("compress")) {
                    format!(
                        "remove mountOptions; for compression set the property in the btrfs \
                         node's postCreateHook:\n{}",
                        hook_snippet(&format!(
                            "btrfs property set \"$MNTPOINT/{}\" compression zstd",
                            s.name
                        ))
                    )
                } else {
                    "give the subvolume a `mountpoint`, or remove its mountOptions".to_string()
                };
                out.push(Finding::at(
                    "mount/options-without-mountpoint",
                    Severity::Warning,
                    loc,
                    format!(
                        "subvolume `{}` has mountOptions ({}) but no mountpoint: disko warns \
                         (\"has mountOptions but no mountpoint\") and uses them nowhere",
                        s.raw_name,
                        opts.join(",")
                    ),
                    fix,
                ));
            }
        }
    }
}

fn known_and_valid(m: &Mount, out: &mut Vec<Finding>) {
    for w in &m.options {
        let k = key(&w.text);
        if scope_of(&w.text) == Scope::Filesystem
            && !BTRFS_OPTIONS.contains(&k)
            && !GENERIC_OPTIONS.contains(&k)
        {
            let known = BTRFS_OPTIONS.iter().chain(VFS_OPTIONS).copied();
            let fix = match did_you_mean(k, known) {
                Some(s) => format!("write `{s}` instead of `{k}`"),
                None => format!("remove `{}`", w.text),
            };
            out.push(Finding::at(
                "mount/unknown-option",
                Severity::Error,
                &w.loc,
                format!(
                    "btrfs does not know the mount option `{}` ({}): the kernel refuses the \
                     mount (\"unrecognized mount option\"), so disko's mount and the boot fail",
                    w.text, m.path
                ),
                fix,
            ));
            continue;
        }
        if let Err(e) = parse_mount_options(&[w.text.as_str()]) {
            out.push(Finding::at(
                "mount/invalid-option",
                Severity::Error,
                &w.loc,
                format!(
                    "mount option `{}` ({}): {e}; the kernel refuses the mount",
                    w.text, m.path
                ),
                format!("fix the value of `{k}` or remove it"),
            ));
        }
    }
}

/// Conflicts inside one option list: the kernel applies options left to right.
fn order(m: &Mount, out: &mut Vec<Finding>) {
    let mut last: std::collections::BTreeMap<&'static str, &Word> = Default::default();
    let mut nodatacow: Option<&Word> = None;
    let mut nodatasum: Option<&Word> = None;
    let mut compress: Option<&Word> = None;
    for w in &m.options {
        let t = w.text.as_str();
        if let Some(f) = family(t) {
            if let Some(prev) = last.get(f) {
                let spread = key(&prev.text) == "ssd" && t == "ssd_spread";
                if prev.text == t {
                    out.push(Finding::at(
                        "mount/repeated-option",
                        Severity::Warning,
                        &w.loc,
                        format!("mount option `{t}` of {} is written twice", m.path),
                        format!("remove the second `{t}`"),
                    ));
                } else if !spread {
                    out.push(Finding::at(
                        "kernel/option-order",
                        Severity::Error,
                        &w.loc,
                        format!(
                            "`{t}` overrides `{}` ({}) in the options of {}: options are \
                             applied left to right and the last one wins \
                             (btrfs-tuning-facts.md §1.2, order), so `{}` has no effect",
                            prev.text,
                            line(&prev.loc),
                            m.path,
                            prev.text
                        ),
                        format!("keep one of them: remove `{}` or `{t}`", prev.text),
                    ));
                }
            }
            last.insert(f, w);
        }
        match key(t) {
            "compress" | "compress-force" => match compress_on(t).flatten() {
                Some(_) => {
                    if let Some(n) = nodatacow.take() {
                        out.push(Finding::at(
                            "kernel/option-order",
                            Severity::Error,
                            &w.loc,
                            format!(
                                "`{t}` comes after `{}` ({}) in the options of {}: compression \
                                 turns copy-on-write and checksums back on, so `{}` is dropped \
                                 (btrfs-tuning-facts.md §1.2, order)",
                                n.text,
                                line(&n.loc),
                                m.path,
                                n.text
                            ),
                            format!(
                                "NOCOW data cannot be compressed: remove `{t}` to keep \
                                 `{}`, or remove `{}` to compress",
                                n.text, n.text
                            ),
                        ));
                        nodatasum = None;
                    } else if let Some(n) = nodatasum.take() {
                        out.push(Finding::at(
                            "kernel/option-order",
                            Severity::Error,
                            &w.loc,
                            format!(
                                "`{t}` comes after `{}` ({}) in the options of {}: compression \
                                 turns data checksums back on, so `{}` is dropped \
                                 (btrfs-tuning-facts.md §1.2, order)",
                                n.text,
                                line(&n.loc),
                                m.path,
                                n.text
                            ),
                            format!("keep one of them: remove `{}` or `{t}`", n.text),
                        ));
                    }
                    compress = Some(w);
                }
                None => compress = None,
            },
            "nodatacow" => {
                if let Some(c) = compress.take() {
                    out.push(Finding::at(
                        "kernel/option-order",
                        Severity::Error,
                        &w.loc,
                        format!(
                            "`nodatacow` comes after `{}` ({}) in the options of {}: it \
                             disables compression, so `{}` is dropped \
                             (btrfs-tuning-facts.md §1.2, order)",
                            c.text,
                            line(&c.loc),
                            m.path,
                            c.text
                        ),
                        format!(
                            "NOCOW data cannot be compressed: remove `{}` or `nodatacow`",
                            c.text
                        ),
                    ));
                }
                nodatacow = Some(w);
                nodatasum = Some(w);
            }
            "datacow" => nodatacow = None,
            "datasum" => {
                nodatacow = None;
                nodatasum = None;
            }
            "nodatasum" => {
                if let Some(c) = compress.filter(|_| nodatacow.is_none()) {
                    out.push(Finding::at(
                        "kernel/option-order",
                        Severity::Error,
                        &w.loc,
                        format!(
                            "`nodatasum` with `{}` ({}) in the options of {}: new files get no \
                             data checksums, and btrfs never compresses files without \
                             checksums, so `{}` has no effect on them",
                            c.text,
                            line(&c.loc),
                            m.path,
                            c.text
                        ),
                        format!("remove `nodatasum` or `{}`", c.text),
                    ));
                }
                nodatasum = Some(w);
            }
            _ => {}
        }
    }
}

/// `subvol=`/`subvolid=` in a subvolume's own mountOptions: disko appends `subvol=<name>`.
fn subvol_option(fs: &Fs, m: &Mount, out: &mut Vec<Finding>) {
    let MountKind::Subvolume(_, si) = m.kind else {
        return;
    };
    let Some(s) = fs.subvols.get(si) else { return };
    for w in &m.options {
        match w.text.split_once('=') {
            Some(("subvol", v)) if v.trim_start_matches('/') != s.name => {
                out.push(Finding::at(
                    "mount/subvol-option",
                    Severity::Error,
                    &w.loc,
                    format!(
                        "`{}` in the options of subvolume `{}`: disko appends \
                         `subvol={}` after them, and the last `subvol=` wins, so `{}` is \
                         ignored",
                        w.text, s.raw_name, s.raw_name, w.text
                    ),
                    format!(
                        "remove `{}`; to mount another subvolume there, give that subvolume \
                         the mountpoint",
                        w.text
                    ),
                ));
            }
            Some(("subvolid", _)) => {
                out.push(Finding::at(
                    "mount/subvol-option",
                    Severity::Error,
                    &w.loc,
                    format!(
                        "`{}` in the options of subvolume `{}`: disko also passes \
                         `subvol={}`, and the kernel refuses the mount when the two name \
                         different subvolumes",
                        w.text, s.raw_name, s.raw_name
                    ),
                    format!("remove `{}`", w.text),
                ));
            }
            _ => {}
        }
    }
}

/// Options with the values the kernel uses anyway (`space_cache=v2`, `discard=async` where
/// discard works, `commit=30`; §1.2, E1) as if unwritten: writing them on a later mount changes
/// nothing, so it is not reported.
fn without_defaults(mut o: FsOptions) -> FsOptions {
    if o.space_cache == Some(SpaceCache::V2) {
        o.space_cache = None;
    }
    if o.discard == Some(Discard::Async) {
        o.discard = None;
    }
    if o.commit == Some(30) {
        o.commit = None;
    }
    o
}

/// Filesystem-wide options on a mount other than the first are ignored (§1.1, E1, E7).
fn ignored(model: &Model, fs: &Fs, ms: &[usize], out: &mut Vec<Finding>) {
    let Some((first, fixed)) = first_mount(model, fs) else {
        return;
    };
    let fm = &model.mounts[first];
    let base: Vec<&str> = fm.options.iter().map(|w| w.text.as_str()).collect();
    let Ok(base_fs) = parse_mount_options(&base).map(|p| without_defaults(p.fs)) else {
        return;
    };
    for &i in ms.iter().filter(|&&i| i != first) {
        let m = &model.mounts[i];
        let mut lost: Vec<&Word> = Vec::new();
        for w in &m.options {
            if scope_of(&w.text) != Scope::Filesystem {
                continue;
            }
            let mut with = base.clone();
            with.push(&w.text);
            if let Ok(p) = parse_mount_options(&with)
                && without_defaults(p.fs) != base_fs
            {
                lost.push(w);
            }
        }
        let Some(w0) = lost.first() else { continue };
        let names: Vec<&str> = lost.iter().map(|w| w.text.as_str()).collect();
        let order_note = if fixed {
            String::new()
        } else {
            ". That is the order disko mounts them in (shallowest path, then by name); at \
             boot the order of these mounts is not fixed, so the options that win can change \
             from boot to boot: write the same filesystem-wide options on every mount of this \
             filesystem"
                .to_string()
        };
        let subvol = match m.kind {
            MountKind::Subvolume(_, si) => fs.subvols.get(si).map(|s| s.name.clone()),
            _ => None,
        };
        let mut fixes = Vec::new();
        let mut hook_cmds = Vec::new();
        for t in &names {
            match (key(t), &subvol) {
                ("nodatacow" | "nodatasum", Some(s)) => {
                    hook_cmds.push(format!("chattr +C \"$MNTPOINT/{s}\""));
                }
                ("compress" | "compress-force", Some(s)) => {
                    if let Some(Some(c)) = compress_on(t) {
                        hook_cmds.push(format!(
                            "btrfs property set \"$MNTPOINT/{s}\" compression {}",
                            c.algorithm.as_str()
                        ));
                    } else {
                        fixes.push(format!(
                            "remove `{t}` here (compression off for one subvolume: \
                             `btrfs property set \"$MNTPOINT/{s}\" compression none`)"
                        ));
                    }
                }
                _ => fixes.push(format!(
                    "write `{t}` on the first mount ({}, {}) as well, so that it applies to \
                     the whole filesystem, or remove it here",
                    canon(&fm.path),
                    line(&fm.loc)
                )),
            }
        }
        if !hook_cmds.is_empty() {
            let existing = fs.hooks.iter().find(|h| h.key == "postCreateHook");
            fixes.insert(
                0,
                match existing {
                    Some(h) => format!(
                        "remove {} from these mountOptions and add to the btrfs node's \
                         postCreateHook ({}, with the top level mounted at $MNTPOINT): {}",
                        names
                            .iter()
                            .filter(|t| matches!(
                                key(t),
                                "nodatacow" | "nodatasum" | "compress" | "compress-force"
                            ))
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        line(&h.loc),
                        hook_cmds.join("; ")
                    ),
                    None => format!(
                        "remove {} from these mountOptions and set the attribute on the \
                         subvolume in the btrfs node's postCreateHook instead:\n{}",
                        names
                            .iter()
                            .filter(|t| matches!(
                                key(t),
                                "nodatacow" | "nodatasum" | "compress" | "compress-force"
                            ))
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        hook_snippet(&hook_cmds.join("\n    "))
                    ),
                },
            );
        }
        out.push(Finding::at(
            "kernel/ignored-fs-option",
            Severity::Error,
            &w0.loc,
            format!(
                "{} ({}) asks for `{}`, but btrfs applies {} to the whole filesystem and only \
                 the first mount's options count (btrfs-tuning-facts.md §1.1, E1, E7): {} ({}, \
                 {}) mounts first, so the kernel ignores {} here{order_note}",
                canon(&m.path),
                m.owner,
                names.join(","),
                if names.len() == 1 { "it" } else { "them" },
                canon(&fm.path),
                fm.owner,
                line(&fm.loc),
                if names.len() == 1 { "it" } else { "them" },
            ),
            fixes.join("\n"),
        ));
    }
}
