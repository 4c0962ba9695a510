//! File I/O of the synthetic writers: the syscalls the real engines make (`openat`,
//! `pwrite64`, `write`, `fdatasync`, `fsync`, `ftruncate`, `rename`), each error naming the
//! file and what was being done.

use crate::WorkloadError;
use nix::fcntl::OFlag;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An I/O error on `path` while doing `what`.
pub(crate) fn io_err(path: &Path, what: &str, e: impl std::fmt::Display) -> WorkloadError {
    WorkloadError::Failed(format!("{}: {what}: {e}", path.display()))
}

/// How a file is opened, beyond read-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Through the page cache.
    Buffered,
    /// `O_DSYNC`: every write is durable when it returns (PostgreSQL's `open_datasync`).
    Dsync,
    /// `O_SYNC` (PostgreSQL's `open_sync`).
    Sync,
    /// `O_DIRECT`: bypasses the page cache; buffers, offsets and sizes must be aligned
    /// (InnoDB's `innodb_flush_method=O_DIRECT` for data files).
    Direct,
}

impl Mode {
    fn flags(self) -> i32 {
        match self {
            Mode::Buffered => 0,
            Mode::Dsync => OFlag::O_DSYNC.bits(),
            Mode::Sync => OFlag::O_SYNC.bits(),
            Mode::Direct => OFlag::O_DIRECT.bits(),
        }
    }
}

/// A file of the workload with its path, for messages.
#[derive(Debug)]
pub(crate) struct DataFile {
    path: PathBuf,
    file: File,
}

impl DataFile {
    /// Creates `path`, which must not exist yet (the workload never overwrites what it did
    /// not make).
    pub(crate) fn create(path: &Path, mode: Mode) -> Result<Self, WorkloadError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(mode.flags())
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    io_err(
                        path,
                        "create",
                        "it exists already; run in an empty directory",
                    )
                } else {
                    open_err(path, "create", mode, e)
                }
            })?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Opens the existing file `path` read-write.
    pub(crate) fn open(path: &Path, mode: Mode) -> Result<Self, WorkloadError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(mode.flags())
            .open(path)
            .map_err(|e| open_err(path, "open", mode, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Its path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `pwrite64` of all of `buf` at `offset`.
    pub(crate) fn pwrite(&self, buf: &[u8], offset: u64) -> Result<(), WorkloadError> {
        self.file.write_all_at(buf, offset).map_err(|e| {
            io_err(
                &self.path,
                &format!("pwrite of {} bytes at {offset}", buf.len()),
                e,
            )
        })
    }

    /// `write` of all of `buf` at the file position.
    pub(crate) fn write(&mut self, buf: &[u8]) -> Result<(), WorkloadError> {
        self.file
            .write_all(buf)
            .map_err(|e| io_err(&self.path, &format!("write of {} bytes", buf.len()), e))
    }

    /// `fdatasync`, timed.
    pub(crate) fn fdatasync(&self) -> Result<Duration, WorkloadError> {
        let t = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| io_err(&self.path, "fdatasync", e))?;
        Ok(t.elapsed())
    }

    /// `fsync`, timed.
    pub(crate) fn fsync(&self) -> Result<Duration, WorkloadError> {
        let t = Instant::now();
        self.file
            .sync_all()
            .map_err(|e| io_err(&self.path, "fsync", e))?;
        Ok(t.elapsed())
    }

    /// `ftruncate` to `len` bytes.
    pub(crate) fn set_len(&self, len: u64) -> Result<(), WorkloadError> {
        self.file
            .set_len(len)
            .map_err(|e| io_err(&self.path, &format!("ftruncate to {len} bytes"), e))
    }
}

fn open_err(path: &Path, what: &str, mode: Mode, e: std::io::Error) -> WorkloadError {
    if mode == Mode::Direct && e.raw_os_error() == Some(nix::libc::EINVAL) {
        io_err(
            path,
            what,
            "O_DIRECT is not supported by this filesystem (tmpfs?); use flush_method=\"fsync\" or another directory",
        )
    } else {
        io_err(path, what, e)
    }
}

/// `mkdir` of `path` (its parent exists).
pub(crate) fn mkdir(path: &Path) -> Result<(), WorkloadError> {
    std::fs::create_dir(path).map_err(|e| io_err(path, "mkdir", e))
}

/// Syncs a directory's entries: opens it read-only and calls `fsync` (PostgreSQL's
/// `fsync_fname`) or `fdatasync` (SQLite's `unixSync` of the directory, as the trace shows).
pub(crate) fn sync_dir(path: &Path, data_only: bool) -> Result<Duration, WorkloadError> {
    let dir = File::open(path).map_err(|e| io_err(path, "open directory", e))?;
    let t = Instant::now();
    if data_only {
        dir.sync_data()
    } else {
        dir.sync_all()
    }
    .map_err(|e| io_err(path, "sync directory", e))?;
    Ok(t.elapsed())
}

/// `rename(from, to)`.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), WorkloadError> {
    std::fs::rename(from, to).map_err(|e| io_err(from, &format!("rename to {}", to.display()), e))
}

/// `unlink`.
pub(crate) fn remove(path: &Path) -> Result<(), WorkloadError> {
    std::fs::remove_file(path).map_err(|e| io_err(path, "unlink", e))
}

/// A zeroed buffer of `len` bytes whose start is aligned to `align` bytes (a power of two),
/// for `O_DIRECT`. Safe Rust cannot ask the allocator for an alignment of a `Vec<u8>`, so it
/// allocates `align` bytes more and starts at the first aligned address inside.
#[derive(Debug)]
pub(crate) struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zero bytes aligned to `align`.
    pub(crate) fn new(len: usize, align: usize) -> Self {
        let align = align.max(1);
        let raw = vec![0u8; len + align];
        let addr = raw.as_ptr() as usize;
        let start = (align - addr % align) % align;
        Self { raw, start, len }
    }

    /// The aligned bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    /// The aligned bytes, writable.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned() {
        for align in [512usize, 4096] {
            for len in [0usize, 1, 4096, 16384] {
                let mut b = AlignedBuf::new(len, align);
                assert_eq!(b.as_slice().as_ptr() as usize % align, 0);
                assert_eq!(b.as_mut_slice().len(), len);
            }
        }
    }

    #[test]
    fn errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a");
        let f = DataFile::create(&p, Mode::Buffered).unwrap();
        f.pwrite(b"xyz", 5).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"\0\0\0\0\0xyz");
        let e = DataFile::create(&p, Mode::Buffered)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exists already") && e.contains(&p.display().to_string()),
            "{e}"
        );
        let e = DataFile::open(&tmp.path().join("missing"), Mode::Buffered)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing") && e.contains("open"), "{e}");
        let e = rename(&tmp.path().join("missing"), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rename to"), "{e}");
    }
}
