//! Matrix files: the candidate layouts and workloads a calibration runs, and how often.
//!
//! ```toml
//! name = "default"
//! description = "the layouts the recommender chooses between"
//! size = "4G"                   # loop device size
//!
//! [runs]                        # replication: fresh mkfs per run, interleaved
//! min = 5
//! max = 12
//! cv_target = 0.05
//!
//! [quick]                       # --quick (CI): fewer, shorter runs on a smaller device
//! min = 2
//! max = 2
//! size = "1G"
//!
//! [[layout]]
//! name = "nocow"
//! kind = "btrfs"                # btrfs | ext4 | xfs | raw | example | disko
//! compress = "zstd:1"           # filesystem-wide compress= ("none": off)
//! nocow = true                  # NOCOW on the target subvolume
//! property = "zstd"             # compression property on the target subvolume
//! autodefrag = false
//! commit = 30
//! atime = "noatime"             # noatime | relatime | strictatime
//! discard = "async"             # async | sync | none; unset: nodiscard on loop devices
//! # kind = "example": example = "workstation", target = "/var/lib/postgresql"
//! # kind = "disko":   disko = "hosts/lab/disko.nix", target = "/srv"
//!
//! [[workload]]
//! fio = "randwrite-4k-fsync"    # a job of the fio library (workloads/fio/)
//!
//! [[workload]]                  # other kinds: one kind key, the other keys are parameters
//! wal = "postgresql"            # (`btrtune workload list` shows them all)
//! clients = 8
//!
//! [[workload]]
//! containers = "btrfs"
//! params = { containers = 32 }  # parameters named like a kind key go in `params`
//! ```

use crate::error::HarnessError;
use btrtune_advisor::layout::{
    Atime, BtrfsFilesystem, CompressionProperty, Content, DataPolicy, Disk, DiskContent, DiskKind,
    FsOptions, Hooks, Layout, MkfsOptions, PlainFilesystem, Purpose, SCHEMA_VERSION, SubvolMount,
    Subvolume, SystemSettings, VfsOptions, options::Discard,
};
use btrtune_advisor::layout::{Bytes, Compression};
use btrtune_workloads::{Target, Workload};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Replication settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    /// Runs per cell at least.
    pub min: u32,
    /// Runs per cell at most.
    pub max: u32,
    /// Stop adding runs once the coefficient of variation is below this.
    #[serde(default = "default_cv")]
    pub cv_target: f64,
    /// Device size for these settings.
    #[serde(default)]
    pub size: Option<String>,
}

fn default_cv() -> f64 {
    0.05
}

/// A candidate layout.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LayoutSpec {
    /// Its name in results.
    pub name: String,
    /// `btrfs`, `ext4`, `xfs`, `raw`, `example`, `disko`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Filesystem-wide compression.
    #[serde(default)]
    pub compress: Option<String>,
    /// NOCOW on the target subvolume.
    #[serde(default)]
    pub nocow: bool,
    /// Compression property on the target subvolume.
    #[serde(default)]
    pub property: Option<String>,
    /// `autodefrag`.
    #[serde(default)]
    pub autodefrag: bool,
    /// `commit=`.
    #[serde(default)]
    pub commit: Option<u32>,
    /// Access-time mode of every mount.
    #[serde(default)]
    pub atime: Option<String>,
    /// Discard mode.
    #[serde(default)]
    pub discard: Option<String>,
    /// A bundled example toolstack (kind `example`).
    #[serde(default)]
    pub example: Option<String>,
    /// A disko.nix (kind `disko`), relative to the matrix file.
    #[serde(default)]
    pub disko: Option<String>,
    /// Where the workloads run (default `/data`).
    #[serde(default)]
    pub target: Option<String>,
}

fn default_kind() -> String {
    "btrfs".into()
}

pub use btrtune_workloads::WorkloadSpec;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    size: Option<String>,
    runs: Runs,
    #[serde(default)]
    quick: Option<Runs>,
    #[serde(rename = "layout")]
    layouts: Vec<LayoutSpec>,
    #[serde(rename = "workload")]
    workloads: Vec<toml::Table>,
}

/// A parsed matrix.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// Name.
    pub name: String,
    /// One line.
    pub description: Option<String>,
    /// Device size.
    pub size: u64,
    /// Replication.
    pub runs: Runs,
    /// Quick replication.
    pub quick: Runs,
    /// Candidates, with their built layouts.
    pub layouts: Vec<(LayoutSpec, Layout)>,
    /// Workloads.
    pub workloads: Vec<WorkloadSpec>,
}

