//! Planner tests: the rules, conflicts and reasons, on toolstacks built for each case.

use super::*;
use crate::layout::{Algorithm, Consistency, NixValue};
use crate::reason::Ref;
use crate::toolstack::DataWish;

fn db() -> ToolDb {
    ToolDb::bundled().unwrap()
}

fn stack(tools: &str) -> Toolstack {
    Toolstack::from_tools(tools).unwrap()
}

fn hw(class: DeviceClass, ram_gib: u64) -> HardwareProfile {
    HardwareProfile {
        source: "test".into(),
        ram_bytes: Some(ram_gib << 30),
        cpu_threads: Some(8),
        disks: vec![DiskInfo {
            device: class.placeholder_device().into(),
            class,
            class_confidence: crate::hardware::Confidence::High,
            size_bytes: Some(500 << 30),
            ..DiskInfo::default()
        }],
        ..HardwareProfile::default()
    }
}

fn run(ts: &Toolstack, class: DeviceClass) -> Plan {
    plan(ts, &db(), Some(hw(class, 16)), None).unwrap()
}

fn fs(p: &Plan) -> &BtrfsFilesystem {
    p.layout.btrfs_filesystems()[0].1
}

fn sub<'a>(p: &'a Plan, mp: &str) -> &'a Subvolume {
    fs(p)
        .subvolumes
        .iter()
        .find(|s| s.mount.as_ref().is_some_and(|m| m.mountpoint == mp))
        .unwrap_or_else(|| panic!("no subvolume at {mp}"))
}

#[test]
fn database_gets_nocow_own_subvolume_and_no_compression() {
    let p = run(&stack("postgresql,nix"), DeviceClass::Nvme);
    let pg = sub(&p, "/var/lib/postgresql");
    assert!(pg.data.nocow);
    assert_eq!(pg.data.compression, None);
    assert_eq!(pg.data.effective_compression(&fs(&p).options), None);
    assert_eq!(pg.data.tools, vec!["postgresql"]);
    assert!(matches!(
        pg.data.snapshots,
        Snapshots::Timeline {
            consistency: Consistency::CrashConsistent,
            ..
        }
    ));
    // The filesystem compresses everything else.
    assert_eq!(fs(&p).options.compress, Some(Compression::zstd(1)));
    assert_eq!(
        sub(&p, "/").data.effective_compression(&fs(&p).options),
        Some(Algorithm::Zstd)
    );
    // The engine setting that NOCOW requires.
    assert!(p.layout.system.nixos.iter().any(|n| {
        n.path == "services.postgresql.settings.full_page_writes"
            && n.value == crate::layout::NixValue::Bool(true)
    }));
}

#[test]
fn durability_keeps_cow_and_reports_the_conflict() {
    let mut ts = stack("postgresql,libvirt");
    ts.priority = Priority::Durability;
    ts.purpose = HostPurpose::Production;
    let p = run(&ts, DeviceClass::SataSsd);
    assert!(!sub(&p, "/var/lib/postgresql").data.nocow);
    assert!(!sub(&p, "/var/lib/libvirt/images").data.nocow);
    let subjects: Vec<&str> = p.conflicts.iter().map(|c| c.subject.as_str()).collect();
    assert!(subjects.contains(&"/var/lib/postgresql"), "{subjects:?}");
    assert!(
        subjects.contains(&"/var/lib/libvirt/images"),
        "{subjects:?}"
    );
    // CoW PGDATA: the settings PostgreSQL documents for copy-on-write filesystems.
    let paths: Vec<&str> = p
        .layout
        .system
        .nixos
        .iter()
        .map(|n| n.path.as_str())
        .collect();
    assert!(paths.contains(&"services.postgresql.settings.wal_init_zero"));
    assert!(paths.contains(&"services.postgresql.settings.wal_recycle"));
}

#[test]
fn performance_on_nvme_drops_fs_compression_but_compresses_the_store() {
    let mut ts = stack("postgresql,nix");
    ts.priority = Priority::Performance;
    let p = run(&ts, DeviceClass::Nvme);
    assert_eq!(fs(&p).options.compress, None);
    let nix = sub(&p, "/nix");
    assert_eq!(nix.data.compression, Some(CompressionProperty::Zstd));
    assert_eq!(
        nix.data.effective_compression(&fs(&p).options),
        Some(Algorithm::Zstd)
    );
    // Performance: the database leaves btrfs for a dedicated ext4 partition (the matrix's
    // performance cell), not snapshotted (backups by the engine's tools).
    assert!(!fs(&p).subvolumes.iter().any(|s| {
        s.mount
            .as_ref()
            .is_some_and(|m| m.mountpoint == "/var/lib/postgresql")
    }));
}

