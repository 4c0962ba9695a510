//! The pgbench workload: its parsers against the real pgbench outputs in
//! `../shared/corpus/pg` (made by `pgtrace.sh` there: PostgreSQL 15.18 on btrfs), and real
//! runs of PostgreSQL and pgbench.
//!
//! Tests that run PostgreSQL skip with a message when its programs are not installed, and
//! fail instead when `BTRTUNE_REQUIRE_TOOLS=1` (`apt-get install postgresql`). As root they
//! run PostgreSQL as `postgres`, in directories under /var/tmp that it can enter.

use btrtune_workloads::pgbench::{PgBinaries, PgbenchConfig, PgbenchWorkload, Summary, TxLog};
use btrtune_workloads::{RunContext, Workload, WorkloadError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

fn corpus(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/pg")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "tests need ../shared beside the checkout ({}: {e})",
            p.display()
        )
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

// ---------------------------------------------------------------- the corpus

#[test]
fn corpus_c1_summary() {
    let s = Summary::parse(&corpus("pgbench-c1.txt"), "pgbench-c1.txt").unwrap();
    assert_eq!(
        s.transaction_type.as_deref(),
        Some("<builtin: TPC-B (sort of)>")
    );
    assert_eq!((s.scale, s.clients, s.threads), (Some(5), Some(1), Some(1)));
    assert_eq!((s.transactions, s.failed), (Some(1727), Some(0)));
    assert!(close(s.tps, 345.674881), "{}", s.tps);
    assert_eq!(s.latency_avg_ms, Some(2.892));
    assert_eq!(s.latency_stddev_ms, Some(0.832));
    assert_eq!(s.connection_ms, Some(5.579));
    // The progress lines (`393.0 tps, lat 2.526 ms`) are noise, not the summary.
    assert!(s.tps < 393.0);
}

#[test]
fn corpus_c8_summary() {
    let s = Summary::parse(&corpus("pgbench-c8.txt"), "pgbench-c8.txt").unwrap();
    assert_eq!((s.scale, s.clients, s.threads), (Some(5), Some(8), Some(2)));
    assert_eq!((s.transactions, s.failed), (Some(5296), Some(0)));
    assert!(close(s.tps, 1065.753317), "{}", s.tps);
    assert_eq!(s.latency_avg_ms, Some(7.491));
    assert_eq!(s.connection_ms, Some(49.057));
    // tps is over the run without the connection time: 5296 / (5 s - 49 ms) ≈ 1069.
    assert!((s.tps - 5296.0 / 5.0).abs() / s.tps < 0.02);
}

#[test]
fn corpus_three_untraced_runs() {
    let text = corpus("pgbench-c4-untraced.txt");
    let all = Summary::parse_all(&text, "pgbench-c4-untraced.txt").unwrap();
    let tps: Vec<f64> = all.iter().map(|s| s.tps).collect();
    let lat: Vec<Option<f64>> = all.iter().map(|s| s.latency_avg_ms).collect();
    assert_eq!(tps, vec![1889.150336, 1833.100559, 1899.302293]);
    assert_eq!(lat, vec![Some(2.117), Some(2.182), Some(2.106)]);
    assert!(all.iter().all(|s| s.transactions.is_none()));
    let e = Summary::parse(&text, "pgbench-c4-untraced.txt")
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 runs"), "{e}");
}

#[test]
fn corpus_with_noise_and_damage() {
    let text = corpus("pgbench-c8.txt");
    // Warnings, blank lines, CRLF line ends and indentation around the real output.
    let noisy = format!(
        "pgbench: warning: scale option ignored, using count from pgbench_branches table (5)\n\n{}",
        text.replace('\n', "\r\n  ")
    );
    let s = Summary::parse(&noisy, "noisy").unwrap();
    assert!(close(s.tps, 1065.753317));
    assert_eq!(s.transactions, Some(5296));
    // A damaged value is an error naming the file and the line, not a panic.
    let bad = text.replace("processed: 5296", "processed: 52x6");
    let e = Summary::parse(&bad, "pgbench-c8.txt")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("pgbench-c8.txt: line 15: transactions"),
        "{e}"
    );
    // Cut before the tps line: no summary.
    let cut: String = text.lines().take(17).collect::<Vec<_>>().join("\n");
    let e = Summary::parse(&cut, "cut").unwrap_err().to_string();
    assert!(e.contains("no `tps"), "{e}");
    // Arbitrary bytes never panic.
    for junk in [
        "tps = ",
        "tps =  (x)",
        "latency average =",
        "number of clients: -1",
    ] {
        let _ = Summary::parse_all(junk, "junk");
    }
}

