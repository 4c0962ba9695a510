//! The SQLite profile: one connection in WAL mode committing small transactions,
//! benchmark-method.md §3.2 and the traces in `shared/corpus/sqlite/` (SQLite 3.40).
//!
//! The database `test.db` is written whole before the run. Opening the connection creates
//! `test.db-wal` and `test.db-shm`; the `-shm` file is truncated to 3 bytes and grown to
//! 32 KiB by 1-byte `pwrite`s at the end of each 4 KiB page (`unixShmMap`; SQLite then maps
//! it, which the profile does not). The first commit after opening or after a checkpoint
//! writes the 32-byte WAL header at offset 0 (new salts) and `fdatasync`s the WAL; the
//! first one also `fdatasync`s the directory. Each transaction appends `pages_per_txn`
//! frames, each as two `pwrite`s: the 24-byte frame header at 32 + k·(24 + page size) and
//! the page right after it. With `synchronous=FULL` the WAL is `fdatasync`ed once per
//! commit; with `NORMAL` not at all. After a commit that brings the WAL to
//! `wal_autocheckpoint` frames, a checkpoint `fdatasync`s the WAL, copies the newest frame
//! of each page into the database file with page-sized `pwrite`s at (page − 1)·page size,
//! `fdatasync`s the database, and the next commit restarts the WAL from offset 32.

use super::control::{Control, Counter, Window, check, drive, settle};
use super::io::{self, DataFile, Mode};
use super::{RunLength, in_range, join_all, measurement};
use crate::latency::Latencies;
use crate::rng::SplitMix64;
use crate::{Measurement, RunContext, WorkloadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// WAL header magic with little-endian checksums (what SQLite writes on x86, as in the
/// trace: `7\177\6\202`).
pub(crate) const WAL_MAGIC: u32 = 0x377f_0682;
/// `WAL_MAX_VERSION`.
const WAL_VERSION: u32 = 3_007_000;
/// Size of the WAL header.
pub(crate) const WAL_HEADER: u64 = 32;
/// Size of a frame header.
pub(crate) const FRAME_HEADER: u64 = 24;

/// `PRAGMA synchronous` in WAL mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// `FULL`: the WAL is synced at every commit.
    #[serde(alias = "FULL")]
    Full,
    /// `NORMAL`: the WAL is synced only at checkpoints.
    #[serde(alias = "NORMAL")]
    Normal,
}

/// Parameters of `wal=sqlite`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `PRAGMA synchronous`.
    pub synchronous: Synchronous,
    /// `PRAGMA page_size` (a power of two, 512 to 65536).
    pub page_size: u32,
    /// Pages each transaction changes (one frame each; the fixture's single-row inserts
    /// change one).
    pub pages_per_txn: u32,
    /// `PRAGMA wal_autocheckpoint`: checkpoint once the WAL has this many frames.
    pub wal_autocheckpoint: u32,
    /// Database size for quick runs, MiB.
    pub quick_db_mib: u64,
    /// Database size for full runs, MiB.
    pub full_db_mib: u64,
    /// Think time between transactions, ms.
    pub think_ms: f64,
    /// Fraction of each page that is zeros.
    pub zero_fraction: f64,
    /// Seed of the page choices and contents.
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

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            page_size: 4096,
            pages_per_txn: 1,
            wal_autocheckpoint: 1000,
            quick_db_mib: 8,
            full_db_mib: 64,
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

impl SqliteConfig {
    /// Checks the ranges; `label` names the workload in messages.
    pub fn validate(&self, label: &str) -> Result<(), WorkloadError> {
        in_range(label, "page_size", self.page_size, 512, 65536)?;
        if !self.page_size.is_power_of_two() {
            return Err(WorkloadError::Failed(format!(
                "{label}: page_size must be a power of two (got {})",
                self.page_size
            )));
        }
        in_range(label, "pages_per_txn", self.pages_per_txn, 1, 10_000)?;
        in_range(
            label,
            "wal_autocheckpoint",
            self.wal_autocheckpoint,
            1,
            10_000_000,
        )?;
        in_range(label, "quick_db_mib", self.quick_db_mib, 1, 1 << 20)?;
        in_range(label, "full_db_mib", self.full_db_mib, 1, 1 << 20)?;
        for (name, mib) in [
            ("quick_db_mib", self.quick_db_mib),
            ("full_db_mib", self.full_db_mib),
        ] {
            let pages = mib * MIB / u64::from(self.page_size);
            if pages < u64::from(self.pages_per_txn) + 1 {
                return Err(WorkloadError::Failed(format!(
                    "{label}: {name} = {mib} holds {pages} pages, fewer than pages_per_txn + 1"
                )));
            }
        }
        in_range(label, "think_ms", self.think_ms, 0.0, 10_000.0)?;
        in_range(label, "zero_fraction", self.zero_fraction, 0.0, 1.0)?;
        RunLength {
            quick_runtime_s: self.quick_runtime_s,
            full_runtime_s: self.full_runtime_s,
            quick_warmup_s: self.quick_warmup_s,
            full_warmup_s: self.full_warmup_s,
        }
        .validate(label)
    }
}

