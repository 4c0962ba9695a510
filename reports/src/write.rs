//! Writing a report into a directory: every file whole or not at all (a temporary file in
//! the same directory, synced, renamed over the target), `report.html` last, and the chart
//! files a previous report there listed but this one no longer has removed.

use crate::Rendered;
use crate::chart::{ChartInfo, ChartKind};
use crate::error::ReportError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Version of `report.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// What was written: the content of `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Written {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The report's title.
    pub title: String,
    /// The files, relative to the directory, `report.html` first.
    pub files: Vec<String>,
    /// Charts per kind.
    pub counts: BTreeMap<ChartKind, usize>,
    /// Every chart.
    pub charts: Vec<ChartInfo>,
}

#[derive(Deserialize)]
struct OldManifest {
    #[serde(default)]
    files: Vec<String>,
}

/// Writes `text` to `path` whole or not at all.
pub(crate) fn atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.btrtune-tmp"));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ReportError::io(path, e));
    }
    Ok(())
}

/// Writes a rendered report into `dir` (created if needed).
pub(crate) fn write_rendered(dir: &Path, r: &Rendered) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let manifest_path = dir.join("report.json");
    let old: Vec<String> = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str::<OldManifest>(&t).ok())
        .map(|m| m.files)
        .unwrap_or_default();
    let mut files = vec![
        "report.html".to_string(),
        "report.md".to_string(),
        "report.json".to_string(),
    ];
    files.extend(r.charts.iter().map(|c| c.file.clone()));
    let written = Written {
        schema_version: SCHEMA_VERSION,
        title: r.title.clone(),
        files: files.clone(),
        counts: crate::page::counts(&r.charts),
        charts: r.charts.clone(),
    };
    for c in &r.charts {
        atomic(&dir.join(&c.file), &c.svg())?;
    }
    atomic(&dir.join("report.md"), &r.markdown)?;
    let json = serde_json::to_string_pretty(&written)
        .map_err(|e| ReportError::io(&manifest_path, std::io::Error::other(e.to_string())))?
        + "\n";
    atomic(&manifest_path, &json)?;
    atomic(&dir.join("report.html"), &r.html)?;
    // Charts of an earlier report here that this one does not have.
    for f in old {
        let plain = !f.contains(['/', '\\']) && f.ends_with(".svg");
        if plain && !files.contains(&f) {
            let p: PathBuf = dir.join(&f);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ReportError::io(p, e));
                }
                _ => {}
            }
        }
    }
    Ok(written)
}
