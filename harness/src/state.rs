//! The state file: what this harness process holds right now (backing files, loop devices,
//! mounts, work directories), so that `btrtune cleanup` can release what a killed run left
//! behind and nothing else.
//!
//! One file per process, `<state dir>/<pid>.json` (default `/run/btrtune`, a tmpfs that is
//! empty after a reboot, like the loop devices and mounts it lists). It is rewritten
//! atomically on every change, and removed when the process releases everything.

use crate::error::HarnessError;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Prefix of every backing file and work directory the harness makes.
pub const PREFIX: &str = "btrtune-";

/// The state directory (`BTRTUNE_STATE_DIR`, default `/run/btrtune`).
pub fn dir() -> PathBuf {
    std::env::var_os("BTRTUNE_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/btrtune"))
}

/// A loop device and the backing file it was attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopEntry {
    /// `/dev/loopN`.
    pub device: PathBuf,
    /// Its backing file.
    pub backing: PathBuf,
}

/// What one process holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holdings {
    /// The process.
    pub pid: u32,
    /// Work directories made (removed when empty).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Backing files made.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Loop devices attached.
    #[serde(default)]
    pub loops: Vec<LoopEntry>,
    /// Mount points mounted (in mount order).
    #[serde(default)]
    pub mounts: Vec<PathBuf>,
    /// Whether the mounts are in a private mount namespace (they die with the process).
    #[serde(default)]
    pub private_namespace: bool,
}

impl Holdings {
    fn is_empty(&self) -> bool {
        self.dirs.is_empty()
            && self.files.is_empty()
            && self.loops.is_empty()
            && self.mounts.is_empty()
    }
}

/// This process's state file.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    held: Mutex<Holdings>,
}

impl State {
    /// This process's state file (in [`dir`]): one per process, shared by every caller.
    pub fn open() -> Result<Arc<State>, HarnessError> {
        static STATE: std::sync::OnceLock<Arc<State>> = std::sync::OnceLock::new();
        if let Some(s) = STATE.get() {
            return Ok(s.clone());
        }
        let s = Self::open_in(&dir())?;
        Ok(STATE.get_or_init(|| s).clone())
    }

    /// Opens this process's state file in `dir`.
    pub fn open_in(dir: &Path) -> Result<Arc<State>, HarnessError> {
        std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
        let pid = std::process::id();
        Ok(Arc::new(State {
            path: dir.join(format!("{pid}.json")),
            held: Mutex::new(Holdings {
                pid,
                ..Holdings::default()
            }),
        }))
    }

