//! Which account PostgreSQL's programs run as, and what that account must be able to reach.
//!
//! PostgreSQL refuses to run as root (`initdb: error: cannot be run as root`). When btrtune
//! is root (the harness always is), every PostgreSQL program runs as an unprivileged
//! account, `postgres` by default (Debian's package creates it), the way
//! `runuser -u postgres` does: `setgid`, then `setuid` in the child (std's
//! [`CommandExt::uid`]/[`CommandExt::gid`], which also drop supplementary groups).

use crate::WorkloadError;
use nix::unistd::{Gid, Uid, User};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The account PostgreSQL's programs run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    switch: bool,
}

impl RunAs {
    /// As root: the account `user` (which must exist and not be root). Otherwise: the
    /// current user, `user` ignored.
    pub fn resolve(user: &str) -> Result<RunAs, WorkloadError> {
        let me = Uid::effective();
        if !me.is_root() {
            let name = User::from_uid(me)
                .ok()
                .flatten()
                .map_or_else(|| me.to_string(), |u| u.name);
            return Ok(RunAs {
                name,
                uid: me,
                gid: Gid::effective(),
                switch: false,
            });
        }
        let u = User::from_name(user)
            .map_err(|e| WorkloadError::Failed(format!("looking up the user `{user}`: {e}")))?
            .ok_or_else(|| WorkloadError::Missing {
                tool: format!("the user `{user}`"),
                hint: "PostgreSQL refuses to run as root, so btrtune runs it as that account; \
                       `apt-get install postgresql` creates `postgres`, or name another \
                       account with the parameter `user`"
                    .to_owned(),
            })?;
        if u.uid.is_root() {
            return Err(WorkloadError::Failed(format!(
                "the user `{user}` has uid 0; PostgreSQL refuses to run as root"
            )));
        }
        Ok(RunAs {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            switch: true,
        })
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the programs run as another account than btrtune's.
    pub fn switches(&self) -> bool {
        self.switch
    }

    /// Makes `cmd` run as this account.
    pub fn apply(&self, cmd: &mut Command) {
        if self.switch {
            cmd.gid(self.gid.as_raw()).uid(self.uid.as_raw());
        }
    }

    /// Gives `path` to this account (when switching; otherwise it is ours already).
    pub fn chown(&self, path: &Path) -> Result<(), WorkloadError> {
        if !self.switch {
            return Ok(());
        }
        std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw())).map_err(
            |e| {
                WorkloadError::Failed(format!(
                    "cannot give {} to the user `{}`: {e}",
                    path.display(),
                    self.name
                ))
            },
        )
    }

    /// Checks that this account can enter `dir` and every directory above it (PostgreSQL
    /// must reach `dir/pgdata`). The error names the first directory it cannot enter.
    /// Decided by the mode bits (no ACLs), with the account's primary group only, which is
    /// what the child has after the switch.
    pub fn check_traversable(&self, dir: &Path) -> Result<(), WorkloadError> {
        let dir = dir
            .canonicalize()
            .map_err(|e| WorkloadError::Failed(format!("directory {}: {e}", dir.display())))?;
        let mut chain: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
        chain.reverse();
        for d in chain {
            let m = std::fs::metadata(&d)
                .map_err(|e| WorkloadError::Failed(format!("directory {}: {e}", d.display())))?;
            if !can_enter(
                m.mode(),
                m.uid(),
                m.gid(),
                self.uid.as_raw(),
                self.gid.as_raw(),
            ) {
                return Err(WorkloadError::Failed(format!(
                    "PostgreSQL runs as the user `{}` (uid {}), who cannot enter {} \
                     (mode {:04o}, owner {}:{}); make it and the directories above it \
                     traversable (`chmod 0755`), or run in a directory under /var/tmp",
                    self.name,
                    self.uid,
                    d.display(),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                )));
            }
        }
        Ok(())
    }
}

/// Whether a user `uid` in group `gid` may search (enter) a directory with these mode bits
/// and owner. Root may always.
pub fn can_enter(mode: u32, owner: u32, group: u32, uid: u32, gid: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let bit = if owner == uid {
        0o100
    } else if group == gid {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_mode_bit_of_the_matching_class_decides() {
        // Owner class only, even when others may (as the kernel does).
        assert!(!can_enter(0o0601, 5, 5, 5, 5));
        assert!(can_enter(0o0700, 5, 9, 5, 7));
        assert!(can_enter(0o0710, 1, 7, 5, 7));
        assert!(!can_enter(0o0701, 1, 7, 5, 7));
        assert!(can_enter(0o0711, 1, 2, 5, 7));
        assert!(!can_enter(0o0770, 1, 2, 5, 7));
        assert!(can_enter(0o0000, 1, 2, 0, 0));
    }

    #[test]
    fn a_closed_ancestor_is_named() {
        let t = tempfile::tempdir().unwrap();
        let closed = t.path().join("closed");
        let inner = closed.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Someone who owns nothing here and is in no group of ours.
        let me = Uid::effective().as_raw();
        let stranger = RunAs {
            name: "stranger".into(),
            uid: Uid::from_raw(me.wrapping_add(54_321)),
            gid: Gid::from_raw(Gid::effective().as_raw().wrapping_add(54_321)),
            switch: true,
        };
        let tmp_ok = t
            .path()
            .canonicalize()
            .unwrap()
            .ancestors()
            .skip(1)
            .all(|d| {
                let m = std::fs::metadata(d).unwrap();
                m.mode() & 0o001 != 0
            });
        if !tmp_ok {
            eprintln!("SKIPPED: the temp dir's ancestors are closed to others here");
            return;
        }
        let e = stranger.check_traversable(&inner).unwrap_err().to_string();
        assert!(e.contains(&closed.display().to_string()), "{e}");
        assert!(e.contains("mode 0700"), "{e}");
        assert!(
            !e.contains("inner"),
            "the first closed directory, not below: {e}"
        );
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
        stranger.check_traversable(&inner).unwrap();
        let e = stranger
            .check_traversable(&t.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent"), "{e}");
    }
}
