//! Root test of `btrtune validate --bench` on real loop devices: two layouts that differ only
//! by NOCOW on the database's subvolume, measured under the PostgreSQL WAL writer (quick
//! sizes); the verdict carries the measured ratio with its 95 % interval, the model's
//! projection, and an exit status that matches the outcome. Nothing of ours is left behind.
//!
//! Needs root, btrfs-progs, e2fsprogs and fio. Without root it skips, unless
//! `BTRTUNE_REQUIRE_ROOT=1` (CI).

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::require_root;

/// The line that makes `@postgresql` NOCOW in a planned disko.nix.
const NOCOW: &str = "chattr +C \"$MNTPOINT/@postgresql\"";

#[test]
fn loop_validate_bench_reports_the_nocow_ratio_with_its_interval() {
    if !require_root() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("btrtune-validate-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let plan = Command::cargo_bin("btrtune")
        .unwrap()
        .args(["plan", "--tools", "postgresql", "--priority", "balanced"])
        .output()
        .unwrap();
    assert!(plan.status.success());
    let proposed = String::from_utf8(plan.stdout).unwrap();
    assert!(proposed.contains(NOCOW), "the plan makes @postgresql NOCOW");
    let current = proposed.replace(NOCOW, "true");
    std::fs::write(dir.path().join("proposed.nix"), &proposed).unwrap();
    std::fs::write(dir.path().join("current.nix"), &current).unwrap();

    let out = Command::cargo_bin("btrtune")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "validate",
            "proposed.nix",
            "--baseline",
            "current.nix",
            "--bench",
            "--workloads",
            "wal-postgresql",
            "--quick",
            "--runs",
            "3",
            "--json",
            "--results",
            "runs",
            "--backing-dir",
            "backing",
            "--report",
            "report",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap();
    assert!(
        [0, 3, 4].contains(&code),
        "exit {code}: {stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert!(
        v["proposed"]["findings"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let bench = &v["bench"];
    assert_eq!(bench["rounds"], 3);
    assert_eq!(bench["probes"][0]["target"], "/var/lib/postgresql");
    let verdicts = bench["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{v}");
    let w = &verdicts[0];
    assert_eq!(w["workload"], "wal-postgresql");
    let m = &w["measured"];
    assert_eq!(m["pairs"], 3, "{w}");
    let (ratio, low, high) = (
        m["ratio"].as_f64().unwrap(),
        m["low"].as_f64().unwrap(),
        m["high"].as_f64().unwrap(),
    );
    assert!(
        0.0 < low && low <= ratio && ratio <= high && high.is_finite(),
        "{m}"
    );
    assert!(m["baseline"].as_f64().unwrap() > 0.0 && m["proposed"].as_f64().unwrap() > 0.0);
    assert_eq!(
        w["significant"].as_bool().unwrap(),
        low > 1.0 || high < 1.0,
        "{w}"
    );
    // The model sees exactly the NOCOW change.
    let p = &w["projected"];
    assert!(
        p["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "+nocow"),
        "{w}"
    );
    assert!(w["agrees_with_model"].is_boolean(), "{w}");
    let outcome = v["outcome"].as_str().unwrap();
    let expected_code = match outcome {
        "pass" => 0,
        "fail" => 3,
        "inconclusive" => 4,
        o => panic!("outcome {o}"),
    };
    assert_eq!(code, expected_code, "{v}");

    // Six runs recorded: three rounds of each layout, the proposed one's database NOCOW.
    let files = bench["results"].as_array().unwrap();
    let records =
        btrtune_harness::record::read(&dir.path().join(files[0].as_str().unwrap())).unwrap();
    assert_eq!(records.len(), 6);
    for r in &records {
        let nocow = r
            .layout
            .btrfs_filesystems()
            .iter()
            .flat_map(|(_, fs)| fs.subvolumes.iter())
            .any(|s| s.name == "@postgresql" && s.data.nocow);
        assert_eq!(nocow, r.layout_name == "proposed", "{}", r.layout_name);
    }
    // The report was written.
    let html = std::fs::read_to_string(dir.path().join("report/report.html")).unwrap();
    assert!(html.contains("wal-postgresql"));

    // Nothing of ours is left: no loop device over our backing files, no mounts.
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Ok(b) = std::fs::read_to_string(format!("/sys/block/{n}/loop/backing_file")) {
            assert!(
                !b.trim().starts_with(&dir.path().display().to_string()),
                "{n} still attached to {b}"
            );
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&dir.path().display().to_string()));
}

#[test]
fn validate_static_errors_fail_without_benchmarking() {
    // No root needed: a static error stops before any device is touched.
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"{
  disko.devices.disk.main = {
    type = "disk";
    device = "/dev/vda";
    content = {
      type = "gpt";
      partitions.root = {
        size = "100%";
        content = {
          type = "btrfs";
          subvolumes = {
            "@root" = { mountpoint = "/"; };
            "@db" = { mountpoint = "/var/lib/db"; mountOptions = [ "nodatacow" ]; };
          };
        };
      };
    };
  };
}
"#;
    std::fs::write(dir.path().join("bad.nix"), bad).unwrap();
    let out = Command::cargo_bin("btrtune")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "bad.nix", "--bench"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bad.nix:13:"), "{stdout}");
    assert!(stdout.contains("chattr +C"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not benchmarking"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_with_facter_names_a_disk_the_host_lacks() {
    // No root needed: static checks and the facter report only.
    let dir = tempfile::tempdir().unwrap();
    let plan = Command::cargo_bin("btrtune")
        .unwrap()
        .args(["plan", "--tools", "postgresql"])
        .output()
        .unwrap();
    assert!(plan.status.success());
    let text = String::from_utf8(plan.stdout)
        .unwrap()
        .replace("device = \"/dev/sda\";", "device = \"/dev/sdq\";");
    let line = text
        .lines()
        .position(|l| l.contains("\"/dev/sdq\""))
        .unwrap()
        + 1;
    std::fs::write(dir.path().join("disko.nix"), &text).unwrap();
    let facter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/facter/framework13-amd-nvme-laptop.json"
    );
    let out = Command::cargo_bin("btrtune")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "disko.nix", "--facter", facter, "--json"])
        .output()
        .unwrap();
    // A warning: the layout still passes.
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hw = &v["hardware"][0];
    assert_eq!(hw["code"], "hardware/unknown-disk", "{v}");
    assert_eq!(hw["line"], line as u64, "{v}");
    assert!(hw["fix"].as_str().unwrap().contains("/dev/"), "{v}");
}

#[test]
fn loop_validate_bench_picks_workloads_from_the_tools() {
    if !require_root() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("btrtune-validate-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let plan = Command::cargo_bin("btrtune")
        .unwrap()
        .args(["plan", "--tools", "postgresql"])
        .output()
        .unwrap();
    std::fs::write(dir.path().join("proposed.nix"), &plan.stdout).unwrap();
    // No --baseline: against untuned btrfs, where the data is a plain directory of `/`.
    let out = Command::cargo_bin("btrtune")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "validate",
            "proposed.nix",
            "--bench",
            "--tools",
            "postgresql",
            "--max-workloads",
            "1",
            "--quick",
            "--runs",
            "2",
            "--json",
            "--backing-dir",
            "backing",
            "--results",
            "runs",
        ])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert!(
        [0, 3, 4].contains(&code),
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = &v["bench"]["probes"][0];
    assert_eq!(probe["workload"], "wal-postgresql", "{v}");
    assert_eq!(probe["target"], "/var/lib/postgresql", "{v}");
    assert!(
        probe["why"]
            .as_str()
            .unwrap()
            .starts_with("postgresql keeps"),
        "{v}"
    );
    assert_eq!(v["bench"]["verdicts"][0]["measured"]["pairs"], 2, "{v}");
}
