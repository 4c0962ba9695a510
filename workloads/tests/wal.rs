//! The WAL writers run for real in a temporary directory: what each leaves behind (segment
//! sizes and names, WAL headers and frame checksums, redo files) and what it measured.
//! Runs are short (about a second each).

use btrtune_workloads::{Measurement, RunContext, Target, WorkloadError, WorkloadSpec, build};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A temporary directory on the target directory's filesystem (not a tmpfs /tmp, where
/// O_DIRECT fails).
fn disk_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn spec(name: &str, params: Value) -> WorkloadSpec {
    WorkloadSpec {
        kind: "wal".into(),
        name: name.into(),
        params: match params {
            Value::Object(m) => m,
            _ => unreachable!(),
        },
    }
}

fn run_in(dir: &Path, name: &str, params: Value) -> Result<Measurement, WorkloadError> {
    let w = build(
        &spec(name, params),
        Target::Mount {
            mountpoint: "/data".into(),
        },
    )?;
    let flag = AtomicBool::new(false);
    let ctx = RunContext {
        dir,
        device: Path::new("/nonexistent"),
        quick: true,
        interrupted: &flag,
    };
    w.run(&ctx)
}

fn short(mut params: Value) -> Value {
    let m = params.as_object_mut().unwrap();
    m.entry("quick_runtime_s").or_insert(json!(1.0));
    m.entry("quick_warmup_s").or_insert(json!(0.2));
    params
}

fn check_common(m: &Measurement) {
    assert_eq!(m.primary, "commits_per_s");
    assert!(m.value > 0.0, "{m:?}");
    assert_eq!(m.ops_per_s, Some(m.value));
    assert!(m.bytes_per_s.unwrap() > 0.0);
    assert!((m.runtime_s - 1.0).abs() < 1e-6, "{}", m.runtime_s);
    let commits = m.extra["commits"];
    assert!((m.value * m.runtime_s - commits).abs() < 1e-6);
    assert!(
        m.extra["commits_total"] >= commits,
        "warm-up commits are not in the window"
    );
    let lat = m.latency_ns.as_ref().expect("commit latency");
    assert!(
        lat.p50 > 0.0 && lat.p50 <= lat.p99 && lat.p99 <= lat.p999,
        "{lat:?}"
    );
    assert!(m.cpu_usr_pct.is_some() && m.cpu_sys_pct.is_some());
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

// ---------------------------------------------------------------- postgresql

#[test]
fn postgresql_segments_checkpoints_and_recycling() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "postgresql",
        short(json!({
            "clients": 2,
            "wal_segment_mib": 1,
            "checkpoint_s": 0.3,
            "quick_max_wal_mib": 4,
            "quick_table_mib": 4,
            "bgwriter_pages_per_commit": 0.5,
        })),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_common(&m);
    let x = &m.extra;
    assert!(x["checkpoints"] >= 1.0, "{x:?}");
    assert!(
        x["table_fsyncs"] >= 4.0,
        "each of the 4 table files at each checkpoint: {x:?}"
    );
    assert!(x["table_writes"] > 0.0);
    assert!(x["segments_recycled"] >= 1.0, "{x:?}");
    assert!(
        x["fpi_per_commit"] > 0.0,
        "full-page images after checkpoints: {x:?}"
    );
    assert!(x["wal_bytes_per_commit"] > 550.0);
    assert!(x["tail_rewrite_fraction"] > 0.5, "{x:?}");
    assert!(
        x["syncs_per_commit"] > 0.0 && x["syncs_per_commit"] <= 1.2,
        "{x:?}"
    );
    assert!(m.sync_latency_ns.is_some());

    let wal = tmp.path().join("pg_wal");
    let mut names: Vec<String> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for n in &names {
        assert!(
            n.len() == 24 && n.starts_with("00000001") && n.bytes().all(|b| b.is_ascii_hexdigit()),
            "{n}"
        );
        assert_eq!(
            std::fs::metadata(wal.join(n)).unwrap().len(),
            1 << 20,
            "{n}"
        );
    }
    // Segment 1 was recycled away; the oldest left starts with a long page header.
    assert!(
        !names.contains(&"000000010000000000000001".to_owned()),
        "{names:?}"
    );
    let first = std::fs::read(wal.join(&names[0])).unwrap();
    assert_eq!(&first[0..2], &0xD110u16.to_le_bytes(), "XLOG_PAGE_MAGIC");
    assert_eq!(
        u16::from_le_bytes([first[2], first[3]]) & 2,
        2,
        "XLP_LONG_HEADER"
    );
    for i in 0..4 {
        let p = tmp.path().join(format!("base/5/{}", 16384 + i));
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            1 << 20,
            "{}",
            p.display()
        );
    }
    let control = std::fs::read(tmp.path().join("global/pg_control")).unwrap();
    assert_eq!(control.len(), 8192);
    assert_ne!(&control[0..8], &[0; 8], "the last checkpoint's redo point");

    // The same directory again: the files exist, nothing is overwritten.
    let e = run_in(tmp.path(), "postgresql", short(json!({})))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exists") && e.contains("wal-postgresql"), "{e}");
}

