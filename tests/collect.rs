//! `btrtune collect` as root against a real loop-mounted btrfs.
//!
//! Needs root, `losetup`, `mkfs.btrfs` and `chattr`. Without root it is skipped, unless
//! `BTRTUNE_REQUIRE_ROOT=1` (CI), which makes a skip a failure.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::Command as Sys;

mod common;
use common::require_root;

fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Sys::new(cmd).args(args).output().expect("run");
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A loop-backed btrfs, mounted; unmounted and detached on drop (also on panic).
struct LoopFs {
    mount: PathBuf,
    loopdev: String,
    _dir: tempfile::TempDir,
}

impl LoopFs {
    fn new() -> LoopFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = dir.path().join("disk.img");
        let f = std::fs::File::create(&img).expect("backing file");
        f.set_len(512 << 20).expect("size");
        drop(f);
        let loopdev = sh("losetup", &["-f", "--show", img.to_str().expect("path")]);
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mkdir");
        let fs = LoopFs {
            mount,
            loopdev,
            _dir: dir,
        };
        sh("mkfs.btrfs", &["-q", "-f", &fs.loopdev]);
        sh(
            "mount",
            &[
                "-o",
                "compress=zstd:1,noatime",
                &fs.loopdev,
                fs.mount.to_str().expect("path"),
            ],
        );
        fs
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        for m in ["db", ""] {
            let p = self.mount.join(m);
            let _ = Sys::new("umount").arg(&p).status();
        }
        let _ = Sys::new("losetup").args(["-d", &self.loopdev]).status();
    }
}

#[test]
fn collect_reads_a_real_btrfs() {
    if !require_root() {
        return;
    }
    let fs = LoopFs::new();
    let m = fs.mount.to_str().expect("path");
    sh("btrfs", &["subvolume", "create", &format!("{m}/@db")]);
    sh("chattr", &["+C", &format!("{m}/@db")]);
    let db = fs.mount.join("db");
    std::fs::create_dir(&db).expect("mkdir");
    sh(
        "mount",
        &[
            "-o",
            "subvol=@db,noatime",
            &fs.loopdev,
            db.to_str().expect("path"),
        ],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let bundle = out.path().join("bundle");
    Command::cargo_bin("btrtune")
        .expect("binary")
        .args(["collect", "--samples", "1", "--json", "-o"])
        .arg(&bundle)
        .assert()
        .success();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(bundle.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["schema_version"], 1);
    let probes = manifest["probes"].as_array().expect("probes");
    let file_of = |name: &str| -> Option<PathBuf> {
        probes
            .iter()
            .find(|p| p["name"] == name && p["status"] == "ok")
            .and_then(|p| p["file"].as_str())
            .map(|f| bundle.join(f))
    };
    // Filesystem-wide reports for our filesystem, taken once.
    let usage = file_of(&format!("btrfs usage {m}")).expect("usage collected");
    let text = std::fs::read_to_string(&usage).expect("usage");
    assert!(text.contains("Device size:"), "{text}");
    assert!(text.contains(&fs.loopdev), "{text}");
    // The NOCOW flag of the mounted @db subvolume is read back.
    let lsattr = file_of(&format!("lsattr {}", db.display())).expect("lsattr collected");
    let attrs = std::fs::read_to_string(lsattr).expect("lsattr");
    assert!(
        attrs
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('C')),
        "{attrs}"
    );
    // Every probe has a status; what did not run says why.
    for p in probes {
        let st = p["status"].as_str().expect("status");
        assert!(["ok", "missing", "failed", "empty"].contains(&st));
        if st != "ok" {
            assert!(p["reason"].as_str().is_some_and(|r| !r.is_empty()), "{p}");
        }
    }
    // A non-empty directory is refused.
    Command::cargo_bin("btrtune")
        .expect("binary")
        .args(["collect", "-o"])
        .arg(&bundle)
        .assert()
        .code(1);
    let _ = Path::new(m);
}
