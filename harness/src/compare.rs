//! Before/after benchmarks (`btrtune validate --bench`): a proposed layout against the
//! current one, under the workloads that stand for what the data sees.
//!
//! Each probe is a workload at a mount point of the proposed layout. Both layouts are
//! reduced to the filesystem that holds that path ([`focus`]), built as the kernel mounts
//! them (filesystem-wide options of later mounts dropped, `btrtune-tuning-facts.md` §1.1),
//! and measured in one matrix per mount point: fresh filesystem per run, the two layouts
//! interleaved in every round, so that runs pair by round ([`Paired`]).

use crate::error::HarnessError;
use crate::matrix::{LayoutSpec, Matrix, Runs, WorkloadSpec, as_the_kernel_mounts, whole};
use crate::record::RunRecord;
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::layout::{Content, DiskContent, Layout, Purpose};
use btrtune_advisor::model::against_example::workloads_for;
use btrtune_advisor::model::features::{Features, features_at};
use serde_json::Map;
use std::collections::BTreeMap;

/// Names of the two candidates in results.
pub const BASELINE: &str = "baseline";
/// See [`BASELINE`].
pub const PROPOSED: &str = "proposed";

/// A workload at a mount point.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// The workload.
    pub workload: WorkloadSpec,
    /// Where it runs (a mount point of the proposed layout, or a directory below one).
    pub target: String,
    /// Why this probe (the purpose of the data there, or "asked for").
    pub why: String,
}

impl Probe {
    /// The workload's recorded name (`wal-postgresql`).
    pub fn name(&self) -> String {
        format!("{}-{}", self.workload.kind, self.workload.name)
    }
}

/// The workload of a recorded name (`wal-postgresql`, `fio-randwrite-4k-fsync`).
pub fn workload_named(name: &str) -> Result<WorkloadSpec, String> {
    btrtune_workloads::catalogue()
        .into_iter()
        .find(|e| format!("{}-{}", e.kind, e.name) == name)
        .map(|e| WorkloadSpec {
            kind: e.kind.into(),
            name: e.name.into(),
            params: Map::new(),
        })
        .ok_or_else(|| {
            let known: Vec<String> = btrtune_workloads::catalogue()
                .into_iter()
                .filter(|e| e.kind != "pgsnapshot")
                .map(|e| format!("{}-{}", e.kind, e.name))
                .collect();
            format!(
                "unknown workload `{name}`: expected one of {} (`btrtune workload list`)",
                known.join(", ")
            )
        })
}

