//! Subvolume rules: names disko's scripts and `subvol=` cannot take (`subvol/name`), one
//! subvolume defined twice (`subvol/duplicate`), nested subvolumes without their parent
//! (`subvol/missing-parent`) or created before it (`subvol/order`).

use super::findings::{Finding, Severity};
use super::model::{Fs, Model};

pub(crate) fn check(model: &Model, out: &mut Vec<Finding>) {
    for fs in &model.filesystems {
        names(fs, out);
        parents(fs, out);
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty (it would be the top level itself)")
    } else if name.split('/').any(|c| c == ".." || c == ".") {
        Some("has a `.` or `..` component (it would be created outside its place)")
    } else if name.contains("//") || name.ends_with('/') {
        Some("has an empty component (`//` or a trailing `/`)")
    } else if name.contains(',') {
        Some("contains `,`, which ends the `subvol=` mount option early")
    } else if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '"' | '`' | '\\'))
    {
        Some("contains a quote, backslash or control character, which breaks disko's scripts")
    } else if name.contains('$') {
        Some("contains `$`, which disko's shell scripts expand")
    } else {
        None
    }
}

fn names(fs: &Fs, out: &mut Vec<Finding>) {
    let mut seen: std::collections::BTreeMap<&str, &super::model::Subvol> = Default::default();
    for s in &fs.subvols {
        if let Some(why) = name_problem(&s.name) {
            out.push(Finding::at(
                "subvol/name",
                Severity::Error,
                &s.name_loc,
                format!("subvolume name `{}` {why}", s.raw_name),
                "use a name of letters, digits, `@`, `-`, `_`, `.` and `/` between components, \
                 e.g. `@data`"
                    .to_string(),
            ));
        }
        if let Some(first) = seen.get(s.name.as_str()) {
            out.push(Finding::at(
                "subvol/duplicate",
                Severity::Warning,
                &s.name_loc,
                format!(
                    "`{}` (attribute `{}`) names the same subvolume as attribute `{}` (line \
                     {}): disko creates it once, and both entries' mount points and swap \
                     files then refer to that one subvolume",
                    s.raw_name, s.key, first.key, first.loc.line
                ),
                format!(
                    "merge the two entries, or give attribute `{}` another `name`",
                    s.key
                ),
            ));
        } else {
            seen.insert(&s.name, s);
        }
    }
}

fn parents(fs: &Fs, out: &mut Vec<Finding>) {
    let mut reported_order = std::collections::BTreeSet::new();
    for s in &fs.subvols {
        let Some((parent, _)) = s.name.rsplit_once('/') else {
            continue;
        };
        if parent.is_empty() || name_problem(&s.name).is_some() {
            continue;
        }
        // Every ancestor path (`@a`, `@a/b` for `@a/b/c`) that is a subvolume here.
        let mut ancestors = Vec::new();
        let mut a = parent;
        loop {
            if let Some(i) = fs.subvol(a) {
                ancestors.push(i);
            }
            match a.rsplit_once('/') {
                Some((up, _)) if !up.is_empty() => a = up,
                _ => break,
            }
        }
        for &i in &ancestors {
            let p = &fs.subvols[i];
            if p.key > s.key && reported_order.insert(i) {
                out.push(Finding::at(
                    "subvol/order",
                    Severity::Error,
                    &p.loc,
                    format!(
                        "subvolume `{}` (attribute `{}`) is the parent of `{}` (attribute \
                         `{}`, line {}), but disko creates subvolumes in attribute-name order, \
                         so the child comes first: its `mkdir -p` makes `{}` a plain \
                         directory, and `btrfs subvolume create` for `{}` then fails (\"target \
                         path already exists\"), which stops disko's format",
                        p.raw_name, p.key, s.raw_name, s.key, s.loc.line, p.name, p.raw_name
                    ),
                    format!(
                        "rename the attributes so that the parent's sorts first, e.g. use the \
                         subvolume names as attribute names (`\"{}\"` and `\"{}\"`)",
                        p.name, s.name
                    ),
                ));
            }
        }
        // Directories between an existing ancestor subvolume and the child are ordinary
        // (`@root/var/lib/machines` inside `@root`); only a nested subvolume with no ancestor
        // subvolume at all has its parent made by `mkdir -p` in the top level.
        if ancestors.is_empty() {
            out.push(Finding::at(
                "subvol/missing-parent",
                Severity::Warning,
                &s.name_loc,
                format!(
                    "subvolume `{}` is nested in `{parent}`, which the configuration does \
                     not create: disko runs `mkdir -p` first, so `{parent}` becomes a plain \
                     directory in the top level and everything is created, but `{parent}` \
                     is then no subvolume: it cannot be mounted with `subvol={parent}` or \
                     snapshotted, and `{}` is not part of any subvolume's snapshots \
                     (nested subvolumes are a snapshot barrier, btrfs-tuning-facts.md §3, \
                     §5). A warning, not an error: nothing fails, but the layout on disk \
                     differs from what the names suggest",
                    s.raw_name, s.raw_name
                ),
                format!(
                    "add the parent: `subvolumes.\"{parent}\" = {{ }};` (or with the \
                     mountpoint it should have), or rename `{}` to a top-level name such \
                     as `{}`",
                    s.raw_name,
                    s.name.replace('/', "-")
                ),
            ));
        }
    }
}
