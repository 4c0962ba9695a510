//! The dev-tree workload (`devtree = "cargo"`) run for real: in temporary directories on
//! whatever filesystem `/tmp` is, and (root tests, `loop_*`) on a btrfs loop device with
//! `compress=zstd:1`.
//!
//! The root test skips with a message unless it runs as root with `losetup`, `mkfs.btrfs`,
//! `mount` and `umount`; with `BTRTUNE_REQUIRE_ROOT=1` (or `BTRTUNE_REQUIRE_TOOLS=1` for the
//! tools) a skip is a failure. Its [`LoopFs`] guard unmounts and detaches what it made, also
//! when the test panics. Debian packages: mount, btrfs-progs.

use btrtune_workloads::devtree::content::source_text;
use btrtune_workloads::devtree::tree::Tree;
use btrtune_workloads::devtree::{DevtreeConfig, DevtreeWorkload};
use btrtune_workloads::{
    Measurement, RunContext, Target, Workload, WorkloadError, WorkloadSpec, build,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn workload(config: DevtreeConfig) -> DevtreeWorkload {
    DevtreeWorkload::mount("cargo", config, "/data").unwrap()
}

fn run(w: &DevtreeWorkload, dir: &Path, quick: bool) -> Result<Measurement, WorkloadError> {
    let flag = AtomicBool::new(false);
    w.run(&RunContext {
        dir,
        device: dir,
        quick,
        interrupted: &flag,
    })
}

/// A small quick configuration: two cycles of a 300-file tree.
fn small() -> DevtreeConfig {
    DevtreeConfig {
        quick_files: 300,
        quick_seconds: 60.0,
        max_cycles: 2,
        ..DevtreeConfig::default()
    }
}

/// Every regular file below `dir`, by relative path, with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_quick_run_measures_every_phase_and_leaves_the_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let config = small();
    let w = workload(config.clone());
    let m = run(&w, tmp.path(), true).unwrap();

    assert_eq!(m.primary, "files_per_s");
    assert!(m.value > 0.0 && m.value.is_finite(), "{m:?}");
    assert_eq!(m.extra["cycles"], 2.0);
    assert_eq!(m.extra["files"], 300.0);
    for phase in [
        "checkout_s",
        "checkout_sync_s",
        "coldstart_s",
        "build_s",
        "link_s",
        "stat_s",
        "edit_s",
        "edit_save_s",
        "edit_build_s",
        "flush_s",
        "clean_s",
    ] {
        assert!(m.extra[phase] > 0.0, "{phase} = {}", m.extra[phase]);
    }
    assert!(m.runtime_s >= m.extra["checkout_s"] + 2.0 * m.extra["build_s"]);
    // The build timed one sample per source per cycle; the editor fsynced 3 files a cycle.
    let unit = m.latency_ns.as_ref().unwrap();
    assert!(unit.p50 > 0.0 && unit.p50 <= unit.p99 && unit.p99 <= unit.p999);
    assert!(m.sync_latency_ns.is_some());
    assert_eq!(m.extra["edits_per_cycle"], 3.0);
    assert_eq!(m.extra["fsyncs"], 6.0);
    // Sources read back by every build, objects bigger than their sources written.
    let tree = Tree::generate(300, config.seed);
    let src = tree.source_bytes() as f64;
    assert_eq!(m.extra["source_bytes"], src);
    assert!(m.extra["bytes_read"] >= 2.0 * src);
    assert!(m.extra["bytes_written"] > src + 2.0 * 1.5 * src);
    // Stat storm: every file, directory and `target` entry, once per pass.
    assert_eq!(
        m.extra["stat_entries"],
        (tree.files.len() + tree.dirs.len() + 1) as f64
    );

    // The sources stay, with their sizes; only the edited ones changed; no target/.
    let root = tmp.path().join("workspace");
    assert!(!root.join("target").exists());
    let mut buf = Vec::new();
    let mut edited = 0;
    for f in &tree.files {
        let on_disk = std::fs::read(root.join(&f.rel)).unwrap();
        assert_eq!(on_disk.len() as u64, f.size, "{}", f.rel.display());
        source_text(f.seed, f.size as usize, &mut buf);
        if on_disk != buf {
            edited += 1;
        }
    }
    assert!(
        (1..=6).contains(&edited),
        "{edited} files differ from the checkout"
    );
    let left = snapshot(&root);
    assert_eq!(left.len(), 300, "no temporary files left behind");
}

