//! The container-churn workload on a real filesystem, no root needed: the overlay driver's
//! on-disk layout step by step (layers, links, lowers, whiteouts, copy-up, removal), whole
//! quick runs in a temporary directory (what they count, what they leave), interruption,
//! and the btrfs driver's refusal of a directory that is not on btrfs.
//!
//! Root tests on a loop-mounted btrfs are in `loop_containers.rs`.

use btrtune_workloads::containers::churn::{ChurnKind, ChurnOp, ChurnPlanner};
use btrtune_workloads::containers::content::{self, Io};
use btrtune_workloads::containers::driver::GraphDriver;
use btrtune_workloads::containers::layers::{ImagePlan, ImageShape, Visible};
use btrtune_workloads::containers::overlay_driver::OverlayDriver;
use btrtune_workloads::containers::{
    ContainersConfig, ContainersWorkload, Driver, QUICK, Scale, space,
};
use btrtune_workloads::{RunContext, Workload, WorkloadError, WorkloadSpec, build};
use serde_json::{Value, json};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("btrtune-containers-")
        .tempdir_in("/var/tmp")
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

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("layer{i}")).collect()
}

/// Every entry below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn overlay_layers_links_lowers_and_whiteouts() {
    let tmp = tempdir();
    let stop = AtomicBool::new(false);
    let mut io = Io::new(&stop);
    let image = ImagePlan::generate(11, &shape());
    let layer_ids = ids(3);
    let mut d = OverlayDriver::new(tmp.path(), false, 11).unwrap();
    for (i, layer) in image.layers.iter().enumerate() {
        d.pull(&layer_ids[i], &layer_ids[..i], layer, &mut io)
            .unwrap();
    }
    let home = tmp.path().join("overlay");
    // Each layer: diff/, work/, merged/, link; the base has empty/, the others lower.
    let mut links = Vec::new();
    for (i, id) in layer_ids.iter().enumerate() {
        let dir = home.join(id);
        for sub in ["diff", "work", "merged"] {
            assert!(dir.join(sub).is_dir(), "{id}/{sub}");
        }
        let link = std::fs::read_to_string(dir.join("link")).unwrap();
        assert_eq!(link.len(), 26);
        assert!(
            link.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        let target = std::fs::read_link(home.join("l").join(&link)).unwrap();
        assert_eq!(target, Path::new("..").join(id).join("diff"));
        assert_eq!(dir.join("empty").is_dir(), i == 0);
        assert_eq!(dir.join("lower").is_file(), i > 0);
        links.push(link);
    }
    // lower: the parent's link first, then the parent's lowers.
    assert_eq!(
        std::fs::read_to_string(home.join("layer2/lower")).unwrap(),
        format!("l/{}:l/{}", links[1], links[0])
    );
    // Every file of each layer, at its size, with its content.
    for (i, layer) in image.layers.iter().enumerate() {
        let diff = home.join(&layer_ids[i]).join("diff");
        for f in &layer.files {
            let data = std::fs::read(diff.join(&f.path)).unwrap();
            assert_eq!(data.len() as u64, f.size, "{}", f.path);
            let mut want = vec![0u8; data.len()];
            content::fill(&mut want, f.content_seed, 0);
            assert!(data == want, "content of {}", f.path);
        }
        // Whiteouts: a 0:0 character device (as root) or a .wh. file.
        for w in &layer.whiteouts {
            let p = diff.join(w);
            let wh = diff
                .join(content::parent_of(w))
                .join(format!(".wh.{}", w.rsplit('/').next().unwrap()));
            if d.whiteout_devices() {
                let m = std::fs::symlink_metadata(&p).unwrap();
                assert!(m.file_type().is_char_device(), "{w}");
                use std::os::unix::fs::MetadataExt;
                assert_eq!(m.rdev(), 0);
            } else {
                assert!(wh.is_file(), "{}", wh.display());
            }
        }
    }
    assert_eq!(io.tally.files_written as usize, image.files());
    assert_eq!(io.tally.bytes_written, image.bytes());
    assert_eq!(
        io.tally.whiteouts as usize,
        image
            .layers
            .iter()
            .map(|l| l.whiteouts.len())
            .sum::<usize>()
    );
    // Pruning removes each layer and its link, and nothing else.
    for id in layer_ids.iter().rev() {
        d.remove(id, &mut io).unwrap();
    }
    assert_eq!(tree(&home), vec!["l".to_owned()]);
}