fn size(s: &str, origin: &str, line: usize) -> Result<u64, HarnessError> {
    s.parse::<Bytes>()
        .map(|b| b.0)
        .map_err(|e| HarnessError::Input {
            path: origin.into(),
            line,
            message: format!("size: {e}"),
        })
}

impl Matrix {
    /// Reads a matrix file.
    pub fn read(path: &Path) -> Result<Matrix, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::io(path, e))?;
        Self::parse(&text, &path.display().to_string(), path.parent())
    }

    /// Parses matrix text (`dir` resolves relative `disko` paths).
    pub fn parse(text: &str, origin: &str, dir: Option<&Path>) -> Result<Matrix, HarnessError> {
        let raw: RawMatrix = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            HarnessError::Input {
                path: origin.into(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        let bad = |line: usize, m: String| HarnessError::Input {
            path: origin.into(),
            line,
            message: m,
        };
        if raw.layouts.is_empty() || raw.workloads.is_empty() {
            return Err(bad(
                0,
                "a matrix needs at least one [[layout]] and one [[workload]]".into(),
            ));
        }
        for (table, runs) in [("runs", Some(&raw.runs)), ("quick", raw.quick.as_ref())] {
            let Some(r) = runs else { continue };
            if r.min == 0 || r.max < r.min || r.cv_target.is_nan() || r.cv_target <= 0.0 {
                return Err(bad(
                    line_of(text, |l| l == format!("[{table}]")),
                    format!(
                        "[{table}]: need 1 <= min <= max and cv_target > 0 (min {}, max {}, \
                         cv_target {})",
                        r.min, r.max, r.cv_target
                    ),
                ));
            }
        }
        let mut workloads = Vec::new();
        for (i, table) in raw.workloads.iter().enumerate() {
            // The i-th [[workload]] header, for messages.
            let line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.trim() == "[[workload]]")
                .nth(i)
                .map_or(0, |(n, _)| n + 1);
            let mut map = match serde_json::to_value(table) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(bad(line, "a workload must be a table".into())),
            };
            // `[workload.params]`: parameters whose name is also a kind key
            // (`containers = 32` beside `containers = "btrfs"`).
            let extra = match map.remove("params") {
                None => serde_json::Map::new(),
                Some(serde_json::Value::Object(m)) => m,
                Some(_) => return Err(bad(line, "`params` must be a table".into())),
            };
            let mut spec = WorkloadSpec::from_table(&map).map_err(|e| bad(line, e))?;
            for (k, v) in extra {
                if spec.params.insert(k.clone(), v).is_some() {
                    return Err(bad(line, format!("parameter `{k}` is given twice")));
                }
            }
            // Check the name and parameters now, not in the middle of a calibration.
            btrtune_workloads::build(
                &spec,
                Target::Mount {
                    mountpoint: "/data".into(),
                },
            )
            .map_err(|e| bad(line, format!("workload {}: {e}", spec.label())))?;
            workloads.push(spec);
        }
        let full_size = size(
            raw.size.as_deref().unwrap_or("4G"),
            origin,
            line_of(text, |l| l.starts_with("size")),
        )?;
        if let Some(q) = raw.quick.as_ref().and_then(|q| q.size.as_deref()) {
            let at = text
                .lines()
                .enumerate()
                .skip_while(|(_, l)| l.trim() != "[quick]")
                .find(|(_, l)| l.trim().starts_with("size"))
                .map_or(0, |(i, _)| i + 1);
            size(q, origin, at)?;
        }
        let quick = raw.quick.unwrap_or(Runs {
            min: 2,
            max: 2,
            cv_target: raw.runs.cv_target,
            size: Some("1G".into()),
        });
        let mut layouts = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for l in raw.layouts {
            let line = line_of(text, |t| {
                t.starts_with("name") && t.contains(&format!("\"{}\"", l.name))
            });
            if !names.insert(l.name.clone()) {
                let second = text
                    .lines()
                    .enumerate()
                    .filter(|(_, t)| {
                        let t = t.trim();
                        t.starts_with("name") && t.contains(&format!("\"{}\"", l.name))
                    })
                    .nth(1)
                    .map_or(line, |(i, _)| i + 1);
                return Err(bad(second, format!("layout `{}` is defined twice", l.name)));
            }
            let built =
                candidate(&l, dir).map_err(|e| bad(line, format!("layout `{}`: {e}", l.name)))?;
            layouts.push((l, built));
        }
        Ok(Matrix {
            name: raw.name,
            description: raw.description,
            size: full_size,
            quick,
            runs: raw.runs,
            layouts,
            workloads,
        })
    }

    /// The device size for these settings.
    pub fn size_for(&self, quick: bool) -> Result<u64, HarnessError> {
        match (quick, &self.quick.size) {
            (true, Some(s)) => size(s, &self.name, 0),
            _ => Ok(self.size),
        }
    }
}

