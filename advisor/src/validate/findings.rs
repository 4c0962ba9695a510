//! What static validation reports: findings with file, line, column and a fix, and the report
//! that holds them.

use crate::layout::Layout;
use crate::nixeval::Loc;
use serde::Serialize;
use std::fmt::Write as _;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// disko, NixOS or the kernel will fail on it, or silently ignore what was asked.
    Error,
    /// It works, but probably not the way it was meant (or it is fragile).
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a disko.nix, where it is written and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier of the rule (`schema/unknown-option`, `kernel/ignored-fs-option`, ...;
    /// the list is in the [module documentation](super)).
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The file the offending text is in (as the user named it, or an imported file's path).
    pub file: String,
    /// 1-based line of the offending option or attribute.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong and what happens because of it.
    pub message: String,
    /// The concrete change that fixes it.
    pub fix: String,
}

impl Finding {
    /// A finding at a location.
    pub(crate) fn at(
        code: &'static str,
        severity: Severity,
        loc: &Loc,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            severity,
            file: loc.file.clone(),
            line: u32::try_from(loc.line.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column.max(1)).unwrap_or(u32::MAX),
            message: message.into(),
            fix: fix.into(),
        }
    }

    fn sort_key(&self) -> (&str, u32, u32, &str, &str) {
        (&self.file, self.line, self.column, self.code, &self.message)
    }
}

/// The result of [`check_file`](super::check_file) / [`check_text`](super::check_text).
#[derive(Clone, Debug, Serialize)]
pub struct StaticReport {
    /// The file checked (as named by the caller).
    pub file: String,
    /// The layout the file describes, when it could be read that far.
    pub layout: Option<Layout>,
    /// What the reader had to assume (values unknown statically, parts not modelled).
    pub warnings: Vec<String>,
    /// Every finding, sorted by file, line, column and code.
    pub findings: Vec<Finding>,
}

impl StaticReport {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// How many findings are warnings.
    pub fn warning_findings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    /// True when no finding is an error.
    pub fn passed(&self) -> bool {
        self.errors() == 0
    }

    /// Sorts and de-duplicates the findings (same place, code and message once).
    pub(crate) fn normalize(&mut self) {
        self.findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.findings.dedup_by(|a, b| a.sort_key() == b.sort_key());
    }

    /// The report for people: `file:line:col: error[code]: message`, then `  fix: ...`, then a
    /// summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let _ = writeln!(
                out,
                "{}:{}:{}: {}[{}]: {}",
                f.file,
                f.line,
                f.column,
                f.severity.as_str(),
                f.code,
                f.message
            );
            for (i, l) in f.fix.lines().enumerate() {
                if i == 0 {
                    let _ = writeln!(out, "  fix: {l}");
                } else {
                    let _ = writeln!(out, "       {l}");
                }
            }
        }
        let errors = self.errors();
        let warnings = self.warning_findings();
        let plural = |n: usize, w: &str| {
            if n == 1 {
                format!("{n} {w}")
            } else {
                format!("{n} {w}s")
            }
        };
        let _ = writeln!(
            out,
            "{}: {}, {} ({})",
            self.file,
            plural(errors, "error"),
            plural(warnings, "warning"),
            if errors == 0 { "passed" } else { "failed" }
        );
        out
    }
}
