//! Root test: the migration script `btrtune explain db --path` generates really moves a
//! copy-on-write data directory on btrfs into a new NOCOW subvolume: every file NOCOW, the
//! same contents, the old copy kept for rollback.
//!
//! Needs root and btrfs-progs; without root it skips, unless `BTRTUNE_REQUIRE_ROOT=1` (CI).

use assert_cmd::Command;
use btrtune_harness::state::State;
use btrtune_harness::sys::loopdev::{LoopDev, create_backing_file};
use btrtune_harness::sys::mount::Mount;
use nix::mount::MsFlags;
use std::path::Path;

mod common;
use common::require_root;

fn lsattr_has_c(path: &Path, dir: bool) -> bool {
    let mut c = std::process::Command::new("lsattr");
    if dir {
        c.arg("-d");
    }
    let out = c.arg(path).output().unwrap();
    assert!(out.status.success(), "lsattr {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .is_some_and(|flags| flags.contains('C'))
}

#[test]
fn loop_generated_migration_moves_data_into_a_nocow_subvolume() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("btrtune-migrate-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let state = State::open().unwrap();
    let backing = scratch.path().join("disk.img");
    create_backing_file(&backing, 512 << 20).unwrap();
    let dev = LoopDev::attach(&backing, false, &state).unwrap();
    let out = std::process::Command::new("mkfs.btrfs")
        .args(["-f", "-q"])
        .arg(dev.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mnt = scratch.path().join("mnt");
    let mount = Mount::new(dev.path(), &mnt, "btrfs", MsFlags::empty(), "", &state).unwrap();

    // A copy-on-write data directory with files, a nested directory and an empty file.
    let data = mnt.join("var/lib/etcd");
    std::fs::create_dir_all(data.join("member/snap")).unwrap();
    let mut files = Vec::new();
    for (i, rel) in ["member/wal.0", "member/snap/db", "member/empty", "top"]
        .iter()
        .enumerate()
    {
        let body: Vec<u8> = (0..(i * 70_000)).map(|b| (b % 251) as u8).collect();
        std::fs::write(data.join(rel), &body).unwrap();
        files.push((rel.to_string(), body));
    }
    assert!(!lsattr_has_c(&data.join("top"), false));

    let json = Command::cargo_bin("btrtune")
        .unwrap()
        .args([
            "explain",
            "db",
            "--engine",
            "etcd",
            "--priority",
            "balanced",
            "--json",
            "--path",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let script = v["migration_script"].as_str().unwrap();
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the migration failed:\n{script}\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // The new directory is a NOCOW subvolume holding the same files, each NOCOW.
    let show = std::process::Command::new("btrfs")
        .args(["subvolume", "show"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{} is not a subvolume",
        data.display()
    );
    assert!(lsattr_has_c(&data, true));
    for (rel, body) in &files {
        assert_eq!(&std::fs::read(data.join(rel)).unwrap(), body, "{rel}");
        assert!(lsattr_has_c(&data.join(rel), false), "{rel} is not NOCOW");
    }
    // The old copy stays for rollback, unchanged and copy-on-write.
    let old = mnt.join("var/lib/etcd.pre-btrtune");
    assert_eq!(std::fs::read(old.join("top")).unwrap(), files[3].1);
    assert!(!lsattr_has_c(&old.join("top"), false));

    // Running it again refuses to clobber anything: the new name exists.
    let again = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(!again.status.success());

    mount.unmount_now().unwrap();
    drop(dev);
}
