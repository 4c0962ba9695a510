//! The syscall shape of the synthetic WAL writers against the straces of the real engines
//! (`shared/corpus/pg/strace-pgbench-c{1,8}-btrfs.txt.gz`, PostgreSQL 15 under pgbench;
//! `shared/corpus/sqlite/strace-wal-sync-{full,normal}.txt`, SQLite 3.40), and for InnoDB,
//! which has no fixture, against the documented shape (benchmark-method.md §3.1–3.3).
//!
//! Each test re-runs this test binary under `strace -f -y` with only the test
//! [`strace_child`] selected and `BTRTUNE_WAL_STRACE_CHILD` telling it which workload to
//! run where; without that variable the child test returns at once. The child writes its
//! `Measurement` to a file (the commit count). Both traces go through the same parser
//! ([`btrtune_workloads::wal::strace`]) and the same checks.
//!
//! Needs `strace` (Debian package `strace`): without it the tests skip with a message, and
//! fail instead when `BTRTUNE_REQUIRE_TOOLS=1`.

use btrtune_workloads::wal::strace::{self, Call, Shape};
use btrtune_workloads::{Measurement, RunContext, Target, WorkloadSpec, build};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

const CHILD_VAR: &str = "BTRTUNE_WAL_STRACE_CHILD";
const TRACED: &str =
    "trace=openat,pwrite64,pwritev,write,fdatasync,fsync,ftruncate,rename,renameat,renameat2";

/// Runs the workload named by `BTRTUNE_WAL_STRACE_CHILD` (JSON: dir, out, name, params)
/// when a test below traces this binary; does nothing otherwise.
#[test]
fn strace_child() {
    let Ok(spec) = std::env::var(CHILD_VAR) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let w = build(
        &WorkloadSpec {
            kind: "wal".into(),
            name: spec["name"].as_str().unwrap().into(),
            params: spec["params"].as_object().unwrap().clone(),
        },
        Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .unwrap();
    let flag = AtomicBool::new(false);
    let dir = PathBuf::from(spec["dir"].as_str().unwrap());
    let ctx = RunContext {
        dir: &dir,
        device: Path::new("/nonexistent"),
        quick: true,
        interrupted: &flag,
    };
    let m = w.run(&ctx).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        spec["out"].as_str().unwrap(),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
}

/// Whether strace works here; when not, skips (saying why) or, with
/// `BTRTUNE_REQUIRE_TOOLS=1`, fails.
fn have_strace() -> bool {
    let ok = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("BTRTUNE_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "strace is required (BTRTUNE_REQUIRE_TOOLS=1) but missing or not permitted: apt-get install strace"
        );
        eprintln!("SKIPPED: strace is missing or cannot trace here (apt-get install strace)");
    }
    ok
}