    fn update(&self, f: impl FnOnce(&mut Holdings)) {
        let mut h = match self.held.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        f(&mut h);
        let result = if h.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            write_atomic(
                &self.path,
                &serde_json::to_string_pretty(&*h).unwrap_or_default(),
            )
        };
        if let Err(e) = result {
            eprintln!(
                "btrtune: cannot update the state file {}: {e} (`btrtune cleanup` may miss what this run holds)",
                self.path.display()
            );
        }
    }

    /// Records a work directory.
    pub fn add_dir(&self, p: &Path) {
        self.update(|h| h.dirs.push(p.to_path_buf()));
    }
    /// Forgets a work directory.
    pub fn remove_dir(&self, p: &Path) {
        self.update(|h| h.dirs.retain(|x| x != p));
    }
    /// Records a backing file.
    pub fn add_file(&self, p: &Path) {
        self.update(|h| h.files.push(p.to_path_buf()));
    }
    /// Forgets a backing file.
    pub fn remove_file(&self, p: &Path) {
        self.update(|h| h.files.retain(|x| x != p));
    }
    /// Records a loop device.
    pub fn add_loop(&self, device: &Path, backing: &Path) {
        self.update(|h| {
            h.loops.push(LoopEntry {
                device: device.to_path_buf(),
                backing: backing.to_path_buf(),
            })
        });
    }
    /// Forgets a loop device.
    pub fn remove_loop(&self, device: &Path) {
        self.update(|h| h.loops.retain(|l| l.device != device));
    }
    /// Records a mount.
    pub fn add_mount(&self, p: &Path) {
        self.update(|h| h.mounts.push(p.to_path_buf()));
    }
    /// Forgets a mount.
    pub fn remove_mount(&self, p: &Path) {
        self.update(|h| {
            if let Some(i) = h.mounts.iter().rposition(|x| x == p) {
                h.mounts.remove(i);
            }
        });
    }
    /// Records that this process's mounts live in a private namespace.
    pub fn set_private_namespace(&self) {
        self.update(|h| h.private_namespace = true);
    }
    /// What is held now.
    pub fn holdings(&self) -> Holdings {
        match self.held.lock() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// What `cleanup` did.
#[derive(Debug, Default, Serialize)]
pub struct CleanupReport {
    /// Mounts unmounted.
    pub unmounted: Vec<PathBuf>,
    /// Loop devices detached.
    pub detached: Vec<PathBuf>,
    /// Files and directories removed.
    pub removed: Vec<PathBuf>,
    /// State files of processes still running, left alone.
    pub skipped_live: Vec<u32>,
    /// Processes killed because they were still working inside a dead run's directories
    /// (a database server a workload started, orphaned when btrtune was killed).
    pub killed: Vec<u32>,
    /// What could not be done, and why.
    pub problems: Vec<String>,
}

fn alive(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM still means it exists.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Releases what harness processes that are no longer running left behind, as listed in
/// their state files in `dir`: unmounts their mounts, detaches their loop devices (only if
/// still attached to the same backing file), removes their backing files and empty work
/// directories. Live processes' files are left alone.
pub fn cleanup(dir: &Path) -> Result<CleanupReport, HarnessError> {
    let mut report = CleanupReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(HarnessError::io(dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                report.problems.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        let h: Holdings = match serde_json::from_str(&text) {
            Ok(h) => h,
            Err(e) => {
                report.problems.push(format!(
                    "{}: not a btrtune state file ({e}); left alone",
                    f.display()
                ));
                continue;
            }
        };
        if h.pid != std::process::id() && alive(h.pid) {
            report.skipped_live.push(h.pid);
            continue;
        }
        let problems_before = report.problems.len();
        release(&h, &mut report);
        if report.problems.len() == problems_before {
            let _ = std::fs::remove_file(&f);
        }
    }
    Ok(report)
}

/// Processes whose working directory is inside one of `dirs`.
fn processes_inside(dirs: &[PathBuf]) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| dirs.iter().any(|d| cwd.starts_with(d)))
        })
        .collect()
}

/// True while `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Kills what still runs inside a dead run's directories (SIGKILL: the data there is
/// throwaway) and waits up to 10 s for it to go, so its mounts and loops can be released.
fn kill_leftovers(h: &Holdings, report: &mut CleanupReport) {
    if h.dirs.is_empty() {
        return;
    }
    let pids = processes_inside(&h.dirs);
    for &pid in &pids {
        let Ok(p) = i32::try_from(pid) else { continue };
        match nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        ) {
            Ok(()) => report.killed.push(pid),
            Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => report.problems.push(format!("kill {pid}: {e}")),
        }
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pids.iter().any(|p| running(*p)) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn release(h: &Holdings, report: &mut CleanupReport) {
    kill_leftovers(h, report);
    let mounted = sys::mount::mounted_targets();
    for m in h.mounts.iter().rev() {
        if mounted.contains(m) {
            match sys::mount::unmount(m) {
                Ok(()) => report.unmounted.push(m.clone()),
                Err(e) => report
                    .problems
                    .push(format!("unmount {}: {e}", m.display())),
            }
        }
    }
    for l in &h.loops {
        match sys::loopdev::backing_file(&l.device) {
            Some(b) if b == l.backing => match sys::loopdev::detach(&l.device) {
                Ok(()) => report.detached.push(l.device.clone()),
                Err(e) => report
                    .problems
                    .push(format!("detach {}: {e}", l.device.display())),
            },
            // Detached already (autoclear), or reused by someone else: not ours any more.
            _ => {}
        }
    }
    for f in &h.files {
        let ours = f
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX));
        if ours && f.exists() {
            // A loop device with autoclear lets go once its last mount is gone, which takes
            // a moment after the processes holding a private namespace die.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while sys::loopdev::attached_to(f) && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if sys::loopdev::attached_to(f) {
                report.problems.push(format!(
                    "{} is still the backing file of a loop device: not removed",
                    f.display()
                ));
                continue;
            }
            match std::fs::remove_file(f) {
                Ok(()) => report.removed.push(f.clone()),
                Err(e) => report.problems.push(format!("remove {}: {e}", f.display())),
            }
        }
    }
    for d in h.dirs.iter().rev() {
        if d.exists() && remove_empty_tree(d).is_ok() {
            report.removed.push(d.clone());
        }
    }
}