#[test]
fn postgresql_without_zeroing_and_recycling() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "postgresql",
        short(json!({
            "wal_segment_mib": 1,
            "wal_init_zero": false,
            "wal_recycle": false,
            "checkpoint_s": 0.2,
            "quick_max_wal_mib": 2,
            "quick_table_mib": 2,
            "prealloc_segments": 0,
            "wal_sync_method": "open_datasync",
        })),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_common(&m);
    let x = &m.extra;
    assert_eq!(x["segments_recycled"], 0.0, "{x:?}");
    assert!(x["segments_removed"] >= 1.0, "{x:?}");
    assert!(x["segments_created"] >= 1.0, "{x:?}");
    // O_DSYNC: every WAL write is a sync.
    assert_eq!(x["wal_syncs"], x["wal_writes"], "{x:?}");
    use std::os::unix::fs::MetadataExt;
    let sparse = std::fs::read_dir(tmp.path().join("pg_wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .any(|md| md.len() == 1 << 20 && md.blocks() * 512 < md.len());
    assert!(
        sparse,
        "segments made by writing their last byte are sparse until written"
    );
}

#[test]
fn postgresql_stops_on_interruption() {
    let tmp = disk_tempdir();
    let w = build(
        &spec(
            "postgresql",
            json!({"clients": 4, "quick_table_mib": 2, "quick_runtime_s": 60.0}),
        ),
        Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .unwrap();
    let flag = AtomicBool::new(false);
    let ctx = RunContext {
        dir: tmp.path(),
        device: Path::new("/nonexistent"),
        quick: true,
        interrupted: &flag,
    };
    let started = Instant::now();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            flag.store(true, Ordering::SeqCst);
        });
        w.run(&ctx)
    });
    assert!(matches!(r, Err(WorkloadError::Interrupted)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- sqlite

/// SQLite's WAL checksum, written again here from the file-format document
/// (sqlite.org/fileformat2.html §4.1), with native little-endian words.
fn checksum(data: &[u8], mut s: (u32, u32)) -> (u32, u32) {
    for w in data.chunks_exact(8) {
        let x0 = u32::from_le_bytes(w[0..4].try_into().unwrap());
        let x1 = u32::from_le_bytes(w[4..8].try_into().unwrap());
        s.0 = s.0.wrapping_add(x0).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(x1).wrapping_add(s.0);
    }
    s
}

#[test]
fn sqlite_wal_is_a_valid_wal() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "sqlite",
        short(json!({"wal_autocheckpoint": 50, "pages_per_txn": 2, "quick_db_mib": 2})),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_common(&m);
    let x = &m.extra;
    assert!(x["checkpoints"] >= 1.0, "{x:?}");
    assert!(x["db_writes"] >= 1.0 && x["db_syncs"] >= 1.0, "{x:?}");
    assert!((x["frames"] - 2.0 * x["commits"]).abs() <= 2.0, "{x:?}");
    // One fdatasync per commit, plus the header and checkpoint syncs.
    let spc = x["syncs_per_commit"];
    assert!((1.0..1.2).contains(&spc), "{x:?}");
    // Two writes per frame and one per header, up to the transactions cut by the window.
    assert!(
        (x["wal_writes"] - 2.0 * x["frames"] - x["wal_restarts"]).abs() <= 6.0,
        "{x:?}"
    );

    assert_eq!(
        std::fs::metadata(tmp.path().join("test.db")).unwrap().len(),
        2 << 20
    );
    assert_eq!(
        std::fs::metadata(tmp.path().join("test.db-shm"))
            .unwrap()
            .len(),
        32768
    );
    let db = std::fs::read(tmp.path().join("test.db")).unwrap();
    assert_eq!(&db[..16], b"SQLite format 3\0");
    let wal = std::fs::read(tmp.path().join("test.db-wal")).unwrap();
    assert_eq!(be32(&wal, 0), 0x377f_0682);
    assert_eq!(be32(&wal, 4), 3_007_000);
    assert_eq!(be32(&wal, 8), 4096);
    assert!(
        be32(&wal, 12) >= 2,
        "restarted after a checkpoint: {}",
        be32(&wal, 12)
    );
    let mut c = checksum(&wal[..24], (0, 0));
    assert_eq!((be32(&wal, 24), be32(&wal, 28)), c, "header checksum");
    // The frames since the last restart carry the header's salts and a chained checksum;
    // every second frame commits (2 pages per transaction) with the database size.
    let mut k = 0;
    while 32 + (k + 1) * 4120 <= wal.len() {
        let f = &wal[32 + k * 4120..32 + (k + 1) * 4120];
        if f[8..16] != wal[16..24] {
            break;
        }
        c = checksum(&f[24..], checksum(&f[..8], c));
        assert_eq!((be32(f, 16), be32(f, 20)), c, "frame {k}");
        let pgno = be32(f, 0);
        assert!((2..=512).contains(&pgno), "{pgno}");
        assert_eq!(be32(f, 4), if k % 2 == 1 { 512 } else { 0 }, "frame {k}");
        k += 1;
    }
    assert!(k >= 2, "{k} valid frames");
}

#[test]
fn sqlite_normal_does_not_sync_per_commit() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "sqlite",
        short(json!({"synchronous": "NORMAL", "quick_db_mib": 2})),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_common(&m);
    assert!(m.extra["syncs_per_commit"] < 0.1, "{:?}", m.extra);
}