fn partitions(p: &Plan) -> &[crate::layout::Partition] {
    match &p.layout.disks[0].content {
        crate::layout::DiskContent::Gpt { partitions } => partitions,
        _ => panic!("not GPT"),
    }
}

#[test]
fn performance_postgresql_gets_an_ext4_partition_sized_from_the_toolstack() {
    let mut ts = stack("postgresql,nix");
    ts.priority = Priority::Performance;
    ts.tool_options.insert(
        "postgresql".into(),
        crate::toolstack::ToolOptions {
            data_size: Some("64G".into()),
            ..Default::default()
        },
    );
    let p = run(&ts, DeviceClass::Nvme);
    let parts = partitions(&p);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ESP", "postgresql", "root"]);
    let pg = &parts[1];
    assert_eq!(
        pg.size,
        crate::layout::PartSize::Fixed(crate::layout::Bytes::gib(64))
    );
    match pg.content.as_ref().unwrap() {
        Content::Filesystem(f) => {
            assert_eq!(f.format, "ext4");
            assert_eq!(f.mountpoint.as_deref(), Some("/var/lib/postgresql"));
        }
        o => panic!("{o:?}"),
    }
    let why = &pg.why.as_ref().unwrap().text;
    assert!(
        why.contains("no data checksums") && why.contains("pg_basebackup"),
        "{why}"
    );
    // Its engine settings: full_page_writes on, never the copy-on-write ones.
    let set = |k: &str| {
        p.layout
            .system
            .nixos
            .iter()
            .find(|n| n.path == format!("services.postgresql.settings.{k}"))
            .map(|n| n.value.clone())
    };
    assert_eq!(set("full_page_writes"), Some(NixValue::Bool(true)));
    assert_eq!(set("wal_init_zero"), None);
    // Asked to stay on btrfs: a NOCOW subvolume with the NOCOW settings.
    ts.tool_options.get_mut("postgresql").unwrap().partition = Some(false);
    let p = run(&ts, DeviceClass::Nvme);
    assert_eq!(partitions(&p).len(), 2);
    assert!(sub(&p, "/var/lib/postgresql").data.nocow);
    // A bad size is an error naming the option.
    ts.tool_options.get_mut("postgresql").unwrap().data_size = Some("lots".into());
    ts.tool_options.get_mut("postgresql").unwrap().partition = None;
    let e = crate::plan::plan(
        &ts,
        &crate::profiles::ToolDb::bundled().unwrap(),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("data_size") && e.contains("lots"), "{e}");
}

#[test]
fn engine_settings_follow_where_the_data_is() {
    for (priority, init_zero) in [
        (Priority::Balanced, Some(NixValue::Bool(true))),
        (Priority::Durability, Some(NixValue::Bool(false))),
    ] {
        let mut ts = stack("postgresql,mariadb");
        ts.priority = priority;
        let p = run(&ts, DeviceClass::Virtio);
        let get = |k: &str| {
            p.layout
                .system
                .nixos
                .iter()
                .find(|n| n.path == k)
                .map(|n| n.value.clone())
        };
        assert_eq!(
            get("services.postgresql.settings.wal_init_zero"),
            init_zero,
            "{priority}"
        );
        assert_eq!(
            get("services.postgresql.settings.full_page_writes"),
            Some(NixValue::Bool(true))
        );
        assert_eq!(
            get("services.mysql.settings.mysqld.innodb_doublewrite"),
            Some(NixValue::Str("ON".into()))
        );
        assert_eq!(
            sub(&p, "/var/lib/postgresql").data.nocow,
            priority == Priority::Balanced
        );
    }
}

