//! The table files of the PostgreSQL profile (`base/5/<relfilenode>`): 8 KiB pages that
//! transactions dirty, the background writer's random 8 KiB `pwrite`s into them, and the
//! checkpoint that writes every dirty page and `fsync`s each file (PostgreSQL's
//! `BgBufferSync` and `CheckPointGuts`, benchmark-method.md §3.1). It also knows which pages
//! were modified since the last checkpoint's redo point: the first modification after it
//! puts a full-page image into the WAL (`full_page_writes=on`). A run starts as the traces
//! were taken, long after a checkpoint, with every page already modified since; images
//! come after the run's own checkpoints.

use super::control::Counter;
use super::io::{DataFile, Mode};
use crate::rng::SplitMix64;
use crate::{RunContext, WorkloadError};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// PostgreSQL's block size.
pub(crate) const PAGE: u64 = 8192;

/// The relfilenode of the first table file (the first user relation of a fresh cluster).
const FIRST_RELFILENODE: u64 = 16384;

#[derive(Debug)]
struct PageState {
    /// Dirty pages, in no order (random picks by swap-remove).
    dirty: Vec<u64>,
    /// Position of each page in `dirty`, or `u32::MAX`.
    slot: Vec<u32>,
    /// Pages modified since the last checkpoint's redo point.
    touched: Vec<u64>,
}

/// Table-file events in the measured window.
#[derive(Debug, Default)]
pub(crate) struct TableStats {
    /// 8 KiB page writes (background writer and checkpoints).
    pub writes: Counter,
    /// `fsync`s of table files.
    pub fsyncs: Counter,
}

/// The table files and their pages' state.
#[derive(Debug)]
pub(crate) struct Tables {
    files: Vec<DataFile>,
    pages_per_file: u64,
    state: Mutex<PageState>,
    /// What happened in the window.
    pub stats: TableStats,
}

const NOT_DIRTY: u32 = u32::MAX;

impl Tables {
    /// Creates `count` files of `pages_per_file` pages in `dir` (`base/5/16384`, ...),
    /// written whole with page-like content (not sparse: on a copy-on-write layout the
    /// later writes really copy), and `fsync`s them.
    pub(crate) fn create(
        ctx: &RunContext<'_>,
        dir: &Path,
        count: u64,
        pages_per_file: u64,
        rng: &mut SplitMix64,
        zero_fraction: f64,
    ) -> Result<Self, WorkloadError> {
        let mut files = Vec::new();
        let chunk_pages = 128u64;
        let mut buf = vec![0u8; (chunk_pages * PAGE) as usize];
        for i in 0..count {
            let mut f = DataFile::create(
                &dir.join((FIRST_RELFILENODE + i).to_string()),
                Mode::Buffered,
            )?;
            let mut left = pages_per_file;
            while left > 0 {
                super::control::check(ctx)?;
                let n = left.min(chunk_pages);
                let bytes = &mut buf[..(n * PAGE) as usize];
                for page in bytes.chunks_mut(PAGE as usize) {
                    rng.fill(page, zero_fraction);
                }
                f.write(bytes)?;
                left -= n;
            }
            f.fsync()?;
            files.push(f);
        }
        let total = (count * pages_per_file) as usize;
        Ok(Self {
            files,
            pages_per_file,
            state: Mutex::new(PageState {
                dirty: Vec::new(),
                slot: vec![NOT_DIRTY; total],
                // The run starts between checkpoints with every page modified since the
                // last one (the state the traces caught: no full-page images); the first
                // checkpoint of the run clears this.
                touched: vec![u64::MAX; total.div_ceil(64)],
            }),
            stats: TableStats::default(),
        })
    }

