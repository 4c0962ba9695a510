//! The InnoDB profile: MySQL ≥ 8.0.30's redo log under small update transactions
//! (benchmark-method.md §3.3; MySQL's `log0write.cc`).
//!
//! The redo log is 32 files `#innodb_redo/#ib_redoN` of `innodb_redo_log_capacity / 32`
//! each (a 2 KiB header, then 512-byte log blocks with a 12-byte header and a 4-byte
//! checksum trailer), made whole before the run. Clients append `record_bytes` per
//! transaction and commit through [`GroupCommit`]: the leader writes the blocks from the
//! one holding the written position (the partly filled last block is written again by
//! every flush) to the insert position, applying InnoDB's write-ahead rule: a write that
//! reaches past the region already written ahead is padded with zeros to the end of its
//! `innodb_log_write_ahead_size` (8 KiB) region, so the filesystem never reads a block to
//! modify part of it; writes inside a region written ahead are not padded. With
//! `innodb_flush_log_at_trx_commit=1` every commit waits for an `fsync` of the redo file
//! (one `fsync` covers everyone queued: group commit); with `2` commits only write and a
//! background thread `fsync`s once a second; with `0` that thread writes and `fsync`s
//! once a second. Files are written in a circle: the writer moving on to file N+32 renames
//! the consumed `#ib_redoN` to it once the checkpoint has passed it, and writes its header.
//!
//! A page cleaner, every `page_cleaner_interval_s` (or sooner when the redo fills), flushes
//! every dirty 16 KiB page through the doublewrite buffer ([`super::doublewrite`]), then
//! writes a checkpoint block into the redo file header and `fsync`s it. Clients wait
//! before a transaction while the checkpoint age is near the capacity (`log_free_check`).

use super::control::{self, Control, Counter, Window, check, drive, settle};
use super::doublewrite::{self, DataPages, Layout};
use super::group_commit::{GroupCommit, LogFormat, LogSink, Ring, Wait, align_down, align_up};
use super::io::{self, DataFile, Mode};
use super::{RunLength, in_range, join_all, measurement};
use crate::latency::Latencies;
use crate::rng::SplitMix64;
use crate::{Measurement, RunContext, WorkloadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// `OS_FILE_LOG_BLOCK_SIZE`.
pub(crate) const BLOCK: u64 = 512;
/// `LOG_BLOCK_HDR_SIZE`.
const BLOCK_HEADER: u64 = 12;
/// `LOG_BLOCK_TRL_SIZE`.
const BLOCK_TRAILER: u64 = 4;
/// `LOG_FILE_HDR_SIZE`: the header blocks of each redo file.
pub(crate) const FILE_HEADER: u64 = 2048;
/// Redo files of MySQL ≥ 8.0.30.
pub(crate) const FILES: u64 = 32;

/// `innodb_flush_method` for the data files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlushMethod {
    /// Buffered writes and `fsync` (MySQL's default on Linux).
    #[serde(rename = "fsync")]
    Fsync,
    /// `O_DIRECT` writes and `fsync` (MariaDB ≥ 10.6's default).
    #[serde(rename = "O_DIRECT", alias = "o_direct")]
    ODirect,
}

/// Parameters of `wal=innodb`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InnodbConfig {
    /// Client threads.
    pub clients: u32,
    /// Redo bytes per transaction (block headers not counted).
    pub record_bytes: u32,
    /// `innodb_flush_log_at_trx_commit`: 1 (write and `fsync` per commit), 2 (write per
    /// commit, `fsync` once a second) or 0 (both once a second).
    pub flush_log_at_trx_commit: u8,
    /// `innodb_log_write_ahead_size` (a power of two, 512 to 16384).
    pub log_write_ahead_size: u32,
    /// `innodb_redo_log_capacity` for quick runs, MiB.
    pub quick_redo_mib: u64,
    /// The same for full runs (MySQL's default: 100).
    pub full_redo_mib: u64,
    /// `innodb_log_buffer_size`, MiB.
    pub log_buffer_mib: u64,
    /// Random 16 KiB data pages each transaction modifies.
    pub pages_per_txn: u32,
    /// `innodb_flush_method` for the tablespace and doublewrite file.
    pub flush_method: FlushMethod,
    /// `innodb_doublewrite`.
    pub doublewrite: bool,
    /// Pages per doublewrite batch (`innodb_doublewrite_pages`).
    pub doublewrite_pages: u32,
    /// Seconds between page-cleaner flushes.
    pub page_cleaner_interval_s: f64,
    /// Tablespace size for quick runs, MiB.
    pub quick_tablespace_mib: u64,
    /// The same for full runs.
    pub full_tablespace_mib: u64,
    /// Think time per transaction, ms.
    pub think_ms: f64,
    /// Fraction of each record and page that is zeros.
    pub zero_fraction: f64,
    /// Seed of page choices and contents.
    pub seed: u64,
    /// Measured seconds of quick runs.
    pub quick_runtime_s: f64,
    /// Measured seconds of full runs.
    pub full_runtime_s: f64,
    /// Warm-up seconds of quick runs.
    pub quick_warmup_s: f64,
    /// Warm-up seconds of full runs.
    pub full_warmup_s: f64,
}

