//! The fio job library: our own copies of the job files (`workloads/fio/*.fio`), embedded.
//!
//! fio's JSON echo of the options drops flag options (`time_based`), so the job file is what
//! gets recorded with every result. Each file takes its run length and file size from the
//! environment (`runtime=${BTRTUNE_RUNTIME}`, `size=${BTRTUNE_SIZE}`), has `time_based` and
//! `ramp_time=2`, and names no file or directory: the runner passes `--directory=<dir>` or
//! `--filename=<device>` on the command line.

use serde::Serialize;

/// Environment variable that carries the measured seconds (`runtime=`).
pub const RUNTIME_VAR: &str = "BTRTUNE_RUNTIME";
/// Environment variable that carries the file size in bytes (`size=`).
pub const SIZE_VAR: &str = "BTRTUNE_SIZE";
/// The `ramp_time` of every library job, in seconds.
pub const RAMP_S: u32 = 2;

/// The headline metric of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Primary {
    /// Operations per second (small-block jobs).
    Iops,
    /// Bytes per second (sequential jobs).
    BytesPerS,
}

impl Primary {
    /// The name used in [`Measurement::primary`](crate::Measurement::primary).
    pub fn as_str(self) -> &'static str {
        match self {
            Primary::Iops => "iops",
            Primary::BytesPerS => "bytes_per_s",
        }
    }
}

/// How long and how big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sizing {
    /// Measured seconds (`runtime`), after the ramp.
    pub runtime_s: u32,
    /// File size in bytes (`size`); on a device, fio stops at the device's end.
    pub size_bytes: u64,
}

impl Sizing {
    /// A sizing of `runtime_s` seconds over `size_mib` MiB.
    pub const fn new(runtime_s: u32, size_mib: u64) -> Self {
        Self {
            runtime_s,
            size_bytes: size_mib * 1024 * 1024,
        }
    }
}

/// A job of the library.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct FioJob {
    /// Name: the file stem and the fio section name (`randwrite-4k-fsync`).
    pub name: &'static str,
    /// What real program pattern it stands for, in one line.
    pub stands_for: &'static str,
    /// The job file's text.
    pub text: &'static str,
    /// Headline metric.
    pub primary: Primary,
    /// Whether it may run on a raw device (`direct=1`, one file, no file creation).
    pub device: bool,
    /// Sizing for quick (CI) runs.
    pub quick: Sizing,
    /// Sizing for full runs.
    pub full: Sizing,
}

impl FioJob {
    /// The sizing for `quick` or full runs.
    pub fn sizing(&self, quick: bool) -> Sizing {
        if quick { self.quick } else { self.full }
    }
}

const QUICK_SMALL: Sizing = Sizing::new(3, 16);
const QUICK: Sizing = Sizing::new(3, 32);
const QUICK_LARGE: Sizing = Sizing::new(3, 64);

/// Every job of the library.
pub static JOBS: &[FioJob] = &[
    FioJob {
        name: "randwrite-4k-fsync",
        stands_for: "a database updating pages in place with O_DIRECT and an fsync per commit (InnoDB O_DIRECT, etcd/bbolt); raw capability job",
        text: include_str!("../../fio/randwrite-4k-fsync.fio"),
        primary: Primary::Iops,
        device: true,
        quick: QUICK,
        full: Sizing::new(30, 256),
    },
    FioJob {
        name: "randwrite-4k-fsync-buffered",
        stands_for: "an embedded database writing pages through the page cache with an fsync per commit (SQLite rollback journal, LMDB)",
        text: include_str!("../../fio/randwrite-4k-fsync-buffered.fio"),
        primary: Primary::Iops,
        device: false,
        quick: QUICK,
        full: Sizing::new(30, 256),
    },
    FioJob {
        name: "randread-4k-qd32",
        stands_for: "concurrent random reads missing the cache (database index lookups, VM image reads); raw capability job",
        text: include_str!("../../fio/randread-4k-qd32.fio"),
        primary: Primary::Iops,
        device: true,
        quick: QUICK_LARGE,
        full: Sizing::new(30, 1024),
    },
    FioJob {
        name: "seqwrite-128k",
        stands_for: "streaming large files out (backups, media, image blobs); raw capability job",
        text: include_str!("../../fio/seqwrite-128k.fio"),
        primary: Primary::BytesPerS,
        device: true,
        quick: QUICK_LARGE,
        full: Sizing::new(30, 1024),
    },
    FioJob {
        name: "seqread-128k",
        stands_for: "reading large files front to back (restores, media, VM image copies, scans); raw capability job",
        text: include_str!("../../fio/seqread-128k.fio"),
        primary: Primary::BytesPerS,
        device: true,
        quick: QUICK_LARGE,
        full: Sizing::new(30, 1024),
    },
    FioJob {
        name: "randrw70-4k",
        stands_for: "an OLTP database's data files or a busy VM disk image: 70/30 random reads and writes; raw capability job",
        text: include_str!("../../fio/randrw70-4k.fio"),
        primary: Primary::Iops,
        device: true,
        quick: QUICK_LARGE,
        full: Sizing::new(30, 1024),
    },
    FioJob {
        name: "smallfile-create",
        stands_for: "unpacking many small files (container layers, git checkout, Nix store paths, package installs)",
        text: include_str!("../../fio/smallfile-create.fio"),
        primary: Primary::Iops,
        device: false,
        quick: QUICK_SMALL,
        full: Sizing::new(30, 64),
    },
    FioJob {
        name: "wal-8k-fdatasync",
        stands_for: "a write-ahead log with one committer: 8 KiB write + fdatasync per commit (PostgreSQL WAL, etcd)",
        text: include_str!("../../fio/wal-8k-fdatasync.fio"),
        primary: Primary::Iops,
        device: false,
        quick: QUICK_SMALL,
        full: Sizing::new(30, 64),
    },
];

