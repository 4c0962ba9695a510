//! InnoDB's data-page path: 16 KiB pages that transactions dirty, flushed by the page
//! cleaner in batches through the doublewrite buffer: each batch is written as one
//! `pwrite` into `#ib_16384_0.dblwr` and `fsync`ed, then every page is written in place
//! into the tablespace `sbtest/sbtest1.ibd`, which is `fsync`ed at the end of the flush
//! (benchmark-method.md §3.3; MySQL ≥ 8.0.20 `buf0dblwr.cc`). With
//! `innodb_flush_method=O_DIRECT` both files are opened `O_DIRECT` and written from
//! 4096-aligned buffers; the `fsync`s stay (only `O_DIRECT_NO_FSYNC` drops them).

use super::control::{Control, Counter};
use super::io::{AlignedBuf, DataFile, Mode};
use crate::rng::SplitMix64;
use crate::{RunContext, WorkloadError};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// InnoDB's default page size.
pub(crate) const PAGE: u64 = 16384;
/// Buffer alignment for `O_DIRECT`.
const ALIGN: usize = 4096;

/// Data-page events in the measured window.
#[derive(Debug, Default)]
pub(crate) struct PageStats {
    /// In-place page writes into the tablespace.
    pub page_writes: Counter,
    /// Batch writes into the doublewrite file.
    pub dblwr_writes: Counter,
    /// `fsync`s of the doublewrite file.
    pub dblwr_fsyncs: Counter,
    /// `fsync`s of the tablespace.
    pub data_fsyncs: Counter,
}

#[derive(Debug)]
struct Dirty {
    list: Vec<u64>,
    bits: Vec<u64>,
}

/// The sizes and options of the data files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Pages of the tablespace.
    pub pages: u64,
    /// Pages per doublewrite batch.
    pub batch: u32,
    /// Whether pages go through the doublewrite file.
    pub doublewrite: bool,
    /// [`Mode::Direct`] for `O_DIRECT`, else [`Mode::Buffered`].
    pub mode: Mode,
}

/// The tablespace, the doublewrite file and the dirty pages.
#[derive(Debug)]
pub(crate) struct DataPages {
    tablespace: DataFile,
    dblwr: Option<DataFile>,
    pages: u64,
    batch: usize,
    mode: Mode,
    dirty: Mutex<Dirty>,
    /// What happened in the window.
    pub stats: PageStats,
}

impl DataPages {
    /// Creates `sbtest/sbtest1.ibd` of `layout.pages` pages under `dir` (written whole),
    /// and with `layout.doublewrite` the doublewrite file of one batch.
    pub(crate) fn create(
        ctx: &RunContext<'_>,
        dir: &Path,
        layout: Layout,
        rng: &mut SplitMix64,
        zero_fraction: f64,
    ) -> Result<Self, WorkloadError> {
        let Layout {
            pages,
            batch,
            doublewrite,
            mode,
        } = layout;
        let batch = batch.max(1) as usize;
        let db = dir.join("sbtest");
        super::io::mkdir(&db)?;
        let mut tablespace = DataFile::create(&db.join("sbtest1.ibd"), mode)?;
        let chunk_pages = 64u64;
        let mut buf = AlignedBuf::new((chunk_pages * PAGE) as usize, ALIGN);
        let mut left = pages;
        while left > 0 {
            super::control::check(ctx)?;
            let n = left.min(chunk_pages);
            let bytes = &mut buf.as_mut_slice()[..(n * PAGE) as usize];
            for page in bytes.chunks_mut(PAGE as usize) {
                rng.fill(page, zero_fraction);
            }
            tablespace.write(bytes)?;
            left -= n;
        }
        tablespace.fsync()?;
        let dblwr = if doublewrite {
            let mut f = DataFile::create(&dir.join("#ib_16384_0.dblwr"), mode)?;
            let zeros = AlignedBuf::new(batch * PAGE as usize, ALIGN);
            f.write(zeros.as_slice())?;
            f.fsync()?;
            Some(f)
        } else {
            None
        };
        super::io::sync_dir(&db, false)?;
        Ok(Self {
            tablespace,
            dblwr,
            pages,
            batch,
            mode,
            dirty: Mutex::new(Dirty {
                list: Vec::new(),
                bits: vec![0; (pages as usize).div_ceil(64)],
            }),
            stats: PageStats::default(),
        })
    }

