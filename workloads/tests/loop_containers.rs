//! Root tests of the container-churn workload on a real btrfs: a sparse 1 GiB file in a
//! temporary directory, attached with `losetup -f --show` (no loop number assumed),
//! `mkfs.btrfs -f -q`, mounted on a temporary directory; a [`LoopBtrfs`] guard unmounts and
//! detaches it when the test ends, also when it panics.
//!
//! - the btrfs driver's quick run creates and deletes its subvolumes (`btrfs subvolume
//!   list` shows none left), waits for the cleaner and gets the space back;
//! - step by step: layers are snapshots of their parents, a container's in-place write
//!   leaves the image's file alone (copy-on-write), removal deletes the subvolume;
//! - the overlay driver as the control on the same btrfs.
//!
//! Without root they skip with a message, unless `BTRTUNE_REQUIRE_ROOT=1` (CI), which makes a
//! skip a failure; a missing tool (btrfs-progs, mount) fails under `BTRTUNE_REQUIRE_TOOLS=1`
//! or `BTRTUNE_REQUIRE_ROOT=1` and skips otherwise.

use btrtune_workloads::containers::btrfs_driver::BtrfsDriver;
use btrtune_workloads::containers::churn::{ChurnKind, ChurnOp};
use btrtune_workloads::containers::content::Io;
use btrtune_workloads::containers::driver::GraphDriver;
use btrtune_workloads::containers::layers::{ImagePlan, ImageShape};
use btrtune_workloads::containers::{ContainersConfig, ContainersWorkload, Driver};
use btrtune_workloads::{RunContext, Workload};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

fn enforced(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

/// Skips (false) unless root; fails instead under `BTRTUNE_REQUIRE_ROOT=1`.
fn require_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    assert!(
        !enforced("BTRTUNE_REQUIRE_ROOT"),
        "this test needs root (BTRTUNE_REQUIRE_ROOT=1 makes the skip a failure)"
    );
    eprintln!("SKIPPED: needs root (loop device, mkfs.btrfs, mount)");
    false
}

/// Skips (false) unless the tools are installed; fails instead under
/// `BTRTUNE_REQUIRE_TOOLS=1` or `BTRTUNE_REQUIRE_ROOT=1`.
fn require_tools() -> bool {
    let missing: Vec<&str> = [
        ("losetup", "mount"),
        ("mount", "mount"),
        ("umount", "mount"),
        ("mkfs.btrfs", "btrfs-progs"),
        ("btrfs", "btrfs-progs"),
    ]
    .into_iter()
    .filter(|(t, _)| !has_tool(t))
    .map(|(_, pkg)| pkg)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !enforced("BTRTUNE_REQUIRE_TOOLS") && !enforced("BTRTUNE_REQUIRE_ROOT"),
        "missing tools; apt-get install {}",
        missing.join(" ")
    );
    eprintln!(
        "SKIPPED: missing tools; apt-get install {}",
        missing.join(" ")
    );
    false
}