#[test]
fn nocow_and_compression_wish_is_resolved_by_priority_and_reported() {
    for (priority, want_nocow) in [
        (Priority::Performance, true),
        (Priority::Balanced, true),
        (Priority::Durability, false),
    ] {
        let mut ts = stack("nix");
        ts.priority = priority;
        ts.data.push(DataWish {
            path: "/srv/data".into(),
            purpose: Some(Purpose::ServiceState),
            nocow: Some(true),
            compression: Some(CompressionProperty::Zstd),
            snapshots: None,
            note: None,
        });
        let p = run(&ts, DeviceClass::SataSsd);
        let s = sub(&p, "/srv/data");
        assert_eq!(s.data.nocow, want_nocow, "{priority}");
        assert_eq!(s.data.compression.is_some(), !want_nocow, "{priority}");
        let c = p
            .conflicts
            .iter()
            .find(|c| c.subject == "/srv/data")
            .expect("conflict reported");
        assert_eq!(c.wanted.len(), 2);
        assert!(c.why.text.contains(priority.as_str()));
    }
}

#[test]
fn hdd_with_browsers_gets_autodefrag_but_not_with_a_cow_database() {
    let p = run(&stack("firefox,sqlite"), DeviceClass::Hdd);
    assert!(fs(&p).options.autodefrag);
    assert!(fs(&p).why.contains_key("autodefrag"));

    let mut ts = stack("firefox,postgresql");
    ts.priority = Priority::Durability;
    let p = run(&ts, DeviceClass::Hdd);
    assert!(!fs(&p).options.autodefrag);
    assert!(
        p.conflicts
            .iter()
            .any(|c| c.subject.starts_with("autodefrag"))
    );
    // HDD under a database: the hardware warning.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.text.contains("postgresql on hdd"))
    );
}

#[test]
fn slow_flash_gets_zram_instead_of_a_swap_file() {
    let p = run(&stack("nix,syncthing"), DeviceClass::Sd);
    assert!(p.layout.system.zram.is_some());
    assert!(fs(&p).subvolumes.iter().all(|s| s.swapfiles.is_empty()));
    let p = run(&stack("nix"), DeviceClass::Nvme);
    let swap = sub(&p, "/.swapvol");
    assert_eq!(swap.swapfiles[0].size, Bytes::gib(8));
    assert_eq!(swap.data.snapshots, Snapshots::Off);
}

#[test]
fn hibernation_sizes_swap_to_ram() {
    let mut ts = stack("nix");
    ts.hibernate = true;
    let p = plan(&ts, &db(), Some(hw(DeviceClass::Nvme, 12)), None).unwrap();
    assert_eq!(sub(&p, "/.swapvol").swapfiles[0].size, Bytes::gib(12));
}

#[test]
fn tools_sharing_a_path_share_a_subvolume() {
    let p = run(&stack("mysql,mariadb"), DeviceClass::Nvme);
    let s = sub(&p, "/var/lib/mysql");
    assert_eq!(s.data.tools, vec!["mariadb", "mysql"]);
    let n = fs(&p)
        .subvolumes
        .iter()
        .filter(|s| {
            s.mount
                .as_ref()
                .is_some_and(|m| m.mountpoint == "/var/lib/mysql")
        })
        .count();
    assert_eq!(n, 1);
}

#[test]
fn nested_data_with_the_same_treatment_merges_into_its_parent() {
    let p = run(&stack("firefox,chromium,vscode"), DeviceClass::Nvme);
    let homes = &fs(&p).home_subvolumes;
    let cache = homes.iter().find(|h| h.path == ".cache").unwrap();
    assert!(
        cache
            .data
            .holds
            .contains(&"~/.cache/mozilla/firefox".to_string())
    );
    assert!(cache.data.tools.contains(&"firefox".to_string()));
    assert!(!homes.iter().any(|h| h.path.starts_with(".cache/")));
    // Browser profiles stay in the snapshotted home.
    let home = sub(&p, "/home");
    assert!(home.data.holds.contains(&"~/.mozilla/firefox".to_string()));
    assert!(home.data.snapshots.is_on());
}

#[test]
fn nested_data_with_another_treatment_gets_its_own_subvolume() {
    let mut ts = stack("libvirt");
    ts.purpose = HostPurpose::Production;
    let p = run(&ts, DeviceClass::Nvme);
    assert!(sub(&p, "/var/lib/libvirt/images").data.nocow);
    assert!(!sub(&p, "/var/lib/libvirt").data.nocow);
}