/// The 1-based number of the first line whose trimmed text satisfies `pred` (0: none).
fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> usize {
    text.lines()
        .position(|l| pred(l.trim()))
        .map_or(0, |i| i + 1)
}

/// The mount point a candidate's workloads run in.
pub fn target_of(spec: &LayoutSpec) -> Target {
    if spec.kind == "raw" {
        Target::Device
    } else {
        Target::Mount {
            mountpoint: spec.target.clone().unwrap_or_else(|| "/data".into()),
        }
    }
}

fn atime(s: Option<&str>) -> Result<Option<Atime>, String> {
    Ok(match s {
        None | Some("noatime") => Some(Atime::Noatime),
        Some("relatime") => Some(Atime::Relatime),
        Some("strictatime") => Some(Atime::Strictatime),
        Some(o) => {
            return Err(format!(
                "atime `{o}`: expected noatime, relatime or strictatime"
            ));
        }
    })
}

/// A layout of one whole device holding `content` (the device under test).
pub(crate) fn whole(content: Content) -> Layout {
    Layout {
        schema_version: SCHEMA_VERSION,
        disks: vec![Disk {
            name: "bench".into(),
            kind: DiskKind::Disk,
            device: "/dev/loop-under-test".into(),
            class: None,
            content: DiskContent::Whole { content },
            why: None,
        }],
        nodev: vec![],
        system: SystemSettings::default(),
    }
}

/// The Layout of a candidate.
pub fn candidate(spec: &LayoutSpec, dir: Option<&Path>) -> Result<Layout, String> {
    let vfs = VfsOptions {
        atime: atime(spec.atime.as_deref())?,
        ..VfsOptions::default()
    };
    match spec.kind.as_str() {
        "btrfs" => {
            let compress = match spec.compress.as_deref() {
                None | Some("none" | "no") => None,
                Some(c) => Compression::parse(c)?,
            };
            let discard = match spec.discard.as_deref() {
                None => None,
                Some("async") => Some(Discard::Async),
                Some("sync") => Some(Discard::Sync),
                Some("none") => Some(Discard::Off),
                Some(o) => return Err(format!("discard `{o}`: expected async, sync or none")),
            };
            let property = match spec.property.as_deref() {
                None => None,
                Some("zstd") => Some(CompressionProperty::Zstd),
                Some("lzo") => Some(CompressionProperty::Lzo),
                Some("zlib") => Some(CompressionProperty::Zlib),
                Some("none") => Some(CompressionProperty::None),
                Some(o) => return Err(format!("property `{o}`: expected zstd, lzo, zlib or none")),
            };
            let target = spec.target.clone().unwrap_or_else(|| "/data".into());
            let mut data = DataPolicy::new(Purpose::Other);
            data.nocow = spec.nocow;
            data.compression = property;
            let mount = |mp: &str| SubvolMount {
                mountpoint: mp.into(),
                vfs: vfs.clone(),
                fs_override: None,
            };
            Ok(whole(Content::Btrfs(BtrfsFilesystem {
                mkfs: MkfsOptions::default(),
                options: FsOptions {
                    compress,
                    autodefrag: spec.autodefrag,
                    commit: spec.commit,
                    discard,
                    ..FsOptions::default()
                },
                top_level: None,
                subvolumes: vec![
                    Subvolume {
                        name: "@data".into(),
                        mount: Some(mount(&target)),
                        data,
                        swapfiles: vec![],
                        extra_args: vec![],
                    },
                    Subvolume {
                        name: "@root".into(),
                        mount: Some(mount("/")),
                        data: DataPolicy::new(Purpose::System),
                        swapfiles: vec![],
                        extra_args: vec![],
                    },
                ],
                home_subvolumes: vec![],
                hooks: Hooks::default(),
                why: Default::default(),
            })))
        }
        "ext4" | "xfs" => Ok(whole(Content::Filesystem(PlainFilesystem {
            format: spec.kind.clone(),
            mountpoint: Some(spec.target.clone().unwrap_or_else(|| "/data".into())),
            mount_options: vfs.to_mount_options(),
            extra_args: vec![],
        }))),
        "raw" => Ok(whole(Content::Other {
            disko_type: "raw".into(),
        })),
        "example" => {
            let name = spec
                .example
                .as_deref()
                .ok_or("kind `example` needs `example = NAME`")?;
            let ts =
                btrtune_advisor::toolstack::Toolstack::example(name).map_err(|e| e.to_string())?;
            let db = btrtune_advisor::profiles::ToolDb::bundled().map_err(|e| e.to_string())?;
            let p = btrtune_advisor::plan::plan(&ts, &db, None, None).map_err(|e| e.to_string())?;
            need_target(&p.layout, spec)?;
            Ok(p.layout)
        }
        "disko" => {
            let f = spec
                .disko
                .as_deref()
                .ok_or("kind `disko` needs `disko = PATH`")?;
            let path: PathBuf = dir.map_or_else(|| PathBuf::from(f), |d| d.join(f));
            let parsed = btrtune_advisor::disko::parse::parse_file(&path, &Default::default())
                .map_err(|e| e.to_string())?;
            let mut layout = parsed.layout;
            as_the_kernel_mounts(&mut layout);
            need_target(&layout, spec)?;
            Ok(layout)
        }
        o => Err(format!(
            "kind `{o}`: expected btrfs, ext4, xfs, raw, example or disko"
        )),
    }
}

