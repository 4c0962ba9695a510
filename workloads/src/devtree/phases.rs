//! The phases of a dev-tree cycle other than the build ([`build`](super::build)): checkout,
//! cold start, stat storm, editor saves, flush and clean, each at the syscall pattern of the
//! real tool it stands for (benchmark-method.md §3: synthetic workloads replay syscall shapes).

use super::content::source_text;
use super::tree::Tree;
use crate::WorkloadError;
use crate::latency::Latencies;
use crate::rng::mix;
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where a run works and how it reports.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    /// The workload's name, for messages.
    pub name: &'a str,
    /// The directory the harness gave (`ctx.dir`): synced and measured as a filesystem.
    pub dir: &'a Path,
    /// `dir/workspace`: the package directories and `target/`.
    pub root: PathBuf,
    /// `root/target`.
    pub target: PathBuf,
    /// Set on Ctrl-C.
    pub interrupted: &'a AtomicBool,
}

impl Env<'_> {
    /// `Err(Interrupted)` once the user has interrupted.
    pub fn check(&self) -> Result<(), WorkloadError> {
        if self.interrupted.load(Ordering::Relaxed) {
            Err(WorkloadError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// A failure naming the workload, the action and the path.
    pub fn io(&self, what: &str, path: &Path, e: impl std::fmt::Display) -> WorkloadError {
        WorkloadError::Failed(format!("{}: {what} {}: {e}", self.name, path.display()))
    }

    /// Writes `bytes` to a new file at `path` (create, write, close: no fsync).
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), WorkloadError> {
        let mut f = File::create(path).map_err(|e| self.io("cannot create", path, e))?;
        f.write_all(bytes)
            .map_err(|e| self.io("cannot write", path, e))
    }

    /// `syncfs(2)` on the filesystem of [`Env::dir`]: only the layout under test is flushed,
    /// not every filesystem of the machine as `sync(2)` would.
    pub fn syncfs(&self) -> Result<(), WorkloadError> {
        let d = File::open(self.dir).map_err(|e| self.io("cannot open", self.dir, e))?;
        nix::unistd::syncfs(&d).map_err(|e| self.io("syncfs failed on", self.dir, e))
    }

    /// Bytes in use on the filesystem of [`Env::dir`] (`statvfs`: blocks − free blocks).
    pub fn used_bytes(&self) -> Result<u64, WorkloadError> {
        let s = nix::sys::statvfs::statvfs(self.dir)
            .map_err(|e| self.io("statvfs failed on", self.dir, e))?;
        Ok((s.blocks().saturating_sub(s.blocks_free()) as u64)
            .saturating_mul(s.fragment_size() as u64))
    }

    /// Bytes available to an unprivileged writer on the filesystem of [`Env::dir`].
    pub fn available_bytes(&self) -> Result<u64, WorkloadError> {
        let s = nix::sys::statvfs::statvfs(self.dir)
            .map_err(|e| self.io("statvfs failed on", self.dir, e))?;
        Ok((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
    }
}

/// What a phase did: the files it handled (each whole-file read, file written, entry
/// `lstat`ed or file unlinked counts once) and the bytes it moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Files handled.
    pub files: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// `fsync` calls.
    pub fsyncs: u64,
}

impl Tally {
    /// Adds `other` to this one.
    pub fn add(&mut self, other: &Tally) {
        self.files += other.files;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.fsyncs += other.fsyncs;
    }
}

/// Checkout, like `git checkout`/`git clone` (one worker, git's default
/// `checkout.workers=1`): `mkdir` every directory, then per file `open(O_CREAT|O_WRONLY)`,
/// `write` the whole content, `close`, no fsync. Returns the time spent in those syscalls
/// (generating the content is not counted) and the tally.
pub(crate) fn checkout(env: &Env<'_>, tree: &Tree) -> Result<(Duration, Tally), WorkloadError> {
    let mut spent = Duration::ZERO;
    let mut tally = Tally::default();
    let t = Instant::now();
    fs::create_dir(&env.root).map_err(|e| env.io("cannot create", &env.root, e))?;
    for d in &tree.dirs {
        let path = env.root.join(&d.rel);
        fs::create_dir(&path).map_err(|e| env.io("cannot create", &path, e))?;
    }
    spent += t.elapsed();
    let mut buf = Vec::new();
    for f in &tree.files {
        env.check()?;
        source_text(f.seed, f.size as usize, &mut buf);
        let path = env.root.join(&f.rel);
        let t = Instant::now();
        env.write_file(&path, &buf)?;
        spent += t.elapsed();
        tally.files += 1;
        tally.bytes_written += f.size;
    }
    Ok((spent, tally))
}

/// Cold start without root: `syncfs`, then per source `open`, `posix_fadvise(0, 0,
/// POSIX_FADV_DONTNEED)`, `close`, so the build reads from the device. (Clean pages only
/// leave the page cache once written back, hence the sync first; inodes and dentries stay
/// cached, as they would after a day's work.)
pub(crate) fn cold_start(env: &Env<'_>, tree: &Tree) -> Result<(), WorkloadError> {
    env.syncfs()?;
    for f in &tree.files {
        env.check()?;
        let path = env.root.join(&f.rel);
        let file = File::open(&path).map_err(|e| env.io("cannot open", &path, e))?;
        posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
            .map_err(|e| env.io("posix_fadvise(DONTNEED) failed on", &path, e))?;
    }
    Ok(())
}

/// The stat storm of `git status` (untracked-file scan plus index refresh) or an IDE's file
/// watcher rescanning: `opendir`/`getdents64` of every directory of the workspace and
/// `lstat` (statx with `AT_SYMLINK_NOFOLLOW`) of every entry, skipping the contents of
/// `target/` as a `.gitignore` does; `passes` times over (the second one warm).
pub(crate) fn stat_storm(env: &Env<'_>, passes: u32) -> Result<Tally, WorkloadError> {
    let mut tally = Tally::default();
    for _ in 0..passes {
        let mut stack = vec![env.root.clone()];
        while let Some(dir) = stack.pop() {
            env.check()?;
            let entries = fs::read_dir(&dir).map_err(|e| env.io("cannot read", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| env.io("cannot read", &dir, e))?;
                let path = entry.path();
                let meta =
                    fs::symlink_metadata(&path).map_err(|e| env.io("cannot lstat", &path, e))?;
                tally.files += 1;
                if meta.is_dir() && path != env.target {
                    stack.push(path);
                }
            }
        }
    }
    Ok(tally)
}

/// An editor saving `picks`: per file, new content of the same size written to
/// `.<name>.tmp` beside it, `fsync`, `rename` over the original (vim's `writebackup`, VS
/// Code's atomic save). Returns the tally and the fsync latencies.
pub(crate) fn save_edits(
    env: &Env<'_>,
    tree: &Tree,
    picks: &[usize],
    cycle: u64,
) -> Result<(Tally, Latencies), WorkloadError> {
    let mut tally = Tally::default();
    let mut fsyncs = Latencies::new();
    let mut buf = Vec::new();
    for &i in picks {
        env.check()?;
        let f = &tree.files[i];
        source_text(mix(f.seed, cycle + 1), f.size as usize, &mut buf);
        let path = env.root.join(&f.rel);
        let name = f
            .rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let mut file = File::create(&tmp).map_err(|e| env.io("cannot create", &tmp, e))?;
        file.write_all(&buf)
            .map_err(|e| env.io("cannot write", &tmp, e))?;
        let t = Instant::now();
        file.sync_all()
            .map_err(|e| env.io("fsync failed on", &tmp, e))?;
        fsyncs.record(t.elapsed());
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| env.io("cannot rename onto", &path, e))?;
        tally.files += 1;
        tally.fsyncs += 1;
        tally.bytes_written += f.size;
    }
    Ok((tally, fsyncs))
}

/// `rm -rf target/` (coreutils `rm` or `cargo clean`): depth first, `getdents64`, `unlink`
/// every file, `rmdir` every directory.
pub(crate) fn remove_tree(
    env: &Env<'_>,
    dir: &Path,
    tally: &mut Tally,
) -> Result<(), WorkloadError> {
    let entries = fs::read_dir(dir).map_err(|e| env.io("cannot read", dir, e))?;
    for entry in entries {
        env.check()?;
        let entry = entry.map_err(|e| env.io("cannot read", dir, e))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| env.io("cannot lstat", &path, e))?;
        if ft.is_dir() {
            remove_tree(env, &path, tally)?;
        } else {
            fs::remove_file(&path).map_err(|e| env.io("cannot unlink", &path, e))?;
            tally.files += 1;
        }
    }
    fs::remove_dir(dir).map_err(|e| env.io("cannot rmdir", dir, e))
}

/// Picks `n` distinct files to edit in `cycle`, sorted.
pub(crate) fn pick_edits(tree: &Tree, n: usize, seed: u64, cycle: u64) -> Vec<usize> {
    let mut rng = crate::rng::SplitMix64::new(mix(seed ^ 0x6564_6974, cycle));
    let n = n.min(tree.files.len());
    let mut picked = std::collections::BTreeSet::new();
    while picked.len() < n {
        picked.insert(rng.index(tree.files.len()));
    }
    picked.into_iter().collect()
}
