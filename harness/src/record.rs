//! Results: JSON Lines, one record per run.
//!
//! Each record is appended with one `write` and synced before the next run starts. If a
//! crash (power loss) still leaves a partial last line, the file is repaired on open: the
//! torn tail is cut off and reported, so the file never holds a torn record that a reader
//! would trip on. Re-running a matrix reads the finished runs back and skips them.

use crate::error::HarnessError;
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::layout::Layout;
use btrtune_workloads::{Measurement, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

/// Version of the record format.
pub const SCHEMA_VERSION: u32 = 1;

/// The machine a run was made on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// `btrfs --version`.
    pub btrfs_progs: String,
    /// `fio --version`.
    pub fio: String,
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: u32,
}

/// The device under test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceUnderTest {
    /// Its hardware class (for a loop device: the class of what holds the backing file).
    pub class: DeviceClass,
    /// `loop` or `spare`.
    pub kind: String,
    /// Loop direct I/O as the kernel reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_dio: Option<bool>,
    /// Filesystem type holding the backing file (`ext4`, `tmpfs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing_fs: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Filesystem facts measured after the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FsFacts {
    /// Bytes used on the filesystem (`btrfs filesystem usage -b` "Used", or statvfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// Data extents of the files the workload left in its directory (`filefrag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extents: Option<u64>,
    /// Files counted for `extents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Options of the workload's mount as applied (`/proc/self/mountinfo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_options: Vec<String>,
    /// Sectors written to the device during the run (`/sys/block/<dev>/stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_sectors_written: Option<u64>,
    /// Flushes sent to the device during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_flushes: Option<u64>,
}

/// How long the harness's own steps took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// mkfs, mounts, subvolumes, attributes, verification, cache drop.
    pub setup_s: f64,
    /// The workload.
    pub run_s: f64,
    /// Measuring the filesystem and unmounting.
    pub teardown_s: f64,
}

/// The workload of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// Name.
    pub name: String,
    /// Parameters.
    pub params: serde_json::Value,
    /// Where it ran.
    pub target: Target,
}

/// One run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The cell (layout + workload + settings) this run belongs to.
    pub cell: String,
    /// The matrix it came from.
    pub matrix: String,
    /// The layout's name in the matrix.
    pub layout_name: String,
    /// Index of this run within its cell (0-based).
    pub run: u32,
    /// Quick (CI) settings.
    pub quick: bool,
    /// When it started (Unix seconds).
    pub started_unix: u64,
    /// The machine.
    pub host: Host,
    /// The device.
    pub device: DeviceUnderTest,
    /// The full layout.
    pub layout: Layout,
    /// The workload.
    pub workload: WorkloadRef,
    /// What the workload measured.
    pub measurement: Measurement,
    /// What the filesystem looked like afterwards.
    pub fs: FsFacts,
    /// The harness's own time.
    pub timings: Timings,
}

/// An open results file.
#[derive(Debug)]
pub struct Results {
    path: PathBuf,
    file: std::fs::File,
    /// Records read when it was opened.
    pub existing: Vec<RunRecord>,
    /// Bytes cut off a torn last line, if any.
    pub repaired: Option<usize>,
}