impl Default for InnodbConfig {
    fn default() -> Self {
        Self {
            clients: 1,
            record_bytes: 550,
            flush_log_at_trx_commit: 1,
            log_write_ahead_size: 8192,
            quick_redo_mib: 32,
            full_redo_mib: 100,
            log_buffer_mib: 16,
            pages_per_txn: 1,
            flush_method: FlushMethod::Fsync,
            doublewrite: true,
            doublewrite_pages: 64,
            page_cleaner_interval_s: 1.0,
            quick_tablespace_mib: 32,
            full_tablespace_mib: 256,
            think_ms: 0.0,
            zero_fraction: 0.5,
            seed: 1,
            quick_runtime_s: 3.0,
            full_runtime_s: 30.0,
            quick_warmup_s: 1.0,
            full_warmup_s: 2.0,
        }
    }
}

/// Redo file size for a capacity: a 32nd, rounded down to 64 KiB.
fn file_size(capacity: u64) -> u64 {
    align_down(capacity / FILES, 64 * 1024)
}

impl InnodbConfig {
    /// Checks the ranges; `label` names the workload in messages.
    pub fn validate(&self, label: &str) -> Result<(), WorkloadError> {
        in_range(label, "clients", self.clients, 1, 1024)?;
        in_range(label, "record_bytes", self.record_bytes, 16, 1 << 20)?;
        in_range(
            label,
            "flush_log_at_trx_commit",
            self.flush_log_at_trx_commit,
            0,
            2,
        )?;
        in_range(
            label,
            "log_write_ahead_size",
            self.log_write_ahead_size,
            512,
            16384,
        )?;
        if !self.log_write_ahead_size.is_power_of_two() {
            return Err(WorkloadError::Failed(format!(
                "{label}: log_write_ahead_size must be a power of two (got {})",
                self.log_write_ahead_size
            )));
        }
        in_range(label, "log_buffer_mib", self.log_buffer_mib, 1, 4096)?;
        for (name, mib) in [
            ("quick_redo_mib", self.quick_redo_mib),
            ("full_redo_mib", self.full_redo_mib),
        ] {
            in_range(label, name, mib, 8, 128 * 1024)?;
            if self.free_limit(mib * MIB) < mib * MIB / 4 {
                return Err(WorkloadError::Failed(format!(
                    "{label}: {name} = {mib} is too small for {} clients of {} bytes",
                    self.clients, self.record_bytes
                )));
            }
        }
        in_range(label, "pages_per_txn", self.pages_per_txn, 0, 64)?;
        in_range(label, "doublewrite_pages", self.doublewrite_pages, 1, 1024)?;
        in_range(
            label,
            "page_cleaner_interval_s",
            self.page_cleaner_interval_s,
            0.01,
            3600.0,
        )?;
        in_range(
            label,
            "quick_tablespace_mib",
            self.quick_tablespace_mib,
            1,
            1 << 20,
        )?;
        in_range(
            label,
            "full_tablespace_mib",
            self.full_tablespace_mib,
            1,
            1 << 20,
        )?;
        in_range(label, "think_ms", self.think_ms, 0.0, 10_000.0)?;
        in_range(label, "zero_fraction", self.zero_fraction, 0.0, 1.0)?;
        self.run_length().validate(label)
    }

    fn run_length(&self) -> RunLength {
        RunLength {
            quick_runtime_s: self.quick_runtime_s,
            full_runtime_s: self.full_runtime_s,
            quick_warmup_s: self.quick_warmup_s,
            full_warmup_s: self.full_warmup_s,
        }
    }