/// Drops the filesystem-wide options that later mounts of a disko.nix ask for: the kernel
/// keeps only the first mount's (btrfs-tuning-facts.md §1.1), so the layout is measured as
/// users actually run it (disko's own example asks for `compress=zstd` on `/home` and `/nix`
/// after `/` mounts without it).
pub fn as_the_kernel_mounts(layout: &mut Layout) {
    for fs in layout.btrfs_filesystems_mut() {
        if let Some(t) = fs.top_level.as_mut() {
            t.fs_override = None;
        }
        for s in &mut fs.subvolumes {
            if let Some(m) = s.mount.as_mut() {
                m.fs_override = None;
            }
        }
    }
}

fn need_target(l: &Layout, spec: &LayoutSpec) -> Result<(), String> {
    let t = spec
        .target
        .as_deref()
        .ok_or("needs `target = MOUNTPOINT` (where workloads run)")?;
    if l.mountpoints().iter().any(|(m, _)| m == t) {
        Ok(())
    } else {
        Err(format!("the layout mounts nothing at {t}"))
    }
}

/// A cell: one candidate with one workload.
pub struct Cell {
    /// Stable identifier.
    pub id: String,
    /// The candidate's name.
    pub layout_name: String,
    /// Its layout.
    pub layout: Layout,
    /// The workload.
    pub workload: Box<dyn Workload>,
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("id", &self.id)
            .field("layout", &self.layout_name)
            .field("workload", &self.workload.name())
            .finish()
    }
}

/// Makes the workload of a spec, running at `target`.
pub fn workload(spec: &WorkloadSpec, target: Target) -> Result<Box<dyn Workload>, HarnessError> {
    btrtune_workloads::build(spec, target).map_err(|e| HarnessError::Input {
        path: "matrix".into(),
        line: 0,
        message: format!("workload {}: {e}", spec.label()),
    })
}

