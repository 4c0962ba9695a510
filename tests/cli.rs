//! The `btrtune` command line: examples, outputs, and errors users will see.

use assert_cmd::Command;
use predicates::prelude::*;

fn btrtune() -> Command {
    Command::cargo_bin("btrtune").expect("the btrtune binary is built")
}

#[test]
fn every_bundled_example_plans() {
    let out = btrtune()
        .args(["plan", "--list-examples"])
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for must in [
        "workstation",
        "database-server",
        "podman-host",
        "laptop-hdd",
    ] {
        assert!(names.contains(&must), "{list}");
    }
    for n in names {
        btrtune()
            .args(["plan", "--example", n])
            .assert()
            .success()
            .stdout(predicate::str::contains("disko.devices"));
    }
}

#[test]
fn tools_flag_with_facter_and_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    let facter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/facter/thinkcentre-sata-ssd-desktop.json"
    );
    btrtune()
        .args([
            "plan",
            "--tools",
            "postgresql,podman,vscode,firefox,nix",
            "--facter",
            facter,
        ])
        .arg("--out-dir")
        .arg(dir.path())
        .assert()
        .success();
    for f in ["disko.nix", "nixos.nix", "plan.md", "plan.json"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.is_empty(), "{f}");
    }
    let disko = std::fs::read_to_string(dir.path().join("disko.nix")).unwrap();
    assert!(disko.contains("/dev/disk/by-id/ata-HFS500G32TND-N1A2A_FJ71N506410501D45"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(json["input"]["disk"]["class"], "sata-ssd");
    assert_eq!(json["layout"]["schema_version"], 1);
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 4);
}