#[test]
fn same_seed_same_tree_on_disk_other_seed_other_tree() {
    let config = DevtreeConfig {
        quick_files: 150,
        max_cycles: 1,
        ..DevtreeConfig::default()
    };
    let trees: Vec<_> = [config.seed, config.seed, 99]
        .into_iter()
        .map(|seed| {
            let tmp = tempfile::tempdir().unwrap();
            let w = workload(DevtreeConfig {
                seed,
                ..config.clone()
            });
            run(&w, tmp.path(), true).unwrap();
            snapshot(&tmp.path().join("workspace"))
        })
        .collect();
    assert_eq!(trees[0].len(), 150);
    assert!(trees[0] == trees[1], "same seed, same files and contents");
    assert!(trees[0] != trees[2]);
    assert!(trees[0].keys().ne(trees[2].keys()), "other names too");
}

/// Runs `w` and sets the interruption flag after `after`; returns the result and how long
/// the run took to stop once the flag was set.
fn interrupt(
    w: &DevtreeWorkload,
    quick: bool,
    after: Duration,
) -> (Result<Measurement, WorkloadError>, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let (result, set_at) = std::thread::scope(|s| {
        let setter = s.spawn(|| {
            std::thread::sleep(after);
            flag.store(true, Ordering::SeqCst);
            Instant::now()
        });
        let r = w.run(&RunContext {
            dir: tmp.path(),
            device: tmp.path(),
            quick,
            interrupted: &flag,
        });
        (r, setter.join().unwrap())
    });
    (result, set_at.elapsed())
}

#[test]
fn interruption_during_the_checkout_stops_quickly() {
    // A full-size tree: the checkout alone takes longer than 200 ms.
    let (r, stop) = interrupt(
        &workload(DevtreeConfig::default()),
        false,
        Duration::from_millis(200),
    );
    assert!(matches!(r, Err(WorkloadError::Interrupted)), "{r:?}");
    assert!(stop < Duration::from_secs(2), "took {stop:?} to stop");
}

#[test]
fn interruption_during_the_cycles_stops_quickly() {
    // A small tree and a long budget: by 600 ms the run is in its build/stat/edit cycles.
    let config = DevtreeConfig {
        quick_files: 400,
        quick_seconds: 600.0,
        ..DevtreeConfig::default()
    };
    let (r, stop) = interrupt(&workload(config), true, Duration::from_millis(600));
    assert!(matches!(r, Err(WorkloadError::Interrupted)), "{r:?}");
    assert!(stop < Duration::from_secs(2), "took {stop:?} to stop");
}

#[test]
fn a_set_flag_stops_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(true);
    let r = workload(small()).run(&RunContext {
        dir: tmp.path(),
        device: tmp.path(),
        quick: true,
        interrupted: &flag,
    });
    assert!(matches!(r, Err(WorkloadError::Interrupted)));
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

