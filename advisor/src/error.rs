//! The advisor's errors. Each names the file (and line, where there is one) and what was
//! expected, so a user can fix the input without reading code.

use std::path::PathBuf;
use thiserror::Error;

/// Everything the advisor can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AdvisorError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input file is malformed.
    #[error("{}", located(path, *line, *column, message))]
    Input {
        /// The file (or `<example NAME>` for embedded ones).
        path: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A tool name is not in the tools database.
    #[error("unknown tool `{name}`{}", suggest(suggestions))]
    UnknownTool {
        /// What was asked.
        name: String,
        /// The nearest known names.
        suggestions: Vec<String>,
    },
    /// No bundled example has this name.
    #[error("unknown example `{name}` (bundled examples: {})", known.join(", "))]
    UnknownExample {
        /// What was asked.
        name: String,
        /// The bundled examples.
        known: Vec<String>,
    },
    /// The request cannot be planned (no tools, contradictory flags).
    #[error("{0}")]
    Request(String),
    /// A layout breaks the kernel's rules or disko's schema.
    #[error("the layout cannot be built:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidLayout {
        /// Every problem found.
        problems: Vec<crate::layout::Problem>,
    },
}

fn located(path: &str, line: usize, column: usize, message: &str) -> String {
    match (line, column) {
        (0, _) => format!("{path}: {message}"),
        (l, 0) => format!("{path}:{l}: {message}"),
        (l, c) => format!("{path}:{l}:{c}: {message}"),
    }
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        " (run `btrtune tools` for the list)".to_string()
    } else {
        format!(
            "; did you mean {}? (run `btrtune tools` for the list)",
            s.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Line and column (1-based) of a byte offset in a text.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// An [`AdvisorError::Input`] at a byte span of `text`.
pub(crate) fn input_at(
    origin: &str,
    text: &str,
    span: std::ops::Range<usize>,
    message: String,
) -> AdvisorError {
    let (line, column) = line_col(text, span.start);
    AdvisorError::Input {
        path: origin.to_string(),
        line,
        column,
        message,
    }
}

/// Converts a `toml` error into an [`AdvisorError::Input`] with line and column.
pub(crate) fn toml_error(path: &str, text: &str, e: &toml::de::Error) -> AdvisorError {
    let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
    AdvisorError::Input {
        path: path.to_string(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}
