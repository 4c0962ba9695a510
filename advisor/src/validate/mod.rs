//! Static validation of a proposed disko.nix (the library part of `btrtune validate`).
//!
//! The file is evaluated with the built-in Nix evaluator (or `nix-instantiate` with
//! [`ParseOptions::nix_eval`]), checked against disko's option schema, and then against the
//! rules of disko, NixOS and the kernel that a configuration can break while still evaluating.
//! Every finding names the file, the line and column of the offending option or attribute, and
//! a concrete fix. A file that does not evaluate gives one finding at the place of the error.
//!
//! # Severities
//!
//! - **Error**: disko, NixOS or the kernel will fail on it, or silently ignore what was asked.
//! - **Warning**: it works, but probably not as meant, or it is fragile.
//!
//! # Rules
//!
//! | code | severity | what it detects | the line |
//! | --- | --- | --- | --- |
//! | `nix/syntax`, `nix/eval` | error | the file does not parse or evaluate | where the evaluator stopped |
//! | `schema/unknown-option` | error | an option disko's types do not have (`nodatacow = true` or hooks on a subvolume, typos), with a did-you-mean | the option |
//! | `schema/internal-option` | error | `_meta`, `_create`, ... set by hand | the option |
//! | `schema/missing-option` | error | a required option left out (`disk.device`, a swap file's `size`, a content's `type`, luks `name`, ...) | the set missing it |
//! | `schema/type` | error | a value of the wrong type: `mountOptions` not a list of strings, `mountpoint` not a string, swap `size` not `^([0-9]+[KMGTP])?$` (`"8GB"`), `priority` not an int, enum values, content types not allowed there | the value |
//! | `mount/relative` | error | a relative mount point | the `mountpoint` |
//! | `mount/trailing-slash` | error | a mount point or swap file path ending in `/` (disko accepts it, NixOS `fileSystems` does not) | the `mountpoint` / `path` |
//! | `mount/invalid` | error / warning | `.` or `..` in a mount point (error); `//` (warning) | the `mountpoint` |
//! | `mount/duplicate` | error | two mounts at one path (subvolumes, a subvolume and a partition, nodev) | the later `mountpoint` |
//! | `mount/nested` | error | a mount beneath a `noauto` mount (systemd mounts the parent anyway); a mount at the place where a nested subvolume appears inside its parent's mount (hides it) | the child's / hiding `mountpoint` |
//! | `mount/nested` | warning | a nested subvolume mounted somewhere else than its place inside its parent's mount (it appears twice) | its `mountpoint` |
//! | `mount/unknown-option` | error | a btrfs mount option the kernel does not know (mount fails), with a did-you-mean | the option's list item |
//! | `mount/invalid-option` | error | a value the kernel refuses (`compress=brotli`, `commit=soon`) | the option's list item |
//! | `mount/repeated-option` | warning | the same option twice in one list | the second one |
//! | `mount/subvol-option` | error | `subvol=`/`subvolid=` in a subvolume's own options (disko appends `subvol=<name>`) | the option's list item |
//! | `mount/options-without-mountpoint` | warning | a subvolume with mountOptions but no mountpoint (disko ignores them) | its `mountOptions` |
//! | `kernel/option-order` | error | options in one list that cancel each other, left to right, last wins: `nodatacow` then `compress` (NOCOW dropped), `compress` then `nodatacow` (compression off), `compress=zstd,compress=lzo`, `compress` with `nodatasum` | the later option's list item |
//! | `kernel/ignored-fs-option` | error | filesystem-wide options (`compress`, `nodatacow`, `autodefrag`, `ssd`, `discard`, `commit`, `space_cache`, ...) on a mount other than the filesystem's first, that differ from the first's | the first ignored option's list item |
//! | `nocow/compressed` | error | `chattr +C` and a compression (`btrfs property set ... compression`, `chattr +c`) on one path; a compression property on a filesystem mounted `nodatacow`/`nodatasum` | the compression command in the hook |
//! | `swap/cow-swapfile` | error | a swap file made by hand in a hook (`fallocate`/`dd`/`truncate`, then `mkswap`/`swapon`) without `chattr +C` on the empty file or its directory first, sized with `truncate` (sparse), or in a subvolume with a compression property | the command writing its data (else `mkswap`) |
//! | `swap/no-mountpoint` | error | disko swap files in a subvolume (or top level) without a mountpoint | the swap entry |
//! | `swap/snapshotted` | error | disko swap files in a subvolume that has a nested `.snapshots` subvolume (snapper snapshots it; btrfs refuses while swap is active) | the swap entry |
//! | `swap/profile` | error / warning | swap files on a filesystem whose data profile is not `single` (error), or of several devices (warning) | the swap entry |
//! | `swap/path` | error / warning | a swap file path that is empty, has `..` or a directory part disko does not create (error), or starts with `/` (warning) | the `path` |
//! | `subvol/name` | error | a subvolume name that disko's scripts or `subvol=` cannot take (empty, `..`, `,`, quotes, `$`) | the name |
//! | `subvol/duplicate` | warning | two entries naming one subvolume | the later entry |
//! | `subvol/missing-parent` | warning | `@data/x` without `@data` (no ancestor subvolume at all) | the nested subvolume |
//! | `subvol/order` | error | a parent subvolume whose attribute name sorts after its child's | the parent |
//! | `mkfs/profile-devices` | error | `-d`/`-m` profiles needing more devices than given (raid1, raid10, raid5 ≥ 2; raid1c3, raid6 ≥ 3; raid1c4 ≥ 4) | the profile word in `extraArgs` |
//! | `mkfs/unknown-profile` | error | a profile mkfs.btrfs does not know | the profile word |
//! | `mkfs/unknown-device` | error / warning | a further device in `extraArgs` that the configuration does not create: error for paths disko names itself (`/dev/disk/by-partlabel/`, `/dev/mapper/`, `/dev/md/`, LVM), warning for others | the device word |
//! | `mkfs/device-in-use` | error | a further device that also has content of its own | the device word |
//! | `mkfs/device-order` | error | a further device on a disk whose name sorts after the filesystem's disk (disko formats disks in name order) | the device word |
//! | `layout/unreadable` | warning | btrtune cannot build its layout model although no error was found (only `layout` is missing) | where the reader stopped |
//!
//! # Decisions
//!
//! - **The first mount** of a btrfs filesystem is `/` if it holds it, else the shallowest of
//!   the paths NixOS mounts in the initrd (`/nix`, `/var`, ...), else the shallowest mount
//!   (then by name: disko's mount order). Unless the other mounts of that group lie beneath
//!   it, the order at boot is not fixed, and the message says so. An option on a later mount is reported only when it is written
//!   there and changes the first mount's options: a later mount that just leaves out
//!   `compress` gets the filesystem's compression, as its author probably expects.
//! - **Nested mount points.** A mount beneath a `noauto` mount is an error: systemd gives a
//!   mount unit beneath another a `Requires=` and `After=` on it, so the parent is mounted
//!   anyway (or the child fails with it). A nested subvolume (`@root/var/lib/x`) appears at its
//!   place inside its nearest mounted ancestor subvolume; mounting it elsewhere too is a
//!   warning (it appears twice), mounting something else at its place is an error (it is
//!   hidden). A mounted top level (subvolid 5) is not counted as an ancestor: mounting it to
//!   reach every subvolume is common admin practice. Mounting a subvolume beneath another
//!   mount (`@alice-src` at `/home/alice/src` under `/home`) is ordinary.
//! - **Missing parents** are warnings: disko's `mkdir -p` makes the parent a plain directory,
//!   so nothing fails, but it is no subvolume (no `subvol=`, no snapshots of it). Only a nested
//!   subvolume without any ancestor subvolume counts: `@root/var/lib/machines` next to `@root`
//!   just has ordinary directories (`var/lib`) inside `@root` between them. An ancestor that
//!   exists but is created after its child (attribute order) is an error, because then its
//!   `btrfs subvolume create` fails on the directory the child's `mkdir -p` made.
//! - **Kernel defaults** written on a later mount (`space_cache=v2`, `discard=async`,
//!   `commit=30`) are not reported as ignored: they change nothing.
//! - **Swap files made by disko** (`swap.<name>.size`) use `btrfs filesystem mkswapfile` and
//!   are fine on a compressed filesystem; only hand-made ones are checked for NOCOW. "Is
//!   snapshotted" is read from a nested `<subvolume>/.snapshots` (a snapper layout), the only
//!   sign a disko.nix carries.
//! - **Further mkfs devices** whose path is in a namespace disko creates (partition labels,
//!   mapper and md names, LVM) must be declared, since nothing else creates them; other paths
//!   (`/dev/sdc`) may exist on the host and are warnings.

