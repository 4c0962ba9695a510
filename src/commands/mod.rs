//! One file per subcommand; each calls into the library.

pub mod calibrate;
pub mod collect;
pub mod crosscheck;
pub mod diagnose;
pub mod explain;
pub mod fit;
pub mod plan;
pub mod report;
pub mod show;
mod show_text;
pub mod tools;
pub mod validate;
pub mod workload;

use anyhow::Context as _;
use std::io::Write as _;
use std::path::Path;

/// Writes a file whole or not at all: a temporary file in the same directory, synced, then
/// renamed over the target.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.btrtune-tmp", name.to_string_lossy()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
