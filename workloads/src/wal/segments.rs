//! PostgreSQL's WAL segment files in `pg_wal/`: their names, their creation by zero-fill
//! (`wal_init_zero=on`) or by writing only the last byte (`off`), and their recycling by
//! `rename` to a future segment's name after a checkpoint (`wal_recycle=on`) instead of
//! `unlink` (benchmark-method.md §3.1; PostgreSQL's `XLogFileInitInternal`,
//! `InstallXLogFileSegment` and `RemoveXlogFile`).

use super::control::{Counter, Window};
use super::io::{self, DataFile, Mode};
use crate::WorkloadError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// The timeline of every segment (a fresh cluster's).
pub(crate) const TIMELINE: u32 = 1;

/// The file name of segment `segno` of timeline `tli` for segments of `seg_size` bytes, as
/// PostgreSQL's `XLogFileName`: timeline, then the segment number split into the "log id"
/// and the segment within it, each as 8 hex digits (`000000010000000000000001`).
pub(crate) fn segment_name(tli: u32, segno: u64, seg_size: u64) -> String {
    let per_id = 0x1_0000_0000u64 / seg_size.max(1);
    format!("{tli:08X}{:08X}{:08X}", segno / per_id, segno % per_id)
}

/// The segment number a [`segment_name`] stands for, if it is one.
#[cfg(test)]
pub(crate) fn parse_segment_name(name: &str, seg_size: u64) -> Option<(u32, u64)> {
    if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tli = u32::from_str_radix(&name[0..8], 16).ok()?;
    let id = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    let per_id = 0x1_0000_0000u64 / seg_size.max(1);
    (seg < per_id).then_some((tli, id * per_id + seg))
}

/// Segment events in the measured window.
#[derive(Debug, Default)]
pub(crate) struct SegmentStats {
    /// Segments made new (zero-filled or last byte written).
    pub created: Counter,
    /// Old segments renamed to a future name.
    pub recycled: Counter,
    /// Old segments unlinked.
    pub removed: Counter,
}

/// The `pg_wal/` directory.
#[derive(Debug)]
pub(crate) struct SegmentDir {
    dir: PathBuf,
    seg_size: u64,
    init_zero: bool,
    recycle: bool,
    existing: Mutex<BTreeSet<u64>>,
    window: Window,
    /// What happened in the window.
    pub stats: SegmentStats,
}

impl SegmentDir {
    /// `dir` (created by the caller), segments of `seg_size` bytes.
    pub(crate) fn new(
        dir: &Path,
        seg_size: u64,
        init_zero: bool,
        recycle: bool,
        window: Window,
    ) -> Self {
        Self {
            dir: dir.to_owned(),
            seg_size,
            init_zero,
            recycle,
            existing: Mutex::new(BTreeSet::new()),
            window,
            stats: SegmentStats::default(),
        }
    }

    /// Counts events from now on in `window` (setup happens before it is known).
    pub(crate) fn set_window(&mut self, window: Window) {
        self.window = window;
    }