#[test]
fn refuses_a_used_directory_and_a_missing_one() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("workspace")).unwrap();
    let e = run(&workload(small()), tmp.path(), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already exists") && e.contains("workspace"),
        "{e}"
    );
    let e = run(&workload(small()), &tmp.path().join("nope"), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn the_registry_builds_it_from_a_spec_and_checks_parameters() {
    let spec = |v: serde_json::Value| WorkloadSpec::from_table(v.as_object().unwrap()).unwrap();
    let mount = Target::Mount {
        mountpoint: "/data".into(),
    };
    let w = build(
        &spec(json!({"devtree": "cargo", "jobs": 4, "quick_files": 500})),
        mount.clone(),
    )
    .unwrap();
    assert_eq!(w.name(), "devtree-cargo");
    assert_eq!(w.params()["jobs"], 4);
    assert_eq!(w.params()["quick_files"], 500);
    assert_eq!(w.target(), mount);
    assert!(!w.needs_btrfs());

    let err = |v| build(&spec(v), mount.clone()).err().unwrap().to_string();
    let e = err(json!({"devtree": "cargo", "job": 4}));
    assert!(
        e.contains("devtree=cargo") && e.contains("unknown field `job`"),
        "{e}"
    );
    let e = err(json!({"devtree": "cargo", "jobs": 0}));
    assert!(
        e.contains("devtree=cargo") && e.contains("jobs must be"),
        "{e}"
    );
    let e = err(json!({"devtree": "cargo", "edit_pct": 150}));
    assert!(e.contains("edit_pct"), "{e}");
    let e = err(json!({"devtree": "gradle"}));
    assert!(
        e.contains("unknown devtree workload `gradle`") && e.contains("cargo"),
        "{e}"
    );
    let e = build(&spec(json!({"devtree": "cargo"})), Target::Device)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not on a raw device"), "{e}");
    assert!(
        btrtune_workloads::catalogue()
            .iter()
            .any(|e| e.kind == "devtree" && e.name == "cargo")
    );
}

// ---------------------------------------------------------------- root: btrfs on a loop device

fn enforced(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// True when the test can run; a skip message otherwise, or a failure under the
/// `BTRTUNE_REQUIRE_*` variables.
fn can_run_as_root(tools: &[&str]) -> bool {
    // /proc/self belongs to the process's effective user.
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if uid != 0 {
        assert!(!enforced("BTRTUNE_REQUIRE_ROOT"), "this test needs root");
        eprintln!("SKIPPED: needs root (a btrfs loop device)");
        return false;
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if !missing.is_empty() {
        assert!(
            !enforced("BTRTUNE_REQUIRE_TOOLS") && !enforced("BTRTUNE_REQUIRE_ROOT"),
            "missing tools: {missing:?} (apt-get install mount btrfs-progs)"
        );
        eprintln!("SKIPPED: missing tools {missing:?} (apt-get install mount btrfs-progs)");
        return false;
    }
    true
}

fn sh(tool: &str, args: &[&str]) -> String {
    let exe = find_tool(tool).unwrap_or_else(|| panic!("{tool} is not installed"));
    let out = Command::new(exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A btrfs on a loop device over a file in a temporary directory, mounted below it.
/// Dropping it unmounts and detaches (also after a panic); the directory goes last.
struct LoopFs {
    device: Option<String>,
    mounted: bool,
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopFs {
    fn new(size: u64, options: &str) -> LoopFs {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let image = dir.path().join("btrfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        // Sparse: this checks behaviour, not speed (benchmarks write the file in full,
        // benchmark-method.md §2.7).
        std::fs::File::create(&image)
            .unwrap()
            .set_len(size)
            .unwrap();
        let mut fs = LoopFs {
            device: None,
            mounted: false,
            mnt,
            _dir: dir,
        };
        let dev = sh("losetup", &["-f", "--show", image.to_str().unwrap()]);
        fs.device = Some(dev.clone());
        sh("mkfs.btrfs", &["-q", "-f", &dev]);
        sh("mount", &["-o", options, &dev, fs.mnt.to_str().unwrap()]);
        fs.mounted = true;
        fs
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            let ok = Command::new("umount").arg(&self.mnt).status();
            if !matches!(ok, Ok(s) if s.success()) {
                eprintln!("cleanup: umount {} failed: {ok:?}", self.mnt.display());
            }
        }
        if let Some(dev) = &self.device {
            let ok = Command::new("losetup").args(["-d", dev]).status();
            if !matches!(ok, Ok(s) if s.success()) {
                eprintln!("cleanup: losetup -d {dev} failed: {ok:?}");
            }
        }
    }
}

#[test]
fn loop_devtree_on_btrfs_with_and_without_compression() {
    if !can_run_as_root(&["losetup", "mkfs.btrfs", "mount", "umount"]) {
        return;
    }
    let w = workload(DevtreeConfig {
        max_cycles: 1,
        ..DevtreeConfig::default()
    });
    let mut space = Vec::new();
    for options in ["nodiscard", "nodiscard,compress=zstd:1"] {
        let fs = LoopFs::new(512 << 20, options);
        let m = run(&w, &fs.mnt, true).unwrap();
        assert_eq!(m.extra["cycles"], 1.0);
        assert!(m.value > 0.0);
        assert!(!fs.mnt.join("workspace/target").exists());
        assert!(fs.mnt.join("workspace").is_dir());
        space.push(m.extra["space_used_bytes"]);
        if options.contains("compress") {
            // A tree that cannot fit in the 512 MiB filesystem is refused before anything is
            // written.
            let huge = workload(DevtreeConfig {
                quick_files: 200_000,
                ..DevtreeConfig::default()
            });
            let other = fs.mnt.join("other");
            std::fs::create_dir(&other).unwrap();
            let e = run(&huge, &other, true).unwrap_err().to_string();
            assert!(e.contains("needs about") && e.contains("MiB"), "{e}");
            assert!(std::fs::read_dir(&other).unwrap().next().is_none());
        }
    }
    // Space after the flush (sources and a whole target/): the contents compress, so the
    // compressed layout takes clearly less (measured here: 0.80x).
    let (plain, zstd) = (space[0], space[1]);
    eprintln!("space after the flush: {plain} B plain, {zstd} B with zstd:1");
    assert!(plain > 20e6, "{plain} bytes without compression");
    assert!(
        zstd > 0.0 && zstd < 0.9 * plain,
        "{zstd} bytes with zstd:1, {plain} without"
    );
}
