//! `diagnose` on real inputs: disko's own no-op compression example, a captured bundle,
//! bad inputs, and the safety of the generated script.

use btrtune_advisor::diagnose::recommend::{shell_line, shell_quote};
use btrtune_advisor::diagnose::{self, Disruption, Inputs, Severity, render};
use btrtune_advisor::model::set::ModelSet;
use std::path::PathBuf;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn shared(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(p)
}

fn models() -> ModelSet {
    ModelSet::shipped().expect("shipped models")
}

#[test]
fn ignored_compression_on_disko_example_names_the_winning_mount() {
    // disko's example/btrfs-subvolumes.nix pattern: compress only on /home and /nix, while /
    // mounts first with nothing.
    let inputs = Inputs {
        disko: Some(fixture("disko/subvolumes-compress-on-some.nix")),
        facter: Some(shared("corpus/facter/thinkcentre-sata-ssd-desktop.json")),
        ..Inputs::default()
    };
    let d = diagnose::run(&inputs, &models()).expect("diagnosis");
    let m01: Vec<_> = d.findings.iter().filter(|f| f.rule == "M01").collect();
    let mps: Vec<&str> = m01
        .iter()
        .flat_map(|f| f.mountpoints.iter().map(String::as_str))
        .collect();
    assert_eq!(mps, ["/home", "/nix"], "{:#?}", d.findings);
    for f in &m01 {
        assert!(f.title.contains("/ mounts first"), "{}", f.title);
        assert_eq!(f.severity, Severity::High);
        let lines: Vec<_> = f.evidence.iter().filter_map(|e| e.line).collect();
        assert!(
            lines.contains(&28),
            "the first mount's line: {:?}",
            f.evidence
        );
    }
    assert_eq!(m01[0].evidence[0].line, Some(31));
    assert_eq!(m01[1].evidence[0].line, Some(36));
    // The fix is a property per subvolume, live, projected by the models.
    let r = d
        .recommendations
        .iter()
        .find(|r| r.title.contains("/home"))
        .expect("a recommendation for /home");
    assert_eq!(r.disruption, Disruption::LiveRemount);
    assert!(
        r.steps
            .iter()
            .any(|s| s.contains("btrfs property set /home compression zstd"))
    );
    assert!(
        r.projections
            .iter()
            .any(|p| p.workload == "fio-seqwrite-128k" && p.ratio.is_some()),
        "{:?}",
        r.projections
    );
    // The disko diff drops the ignored option.
    let diff = render::disko_diff(&d).expect("a layout change");
    assert!(
        diff.contains("\n-                    mountOptions = [ \"compress=zstd\" ];"),
        "{diff}"
    );
    assert!(
        diff.contains(
            "\n+                    btrfs property set \"$MNTPOINT/home\" compression zstd"
        ),
        "{diff}"
    );
}

#[test]
fn a_captured_bundle_is_diagnosed_with_evidence_lines() {
    let inputs = Inputs {
        bundle: Some(fixture("bundle/loop-btrfs")),
        ..Inputs::default()
    };
    let d = diagnose::run(&inputs, &models()).expect("diagnosis");
    assert!(d.missing.iter().any(|m| m.contains("facter")));
    for f in &d.findings {
        assert!(!f.evidence.is_empty(), "{}", f.rule);
        for e in &f.evidence {
            assert!(
                e.line.is_some() || e.file == "observation" || e.text.contains('='),
                "{}: evidence without a line: {e}",
                f.rule
            );
        }
    }
    // iotop in that bundle ran without delay accounting.
    assert!(
        d.findings.iter().any(|f| f.rule == "Y04"),
        "{:#?}",
        d.findings
    );
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["schema_version"], 1);
}

#[test]
fn nothing_but_a_symptom_says_what_is_missing() {
    let inputs = Inputs {
        observations: vec!["my database commits are slow".into()],
        ..Inputs::default()
    };
    let d = diagnose::run(&inputs, &models()).expect("diagnosis");
    assert!(d.missing.len() >= 5, "{:?}", d.missing);
    assert!(d.findings.iter().all(|f| f.severity == Severity::Info));
    assert!(d.findings.iter().any(|f| f.rule == "W05"));
    assert!(d.recommendations.is_empty());
}

#[test]
fn a_bad_metrics_file_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("usage.txt");
    std::fs::write(&p, "Overall:\n    Device size:\t\tlots\n").expect("write");
    let inputs = Inputs {
        btrfs_usage: Some(p.clone()),
        ..Inputs::default()
    };
    let e = diagnose::run(&inputs, &models())
        .expect_err("must fail")
        .to_string();
    assert!(e.starts_with(&format!("{}:1:", p.display())), "{e}");
    assert!(e.contains("expected"), "{e}");
}