#[test]
fn overlay_container_copies_up_once_and_leaves_the_image_alone() {
    let tmp = tempdir();
    let stop = AtomicBool::new(false);
    let mut io = Io::new(&stop);
    let image = ImagePlan::generate(12, &shape());
    let layer_ids = ids(3);
    let mut d = OverlayDriver::new(tmp.path(), false, 12).unwrap();
    for (i, layer) in image.layers.iter().enumerate() {
        d.pull(&layer_ids[i], &layer_ids[..i], layer, &mut io)
            .unwrap();
    }
    d.create_container("ctr", &layer_ids, &mut io).unwrap();
    let ctr = tmp.path().join("overlay/ctr");
    assert!(ctr.join("work/work").is_dir());
    assert!(ctr.join("lower").is_file());
    // A file from the top layer and one from the base: modify each twice.
    let (top_path, top) = image
        .merged
        .iter()
        .find(|(_, v)| v.layer == 2 && v.size > 8192)
        .map(|(p, v)| (p.clone(), *v))
        .unwrap();
    let (base_path, base) = image
        .merged
        .iter()
        .find(|(_, v)| v.layer == 0 && v.size > 8192)
        .map(|(p, v)| (p.clone(), *v))
        .unwrap();
    let op = |path: &str, vis: Visible, kind, seed| ChurnOp {
        path: path.to_owned(),
        kind,
        lower: Some(vis),
        fsync: true,
        content_seed: seed,
    };
    let before = io.tally.clone();
    let fsyncs_before = io.fsyncs.len();
    for (p, v) in [(&top_path, top), (&base_path, base)] {
        d.write(
            "ctr",
            &layer_ids,
            &op(
                p,
                v,
                ChurnKind::Modify {
                    offset: 4096,
                    len: 100,
                },
                1,
            ),
            &mut io,
        )
        .unwrap();
        d.write(
            "ctr",
            &layer_ids,
            &op(p, v, ChurnKind::Append { len: 300 }, 2),
            &mut io,
        )
        .unwrap();
    }
    let create = ChurnOp {
        path: format!("{}/new.tmp", content::parent_of(&base_path)),
        kind: ChurnKind::Create { size: 5000 },
        lower: None,
        fsync: false,
        content_seed: 3,
    };
    d.write("ctr", &layer_ids, &create, &mut io).unwrap();
    assert_eq!(
        io.tally.copy_ups - before.copy_ups,
        2,
        "one copy-up per file"
    );
    assert_eq!(
        io.tally.copy_up_bytes - before.copy_up_bytes,
        top.size + base.size
    );
    // Copy-up fsync + each write's fsync.
    assert_eq!(io.fsyncs.len() - fsyncs_before, 2 + 4);
    for (p, v) in [(&top_path, top), (&base_path, base)] {
        let lower_file = tmp
            .path()
            .join("overlay")
            .join(&layer_ids[v.layer])
            .join("diff")
            .join(p);
        let lower = std::fs::read(&lower_file).unwrap();
        let upper = std::fs::read(ctr.join("diff").join(p)).unwrap();
        assert_eq!(lower.len() as u64, v.size, "the image's file is untouched");
        assert_eq!(upper.len() as u64, v.size + 300);
        assert_eq!(&upper[..4096], &lower[..4096]);
        assert_ne!(&upper[4096..4196], &lower[4096..4196]);
        assert_eq!(&upper[4196..v.size as usize], &lower[4196..]);
    }
    assert_eq!(
        std::fs::metadata(ctr.join("diff").join(&create.path))
            .unwrap()
            .len(),
        5000
    );
    // Nothing left in the work directory: copy-ups were renamed into diff/.
    assert!(tree(&ctr.join("work/work")).is_empty());
    d.remove("ctr", &mut io).unwrap();
    assert!(!ctr.exists());
    assert_eq!(tree(&tmp.path().join("overlay/l")).len(), 3);
}