mod findings;
mod hooks;
mod kernel;
mod locate;
mod mkfs;
mod model;
mod mounts;
mod nocow;
mod schema;
mod subvols;

pub use findings::{Finding, Severity, StaticReport};

use crate::disko::parse::{self, ParseOptions};
use crate::error::AdvisorError;
use crate::nixeval::{Loc, Node, Warning};
use std::path::{Path, PathBuf};

/// Validates a disko.nix file. `Err` only when the file cannot be read; a syntax or
/// evaluation error is an error finding with its line.
pub fn check_file(path: &Path, opts: &ParseOptions) -> Result<StaticReport, AdvisorError> {
    let text = std::fs::read_to_string(path).map_err(|e| AdvisorError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let name = path.display().to_string();
    let evaluated = parse::evaluate_devices(path, &name, opts);
    Ok(analyse(
        text,
        name,
        path.parent().map(Path::to_path_buf),
        evaluated,
    ))
}

/// Validates disko.nix text; `name` is how findings name the file. `Err` only when the text
/// cannot be handed to the evaluator (a temporary file cannot be written).
pub fn check_text(
    text: &str,
    name: &str,
    opts: &ParseOptions,
) -> Result<StaticReport, AdvisorError> {
    let evaluated = parse::evaluate_devices_text(text, name, opts);
    if let Err(e @ AdvisorError::Io { .. }) = evaluated {
        return Err(e);
    }
    Ok(analyse(text.to_string(), name.to_string(), None, evaluated))
}

/// Stack for the checks: evaluated configurations can nest deeply.
const STACK: usize = 64 << 20;

fn analyse(
    text: String,
    name: String,
    dir: Option<PathBuf>,
    evaluated: Result<(Node, Vec<Warning>), AdvisorError>,
) -> StaticReport {
    let (devices, warnings) = match evaluated {
        Ok(x) => x,
        Err(e) => {
            let mut r = StaticReport {
                file: name.clone(),
                layout: None,
                warnings: vec![],
                findings: vec![error_finding(&name, &e)],
            };
            r.normalize();
            return r;
        }
    };
    let name2 = name.clone();
    let run = std::thread::Builder::new()
        .name("validate".into())
        .stack_size(STACK)
        .spawn(move || run_checks(&text, &name2, dir, &devices, warnings));
    let result = match run {
        Ok(h) => h.join().ok(),
        Err(_) => None,
    };
    result.unwrap_or_else(|| StaticReport {
        file: name.clone(),
        layout: None,
        warnings: vec![],
        findings: vec![Finding::at(
            "nix/eval",
            Severity::Error,
            &Loc {
                file: name.clone(),
                line: 1,
                column: 1,
            },
            "btrtune could not check this file (the checker failed unexpectedly)",
            "report this file to btrtune's maintainers",
        )],
    })
}

fn run_checks(
    text: &str,
    name: &str,
    dir: Option<PathBuf>,
    devices: &Node,
    eval_warnings: Vec<Warning>,
) -> StaticReport {
    let src = locate::Sources::new(name, text, dir);
    let mut sc = schema::SchemaCheck {
        sources: &src,
        findings: Vec::new(),
        warnings: Vec::new(),
    };
    sc.devices(devices);
    let mut findings = sc.findings;
    let mut warnings: Vec<String> = eval_warnings.iter().map(ToString::to_string).collect();
    warnings.extend(sc.warnings);

    let m = model::collect(devices, &src);
    mounts::check(&m, &mut findings);
    kernel::check(&m, &mut findings);
    subvols::check(&m, &mut findings);
    mkfs::check(&m, &mut findings);
    nocow::check(&m, &src, &mut findings);

    let layout = match parse::convert_devices(devices, name) {
        Ok(p) => {
            warnings.extend(p.warnings.iter().map(ToString::to_string));
            Some(p.layout)
        }
        Err(e) => {
            let f = error_finding(name, &e);
            // With an error found already, the missing layout is its consequence.
            let covered = findings.iter().any(|x| x.severity == Severity::Error);
            if !covered {
                findings.push(Finding {
                    code: "layout/unreadable",
                    severity: Severity::Warning,
                    message: format!(
                        "btrtune cannot build its layout model from this ({}); the checks \
                         above do not need it",
                        f.message
                    ),
                    fix: "nothing for disko; if the configuration is right, this is a \
                          limitation of btrtune's reader"
                        .to_string(),
                    ..f
                });
            }
            None
        }
    };
    warnings.dedup();
    let mut r = StaticReport {
        file: name.to_string(),
        layout,
        warnings,
        findings,
    };
    r.normalize();
    r
}

/// An evaluation (or reading) error as a finding at its place.
fn error_finding(name: &str, e: &AdvisorError) -> Finding {
    let (file, line, column, message) = match e {
        AdvisorError::Input {
            path,
            line,
            column,
            message,
        } => (path.clone(), *line, *column, message.clone()),
        other => (name.to_string(), 1, 1, other.to_string()),
    };
    let syntax = message.starts_with("Nix syntax error");
    let fix = if syntax {
        "fix the Nix syntax at this place (`nix-instantiate --parse FILE` shows the same)"
            .to_string()
    } else if message.contains("argument") || message.contains("--arg") {
        "give the function's arguments (`--arg NAME EXPR`), or defaults in its pattern \
         (`{ disks ? [ \"/dev/sda\" ], ... }:`)"
            .to_string()
    } else {
        "make this expression evaluate: disko evaluates the same Nix, so it fails here too"
            .to_string()
    };
    Finding::at(
        if syntax { "nix/syntax" } else { "nix/eval" },
        Severity::Error,
        &Loc {
            file,
            line: line.max(1),
            column: column.max(1),
        },
        message,
        fix,
    )
}