#[test]
fn script_words_are_quoted_for_the_shell() {
    assert_eq!(shell_quote("/home"), "/home");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    assert_eq!(shell_quote(""), "''");
    let line = shell_line(&[
        "mount".into(),
        "-o".into(),
        "remount,noatime".into(),
        "/my home".into(),
    ]);
    assert_eq!(line, "mount -o remount,noatime '/my home'");
}

fn rules_on(inputs: Inputs) -> Vec<&'static str> {
    let d = diagnose::run(&inputs, &models()).expect("diagnosis");
    let mut r: Vec<_> = d.findings.iter().map(|f| f.rule).collect();
    r.sort_unstable();
    r
}

#[test]
fn space_rules_fire_on_real_full_and_converting_filesystems() {
    // Written until ENOSPC: no unallocated space, df at 100 %.
    let full = rules_on(Inputs {
        btrfs_usage: Some(fixture("metrics/btrfs-usage-b-full.txt")),
        df: Some(fixture("metrics/df-full.txt")),
        ..Inputs::default()
    });
    assert_eq!(full, ["S03", "S07"]);
    // A balance limited to one chunk: data single + raid1.
    let mixed = rules_on(Inputs {
        btrfs_usage: Some(fixture("metrics/btrfs-usage-b-mixed.txt")),
        ..Inputs::default()
    });
    assert_eq!(mixed, ["S05"]);
    // Three-device raid1 with room on two devices: a mirrored chunk still fits.
    let raid1 = rules_on(Inputs {
        btrfs_usage: Some(fixture("metrics/btrfs-usage-b-raid1.txt")),
        ..Inputs::default()
    });
    assert!(raid1.is_empty(), "{raid1:?}");
}

#[test]
fn declared_configuration_alone_fires_hardware_option_and_layout_rules() {
    // A Raspberry Pi (SD card, 0.4 GiB RAM, no AVX2) with PostgreSQL inside a snapshotted
    // root, heavy forced compression, hand-written ssd_spread and space_cache v1.
    let dir = tempfile::tempdir().expect("tempdir");
    let disko = dir.path().join("disko.nix");
    std::fs::write(
        &disko,
        r#"{
  disko.devices.disk.sd = {
    type = "disk";
    device = "/dev/mmcblk0";
    content = {
      type = "gpt";
      partitions.root = {
        size = "100%";
        content = {
          type = "btrfs";
          subvolumes = {
            "@root" = {
              mountpoint = "/";
              mountOptions = [ "compress-force=zlib:9" "ssd_spread" "space_cache" ];
            };
            "@snapshots" = { mountpoint = "/.snapshots"; };
            "@postgresql" = { mountpoint = "/var/lib/postgresql"; };
          };
        };
      };
    };
  };
}
"#,
    )
    .expect("write");
    let d = diagnose::run(
        &Inputs {
            disko: Some(disko),
            facter: Some(shared("corpus/facter/raspberrypi-sdcard-aarch64.json")),
            ..Inputs::default()
        },
        &models(),
    )
    .expect("diagnosis");
    let rules: Vec<_> = d.findings.iter().map(|f| f.rule).collect();
    for r in [
        "H01", "H03", "H04", "M03", "M07", "M08", "L01", "L04", "M06",
    ] {
        assert!(rules.contains(&r), "{r} missing from {rules:?}");
    }
    assert_eq!(d.class.as_str(), "sd");
    // Declared-only evidence is less certain than live evidence.
    let l01 = d.findings.iter().find(|f| f.rule == "L01").expect("L01");
    assert!(l01.confidence <= 0.7, "{}", l01.confidence);
    // The NOCOW fix for the database is a data migration with the copy steps, projected.
    let r = d
        .recommendations
        .iter()
        .find(|r| r.answers.iter().any(|a| a.starts_with("L01")))
        .expect("a recommendation for L01");
    assert_eq!(r.disruption, Disruption::DataMigration);
    assert!(r.steps.iter().any(|s| s.contains("chattr +C")));
    assert!(r.steps.iter().any(|s| s.contains("--reflink=never")));
    // zlib:9 was never calibrated and NOCOW drops it: the projection says so, no number.
    let p = r
        .projections
        .iter()
        .find(|p| p.workload == "wal-postgresql")
        .expect("a wal-postgresql projection");
    assert!(
        p.ratio.is_none() && p.status.starts_with("not calibrated"),
        "{p:?}"
    );
    // Live changes come before migrations and hardware.
    let first = |pred: &dyn Fn(Disruption) -> bool| {
        d.recommendations
            .iter()
            .position(|r| pred(r.disruption))
            .expect("such a recommendation")
    };
    assert!(
        first(&|x| x == Disruption::LiveRemount) < first(&|x| x >= Disruption::DataMigration),
        "{:?}",
        d.recommendations
            .iter()
            .map(|r| r.disruption)
            .collect::<Vec<_>>()
    );
}