// ---------------------------------------------------------------- innodb

#[test]
fn innodb_redo_wraps_around_its_32_files() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "innodb",
        short(json!({
            "quick_redo_mib": 8,
            "log_buffer_mib": 1,
            "record_bytes": 30000,
            "clients": 2,
            "page_cleaner_interval_s": 0.1,
            "quick_tablespace_mib": 4,
        })),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_common(&m);
    let x = &m.extra;
    assert!(x["checkpoints"] >= 1.0, "{x:?}");
    assert!(x["redo_files_recycled"] >= 1.0, "{x:?}");
    assert!(
        x["data_page_writes"] > 0.0 && x["doublewrite_writes"] > 0.0,
        "{x:?}"
    );
    assert!(x["padded_write_fraction"] > 0.0, "{x:?}");
    assert_eq!(x["o_direct"], 0.0);
    let redo = tmp.path().join("#innodb_redo");
    let mut numbers: Vec<u64> = std::fs::read_dir(&redo)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let n = name
                .strip_prefix("#ib_redo")
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                std::fs::metadata(redo.join(&name)).unwrap().len(),
                256 << 10
            );
            n.parse().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers.len(), 32);
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "32 consecutive files: {numbers:?}"
    );
    assert!(numbers[0] >= 1, "the first files were reused: {numbers:?}");
    let space = tmp.path().join("sbtest/sbtest1.ibd");
    assert_eq!(std::fs::metadata(space).unwrap().len(), 4 << 20);
    assert_eq!(
        std::fs::metadata(tmp.path().join("#ib_16384_0.dblwr"))
            .unwrap()
            .len(),
        64 * 16384
    );
}

#[test]
fn innodb_o_direct_and_lazy_flushing() {
    let tmp = disk_tempdir();
    let m = run_in(
        tmp.path(),
        "innodb",
        short(
            json!({"flush_method": "O_DIRECT", "flush_log_at_trx_commit": 2, "quick_tablespace_mib": 4}),
        ),
    );
    let m = match m {
        Err(e) if e.to_string().contains("O_DIRECT is not supported") => {
            eprintln!("SKIPPED: {e}");
            return;
        }
        other => other.unwrap_or_else(|e| panic!("{e}")),
    };
    check_common(&m);
    assert_eq!(m.extra["o_direct"], 1.0);
    // Written per commit, synced about once a second (plus the page cleaner's WAL rule).
    assert!(m.extra["syncs_per_commit"] < 0.1, "{:?}", m.extra);
    assert!(
        m.extra["wal_writes"] >= m.extra["commits"] * 0.5,
        "{:?}",
        m.extra
    );
}

#[test]
fn wal_kinds_refuse_devices_and_bad_parameters() {
    let e = build(&spec("sqlite", json!({})), Target::Device)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("raw device"), "{e}");
    let e = build(
        &spec("innodb", json!({"flush_method": "O_DSYNC"})),
        Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("wal=innodb") && e.contains("O_DSYNC") && e.contains("O_DIRECT"),
        "{e}"
    );
    let names: Vec<_> = btrtune_workloads::catalogue()
        .into_iter()
        .filter(|e| e.kind == "wal")
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["postgresql", "sqlite", "innodb"]);
    let tmp = disk_tempdir();
    let missing = tmp.path().join("missing");
    let e = run_in(&missing, "sqlite", json!({}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a directory"), "{e}");
}