    /// The path of segment `segno`.
    pub(crate) fn path(&self, segno: u64) -> PathBuf {
        self.dir.join(segment_name(TIMELINE, segno, self.seg_size))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeSet<u64>>, WorkloadError> {
        self.existing
            .lock()
            .map_err(|_| WorkloadError::Failed("a WAL thread panicked".to_owned()))
    }

    /// Makes segment `segno` if it does not exist: into a temporary file
    /// (`xlogtemp.<pid>`), zero-filled with 8 KiB `write`s or with only its last byte
    /// written, `fsync`ed, renamed into place, and the directory `fsync`ed. Returns true
    /// if it made it.
    pub(crate) fn ensure(&self, segno: u64) -> Result<bool, WorkloadError> {
        let mut existing = self.lock()?;
        if existing.contains(&segno) {
            return Ok(false);
        }
        let tmp = self.dir.join(format!("xlogtemp.{}", std::process::id()));
        let mut f = DataFile::create(&tmp, Mode::Buffered)?;
        if self.init_zero {
            let zeros = vec![0u8; 8192];
            for _ in 0..self.seg_size / 8192 {
                f.write(&zeros)?;
            }
        } else {
            f.pwrite(&[0], self.seg_size - 1)?;
        }
        f.fsync()?;
        drop(f);
        io::rename(&tmp, &self.path(segno))?;
        io::sync_dir(&self.dir, false)?;
        existing.insert(segno);
        if self.window.contains(Instant::now()) {
            self.stats.created.add(1);
        }
        Ok(true)
    }

    /// Opens segment `segno` for writing (making it first if needed).
    pub(crate) fn open(&self, segno: u64, mode: Mode) -> Result<DataFile, WorkloadError> {
        self.ensure(segno)?;
        DataFile::open(&self.path(segno), mode)
    }

    /// After a checkpoint whose redo point is in segment `keep_from`: every older segment
    /// is renamed to the next free future name after `current` (at most `max_future` ahead)
    /// with `wal_recycle=on`, else unlinked. Returns (recycled, removed).
    pub(crate) fn recycle_before(
        &self,
        keep_from: u64,
        current: u64,
        max_future: u64,
    ) -> Result<(u64, u64), WorkloadError> {
        let mut existing = self.lock()?;
        let old: Vec<u64> = existing.range(..keep_from).copied().collect();
        let (mut recycled, mut removed) = (0, 0);
        let mut next = current + 1;
        for segno in old {
            while existing.contains(&next) {
                next += 1;
            }
            let from = self.path(segno);
            if self.recycle && next <= current + max_future {
                io::rename(&from, &self.path(next))?;
                existing.insert(next);
                recycled += 1;
            } else {
                io::remove(&from)?;
                removed += 1;
            }
            existing.remove(&segno);
        }
        if recycled + removed > 0 {
            io::sync_dir(&self.dir, false)?;
            if self.window.contains(Instant::now()) {
                self.stats.recycled.add(recycled);
                self.stats.removed.add(removed);
            }
        }
        Ok((recycled, removed))
    }

    /// The segments there are.
    #[cfg(test)]
    pub(crate) fn existing(&self) -> Result<Vec<u64>, WorkloadError> {
        Ok(self.lock()?.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: u64 = 1 << 20;

    #[test]
    fn names_are_postgresql_names() {
        assert_eq!(segment_name(1, 1, 16 * MIB), "000000010000000000000001");
        assert_eq!(segment_name(1, 5, 16 * MIB), "000000010000000000000005");
        // 256 segments of 16 MiB per 4 GiB "log id".
        assert_eq!(segment_name(1, 256, 16 * MIB), "000000010000000100000000");
        assert_eq!(segment_name(1, 0x1FF, 16 * MIB), "0000000100000001000000FF");
        assert_eq!(segment_name(2, 4096 + 3, MIB), "000000020000000100000003");
        for (segno, size) in [(1, 16 * MIB), (300, 16 * MIB), (5000, MIB), (7, 1024 * MIB)] {
            let name = segment_name(1, segno, size);
            assert_eq!(parse_segment_name(&name, size), Some((1, segno)), "{name}");
        }
        assert_eq!(parse_segment_name("xlogtemp.12", 16 * MIB), None);
        assert_eq!(
            parse_segment_name("0000000100000000000001FF", 16 * MIB),
            None
        );
    }

    fn dir(init_zero: bool, recycle: bool) -> (tempfile::TempDir, SegmentDir) {
        let tmp = tempfile::tempdir().unwrap();
        let window = Window::after(Duration::ZERO, Duration::from_secs(600));
        let d = SegmentDir::new(tmp.path(), MIB, init_zero, recycle, window);
        (tmp, d)
    }

    #[test]
    fn segments_are_made_whole_or_sparse() {
        let (tmp, d) = dir(true, true);
        assert!(d.ensure(1).unwrap());
        assert!(!d.ensure(1).unwrap(), "made once");
        let p = tmp.path().join("000000010000000000000001");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.len(), MIB);
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 >= MIB, "zero-filled, not sparse");
        assert!(std::fs::read(&p).unwrap().iter().all(|&b| b == 0));
        assert_eq!(d.stats.created.get(), 1);
        assert!(
            !tmp.path()
                .join(format!("xlogtemp.{}", std::process::id()))
                .exists()
        );

        let (tmp, d) = dir(false, true);
        d.open(3, Mode::Buffered).unwrap();
        let meta = std::fs::metadata(tmp.path().join("000000010000000000000003")).unwrap();
        assert_eq!(meta.len(), MIB);
        assert!(meta.blocks() * 512 < MIB, "only the last byte written");
    }

    #[test]
    fn old_segments_are_renamed_ahead_or_removed() {
        let (tmp, d) = dir(false, true);
        for s in 1..=4 {
            d.ensure(s).unwrap();
        }
        // Checkpoint with its redo point in segment 3, writing in segment 4: 1 and 2 become
        // 5 and 6.
        assert_eq!(d.recycle_before(3, 4, 8).unwrap(), (2, 0));
        assert_eq!(d.existing().unwrap(), vec![3, 4, 5, 6]);
        assert!(tmp.path().join("000000010000000000000006").exists());
        assert!(!tmp.path().join("000000010000000000000001").exists());
        assert_eq!(d.stats.recycled.get(), 2);
        // At most 2 names ahead of segment 4 (5 and 6, both taken): 3 and 4 are unlinked.
        assert_eq!(d.recycle_before(5, 4, 2).unwrap(), (0, 2));
        assert_eq!(d.existing().unwrap(), vec![5, 6]);

        let (_tmp, d) = dir(false, false);
        d.ensure(1).unwrap();
        d.ensure(2).unwrap();
        assert_eq!(
            d.recycle_before(2, 2, 8).unwrap(),
            (0, 1),
            "wal_recycle=off unlinks"
        );
        assert_eq!(d.stats.removed.get(), 1);
    }
}
