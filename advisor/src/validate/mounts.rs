//! Mount point rules: the path itself (`mount/relative`, `mount/trailing-slash`,
//! `mount/invalid`), two mounts at one place (`mount/duplicate`), and mounts that depend on
//! or hide each other (`mount/nested`).

use super::findings::{Finding, Severity};
use super::hooks::norm;
use super::model::{Model, Mount, MountKind};

/// A mount point as the kernel sees it: absolute, no trailing or doubled `/`.
pub(crate) fn canon(p: &str) -> String {
    let n = norm(&format!("/{p}"));
    if n.is_empty() { "/".into() } else { n }
}

/// True when `child` lies strictly beneath `parent`.
pub(crate) fn beneath(child: &str, parent: &str) -> bool {
    child != parent && (parent == "/" || child.starts_with(&format!("{parent}/")))
}

fn at(l: &crate::nixeval::Loc) -> String {
    format!("line {}", l.line)
}

pub(crate) fn check(model: &Model, out: &mut Vec<Finding>) {
    for m in &model.mounts {
        path_rules(m, out);
    }
    duplicates(model, out);
    noauto_parents(model, out);
    nested_subvolumes(model, out);
}

fn path_rules(m: &Mount, out: &mut Vec<Finding>) {
    let p = &m.path;
    if !p.starts_with('/') {
        out.push(Finding::at(
            "mount/relative",
            Severity::Error,
            &m.loc,
            format!(
                "mount point `{p}` of {} is relative: disko's `absolute-pathname` type rejects \
                 it (`is not of type absolute pathname`), and NixOS `fileSystems` needs an \
                 absolute path",
                m.owner
            ),
            format!("mountpoint = \"{}\";", canon(p)),
        ));
        return;
    }
    if p.len() > 1 && p.ends_with('/') {
        out.push(Finding::at(
            "mount/trailing-slash",
            Severity::Error,
            &m.loc,
            format!(
                "mount point `{p}` of {} ends with `/`: disko accepts it, but NixOS \
                 `fileSystems` rejects mount points with a trailing slash, so the system does \
                 not build",
                m.owner
            ),
            format!("mountpoint = \"{}\";", canon(p)),
        ));
    }
    if p.split('/').any(|c| c == "." || c == "..") {
        out.push(Finding::at(
            "mount/invalid",
            Severity::Error,
            &m.loc,
            format!(
                "mount point `{p}` of {} has a `.` or `..` component: it mounts somewhere \
                 else than it says, and disko's mount order (by path prefix) and NixOS's \
                 dependencies between mounts go wrong",
                m.owner
            ),
            "write the resolved absolute path, without `.` and `..`".to_string(),
        ));
    } else if p.trim_end_matches('/').contains("//") {
        out.push(Finding::at(
            "mount/invalid",
            Severity::Warning,
            &m.loc,
            format!(
                "mount point `{p}` of {} has an empty component (`//`): it works, but \
                 comparisons with other mount points (disko's mount order, NixOS's \
                 dependencies) see a different path",
                m.owner
            ),
            format!("mountpoint = \"{}\";", canon(p)),
        ));
    }
}

fn duplicates(model: &Model, out: &mut Vec<Finding>) {
    let mut by: std::collections::BTreeMap<String, Vec<&Mount>> = Default::default();
    for m in &model.mounts {
        by.entry(canon(&m.path)).or_default().push(m);
    }
    for (path, mut ms) in by {
        if ms.len() < 2 {
            continue;
        }
        ms.sort_by(|a, b| a.loc.cmp(&b.loc));
        let first = ms[0];
        for m in &ms[1..] {
            let same_fs = matches!(
                (&first.kind, &m.kind),
                (MountKind::Subvolume(a, _) | MountKind::TopLevel(a), MountKind::Subvolume(b, _) | MountKind::TopLevel(b)) if a == b
            );
            let what = if same_fs {
                "NixOS merges both into one `fileSystems` entry with their options \
                 concatenated, so only the last `subvol=` counts and one of the two is never \
                 mounted"
            } else {
                "NixOS has one `fileSystems` entry per mount point, so evaluation fails with \
                 conflicting definitions of its `device` (and disko's mount script mounts one \
                 over the other)"
            };
            out.push(Finding::at(
                "mount/duplicate",
                Severity::Error,
                &m.loc,
                format!(
                    "{path} is mounted twice: by {} ({}) and by {}; {what}",
                    first.owner,
                    at(&first.loc),
                    m.owner
                ),
                format!(
                    "give {} another mount point, or remove its `mountpoint` (a subvolume \
                     without one is still created and stays reachable through its parent)",
                    m.owner
                ),
            ));
        }
    }
}