    /// The checkpoint age at which clients wait (`log_free_check`): the writer may need to
    /// reuse the oldest file only after the checkpoint passed it, so the age stays below
    /// 31 files' worth, less what the clients can append after passing the check.
    fn free_limit(&self, capacity: u64) -> u64 {
        let per_file = file_size(capacity).saturating_sub(FILE_HEADER);
        let max_txn = RedoFormat.end_of(0, self.record_bytes as usize) + BLOCK;
        (FILES - 1)
            .saturating_mul(per_file)
            .saturating_sub(u64::from(self.clients) * max_txn + per_file)
    }
}

/// Redo blocks: 12-byte header, 496 bytes of records, 4-byte trailer.
#[derive(Debug)]
struct RedoFormat;

impl RedoFormat {
    fn lay(&self, insert: u64, len: usize, mut out: Option<(&mut Ring, &[u8])>) -> u64 {
        let mut pos = insert;
        let mut done = 0usize;
        let data_end = BLOCK - BLOCK_TRAILER;
        while done < len {
            let off = pos % BLOCK;
            if off == 0 {
                if let Some((ring, _)) = out.as_mut() {
                    ring.zero(pos, BLOCK);
                    let mut h = [0u8; BLOCK_HEADER as usize];
                    h[0..4]
                        .copy_from_slice(&((1 + pos / BLOCK) as u32 & 0x3FFF_FFFF).to_be_bytes());
                    h[4..6].copy_from_slice(&(BLOCK_HEADER as u16).to_be_bytes());
                    ring.put(pos, &h);
                }
                pos += BLOCK_HEADER;
                continue;
            }
            if off >= data_end {
                pos += BLOCK - off;
                continue;
            }
            let n = ((data_end - off) as usize).min(len - done);
            if let Some((ring, record)) = out.as_mut() {
                let block = pos - off;
                if done == 0 && ring.read(block + 6, block + 8) == [0, 0] {
                    // LOG_BLOCK_FIRST_REC_GROUP: where the first record starting here begins.
                    ring.put(block + 6, &(off as u16).to_be_bytes());
                }
                ring.put(pos, &record[done..done + n]);
                let used = if off + n as u64 == data_end {
                    BLOCK
                } else {
                    off + n as u64
                };
                ring.put(block + 4, &(used as u16).to_be_bytes());
            }
            pos += n as u64;
            done += n;
        }
        pos
    }
}

impl LogFormat for RedoFormat {
    fn block(&self) -> u64 {
        BLOCK
    }
    fn end_of(&self, insert: u64, len: usize) -> u64 {
        self.lay(insert, len, None)
    }
    fn place(&self, ring: &mut Ring, insert: u64, record: &[u8]) -> u64 {
        self.lay(insert, record.len(), Some((ring, record)))
    }
}

/// One write of the plan: at `offset`, `len` bytes of log then `pad` zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Offset in the file.
    pub offset: u64,
    /// Log bytes.
    pub len: u64,
    /// Zero bytes after them, up to the end of a write-ahead region.
    pub pad: u64,
}

/// How InnoDB writes `size` bytes of blocks at file offset `offset` when the file is
/// written ahead up to `wa_end`, with regions of `wa` bytes (`compute_how_much_to_write`
/// and `prepare_for_write_ahead` of MySQL 8.0's `log0write.cc`): a write inside the region
/// written ahead goes as it is; one that starts inside it and reaches past is cut at its
/// end; one that starts past it is padded with zeros to the end of its region, or, if it
/// is longer, cut at that end. Returns the writes and the new write-ahead end.
pub(crate) fn write_ahead_plan(
    mut offset: u64,
    mut size: u64,
    mut wa_end: u64,
    wa: u64,
) -> (Vec<Piece>, u64) {
    let mut out = Vec::new();
    while size > 0 {
        let piece = if offset + size <= wa_end {
            Piece {
                offset,
                len: size,
                pad: 0,
            }
        } else if offset < wa_end {
            Piece {
                offset,
                len: wa_end - offset,
                pad: 0,
            }
        } else {
            let next = align_down(offset, wa) + wa;
            if offset + size > next {
                Piece {
                    offset,
                    len: next - offset,
                    pad: 0,
                }
            } else {
                Piece {
                    offset,
                    len: size,
                    pad: next - offset - size,
                }
            }
        };
        wa_end = wa_end.max(align_down(piece.offset + piece.len + piece.pad, wa));
        offset += piece.len;
        size -= piece.len;
        out.push(piece);
    }
    (out, wa_end)
}