/// The offset of frame `k`'s 24-byte header in the WAL; its page follows at +24.
pub(crate) fn frame_offset(k: u64, page_size: u64) -> u64 {
    WAL_HEADER + k * (FRAME_HEADER + page_size)
}

/// SQLite's WAL checksum (`walChecksumBytes`) over `data` (a multiple of 8 bytes) from
/// `(s1, s2)`, with little-endian words as for [`WAL_MAGIC`].
pub(crate) fn wal_checksum(data: &[u8], (mut s1, mut s2): (u32, u32)) -> (u32, u32) {
    for w in data.chunks_exact(8) {
        let x0 = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let x1 = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
        s1 = s1.wrapping_add(x0).wrapping_add(s2);
        s2 = s2.wrapping_add(x1).wrapping_add(s1);
    }
    (s1, s2)
}

/// The 32-byte WAL header: magic, version, page size, checkpoint sequence, salts, and the
/// checksum of the first 24 bytes (all big-endian).
pub(crate) fn wal_header(page_size: u32, ckpt_seq: u32, salt: (u32, u32)) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (i, v) in [WAL_MAGIC, WAL_VERSION, page_size, ckpt_seq, salt.0, salt.1]
        .iter()
        .enumerate()
    {
        h[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    let (c1, c2) = wal_checksum(&h[..24], (0, 0));
    h[24..28].copy_from_slice(&c1.to_be_bytes());
    h[28..32].copy_from_slice(&c2.to_be_bytes());
    h
}

/// A frame header for `page` (`commit_size`: the database size in pages on a commit frame,
/// else 0), chaining the checksum from `prev`; returns it and the new checksum.
pub(crate) fn frame_header(
    pgno: u32,
    commit_size: u32,
    salt: (u32, u32),
    page: &[u8],
    prev: (u32, u32),
) -> ([u8; 24], (u32, u32)) {
    let mut h = [0u8; 24];
    for (i, v) in [pgno, commit_size, salt.0, salt.1].iter().enumerate() {
        h[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    let c = wal_checksum(page, wal_checksum(&h[..8], prev));
    h[16..20].copy_from_slice(&c.0.to_be_bytes());
    h[20..24].copy_from_slice(&c.1.to_be_bytes());
    (h, c)
}

#[derive(Debug, Default)]
struct Stats {
    commits: Counter,
    commits_total: Counter,
    frames: Counter,
    wal_writes: Counter,
    wal_bytes: Counter,
    wal_syncs: Counter,
    db_writes: Counter,
    db_syncs: Counter,
    checkpoints: Counter,
    restarts: Counter,
}

/// The connection: its files and the WAL's state.
struct Connection<'a> {
    cfg: &'a SqliteConfig,
    ctl: &'a Control,
    dir: &'a std::path::Path,
    db: DataFile,
    wal: DataFile,
    db_pages: u32,
    /// Frames in the WAL since its last restart.
    frames: u64,
    /// Whether the next commit writes a WAL header (after opening and checkpoints).
    restart: bool,
    dir_synced: bool,
    ckpt_seq: u32,
    salt: (u32, u32),
    checksum: (u32, u32),
    /// The newest image of every page in the WAL.
    pages: BTreeMap<u32, Vec<u8>>,
    rng: SplitMix64,
    stats: &'a Stats,
    sync_lat: Latencies,
}

impl Connection<'_> {
    fn in_window(&self, t: Instant) -> bool {
        self.ctl.window.contains(t)
    }

    fn wal_write(&self, buf: &[u8], off: u64) -> Result<(), WorkloadError> {
        let t = Instant::now();
        self.wal.pwrite(buf, off)?;
        if self.in_window(t) {
            self.stats.wal_writes.add(1);
            self.stats.wal_bytes.add(buf.len() as u64);
        }
        Ok(())
    }

    fn wal_sync(&mut self) -> Result<(), WorkloadError> {
        let t = Instant::now();
        let d = self.wal.fdatasync()?;
        if self.in_window(t) {
            self.stats.wal_syncs.add(1);
            self.sync_lat.record(d);
        }
        Ok(())
    }

    /// `walRestartHeader` + the header write of `walFrames` at frame 0.
    fn write_header(&mut self) -> Result<(), WorkloadError> {
        self.ckpt_seq = self.ckpt_seq.wrapping_add(1);
        self.salt = (self.salt.0.wrapping_add(1), self.rng.next_u64() as u32);
        let h = wal_header(self.cfg.page_size, self.ckpt_seq, self.salt);
        self.checksum = (
            u32::from_be_bytes([h[24], h[25], h[26], h[27]]),
            u32::from_be_bytes([h[28], h[29], h[30], h[31]]),
        );
        self.wal_write(&h, 0)?;
        // `syncHeader`: in FULL and NORMAL alike (the NORMAL trace syncs it too).
        self.wal_sync()?;
        if !self.dir_synced {
            // The WAL file was created: SQLite syncs its directory once.
            io::sync_dir(self.dir, true)?;
            self.dir_synced = true;
        }
        if self.in_window(Instant::now()) {
            self.stats.restarts.add(1);
        }
        self.frames = 0;
        self.restart = false;
        Ok(())
    }

    /// One transaction; returns its commit latency.
    fn transaction(&mut self, pages: &mut [Vec<u8>]) -> Result<Duration, WorkloadError> {
        let mut pgnos = Vec::with_capacity(pages.len());
        while pgnos.len() < pages.len() {
            let p = 2 + self.rng.below(u64::from(self.db_pages) - 1) as u32;
            if !pgnos.contains(&p) {
                pgnos.push(p);
            }
        }
        for page in pages.iter_mut() {
            self.rng.fill(page, self.cfg.zero_fraction);
        }
        let t0 = Instant::now();
        if self.restart {
            self.write_header()?;
        }
        let psz = u64::from(self.cfg.page_size);
        let last = pages.len() - 1;
        for (i, (page, &pgno)) in pages.iter().zip(&pgnos).enumerate() {
            let commit_size = if i == last { self.db_pages } else { 0 };
            let (h, c) = frame_header(pgno, commit_size, self.salt, page, self.checksum);
            self.checksum = c;
            let off = frame_offset(self.frames, psz);
            self.wal_write(&h, off)?;
            self.wal_write(page, off + FRAME_HEADER)?;
            self.frames += 1;
        }
        if self.cfg.synchronous == Synchronous::Full {
            self.wal_sync()?;
        }
        let took = t0.elapsed();
        if self.in_window(Instant::now()) {
            self.stats.frames.add(pages.len() as u64);
        }
        for (page, &pgno) in pages.iter().zip(&pgnos) {
            self.pages.insert(pgno, page.clone());
        }
        Ok(took)
    }

    /// `sqlite3WalCheckpoint` (PASSIVE, no readers): false if the run ended during it.
    fn checkpoint(&mut self) -> Result<bool, WorkloadError> {
        self.wal_sync()?;
        let psz = u64::from(self.cfg.page_size);
        let pages = std::mem::take(&mut self.pages);
        for (pgno, image) in &pages {
            if self.ctl.stopping() {
                return Ok(false);
            }
            let t = Instant::now();
            self.db.pwrite(image, (u64::from(*pgno) - 1) * psz)?;
            if self.in_window(t) {
                self.stats.db_writes.add(1);
            }
        }
        let t = Instant::now();
        self.db.fdatasync()?;
        if self.in_window(t) {
            self.stats.db_syncs.add(1);
            self.stats.checkpoints.add(1);
        }
        self.restart = true;
        Ok(true)
    }
}

fn writer(conn: &mut Connection<'_>) -> Result<Latencies, WorkloadError> {
    let mut lat = Latencies::new();
    let mut pages = vec![vec![0u8; conn.cfg.page_size as usize]; conn.cfg.pages_per_txn as usize];
    let think = Duration::from_secs_f64(conn.cfg.think_ms / 1000.0);
    while !conn.ctl.stopping() {
        if !think.is_zero() && !conn.ctl.sleep(think) {
            break;
        }
        let took = conn.transaction(&mut pages)?;
        let now = Instant::now();
        conn.stats.commits_total.add(1);
        if conn.in_window(now) {
            conn.stats.commits.add(1);
            lat.record(took);
        }
        if conn.frames >= u64::from(conn.cfg.wal_autocheckpoint) && !conn.checkpoint()? {
            break;
        }
    }
    Ok(lat)
}

/// Runs the profile in `ctx.dir`.
pub(crate) fn run(cfg: &SqliteConfig, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
    check(ctx)?;
    let dir = ctx.dir;
    if !dir.is_dir() {
        return Err(io::io_err(dir, "run wal-sqlite", "not a directory"));
    }
    let psz = u64::from(cfg.page_size);
    let db_pages = (if ctx.quick {
        cfg.quick_db_mib
    } else {
        cfg.full_db_mib
    } * MIB
        / psz) as u32;
    let mut rng = SplitMix64::new(cfg.seed);

    // The database, written before the connection opens it.
    let mut db = DataFile::create(&dir.join("test.db"), Mode::Buffered)?;
    let mut chunk = vec![0u8; (256 * psz) as usize];
    let mut left = u64::from(db_pages);
    let mut first = true;
    while left > 0 {
        check(ctx)?;
        let n = left.min(256);
        let bytes = &mut chunk[..(n * psz) as usize];
        for page in bytes.chunks_mut(psz as usize) {
            rng.fill(page, cfg.zero_fraction);
        }
        if first {
            bytes[..16].copy_from_slice(b"SQLite format 3\0");
            // The header's page size; 65536 is stored as 1.
            let size_field: u16 = if cfg.page_size == 65536 {
                1
            } else {
                cfg.page_size as u16
            };
            bytes[16..18].copy_from_slice(&size_field.to_be_bytes());
            bytes[28..32].copy_from_slice(&db_pages.to_be_bytes());
            first = false;
        }
        db.write(bytes)?;
        left -= n;
    }
    db.fsync()?;
    io::sync_dir(dir, false)?;

    // Opening the connection: the WAL and the -shm file (`unixOpenSharedMemory`,
    // `unixShmMap` for the first 32 KiB region).
    let wal = DataFile::create(&dir.join("test.db-wal"), Mode::Buffered)?;
    let shm = DataFile::create(&dir.join("test.db-shm"), Mode::Buffered)?;
    shm.set_len(3)?;
    for k in 0..8u64 {
        shm.pwrite(&[0], 4096 * k + 4095)?;
    }
    drop(shm);

    let (warmup, runtime) = RunLength {
        quick_runtime_s: cfg.quick_runtime_s,
        full_runtime_s: cfg.full_runtime_s,
        quick_warmup_s: cfg.quick_warmup_s,
        full_warmup_s: cfg.full_warmup_s,
    }
    .lengths(ctx.quick);
    let ctl = Control::new(Window::after(warmup, runtime));
    let stats = Stats::default();
    let mut conn = Connection {
        cfg,
        ctl: &ctl,
        dir,
        db,
        wal,
        db_pages,
        frames: 0,
        restart: true,
        dir_synced: false,
        ckpt_seq: 0,
        salt: (rng.next_u64() as u32, 0),
        checksum: (0, 0),
        pages: BTreeMap::new(),
        rng: SplitMix64::stream(cfg.seed, 1),
        stats: &stats,
        sync_lat: Latencies::new(),
    };
    let (timing, lat) = std::thread::scope(|s| {
        let conn = &mut conn;
        let ctl = &ctl;
        let h = s.spawn(move || ctl.guard(|| writer(conn)));
        let timing = drive(ctx, ctl);
        (timing, join_all(vec![h], ctl))
    });
    let timing = settle(timing, &ctl)?;
    let lat = lat.into_iter().next().unwrap_or_default();
    let commits = stats.commits.get();
    let per_commit = |x: u64| {
        if commits > 0 {
            x as f64 / commits as f64
        } else {
            0.0
        }
    };
    let mut extra = BTreeMap::new();
    extra.insert("commits".into(), commits as f64);
    extra.insert("commits_total".into(), stats.commits_total.get() as f64);
    extra.insert("frames".into(), stats.frames.get() as f64);
    extra.insert("wal_writes".into(), stats.wal_writes.get() as f64);
    extra.insert("wal_bytes".into(), stats.wal_bytes.get() as f64);
    extra.insert("wal_syncs".into(), stats.wal_syncs.get() as f64);
    extra.insert("syncs_per_commit".into(), per_commit(stats.wal_syncs.get()));
    extra.insert("checkpoints".into(), stats.checkpoints.get() as f64);
    extra.insert("wal_restarts".into(), stats.restarts.get() as f64);
    extra.insert("db_writes".into(), stats.db_writes.get() as f64);
    extra.insert("db_syncs".into(), stats.db_syncs.get() as f64);
    Ok(measurement(
        commits,
        stats.wal_bytes.get(),
        &timing,
        &lat,
        &conn.sync_lat,
        extra,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_sit_at_32_plus_k_times_4120() {
        assert_eq!(frame_offset(0, 4096), 32);
        assert_eq!(frame_offset(1, 4096), 4152);
        assert_eq!(
            frame_offset(19, 4096),
            78312,
            "the 20th frame of the fixture"
        );
        assert_eq!(frame_offset(2, 1024), 32 + 2 * 1048);
    }

    #[test]
    fn the_checksum_reproduces_sqlites_wal_header() {
        // The 32-byte header SQLite 3.40 wrote in corpus/sqlite/strace-wal-sync-full.txt.
        let trace = include_str!("../../../../shared/corpus/sqlite/strace-wal-sync-full.txt");
        let line = trace
            .lines()
            .find(|l| l.contains("t.db-wal>") && l.ends_with(", 32, 0) = 32"))
            .unwrap();
        let call = super::super::strace::parse_line(line).unwrap();
        let header = super::super::strace::unescape(&call.args[1]).unwrap();
        assert_eq!(header.len(), 32);
        assert_eq!(&header[..4], &WAL_MAGIC.to_be_bytes());
        let (c1, c2) = wal_checksum(&header[..24], (0, 0));
        assert_eq!(&header[24..28], &c1.to_be_bytes());
        assert_eq!(&header[28..32], &c2.to_be_bytes());
        // And our header of the same fields is the same bytes.
        let be = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().unwrap());
        assert_eq!(wal_header(be(8), be(12), (be(16), be(20))), header[..]);
        // The first frame header's salts are the header's.
        let line = trace
            .lines()
            .find(|l| l.contains("t.db-wal>") && l.ends_with(", 24, 32) = 24"))
            .unwrap();
        let frame = super::super::strace::unescape(
            &super::super::strace::parse_line(line).unwrap().args[1],
        )
        .unwrap();
        assert_eq!(&frame[8..16], &header[16..24]);
        assert_eq!(
            u32::from_be_bytes(frame[0..4].try_into().unwrap()),
            2,
            "page 2"
        );
    }

    #[test]
    fn frame_checksums_chain() {
        let page = vec![7u8; 4096];
        let salt = (1, 2);
        let (h1, c1) = frame_header(2, 0, salt, &page, (5, 6));
        let (h2, c2) = frame_header(3, 10, salt, &page, c1);
        assert_ne!(c1, c2);
        assert_eq!(
            u32::from_be_bytes(h2[4..8].try_into().unwrap()),
            10,
            "commit frame"
        );
        assert_eq!(u32::from_be_bytes(h1[4..8].try_into().unwrap()), 0);
        assert_eq!(wal_checksum(&page, wal_checksum(&h1[..8], (5, 6))), c1);
    }

    #[test]
    fn parameters_are_checked() {
        let ok = SqliteConfig::default();
        ok.validate("wal=sqlite").unwrap();
        let e = SqliteConfig {
            page_size: 3000,
            ..ok.clone()
        }
        .validate("wal=sqlite")
        .unwrap_err();
        assert!(e.to_string().contains("page_size"), "{e}");
        let e = SqliteConfig {
            pages_per_txn: 5000,
            quick_db_mib: 1,
            ..ok.clone()
        }
        .validate("wal=sqlite")
        .unwrap_err();
        assert!(e.to_string().contains("quick_db_mib"), "{e}");
        let e = SqliteConfig {
            wal_autocheckpoint: 0,
            ..ok
        }
        .validate("wal=sqlite")
        .unwrap_err();
        assert!(e.to_string().contains("wal_autocheckpoint"), "{e}");
    }
}
