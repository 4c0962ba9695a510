//! The PostgreSQL profile: a pgbench (TPC-B) client's WAL traffic, benchmark-method.md §3.1.
//!
//! Per transaction a client modifies `pages_per_txn` random table pages and appends one WAL
//! record of `record_bytes` (≈550 B: the tail advanced 950 272 B over 1 727 transactions in
//! the c1 trace), plus an 8 KiB full-page image for each page modified for the first time
//! since the last checkpoint, to an in-memory WAL with 8 KiB pages (24-byte page headers,
//! 40 at a segment start). Then it commits through [`GroupCommit`]: the leader `pwrite`s the
//! span from the start of the partly filled tail page to the insert position (8 KiB mostly,
//! 16 KiB when a record crosses a page, as in the trace) into the current 16 MiB segment
//! `pg_wal/0000000100000000000000NN` and `fdatasync`s it (`wal_sync_method`), syncing a
//! segment also when a write finishes it. Segments are made on first use by zero-fill and
//! recycled by `rename` after checkpoints ([`super::segments`]).
//!
//! Beside the clients, a background writer `pwrite`s random dirty 8 KiB pages into the
//! table files (`bgwriter_pages_per_commit`: the c1 trace had 40 table writes per 1 727
//! commits), and a checkpointer, every `checkpoint_s` or after `max_wal_mib / 1.9` of WAL
//! (PostgreSQL's `CheckPointSegments` with `checkpoint_completion_target=0.9`), writes every
//! dirty page spread over 0.9 of the interval, `fsync`s each table file, logs a checkpoint
//! record, rewrites `global/pg_control` and `fsync`s it, and recycles the segments before
//! the redo point.

use super::control::{self, Control, Counter, Window, check, drive, settle};
use super::group_commit::{GroupCommit, LogFormat, LogSink, Ring, Wait, align_up};
use super::io::{self, DataFile, Mode};
use super::segments::SegmentDir;
use super::tables::{PAGE, Tables};
use super::{RunLength, in_range, join_all, measurement};
use crate::latency::Latencies;
use crate::rng::SplitMix64;
use crate::{Measurement, RunContext, WorkloadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// `XLOG_PAGE_MAGIC` of PostgreSQL 15 (the first bytes of every WAL page in the trace).
const PAGE_MAGIC: u16 = 0xD110;
const SHORT_HEADER: u64 = 24;
const LONG_HEADER: u64 = 40;
/// Size of a checkpoint WAL record (`XLOG_CHECKPOINT_ONLINE`, PostgreSQL 15).
const CHECKPOINT_RECORD: usize = 114;
/// `checkpoint_completion_target`.
const COMPLETION_TARGET: f64 = 0.9;

/// How the WAL is made durable (`wal_sync_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMethod {
    /// `pwrite` then `fdatasync` (Linux's default).
    Fdatasync,
    /// `pwrite` then `fsync`.
    Fsync,
    /// Segments opened `O_DSYNC`: the `pwrite` is durable, no separate sync.
    OpenDatasync,
    /// Segments opened `O_SYNC`.
    OpenSync,
}