/// A block's trailer checksum (InnoDB uses CRC-32C; this is FNV-1a, the same cost class
/// and the same bytes rewritten).
fn block_checksum(block: &[u8]) -> u32 {
    block.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Redo-file events in the measured window.
#[derive(Debug, Default)]
struct RedoStats {
    recycled: Counter,
    checkpoints: Counter,
}

/// `#innodb_redo/`: file names, recycling, the checkpoint.
#[derive(Debug)]
struct RedoFiles {
    dir: PathBuf,
    file_size: u64,
    per_file: u64,
    /// (checkpoint LSN, checkpoints written).
    checkpoint: Mutex<(u64, u64)>,
    urgent: AtomicBool,
    window: Window,
    stats: RedoStats,
}

impl RedoFiles {
    fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("#ib_redo{n}"))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, (u64, u64)>, WorkloadError> {
        self.checkpoint
            .lock()
            .map_err(|_| WorkloadError::Failed("a redo thread panicked".to_owned()))
    }

    /// The header block of file `n`: format, start LSN, creator.
    fn header(&self, n: u64) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK as usize];
        h[0..4].copy_from_slice(&6u32.to_be_bytes()); // LOG_HEADER_FORMAT_8_0_30
        h[8..16].copy_from_slice(&(n * self.per_file).to_be_bytes());
        h[16..32].copy_from_slice(b"MySQL 8.0.36\0\0\0\0");
        let c = block_checksum(&h[..508]);
        h[508..512].copy_from_slice(&c.to_be_bytes());
        h
    }

    /// Makes the 32 files, written whole.
    fn create(&self, ctx: &RunContext<'_>) -> Result<(), WorkloadError> {
        io::mkdir(&self.dir)?;
        let zeros = vec![0u8; MIB as usize];
        for n in 0..FILES {
            let mut f = DataFile::create(&self.path(n), Mode::Buffered)?;
            let mut left = self.file_size;
            while left > 0 {
                check(ctx)?;
                let k = left.min(MIB);
                f.write(&zeros[..k as usize])?;
                left -= k;
            }
            f.pwrite(&self.header(n), 0)?;
            f.fsync()?;
        }
        io::sync_dir(&self.dir, false)?;
        Ok(())
    }

    fn checkpoint_lsn(&self) -> Result<u64, WorkloadError> {
        Ok(self.lock()?.0)
    }

    /// Before writing into file `n`: for `n` ≥ 32, renames the consumed file `n − 32` to it
    /// (it must lie wholly before the checkpoint) and writes its header.
    fn prepare(&self, n: u64) -> Result<(), WorkloadError> {
        let st = self.lock()?;
        let path = self.path(n);
        if n < FILES || path.exists() {
            return Ok(());
        }
        let needed = (n - FILES + 1) * self.per_file;
        if st.0 < needed {
            return Err(WorkloadError::Failed(format!(
                "{}: redo log full: the checkpoint is at LSN {}, file {} needs {needed}",
                self.dir.display(),
                st.0,
                n - FILES
            )));
        }
        io::rename(&self.path(n - FILES), &path)?;
        let f = DataFile::open(&path, Mode::Buffered)?;
        f.pwrite(&self.header(n), 0)?;
        f.fsync()?;
        drop(st);
        if self.window.contains(Instant::now()) {
            self.stats.recycled.add(1);
        }
        Ok(())
    }

    /// Writes checkpoint `lsn` into the header of the file holding it (the two checkpoint
    /// blocks at 512 and 1536 alternately) and `fsync`s that file.
    fn write_checkpoint(&self, lsn: u64) -> Result<(), WorkloadError> {
        let mut st = self.lock()?;
        if lsn <= st.0 {
            return Ok(());
        }
        let n = lsn / self.per_file;
        let mut b = vec![0u8; BLOCK as usize];
        b[8..16].copy_from_slice(&lsn.to_be_bytes());
        let c = block_checksum(&b[..508]);
        b[508..512].copy_from_slice(&c.to_be_bytes());
        let f = DataFile::open(&self.path(n), Mode::Buffered)?;
        let t = Instant::now();
        f.pwrite(&b, if st.1 % 2 == 0 { 512 } else { 1536 })?;
        f.fsync()?;
        *st = (lsn, st.1 + 1);
        if self.window.contains(t) {
            self.stats.checkpoints.add(1);
        }
        Ok(())
    }
}