fn overlay(params: Value) -> ContainersWorkload {
    let Value::Object(params) = params else {
        unreachable!()
    };
    let spec = WorkloadSpec {
        kind: "containers".into(),
        name: "overlay".into(),
        params,
    };
    ContainersWorkload::from_spec(
        &spec,
        btrtune_workloads::Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .unwrap()
}

/// What `rounds` rounds at `scale` write, from the plans alone.
fn expected_writes(seed: u64, scale: &Scale, rounds: u64) -> (u64, u64) {
    let image = ImagePlan::generate(seed, &scale.image());
    let planner = ChurnPlanner::new(&image);
    let (mut files, mut bytes) = (0u64, 0u64);
    for round in 0..rounds {
        files += image.files() as u64;
        bytes += image.bytes();
        for c in 0..u64::from(scale.containers) {
            for op in planner.plan(
                seed,
                round,
                c,
                scale.writes_per_container,
                scale.fsync_every,
            ) {
                files += 1;
                bytes += match op.kind {
                    ChurnKind::Modify { len, .. } | ChurnKind::Append { len } => len,
                    ChurnKind::Create { size } => size,
                };
            }
        }
    }
    (files, bytes)
}

/// Small sizes: the root filesystem of the build machine is mounted with `discard`, where
/// removing a default quick image takes seconds.
fn small() -> Value {
    json!({
        "rounds": 2, "seed": 77, "base_files": 400, "child_files": 50, "child_replaced": 8,
        "child_deleted": 4, "containers": 3, "writes_per_container": 20,
    })
}

#[test]
fn overlay_rounds_count_what_they_did_and_leave_an_empty_store() {
    let tmp = tempdir();
    let stop = AtomicBool::new(false);
    let w = overlay(small());
    let scale = w.config().quick;
    let ctx = RunContext {
        dir: tmp.path(),
        device: Path::new("/dev/null"),
        quick: true,
        interrupted: &stop,
    };
    let m = w.run(&ctx).unwrap();
    assert_eq!(m.primary, "layers_per_s");
    assert!(m.value > 0.0 && m.value.is_finite());
    let x = |k: &str| {
        *m.extra
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {:?}", m.extra))
    };
    assert_eq!(x("rounds"), 2.0);
    assert_eq!(x("layers_pulled"), 2.0 * f64::from(scale.layers));
    assert_eq!(x("containers_created"), 2.0 * f64::from(scale.containers));
    let (files, bytes) = expected_writes(77, &scale, 2);
    assert_eq!(x("files_written"), files as f64);
    assert_eq!(x("bytes_written"), bytes as f64);
    assert!(x("copy_ups") > 0.0 && x("copy_up_bytes") > 0.0);
    assert!(x("whiteouts") > 0.0);
    // fsyncs: every 4th container write, plus one per copy-up.
    let churn_fsyncs = 2 * scale.containers * (scale.writes_per_container / scale.fsync_every);
    assert_eq!(x("fsyncs"), f64::from(churn_fsyncs) + x("copy_ups"));
    assert_eq!(
        m.sync_latency_ns.is_some(),
        x("fsyncs") > 0.0,
        "fsync latencies when there were fsyncs"
    );
    let create = m.latency_ns.as_ref().unwrap();
    assert!(create.p50 > 0.0 && create.p50 <= create.p99);
    for k in [
        "container_remove_p50_ns",
        "container_remove_p99_ns",
        "layer_pull_p50_ns",
        "layer_pull_p99_ns",
        "space_used_peak_bytes",
        "space_used_after_prune_bytes",
    ] {
        assert!(m.extra.contains_key(k), "{k}");
    }
    assert!(x("layer_pull_p50_ns") <= x("layer_pull_p99_ns"));
    assert!(m.runtime_s > 0.0);
    assert!(m.cpu_sys_pct.is_some() && m.cpu_usr_pct.is_some());
    // Containers and layers were removed: the store is empty again.
    assert_eq!(
        tree(tmp.path()),
        vec!["overlay".to_owned(), "overlay/l".to_owned()]
    );

    // The same seed does the same work.
    let tmp2 = tempdir();
    let m2 = w
        .run(&RunContext {
            dir: tmp2.path(),
            ..ctx
        })
        .unwrap();
    for k in [
        "files_written",
        "bytes_written",
        "copy_ups",
        "copy_up_bytes",
        "whiteouts",
    ] {
        assert_eq!(m.extra[k], m2.extra[k], "{k}");
    }
}

#[test]
fn a_default_quick_run_keeps_to_its_time_budget() {
    let tmp = tempdir();
    let stop = AtomicBool::new(false);
    let w = ContainersWorkload::new(Driver::Overlay, ContainersConfig::default()).unwrap();
    let t = Instant::now();
    let m = w
        .run(&RunContext {
            dir: tmp.path(),
            device: Path::new("/dev/null"),
            quick: true,
            interrupted: &stop,
        })
        .unwrap();
    assert!(m.extra["rounds"] >= 1.0);
    assert!(m.runtime_s >= QUICK.runtime_s, "{}", m.runtime_s);
    assert_eq!(
        m.extra["layers_pulled"],
        m.extra["rounds"] * f64::from(QUICK.layers)
    );
    // The last round runs to its end: a few seconds here, a minute on a slow disk.
    assert!(t.elapsed() < Duration::from_secs(120));
    assert_eq!(
        tree(tmp.path()),
        vec!["overlay".to_owned(), "overlay/l".to_owned()]
    );
}

#[test]
fn ctrl_c_stops_a_full_run_soon() {
    let tmp = tempdir();
    let stop = AtomicBool::new(false);
    let w = ContainersWorkload::new(Driver::Overlay, ContainersConfig::default()).unwrap();
    let t = Instant::now();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::SeqCst);
        });
        w.run(&RunContext {
            dir: tmp.path(),
            device: Path::new("/dev/null"),
            quick: false,
            interrupted: &stop,
        })
    });
    assert!(matches!(r, Err(WorkloadError::Interrupted)), "{r:?}");
    // A full run lasts 30 s; stopping takes at most one file write after the flag.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn the_btrfs_driver_refuses_other_filesystems() {
    let tmp = tempdir();
    if space::is_btrfs(tmp.path()).unwrap() {
        eprintln!("SKIPPED: /var/tmp is on btrfs; the refusal needs another filesystem");
        return;
    }
    let spec = WorkloadSpec {
        kind: "containers".into(),
        name: "btrfs".into(),
        params: Default::default(),
    };
    let w = build(
        &spec,
        btrtune_workloads::Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .unwrap();
    assert!(w.needs_btrfs());
    let stop = AtomicBool::new(false);
    let e = w
        .run(&RunContext {
            dir: tmp.path(),
            device: Path::new("/dev/null"),
            quick: true,
            interrupted: &stop,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is not on btrfs") && e.contains("containers=overlay"),
        "{e}"
    );
    // Nothing was created.
    assert!(tree(tmp.path()).is_empty());
}

#[test]
fn the_catalogue_lists_both_drivers() {
    let all = btrtune_workloads::catalogue();
    for name in ["btrfs", "overlay"] {
        assert!(
            all.iter().any(|e| e.kind == "containers" && e.name == name),
            "{name}"
        );
    }
}
