//! fio: job files, running them, and reading their JSON.
//!
//! - [`job`]: the job library (`workloads/fio/*.fio`, embedded), one job per I/O pattern the
//!   recommender reasons about, sized by the harness for quick or full runs.
//! - [`json`]: a serde parser of fio's `json`/`json+` output (fio 3.x, with fallbacks for
//!   older keys), tolerant of the noise fio prints before the JSON and of the concatenated
//!   documents of `--status-interval`.
//! - [`hist`]: the `json+` latency histogram and fio's percentile rule.
//! - [`merge`]: combining jobs, directions and runs; latency percentiles are merged by bins,
//!   never by averaging percentiles.
//! - [`FioWorkload`]: a library job as a [`Workload`](crate::Workload).
//!
//! ```
//! use btrtune_workloads::fio::{self, FioWorkload};
//! use btrtune_workloads::{Target, Workload};
//!
//! let w = FioWorkload::mount("randwrite-4k-fsync", "/data").unwrap();
//! assert_eq!(w.name(), "fio-randwrite-4k-fsync");
//! assert_eq!(w.target(), Target::Mount { mountpoint: "/data".into() });
//!
//! let text = b"note: both iodepth >= 1 and synchronous I/O engine are selected\n\
//!     {\"fio version\": \"fio-3.33\", \"jobs\": [{\"jobname\": \"j\", \"write\": \
//!     {\"io_bytes\": 4096, \"io_kbytes\": 4, \"bw_bytes\": 4096, \"iops\": 1.0, \
//!     \"runtime\": 1000, \"total_ios\": 1}}]}";
//! let out = fio::json::parse(text, "example").unwrap();
//! assert_eq!(out.jobs[0].iops(), 1.0);
//! ```

pub mod hist;
pub mod job;
pub mod json;
pub mod merge;
mod run;

pub use hist::Histogram;
pub use job::{FioJob, JOBS, Primary, Sizing};
pub use json::{FioOutput, JobResult, ParseError, parse, parse_all, parse_file};
pub use merge::{
    FioSummary, MergedLatency, PercentileMethod, RunsLatency, merge_latency, merge_runs,
};
pub use run::{FioWorkload, INSTALL_HINT, Invocation, measurement};
