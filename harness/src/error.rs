//! The harness's errors.

use std::path::PathBuf;
use thiserror::Error;

/// Everything the harness can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A tool is missing.
    #[error("{tool} is needed but not installed ({hint})")]
    Missing {
        /// The tool.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// A command failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What it said.
        message: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        source: nix::Error,
    },
    /// The built filesystem is not what the layout says: a benchmark would measure the wrong
    /// thing.
    #[error("the filesystem does not match the layout:\n{}", mismatches.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n"))]
    Mismatch {
        /// Every difference found.
        mismatches: Vec<String>,
    },
    /// The layout cannot be built by the harness.
    #[error("{0}")]
    Layout(String),
    /// The layout breaks the kernel's rules.
    #[error(transparent)]
    Advisor(#[from] btrtune_advisor::AdvisorError),
    /// A workload failed.
    #[error("workload {name}: {source}")]
    Workload {
        /// Its name.
        name: String,
        /// Why.
        source: btrtune_workloads::WorkloadError,
    },
    /// A matrix or results file is malformed.
    #[error("{path}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
    Input {
        /// The file.
        path: String,
        /// 1-based line (0: unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The device is not safe to use.
    #[error(transparent)]
    Unsafe(#[from] crate::safety::SafetyError),
    /// The user interrupted the run (everything made so far was released).
    #[error("interrupted")]
    Interrupted,
    /// Something failed, and cleaning up after it failed too: both are reported.
    #[error("{first}\n(and while cleaning up: {cleanup})")]
    Rollback {
        /// The first error.
        first: Box<HarnessError>,
        /// The cleanup error.
        cleanup: String,
    },
}

impl HarnessError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HarnessError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        HarnessError::Sys {
            what: what.into(),
            source,
        }
    }
}
