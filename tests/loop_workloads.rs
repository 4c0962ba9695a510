//! Root test: every kind of workload runs through the harness on real loop-backed btrfs (CoW
//! and NOCOW) and ext4 with quick sizes, and each applicable cell leaves a results record
//! with a positive primary metric. This is the bundled `workloads` matrix, the one the
//! README's `btrtune calibrate --matrix workloads --quick` runs.
//!
//! Needs root, btrfs-progs, e2fsprogs, fio and PostgreSQL's binaries. Without root it skips
//! with a message, unless `BTRTUNE_REQUIRE_ROOT=1` (CI), which makes a skip a failure.

use assert_cmd::Command;
use std::collections::BTreeSet;

mod common;
use common::require_root;

/// Loop devices whose backing file lies below `dir`.
fn loops_below(dir: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("losetup")
        .args(["-l", "-n", "-O", "NAME,BACK-FILE"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&*dir.to_string_lossy()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn loop_every_workload_kind_runs_through_the_harness() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("btrtune-workloads-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let out = scratch.path().join("out");
    let backing = scratch.path().join("backing");
    Command::cargo_bin("btrtune")
        .unwrap()
        .args(["calibrate", "--matrix", "workloads", "--quick", "--out"])
        .arg(&out)
        .arg("--backing-dir")
        .arg(&backing)
        .timeout(std::time::Duration::from_secs(1200))
        .assert()
        .success();
    let records = btrtune_harness::record::read(&out.join("workloads-quick.jsonl")).unwrap();

    // (layout, workload, primary metric) for every cell that ran.
    let got: BTreeSet<(String, String, String)> = records
        .iter()
        .map(|r| {
            assert!(r.quick);
            assert!(
                r.measurement.value.is_finite() && r.measurement.value > 0.0,
                "{} on {}: {} = {}",
                r.workload.name,
                r.layout_name,
                r.measurement.primary,
                r.measurement.value
            );
            assert!(r.measurement.runtime_s > 0.0);
            (
                r.layout_name.clone(),
                r.workload.name.clone(),
                r.measurement.primary.clone(),
            )
        })
        .collect();
    assert_eq!(got.len(), records.len(), "one run per cell with --quick");

    let workloads = [
        ("fio-randwrite-4k-fsync", "iops", false),
        ("wal-postgresql", "commits_per_s", false),
        ("wal-sqlite", "commits_per_s", false),
        ("wal-innodb", "commits_per_s", false),
        ("containers-btrfs", "layers_per_s", true),
        ("containers-overlay", "layers_per_s", false),
        ("devtree-cargo", "files_per_s", false),
        ("pgbench-tpcb", "tps", false),
    ];
    let mut want = BTreeSet::new();
    for layout in ["cow", "nocow", "ext4"] {
        for (name, primary, needs_btrfs) in workloads {
            if needs_btrfs && layout == "ext4" {
                continue; // subvolumes and snapshots need btrfs: the harness skips the cell
            }
            want.insert((layout.to_owned(), name.to_owned(), primary.to_owned()));
        }
    }
    assert_eq!(got, want);
    assert!(loops_below(scratch.path()).is_empty(), "loop devices left");
    assert!(
        !backing.exists() || std::fs::read_dir(&backing).unwrap().next().is_none(),
        "backing files left"
    );
}

/// Issue 8: a snapshot of a PostgreSQL subvolume (pgdata and pg_wal together) taken under
/// pgbench load recovers and passes amcheck and pgbench's invariant, on CoW and NOCOW, through
/// the harness (the quick version of `profiles/matrix/snapshot-safety.toml`'s
/// `same-subvolume` cells).
#[test]
fn loop_pgsnapshot_same_subvolume_is_crash_consistent() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("btrtune-pgsnapshot-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let matrix = scratch.path().join("snapshot-ci.toml");
    std::fs::write(
        &matrix,
        r#"name = "snapshot-ci"
description = "same-subvolume snapshots of PostgreSQL under load on CoW and NOCOW"
size = "2G"
[runs]
min = 1
max = 1
cv_target = 1.0
[[layout]]
name = "cow"
compress = "none"
[[layout]]
name = "nocow"
compress = "none"
nocow = true
[[workload]]
pgsnapshot = "same-subvolume"
"#,
    )
    .unwrap();
    let out = scratch.path().join("out");
    let backing = scratch.path().join("backing");
    Command::cargo_bin("btrtune")
        .unwrap()
        .args(["calibrate", "--quick", "--matrix"])
        .arg(&matrix)
        .arg("--out")
        .arg(&out)
        .arg("--backing-dir")
        .arg(&backing)
        .timeout(std::time::Duration::from_secs(600))
        .assert()
        .success();
    let records = btrtune_harness::record::read(&out.join("snapshot-ci-quick.jsonl")).unwrap();
    let layouts: BTreeSet<&str> = records.iter().map(|r| r.layout_name.as_str()).collect();
    assert_eq!(layouts, BTreeSet::from(["cow", "nocow"]));
    for r in &records {
        let m = &r.measurement;
        let x = |k: &str| m.extra.get(k).copied().unwrap_or(f64::NAN);
        assert_eq!(r.workload.name, "pgsnapshot-same-subvolume");
        assert_eq!(m.primary, "consistent_fraction");
        assert!(x("snapshots") >= 2.0, "{}: {:?}", r.layout_name, m.extra);
        assert_eq!(
            m.value, 1.0,
            "{}: a snapshot did not recover consistently: {:?}",
            r.layout_name, m.extra
        );
        assert_eq!(x("recovered"), x("snapshots"));
        assert_eq!(x("amcheck_ok"), x("snapshots"));
        assert_eq!(x("invariant_ok"), x("snapshots"));
        assert!(x("indexes_checked") >= 3.0 * x("snapshots"));
        assert!(
            x("history_rows_min") > 0.0,
            "the snapshots hold transactions"
        );
        assert!(x("recovery_s_max") > 0.0);
    }
    assert!(loops_below(scratch.path()).is_empty(), "loop devices left");
}
