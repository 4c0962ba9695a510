//! A parser of fio's JSON output (`--output-format=json` and `json+`), fio 3.x, with the
//! fallbacks that older 2.x output needs.
//!
//! Field paths follow `benchmark-method.md` §1.1 (fio `stat.c`). What the parser accepts:
//!
//! - Leading non-JSON text (`fio: ...` warnings, "note: both iodepth >= 1 and synchronous I/O
//!   engine are selected ...", which fio prints on standard output before the JSON): every line
//!   is skipped until one whose first non-blank character is `{`. Noise between or after
//!   documents is skipped the same way.
//! - Several concatenated documents (`--status-interval`): [`parse_all`] returns them all in
//!   order, [`parse`] the last one, which is the final result.
//! - Units are normalised: latencies in nanoseconds (the µs objects `clat`/`slat`/`lat` of
//!   fio < 3.0 are multiplied by 1000, their percentiles and bins too), bandwidth in bytes/s
//!   (`bw` in KiB/s × 1024 when `bw_bytes` is missing, fio < 3.2), `io_bytes` in bytes (it was
//!   KiB before fio 2.21, recognised by the missing `io_kbytes`).
//!
//! Errors name the origin and, for JSON syntax and type errors, the line and column in the
//! original input (counting the skipped noise). The parser never panics, whatever the bytes.

use super::hist::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One fio JSON document: the result of one fio run (or one `--status-interval` snapshot).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FioOutput {
    /// `"fio version"`, e.g. `fio-3.33`.
    pub fio_version: Option<String>,
    /// `timestamp`: seconds since the epoch when the run ended.
    pub timestamp: Option<u64>,
    /// `timestamp_ms`: the same in milliseconds.
    pub timestamp_ms: Option<u64>,
    /// `time`: the same, human-readable.
    pub time: Option<String>,
    /// `"global options"`: the `[global]` section (and command-line options) as fio echoes
    /// them. Flag options without a value (`time_based`) are missing (§1.4). When fio echoes
    /// an option twice (command line and job file), the later one, which is the one in
    /// force, is kept.
    pub global_options: BTreeMap<String, String>,
    /// `jobs[]`: one entry per job, or per group with `group_reporting`.
    pub jobs: Vec<JobResult>,
    /// `disk_util[]`: device statistics; present on block devices, missing for files on btrfs.
    pub disk_util: Vec<DiskUtil>,
}

/// One entry of `jobs[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JobResult {
    /// `jobname`. With `group_reporting`, the name of the group's first job.
    pub name: String,
    /// `groupid`.
    pub groupid: Option<u64>,
    /// `error`: 0, or the errno the job failed with.
    pub error: i64,
    /// `elapsed`: wall-clock seconds including file layout and ramp.
    pub elapsed_s: Option<u64>,
    /// `job_runtime` (fio ≥ 3.8): milliseconds the job ran, without ramp. Summed over the jobs
    /// with `group_reporting`.
    pub job_runtime_ms: Option<u64>,
    /// `"job options"`: the job's own options (strings), without flag options. With
    /// `group_reporting`, fio 3.33 echoes the options of the group's *last* job here.
    pub options: BTreeMap<String, String>,
    /// `read`.
    pub read: Option<DirStats>,
    /// `write`.
    pub write: Option<DirStats>,
    /// `trim`.
    pub trim: Option<DirStats>,
    /// `mixed`: with `unified_rw_reporting=mixed` the only direction object; with `=both`
    /// next to `read`/`write`/`trim`.
    pub mixed: Option<DirStats>,
    /// `sync` (fio ≥ 3.4): fsync/fdatasync statistics.
    pub sync: Option<SyncStats>,
    /// `usr_cpu`: user CPU, percent of one CPU.
    pub usr_cpu: f64,
    /// `sys_cpu`: system CPU, percent of one CPU.
    pub sys_cpu: f64,
    /// `ctx`: context switches.
    pub ctx: Option<u64>,
    /// `majf`: major page faults.
    pub majf: Option<u64>,
    /// `minf`: minor page faults.
    pub minf: Option<u64>,
}