impl Results {
    /// Opens (creating) a results file, repairing a torn tail and reading what is there.
    pub fn open(path: &Path) -> Result<Results, HarnessError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| HarnessError::io(parent, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| HarnessError::io(path, e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| HarnessError::io(path, e))?;
        let mut repaired = None;
        if !text.is_empty() && !text.ends_with('\n') {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            repaired = Some(text.len() - keep);
            file.set_len(keep as u64)
                .map_err(|e| HarnessError::io(path, e))?;
            file.sync_all().map_err(|e| HarnessError::io(path, e))?;
            text.truncate(keep);
        }
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| HarnessError::io(path, e))?;
        let existing = parse(&text, &path.display().to_string())?;
        Ok(Results {
            path: path.to_path_buf(),
            file,
            existing,
            repaired,
        })
    }

    /// Appends one record durably.
    pub fn append(&mut self, r: &RunRecord) -> Result<(), HarnessError> {
        let mut line = serde_json::to_string(r).map_err(|e| HarnessError::Input {
            path: self.path.display().to_string(),
            line: 0,
            message: format!("cannot serialise a record: {e}"),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| HarnessError::io(&self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| HarnessError::io(&self.path, e))
    }

    /// How many runs each cell has.
    pub fn runs_per_cell(&self) -> BTreeMap<String, u32> {
        let mut m = BTreeMap::new();
        for r in &self.existing {
            *m.entry(r.cell.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// Parses JSON Lines of records; a bad line is an error naming it.
pub fn parse(text: &str, origin: &str) -> Result<Vec<RunRecord>, HarnessError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: RunRecord = serde_json::from_str(line).map_err(|e| HarnessError::Input {
            path: origin.to_string(),
            line: i + 1,
            message: format!("not a btrtune run record: {e}"),
        })?;
        if r.schema_version != SCHEMA_VERSION {
            return Err(HarnessError::Input {
                path: origin.to_string(),
                line: i + 1,
                message: format!(
                    "record format {} is not the one this btrtune reads ({SCHEMA_VERSION})",
                    r.schema_version
                ),
            });
        }
        out.push(r);
    }
    Ok(out)
}

/// Reads a results file.
pub fn read(path: &Path) -> Result<Vec<RunRecord>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|e| HarnessError::io(path, e))?;
    parse(&text, &path.display().to_string())
}

/// A stable identifier of a cell: FNV-1a over the canonical JSON of what makes it.
pub fn cell_id(parts: &serde_json::Value) -> String {
    format!("{:016x}", fnv1a(parts.to_string().as_bytes()))
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and on every machine).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::matrix::{LayoutSpec, candidate};

    /// A plausible record, for tests.
    pub(crate) fn record(cell: &str, run: u32) -> RunRecord {
        let spec = LayoutSpec {
            name: "cow".into(),
            kind: "btrfs".into(),
            ..LayoutSpec::default()
        };
        RunRecord {
            schema_version: SCHEMA_VERSION,
            cell: cell.into(),
            matrix: "t".into(),
            layout_name: "cow".into(),
            run,
            quick: true,
            started_unix: 1,
            host: Host {
                hostname: "h".into(),
                kernel: "6.18".into(),
                btrfs_progs: "btrfs-progs v6.2".into(),
                fio: "fio-3.33".into(),
                cpu: "cpu".into(),
                cpus: 2,
            },
            device: DeviceUnderTest {
                class: DeviceClass::Virtio,
                kind: "loop".into(),
                loop_dio: Some(true),
                backing_fs: Some("ext4".into()),
                size_bytes: 1 << 30,
            },
            layout: candidate(&spec, None).unwrap(),
            workload: WorkloadRef {
                name: "fio-randwrite-4k-fsync".into(),
                params: serde_json::json!({"bs": 4096}),
                target: Target::Mount {
                    mountpoint: "/data".into(),
                },
            },
            measurement: Measurement {
                primary: "iops".into(),
                value: 1000.0 + f64::from(run),
                runtime_s: 3.0,
                ..Measurement::default()
            },
            fs: FsFacts::default(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn appended_records_read_back_and_count_per_cell() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/r.jsonl");
        let mut r = Results::open(&p).unwrap();
        assert!(r.existing.is_empty() && r.repaired.is_none());
        r.append(&record("a", 1)).unwrap();
        r.append(&record("a", 2)).unwrap();
        r.append(&record("b", 1)).unwrap();
        drop(r);
        let r = Results::open(&p).unwrap();
        assert_eq!(r.existing.len(), 3);
        assert_eq!(r.existing[1], record("a", 2));
        assert_eq!(
            r.runs_per_cell(),
            BTreeMap::from([("a".into(), 2), ("b".into(), 1)])
        );
        assert_eq!(read(&p).unwrap().len(), 3);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let mut r = Results::open(&p).unwrap();
        r.append(&record("a", 1)).unwrap();
        drop(r);
        // A crash in the middle of the second append: half a line, or zeros the file system
        // had not written yet.
        let whole = serde_json::to_string(&record("a", 2)).unwrap();
        for torn in [&whole.as_bytes()[..whole.len() / 2], &[0u8; 100][..]] {
            let good = std::fs::read(&p).unwrap();
            let mut bytes = good.clone();
            bytes.extend_from_slice(torn);
            std::fs::write(&p, &bytes).unwrap();
            let mut r = Results::open(&p).unwrap();
            assert_eq!(r.repaired, Some(torn.len()));
            assert_eq!(r.existing.len(), 1);
            assert_eq!(std::fs::read(&p).unwrap(), good);
            r.append(&record("a", 2)).unwrap();
            drop(r);
            assert_eq!(read(&p).unwrap().len(), 2);
            // Back to one record for the next case.
            std::fs::write(&p, &good).unwrap();
        }
    }

    #[test]
    fn a_bad_line_is_an_error_naming_it() {
        let good = serde_json::to_string(&record("a", 1)).unwrap();
        let text = format!("{good}\n{{\"schema_version\": 1}}\n{good}\n");
        let e = parse(&text, "r.jsonl").unwrap_err().to_string();
        assert!(e.starts_with("r.jsonl:2: not a btrtune run record"), "{e}");
        let newer = good.replacen("\"schema_version\":1", "\"schema_version\":2", 1);
        let e = parse(&format!("{good}\n\n{newer}\n"), "r.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.jsonl:3: record format 2"), "{e}");
    }

    #[test]
    fn cell_ids_are_stable_and_distinct() {
        let a = cell_id(&serde_json::json!({"layout": "a", "quick": true}));
        assert_eq!(
            a,
            cell_id(&serde_json::json!({"quick": true, "layout": "a"}))
        );
        assert_ne!(
            a,
            cell_id(&serde_json::json!({"layout": "a", "quick": false}))
        );
        assert_eq!(a.len(), 16);
    }
}