fn has_tool(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(name).is_file())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh btrfs on a loop device, mounted; undone on drop (fields drop in this order after
/// `Drop::drop`: the mount point, then the backing file's directory).
struct LoopBtrfs {
    loop_dev: Option<String>,
    mounted: bool,
    mnt: tempfile::TempDir,
    backing: tempfile::TempDir,
}

impl LoopBtrfs {
    fn new() -> LoopBtrfs {
        let backing = tempfile::Builder::new()
            .prefix("btrtune-ctr-img-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let mnt = tempfile::Builder::new()
            .prefix("btrtune-ctr-mnt-")
            .tempdir()
            .unwrap();
        let mut rig = LoopBtrfs {
            loop_dev: None,
            mounted: false,
            mnt,
            backing,
        };
        let img = rig.backing.path().join("btrfs.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let dev = run(Command::new("losetup").arg("-f").arg("--show").arg(&img));
        rig.loop_dev = Some(dev.trim().to_owned());
        run(Command::new("mkfs.btrfs")
            .args(["-f", "-q"])
            .arg(dev.trim()));
        run(Command::new("mount")
            .args(["-o", "nodiscard"])
            .arg(dev.trim())
            .arg(rig.mnt.path()));
        rig.mounted = true;
        rig
    }

    fn path(&self) -> &Path {
        self.mnt.path()
    }

    /// A subvolume to run in, as the harness gives one.
    fn subvolume(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        run(Command::new("btrfs").args(["subvolume", "create"]).arg(&p));
        p
    }

    /// `btrfs subvolume list` paths (deleted ones are not listed).
    fn subvolumes(&self) -> Vec<String> {
        run(Command::new("btrfs")
            .args(["subvolume", "list"])
            .arg(self.path()))
        .lines()
        .filter_map(|l| l.rsplit_once(" path ").map(|(_, p)| p.to_owned()))
        .collect()
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        if enforced("BTRTUNE_KEEP") {
            eprintln!(
                "BTRTUNE_KEEP=1: left {} mounted on {}",
                self.loop_dev.as_deref().unwrap_or("?"),
                self.mnt.path().display()
            );
            return;
        }
        if self.mounted {
            let ok = Command::new("umount")
                .arg(self.mnt.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(self.mnt.path())
                    .status();
            }
        }
        if let Some(dev) = &self.loop_dev {
            if let Err(e) = Command::new("losetup").arg("-d").arg(dev).status() {
                eprintln!("losetup -d {dev}: {e}");
            }
        }
    }
}

/// A default quick run of `driver` in `dir` on `fs`.
fn quick_run(fs: &LoopBtrfs, dir: &Path, driver: Driver) -> btrtune_workloads::Measurement {
    let w = ContainersWorkload::new(driver, ContainersConfig::default()).unwrap();
    let stop = AtomicBool::new(false);
    w.run(&RunContext {
        dir,
        device: Path::new(fs.loop_dev.as_deref().unwrap()),
        quick: true,
        interrupted: &stop,
    })
    .unwrap()
}

fn shape() -> ImageShape {
    ImageShape {
        layers: 3,
        base_files: 300,
        child_files: 40,
        child_replaced: 6,
        child_deleted: 4,
    }
}

#[test]
fn loop_btrfs_quick_run_creates_and_deletes_its_subvolumes() {
    if !require_root() || !require_tools() {
        return;
    }
    let fs = LoopBtrfs::new();
    let dir = fs.subvolume("data");
    let m = quick_run(&fs, &dir, Driver::Btrfs);
    let x = |k: &str| {
        *m.extra
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {:?}", m.extra))
    };
    let cfg = ContainersConfig::default().quick;
    let rounds = x("rounds");
    assert!(rounds >= 1.0);
    // A subvolume per layer and per container, every round; all of them deleted.
    let per_round = f64::from(cfg.layers + cfg.containers);
    assert_eq!(x("subvolumes_created"), rounds * per_round);
    assert_eq!(x("subvolumes_deleted"), x("subvolumes_created"));
    assert_eq!(
        x("subvolumes_removed_by_rmdir"),
        0.0,
        "root deletes by ioctl"
    );
    assert_eq!(fs.subvolumes(), vec!["data".to_owned()]);
    assert!(m.value > 0.0 && m.primary == "layers_per_s");
    assert!(m.latency_ns.as_ref().is_some_and(|p| p.p50 > 0.0));
    // The store is empty again: only the driver's directories are left.
    let left: Vec<_> = std::fs::read_dir(dir.join("btrfs/subvolumes"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Space: the image and the containers' writes at the peak, gone after the prune once
    // the cleaner (waited for on Linux >= 6.13) has dropped the subvolumes.
    let peak = x("space_used_peak_bytes");
    assert!(peak > 10e6, "peak {peak}");
    assert!(x("btrfs_data_peak_bytes") > 10e6);
    assert!(x("btrfs_metadata_peak_bytes") > 0.0);
    if x("cleaner_waited") == 1.0 {
        let after = x("space_used_after_prune_bytes");
        assert!(after < peak / 4.0, "after prune {after} vs peak {peak}");
    }
}

#[test]
fn loop_btrfs_layers_are_snapshots_and_containers_copy_on_write() {
    if !require_root() || !require_tools() {
        return;
    }
    let fs = LoopBtrfs::new();
    let dir = fs.subvolume("data");
    let stop = AtomicBool::new(false);
    let mut io = Io::new(&stop);
    let image = ImagePlan::generate(21, &shape());
    let ids: Vec<String> = (0..3).map(|i| format!("layer{i}")).collect();
    let mut d = BtrfsDriver::new(&dir).unwrap();
    for (i, layer) in image.layers.iter().enumerate() {
        d.pull(&ids[i], &ids[..i], layer, &mut io).unwrap();
    }
    d.create_container("ctr", &ids, &mut io).unwrap();
    let mut subvols = fs.subvolumes();
    subvols.sort();
    assert_eq!(
        subvols,
        [
            "data",
            "data/btrfs/subvolumes/ctr",
            "data/btrfs/subvolumes/layer0",
            "data/btrfs/subvolumes/layer1",
            "data/btrfs/subvolumes/layer2"
        ]
    );
    for id in ids.iter().chain(["ctr".to_owned()].iter()) {
        assert_eq!(std::fs::metadata(d.path(id)).unwrap().ino(), 256, "{id}");
    }
    // Snapshots carry the lower layers: the base's files that no child deleted or replaced
    // are in the top layer; whiteouts removed theirs.
    let top = d.path("layer2");
    let mut seen = 0;
    for (path, vis) in &image.merged {
        let m = std::fs::metadata(top.join(path)).unwrap();
        assert_eq!(m.len(), vis.size, "{path}");
        seen += 1;
    }
    assert_eq!(seen, image.merged.len());
    for (k, layer) in image.layers.iter().enumerate().skip(1) {
        for w in &layer.whiteouts {
            assert!(!top.join(w).exists(), "{w}");
            assert!(d.path(&ids[k - 1]).join(w).exists(), "{w} is still below");
        }
    }
    // An in-place write in the container leaves the image's file alone.
    let (path, vis) = image
        .merged
        .iter()
        .find(|(_, v)| v.size > 8192)
        .map(|(p, v)| (p.clone(), *v))
        .unwrap();
    let before = std::fs::read(top.join(&path)).unwrap();
    let op = ChurnOp {
        path: path.clone(),
        kind: ChurnKind::Modify {
            offset: 4096,
            len: 4096,
        },
        lower: Some(vis),
        fsync: true,
        content_seed: 99,
    };
    d.write("ctr", &ids, &op, &mut io).unwrap();
    let after_top = std::fs::read(top.join(&path)).unwrap();
    let in_ctr = std::fs::read(d.path("ctr").join(&path)).unwrap();
    assert_eq!(after_top, before);
    assert_eq!(in_ctr.len(), before.len());
    assert_ne!(in_ctr[4096..8192], before[4096..8192]);
    assert_eq!(in_ctr[..4096], before[..4096]);
    assert_eq!(io.tally.fsyncs, 1);
    // Removal deletes the subvolumes; after the cleaner, none is left.
    d.remove("ctr", &mut io).unwrap();
    for id in ids.iter().rev() {
        d.remove(id, &mut io).unwrap();
    }
    assert_eq!(io.tally.subvolumes_created, 4);
    assert_eq!(io.tally.subvolumes_deleted, 4);
    d.settle(&mut io).unwrap();
    assert_eq!(fs.subvolumes(), vec!["data".to_owned()]);
}

#[test]
fn loop_overlay_on_btrfs_is_the_control() {
    if !require_root() || !require_tools() {
        return;
    }
    let fs = LoopBtrfs::new();
    let dir = fs.subvolume("data");
    let m = quick_run(&fs, &dir, Driver::Overlay);
    assert!(m.extra["copy_ups"] > 0.0);
    assert_eq!(m.extra["whiteout_devices"], 1.0, "root makes 0:0 devices");
    assert!(m.extra.contains_key("btrfs_metadata_peak_bytes"));
    assert!(!m.extra.contains_key("subvolumes_created"));
    assert_eq!(fs.subvolumes(), vec!["data".to_owned()]);
}