/// An I/O direction of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ddir {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `trim`.
    Trim,
    /// `mixed` (`unified_rw_reporting`).
    Mixed,
}

impl Ddir {
    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            Ddir::Read => "read",
            Ddir::Write => "write",
            Ddir::Trim => "trim",
            Ddir::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Ddir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobResult {
    /// The direction object of `ddir`, if fio printed one.
    pub fn dir(&self, ddir: Ddir) -> Option<&DirStats> {
        match ddir {
            Ddir::Read => self.read.as_ref(),
            Ddir::Write => self.write.as_ref(),
            Ddir::Trim => self.trim.as_ref(),
            Ddir::Mixed => self.mixed.as_ref(),
        }
    }

    /// The direction objects that together count every I/O once: `read`, `write` and `trim`
    /// when any of them is present, otherwise `mixed` (so `unified_rw_reporting=both`, which
    /// prints all four, is not counted twice).
    pub fn directions(&self) -> Vec<(Ddir, &DirStats)> {
        let split: Vec<_> = [Ddir::Read, Ddir::Write, Ddir::Trim]
            .into_iter()
            .filter_map(|d| self.dir(d).map(|s| (d, s)))
            .collect();
        if split.is_empty() {
            self.mixed.iter().map(|s| (Ddir::Mixed, s)).collect()
        } else {
            split
        }
    }

    /// IOPS summed over [`directions`](Self::directions).
    pub fn iops(&self) -> f64 {
        self.directions().iter().map(|(_, s)| s.iops).sum()
    }

    /// Bytes/s summed over [`directions`](Self::directions).
    pub fn bytes_per_s(&self) -> f64 {
        self.directions()
            .iter()
            .map(|(_, s)| s.bw_bytes as f64)
            .sum()
    }
}

/// A direction object (`read`, `write`, `trim`, `mixed`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirStats {
    /// `io_bytes`: bytes transferred in the measured time.
    pub io_bytes: u64,
    /// `bw_bytes`: bytes per second (from `bw` × 1024 for fio < 3.2).
    pub bw_bytes: u64,
    /// `iops`.
    pub iops: f64,
    /// `runtime`: milliseconds of this direction.
    pub runtime_ms: u64,
    /// `total_ios`: I/Os issued.
    pub total_ios: u64,
    /// `short_ios`.
    pub short_ios: u64,
    /// `drop_ios`.
    pub drop_ios: u64,
    /// Submission latency (`slat_ns`, or `clat` × 1000). `N` is 0 for sync engines.
    pub slat: Option<LatStats>,
    /// Completion latency (`clat_ns`); for sync engines (psync) the whole syscall.
    pub clat: Option<LatStats>,
    /// Total latency (`lat_ns`).
    pub lat: Option<LatStats>,
    /// `iops_mean`: mean of the per-500 ms IOPS samples.
    pub iops_mean: Option<f64>,
    /// `iops_stddev`: their standard deviation (within-run spread).
    pub iops_stddev: Option<f64>,
    /// `iops_samples`: how many samples.
    pub iops_samples: Option<u64>,
}

impl DirStats {
    /// Whether any I/O was done in this direction.
    pub fn active(&self) -> bool {
        self.total_ios > 0 || self.io_bytes > 0 || self.clat.as_ref().is_some_and(|c| c.n > 0)
    }

    /// The latency to report: `clat`, or `lat` when only `lat` has percentiles
    /// (`lat_percentiles=1`).
    pub fn completion_latency(&self) -> Option<&LatStats> {
        match (&self.clat, &self.lat) {
            (Some(c), Some(l)) if !c.has_distribution() && l.has_distribution() => Some(l),
            (Some(c), _) => Some(c),
            (None, l) => l.as_ref(),
        }
    }
}

