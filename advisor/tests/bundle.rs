//! The bundle reader on a real bundle (`scripts/capture-bundle-fixture.sh`: `btrtune
//! collect` against a loop-backed btrfs under fio load), and on broken bundles.

use btrtune_advisor::metrics::bundle;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundle/loop-btrfs")
}

#[test]
fn reads_a_real_bundle() {
    let b = bundle::read(&fixture()).unwrap();
    assert_eq!(b.manifest.schema_version, bundle::BUNDLE_VERSION);
    assert!(b.manifest.as_root);
    // Two mounts of one filesystem: the NOCOW @db subvolume and the compressed top level.
    let targets: Vec<&str> = b.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(
        targets,
        vec!["/tmp/btrtune-bundle/db", "/tmp/btrtune-bundle/pool"]
    );
    let db = &b.mounts[0];
    assert_eq!(db.nocow, Some(true));
    assert_eq!(db.compression.as_deref(), Some("none"));
    assert!(db.options.iter().any(|o| o == "compress=zstd:1"));
    assert!(db.options.iter().any(|o| o == "subvol=/@db"));
    assert_eq!(b.mounts[1].nocow, Some(false));
    // Filesystem-wide reports once, on the first mount.
    assert_eq!(b.filesystems.len(), 1);
    let fs = &b.filesystems["/tmp/btrtune-bundle/db"];
    let usage = fs.usage.as_ref().unwrap();
    assert_eq!(usage.overall.device_size, 2 << 30);
    assert_eq!(fs.qgroups_enabled, Some(false));
    assert_eq!(
        fs.device_stats.as_ref().unwrap()[0].corruption_errs,
        Some(0)
    );
    assert_eq!(fs.sysfs["bdi/read_ahead_kb"], "4096");
    // Load samples.
    let io = b.iostat.as_ref().unwrap();
    assert!(io.json);
    assert_eq!(io.samples.len(), 3);
    let iotop = b.iotop.as_ref().unwrap();
    assert!(
        iotop
            .iterations
            .iter()
            .flat_map(|i| &i.threads)
            .any(|t| t.command.starts_with("fio ") && t.write_bytes_per_s > 1e6)
    );
    assert!(b.pressure.is_some());
    assert!(b.sysctls.contains_key("vm.dirty_ratio"));
    assert!(b.block_queues.contains_key("loop0") || !b.block_queues.is_empty());
    // What was not collected, and why.
    let missing: Vec<&str> = b.missing.iter().map(|p| p.name.as_str()).collect();
    assert!(missing.contains(&"nixos-facter"), "{missing:?}");
    assert!(b.unreadable.is_empty(), "{:?}", b.unreadable);
}

fn copy(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn broken_bundles_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    copy(&b);
    // A damaged report is listed as unreadable, with its file and line; the rest is read.
    let usage = b.join("btrfs-usage-tmp-btrtune-bundle-db.txt");
    let text = std::fs::read_to_string(&usage)
        .unwrap()
        .replacen("2147483648", "lots", 1);
    std::fs::write(&usage, text).unwrap();
    std::fs::remove_file(b.join("iostat.json")).unwrap();
    let r = bundle::read(&b).unwrap();
    assert!(
        r.unreadable
            .iter()
            .any(|u| u.contains("btrfs-usage-tmp-btrtune-bundle-db.txt:2")),
        "{:?}",
        r.unreadable
    );
    assert!(
        r.unreadable
            .iter()
            .any(|u| u.contains("iostat.json") && u.contains("missing"))
    );
    assert!(r.iostat.is_some(), "falls back to the text iostat");
    // A broken or foreign manifest is an error.
    std::fs::write(b.join("manifest.json"), "{\n  \"schema_version\": 1,\n").unwrap();
    let e = bundle::read(&b).unwrap_err().to_string();
    assert!(e.contains("manifest.json:3"), "{e}");
    let m = std::fs::read_to_string(fixture().join("manifest.json"))
        .unwrap()
        .replace("\"schema_version\": 1", "\"schema_version\": 7");
    std::fs::write(b.join("manifest.json"), m).unwrap();
    let e = bundle::read(&b).unwrap_err().to_string();
    assert!(e.contains("format 7"), "{e}");
    let e = bundle::read(&dir.path().join("nothing"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("manifest.json"), "{e}");
}
