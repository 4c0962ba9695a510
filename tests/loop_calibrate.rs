//! Root tests of `btrtune calibrate` and `btrtune cleanup` on real loop devices: a quick matrix
//! writes valid results; an interrupted run resumes; `kill -INT` and `kill -KILL` in the middle
//! followed by `btrtune cleanup` leave no loop device, mount or backing file of ours.
//!
//! They need root, btrfs-progs, e2fsprogs and fio. Without root they skip with a message,
//! unless `BTRTUNE_REQUIRE_ROOT=1` (CI), which makes a skip a failure.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::require_root;

const MATRIX: &str = r#"
name = "t"
size = "512M"
[runs]
min = 2
max = 2
[quick]
min = 2
max = 2
cv_target = 1.0
size = "512M"
[[layout]]
name = "cow"
[[layout]]
name = "nocow"
nocow = true
[[workload]]
fio = "randwrite-4k-fsync"
"#;

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("btrtune-cli-")
            .tempdir_in("/var/tmp")
            .unwrap();
        std::fs::write(dir.path().join("m.toml"), MATRIX).unwrap();
        Scratch { dir }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn args(&self) -> Vec<String> {
        vec![
            "calibrate".into(),
            "--matrix".into(),
            self.path("m.toml").display().to_string(),
            "--out".into(),
            self.path("out").display().to_string(),
            "--backing-dir".into(),
            self.path("backing").display().to_string(),
            "--quick".into(),
        ]
    }
    fn results(&self) -> Vec<btrtune_harness::record::RunRecord> {
        let f = self.path("out/t-quick.jsonl");
        if !f.exists() {
            return vec![];
        }
        btrtune_harness::record::read(&f).unwrap()
    }
    /// Loop devices whose backing file is below our directory.
    fn our_loops(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Ok(b) = std::fs::read_to_string(format!("/sys/block/{n}/loop/backing_file"))
                && b.trim().starts_with(&self.dir.path().display().to_string())
            {
                out.push(n);
            }
        }
        out
    }
    fn our_mounts(&self) -> Vec<String> {
        btrtune_harness::sys::mount::mountinfo()
            .into_iter()
            .map(|m| m.target)
            .filter(|t| t.starts_with(&self.dir.path().display().to_string()))
            .collect()
    }
    fn our_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path("backing"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(".img"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Whatever a failed test left: unmount and detach ours only.
        for m in self.our_mounts().iter().rev() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(m)
                .status();
        }
        for l in self.our_loops() {
            let _ = std::process::Command::new("losetup")
                .args(["-d", &format!("/dev/{l}")])
                .status();
        }
    }
}

fn btrtune() -> Command {
    Command::cargo_bin("btrtune").expect("binary")
}

