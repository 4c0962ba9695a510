//! What can go wrong while rendering or writing a report.

use std::path::PathBuf;

/// A report that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Nothing to report: no runs, models, diagnosis, comparisons or layouts.
    #[error(
        "nothing to report: give results (.jsonl files or directories), a models.json, a diagnosis.json, a disko.nix or comparisons"
    )]
    Empty,
    /// A chart could not be drawn (a plotters layout error, e.g. an area too small).
    #[error("drawing the chart `{chart}`: {message}")]
    Draw {
        /// The chart's id.
        chart: String,
        /// What plotters said.
        message: String,
    },
    /// An input that is not what it claims to be.
    #[error("{origin}: {message}")]
    Input {
        /// The file (and line) it came from.
        origin: String,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// A file of the report could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}
