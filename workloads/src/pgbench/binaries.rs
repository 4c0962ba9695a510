//! Finding PostgreSQL's programs: `initdb`, `postgres`, `pgbench` and `psql` of one version.

use crate::WorkloadError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to get PostgreSQL when it is missing.
pub const INSTALL_HINT: &str = "install PostgreSQL: `apt-get install postgresql` (Debian/Ubuntu; \
     the programs land in /usr/lib/postgresql/VERSION/bin), `pkgs.postgresql` on NixOS, or \
     name the directory with the parameter `bindir`";

/// The programs a run needs, all from one directory.
pub const PROGRAMS: &[&str] = &["initdb", "postgres", "pgbench", "psql"];

/// A directory holding every program of [`PROGRAMS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgBinaries {
    bindir: PathBuf,
}

impl PgBinaries {
    /// The directory, after checking it holds every program.
    pub fn at(bindir: &Path) -> Result<PgBinaries, WorkloadError> {
        match missing(bindir) {
            None => Ok(PgBinaries {
                bindir: bindir.to_path_buf(),
            }),
            Some(p) => Err(WorkloadError::Missing {
                tool: format!("PostgreSQL's {p}"),
                hint: format!("{} has no {p}; {INSTALL_HINT}", bindir.display()),
            }),
        }
    }

    /// `bindir` when given; else the highest-versioned `/usr/lib/postgresql/*/bin` (Debian's
    /// layout) that has every program; else `pg_config --bindir`; else the first `PATH` entry
    /// with every program (NixOS).
    pub fn find(bindir: Option<&Path>) -> Result<PgBinaries, WorkloadError> {
        if let Some(b) = bindir {
            return PgBinaries::at(b);
        }
        if let Some(b) = highest_debian(Path::new("/usr/lib/postgresql")) {
            return Ok(PgBinaries { bindir: b });
        }
        if let Some(b) = pg_config_bindir().filter(|b| missing(b).is_none()) {
            return Ok(PgBinaries { bindir: b });
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if dir.is_absolute() && missing(&dir).is_none() {
                    return Ok(PgBinaries { bindir: dir });
                }
            }
        }
        Err(WorkloadError::Missing {
            tool: "PostgreSQL (initdb, postgres, pgbench, psql)".to_owned(),
            hint: format!(
                "not in /usr/lib/postgresql/*/bin, pg_config --bindir or PATH; {INSTALL_HINT}"
            ),
        })
    }

    /// The directory.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The path of one program (`initdb`, `postgres`, `pgbench`, `psql`).
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// The first program of [`PROGRAMS`] that `dir` lacks (as an executable file).
fn missing(dir: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    PROGRAMS.iter().copied().find(|p| {
        !std::fs::metadata(dir.join(p))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `<root>/<version>/bin` with the highest version (numeric: 15 > 9.6) that has every program.
fn highest_debian(root: &Path) -> Option<PathBuf> {
    let mut versions: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
            Some((key?, e.path().join("bin")))
        })
        .filter(|(_, bin)| missing(bin).is_none())
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let p = PathBuf::from(s.trim());
    p.is_absolute().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake(dir: &Path, programs: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        for p in programs {
            let f = dir.join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn highest_complete_version_wins() {
        let t = tempfile::tempdir().unwrap();
        fake(&t.path().join("9.6/bin"), PROGRAMS);
        fake(&t.path().join("15/bin"), PROGRAMS);
        // Newer but without pgbench: skipped.
        fake(&t.path().join("16/bin"), &["initdb", "postgres", "psql"]);
        std::fs::create_dir_all(t.path().join("notaversion/bin")).unwrap();
        assert_eq!(highest_debian(t.path()), Some(t.path().join("15/bin")));
        assert_eq!(highest_debian(&t.path().join("absent")), None);
    }

    #[test]
    fn an_incomplete_bindir_names_the_missing_program() {
        let t = tempfile::tempdir().unwrap();
        fake(t.path(), &["initdb", "postgres", "psql"]);
        // Present but not executable counts as missing.
        std::fs::write(t.path().join("pgbench"), "").unwrap();
        let e = PgBinaries::find(Some(t.path())).unwrap_err();
        assert!(matches!(e, WorkloadError::Missing { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("pgbench") && msg.contains("apt-get install postgresql"),
            "{msg}"
        );
        fake(t.path(), &["pgbench"]);
        let b = PgBinaries::find(Some(t.path())).unwrap();
        assert_eq!(b.program("psql"), t.path().join("psql"));
    }
}