/// Parameters of `wal=postgresql` (every field has a default; unknown keys are errors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// Client threads, each committing one transaction after another (pgbench `-c`).
    pub clients: u32,
    /// WAL bytes per transaction without full-page images (heap and index records and
    /// the commit record).
    pub record_bytes: u32,
    /// `full_page_writes`: the first change of a page after a checkpoint logs the whole page.
    pub full_page_writes: bool,
    /// Random table pages each transaction modifies.
    pub pages_per_txn: u32,
    /// `wal_sync_method`.
    pub wal_sync_method: SyncMethod,
    /// `wal_segment_size` in MiB (a power of two, 1 to 1024).
    pub wal_segment_mib: u64,
    /// `wal_init_zero`: new segments are written full of zeros (else only their last byte).
    pub wal_init_zero: bool,
    /// `wal_recycle`: old segments are renamed to future names (else unlinked).
    pub wal_recycle: bool,
    /// Segments made ahead of the first one before the run (a running server has recycled
    /// segments ready).
    pub prealloc_segments: u32,
    /// `checkpoint_timeout` in seconds (the traced server's: 300, so a run sees no
    /// checkpoint unless the WAL volume triggers one; lower it to measure checkpoints).
    pub checkpoint_s: f64,
    /// `max_wal_size` in MiB for quick runs.
    pub quick_max_wal_mib: u64,
    /// `max_wal_size` in MiB for full runs.
    pub full_max_wal_mib: u64,
    /// Background-writer page writes per commit.
    pub bgwriter_pages_per_commit: f64,
    /// `bgwriter_delay` in milliseconds.
    pub bgwriter_delay_ms: u64,
    /// Table files (`base/5/16384`, ...), equal in size.
    pub table_files: u32,
    /// Size of all table files together for quick runs, MiB.
    pub quick_table_mib: u64,
    /// The same for full runs.
    pub full_table_mib: u64,
    /// Per-transaction think time of a client (a backend's CPU and network), ms.
    pub think_ms: f64,
    /// Fraction of each record and page that is zeros (0: incompressible).
    pub zero_fraction: f64,
    /// Seed of the page choices and payload bytes.
    pub seed: u64,
    /// Measured seconds of quick runs.
    pub quick_runtime_s: f64,
    /// Measured seconds of full runs.
    pub full_runtime_s: f64,
    /// Warm-up seconds before the measurement of quick runs.
    pub quick_warmup_s: f64,
    /// The same for full runs.
    pub full_warmup_s: f64,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            clients: 1,
            record_bytes: 550,
            full_page_writes: true,
            pages_per_txn: 1,
            wal_sync_method: SyncMethod::Fdatasync,
            wal_segment_mib: 16,
            wal_init_zero: true,
            wal_recycle: true,
            prealloc_segments: 1,
            checkpoint_s: 300.0,
            quick_max_wal_mib: 128,
            full_max_wal_mib: 1024,
            bgwriter_pages_per_commit: 40.0 / 1727.0,
            bgwriter_delay_ms: 200,
            table_files: 4,
            quick_table_mib: 32,
            full_table_mib: 256,
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

impl PgConfig {
    /// Checks the ranges; `label` names the workload in messages.
    pub fn validate(&self, label: &str) -> Result<(), WorkloadError> {
        in_range(label, "clients", self.clients, 1, 1024)?;
        in_range(label, "record_bytes", self.record_bytes, 32, 1 << 20)?;
        in_range(label, "pages_per_txn", self.pages_per_txn, 0, 64)?;
        in_range(label, "wal_segment_mib", self.wal_segment_mib, 1, 1024)?;
        if !self.wal_segment_mib.is_power_of_two() {
            return Err(WorkloadError::Failed(format!(
                "{label}: wal_segment_mib must be a power of two (got {})",
                self.wal_segment_mib
            )));
        }
        in_range(label, "prealloc_segments", self.prealloc_segments, 0, 64)?;
        in_range(label, "checkpoint_s", self.checkpoint_s, 0.05, 86_400.0)?;
        in_range(
            label,
            "quick_max_wal_mib",
            self.quick_max_wal_mib,
            2 * self.wal_segment_mib,
            1 << 20,
        )?;
        in_range(
            label,
            "full_max_wal_mib",
            self.full_max_wal_mib,
            2 * self.wal_segment_mib,
            1 << 20,
        )?;
        in_range(
            label,
            "bgwriter_pages_per_commit",
            self.bgwriter_pages_per_commit,
            0.0,
            1000.0,
        )?;
        in_range(
            label,
            "bgwriter_delay_ms",
            self.bgwriter_delay_ms,
            10,
            10_000,
        )?;
        in_range(label, "table_files", self.table_files, 1, 1000)?;
        in_range(label, "quick_table_mib", self.quick_table_mib, 1, 1 << 20)?;
        in_range(label, "full_table_mib", self.full_table_mib, 1, 1 << 20)?;
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
}

/// WAL pages: a header at each 8 KiB page start, records aligned to 8 bytes.
#[derive(Debug)]
struct PgFormat {
    seg_size: u64,
}

impl PgFormat {
    fn header_len(&self, pos: u64) -> u64 {
        if pos % self.seg_size == 0 {
            LONG_HEADER
        } else {
            SHORT_HEADER
        }
    }