#[test]
fn rootless_containers_go_to_home_subvolumes() {
    let mut ts = stack("podman");
    ts.tool_options.insert(
        "podman".into(),
        crate::toolstack::ToolOptions {
            mode: Some(ModeChoice::Rootless),
            driver: Some("btrfs".into()),
            volumes: None,
            ..Default::default()
        },
    );
    let p = run(&ts, DeviceClass::Nvme);
    assert!(
        fs(&p)
            .home_subvolumes
            .iter()
            .any(|h| h.path == ".local/share/containers")
    );
    assert!(
        !fs(&p)
            .subvolumes
            .iter()
            .any(|s| s.data.purpose == Purpose::ContainerStorage)
    );
    // The btrfs driver run rootless must delete its subvolumes.
    assert!(fs(&p).options.user_subvol_rm_allowed);
}

#[test]
fn database_volumes_are_treated_as_databases() {
    let mut ts = stack("podman");
    ts.purpose = HostPurpose::Production;
    ts.tool_options.insert(
        "podman".into(),
        crate::toolstack::ToolOptions {
            mode: None,
            driver: None,
            volumes: Some(VolumeKind::Database),
            ..Default::default()
        },
    );
    let p = run(&ts, DeviceClass::Virtio);
    let v = sub(&p, "/var/lib/containers/storage/volumes");
    assert_eq!(v.data.purpose, Purpose::Database);
    let storage = sub(&p, "/var/lib/containers");
    assert!(!storage.data.nocow);
    assert_eq!(storage.data.snapshots, Snapshots::Off);
}

#[test]
fn snapshotted_subvolumes_get_a_snapper_config_and_a_snapshots_subvolume() {
    let mut ts = stack("postgresql,nix");
    ts.users = vec!["alice".into()];
    ts.projects = vec!["/home/alice/src".into()];
    let p = run(&ts, DeviceClass::Nvme);
    let f = fs(&p);
    for s in f.subvolumes.iter().filter(|s| s.data.snapshots.is_on()) {
        let nested = format!("{}/.snapshots", s.name);
        assert!(f.subvolume(&nested).is_some(), "{nested}");
        let cfg = format!(
            "services.snapper.configs.{}",
            s.name.trim_start_matches('@')
        );
        assert!(p.layout.system.nixos.iter().any(|n| n.path == cfg), "{cfg}");
    }
    assert!(
        p.layout
            .system
            .tmpfiles
            .iter()
            .any(|t| t.line == "d /home/alice/src 0755 alice users -")
    );
    let mut ts = stack("postgresql");
    ts.snapshots = false;
    let p = run(&ts, DeviceClass::Nvme);
    assert!(fs(&p).subvolumes.iter().all(|s| !s.data.snapshots.is_on()));
    assert!(
        !p.layout
            .system
            .nixos
            .iter()
            .any(|n| n.path.contains("snapper"))
    );
}

#[test]
fn slow_hdd_with_much_ram_gets_writeback_limits() {
    let p = plan(&stack("nix"), &db(), Some(hw(DeviceClass::Hdd, 32)), None).unwrap();
    let keys: Vec<&str> = p
        .layout
        .system
        .sysctls
        .iter()
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(keys, vec!["vm.dirty_bytes", "vm.dirty_background_bytes"]);
    assert_eq!(p.layout.system.sysctls[0].value, 1 << 30);
    let p = plan(&stack("nix"), &db(), Some(hw(DeviceClass::Nvme, 32)), None).unwrap();
    assert!(p.layout.system.sysctls.is_empty());
}

#[test]
fn schedulers_follow_the_device_class() {
    for (class, want) in [
        (DeviceClass::Nvme, "none"),
        (DeviceClass::SataSsd, "mq-deadline"),
        (DeviceClass::Hdd, "bfq"),
        (DeviceClass::Sd, "bfq"),
        (DeviceClass::Virtio, "none"),
    ] {
        let p = run(&stack("nix"), class);
        let r = &p.layout.system.io_schedulers;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].class, class);
        assert_eq!(r[0].scheduler, want, "{class}");
    }
}

#[test]
fn no_hardware_is_a_warning_not_an_error() {
    let p = plan(&stack("nix"), &db(), None, None).unwrap();
    assert_eq!(p.input.disk.class, DeviceClass::Unknown);
    assert!(p.warnings.iter().any(|w| w.text.contains("No hardware")));
    let e = plan(&stack("nix"), &db(), None, Some("sda")).unwrap_err();
    assert!(e.to_string().contains("not a device path"));
}

#[test]
fn disk_flag_overrides_and_keeps_the_class_it_names() {
    let p = plan(&stack("nix"), &db(), None, Some("/dev/nvme1n1")).unwrap();
    assert_eq!(p.input.disk.class, DeviceClass::Nvme);
    assert_eq!(p.layout.disks[0].device, "/dev/nvme1n1");
}