/// A latency object (`clat_ns`, `slat_ns`, `lat_ns`, `sync.lat_ns`), in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatStats {
    /// `min`.
    pub min_ns: f64,
    /// `max`.
    pub max_ns: f64,
    /// `mean`.
    pub mean_ns: f64,
    /// `stddev` (fio's sample standard deviation).
    pub stddev_ns: f64,
    /// `N`: number of samples (when missing: the bins' total, else the direction's
    /// `total_ios`).
    pub n: u64,
    /// `percentile`: `(percent, value_ns)`, ascending by percent.
    pub percentiles: Vec<(f64, f64)>,
    /// `bins` (`json+` only).
    pub bins: Option<Histogram>,
}

impl LatStats {
    /// The fio-reported value of the `p`-th percentile (matched to within 1e-6), or, when fio
    /// did not print that one but printed bins, the value read off the bins.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.reported_percentile(p).or_else(|| {
            self.bins
                .as_ref()
                .and_then(|b| b.percentile(p))
                .map(|v| v as f64)
        })
    }

    /// The `p`-th percentile exactly as fio printed it, if it did.
    pub fn reported_percentile(&self, p: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-6)
            .map(|&(_, v)| v)
    }

    /// Whether there are percentiles or bins.
    pub fn has_distribution(&self) -> bool {
        !self.percentiles.is_empty() || self.bins.as_ref().is_some_and(|b| !b.is_empty())
    }
}

/// The `sync` object: fsync/fdatasync/sync_file_range calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncStats {
    /// `total_ios`. fio counts only `fsync` calls here: it reads 0 for `fdatasync=1` jobs,
    /// whose calls are in `lat.n` (seen in `btrfs-loopdio-multijob.json`).
    pub total_ios: u64,
    /// `lat_ns`: latency of the sync calls.
    pub lat: LatStats,
}

impl SyncStats {
    /// Number of sync calls of any kind: `lat_ns.N`, or `total_ios` when `N` is 0.
    pub fn ops(&self) -> u64 {
        if self.lat.n > 0 {
            self.lat.n
        } else {
            self.total_ios
        }
    }
}

/// An entry of `disk_util[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiskUtil {
    /// `name` (`loop0`, `nvme0n1`).
    pub name: String,
    /// `read_ios`.
    pub read_ios: u64,
    /// `write_ios`.
    pub write_ios: u64,
    /// `read_merges`.
    pub read_merges: u64,
    /// `write_merges`.
    pub write_merges: u64,
    /// `read_ticks` (ms).
    pub read_ticks: u64,
    /// `write_ticks` (ms).
    pub write_ticks: u64,
    /// `in_queue` (ms).
    pub in_queue: u64,
    /// `util`: percent of the time the device was busy.
    pub util: f64,
}

/// Why fio's output could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Where the text came from (a file name, or `fio output`).
    pub origin: String,
    /// 1-based line of a JSON syntax or type error in the original text.
    pub line: Option<usize>,
    /// 1-based column of that error.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.origin, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.origin, self.message),
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for crate::WorkloadError {
    fn from(e: ParseError) -> Self {
        let message = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", e.message),
            (Some(l), None) => format!("line {l}: {}", e.message),
            _ => e.message,
        };
        crate::WorkloadError::Output {
            what: e.origin,
            message,
        }
    }
}

/// Parses fio's output and returns the last document (the final result when fio ran with
/// `--status-interval`). `origin` names the input in errors.
pub fn parse(text: &[u8], origin: &str) -> Result<FioOutput, ParseError> {
    let mut all = parse_all(text, origin)?;
    // parse_all never returns an empty list.
    all.pop().ok_or_else(|| ParseError {
        origin: origin.to_owned(),
        line: None,
        column: None,
        message: "no JSON document".to_owned(),
    })
}

/// Reads and parses a file (see [`parse`]); errors name the file.
pub fn parse_file(path: &Path) -> Result<FioOutput, ParseError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ParseError {
        origin: origin.clone(),
        line: None,
        column: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(&bytes, &origin)
}