/// The deepest mount point of `layout` that holds `path` (`/var/lib/x` → `/var` or `/`).
pub fn holding_mount(layout: &Layout, path: &str) -> Option<String> {
    layout
        .mountpoints()
        .into_iter()
        .map(|(m, _)| m)
        .filter(|m| {
            m == path
                || m == "/"
                || path
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|m| (btrtune_advisor::layout::mount_depth(m), m.len()))
}

/// The model features of the data at `path` (those of the mount that holds it).
pub fn features_of(layout: &Layout, path: &str) -> Option<Features> {
    features_at(layout, &holding_mount(layout, path)?)
}

/// Purposes in the order their data matters most for a default probe.
const ORDER: &[Purpose] = &[
    Purpose::Database,
    Purpose::ContainerStorage,
    Purpose::VmImages,
    Purpose::BuildOutput,
    Purpose::Projects,
    Purpose::ContainerVolumes,
    Purpose::AppState,
    Purpose::ServiceState,
    Purpose::System,
    Purpose::NixStore,
    Purpose::UserData,
    Purpose::Logs,
];

/// Every mount point of a layout with the purpose of its data.
fn purposes(layout: &Layout) -> Vec<(String, Purpose)> {
    let mut out = Vec::new();
    for (_, fs) in layout.btrfs_filesystems() {
        for s in &fs.subvolumes {
            if let Some(m) = &s.mount {
                out.push((m.mountpoint.clone(), s.data.purpose));
            }
        }
    }
    for (mp, owner) in layout.mountpoints() {
        if !out.iter().any(|(m, _)| *m == mp) && !owner.contains("subvolume") {
            let p = match mp.as_str() {
                "/" => Purpose::System,
                "/boot" | "/efi" | "/boot/efi" => continue,
                other => btrtune_advisor::disko::parse::infer_purpose("", Some(other), false),
            };
            out.push((mp, p));
        }
    }
    out
}

/// The probes `validate --bench` runs when none are named: for the purposes the proposed
/// layout's mount points serve (databases first, then containers, VM images, builds, the
/// system), the workloads that stand for them ([`workloads_for`]), where the two layouts
/// differ in what the models know (NOCOW, compression, atime, filesystem...). Each workload
/// once, at most `max`. When the layouts differ nowhere the models see, the most important
/// purpose's first workload, so that the run still measures something.
pub fn default_probes(baseline: &Layout, proposed: &Layout, max: usize) -> Vec<Probe> {
    let mut mounts = purposes(proposed);
    mounts.sort_by_key(|(m, p)| {
        (
            ORDER.iter().position(|o| o == p).unwrap_or(ORDER.len()),
            m.clone(),
        )
    });
    let mut out: Vec<Probe> = Vec::new();
    let mut first: Option<Probe> = None;
    for (mp, purpose) in &mounts {
        for w in workloads_for(*purpose) {
            let Ok(spec) = workload_named(w) else {
                continue;
            };
            let probe = Probe {
                workload: spec,
                target: mp.clone(),
                why: format!("{mp} holds {}", purpose_label(*purpose)),
            };
            if first.is_none() {
                first = Some(probe.clone());
            }
            let differs = features_of(baseline, mp) != features_of(proposed, mp);
            if differs && out.len() < max && !out.iter().any(|p| p.name() == probe.name()) {
                out.push(Probe {
                    why: format!("{}, and the layouts differ there", probe.why),
                    ..probe
                });
            }
        }
    }
    if out.is_empty()
        && let Some(p) = first
    {
        out.push(Probe {
            why: format!(
                "{}; the layouts differ nowhere the models see, so this measures the most \
                 important data",
                p.why
            ),
            ..p
        });
    }
    out
}

/// The probes a toolstack implies: for each tool in order, the workloads that stand for the
/// data at each of its system-wide paths (`/var/lib/postgresql` for PostgreSQL), at that path;
/// each workload once, at most `max`. Per-user (`~/`) paths are left out: the layout has no
/// one home to run them in.
pub fn tool_probes(tools: &[&btrtune_advisor::profiles::Tool], max: usize) -> Vec<Probe> {
    let mut out: Vec<Probe> = Vec::new();
    for t in tools {
        for p in t.paths.iter().filter(|p| p.path.starts_with('/')) {
            for w in workloads_for(p.class) {
                let Ok(spec) = workload_named(w) else {
                    continue;
                };
                let probe = Probe {
                    workload: spec,
                    target: p.path.trim_end_matches('/').to_string(),
                    why: format!("{} keeps {} there", t.name, purpose_label(p.class)),
                };
                if out.len() < max && !out.iter().any(|o| o.name() == probe.name()) {
                    out.push(probe);
                }
            }
        }
    }
    out
}

fn purpose_label(p: Purpose) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{p:?}"))
}

/// A probe named on the command line: `WORKLOAD` or `WORKLOAD@/mount/point`. Without a
/// mount point, the first mount point of the proposed layout whose purpose the workload
/// stands for, else `/`.
pub fn parse_probe(text: &str, proposed: &Layout) -> Result<Probe, String> {
    let (name, at) = match text.split_once('@') {
        Some((n, t)) => (n.trim(), Some(t.trim())),
        None => (text.trim(), None),
    };
    let workload = workload_named(name)?;
    if workload.kind == "pgsnapshot" {
        return Err(format!(
            "`{name}` checks snapshot consistency, it measures no throughput: not a validate \
             workload"
        ));
    }
    let target = match at {
        Some(t) => {
            if !t.starts_with('/') {
                return Err(format!(
                    "`{text}`: the mount point after `@` must be absolute"
                ));
            }
            match t.trim_end_matches('/') {
                "" => "/".to_string(),
                t => t.to_string(),
            }
        }
        None => purposes(proposed)
            .into_iter()
            .filter(|(_, p)| workloads_for(*p).contains(&name))
            .map(|(m, _)| m)
            .min()
            .unwrap_or_else(|| "/".into()),
    };
    if holding_mount(proposed, &target).is_none() {
        return Err(format!(
            "`{text}`: the proposed layout mounts nothing that holds {target}"
        ));
    }
    Ok(Probe {
        workload,
        target,
        why: "asked for".into(),
    })
}