#[test]
fn unknown_tool_is_an_error_with_suggestions() {
    let e = plan(&stack("postgress,firefox"), &db(), None, None).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("postgress") && s.contains("postgresql"), "{s}");
}

#[test]
fn every_choice_has_a_reason() {
    for (name, _) in crate::toolstack::EXAMPLES {
        let p = plan(&Toolstack::example(name).unwrap(), &db(), None, None).unwrap();
        let f = fs(&p);
        assert!(f.why.contains_key("compress"), "{name}");
        for s in &f.subvolumes {
            let has = |a| s.data.why.contains_key(&a);
            assert!(has(Aspect::Placement), "{name} {}: placement", s.name);
            assert!(has(Aspect::Snapshots), "{name} {}: snapshots", s.name);
            if s.mount.is_some() {
                assert!(has(Aspect::Mount), "{name} {}: mount", s.name);
                assert!(has(Aspect::Compression), "{name} {}: compression", s.name);
            }
            if s.data.nocow {
                assert!(has(Aspect::Nocow), "{name} {}: nocow", s.name);
            }
            if !s.swapfiles.is_empty() {
                assert!(has(Aspect::Swap), "{name} {}: swap", s.name);
            }
        }
        for h in &f.home_subvolumes {
            assert!(
                h.data.why.contains_key(&Aspect::Placement),
                "{name} ~/{}",
                h.path
            );
        }
        for d in &p.layout.disks {
            assert!(d.why.is_some());
        }
    }
}

/// The sections of a shared doc (`## 2.`, `### 1.4`, `## 0.`): every reference must exist.
fn sections(doc: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(crate::testutil::shared_dir().join("docs").join(doc)).unwrap();
    text.lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|s| s.trim_end_matches('.').to_string())
        .filter(|s| s.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect()
}

#[test]
fn every_reference_points_to_an_existing_section() {
    let facts = sections("btrfs-tuning-facts.md");
    let method = sections("benchmark-method.md");
    assert!(facts.contains(&"1.4".to_string()) && method.contains(&"3.1".to_string()));
    let db = db();
    let mut checked = 0;
    for (name, _) in crate::toolstack::EXAMPLES {
        let p = plan(&Toolstack::example(name).unwrap(), &db, None, None).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        let mut stack = vec![&json];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Object(m) => {
                    if let Ok(r) = serde_json::from_value::<Ref>(v.clone()) {
                        checked += 1;
                        match r {
                            Ref::Fact { section } => {
                                assert!(facts.contains(&section), "{name}: facts §{section}")
                            }
                            Ref::Method { section } => {
                                assert!(method.contains(&section), "{name}: method §{section}")
                            }
                            Ref::Tool { name: t } => db.resolve(&t).map(|_| ()).unwrap(),
                            _ => {}
                        }
                    }
                    stack.extend(m.values());
                }
                serde_json::Value::Array(a) => stack.extend(a.iter()),
                _ => {}
            }
        }
    }
    assert!(checked > 100, "only {checked} references checked");
}

#[test]
fn the_containers_matrix_picks_the_driver_and_unknown_profiles_are_errors() {
    let mut ts = stack("podman");
    ts.priority = Priority::Performance;
    ts.tool_options.insert(
        "podman".into(),
        crate::toolstack::ToolOptions {
            profile: Some("build-heavy".into()),
            ..Default::default()
        },
    );
    let p = run(&ts, DeviceClass::Nvme);
    let driver = p
        .layout
        .system
        .nixos
        .iter()
        .find(|n| n.path == "virtualisation.containers.storage.settings.storage.driver")
        .unwrap();
    let want = crate::strategy::containers::choose(&crate::strategy::containers::Request {
        priority: Priority::Performance,
        ..crate::strategy::containers::Request::new("build-heavy")
    })
    .unwrap();
    assert_eq!(
        driver.value,
        NixValue::Str(want.cell.driver.as_str().into())
    );
    assert!(
        driver.why.text.contains("profile `build-heavy`"),
        "{}",
        driver.why.text
    );
    ts.tool_options.get_mut("podman").unwrap().profile = Some("huge".into());
    let e = crate::plan::plan(
        &ts,
        &crate::profiles::ToolDb::bundled().unwrap(),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("profile `huge`") && e.contains("build-heavy"),
        "{e}"
    );
}