/// Parses every JSON document in fio's output, in order, skipping non-JSON lines before,
/// between and after them. Fails when there is none, or when one is malformed.
pub fn parse_all(text: &[u8], origin: &str) -> Result<Vec<FioOutput>, ParseError> {
    let text = &*non_finite_to_null(text);
    let mut docs = Vec::new();
    let mut pos = 0;
    while let Some(start) = next_document(text, pos) {
        let mut stream =
            serde_json::Deserializer::from_slice(&text[start..]).into_iter::<RawOutput>();
        match stream.next() {
            Some(Ok(raw)) => {
                let index = docs.len();
                docs.push(raw.normalize().map_err(|message| ParseError {
                    origin: origin.to_owned(),
                    line: None,
                    column: None,
                    message: if index == 0 {
                        message
                    } else {
                        format!("document {}: {message}", index + 1)
                    },
                })?);
                pos = start + stream.byte_offset().max(1);
            }
            Some(Err(e)) => return Err(json_error(text, start, origin, &e)),
            None => break,
        }
    }
    if docs.is_empty() {
        let first = String::from_utf8_lossy(text);
        let first = first.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let message = if first.is_empty() {
            "no JSON document (the output is empty)".to_owned()
        } else {
            format!(
                "no JSON document (no line starts with `{{`); the output begins with {:?}",
                truncate(first, 200)
            )
        };
        return Err(ParseError {
            origin: origin.to_owned(),
            line: None,
            column: None,
            message,
        });
    }
    Ok(docs)
}