/// The filesystem of `layout` that holds `path`, alone on a whole device (what the harness
/// builds), as the kernel mounts it. LUKS is left out (the harness measures the filesystem,
/// not the encryption).
pub fn focus(layout: &Layout, path: &str) -> Result<Layout, String> {
    let mp = holding_mount(layout, path)
        .ok_or_else(|| format!("the layout mounts nothing that holds {path}"))?;
    fn holds(c: &Content, mp: &str) -> bool {
        match c {
            Content::Btrfs(b) => {
                b.top_level.as_ref().is_some_and(|t| t.mountpoint == mp)
                    || b.subvolumes
                        .iter()
                        .any(|s| s.mount.as_ref().is_some_and(|m| m.mountpoint == mp))
            }
            Content::Filesystem(f) => f.mountpoint.as_deref() == Some(mp),
            Content::Luks(l) => holds(&l.content, mp),
            _ => false,
        }
    }
    fn unwrap(c: &Content) -> Content {
        match c {
            Content::Luks(l) => unwrap(&l.content),
            other => other.clone(),
        }
    }
    let content = layout
        .disks
        .iter()
        .flat_map(|d| match &d.content {
            DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => partitions
                .iter()
                .filter_map(|p| p.content.as_ref())
                .collect(),
            DiskContent::Whole { content } => vec![content],
        })
        .find(|c| holds(c, &mp))
        .map(unwrap)
        .ok_or_else(|| format!("{mp} is not on a filesystem the harness can build"))?;
    if let Content::Filesystem(f) = &content
        && f.format == "vfat"
    {
        return Err(format!(
            "{mp} is a vfat filesystem: nothing to measure there"
        ));
    }
    let mut out = whole(content);
    as_the_kernel_mounts(&mut out);
    Ok(out.without_reasons())
}

/// The layout `validate --bench` compares with when no current one is given: one btrfs
/// filesystem as `mkfs.btrfs` and `mount` make it (no compression, CoW everywhere, the
/// kernel's `relatime`), everything in one subvolume at `/`.
pub fn untuned() -> Layout {
    use btrtune_advisor::layout::{
        BtrfsFilesystem, DataPolicy, FsOptions, Hooks, MkfsOptions, SubvolMount, Subvolume,
    };
    whole(Content::Btrfs(BtrfsFilesystem {
        mkfs: MkfsOptions::default(),
        options: FsOptions::default(),
        top_level: None,
        subvolumes: vec![Subvolume {
            name: "@root".into(),
            mount: Some(SubvolMount {
                mountpoint: "/".into(),
                vfs: Default::default(),
                fs_override: None,
            }),
            data: DataPolicy::new(Purpose::System),
            swapfiles: vec![],
            extra_args: vec![],
        }],
        home_subvolumes: vec![],
        hooks: Hooks::default(),
        why: Default::default(),
    }))
}

/// One matrix per mount point: the two focused layouts × the probes that run there.
pub fn matrices(
    baseline: &Layout,
    proposed: &Layout,
    probes: &[Probe],
    rounds: u32,
    quick_rounds: u32,
    size: u64,
) -> Result<Vec<Matrix>, HarnessError> {
    let mut by_target: BTreeMap<&str, Vec<&Probe>> = BTreeMap::new();
    for p in probes {
        by_target.entry(p.target.as_str()).or_default().push(p);
    }
    let bad = |m: String| HarnessError::Layout(m);
    let mut out = Vec::new();
    for (target, probes) in by_target {
        let spec = |name: &str| LayoutSpec {
            name: name.into(),
            kind: "disko".into(),
            target: Some(target.to_string()),
            ..LayoutSpec::default()
        };
        let b = focus(baseline, target).map_err(|e| bad(format!("current layout: {e}")))?;
        let p = focus(proposed, target).map_err(|e| bad(format!("proposed layout: {e}")))?;
        let runs = |n: u32| Runs {
            min: n,
            max: n,
            cv_target: 0.0,
            size: None,
        };
        out.push(Matrix {
            name: format!("validate{}", target.replace('/', "-")),
            description: Some(format!("validate --bench at {target}")),
            size,
            runs: runs(rounds),
            quick: runs(quick_rounds),
            layouts: vec![(spec(BASELINE), b), (spec(PROPOSED), p)],
            workloads: probes.iter().map(|p| p.workload.clone()).collect(),
        });
    }
    Ok(out)
}