/// Removes a directory tree that holds only empty directories (mount points).
pub fn remove_empty_tree(d: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(d)? {
        let p = e?.path();
        if p.is_dir() && !p.is_symlink() {
            remove_empty_tree(&p)?;
        }
    }
    std::fs::remove_dir(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_follows_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open_in(dir.path()).unwrap();
        let file = dir.path().join(format!("{}.json", std::process::id()));
        assert!(!file.exists(), "nothing held, no file");
        s.add_file(Path::new("/var/tmp/btrtune/btrtune-1-0.img"));
        s.add_loop(
            Path::new("/dev/loop7"),
            Path::new("/var/tmp/btrtune/btrtune-1-0.img"),
        );
        s.add_mount(Path::new("/tmp/x/top"));
        s.add_mount(Path::new("/tmp/x/top"));
        let h: Holdings = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(h, s.holdings());
        assert_eq!(h.mounts.len(), 2);
        s.remove_mount(Path::new("/tmp/x/top"));
        assert_eq!(s.holdings().mounts.len(), 1);
        s.remove_mount(Path::new("/tmp/x/top"));
        s.remove_loop(Path::new("/dev/loop7"));
        s.remove_file(Path::new("/var/tmp/btrtune/btrtune-1-0.img"));
        assert!(!file.exists(), "released everything, file gone");
    }

    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn cleanup_releases_only_what_dead_processes_listed_as_theirs() {
        let state = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let ours = work.path().join(format!("{PREFIX}1-0.img"));
        let not_ours = work.path().join("precious.img");
        let run_dir = work.path().join(format!("{PREFIX}run"));
        std::fs::create_dir_all(run_dir.join("root/data")).unwrap();
        std::fs::write(&ours, b"x").unwrap();
        std::fs::write(&not_ours, b"x").unwrap();
        let dead = Holdings {
            pid: dead_pid(),
            dirs: vec![run_dir.clone()],
            files: vec![ours.clone(), not_ours.clone()],
            ..Holdings::default()
        };
        let live = Holdings {
            pid: 1,
            files: vec![not_ours.clone()],
            ..Holdings::default()
        };
        let dead_file = state.path().join(format!("{}.json", dead.pid));
        std::fs::write(&dead_file, serde_json::to_string(&dead).unwrap()).unwrap();
        std::fs::write(
            state.path().join("1.json"),
            serde_json::to_string(&live).unwrap(),
        )
        .unwrap();
        std::fs::write(state.path().join("0-garbage.json"), "{ not json").unwrap();
        let r = cleanup(state.path()).unwrap();
        assert!(!ours.exists(), "our backing file removed");
        assert!(
            not_ours.exists(),
            "a file without our prefix is never removed"
        );
        assert!(!run_dir.exists(), "empty work tree removed");
        assert!(
            !dead_file.exists(),
            "the dead process's state file is done with"
        );
        assert_eq!(r.skipped_live, [1]);
        assert!(state.path().join("1.json").exists());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].contains("not a btrtune state file"));
        assert!(state.path().join("0-garbage.json").exists(), "left alone");
        assert!(r.unmounted.is_empty() && r.detached.is_empty());
        // A missing state directory is nothing to do.
        let none = cleanup(&state.path().join("absent")).unwrap();
        assert!(none.removed.is_empty() && none.problems.is_empty());
    }

    #[test]
    fn cleanup_kills_what_still_runs_in_a_dead_runs_directories() {
        let state = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let run_dir = work.path().join(format!("{PREFIX}run"));
        std::fs::create_dir_all(run_dir.join("root/data")).unwrap();
        let mut inside = std::process::Command::new("sleep")
            .arg("600")
            .current_dir(run_dir.join("root/data"))
            .spawn()
            .unwrap();
        let mut outside = std::process::Command::new("sleep")
            .arg("600")
            .current_dir(work.path())
            .spawn()
            .unwrap();
        let dead = Holdings {
            pid: dead_pid(),
            dirs: vec![run_dir.clone()],
            ..Holdings::default()
        };
        std::fs::write(
            state.path().join(format!("{}.json", dead.pid)),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let r = cleanup(state.path()).unwrap();
        assert_eq!(r.killed, [inside.id()]);
        assert!(
            inside.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        assert!(
            outside.try_wait().unwrap().is_none(),
            "a process elsewhere is left alone"
        );
        let _ = outside.kill();
        let _ = outside.wait();
    }

    #[test]
    fn a_work_tree_with_files_in_it_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("run");
        std::fs::create_dir_all(t.join("root/data")).unwrap();
        std::fs::write(t.join("root/data/file"), b"user data").unwrap();
        assert!(remove_empty_tree(&t).is_err());
        assert!(t.join("root/data/file").exists());
    }
}