/// Writes redo blocks into the files, with write-ahead, and syncs them.
#[derive(Debug)]
struct RedoSink<'a> {
    files: &'a RedoFiles,
    wa: u64,
    window: Window,
    /// The file being written: number, handle, write-ahead end, high-water mark.
    open: Option<(u64, DataFile, u64, u64)>,
    unsynced: bool,
    writes: u64,
    bytes: u64,
    padded: u64,
    rewrites: u64,
    syncs: u64,
    sync_lat: Latencies,
}

impl RedoSink<'_> {
    fn sync_open(&mut self) -> Result<(), WorkloadError> {
        if !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        if let Some((_, f, _, _)) = &self.open {
            let t = Instant::now();
            let d = f.fsync()?;
            if self.window.contains(t) {
                self.syncs += 1;
                self.sync_lat.record(d);
            }
        }
        Ok(())
    }

    fn switch_to(&mut self, n: u64) -> Result<(), WorkloadError> {
        if self.open.as_ref().is_some_and(|(k, ..)| *k == n) {
            return Ok(());
        }
        // The finished file is synced before moving on.
        self.sync_open()?;
        self.open = None;
        self.files.prepare(n)?;
        let f = DataFile::open(&self.files.path(n), Mode::Buffered)?;
        self.open = Some((n, f, 0, 0));
        Ok(())
    }
}

impl LogSink for RedoSink<'_> {
    fn write(&mut self, from: u64, _upto: u64, data: &[u8]) -> Result<(), WorkloadError> {
        let mut buf = data.to_vec();
        for block in buf.chunks_mut(BLOCK as usize) {
            if block.len() == BLOCK as usize {
                let c = block_checksum(&block[..508]);
                block[508..].copy_from_slice(&c.to_be_bytes());
            }
        }
        let per_file = self.files.per_file;
        let mut pos = from;
        let mut done = 0usize;
        while done < buf.len() {
            let n = pos / per_file;
            let file_off = FILE_HEADER + pos % per_file;
            let len = ((per_file - pos % per_file) as usize).min(buf.len() - done);
            self.switch_to(n)?;
            let Some((_, f, wa_end, high)) = self.open.as_mut() else {
                return Err(WorkloadError::Failed("no redo file open".to_owned()));
            };
            let (pieces, new_wa) = write_ahead_plan(file_off, len as u64, *wa_end, self.wa);
            *wa_end = new_wa;
            for p in pieces {
                let start = done + (p.offset - file_off) as usize;
                let mut out = buf[start..start + p.len as usize].to_vec();
                out.resize((p.len + p.pad) as usize, 0);
                let t = Instant::now();
                f.pwrite(&out, p.offset)?;
                let rewrite = p.offset < *high;
                *high = (*high).max(p.offset + p.len + p.pad);
                if self.window.contains(t) {
                    self.writes += 1;
                    self.bytes += out.len() as u64;
                    self.padded += u64::from(p.pad > 0);
                    self.rewrites += u64::from(rewrite);
                }
            }
            self.unsynced = true;
            pos += len as u64;
            done += len;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), WorkloadError> {
        self.sync_open()
    }
}

#[derive(Debug, Default)]
struct Stats {
    commits: Counter,
    commits_total: Counter,
    advance: Counter,
    free_waits: Counter,
    cleaner_passes: Counter,
}

struct Shared<'a, 's> {
    cfg: &'a InnodbConfig,
    ctl: &'a Control,
    gc: &'a GroupCommit<RedoFormat, RedoSink<'s>>,
    redo: &'a RedoFiles,
    data: &'a DataPages,
    stats: &'a Stats,
    free_limit: u64,
}

impl Shared<'_, '_> {
    fn wait(&self) -> Wait {
        match self.cfg.flush_log_at_trx_commit {
            0 => Wait::Buffered,
            2 => Wait::Written,
            _ => Wait::Durable,
        }
    }

    /// `log_free_check`: waits while the checkpoint age is past the limit; false if the
    /// run ended meanwhile.
    fn free_check(&self) -> Result<bool, WorkloadError> {
        let mut counted = false;
        loop {
            let age = self
                .gc
                .insert_lsn()?
                .saturating_sub(self.redo.checkpoint_lsn()?);
            if age <= self.free_limit {
                return Ok(true);
            }
            if !counted && self.ctl.window.contains(Instant::now()) {
                self.stats.free_waits.add(1);
                counted = true;
            }
            self.redo.urgent.store(true, Ordering::SeqCst);
            if !self.ctl.sleep(Duration::from_millis(2)) {
                return Ok(false);
            }
        }
    }
}