impl Matrix {
    /// The cells, workloads outer and candidates inner (the runner shuffles each round of
    /// runs, so that candidates interleave). Raw candidates get only the workloads that can run on
    /// a device, file workloads skip the raw candidate, and workloads that need btrfs
    /// (subvolumes, snapshots) skip ext4 and xfs candidates.
    pub fn cells(&self, quick: bool) -> Result<Vec<Cell>, HarnessError> {
        let mut out = Vec::new();
        for w in &self.workloads {
            for (spec, layout) in &self.layouts {
                let target = target_of(spec);
                let work = match workload(w, target.clone()) {
                    Ok(work) => work,
                    // A job that cannot run on this kind of target is not a cell.
                    Err(_) if target == Target::Device => continue,
                    Err(e) => return Err(e),
                };
                let is_btrfs = matches!(
                    crate::build::buildable(layout),
                    Ok(crate::build::Buildable::Btrfs(_))
                );
                if work.needs_btrfs() && !is_btrfs {
                    continue;
                }
                let id = crate::record::cell_id(&serde_json::json!({
                    "layout": layout.without_reasons(),
                    "workload": work.name(),
                    "params": work.params(),
                    "target": target,
                    "quick": quick,
                }));
                out.push(Cell {
                    id,
                    layout_name: spec.name.clone(),
                    layout: layout.clone(),
                    workload: work,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"name = "t"
size = "2G"
[runs]
min = 2
max = 4
[quick]
min = 1
max = 1
size = "512M"
[[layout]]
name = "cow"
[[layout]]
name = "raw"
kind = "raw"
[[workload]]
fio = "randwrite-4k-fsync"
[[workload]]
fio = "smallfile-create"
"#;

    fn err(text: &str) -> String {
        Matrix::parse(text, "m.toml", None).unwrap_err().to_string()
    }

    #[test]
    fn the_bundled_matrices_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/matrix");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        assert!(files.len() >= 5, "{files:?}");
        for p in files {
            let name = p.display().to_string();
            let m = Matrix::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!m.cells(false).unwrap().is_empty(), "{name}");
            assert!(
                m.size_for(true).unwrap() <= m.size_for(false).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn cells_alternate_candidates_and_skip_file_jobs_on_the_raw_device() {
        let m = Matrix::parse(OK, "m.toml", None).unwrap();
        assert_eq!(m.size, 2 << 30);
        assert_eq!(m.size_for(true).unwrap(), 512 << 20);
        let cells = m.cells(false).unwrap();
        let names: Vec<(&str, &str)> = cells
            .iter()
            .map(|c| (c.layout_name.as_str(), c.workload.name()))
            .collect();
        // smallfile-create needs a filesystem: no raw cell for it.
        assert_eq!(
            names,
            [
                ("cow", "fio-randwrite-4k-fsync"),
                ("raw", "fio-randwrite-4k-fsync"),
                ("cow", "fio-smallfile-create"),
            ]
        );
        // Identities are stable and differ between quick and full runs.
        let again = m.cells(false).unwrap();
        assert_eq!(cells[0].id, again[0].id);
        assert_ne!(cells[0].id, m.cells(true).unwrap()[0].id);
        assert_ne!(cells[0].id, cells[1].id);
    }

    #[test]
    fn a_params_table_gives_parameters_named_like_a_kind() {
        let m = Matrix::parse(
            &OK.replace(
                "fio = \"smallfile-create\"",
                "containers = \"btrfs\"\nlayers = 2\nparams = { containers = 32 }",
            ),
            "m.toml",
            None,
        )
        .unwrap();
        let p = &m.workloads[1].params;
        assert_eq!(p["containers"], 32);
        assert_eq!(p["layers"], 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = err(&OK.replace("fio = \"smallfile-create\"", "fio = \"smallfile\""));
        assert!(
            e.starts_with("m.toml:17: workload fio=smallfile: unknown fio job `smallfile`"),
            "{e}"
        );
        let e = err(&OK.replace(
            "fio = \"smallfile-create\"",
            "fio = \"smallfile-create\"\nwal = \"x\"",
        ));
        assert!(e.starts_with("m.toml:17: a workload has one kind"), "{e}");
        let e = err(&OK.replace("fio = \"smallfile-create\"", "bs = 4096"));
        assert!(
            e.starts_with("m.toml:17: a workload needs one of the keys"),
            "{e}"
        );
        let e = err(&OK.replace(
            "name = \"raw\"\nkind = \"raw\"",
            "name = \"raw\"\nkind = \"zfs\"",
        ));
        assert!(e.starts_with("m.toml:13: layout `raw`: kind `zfs`"), "{e}");
        let e = err(&OK.replace("max = 4", "max = 1"));
        assert!(
            e.starts_with("m.toml:3: [runs]: need 1 <= min <= max"),
            "{e}"
        );
        let e = err(&OK.replace("size = \"512M\"", "size = \"lots\""));
        assert!(e.starts_with("m.toml:9: size:"), "{e}");
        let e = err(&OK.replace("name = \"raw\"", "name = \"cow\""));
        assert!(
            e.starts_with("m.toml:13: layout `cow` is defined twice"),
            "{e}"
        );
        let e = err(&OK.replace("min = 2", "mn = 2"));
        assert!(e.starts_with("m.toml:4:") && e.contains("mn"), "{e}");
        let e = err("name = \"t\"\n[runs]\nmin = 1\nmax = 1\n[[layout]]\nname = \"a\"\n");
        assert!(e.contains("workload"), "{e}");
        let e = err(&OK.replace(
            "fio = \"smallfile-create\"",
            "containers = \"btrfs\"\nlayers = 2\nparams = { layers = 3 }",
        ));
        assert!(
            e.starts_with("m.toml:17: parameter `layers` is given twice"),
            "{e}"
        );
        let e = err(&OK.replace("name = \"cow\"", "name = \"cow\"\ncompress = \"brotli\""));
        assert!(e.starts_with("m.toml:11: layout `cow`:"), "{e}");
    }
}