/// fio prints floats with `%f`, so a NaN or infinite value comes out as a bare `nan`, `-nan`,
/// `inf` or `-inf`, which is not JSON. Outside strings, such a value after `:` becomes `null`
/// (read as "missing"), keeping every byte offset so that error positions stay right:
/// `-nan` and `-inf` are replaced in place, `nan` and `inf` take the blank before them.
fn non_finite_to_null(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let suspicious = text
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"nan") || w.eq_ignore_ascii_case(b"inf"));
    if !suspicious {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_vec();
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < out.len() {
        let b = out[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b':' => {
                let mut j = i + 1;
                while j < out.len() && matches!(out[j], b' ' | b'\t') {
                    j += 1;
                }
                let rest = &out[j..];
                let token_len = [&b"-nan"[..], b"-inf", b"nan", b"inf"]
                    .into_iter()
                    .find(|t| rest.len() >= t.len() && rest[..t.len()].eq_ignore_ascii_case(t))
                    .map(<[u8]>::len);
                let ends = |k: usize| {
                    out.get(k)
                        .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_')
                };
                match token_len {
                    Some(4) if ends(j + 4) => out[j..j + 4].copy_from_slice(b"null"),
                    Some(3) if j > i + 1 && ends(j + 3) => {
                        out[j - 1..j + 3].copy_from_slice(b"null");
                    }
                    _ => {}
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The offset of the next `{` at or after `pos` that is the first non-blank character of its
/// line (or follows the end of the previous document); other lines are skipped.
fn next_document(text: &[u8], mut pos: usize) -> Option<usize> {
    while pos < text.len() {
        let mut i = pos;
        while i < text.len() && text[i].is_ascii_whitespace() && text[i] != b'\n' {
            i += 1;
        }
        match text.get(i) {
            Some(b'{') => return Some(i),
            Some(b'\n') => pos = i + 1,
            Some(_) => {
                // Noise: skip to the next line.
                pos = match text[i..].iter().position(|&b| b == b'\n') {
                    Some(nl) => i + nl + 1,
                    None => text.len(),
                };
            }
            None => return None,
        }
    }
    None
}

/// A serde_json error at an offset, placed in the whole text.
fn json_error(text: &[u8], start: usize, origin: &str, e: &serde_json::Error) -> ParseError {
    let before = &text[..start];
    let lines_before = before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |nl| nl + 1);
    let (line, column) = if e.line() == 0 {
        (None, None)
    } else if e.line() == 1 {
        (
            Some(lines_before + 1),
            Some(start - line_start + e.column()),
        )
    } else {
        (Some(lines_before + e.line()), Some(e.column()))
    };
    // serde_json appends " at line L column C" relative to the document; drop it.
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_owned();
    }
    let message = match e.classify() {
        serde_json::error::Category::Eof => format!("truncated JSON: {message}"),
        serde_json::error::Category::Syntax => format!("JSON syntax error: {message}"),
        serde_json::error::Category::Data => format!("unexpected fio JSON: {message}"),
        serde_json::error::Category::Io => message,
    };
    ParseError {
        origin: origin.to_owned(),
        line,
        column,
        message,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---- The raw serde shapes, normalised into the public types above. ----

#[derive(Deserialize)]
struct RawOutput {
    #[serde(rename = "fio version")]
    fio_version: Option<String>,
    timestamp: Option<u64>,
    timestamp_ms: Option<u64>,
    time: Option<String>,
    #[serde(rename = "global options")]
    global_options: Option<BTreeMap<String, String>>,
    jobs: Option<Vec<RawJob>>,
    disk_util: Option<Vec<RawDiskUtil>>,
    client_stats: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawJob {
    jobname: Option<String>,
    groupid: Option<u64>,
    error: Option<i64>,
    elapsed: Option<u64>,
    job_runtime: Option<u64>,
    #[serde(rename = "job options")]
    job_options: Option<BTreeMap<String, String>>,
    read: Option<RawDir>,
    write: Option<RawDir>,
    trim: Option<RawDir>,
    mixed: Option<RawDir>,
    sync: Option<RawSync>,
    usr_cpu: Option<f64>,
    sys_cpu: Option<f64>,
    ctx: Option<u64>,
    majf: Option<u64>,
    minf: Option<u64>,
}

#[derive(Deserialize)]
struct RawDir {
    io_bytes: Option<u64>,
    io_kbytes: Option<u64>,
    bw_bytes: Option<u64>,
    bw: Option<f64>,
    iops: Option<f64>,
    runtime: Option<u64>,
    total_ios: Option<u64>,
    short_ios: Option<u64>,
    drop_ios: Option<u64>,
    slat_ns: Option<RawLat>,
    clat_ns: Option<RawLat>,
    lat_ns: Option<RawLat>,
    slat: Option<RawLat>,
    clat: Option<RawLat>,
    lat: Option<RawLat>,
    iops_mean: Option<f64>,
    iops_stddev: Option<f64>,
    iops_samples: Option<u64>,
}

#[derive(Deserialize)]
struct RawSync {
    total_ios: Option<u64>,
    lat_ns: Option<RawLat>,
    lat: Option<RawLat>,
}

#[derive(Deserialize)]
struct RawLat {
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    stddev: Option<f64>,
    #[serde(rename = "N")]
    n: Option<u64>,
    percentile: Option<BTreeMap<String, f64>>,
    bins: Option<BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct RawDiskUtil {
    name: Option<String>,
    read_ios: Option<u64>,
    write_ios: Option<u64>,
    read_merges: Option<u64>,
    write_merges: Option<u64>,
    read_ticks: Option<u64>,
    write_ticks: Option<u64>,
    in_queue: Option<u64>,
    util: Option<f64>,
}

impl RawOutput {
    fn normalize(self) -> Result<FioOutput, String> {
        let Some(raw_jobs) = self.jobs else {
            return Err(if self.client_stats.is_some() {
                "client/server output (`client_stats`) is not supported; run fio locally".to_owned()
            } else {
                "no `jobs` array: not fio JSON output".to_owned()
            });
        };
        let mut jobs = Vec::with_capacity(raw_jobs.len());
        for (i, job) in raw_jobs.into_iter().enumerate() {
            jobs.push(job.normalize(i)?);
        }
        Ok(FioOutput {
            fio_version: self.fio_version,
            timestamp: self.timestamp,
            timestamp_ms: self.timestamp_ms,
            time: self.time,
            global_options: self.global_options.unwrap_or_default(),
            jobs,
            disk_util: self
                .disk_util
                .unwrap_or_default()
                .into_iter()
                .map(RawDiskUtil::normalize)
                .collect(),
        })
    }
}

impl RawJob {
    fn normalize(self, index: usize) -> Result<JobResult, String> {
        let name = self
            .jobname
            .ok_or_else(|| format!("jobs[{index}]: no `jobname`"))?;
        let at = |what: &str| format!("jobs[{index}] ({name}).{what}");
        if self.read.is_none()
            && self.write.is_none()
            && self.trim.is_none()
            && self.mixed.is_none()
        {
            return Err(format!(
                "jobs[{index}] ({name}): no `read`, `write`, `trim` or `mixed` object"
            ));
        }
        let dir = |raw: Option<RawDir>, key: &str| raw.map(|d| d.normalize(&at(key))).transpose();
        let read = dir(self.read, "read")?;
        let write = dir(self.write, "write")?;
        let trim = dir(self.trim, "trim")?;
        let mixed = dir(self.mixed, "mixed")?;
        let sync = match self.sync {
            None => None,
            Some(s) => {
                let total_ios = s.total_ios.unwrap_or(0);
                let lat = match (s.lat_ns, s.lat) {
                    (Some(l), _) => Some(l.normalize(&at("sync.lat_ns"), 1, total_ios)?),
                    (None, Some(l)) => Some(l.normalize(&at("sync.lat"), 1000, total_ios)?),
                    (None, None) => None,
                };
                lat.map(|lat| SyncStats { total_ios, lat })
            }
        };
        for (key, v) in [("usr_cpu", self.usr_cpu), ("sys_cpu", self.sys_cpu)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(format!("{}: not a finite number", at(key)));
            }
        }
        Ok(JobResult {
            error: self.error.unwrap_or(0),
            groupid: self.groupid,
            elapsed_s: self.elapsed,
            job_runtime_ms: self.job_runtime,
            options: self.job_options.unwrap_or_default(),
            read,
            write,
            trim,
            mixed,
            sync,
            usr_cpu: self.usr_cpu.unwrap_or(0.0),
            sys_cpu: self.sys_cpu.unwrap_or(0.0),
            ctx: self.ctx,
            majf: self.majf,
            minf: self.minf,
            name,
        })
    }
}

impl RawDir {
    fn normalize(self, at: &str) -> Result<DirStats, String> {
        let iops = self.iops.ok_or_else(|| format!("{at}: no `iops`"))?;
        let runtime_ms = self.runtime.ok_or_else(|| format!("{at}: no `runtime`"))?;
        if !iops.is_finite() || iops < 0.0 {
            return Err(format!("{at}.iops: {iops} is not a rate"));
        }
        let io_bytes = match (self.io_bytes, self.io_kbytes) {
            (Some(b), Some(_)) => b,
            // fio < 2.21 printed io_bytes in KiB and had no io_kbytes.
            (Some(kib), None) => kib.saturating_mul(1024),
            (None, Some(kib)) => kib.saturating_mul(1024),
            (None, None) => return Err(format!("{at}: no `io_bytes`")),
        };
        let bw_bytes = match (self.bw_bytes, self.bw) {
            (Some(b), _) => b,
            (None, Some(kib)) if kib.is_finite() && kib >= 0.0 => (kib * 1024.0) as u64,
            (None, Some(kib)) => return Err(format!("{at}.bw: {kib} is not a rate")),
            (None, None) if runtime_ms > 0 => {
                (u128::from(io_bytes) * 1000 / u128::from(runtime_ms)) as u64
            }
            (None, None) => 0,
        };
        let total_ios = self.total_ios.unwrap_or(0);
        let lat = |ns: Option<RawLat>, us: Option<RawLat>, key: &str| match (ns, us) {
            (Some(l), _) => l
                .normalize(&format!("{at}.{key}_ns"), 1, total_ios)
                .map(Some),
            (None, Some(l)) => l
                .normalize(&format!("{at}.{key}"), 1000, total_ios)
                .map(Some),
            (None, None) => Ok(None),
        };
        Ok(DirStats {
            io_bytes,
            bw_bytes,
            iops,
            runtime_ms,
            total_ios,
            short_ios: self.short_ios.unwrap_or(0),
            drop_ios: self.drop_ios.unwrap_or(0),
            slat: lat(self.slat_ns, self.slat, "slat")?,
            clat: lat(self.clat_ns, self.clat, "clat")?,
            lat: lat(self.lat_ns, self.lat, "lat")?,
            iops_mean: self.iops_mean.filter(|v| v.is_finite()),
            iops_stddev: self.iops_stddev.filter(|v| v.is_finite()),
            iops_samples: self.iops_samples,
        })
    }
}

impl RawLat {
    /// `scale` converts to ns (1000 for the µs objects of fio < 3.0).
    fn normalize(self, at: &str, scale: u64, fallback_n: u64) -> Result<LatStats, String> {
        let f = scale as f64;
        let num = |v: Option<f64>, key: &str| -> Result<f64, String> {
            match v {
                Some(v) if v.is_finite() => Ok(v * f),
                Some(v) => Err(format!("{at}.{key}: {v} is not a finite number")),
                None => Ok(0.0),
            }
        };
        let mut percentiles = Vec::new();
        for (key, value) in self.percentile.unwrap_or_default() {
            let p: f64 = key
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=100.0).contains(p))
                .ok_or_else(|| format!("{at}.percentile: key {key:?} is not a percentile"))?;
            if !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "{at}.percentile[{key:?}]: {value} is not a latency"
                ));
            }
            percentiles.push((p, value * f));
        }
        percentiles.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bins = match self.bins {
            None => None,
            Some(raw) => {
                let mut h = Histogram::new();
                for (key, count) in raw {
                    let value: u64 = key.trim().parse().map_err(|_| {
                        format!(
                            "{at}.bins: key {key:?} is not a latency in ns (json+ of fio ≥ 2.20)"
                        )
                    })?;
                    h.add(value, count);
                }
                Some(if scale == 1 { h } else { h.scaled(scale) })
            }
        };
        let n = match (self.n, &bins) {
            (Some(n), _) => n,
            (None, Some(b)) => b.count(),
            (None, None) => fallback_n,
        };
        Ok(LatStats {
            min_ns: num(self.min, "min")?,
            max_ns: num(self.max, "max")?,
            mean_ns: num(self.mean, "mean")?,
            stddev_ns: num(self.stddev, "stddev")?,
            n,
            percentiles,
            bins,
        })
    }
}

impl RawDiskUtil {
    fn normalize(self) -> DiskUtil {
        DiskUtil {
            name: self.name.unwrap_or_default(),
            read_ios: self.read_ios.unwrap_or(0),
            write_ios: self.write_ios.unwrap_or(0),
            read_merges: self.read_merges.unwrap_or(0),
            write_merges: self.write_merges.unwrap_or(0),
            read_ticks: self.read_ticks.unwrap_or(0),
            write_ticks: self.write_ticks.unwrap_or(0),
            in_queue: self.in_queue.unwrap_or(0),
            util: self.util.filter(|u| u.is_finite()).unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "j",
      "write" : { "io_bytes" : 4096, "io_kbytes" : 4, "bw_bytes" : 4096, "iops" : 1.0,
                  "runtime" : 1000, "total_ios" : 1,
                  "clat_ns" : { "min" : 5, "max" : 5, "mean" : 5.0, "stddev" : 0.0, "N" : 1,
                                "percentile" : { "50.000000" : 5 } } }
    }
  ]
}
"#;

    #[test]
    fn minimal_document() {
        let out = parse(MINIMAL.as_bytes(), "t").unwrap();
        assert_eq!(out.fio_version.as_deref(), Some("fio-3.33"));
        let w = out.jobs[0].write.as_ref().unwrap();
        assert_eq!(w.clat.as_ref().unwrap().percentile(50.0), Some(5.0));
        assert_eq!(out.jobs[0].directions().len(), 1);
    }

    #[test]
    fn noise_before_between_and_after() {
        let text = format!(
            "fio: some warning\nnote: both iodepth >= 1 and synchronous I/O engine are selected, queue depth will be capped at 1\n{MINIMAL}fio: in between\n{}\nfio: file hash not empty on exit\n",
            MINIMAL.replace("fio-3.33", "fio-3.34")
        );
        let all = parse_all(text.as_bytes(), "t").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            parse(text.as_bytes(), "t").unwrap().fio_version.as_deref(),
            Some("fio-3.34")
        );
        // Back to back on one line too.
        let text = format!("{}{}", MINIMAL.trim(), MINIMAL.trim());
        assert_eq!(parse_all(text.as_bytes(), "t").unwrap().len(), 2);
    }

    #[test]
    fn syntax_error_position_counts_the_skipped_noise() {
        let text = "noise line\n  more noise {\n{\n  \"fio version\" : \"x\",\n  \"time\" :\n}";
        let e = parse(text.as_bytes(), "out.json").unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert_eq!(e.column, Some(1), "{e}");
        assert!(e.to_string().starts_with("out.json:6:1: "), "{e}");
        // An error on the first line of the document gets the indentation added.
        let e = parse(b"x\n   {\"jobs\": x}", "o").unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(13)), "{e}");
    }

    #[test]
    fn non_finite_floats_are_missing_values() {
        let text = "{\"jobs\" : [{\"jobname\" : \"nan: inf\", \"usr_cpu\" : nan, \"sys_cpu\" : -nan,\n\"write\" : {\"io_bytes\" : 0, \"io_kbytes\" : 0, \"iops\" : 0.0, \"runtime\" : 0, \"iops_stddev\" : inf, \"iops_mean\":-inf}}]}";
        let out = parse(text.as_bytes(), "t").unwrap();
        let job = &out.jobs[0];
        assert_eq!(job.name, "nan: inf", "strings are left alone");
        assert_eq!((job.usr_cpu, job.sys_cpu), (0.0, 0.0));
        let w = job.write.as_ref().unwrap();
        assert_eq!((w.iops_stddev, w.iops_mean), (None, None));
        // Offsets are kept: an error after a replaced value is still placed right.
        let e = parse(b"{\"a\" : nan, \"jobs\" : x}", "t").unwrap_err();
        assert_eq!((e.line, e.column), (Some(1), Some(22)), "{e}");
        // A required number that is NaN is an error, not a panic.
        assert!(
            parse(
                text.replace("\"iops\" : 0.0", "\"iops\" : nan").as_bytes(),
                "t"
            )
            .is_err()
        );
        // `:nan` with no blank before it cannot become `null` in place: an error.
        assert!(
            parse(
                text.replace("\"usr_cpu\" : nan", "\"usr_cpu\":nan")
                    .as_bytes(),
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn old_units_are_scaled() {
        let text = r#"{"fio version":"fio-2.19","jobs":[{"jobname":"old","write":{
            "io_bytes": 8, "bw": 2, "iops": 1.5, "runtime": 4000, "total_ios": 2,
            "clat": {"min": 1, "max": 3, "mean": 2.0, "stddev": 1.0,
                     "percentile": {"99.000000": 3}, "bins": {"1": 1, "3": 1}}}}]}"#;
        let out = parse(text.as_bytes(), "t").unwrap();
        let w = out.jobs[0].write.as_ref().unwrap();
        assert_eq!(w.io_bytes, 8 * 1024);
        assert_eq!(w.bw_bytes, 2048);
        let c = w.clat.as_ref().unwrap();
        assert_eq!(c.max_ns, 3000.0);
        assert_eq!(c.n, 2);
        assert_eq!(c.reported_percentile(99.0), Some(3000.0));
        assert_eq!(
            c.bins.as_ref().unwrap().bins().collect::<Vec<_>>(),
            vec![(1000, 1), (3000, 1)]
        );
    }
}