fn client(sh: &Shared<'_, '_>, n: u64) -> Result<Latencies, WorkloadError> {
    let cfg = sh.cfg;
    let mut rng = SplitMix64::stream(cfg.seed, 1 + n);
    let mut rec = vec![0u8; cfg.record_bytes as usize];
    let mut lat = Latencies::new();
    let think = Duration::from_secs_f64(cfg.think_ms / 1000.0);
    let wait = sh.wait();
    while !sh.ctl.stopping() {
        if !think.is_zero() && !sh.ctl.sleep(think) {
            break;
        }
        if !sh.free_check()? {
            break;
        }
        for _ in 0..cfg.pages_per_txn {
            sh.data.modify(rng.below(sh.data.pages()))?;
        }
        rng.fill(&mut rec, cfg.zero_fraction);
        let t0 = Instant::now();
        let (start, end) = sh.gc.append(&rec)?;
        sh.gc.commit(end, wait)?;
        let t1 = Instant::now();
        sh.stats.commits_total.add(1);
        if sh.ctl.window.contains(t1) {
            sh.stats.commits.add(1);
            sh.stats.advance.add(end - start);
            lat.record(t1 - t0);
        }
    }
    Ok(lat)
}

/// Writes and `fsync`s the redo once a second (`innodb_flush_log_at_trx_commit` 0 and 2).
fn log_timer(sh: &Shared<'_, '_>) -> Result<(), WorkloadError> {
    while sh.ctl.sleep(Duration::from_secs(1)) {
        let lsn = sh.gc.insert_lsn()?;
        sh.gc.commit(lsn, Wait::Durable)?;
    }
    Ok(())
}

fn page_cleaner(sh: &Shared<'_, '_>) -> Result<(), WorkloadError> {
    let interval = Duration::from_secs_f64(sh.cfg.page_cleaner_interval_s);
    let mut rng = SplitMix64::stream(sh.cfg.seed, 0xC1);
    let mut last = Instant::now();
    while sh.ctl.sleep(control::POLL) {
        let insert = sh.gc.insert_lsn()?;
        let age = insert.saturating_sub(sh.redo.checkpoint_lsn()?);
        let urgent = sh.redo.urgent.swap(false, Ordering::SeqCst);
        if last.elapsed() < interval && age < sh.free_limit / 2 && !urgent {
            continue;
        }
        last = Instant::now();
        if sh.cfg.flush_log_at_trx_commit != 1 {
            // The WAL rule: the redo of a page is durable before the page is written.
            sh.gc.commit(insert, Wait::Durable)?;
        }
        let pages = sh.data.take_dirty()?;
        if !sh
            .data
            .flush(&pages, sh.ctl, &mut rng, sh.cfg.zero_fraction)?
        {
            break;
        }
        let lsn = insert.min(sh.gc.flushed_lsn()?);
        sh.redo.write_checkpoint(lsn)?;
        if sh.ctl.window.contains(Instant::now()) {
            sh.stats.cleaner_passes.add(1);
        }
    }
    Ok(())
}

