//! btrtune's reports: one self-contained HTML page (inline CSS and SVG, no script, no URL)
//! and a Markdown file with one SVG file per chart, from calibration runs, fitted models, a
//! diagnosis, benchmark comparisons and layouts.
//!
//! The input is plain data ([`ReportInput`]); the CLI fills it from results files, model
//! files and diagnoses, so this crate knows nothing of the harness. Charts are laid out by
//! plotters and drawn on an SVG backend of ours that tags every data element
//! (`class="data"`, with a tooltip), and each chart's `<figure>` carries
//! `data-chart="<kind>:<what>"` and `data-points="<n>"`: a test (or a reader's tool) can
//! count what each chart shows. The same input renders to the same bytes.
//!
//! | chart | from | shows |
//! | --- | --- | --- |
//! | `throughput` | [`RunPoint`]s | per class and workload: geometric mean by layout with its 95 % t-interval, every run |
//! | `latency` | [`RunPoint`]s with [`Latency`] | p50 and p99 by layout (log scale) |
//! | `model-fit` | a `ModelSet` (+ runs and layouts) | projected against measured: held-out layouts, in-sample fit, y = x ± 10 % |
//! | `before-after` | [`DiagnosisInput`] | per recommendation: projection before (100 %) and after, with the ratio's interval |
//! | `comparison` | [`Comparison`]s | measured ratios with intervals over the projected intervals (forest plot) |
//! | `layout` | [`NamedLayout`]s | disks, filesystems with their options, the subvolume tree with NOCOW, compression, snapshots |
//!
//! ```
//! use btrtune_reports::{ChartKind, Comparison, ReportInput, render};
//!
//! let c = Comparison::from_runs(
//!     "wal-postgresql", "commits_per_s", "current", "proposed",
//!     &[1000.0, 1020.0, 990.0], &[1480.0, 1510.0, 1495.0], Some((1.45, 1.2, 1.75).into()),
//! ).unwrap();
//! let input = ReportInput {
//!     title: "validate --bench".into(),
//!     comparisons: vec![c],
//!     ..ReportInput::default()
//! };
//! let r = render(&input).unwrap();
//! assert_eq!(r.charts.len(), 1);
//! assert_eq!(r.charts[0].kind, ChartKind::Comparison);
//! assert!(r.html.contains("data-chart=\"comparison:bench\""));
//! assert!(!r.html.contains("http"));
//! assert!(r.markdown.contains("![Measured against projected"));
//! ```

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

mod chart;
mod error;
mod format;
mod html;
mod input;
mod markdown;
mod page;
mod stats;
mod svg;
mod write;

pub use chart::{ChartInfo, ChartKind};
pub use error::ReportError;
pub use input::{
    CellParams, Comparison, DiagnosisInput, FindingInput, Latency, NamedLayout, ProjectedInput,
    RecommendationInput, ReportInput, RunPoint, label_variants,
};
pub use stats::{Interval, Summary, paired_ratio_of, ratio_of};
pub use write::{SCHEMA_VERSION, Written};

use std::path::Path;

/// A rendered report, not yet written.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The title.
    pub title: String,
    /// `report.html`: self-contained.
    pub html: String,
    /// `report.md`: refers to the charts' SVG files.
    pub markdown: String,
    /// The charts, in report order ([`ChartInfo::svg`] gives each file's content).
    pub charts: Vec<ChartInfo>,
}

/// Renders a report.
pub fn render(input: &ReportInput) -> Result<Rendered, ReportError> {
    let doc = page::build(input)?;
    Ok(Rendered {
        html: html::render(&doc),
        markdown: markdown::render(&doc),
        title: doc.title,
        charts: doc.charts,
    })
}

/// Renders a report and writes `report.html`, `report.md`, `report.json` (what was written,
/// with [`SCHEMA_VERSION`]) and one SVG per chart into `dir`. Everything is rendered before
/// anything is written, and each file is replaced whole.
pub fn write(dir: &Path, input: &ReportInput) -> Result<Written, ReportError> {
    let r = render(input)?;
    write::write_rendered(dir, &r)
}

/// Writes an already rendered report into `dir` (see [`write()`]).
pub fn write_rendered(dir: &Path, rendered: &Rendered) -> Result<Written, ReportError> {
    write::write_rendered(dir, rendered)
}