    /// `XLogPageHeaderData` (and `XLogLongPageHeaderData` at a segment start).
    fn header(&self, pos: u64, rem_len: u64) -> Vec<u8> {
        let long = pos % self.seg_size == 0;
        let mut info: u16 = 0;
        if rem_len > 0 {
            info |= 0x0001; // XLP_FIRST_IS_CONTRECORD
        }
        if long {
            info |= 0x0002; // XLP_LONG_HEADER
        }
        let mut h = Vec::with_capacity(LONG_HEADER as usize);
        h.extend_from_slice(&PAGE_MAGIC.to_le_bytes());
        h.extend_from_slice(&info.to_le_bytes());
        h.extend_from_slice(&super::segments::TIMELINE.to_le_bytes());
        h.extend_from_slice(&pos.to_le_bytes());
        h.extend_from_slice(&(rem_len.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        if long {
            h.extend_from_slice(&0x7a11_0000_0000_0001u64.to_le_bytes()); // system id
            h.extend_from_slice(&(self.seg_size as u32).to_le_bytes());
            h.extend_from_slice(&(PAGE as u32).to_le_bytes());
        }
        h
    }

    /// Walks a record of `len` bytes from `insert` over page headers; with `out`, writes
    /// the headers and the record into the ring. Returns the record's 8-byte aligned end.
    fn lay(&self, insert: u64, len: usize, mut out: Option<(&mut Ring, &[u8])>) -> u64 {
        let mut pos = insert;
        let mut done = 0usize;
        while done < len {
            if pos % PAGE == 0 {
                if let Some((ring, _)) = out.as_mut() {
                    ring.zero(pos, PAGE);
                    let rem = if done > 0 { (len - done) as u64 } else { 0 };
                    ring.put(pos, &self.header(pos, rem));
                }
                pos += self.header_len(pos);
            }
            let n = ((PAGE - pos % PAGE) as usize).min(len - done);
            if let Some((ring, record)) = out.as_mut() {
                ring.put(pos, &record[done..done + n]);
            }
            pos += n as u64;
            done += n;
        }
        align_up(pos, 8)
    }
}

impl LogFormat for PgFormat {
    fn block(&self) -> u64 {
        PAGE
    }
    fn end_of(&self, insert: u64, len: usize) -> u64 {
        self.lay(insert, len, None)
    }
    fn place(&self, ring: &mut Ring, insert: u64, record: &[u8]) -> u64 {
        self.lay(insert, record.len(), Some((ring, record)))
    }
}

/// Writes WAL spans into segments and syncs them.
#[derive(Debug)]
struct PgSink<'a> {
    segs: &'a SegmentDir,
    seg_size: u64,
    method: SyncMethod,
    window: Window,
    open: Option<(u64, DataFile)>,
    /// The segment written last and the end of the furthest write into it.
    high_water: (u64, u64),
    unsynced: bool,
    writes: u64,
    bytes: u64,
    rewrites: u64,
    syncs: u64,
    sync_lat: Latencies,
}

impl<'a> PgSink<'a> {
    fn new(segs: &'a SegmentDir, seg_size: u64, method: SyncMethod, window: Window) -> Self {
        Self {
            segs,
            seg_size,
            method,
            window,
            open: None,
            high_water: (0, 0),
            unsynced: false,
            writes: 0,
            bytes: 0,
            rewrites: 0,
            syncs: 0,
            sync_lat: Latencies::new(),
        }
    }

    fn file(&mut self, segno: u64) -> Result<&DataFile, WorkloadError> {
        if self.open.as_ref().is_none_or(|(s, _)| *s != segno) {
            let mode = match self.method {
                SyncMethod::Fdatasync | SyncMethod::Fsync => Mode::Buffered,
                SyncMethod::OpenDatasync => Mode::Dsync,
                SyncMethod::OpenSync => Mode::Sync,
            };
            // Closing the previous segment first, as XLogFileClose does.
            self.open = None;
            self.open = Some((segno, self.segs.open(segno, mode)?));
        }
        match &self.open {
            Some((_, f)) => Ok(f),
            None => Err(WorkloadError::Failed("no WAL segment open".to_owned())),
        }
    }