/// The library job called `name`.
pub fn job(name: &str) -> Option<&'static FioJob> {
    JOBS.iter().find(|j| j.name == name)
}

/// The names of all library jobs.
pub fn names() -> impl Iterator<Item = &'static str> {
    JOBS.iter().map(|j| j.name)
}

/// The `key=value` options of a job file (comments, section headers and blank lines skipped;
/// flag options come back with an empty value), in file order, with their section.
pub fn options(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        out.push((section.clone(), key.to_owned(), value.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt<'a>(opts: &'a [(String, String, String)], key: &str) -> Option<&'a str> {
        opts.iter()
            .rev()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, v)| v.as_str())
    }

    #[test]
    fn every_job_follows_the_rules() {
        let mut names: Vec<_> = names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), JOBS.len(), "job names are unique");
        for job in JOBS {
            let opts = options(job.text);
            let sections: Vec<_> = {
                let mut s: Vec<_> = opts
                    .iter()
                    .map(|(s, _, _)| s.as_str())
                    .filter(|s| *s != "global")
                    .collect();
                s.dedup();
                s
            };
            assert_eq!(
                sections,
                vec![job.name],
                "{}: one job section named after the file",
                job.name
            );
            assert!(
                job.text.starts_with(&format!("# {}: ", job.name)),
                "{}: opens with a comment naming it",
                job.name
            );
            assert!(
                job.text.contains("Stands for:"),
                "{}: says what it stands for",
                job.name
            );
            assert!(
                opt(&opts, "time_based") == Some(""),
                "{}: time_based",
                job.name
            );
            assert_eq!(opt(&opts, "ramp_time"), Some("2"), "{}", job.name);
            assert_eq!(
                opt(&opts, "runtime"),
                Some("${BTRTUNE_RUNTIME}"),
                "{}",
                job.name
            );
            assert_eq!(opt(&opts, "size"), Some("${BTRTUNE_SIZE}"), "{}", job.name);
            assert_eq!(opt(&opts, "fallocate"), Some("none"), "{}", job.name);
            for forbidden in [
                "directory",
                "filename",
                "filename_format",
                "opendir",
                "output",
            ] {
                assert!(
                    opt(&opts, forbidden).is_none(),
                    "{}: no {forbidden}=",
                    job.name
                );
            }
            let writes = opt(&opts, "rw")
                .is_some_and(|rw| rw.contains("write") || rw == "randrw" || rw == "rw");
            if writes && job.name != "smallfile-create" {
                assert_eq!(
                    opt(&opts, "overwrite"),
                    Some("1"),
                    "{}: COW must COW",
                    job.name
                );
            }
            if job.device {
                assert_eq!(
                    opt(&opts, "direct"),
                    Some("1"),
                    "{}: device jobs are direct",
                    job.name
                );
                assert!(opt(&opts, "nrfiles").is_none() && opt(&opts, "create_on_open").is_none());
            }
            assert!(
                job.quick.runtime_s <= 5 && job.quick.size_bytes <= 64 << 20,
                "{}: quick is quick",
                job.name
            );
            assert!(job.full.runtime_s >= 10, "{}", job.name);
        }
    }

    #[test]
    fn options_reader() {
        let o = options("# c\n[global]\ntime_based\nbs = 4k\n\n[x]\nrw=read\n");
        assert_eq!(
            o,
            vec![
                ("global".into(), "time_based".into(), String::new()),
                ("global".into(), "bs".into(), "4k".into()),
                ("x".into(), "rw".into(), "read".into()),
            ]
        );
    }
}