fn noauto_parents(model: &Model, out: &mut Vec<Finding>) {
    for parent in model.mounts.iter().filter(|m| m.has("noauto")) {
        let pp = canon(&parent.path);
        for child in &model.mounts {
            let cp = canon(&child.path);
            if !beneath(&cp, &pp) || child.has("noauto") {
                continue;
            }
            // Only the nearest noauto ancestor is reported.
            let nearer = model.mounts.iter().any(|m| {
                let mp = canon(&m.path);
                m.has("noauto") && beneath(&mp, &pp) && beneath(&cp, &mp)
            });
            if nearer {
                continue;
            }
            out.push(Finding::at(
                "mount/nested",
                Severity::Error,
                &child.loc,
                format!(
                    "{cp} ({}) lies beneath {pp} ({}, {}), which is `noauto`: systemd gives a \
                     mount beneath another a `Requires=` and `After=` on it, so mounting {cp} at \
                     boot mounts {pp} anyway (its `noauto` is silently defeated), and when {pp} \
                     cannot be mounted, {cp} fails too",
                    child.owner,
                    parent.owner,
                    at(&parent.loc)
                ),
                format!(
                    "add \"noauto\" to the mountOptions of {cp} as well (and mount it after \
                     {pp}), move it outside {pp}, or drop `noauto` from {pp}"
                ),
            ));
        }
    }
}

/// Nested subvolumes (`@root/var/lib/x`) appear inside their parent's mount. Mounting one
/// elsewhere as well makes it appear twice; mounting something else at its place hides it.
fn nested_subvolumes(model: &Model, out: &mut Vec<Finding>) {
    for (fi, fs) in model.filesystems.iter().enumerate() {
        for (si, s) in fs.subvols.iter().enumerate() {
            if !s.name.contains('/') {
                continue;
            }
            // The deepest mounted ancestor subvolume.
            let parent = fs
                .subvols
                .iter()
                .filter(|p| p.mount.is_some() && s.name.starts_with(&format!("{}/", p.name)))
                .max_by_key(|p| p.name.len());
            let Some(p) = parent else { continue };
            let Some(pm) = p.mount.and_then(|i| model.mounts.get(i)) else {
                continue;
            };
            let rest = &s.name[p.name.len() + 1..];
            let implicit = canon(&format!("{}/{rest}", canon(&pm.path)));
            if let Some(own) = s.mount.and_then(|i| model.mounts.get(i))
                && canon(&own.path) != implicit
            {
                out.push(Finding::at(
                    "mount/nested",
                    Severity::Warning,
                    &own.loc,
                    format!(
                        "subvolume `{}` is nested in `{}`, which is mounted at {} ({}), so it \
                         already appears at {implicit}; mounted at {} as well, its files appear \
                         at both paths (backups, `du` and indexers count them twice, and it is \
                         easy to delete through the wrong one)",
                        s.raw_name,
                        p.raw_name,
                        canon(&pm.path),
                        at(&pm.loc),
                        canon(&own.path)
                    ),
                    format!(
                        "mount it at {implicit} (its place inside `{}`) or remove its \
                         `mountpoint`; if it belongs at {} only, make it a top-level \
                         subvolume (e.g. `@{}`)",
                        p.raw_name,
                        canon(&own.path),
                        rest.replace('/', "-")
                    ),
                ));
            }
            for m in &model.mounts {
                if canon(&m.path) != implicit || m.kind == MountKind::Subvolume(fi, si) {
                    continue;
                }
                out.push(Finding::at(
                    "mount/nested",
                    Severity::Error,
                    &m.loc,
                    format!(
                        "{implicit} is where the nested subvolume `{}` appears (inside `{}`, \
                         mounted at {}); mounting {} there hides it: `{}` is created ({}) but \
                         can never be reached, and what was meant to go into it goes to {} \
                         instead",
                        s.raw_name,
                        p.raw_name,
                        canon(&pm.path),
                        m.owner,
                        s.raw_name,
                        at(&s.loc),
                        m.owner
                    ),
                    format!(
                        "remove the nested subvolume `{}` if {} is what belongs at {implicit}, \
                         or mount {} somewhere else",
                        s.raw_name, m.owner, m.owner
                    ),
                ));
            }
        }
    }
}