    fn sync_segment(&mut self) -> Result<(), WorkloadError> {
        if !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        let Some((_, f)) = &self.open else {
            return Ok(());
        };
        let t = Instant::now();
        let d = match self.method {
            SyncMethod::Fdatasync => f.fdatasync()?,
            SyncMethod::Fsync => f.fsync()?,
            SyncMethod::OpenDatasync | SyncMethod::OpenSync => return Ok(()),
        };
        if self.window.contains(t) {
            self.syncs += 1;
            self.sync_lat.record(d);
        }
        Ok(())
    }
}

impl LogSink for PgSink<'_> {
    fn write(&mut self, from: u64, _upto: u64, data: &[u8]) -> Result<(), WorkloadError> {
        let mut pos = from;
        let mut done = 0usize;
        while done < data.len() {
            let segno = pos / self.seg_size;
            let off = pos % self.seg_size;
            let n = ((self.seg_size - off) as usize).min(data.len() - done);
            let t = Instant::now();
            self.file(segno)?.pwrite(&data[done..done + n], off)?;
            let took = t.elapsed();
            let rewrite = self.high_water.0 == segno && off < self.high_water.1;
            if self.high_water.0 == segno {
                self.high_water.1 = self.high_water.1.max(off + n as u64);
            } else {
                self.high_water = (segno, off + n as u64);
            }
            if self.window.contains(t) {
                self.writes += 1;
                self.bytes += n as u64;
                self.rewrites += u64::from(rewrite);
                if matches!(self.method, SyncMethod::OpenDatasync | SyncMethod::OpenSync) {
                    self.syncs += 1;
                    self.sync_lat.record(took);
                }
            }
            self.unsynced = true;
            pos += n as u64;
            done += n;
            if pos % self.seg_size == 0 {
                // A finished segment is synced at once (XLogWrite's `finishing_seg`).
                self.sync_segment()?;
                self.open = None;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), WorkloadError> {
        self.sync_segment()
    }
}

/// Counts of the run, shared by its threads.
#[derive(Debug, Default)]
struct PgStats {
    commits: Counter,
    commits_total: Counter,
    advance: Counter,
    fpis: Counter,
    checkpoints: Counter,
    checkpoint_ms: Counter,
}

/// What every thread of a run borrows.
struct Shared<'a, 's> {
    cfg: &'a PgConfig,
    ctl: &'a Control,
    gc: &'a GroupCommit<PgFormat, PgSink<'s>>,
    tables: &'a Tables,
    segs: &'a SegmentDir,
    control_file: &'a DataFile,
    stats: &'a PgStats,
    seg_size: u64,
    max_wal: u64,
}

/// An XLogRecord header (24 bytes: total length, xid, prev, info, resource manager, CRC)
/// and `len - 24` payload bytes.
fn record(
    buf: &mut Vec<u8>,
    len: usize,
    xid: u32,
    rmid: u8,
    rng: &mut SplitMix64,
    zero_fraction: f64,
) {
    buf.clear();
    buf.resize(len.max(24), 0);
    buf[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    buf[4..8].copy_from_slice(&xid.to_le_bytes());
    buf[17] = rmid;
    rng.fill(&mut buf[24..], zero_fraction);
}

fn client(sh: &Shared<'_, '_>, n: u64) -> Result<Latencies, WorkloadError> {
    let cfg = sh.cfg;
    let mut rng = SplitMix64::stream(cfg.seed, 1 + n);
    let mut rec = Vec::new();
    let mut lat = Latencies::new();
    let think = Duration::from_secs_f64(cfg.think_ms / 1000.0);
    let mut xid = (n as u32) << 24;
    while !sh.ctl.stopping() {
        if !think.is_zero() && !sh.ctl.sleep(think) {
            break;
        }
        let mut fpis = 0u64;
        for _ in 0..cfg.pages_per_txn {
            let page = rng.below(sh.tables.pages());
            if sh.tables.modify(page)? && cfg.full_page_writes {
                fpis += 1;
            }
        }
        xid = xid.wrapping_add(1);
        // RM_HEAP_ID 10: the transaction's changes, with its page images.
        record(
            &mut rec,
            cfg.record_bytes as usize + (fpis * PAGE) as usize,
            xid,
            10,
            &mut rng,
            cfg.zero_fraction,
        );
        let t0 = Instant::now();
        let (start, end) = sh.gc.append(&rec)?;
        sh.gc.commit(end, Wait::Durable)?;
        let t1 = Instant::now();
        sh.stats.commits_total.add(1);
        if sh.ctl.window.contains(t1) {
            sh.stats.commits.add(1);
            sh.stats.advance.add(end - start);
            sh.stats.fpis.add(fpis);
            lat.record(t1 - t0);
        }
    }
    Ok(lat)
}

fn bgwriter(sh: &Shared<'_, '_>) -> Result<(), WorkloadError> {
    let mut rng = SplitMix64::stream(sh.cfg.seed, 0xB6);
    let mut page = vec![0u8; PAGE as usize];
    let (mut seen, mut credit) = (0u64, 0.0f64);
    while sh
        .ctl
        .sleep(Duration::from_millis(sh.cfg.bgwriter_delay_ms))
    {
        let total = sh.stats.commits_total.get();
        credit += (total - seen) as f64 * sh.cfg.bgwriter_pages_per_commit;
        seen = total;
        let n = credit.floor();
        credit -= n;
        for p in sh.tables.take_random_dirty(n as u64, &mut rng)? {
            if sh.ctl.stopping() {
                break;
            }
            rng.fill(&mut page, sh.cfg.zero_fraction);
            sh.tables
                .write_page(p, &page, sh.ctl.window.contains(Instant::now()))?;
        }
    }
    Ok(())
}

fn checkpointer(sh: &Shared<'_, '_>) -> Result<(), WorkloadError> {
    let interval = Duration::from_secs_f64(sh.cfg.checkpoint_s);
    let trigger = (sh.max_wal as f64 / (1.0 + COMPLETION_TARGET)) as u64;
    let mut rng = SplitMix64::stream(sh.cfg.seed, 0xC4);
    let mut last = Instant::now();
    let mut last_redo = sh.gc.insert_lsn()?;
    while sh.ctl.sleep(control::POLL) {
        let insert = sh.gc.insert_lsn()?;
        let by_time = last.elapsed() >= interval;
        if !by_time && insert - last_redo < trigger {
            continue;
        }
        let started = Instant::now();
        let spread = if by_time {
            interval.mul_f64(COMPLETION_TARGET)
        } else {
            // Requested by WAL volume: as fast as the estimate of the next trigger allows;
            // here simply without pacing.
            Duration::ZERO
        };
        last = started;
        last_redo = insert;
        if !checkpoint(sh, insert, spread, &mut rng)? {
            break;
        }
        if sh.ctl.window.contains(Instant::now()) {
            sh.stats.checkpoints.add(1);
            sh.stats
                .checkpoint_ms
                .add(started.elapsed().as_millis() as u64);
        }
    }
    Ok(())
}

/// One checkpoint with redo point `redo`; false if the run ended during it.
fn checkpoint(
    sh: &Shared<'_, '_>,
    redo: u64,
    spread: Duration,
    rng: &mut SplitMix64,
) -> Result<bool, WorkloadError> {
    let start = Instant::now();
    let pages = sh.tables.begin_checkpoint()?;
    let mut image = vec![0u8; PAGE as usize];
    let count = pages.len().max(1) as f64;
    for (i, &p) in pages.iter().enumerate() {
        if sh.ctl.stopping() {
            return Ok(false);
        }
        rng.fill(&mut image, sh.cfg.zero_fraction);
        sh.tables
            .write_page(p, &image, sh.ctl.window.contains(Instant::now()))?;
        // CheckpointWriteDelay: stay on schedule to finish at 0.9 of the interval.
        let due = spread.mul_f64((i + 1) as f64 / count);
        let ahead = due.saturating_sub(start.elapsed());
        if ahead > control::POLL && !sh.ctl.sleep(ahead) {
            return Ok(false);
        }
    }
    sh.tables
        .fsync_all(sh.ctl.window.contains(Instant::now()))?;
    let mut rec = Vec::new();
    // RM_XLOG_ID 0: XLOG_CHECKPOINT_ONLINE.
    record(&mut rec, CHECKPOINT_RECORD, 0, 0, rng, 0.9);
    let (_, end) = sh.gc.append(&rec)?;
    sh.gc.commit(end, Wait::Durable)?;
    let mut control = vec![0u8; PAGE as usize];
    control[0..8].copy_from_slice(&redo.to_le_bytes());
    control[8..16].copy_from_slice(&end.to_le_bytes());
    sh.control_file.pwrite(&control, 0)?;
    sh.control_file.fsync()?;
    let insert = sh.gc.insert_lsn()?;
    let current = insert / sh.seg_size;
    sh.segs.recycle_before(
        redo / sh.seg_size,
        current,
        (sh.max_wal / sh.seg_size).max(1),
    )?;
    // PreallocXlogFiles: the next segment, once the current one is 3/4 full.
    if insert % sh.seg_size >= sh.seg_size / 4 * 3 {
        sh.segs.ensure(current + 1)?;
    }
    Ok(true)
}

/// Runs the profile in `ctx.dir`.
pub(crate) fn run(cfg: &PgConfig, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
    check(ctx)?;
    let dir = ctx.dir;
    if !dir.is_dir() {
        return Err(io::io_err(dir, "run wal-postgresql", "not a directory"));
    }
    let seg_size = cfg.wal_segment_mib * MIB;
    let table_bytes = if ctx.quick {
        cfg.quick_table_mib
    } else {
        cfg.full_table_mib
    } * MIB;
    let max_wal = if ctx.quick {
        cfg.quick_max_wal_mib
    } else {
        cfg.full_max_wal_mib
    } * MIB;
    let files = u64::from(cfg.table_files);
    let pages_per_file = (table_bytes / PAGE / files).max(1);

    let wal_dir = dir.join("pg_wal");
    let base = dir.join("base");
    let db = base.join("5");
    let global = dir.join("global");
    for d in [&wal_dir, &base, &db, &global] {
        io::mkdir(d)?;
    }
    let mut rng = SplitMix64::new(cfg.seed);
    let tables = Tables::create(ctx, &db, files, pages_per_file, &mut rng, cfg.zero_fraction)?;
    let control_file = DataFile::create(&global.join("pg_control"), Mode::Buffered)?;
    control_file.pwrite(&[0; PAGE as usize], 0)?;
    control_file.fsync()?;
    for d in [&db, &base, &global, dir] {
        io::sync_dir(d, false)?;
    }
    let (warmup, runtime) = cfg.run_length().lengths(ctx.quick);
    let mut segs = SegmentDir::new(
        &wal_dir,
        seg_size,
        cfg.wal_init_zero,
        cfg.wal_recycle,
        Window::after(warmup, runtime),
    );
    for s in 1..=1 + u64::from(cfg.prealloc_segments) {
        check(ctx)?;
        segs.ensure(s)?;
    }
    check(ctx)?;
    let window = Window::after(warmup, runtime);
    segs.set_window(window);
    let ctl = Control::new(window);
    let stats = PgStats::default();
    let format = PgFormat { seg_size };
    // wal_buffers (512 pages in the trace's server), or more if many clients' records
    // could be in flight at once, up to 64 MiB (larger than any one record can be: an
    // appender finding the ring full writes it out first).
    let max_record = u64::from(cfg.record_bytes) + u64::from(cfg.pages_per_txn) * PAGE;
    let ring = align_up(
        (4 * MIB).max((2 * u64::from(cfg.clients) * (max_record + 2 * PAGE)).min(64 * MIB)),
        PAGE,
    );
    let gc = GroupCommit::new(
        format,
        PgSink::new(&segs, seg_size, cfg.wal_sync_method, window),
        seg_size,
        ring,
    );
    let sh = Shared {
        cfg,
        ctl: &ctl,
        gc: &gc,
        tables: &tables,
        segs: &segs,
        control_file: &control_file,
        stats: &stats,
        seg_size,
        max_wal,
    };
    let (timing, lats) = std::thread::scope(|s| {
        let sh = &sh;
        let clients: Vec<_> = (0..u64::from(cfg.clients))
            .map(|n| s.spawn(move || sh.ctl.guard(|| client(sh, n))))
            .collect();
        let bg = s.spawn(move || sh.ctl.guard(|| bgwriter(sh)));
        let cp = s.spawn(move || sh.ctl.guard(|| checkpointer(sh)));
        let timing = drive(ctx, sh.ctl);
        let lats = join_all(clients, sh.ctl);
        join_all(vec![bg, cp], sh.ctl);
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
    let mut extra = BTreeMap::new();
    extra.insert("clients".into(), f64::from(cfg.clients));
    extra.insert("commits".into(), commits as f64);
    extra.insert("commits_total".into(), stats.commits_total.get() as f64);
    extra.insert("syncs_per_commit".into(), per_commit(sink.syncs));
    extra.insert("wal_syncs".into(), sink.syncs as f64);
    extra.insert("wal_writes".into(), sink.writes as f64);
    extra.insert("wal_bytes".into(), sink.bytes as f64);
    extra.insert(
        "wal_bytes_per_commit".into(),
        per_commit(stats.advance.get()),
    );
    extra.insert(
        "tail_rewrite_fraction".into(),
        if sink.writes > 0 {
            sink.rewrites as f64 / sink.writes as f64
        } else {
            0.0
        },
    );
    extra.insert("fpi_per_commit".into(), per_commit(stats.fpis.get()));
    extra.insert("segments_created".into(), segs.stats.created.get() as f64);
    extra.insert("segments_recycled".into(), segs.stats.recycled.get() as f64);
    extra.insert("segments_removed".into(), segs.stats.removed.get() as f64);
    extra.insert("checkpoints".into(), stats.checkpoints.get() as f64);
    extra.insert(
        "checkpoint_ms_total".into(),
        stats.checkpoint_ms.get() as f64,
    );
    extra.insert("table_writes".into(), tables.stats.writes.get() as f64);
    extra.insert("table_fsyncs".into(), tables.stats.fsyncs.get() as f64);
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

    #[test]
    fn records_get_page_headers_and_alignment() {
        let f = PgFormat { seg_size: 16 * MIB };
        let seg = 16 * MIB;
        // At a segment start: the 40-byte long header first.
        assert_eq!(f.end_of(seg, 550), seg + 40 + 552);
        // Inside a page: no header, 8-byte alignment.
        assert_eq!(f.end_of(seg + 100, 550), seg + 656);
        // Crossing into the next page: its 24-byte header is skipped.
        assert_eq!(f.end_of(seg + 8000, 550), seg + 8000 + 550 + 24 + 2);
        // An 8 KiB image and a record from a page start: two headers.
        assert_eq!(
            f.end_of(seg + PAGE, 8192 + 550),
            seg + PAGE + 24 + 8192 + 550 + 24 + 2
        );
        assert_eq!(f.end_of(seg + 5, 0), seg + 8, "an empty record only aligns");

        let mut ring = Ring::new((4 * PAGE) as usize);
        let rec: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8 + 1).collect();
        let end = f.place(&mut ring, seg + 8000, &rec);
        assert_eq!(end, f.end_of(seg + 8000, 600));
        let bytes = ring.read(seg + 8000, end);
        assert_eq!(&bytes[..192], &rec[..192]);
        // The next page's header: magic, XLP_FIRST_IS_CONTRECORD, timeline 1, its address,
        // and the 408 bytes of the record still to come.
        let h = &bytes[192..216];
        assert_eq!(&h[0..2], &PAGE_MAGIC.to_le_bytes());
        assert_eq!(u16::from_le_bytes([h[2], h[3]]), 1);
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(h[8..16].try_into().unwrap()), seg + PAGE);
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 408);
        assert_eq!(&bytes[216..216 + 408], &rec[192..]);
        // The rest of the new page is zero (what a flush writes after the insert point).
        assert!(ring.read(end, seg + 2 * PAGE).iter().all(|&b| b == 0));
    }

    #[test]
    fn parameters_are_checked() {
        let ok = PgConfig::default();
        ok.validate("wal=postgresql").unwrap();
        let e = PgConfig {
            clients: 0,
            ..ok.clone()
        }
        .validate("wal=postgresql")
        .unwrap_err();
        assert!(e.to_string().contains("clients"), "{e}");
        let e = PgConfig {
            wal_segment_mib: 3,
            ..ok.clone()
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("power of two"), "{e}");
        let e = PgConfig {
            zero_fraction: 1.5,
            ..ok.clone()
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("zero_fraction"), "{e}");
        let e = PgConfig {
            quick_runtime_s: 0.0,
            ..ok
        }
        .validate("x")
        .unwrap_err();
        assert!(e.to_string().contains("quick_runtime_s"), "{e}");
    }
}