    /// How many pages the tablespace has.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Dirty>, WorkloadError> {
        self.dirty
            .lock()
            .map_err(|_| WorkloadError::Failed("a page thread panicked".to_owned()))
    }

    /// A transaction modifies `page`.
    pub(crate) fn modify(&self, page: u64) -> Result<(), WorkloadError> {
        if page >= self.pages {
            return Err(WorkloadError::Failed(format!(
                "data page {page} out of range"
            )));
        }
        let mut d = self.lock()?;
        let (w, b) = ((page / 64) as usize, 1u64 << (page % 64));
        match d.bits.get(w) {
            Some(bits) if bits & b == 0 => {
                d.bits[w] |= b;
                d.list.push(page);
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(WorkloadError::Failed(format!(
                "data page {page} out of range"
            ))),
        }
    }

    /// Every dirty page, in page order, now clean.
    pub(crate) fn take_dirty(&self) -> Result<Vec<u64>, WorkloadError> {
        let mut d = self.lock()?;
        let mut list = std::mem::take(&mut d.list);
        for &p in &list {
            d.bits[(p / 64) as usize] &= !(1u64 << (p % 64));
        }
        list.sort_unstable();
        Ok(list)
    }

    /// Flushes `pages`: per batch a doublewrite `pwrite` and `fsync`, then the in-place
    /// writes; at the end an `fsync` of the tablespace. False if the run ended during it.
    pub(crate) fn flush(
        &self,
        pages: &[u64],
        ctl: &Control,
        rng: &mut SplitMix64,
        zero_fraction: f64,
    ) -> Result<bool, WorkloadError> {
        if pages.is_empty() {
            return Ok(true);
        }
        let mut buf = AlignedBuf::new(self.batch * PAGE as usize, ALIGN);
        let ps = PAGE as usize;
        for batch in pages.chunks(self.batch) {
            if ctl.stopping() {
                return Ok(false);
            }
            let bytes = &mut buf.as_mut_slice()[..batch.len() * ps];
            for (img, &p) in bytes.chunks_mut(ps).zip(batch) {
                rng.fill(img, zero_fraction);
                // FIL_PAGE_OFFSET: the page number, as InnoDB stamps every page.
                img[4..8].copy_from_slice(&(p as u32).to_be_bytes());
            }
            if let Some(dblwr) = &self.dblwr {
                let t = Instant::now();
                dblwr.pwrite(bytes, 0)?;
                dblwr.fsync()?;
                if ctl.window.contains(t) {
                    self.stats.dblwr_writes.add(1);
                    self.stats.dblwr_fsyncs.add(1);
                }
            }
            for (img, &p) in bytes.chunks(ps).zip(batch) {
                let t = Instant::now();
                self.tablespace.pwrite(img, p * PAGE)?;
                if ctl.window.contains(t) {
                    self.stats.page_writes.add(1);
                }
            }
        }
        let t = Instant::now();
        self.tablespace.fsync()?;
        if ctl.window.contains(t) {
            self.stats.data_fsyncs.add(1);
        }
        Ok(true)
    }

    /// Whether the files are opened `O_DIRECT`.
    pub(crate) fn direct(&self) -> bool {
        self.mode == Mode::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::super::control::Window;
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn pages_go_through_the_doublewrite_file_then_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let ctx = RunContext {
            dir: tmp.path(),
            device: tmp.path(),
            quick: true,
            interrupted: &flag,
        };
        let mut rng = SplitMix64::new(1);
        for mode in [Mode::Buffered, Mode::Direct] {
            let dir = tmp.path().join(format!("{mode:?}"));
            std::fs::create_dir(&dir).unwrap();
            let d = match DataPages::create(
                &ctx,
                &dir,
                Layout {
                    pages: 16,
                    batch: 3,
                    doublewrite: true,
                    mode,
                },
                &mut rng,
                0.5,
            ) {
                Err(e)
                    if mode == Mode::Direct
                        && e.to_string().contains("O_DIRECT is not supported") =>
                {
                    eprintln!("SKIPPED: O_DIRECT on {}: {e}", tmp.path().display());
                    continue;
                }
                other => other.unwrap(),
            };
            assert_eq!(
                std::fs::metadata(dir.join("sbtest/sbtest1.ibd"))
                    .unwrap()
                    .len(),
                16 * PAGE
            );
            assert_eq!(
                std::fs::metadata(dir.join("#ib_16384_0.dblwr"))
                    .unwrap()
                    .len(),
                3 * PAGE
            );
            for p in [9, 2, 9, 5, 15, 0] {
                d.modify(p).unwrap();
            }
            assert!(d.modify(16).is_err());
            let pages = d.take_dirty().unwrap();
            assert_eq!(pages, vec![0, 2, 5, 9, 15]);
            assert!(d.take_dirty().unwrap().is_empty());
            let ctl = Control::new(Window::after(Duration::ZERO, Duration::from_secs(60)));
            assert!(d.flush(&pages, &ctl, &mut rng, 0.5).unwrap());
            // Two batches (3 + 2 pages), five in-place writes, one tablespace fsync.
            assert_eq!(d.stats.dblwr_writes.get(), 2);
            assert_eq!(d.stats.page_writes.get(), 5);
            assert_eq!(d.stats.data_fsyncs.get(), 1);
            assert_eq!(d.direct(), mode == Mode::Direct);
            let data = std::fs::read(dir.join("sbtest/sbtest1.ibd")).unwrap();
            for p in pages {
                let at = (p * PAGE) as usize + 4;
                assert_eq!(
                    u32::from_be_bytes(data[at..at + 4].try_into().unwrap()),
                    p as u32
                );
            }
            // The last batch (pages 9 and 15) is what the doublewrite file holds first.
            let dw = std::fs::read(dir.join("#ib_16384_0.dblwr")).unwrap();
            assert_eq!(u32::from_be_bytes(dw[4..8].try_into().unwrap()), 9);
        }
    }
}