#[test]
fn json_output_is_the_plan() {
    let out = btrtune()
        .args(["plan", "--example", "laptop-hdd", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["layout"]["disks"][0]["content"]["partitions"].is_array());
    assert!(v["conflicts"].is_array());
}

#[test]
fn unknown_tool_names_the_nearest() {
    btrtune()
        .args(["plan", "--tools", "postgress,firefox"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown tool `postgress`"))
        .stderr(predicate::str::contains("`postgresql`"));
}

#[test]
fn toolstack_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("stack.toml");
    std::fs::write(
        &f,
        "tools = [\"nix\", \"firefox\"]\npriority = \"fastest\"\n",
    )
    .unwrap();
    btrtune()
        .args(["plan", "--toolstack"])
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stack.toml:2:"))
        .stderr(predicate::str::contains("performance"));
    std::fs::write(&f, "tools = [\n  \"nix\",\n  \"firefx\",\n]\n").unwrap();
    btrtune()
        .args(["plan", "--toolstack"])
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stack.toml:3:"))
        .stderr(predicate::str::contains("`firefox`"));
    btrtune()
        .args(["plan", "--toolstack", "/nonexistent/stack.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/stack.toml"));
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    btrtune()
        .args(["plan", "--tools", "nix", "--example", "workstation"])
        .assert()
        .code(2);
    btrtune()
        .args(["plan"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--tools"));
    btrtune()
        .args(["plan", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
}

#[test]
fn conflicts_are_reported_on_stderr() {
    btrtune()
        .args([
            "plan",
            "--tools",
            "postgresql,nix",
            "--priority",
            "durability",
            "--disk",
            "/dev/sda",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("conflict: /var/lib/postgresql"));
}

#[test]
fn user_profiles_extend_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mine.toml");
    std::fs::write(
        &f,
        r#"[[tool]]
name = "myapp"
category = "service"
description = "an in-house service with a WAL"
read_write = "write-heavy"
file_sizes = "large"
access = "random-overwrite"
fsync = "high"
compressibility = "low"
cow_sensitivity = "high"
snapshot_value = "high"
consistency = "crash-consistent"
sources = ["our runbook"]

[[tool.paths]]
path = "/var/lib/myapp"
class = "database"
"#,
    )
    .unwrap();
    btrtune()
        .args([
            "plan",
            "--tools",
            "myapp",
            "--disk",
            "/dev/nvme0n1",
            "--profiles",
        ])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("chattr +C \"$MNTPOINT/@myapp\""));
    btrtune()
        .args(["tools", "--profiles"])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("myapp"));
}

#[test]
fn fit_writes_a_model_file_from_the_committed_crosscheck_results() {
    let dir = tempfile::tempdir().unwrap();
    let results = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/crosscheck/crosscheck.jsonl"
    );
    btrtune()
        .args(["fit", results, "-o"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("pgbench-tpcb"))
        .stdout(predicate::str::contains("wal-postgresql"));
    let text = std::fs::read_to_string(dir.path().join("models.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["schema_version"], 1);
    assert_eq!(m["provenance"]["runs"], 72);
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for x in models {
        assert_eq!(x["class"], "virtio");
        assert_eq!(x["fitted"]["layouts"], 8);
        // ext4 is the only layout with fs=ext4: held out, it cannot be projected.
        let ext4 = x["validation"]["layouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layout"] == "ext4")
            .unwrap();
        assert!(ext4["projected"].is_null());
    }
}

#[test]
fn fit_names_the_file_and_line_of_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"not\": \"a record\"}\n").unwrap();
    btrtune()
        .args(["fit"])
        .arg(&bad)
        .arg("-o")
        .arg(dir.path().join("m"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.jsonl"));
    assert!(!dir.path().join("m/models.json").exists());
}

/// The shipped model file is what `btrtune fit` makes of the shipped results: regenerating
/// it changes nothing (the same command `scripts/calibrate.sh` ends with).
#[test]
fn the_shipped_models_are_refitted_identically_from_the_shipped_results() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let out = btrtune()
        .current_dir(root)
        .args(["fit", "results/ram/", "results/virtio/", "-o"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = String::from_utf8(out).unwrap();
    // The held-out errors are printed per class against the goals.
    for class in ["ram:", "virtio:"] {
        assert!(summary.contains(class), "{summary}");
    }
    assert!(summary.contains("95% interval coverage"), "{summary}");
    assert!(summary.contains("prior models"), "{summary}");
    let fresh = std::fs::read_to_string(dir.path().join("models.json")).unwrap();
    let shipped = std::fs::read_to_string(format!("{root}/results/models/models.json")).unwrap();
    assert!(
        fresh == shipped,
        "results/models/models.json is stale: run `btrtune fit results/ram/ results/virtio/ -o results/models/`"
    );
}

#[test]
fn plan_projects_each_purpose_against_the_disko_example() {
    let out = btrtune()
        .args(["plan", "--example", "database-server"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("projected effect against disko's example layout"),
        "{err}"
    );
    // PostgreSQL has its own ext4 partition under priority performance: its effect is the
    // database matrix's measured ratio, not a btrfs model's projection.
    let db = err
        .lines()
        .find(|l| l.trim_start().starts_with("database") && l.contains("/var/lib/postgresql"))
        .unwrap_or_else(|| panic!("no database effect in\n{err}"));
    assert!(db.contains(" x") && db.contains('['), "{db}");
    assert!(
        db.contains("ext4 partition") && db.contains("rounds"),
        "{db}"
    );
    // Redis stays on btrfs: a model projection with its interval.
    let redis = err
        .lines()
        .find(|l| l.trim_start().starts_with("database") && l.contains("wal-postgresql"))
        .unwrap_or_else(|| panic!("no database projection in\n{err}"));
    assert!(redis.contains(" x") && redis.contains('['), "{redis}");
    // A class nobody calibrated is projected from priors, and says so.
    let out = btrtune()
        .args(["plan", "--example", "workstation"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("on nvme"), "{err}");
    assert!(err.contains("(prior)"), "{err}");
    // The JSON carries the same projections.
    let out = btrtune()
        .args(["plan", "--example", "database-server", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = v["projected_against_disko_example"].as_array().unwrap();
    assert!(
        p.iter()
            .any(|e| e["purpose"] == "database"
                && e["projected"]["ratio"]["value"].as_f64().is_some())
    );
    assert!(v["layout"].is_object(), "the plan itself is still there");
}

#[test]
fn plan_names_a_bad_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("models.json");
    std::fs::write(&bad, "{\n  \"schema_version\": 1,\n  \"models\": 7\n}\n").unwrap();
    btrtune()
        .args(["plan", "--example", "workstation", "--models"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("models.json:"));
}

#[test]
fn diagnose_writes_every_output_for_a_scenario_bundle() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = root.join("tests/fixtures/diagnose/01-disko-example-compress-ignored");
    let facter = root.join("../shared/corpus/facter/netcup-kvm-virtio-blk-vm.json");
    let out = tempfile::tempdir().expect("tempdir");
    btrtune()
        .args(["diagnose", "--bundle"])
        .arg(s.join("bundle"))
        .arg("--disko")
        .arg(s.join("disko.nix"))
        .arg("--facter")
        .arg(&facter)
        .args(["--observe", "builds are slow", "--out-dir"])
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("M01 ignored-subvolume-option"))
        .stdout(predicate::str::contains("/ mounts first"));
    for f in [
        "report.md",
        "diagnosis.json",
        "live-changes.sh",
        "disko.diff",
        "proposed-disko.nix",
    ] {
        assert!(out.path().join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("diagnosis.json")).expect("read"),
    )
    .expect("valid JSON");
    assert!(json["findings"].as_array().is_some_and(|f| !f.is_empty()));
    let script = std::fs::read_to_string(out.path().join("live-changes.sh")).expect("read");
    assert!(
        script.contains("run btrfs property set /home compression zstd"),
        "{script}"
    );
    // The script only prints unless asked to apply.
    let dry = std::process::Command::new("sh")
        .arg(out.path().join("live-changes.sh"))
        .output()
        .expect("sh runs");
    assert!(dry.status.success());
    assert!(
        String::from_utf8_lossy(&dry.stdout)
            .contains("+ btrfs property set /home compression zstd")
    );
}

#[test]
fn diagnose_refuses_no_input_and_unknown_symptoms() {
    btrtune()
        .arg("diagnose")
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing to diagnose"));
    btrtune()
        .args(["diagnose", "--symptom", "slow-dbwrites"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("slow-db-writes"));
    btrtune()
        .args(["diagnose", "--list-rules"])
        .assert()
        .success()
        .stdout(predicate::str::contains("M01 ignored-subvolume-option"));
}

#[test]
fn explain_db_prints_the_matrix_and_one_engines_plan() {
    btrtune()
        .args(["explain", "db"])
        .assert()
        .success()
        .stdout(predicate::str::contains("### postgresql (postgresql)"))
        .stdout(predicate::str::contains("### innodb (mysql, mariadb)"))
        .stdout(predicate::str::contains("## Goals"));
    let out = btrtune()
        .args([
            "explain",
            "db",
            "--engine",
            "mariadb",
            "--priority",
            "performance",
            "--class",
            "hdd",
            "--path",
            "/srv/my sql",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["family"], "innodb");
    assert_eq!(v["cell"]["placement"], "partition");
    let script = v["migration_script"].as_str().unwrap();
    assert!(script.contains("'/srv/my sql'"), "{script}");
    assert!(script.contains("systemctl stop mysql"));
    // SQLite has no usual data directory: no made-up path, an invitation to give one.
    btrtune()
        .args(["explain", "db", "--engine", "sqlite"])
        .assert()
        .success()
        .stdout(predicate::str::contains("give --path DIR"))
        .stdout(predicate::str::contains("## Migration").not());
    btrtune()
        .args([
            "explain",
            "db",
            "--engine",
            "sqlite",
            "--path",
            "relative/dir",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("expected an absolute path"));
    btrtune()
        .args(["explain", "db", "--engine", "nginx"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "no strategy; engines with one: postgresql",
        ));
    btrtune()
        .args(["explain", "db", "--engine", "redis", "--priority", "fast"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--priority `fast`: expected one of",
        ));
}

#[test]
fn explain_containers_prints_its_matrix() {
    let out = btrtune()
        .args(["explain", "containers", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    btrtune()
        .args(["explain", "containers"])
        .assert()
        .success()
        .stdout(predicate::str::is_empty().not());
}