    /// How many pages there are.
    pub(crate) fn pages(&self) -> u64 {
        self.files.len() as u64 * self.pages_per_file
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, PageState>, WorkloadError> {
        self.state
            .lock()
            .map_err(|_| WorkloadError::Failed("a table thread panicked".to_owned()))
    }

    /// A transaction modifies `page`: it becomes dirty. Returns true if this is its first
    /// modification since the last checkpoint's redo point (it needs a full-page image).
    pub(crate) fn modify(&self, page: u64) -> Result<bool, WorkloadError> {
        let mut st = self.lock()?;
        let p = page as usize;
        if p >= st.slot.len() {
            return Err(WorkloadError::Failed(format!(
                "table page {page} out of range"
            )));
        }
        if st.slot[p] == NOT_DIRTY {
            st.slot[p] = st.dirty.len() as u32;
            st.dirty.push(page);
        }
        let (word, bit) = (p / 64, 1u64 << (p % 64));
        let first = st.touched[word] & bit == 0;
        st.touched[word] |= bit;
        Ok(first)
    }

    /// Up to `n` dirty pages picked at random, now clean (the background writer's share).
    pub(crate) fn take_random_dirty(
        &self,
        n: u64,
        rng: &mut SplitMix64,
    ) -> Result<Vec<u64>, WorkloadError> {
        let mut st = self.lock()?;
        let mut out = Vec::new();
        while (out.len() as u64) < n && !st.dirty.is_empty() {
            let i = rng.below(st.dirty.len() as u64) as usize;
            let page = st.dirty.swap_remove(i);
            st.slot[page as usize] = NOT_DIRTY;
            if let Some(&moved) = st.dirty.get(i) {
                st.slot[moved as usize] = i as u32;
            }
            out.push(page);
        }
        Ok(out)
    }

    /// The start of a checkpoint: every dirty page in file order (PostgreSQL sorts the
    /// checkpoint's writes), now clean, and no page modified since the new redo point.
    pub(crate) fn begin_checkpoint(&self) -> Result<Vec<u64>, WorkloadError> {
        let mut st = self.lock()?;
        let mut pages = std::mem::take(&mut st.dirty);
        for &p in &pages {
            st.slot[p as usize] = NOT_DIRTY;
        }
        st.touched.fill(0);
        pages.sort_unstable();
        Ok(pages)
    }

    /// `pwrite`s one 8 KiB page image.
    pub(crate) fn write_page(
        &self,
        page: u64,
        image: &[u8],
        in_window: bool,
    ) -> Result<(), WorkloadError> {
        let file = &self.files[(page / self.pages_per_file) as usize % self.files.len()];
        file.pwrite(image, (page % self.pages_per_file) * PAGE)?;
        if in_window {
            self.stats.writes.add(1);
        }
        Ok(())
    }

    /// `fsync`s every table file; returns each call's duration.
    pub(crate) fn fsync_all(&self, in_window: bool) -> Result<Vec<Duration>, WorkloadError> {
        let mut times = Vec::new();
        for f in &self.files {
            times.push(f.fsync()?);
            if in_window {
                self.stats.fsyncs.add(1);
            }
        }
        Ok(times)
    }

    /// The files' paths.
    #[cfg(test)]
    pub(crate) fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn pages_get_dirty_once_and_need_an_image_once_per_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let ctx = RunContext {
            dir: tmp.path(),
            device: tmp.path(),
            quick: true,
            interrupted: &flag,
        };
        let mut rng = SplitMix64::new(1);
        let t = Tables::create(&ctx, tmp.path(), 2, 4, &mut rng, 0.5).unwrap();
        assert_eq!(t.pages(), 8);
        for p in t.paths() {
            assert_eq!(std::fs::metadata(p).unwrap().len(), 4 * PAGE);
        }
        assert!(tmp.path().join("16384").exists() && tmp.path().join("16385").exists());
        assert!(
            !t.modify(5).unwrap(),
            "no image before the run's first checkpoint"
        );
        assert!(!t.modify(1).unwrap());
        assert!(!t.modify(7).unwrap());
        assert!(t.modify(8).is_err());
        let some = t.take_random_dirty(1, &mut rng).unwrap();
        assert_eq!(some.len(), 1);
        let rest = t.begin_checkpoint().unwrap();
        let mut all: Vec<u64> = some.iter().chain(&rest).copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 5, 7]);
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(t.begin_checkpoint().unwrap().is_empty());
        assert!(
            t.modify(5).unwrap(),
            "first change after the checkpoint's redo point"
        );
        assert!(!t.modify(5).unwrap());
        t.write_page(5, &[0xAB; PAGE as usize], true).unwrap();
        let data = std::fs::read(tmp.path().join("16385")).unwrap();
        assert!(
            data[PAGE as usize..2 * PAGE as usize]
                .iter()
                .all(|&b| b == 0xAB)
        );
        assert_eq!(t.fsync_all(true).unwrap().len(), 2);
        assert_eq!((t.stats.writes.get(), t.stats.fsyncs.get()), (1, 2));
    }
}