/// Runs the profile in `ctx.dir`.
pub(crate) fn run(cfg: &InnodbConfig, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
    check(ctx)?;
    let dir = ctx.dir;
    if !dir.is_dir() {
        return Err(io::io_err(dir, "run wal-innodb", "not a directory"));
    }
    let capacity = if ctx.quick {
        cfg.quick_redo_mib
    } else {
        cfg.full_redo_mib
    } * MIB;
    let space = if ctx.quick {
        cfg.quick_tablespace_mib
    } else {
        cfg.full_tablespace_mib
    } * MIB;
    let fsize = file_size(capacity);
    let (warmup, runtime) = cfg.run_length().lengths(ctx.quick);
    let mut redo = RedoFiles {
        dir: dir.join("#innodb_redo"),
        file_size: fsize,
        per_file: fsize - FILE_HEADER,
        checkpoint: Mutex::new((0, 0)),
        urgent: AtomicBool::new(false),
        window: Window::after(warmup, runtime),
        stats: RedoStats::default(),
    };
    redo.create(ctx)?;
    let mut rng = SplitMix64::new(cfg.seed);
    let mode = match cfg.flush_method {
        FlushMethod::Fsync => Mode::Buffered,
        FlushMethod::ODirect => Mode::Direct,
    };
    let layout = Layout {
        pages: (space / doublewrite::PAGE).max(1),
        batch: cfg.doublewrite_pages,
        doublewrite: cfg.doublewrite,
        mode,
    };
    let data = DataPages::create(ctx, dir, layout, &mut rng, cfg.zero_fraction)?;
    io::sync_dir(dir, false)?;
    check(ctx)?;
    let window = Window::after(warmup, runtime);
    redo.window = window;
    let ctl = Control::new(window);
    let stats = Stats::default();
    let sink = RedoSink {
        files: &redo,
        wa: u64::from(cfg.log_write_ahead_size),
        window,
        open: None,
        unsynced: false,
        writes: 0,
        bytes: 0,
        padded: 0,
        rewrites: 0,
        syncs: 0,
        sync_lat: Latencies::new(),
    };
    let ring = align_up(cfg.log_buffer_mib * MIB, BLOCK);
    let gc = GroupCommit::new(RedoFormat, sink, 0, ring);
    let sh = Shared {
        cfg,
        ctl: &ctl,
        gc: &gc,
        redo: &redo,
        data: &data,
        stats: &stats,
        free_limit: cfg.free_limit(capacity),
    };
    let (timing, lats) = std::thread::scope(|s| {
        let sh = &sh;
        let clients: Vec<_> = (0..u64::from(cfg.clients))
            .map(|n| s.spawn(move || sh.ctl.guard(|| client(sh, n))))
            .collect();
        let mut background = vec![s.spawn(move || sh.ctl.guard(|| page_cleaner(sh)))];
        if cfg.flush_log_at_trx_commit != 1 {
            background.push(s.spawn(move || sh.ctl.guard(|| log_timer(sh))));
        }
        let timing = drive(ctx, sh.ctl);
        let lats = join_all(clients, sh.ctl);
        join_all(background, sh.ctl);
        (timing, lats)
    });
    let timing = settle(timing, &ctl)?;
    let mut lat = Latencies::new();
    for l in &lats {
        lat.merge(l);
    }
    let sink = gc.into_sink()?;
    let commits = stats.commits.get();
    let per_commit = |x: u64| {
        if commits > 0 {
            x as f64 / commits as f64
        } else {
            0.0
        }
    };
    let frac = |x: u64| {
        if sink.writes > 0 {
            x as f64 / sink.writes as f64
        } else {
            0.0
        }
    };
    let mut extra = BTreeMap::new();
    extra.insert("clients".into(), f64::from(cfg.clients));
    extra.insert("commits".into(), commits as f64);
    extra.insert("commits_total".into(), stats.commits_total.get() as f64);
    extra.insert("syncs_per_commit".into(), per_commit(sink.syncs));
    extra.insert("redo_syncs".into(), sink.syncs as f64);
    extra.insert("wal_writes".into(), sink.writes as f64);
    extra.insert("wal_bytes".into(), sink.bytes as f64);
    extra.insert(
        "wal_bytes_per_commit".into(),
        per_commit(stats.advance.get()),
    );
    extra.insert("padded_write_fraction".into(), frac(sink.padded));
    extra.insert("tail_rewrite_fraction".into(), frac(sink.rewrites));
    extra.insert(
        "redo_files_recycled".into(),
        redo.stats.recycled.get() as f64,
    );
    extra.insert("checkpoints".into(), redo.stats.checkpoints.get() as f64);
    extra.insert("free_check_waits".into(), stats.free_waits.get() as f64);
    extra.insert(
        "page_cleaner_passes".into(),
        stats.cleaner_passes.get() as f64,
    );
    extra.insert(
        "data_page_writes".into(),
        data.stats.page_writes.get() as f64,
    );
    extra.insert(
        "doublewrite_writes".into(),
        data.stats.dblwr_writes.get() as f64,
    );
    extra.insert("data_fsyncs".into(), data.stats.data_fsyncs.get() as f64);
    extra.insert("o_direct".into(), f64::from(u8::from(data.direct())));
    Ok(measurement(
        commits,
        sink.bytes,
        &timing,
        &lat,
        &sink.sync_lat,
        extra,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WA: u64 = 8192;

    #[test]
    fn a_write_into_a_fresh_region_is_padded_to_its_end() {
        // The first write after the 2 KiB file header: one 512-byte block, padded to 8 KiB.
        let (p, wa) = write_ahead_plan(2048, 512, 0, WA);
        assert_eq!(
            p,
            vec![Piece {
                offset: 2048,
                len: 512,
                pad: 8192 - 2560
            }]
        );
        assert_eq!(wa, 8192);
        // The next commits rewrite the last block inside the region: no padding.
        let (p, wa) = write_ahead_plan(2048, 1024, wa, WA);
        assert_eq!(
            p,
            vec![Piece {
                offset: 2048,
                len: 1024,
                pad: 0
            }]
        );
        assert_eq!(wa, 8192);
        // A write crossing the region's end is cut there, the rest padded in the next one.
        let (p, wa) = write_ahead_plan(7680, 1024, wa, WA);
        assert_eq!(
            p,
            vec![
                Piece {
                    offset: 7680,
                    len: 512,
                    pad: 0
                },
                Piece {
                    offset: 8192,
                    len: 512,
                    pad: 7680
                },
            ]
        );
        assert_eq!(wa, 16384);
        // A long write from a fresh region: whole regions unpadded, the tail padded.
        let (p, wa) = write_ahead_plan(16384, 20480, wa, WA);
        assert_eq!(
            p,
            vec![
                Piece {
                    offset: 16384,
                    len: 8192,
                    pad: 0
                },
                Piece {
                    offset: 24576,
                    len: 8192,
                    pad: 0
                },
                Piece {
                    offset: 32768,
                    len: 4096,
                    pad: 4096
                },
            ]
        );
        assert_eq!(wa, 40960);
    }

    #[test]
    fn every_write_is_whole_blocks_and_never_leaves_a_region_half_written() {
        // Any sequence of appends: writes are multiples of 512 at multiples of 512, and the
        // furthest written offset is always at a region boundary.
        let mut rng = SplitMix64::new(5);
        let (mut wa, mut written, mut high) = (0u64, FILE_HEADER, 0u64);
        for _ in 0..2000 {
            let end = written + 1 + rng.below(3000);
            let from = align_down(written, BLOCK);
            let to = align_up(end, BLOCK);
            let (pieces, w) = write_ahead_plan(from, to - from, wa, WA);
            wa = w;
            for p in pieces {
                assert_eq!(p.offset % BLOCK, 0);
                assert_eq!((p.len + p.pad) % BLOCK, 0);
                high = high.max(p.offset + p.len + p.pad);
            }
            assert_eq!(high % WA, 0, "high-water mark {high}");
            written = end;
        }
    }

    #[test]
    fn redo_blocks_have_headers_and_trailers() {
        let f = RedoFormat;
        // 496 payload bytes per 512-byte block.
        assert_eq!(f.end_of(0, 496), 508);
        assert_eq!(f.end_of(0, 497), 512 + 12 + 1);
        assert_eq!(
            f.end_of(508, 10),
            512 + 12 + 10,
            "skips the trailer and next header"
        );
        assert_eq!(f.end_of(100, 0), 100);
        let mut ring = Ring::new(4096);
        let rec = vec![0xEEu8; 600];
        let end = f.place(&mut ring, 0, &rec);
        assert_eq!(end, f.end_of(0, 600));
        let b = ring.read(0, 1024);
        assert_eq!(
            u32::from_be_bytes(b[0..4].try_into().unwrap()),
            1,
            "block number"
        );
        assert_eq!(u16::from_be_bytes([b[4], b[5]]), 512, "first block full");
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), 12, "first record group");
        assert!(b[12..508].iter().all(|&x| x == 0xEE));
        assert_eq!(u32::from_be_bytes(b[512..516].try_into().unwrap()), 2);
        assert_eq!(u16::from_be_bytes([b[516], b[517]]) as u64, 12 + 600 - 496);
        assert_eq!(
            u16::from_be_bytes([b[518], b[519]]),
            0,
            "no record starts there"
        );
    }

    #[test]
    fn files_are_a_32nd_of_the_capacity() {
        assert_eq!(file_size(100 * MIB), 3_276_800);
        assert_eq!(file_size(32 * MIB), MIB);
        let c = InnodbConfig::default();
        assert!(c.free_limit(32 * MIB) > 16 * MIB);
        c.validate("wal=innodb").unwrap();
        let e = InnodbConfig {
            flush_log_at_trx_commit: 3,
            ..c.clone()
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("flush_log_at_trx_commit"), "{e}");
        let e = InnodbConfig {
            log_write_ahead_size: 3000,
            ..c.clone()
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("log_write_ahead_size"), "{e}");
        let e = InnodbConfig {
            clients: 1000,
            record_bytes: 1 << 20,
            ..c
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");
    }
}