/// A traced synthetic run: its calls, its measurement, and its directory.
struct Traced {
    calls: Vec<Call>,
    m: Measurement,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Traced {
    fn commits(&self) -> f64 {
        self.m.extra["commits_total"]
    }
}

fn traced_run(name: &str, mut params: Value) -> Traced {
    let p = params.as_object_mut().unwrap();
    p.entry("quick_runtime_s").or_insert(json!(1.5));
    p.entry("quick_warmup_s").or_insert(json!(0.3));
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let out = tmp.path().join("measurement.json");
    let trace = tmp.path().join("trace.txt");
    let spec = json!({"dir": dir, "out": out, "name": name, "params": params});
    let child = Command::new("strace")
        .args(["-f", "-y", "-e", TRACED, "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(["strace_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, spec.to_string())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "traced child run of wal={name} failed ({}): {}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    let m: Measurement = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let calls = strace::parse(&std::fs::read_to_string(&trace).unwrap());
    Traced {
        calls,
        m,
        dir,
        _tmp: tmp,
    }
}

fn corpus(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(rel);
    assert!(
        p.exists(),
        "tests need ../shared beside the checkout ({})",
        p.display()
    );
    p
}

fn fixture(rel: &str) -> Vec<Call> {
    let p = corpus(rel);
    let text = if rel.ends_with(".gz") {
        let out = Command::new("gzip").arg("-dc").arg(&p).output().unwrap();
        assert!(out.status.success(), "gzip -dc {}", p.display());
        String::from_utf8(out.stdout).unwrap()
    } else {
        std::fs::read_to_string(&p).unwrap()
    };
    strace::parse(&text)
}

/// The transactions pgbench reports in its output beside the trace.
fn pgbench_transactions(rel: &str) -> f64 {
    let text = std::fs::read_to_string(corpus(rel)).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .unwrap();
    line.trim().parse().unwrap()
}

fn within(x: f64, lo: f64, hi: f64) -> bool {
    (lo..=hi).contains(&x)
}

// ---------------------------------------------------------------- postgresql

fn is_wal_segment(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    path.contains("/pg_wal/") && name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the c1 trace shows: per commit one WAL `pwrite` and one `fdatasync`; writes are
/// whole 8 KiB pages at page offsets, mostly one page, and they rewrite the tail page.
fn check_pg_one_client(calls: &[Call], commits: f64, what: &str) {
    let wal = Shape::of(calls, is_wal_segment);
    let heap = Shape::of(calls, |p| p.contains("/base/"));
    let writes = wal.writes.len() as f64;
    let report = format!(
        "{what}: {commits} commits, {writes} WAL writes {:?}, {} fdatasync, {} fsync, rewrites {:.3}, {} table writes",
        wal.sizes(),
        wal.fdatasyncs,
        wal.fsyncs,
        wal.rewrite_fraction(),
        heap.writes.len()
    );
    eprintln!("{report}");
    assert!(commits > 50.0, "{report}");
    assert!(
        within(writes / commits, 0.9, 1.1),
        "one WAL write per commit: {report}"
    );
    assert!(
        within(wal.fdatasyncs as f64 / commits, 0.9, 1.1),
        "one fdatasync per commit: {report}"
    );
    assert_eq!(wal.fsyncs, 0, "{report}");
    assert!(
        wal.writes
            .iter()
            .all(|w| w.len % 8192 == 0 && w.offset % 8192 == 0),
        "{report}"
    );
    assert!(
        wal.fraction_of_size(8192) >= 0.85,
        "mostly one page: {report}"
    );
    assert!(
        wal.fraction_of_size(16384) > 0.0,
        "records crossing a page: {report}"
    );
    assert!(
        wal.rewrite_fraction() >= 0.8,
        "tail-page rewrites: {report}"
    );
    // A few 8 KiB table writes per hundred commits beside the WAL (40 per 1 727 in c1).
    assert!(
        within(heap.writes.len() as f64 / commits, 0.003, 0.1),
        "{report}"
    );
    assert!(
        heap.writes
            .iter()
            .all(|w| w.len == 8192 && w.offset % 8192 == 0),
        "{report}"
    );
}

#[test]
fn postgresql_one_client_has_the_pgbench_c1_shape() {
    let real = fixture("pg/strace-pgbench-c1-btrfs.txt.gz");
    check_pg_one_client(
        &real,
        pgbench_transactions("pg/pgbench-c1.txt"),
        "pgbench -c1",
    );
    if !have_strace() {
        return;
    }
    let ours = traced_run("postgresql", json!({"clients": 1, "quick_table_mib": 8}));
    check_pg_one_client(&ours.calls, ours.commits(), "wal-postgresql clients=1");
    // Its segments are PostgreSQL's names in pg_wal/.
    assert!(ours.dir.join("pg_wal/000000010000000000000001").exists());
}

/// What the c8 trace shows: group commit, fewer `fdatasync`s than commits, one write per
/// flush, still whole pages that rewrite the tail.
fn check_pg_group_commit(calls: &[Call], commits: f64, what: &str) {
    let wal = Shape::of(calls, is_wal_segment);
    let writes = wal.writes.len() as f64;
    let syncs = wal.fdatasyncs as f64;
    let report = format!(
        "{what}: {commits} commits, {writes} WAL writes {:?}, {syncs} fdatasync, rewrites {:.3}",
        wal.sizes(),
        wal.rewrite_fraction()
    );
    eprintln!("{report}");
    assert!(syncs / commits < 0.95, "group commit: {report}");
    assert!(syncs / commits > 0.05, "{report}");
    assert!(
        within(writes / syncs, 0.9, 1.1),
        "one write per flush: {report}"
    );
    assert!(
        wal.writes
            .iter()
            .all(|w| w.len % 8192 == 0 && w.offset % 8192 == 0),
        "{report}"
    );
    assert!(wal.rewrite_fraction() >= 0.8, "{report}");
}

#[test]
fn postgresql_eight_clients_group_commit_like_pgbench_c8() {
    let real = fixture("pg/strace-pgbench-c8-btrfs.txt.gz");
    check_pg_group_commit(
        &real,
        pgbench_transactions("pg/pgbench-c8.txt"),
        "pgbench -c8",
    );
    if !have_strace() {
        return;
    }
    let ours = traced_run("postgresql", json!({"clients": 8, "quick_table_mib": 8}));
    check_pg_group_commit(&ours.calls, ours.commits(), "wal-postgresql clients=8");
}

// ---------------------------------------------------------------- sqlite

/// The WAL's writes as SQLite makes them: a 32-byte header at 0 (at creation and after
/// each checkpoint), then per frame 24 bytes at 32 + k·4120 and 4096 bytes right after,
/// k counting from 0 again after each header. Returns (frames, headers).
fn check_sqlite_frames(wal: &Shape, what: &str) -> (u64, u64) {
    let (mut k, mut frames, mut headers) = (0u64, 0u64, 0u64);
    let mut expect_page = false;
    for (i, w) in wal.writes.iter().enumerate() {
        if w.len == 32 && w.offset == 0 {
            assert!(!expect_page, "{what}: write {i}: header inside a frame");
            headers += 1;
            k = 0;
        } else if !expect_page {
            assert_eq!(
                (w.len, w.offset),
                (24, 32 + k * 4120),
                "{what}: write {i}: frame header"
            );
            expect_page = true;
        } else {
            assert_eq!(
                (w.len, w.offset),
                (4096, 32 + k * 4120 + 24),
                "{what}: write {i}: page"
            );
            expect_page = false;
            k += 1;
            frames += 1;
        }
    }
    assert!(
        headers >= 1 && frames >= 1,
        "{what}: {frames} frames, {headers} headers"
    );
    (frames, headers)
}

struct SqliteShape {
    frames: u64,
    wal_syncs: u64,
}

fn check_sqlite(calls: &[Call], commits: f64, what: &str) -> SqliteShape {
    let wal = Shape::of(calls, |p| p.ends_with(".db-wal"));
    let (frames, _) = check_sqlite_frames(&wal, what);
    assert!(
        within(frames as f64 / commits, 0.9, 1.1),
        "{what}: one frame per commit: {frames} for {commits}"
    );
    assert!(
        wal.writes[0].len == 32 && wal.writes[0].offset == 0,
        "{what}: the header comes first"
    );
    // -shm: truncated to 3 bytes, then one byte at the end of each 4 KiB page of 32 KiB.
    let shm = Shape::of(calls, |p| p.ends_with(".db-shm"));
    assert_eq!(shm.truncates.len(), 1, "{what}");
    assert_eq!(shm.truncates[0].1, 3, "{what}");
    let ends: Vec<(u64, u64)> = shm.writes.iter().map(|w| (w.len, w.offset)).collect();
    assert_eq!(
        ends,
        (0..8).map(|k| (1, 4096 * k + 4095)).collect::<Vec<_>>(),
        "{what}"
    );
    // The checkpoint: page-sized writes at page offsets of the database, then its fdatasync.
    let db = Shape::of(calls, |p| p.ends_with(".db"));
    let db_pages: Vec<_> = db.writes.iter().filter(|w| w.len == 4096).collect();
    assert!(!db_pages.is_empty(), "{what}: checkpoint writes");
    assert!(db_pages.iter().all(|w| w.offset % 4096 == 0), "{what}");
    assert!(db.fdatasyncs >= 1, "{what}");
    // The directory is synced when the WAL is created.
    let dirs = Shape::of(calls, |p| !p.contains(".db"));
    assert!(dirs.syncs() >= 1, "{what}: directory sync");
    SqliteShape {
        frames,
        wal_syncs: wal.syncs(),
    }
}

#[test]
fn sqlite_full_and_normal_have_the_shapes_of_sqlite() {
    // The fixtures: 20 single-row INSERT transactions each (corpus/sqlite/README.md).
    let full = check_sqlite(
        &fixture("sqlite/strace-wal-sync-full.txt"),
        20.0,
        "sqlite FULL",
    );
    let normal = check_sqlite(
        &fixture("sqlite/strace-wal-sync-normal.txt"),
        20.0,
        "sqlite NORMAL",
    );
    assert_eq!((full.frames, full.wal_syncs, normal.wal_syncs), (20, 22, 2));
    if !have_strace() {
        return;
    }
    for (sync, lo, hi) in [("FULL", 0.9, 1.2), ("NORMAL", 0.0, 0.2)] {
        let ours = traced_run(
            "sqlite",
            json!({"synchronous": sync, "wal_autocheckpoint": 200, "quick_db_mib": 2}),
        );
        let what = format!("wal-sqlite synchronous={sync}");
        let s = check_sqlite(&ours.calls, ours.commits(), &what);
        let per_commit = s.wal_syncs as f64 / ours.commits();
        eprintln!(
            "{what}: {} commits, {} frames, {} WAL syncs",
            ours.commits(),
            s.frames,
            s.wal_syncs
        );
        assert!(
            within(per_commit, lo, hi),
            "{what}: {per_commit} WAL syncs per commit"
        );
    }
    let fixture_full = 22.0 / 20.0;
    let fixture_normal = 2.0 / 20.0;
    assert!(within(fixture_full, 0.9, 1.2) && within(fixture_normal, 0.0, 0.2));
}

// ---------------------------------------------------------------- innodb

#[test]
fn innodb_redo_has_the_documented_shape() {
    if !have_strace() {
        return;
    }
    let ours = traced_run("innodb", json!({"quick_tablespace_mib": 4}));
    let commits = ours.commits();
    let is_redo = |p: &str| p.contains("#innodb_redo/#ib_redo");
    let redo = Shape::of(&ours.calls, is_redo);
    // Log blocks, not the 2 KiB file headers (file creation, checkpoints).
    let data: Vec<_> = redo.writes.iter().filter(|w| w.offset >= 2048).collect();
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|w| w.len % 512 == 0 && w.offset % 512 == 0),
        "whole 512-byte blocks"
    );
    // Write-ahead: whenever a write reaches past what was written of its file, it ends at
    // an 8 KiB boundary (padded), so no region is ever half written.
    let mut high = std::collections::HashMap::new();
    let (mut padded, mut rewrites) = (0, 0);
    for w in &data {
        let h = high.entry(w.path.clone()).or_insert(0u64);
        let end = w.offset + w.len;
        if end > *h {
            assert_eq!(
                end % 8192,
                0,
                "{w:?} extends the file without padding to 8 KiB"
            );
            padded += 1;
        }
        if w.offset < *h {
            rewrites += 1;
        }
        *h = (*h).max(end);
    }
    assert!(
        padded >= 1 && rewrites as f64 >= 0.8 * data.len() as f64,
        "{padded} padded, {rewrites} rewrites"
    );
    // One fsync of the redo per commit once the log is written (not counting the setup's).
    let first = ours
        .calls
        .iter()
        .position(|c| {
            c.name == "pwrite64"
                && c.path(0).is_some_and(is_redo)
                && c.number(3).is_some_and(|o| o >= 2048)
        })
        .unwrap();
    let after = Shape::of(&ours.calls[first..], is_redo);
    let per_commit = after.fsyncs as f64 / commits;
    eprintln!(
        "wal-innodb: {commits} commits, {} redo writes {:?}, {} fsync after the first",
        data.len(),
        redo.sizes(),
        after.fsyncs
    );
    assert!(
        within(per_commit, 0.9, 1.1),
        "{per_commit} redo fsyncs per commit"
    );
    assert!(
        within(data.len() as f64 / commits, 0.9, 1.2),
        "one redo write per commit"
    );
    // Doublewrite: every in-place page write follows a synced doublewrite batch.
    let (mut batch_synced, mut dblwr_written, mut page_writes) = (false, false, 0);
    for c in &ours.calls {
        let Some(p) = c.path(0) else { continue };
        match (
            c.name.as_str(),
            p.ends_with(".dblwr"),
            p.ends_with("sbtest1.ibd"),
        ) {
            ("pwrite64", true, _) => {
                assert_eq!(c.number(2).unwrap() % 16384, 0);
                dblwr_written = true;
                batch_synced = false;
            }
            ("fsync", true, _) => batch_synced = dblwr_written,
            ("pwrite64", _, true) => {
                assert!(
                    batch_synced,
                    "a page written in place before its doublewrite batch was synced"
                );
                assert_eq!(
                    (c.number(2), c.number(3).map(|o| o % 16384)),
                    (Some(16384), Some(0))
                );
                page_writes += 1;
            }
            _ => {}
        }
    }
    assert!(page_writes > 0, "the page cleaner ran");
    let space = Shape::of(&ours.calls, |p| p.ends_with("sbtest1.ibd"));
    assert!(
        space.fsyncs >= 2,
        "the tablespace is synced after each flush"
    );
}