/// The runs of one workload on both layouts, paired by round.
#[derive(Clone, Debug)]
pub struct Paired {
    /// Workload as recorded.
    pub workload: String,
    /// Metric.
    pub metric: String,
    /// Mount point.
    pub target: String,
    /// Hardware class of the device the runs were made on.
    pub class: DeviceClass,
    /// The baseline's values by round.
    pub baseline: Vec<f64>,
    /// The proposed layout's values by round.
    pub proposed: Vec<f64>,
    /// The baseline as built.
    pub baseline_layout: Option<Layout>,
    /// The proposed layout as built.
    pub proposed_layout: Option<Layout>,
}

/// The records of a matrix's current cells (a results file may hold older cells of other
/// layouts), paired by workload.
pub fn pair(
    matrix: &Matrix,
    quick: bool,
    records: &[RunRecord],
) -> Result<Vec<Paired>, HarnessError> {
    let cells = matrix.cells(quick)?;
    let target = matrix
        .layouts
        .first()
        .and_then(|(s, _)| s.target.clone())
        .unwrap_or_else(|| "/".into());
    let mut out: Vec<Paired> = Vec::new();
    for w in &matrix.workloads {
        let name = format!("{}-{}", w.kind, w.name);
        let side = |layout: &str| -> (Vec<&RunRecord>, Option<Layout>) {
            let cell = cells
                .iter()
                .find(|c| c.layout_name == layout && c.workload.name() == name);
            let mut runs: Vec<&RunRecord> = records
                .iter()
                .filter(|r| cell.is_some_and(|c| c.id == r.cell))
                .collect();
            runs.sort_by_key(|r| r.run);
            (runs, cell.map(|c| c.layout.clone()))
        };
        let (b, bl) = side(BASELINE);
        let (p, pl) = side(PROPOSED);
        let Some(first) = b.first().or(p.first()) else {
            continue;
        };
        out.push(Paired {
            workload: name.clone(),
            metric: first.measurement.primary.clone(),
            target: target.clone(),
            class: first.device.class,
            baseline: b.iter().map(|r| r.measurement.value).collect(),
            proposed: p.iter().map(|r| r.measurement.value).collect(),
            baseline_layout: bl,
            proposed_layout: pl,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use btrtune_advisor::disko::parse::parse_text;

    const CURRENT: &str = r#"{
  disko.devices.disk.main = {
    type = "disk";
    device = "/dev/vda";
    content = {
      type = "gpt";
      partitions = {
        ESP = { size = "512M"; type = "EF00"; content = { type = "filesystem"; format = "vfat"; mountpoint = "/boot"; }; };
        root = {
          size = "100%";
          content = {
            type = "btrfs";
            subvolumes = {
              "@root" = { mountpoint = "/"; mountOptions = [ "compress=zstd" ]; };
              "@home" = { mountpoint = "/home"; mountOptions = [ "compress=zstd" "nodatacow" ]; };
            };
          };
        };
      };
    };
  };
}"#;

    fn layout(text: &str) -> Layout {
        parse_text(text, "disko.nix", &Default::default())
            .unwrap()
            .layout
    }

    fn proposed() -> Layout {
        layout(&CURRENT.replace(
            r#""@home" = { mountpoint = "/home"; mountOptions = [ "compress=zstd" "nodatacow" ]; };"#,
            r#""@home" = { mountpoint = "/home"; mountOptions = [ "compress=zstd" ]; };
              "@postgresql" = { mountpoint = "/var/lib/postgresql"; mountOptions = [ "compress=zstd" ]; };"#,
        ))
    }

    #[test]
    fn paths_are_held_by_the_deepest_mount() {
        let l = proposed();
        assert_eq!(
            holding_mount(&l, "/var/lib/postgresql").as_deref(),
            Some("/var/lib/postgresql")
        );
        assert_eq!(
            holding_mount(&l, "/var/lib/postgresql/16").as_deref(),
            Some("/var/lib/postgresql")
        );
        assert_eq!(holding_mount(&l, "/homer").as_deref(), Some("/"));
        assert_eq!(holding_mount(&l, "/home/a").as_deref(), Some("/home"));
        assert_eq!(
            holding_mount(&layout(CURRENT), "/var/lib/postgresql").as_deref(),
            Some("/")
        );
    }

    #[test]
    fn focus_keeps_one_filesystem_as_the_kernel_mounts_it() {
        let f = focus(&layout(CURRENT), "/var/lib/postgresql").unwrap();
        assert_eq!(f.disks.len(), 1);
        let (_, fs) = f.btrfs_filesystems()[0];
        // `nodatacow` on /home is a later mount's option: dropped, as the kernel does.
        assert!(
            fs.subvolumes
                .iter()
                .all(|s| s.mount.as_ref().unwrap().fs_override.is_none())
        );
        assert!(f.problems().is_empty(), "{:?}", f.problems());
        assert!(focus(&layout(CURRENT), "/boot").is_err());
    }

    #[test]
    fn default_probes_measure_where_the_layouts_differ() {
        let probes = default_probes(&layout(CURRENT), &proposed(), 4);
        assert!(!probes.is_empty());
        assert_eq!(probes[0].target, "/var/lib/postgresql", "{probes:?}");
        assert_eq!(probes[0].name(), "wal-postgresql");
        // Against the untuned layout, the database's data differs too.
        let probes = default_probes(&untuned(), &proposed(), 4);
        assert_eq!(probes[0].target, "/var/lib/postgresql", "{probes:?}");
        assert!(untuned().problems().is_empty());
        // Equal layouts still measure the most important data once.
        let same = default_probes(&proposed(), &proposed(), 4);
        assert_eq!(same.len(), 1, "{same:?}");
    }

    #[test]
    fn a_toolstack_probes_its_tools_data_paths() {
        let db = btrtune_advisor::profiles::ToolDb::bundled().unwrap();
        let tools = [
            db.resolve("postgresql").unwrap(),
            db.resolve("podman").unwrap(),
        ];
        let probes = tool_probes(&tools, 4);
        assert_eq!(probes[0].name(), "wal-postgresql", "{probes:?}");
        assert_eq!(probes[0].target, "/var/lib/postgresql");
        assert!(
            probes[0].why.starts_with("postgresql keeps database"),
            "{probes:?}"
        );
        assert!(
            probes.iter().any(|p| p.name() == "containers-overlay"),
            "{probes:?}"
        );
        assert!(probes.iter().all(|p| p.target.starts_with('/')));
        assert_eq!(tool_probes(&tools, 1).len(), 1);
    }

    #[test]
    fn named_probes_resolve_their_mount_point() {
        let p = parse_probe("wal-postgresql", &proposed()).unwrap();
        assert_eq!(p.target, "/var/lib/postgresql");
        let p = parse_probe("fio-randwrite-4k-fsync@/srv/db", &proposed()).unwrap();
        assert_eq!(p.target, "/srv/db");
        let e = parse_probe("wal-postgres", &proposed()).unwrap_err();
        assert!(
            e.contains("unknown workload `wal-postgres`") && e.contains("wal-postgresql"),
            "{e}"
        );
        assert!(parse_probe("wal-postgresql@srv", &proposed()).is_err());
        assert!(parse_probe("pgsnapshot-same-subvolume", &proposed()).is_err());
    }

    #[test]
    fn one_matrix_per_mount_point_with_both_layouts() {
        let probes = vec![
            parse_probe("wal-postgresql", &proposed()).unwrap(),
            parse_probe("fio-randwrite-4k-fsync@/var/lib/postgresql", &proposed()).unwrap(),
            parse_probe("fio-seqwrite-128k@/home", &proposed()).unwrap(),
        ];
        let ms = matrices(&layout(CURRENT), &proposed(), &probes, 5, 3, 1 << 30).unwrap();
        assert_eq!(ms.len(), 2);
        let pg = ms
            .iter()
            .find(|m| m.name == "validate-var-lib-postgresql")
            .unwrap();
        assert_eq!(pg.workloads.len(), 2);
        assert_eq!(pg.quick.min, 3);
        let cells = pg.cells(true).unwrap();
        assert_eq!(cells.len(), 4);
        assert!(pair(pg, true, &[]).unwrap().is_empty());
    }
}