fn spawn(args: &[String]) -> Child {
    use std::os::unix::process::CommandExt as _;
    std::process::Command::new(assert_cmd::cargo::cargo_bin("btrtune"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn state_file(pid: u32) -> PathBuf {
    Path::new("/run/btrtune").join(format!("{pid}.json"))
}

/// Waits until the process holds a mounted filesystem (its state file lists a mount).
fn wait_until_mounted(child: &mut Child) {
    let f = state_file(child.id());
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(&f)
            && s.contains("/root/data")
        {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "calibrate exited early"
        );
        assert!(t.elapsed() < Duration::from_secs(60), "no mount after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn loop_quick_matrix_writes_valid_results_and_resumes() {
    if !require_root() {
        return;
    }
    let s = Scratch::new();
    let mut args = s.args();
    args.extend(["--max-runs".into(), "1".into()]);
    btrtune().args(&args).assert().success();
    let first = s.results();
    assert_eq!(first.len(), 1);
    // Resume: the finished run is kept, the other three are made.
    btrtune().args(s.args()).assert().success();
    let all = s.results();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], first[0]);
    for r in &all {
        assert_eq!(r.schema_version, btrtune_harness::record::SCHEMA_VERSION);
        assert_eq!(r.matrix, "t");
        assert!(r.quick);
        assert!(r.measurement.value > 0.0, "{r:?}");
        assert_eq!(r.measurement.primary, "iops");
        assert!(r.measurement.sync_latency_ns.is_some());
        assert_eq!(r.device.kind, "loop");
        assert_eq!(r.device.loop_dio, Some(true));
        assert!(!r.host.kernel.is_empty() && r.host.fio.starts_with("fio-"));
        assert!(r.fs.used_bytes.is_some_and(|u| u > 0));
        assert!(r.fs.applied_options.iter().any(|o| o == "noatime"));
    }
    // Two cells, two runs each, interleaved: both layouts in each round (order shuffled).
    let mut names: Vec<&str> = all.iter().map(|r| r.layout_name.as_str()).collect();
    names[..2].sort_unstable();
    names[2..].sort_unstable();
    assert_eq!(names, vec!["cow", "nocow", "cow", "nocow"]);
    let nocow = all.iter().find(|r| r.layout_name == "nocow").unwrap();
    assert!(
        nocow.fs.extents.is_some_and(|e| e < 64),
        "NOCOW file stays in few extents"
    );
    // A third run adds nothing, and writes the report of the results file.
    let mut args = s.args();
    args.extend(["--report".into(), s.path("report").display().to_string()]);
    btrtune().args(&args).assert().success();
    assert_eq!(s.results().len(), 4);
    let html = std::fs::read_to_string(s.path("report/report.html")).unwrap();
    assert!(
        html.contains("data-chart=\"throughput:") && html.contains("fio-randwrite-4k-fsync"),
        "the calibrate report charts the runs"
    );
    assert!(s.our_loops().is_empty() && s.our_mounts().is_empty() && s.our_files().is_empty());
}

#[test]
fn loop_sigint_releases_everything_and_the_next_run_resumes() {
    if !require_root() {
        return;
    }
    let s = Scratch::new();
    let mut child = spawn(&s.args());
    wait_until_mounted(&mut child);
    let pid = child.id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    assert!(s.our_loops().is_empty(), "loops left: {:?}", s.our_loops());
    assert!(s.our_mounts().is_empty());
    assert!(s.our_files().is_empty(), "files left: {:?}", s.our_files());
    assert!(!state_file(pid).exists(), "state file released");
    let done = s.results().len();
    assert!(done < 4);
    btrtune().args(s.args()).assert().success();
    assert_eq!(s.results().len(), 4);
}

fn kill_group(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

#[test]
fn loop_sigkill_then_cleanup_leaves_nothing() {
    if !require_root() {
        return;
    }
    // With the private mount namespace (the default): mounts die with the process, loop
    // devices (autoclear) follow, and cleanup removes the backing files.
    let s = Scratch::new();
    let mut child = spawn(&s.args());
    wait_until_mounted(&mut child);
    let pid = child.id();
    kill_group(&child, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();
    assert!(
        s.our_mounts().is_empty(),
        "private namespace: nothing visible"
    );
    wait_for("autoclear of the loop devices", 30, || {
        s.our_loops().is_empty().then_some(())
    });
    assert!(
        !s.our_files().is_empty(),
        "the backing file is still there before cleanup"
    );
    assert!(state_file(pid).exists());
    btrtune().arg("cleanup").assert().success();
    assert!(s.our_files().is_empty(), "files left: {:?}", s.our_files());
    assert!(!state_file(pid).exists());

    // Without the namespace: the mounts stay behind and cleanup releases them.
    let s = Scratch::new();
    let mut args = s.args();
    args.push("--no-namespace".into());
    let mut child = spawn(&args);
    wait_until_mounted(&mut child);
    let pid = child.id();
    kill_group(&child, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();
    assert!(
        !s.our_mounts().is_empty(),
        "mounts visible without the namespace"
    );
    btrtune().arg("cleanup").assert().success();
    assert!(
        s.our_mounts().is_empty(),
        "mounts left: {:?}",
        s.our_mounts()
    );
    assert!(s.our_loops().is_empty(), "loops left: {:?}", s.our_loops());
    assert!(s.our_files().is_empty(), "files left: {:?}", s.our_files());
    assert!(!state_file(pid).exists());
    // Cleanup does not touch what is not ours: a second run finds nothing.
    btrtune()
        .arg("cleanup")
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing of btrtune's"));
}

/// A loop device the test made, standing in for a spare disk the user names.
fn user_loop(s: &Scratch, name: &str) -> String {
    let f = s.path(name);
    std::fs::File::create(&f)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let out = std::process::Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "losetup: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn spare_args(s: &Scratch, dev: &str, wipe: &str) -> Vec<String> {
    let mut a = s.args();
    a.extend(["--device".into(), dev.into(), "--wipe".into(), wipe.into()]);
    a
}

fn has_signature(dev: &str) -> bool {
    // blkid -p exits 0 when it finds a signature, 2 when there is none.
    let st = std::process::Command::new("blkid")
        .args(["-p", dev])
        .output()
        .unwrap()
        .status;
    st.success()
}

#[test]
fn loop_spare_device_calibrates_and_is_left_usable() {
    if !require_root() {
        return;
    }
    let s = Scratch::new();
    let dev = user_loop(&s, "spare.img");
    let mut args = spare_args(&s, &dev, &dev);
    args.extend(["--max-runs".into(), "2".into()]);
    btrtune().args(&args).assert().success();
    let r = s.results();
    assert_eq!(r.len(), 2);
    assert!(
        r.iter()
            .all(|r| r.device.kind == "spare" && r.device.loop_dio.is_none())
    );
    assert_eq!(r[0].device.size_bytes, 512 << 20);
    // The user's device is still there, unmounted, and without our filesystem on it.
    assert_eq!(
        s.our_loops().len(),
        1,
        "the harness never detaches a user's device"
    );
    assert!(s.our_mounts().is_empty());
    assert!(!has_signature(&dev), "signatures wiped at the end");
    // So resuming needs no --force.
    btrtune()
        .args(spare_args(&s, &dev, &dev))
        .assert()
        .success();
    assert_eq!(s.results().len(), 4);
}

#[test]
fn loop_unsafe_spare_devices_are_refused_by_the_cli() {
    if !require_root() {
        return;
    }
    let s = Scratch::new();
    let a = user_loop(&s, "a.img");
    let b = user_loop(&s, "b.img");
    let refuse = |args: Vec<String>, what: &str| {
        let out = btrtune().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(what), "expected `{what}` in: {err}");
        assert!(s.results().is_empty(), "{what}: nothing was run");
    };
    refuse(spare_args(&s, &a, &b), "name different devices");
    // --device without --wipe is a usage error.
    let mut args = s.args();
    args.extend(["--device".into(), a.clone()]);
    btrtune().args(&args).assert().code(2);

    let ok = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "users-data", &a])
        .status()
        .unwrap();
    assert!(ok.success());
    refuse(spare_args(&s, &a, &a), "not empty");
    let mp = s.path("mnt");
    std::fs::create_dir_all(&mp).unwrap();
    let ok = std::process::Command::new("mount")
        .arg(&a)
        .arg(&mp)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut forced = spare_args(&s, &a, &a);
    forced.push("--force".into());
    refuse(forced, "mounted");
    std::process::Command::new("umount")
        .arg(&mp)
        .status()
        .unwrap();
    assert!(has_signature(&a), "a refused device is untouched");
}