#[test]
fn transaction_logs_parse_as_pgbench_writes_them() {
    // Lines of a real `pgbench -c 4 -j 2 --log` run (PostgreSQL 15.18), thread 0's file.
    let text = "1 1 9856 0 1795263391 232532\n1 2 1224 0 1795263391 233797\n\
                1 3 2183 0 1795263391 235986\n3 1 1800 0 1795263392 1000\n";
    let mut log = TxLog::new();
    log.add(text, "txlog.4468").unwrap();
    assert_eq!(log.done, 4);
    let p = log.percentiles().unwrap();
    assert_eq!((p.p50, p.p99), (1_800_000.0, 9_856_000.0));
    assert!(close(
        p.mean,
        (9856.0 + 1224.0 + 2183.0 + 1800.0) / 4.0 * 1000.0
    ));
    let e = log
        .add("1 4 12 0 1795263391\n", "txlog.4468.1")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("txlog.4468.1: line 1: 5 fields"), "{e}");
}

// ---------------------------------------------------------------- real runs

/// PostgreSQL's programs, or `None` (skip) when they are missing; with
/// `BTRTUNE_REQUIRE_TOOLS=1`, fails instead.
fn have_postgres() -> bool {
    match PgBinaries::find(None) {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("BTRTUNE_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "PostgreSQL is required (BTRTUNE_REQUIRE_TOOLS=1): {e}"
            );
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}

/// A fresh directory PostgreSQL can reach: under /var/tmp, mode 0755.
fn workdir() -> tempfile::TempDir {
    let base = Path::new("/var/tmp");
    let t = if base.is_dir() {
        tempfile::Builder::new()
            .prefix("btrtune-pgbench-test-")
            .tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

/// Processes whose command line names `datadir` (the postmaster: `postgres -D <datadir>`).
fn processes_naming(datadir: &Path) -> Vec<(i32, String)> {
    let needle = datadir.display().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(&needle) {
            found.push((pid, cmd));
        }
    }
    found
}

fn quick(
    w: &PgbenchWorkload,
    dir: &Path,
    interrupted: &AtomicBool,
) -> Result<btrtune_workloads::Measurement, WorkloadError> {
    w.run(&RunContext {
        dir,
        device: Path::new("/dev/null"),
        quick: true,
        interrupted,
    })
}

#[test]
fn quick_tpcb_and_select_only_runs() {
    if !have_postgres() {
        return;
    }
    let no = AtomicBool::new(false);
    let t = workdir();

    let tpcb_dir = t.path().join("tpcb");
    std::fs::create_dir(&tpcb_dir).unwrap();
    let tpcb = PgbenchWorkload::mount("tpcb", "/data", PgbenchConfig::default()).unwrap();
    let m = quick(&tpcb, &tpcb_dir, &no).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("pgbench-tpcb quick: {m:?}");
    assert_eq!(m.primary, "tps");
    assert!(m.value > 0.0 && m.ops_per_s == Some(m.value), "{m:?}");
    let p = m
        .latency_ns
        .clone()
        .expect("latency from the transaction log");
    assert!(
        0.0 < p.p50 && p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999,
        "{p:?}"
    );
    let tx = m.extra["transactions"];
    assert!(tx >= 1.0 && m.extra["failed"] == 0.0, "{m:?}");
    // tps is transactions over the measured time, which is about the 3 s asked for.
    assert!((2.5..4.0).contains(&m.runtime_s), "{m:?}");
    assert!(close(tx / m.runtime_s, m.value));
    assert_eq!(m.extra["scale"], 2.0);
    assert_eq!(m.extra["clients"], 4.0);
    // Every TPC-B commit writes WAL (≈550 B of records, plus full-page images after the
    // checkpoint) and flushes it; with 4 clients some flushes cover several commits.
    assert!(m.extra["wal_bytes_per_tx"] > 300.0, "{m:?}");
    let syncs = m.extra["wal_sync_per_tx"];
    assert!(syncs > 0.2 && syncs <= 1.2, "{m:?}");
    assert!(m.extra["wal_sync_mean_us"] > 0.0, "{m:?}");
    assert!(
        m.cpu_usr_pct.unwrap() > 0.0 && m.cpu_sys_pct.unwrap() > 0.0,
        "{m:?}"
    );
    // The database stays for the harness to measure; the server does not.
    let datadir = tpcb_dir.join("pgdata");
    assert!(datadir.join("PG_VERSION").is_file());
    assert!(datadir.join("pg_wal").is_dir());
    assert!(
        !datadir.join("postmaster.pid").exists(),
        "a fast shutdown removes postmaster.pid"
    );
    assert_eq!(processes_naming(&datadir), vec![]);
    let names: Vec<String> = std::fs::read_dir(&tpcb_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["pgdata"],
        "nothing but the database in the directory"
    );

    // select-only: the same server and sizes, no commit to flush.
    let sel_dir = t.path().join("select-only");
    std::fs::create_dir(&sel_dir).unwrap();
    let sel = PgbenchWorkload::mount(
        "select-only",
        "/data",
        PgbenchConfig {
            quick_seconds: 2,
            ..PgbenchConfig::default()
        },
    )
    .unwrap();
    let s = quick(&sel, &sel_dir, &no).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("pgbench-select-only quick: {s:?}");
    assert!(s.value > 0.0 && s.latency_ns.is_some(), "{s:?}");
    assert!(s.extra["wal_sync_per_tx"] < 0.05, "{s:?}");
    assert_eq!(processes_naming(&sel_dir.join("pgdata")), vec![]);

    // A second run in a used directory is refused, not mixed with the old database.
    let e = quick(&tpcb, &tpcb_dir, &no).unwrap_err().to_string();
    assert!(e.contains("exists already"), "{e}");
}

#[test]
fn interrupted_run_stops_the_server() {
    if !have_postgres() {
        return;
    }
    let t = workdir();
    let datadir = t.path().join("pgdata");
    let interrupted = AtomicBool::new(false);
    // Long enough that only the interruption can end it early.
    let w = PgbenchWorkload::mount(
        "tpcb",
        "/data",
        PgbenchConfig {
            quick_seconds: 60,
            ..PgbenchConfig::default()
        },
    )
    .unwrap();
    let (result, flagged_at, sockdir) = thread::scope(|s| {
        let watcher = s.spawn(|| {
            // Once the server is up, wait a second more, then press Ctrl-C.
            let pidfile = datadir.join("postmaster.pid");
            let until = Instant::now() + Duration::from_secs(60);
            let mut sockdir = None;
            while Instant::now() < until {
                let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
                if text.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
                    sockdir = text.lines().nth(4).map(PathBuf::from);
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            thread::sleep(Duration::from_secs(1));
            interrupted.store(true, Ordering::SeqCst);
            (Instant::now(), sockdir)
        });
        let result = quick(&w, t.path(), &interrupted);
        let (at, sockdir) = watcher.join().unwrap();
        (result, at, sockdir)
    });
    assert!(
        matches!(result, Err(WorkloadError::Interrupted)),
        "{result:?}"
    );
    let took = flagged_at.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "stopped {took:?} after the flag"
    );
    let sockdir = sockdir.expect("the server came up");
    assert!(sockdir.starts_with("/tmp"), "{}", sockdir.display());
    assert!(!sockdir.exists(), "the scratch directory is removed");
    assert_eq!(processes_naming(&datadir), vec![]);
    assert!(datadir.join("PG_VERSION").is_file(), "pgdata stays");
}

#[test]
fn a_server_that_cannot_start_is_reported_with_its_log() {
    if !have_postgres() {
        return;
    }
    let t = workdir();
    let w = PgbenchWorkload::mount(
        "tpcb",
        "/data",
        PgbenchConfig {
            settings: [("shared_buffers".to_owned(), "lots".to_owned())].into(),
            ..PgbenchConfig::default()
        },
    )
    .unwrap();
    let e = quick(&w, t.path(), &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("did not start"), "{e}");
    assert!(e.contains("shared_buffers"), "the server's own words: {e}");
    assert_eq!(processes_naming(&t.path().join("pgdata")), vec![]);
}

#[test]
fn as_root_a_closed_directory_is_named() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            std::env::var("BTRTUNE_REQUIRE_ROOT").as_deref() != Ok("1"),
            "this test needs root (BTRTUNE_REQUIRE_ROOT=1)"
        );
        eprintln!("SKIPPED: not root, so PostgreSQL would run as the current user");
        return;
    }
    if !have_postgres() {
        return;
    }
    let t = workdir();
    let closed = t.path().join("closed");
    let dir = closed.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let w = PgbenchWorkload::mount("tpcb", "/data", PgbenchConfig::default()).unwrap();
    let e = quick(&w, &dir, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("cannot enter {}", closed.display())),
        "{e}"
    );
    assert!(
        !dir.join("pgdata").exists(),
        "refused before making anything"
    );
}
