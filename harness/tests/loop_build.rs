//! Root tests: build layouts as real btrfs on loop devices, verify them, tear them down.
//!
//! They need root, btrfs-progs and e2fsprogs. Without root they skip with a message, unless
//! `BTRTUNE_REQUIRE_ROOT=1` (`scripts/test.sh` as root, CI), which makes a skip a failure.

use btrtune_advisor::disko::parse::{ParseOptions, parse_file};
use btrtune_advisor::layout::{Content, DiskContent, Layout};
use btrtune_advisor::plan::plan;
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::Toolstack;
use btrtune_harness::HarnessError;
use btrtune_harness::build::{BuildOptions, build, buildable, devices_needed, verify};
use btrtune_harness::matrix::{LayoutSpec, candidate};
use btrtune_harness::state::State;
use btrtune_harness::sys::LoopDev;
use btrtune_harness::sys::loopdev::create_backing_file;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn require_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    assert!(
        std::env::var("BTRTUNE_REQUIRE_ROOT").as_deref() != Ok("1"),
        "this test needs root (BTRTUNE_REQUIRE_ROOT=1)"
    );
    eprintln!("SKIPPED: needs root");
    false
}

/// Loop devices over backing files in a temp dir, plus a state file there.
/// Fields drop in order: loop devices, state, then the directory with the backing files.
struct Rig {
    loops: Vec<LoopDev>,
    state: Arc<State>,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new(devices: usize, size: u64) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("btrtune-test-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let state = State::open_in(&dir.path().join("state")).unwrap();
        let mut loops = Vec::new();
        for i in 0..devices {
            let f = dir.path().join(format!("btrtune-test-{i}.img"));
            create_backing_file(&f, size).unwrap();
            loops.push(LoopDev::attach(&f, true, &state).unwrap());
        }
        Rig { loops, state, dir }
    }

    fn devices(&self) -> Vec<PathBuf> {
        self.loops.iter().map(|l| l.path().to_path_buf()).collect()
    }

    fn build(&self, layout: &Layout) -> Result<btrtune_harness::build::Built, HarnessError> {
        let need = devices_needed(&buildable(layout)?);
        build(
            layout,
            &self.devices()[..need],
            &self.dir.path().join("run"),
            &BuildOptions { loop_devices: true },
            &self.state,
        )
    }
}

fn spec(name: &str, f: impl FnOnce(&mut LayoutSpec)) -> Layout {
    let mut s = LayoutSpec {
        name: name.into(),
        kind: "btrfs".into(),
        ..LayoutSpec::default()
    };
    f(&mut s);
    candidate(&s, None).unwrap()
}

fn mounted_below(dir: &Path) -> Vec<String> {
    btrtune_harness::sys::mount::mountinfo()
        .into_iter()
        .map(|m| m.target)
        .filter(|t| t.starts_with(&dir.display().to_string()))
        .collect()
}

fn lsattr(p: &Path) -> String {
    let o = std::process::Command::new("lsattr")
        .arg("-d")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn loop_builds_and_verifies_many_layouts() {
    if !require_root() {
        return;
    }
    let rig = Rig::new(2, 1 << 30);
    let db = ToolDb::bundled().unwrap();
    let workstation = plan(&Toolstack::example("workstation").unwrap(), &db, None, None)
        .unwrap()
        .layout;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../advisor/tests/fixtures/disko");
    let hooks = parse_file(&fixtures.join("hooks.nix"), &ParseOptions::default())
        .unwrap()
        .layout;
    let raid1 = parse_file(&fixtures.join("multi-device.nix"), &ParseOptions::default())
        .unwrap()
        .layout;
    // The raid1 layout names its second device through extraArgs: the harness supplies both.
    let raid1 = single_fs_disk(&raid1, "two");
    let layouts: Vec<(&str, Layout)> = vec![
        ("cow", spec("cow", |_| {})),
        (
            "nocow + zstd:1",
            spec("n", |s| {
                s.compress = Some("zstd:1".into());
                s.nocow = true;
            }),
        ),
        (
            "lzo + zstd property",
            spec("p", |s| {
                s.compress = Some("lzo".into());
                s.property = Some("zstd".into());
            }),
        ),
        (
            "autodefrag, commit=120, relatime",
            spec("a", |s| {
                s.autodefrag = true;
                s.commit = Some(120);
                s.atime = Some("relatime".into());
            }),
        ),
        (
            "discard=sync, strictatime",
            spec("d", |s| {
                s.discard = Some("sync".into());
                s.atime = Some("strictatime".into());
            }),
        ),
        ("workstation plan", workstation.clone()),
        ("disko hooks.nix", hooks),
        ("raid1 over two devices", raid1),
        ("ext4", spec("e", |s| s.kind = "ext4".into())),
        ("xfs", spec("x", |s| s.kind = "xfs".into())),
    ];
    for (what, layout) in &layouts {
        let built = rig.build(layout).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!built.targets.is_empty(), "{what}");
        for (mp, p) in &built.targets {
            assert!(p.is_dir(), "{what}: {mp} at {}", p.display());
        }
        built
            .teardown()
            .unwrap_or_else(|e| panic!("{what}: teardown: {e}"));
        assert!(
            mounted_below(rig.dir.path()).is_empty(),
            "{what}: mounts left"
        );
    }
    // What the workstation plan asks for is really there.
    let built = rig.build(&workstation).unwrap();
    let top = built.top.clone().unwrap();
    assert!(
        lsattr(&top.join("@postgresql"))
            .split_whitespace()
            .next()
            .unwrap()
            .contains('C')
    );
    assert!(
        !lsattr(&top.join("@home"))
            .split_whitespace()
            .next()
            .unwrap()
            .contains('C')
    );
    assert!(
        top.join("@home/bench/.cache").is_dir(),
        "per-user subvolume made"
    );
    assert!(built.path_of("/var/lib/postgresql").is_some());
    drop(built);
    assert!(mounted_below(rig.dir.path()).is_empty());
}

/// A copy of `l` with only the disk `name` (whose filesystem spans the harness's devices).
fn single_fs_disk(l: &Layout, name: &str) -> Layout {
    let mut l = l.clone();
    l.disks.retain(|d| d.name == name);
    l
}

#[test]
fn loop_verification_catches_a_mismatch() {
    if !require_root() {
        return;
    }
    let rig = Rig::new(1, 512 << 20);
    let nocow = spec("n", |s| s.nocow = true);
    let built = rig.build(&nocow).unwrap();
    // Ask the verifier about a layout that differs: CoW target, compression, relatime.
    let other = spec("x", |s| {
        s.compress = Some("zstd:3".into());
        s.atime = Some("relatime".into());
    });
    let fs = match &other.disks[0].content {
        DiskContent::Whole {
            content: Content::Btrfs(b),
        } => b.clone(),
        _ => unreachable!(),
    };
    let e = verify(&fs, &built).unwrap_err().to_string();
    assert!(e.contains("NOCOW is set, the layout says not set"), "{e}");
    assert!(
        e.contains("compression is off, the layout says compress=zstd:3"),
        "{e}"
    );
    assert!(e.contains("access times are Some(Noatime)"), "{e}");
    built.teardown().unwrap();
}

#[test]
fn loop_guards_release_everything_even_on_panic() {
    if !require_root() {
        return;
    }
    let dir;
    let state_dir;
    let loopdev;
    {
        let rig = Rig::new(1, 512 << 20);
        dir = rig.dir.path().to_path_buf();
        state_dir = rig.dir.path().join("state");
        loopdev = rig.loops[0].path().to_path_buf();
        let layout = spec("cow", |_| {});
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _built = rig.build(&layout).unwrap();
            assert!(!mounted_below(&dir).is_empty());
            panic!("boom");
        }));
        assert!(r.is_err());
        assert!(
            mounted_below(&dir).is_empty(),
            "unwinding unmounted everything"
        );
        assert!(rig.state.holdings().mounts.is_empty());
    }
    // The rig (loop device, backing files, temp dir) is gone too.
    assert!(!dir.exists());
    assert_ne!(
        btrtune_harness::sys::loopdev::backing_file(&loopdev).map(|b| b.starts_with(&dir)),
        Some(true)
    );
    assert!(!state_dir.exists() || std::fs::read_dir(&state_dir).unwrap().next().is_none());
}
