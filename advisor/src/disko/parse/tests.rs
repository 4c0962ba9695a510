//! Parser tests on the configurations in `advisor/tests/fixtures/disko/`.

use super::*;
use crate::layout::{Algorithm, Atime, Compression};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/disko")
        .join(name)
}

fn parse(name: &str) -> ParsedDisko {
    parse_file(&fixture(name), &ParseOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_err(name: &str, opts: &ParseOptions) -> String {
    parse_file(&fixture(name), opts)
        .err()
        .unwrap_or_else(|| panic!("{name} should fail"))
        .to_string()
}

fn fs_of(l: &Layout, disk: &str) -> BtrfsFilesystem {
    let (_, b) = l
        .btrfs_filesystems()
        .into_iter()
        .find(|(d, _)| d.name == disk)
        .unwrap_or_else(|| panic!("no btrfs on {disk}"));
    b.clone()
}

fn sub<'a>(b: &'a BtrfsFilesystem, name: &str) -> &'a Subvolume {
    b.subvolume(name)
        .unwrap_or_else(|| panic!("no subvolume {name}"))
}

#[test]
fn compress_on_some_mounts_is_kept_as_ignored() {
    let p = parse("subvolumes-compress-on-some.nix");
    let b = fs_of(&p.layout, "system");
    // / mounts first and has no compress option: that is the filesystem's.
    assert_eq!(b.first_mount(), Some("/"));
    assert_eq!(b.options, FsOptions::default());
    let home = sub(&b, "/home").mount.as_ref().unwrap();
    assert_eq!(
        home.fs_override.as_ref().unwrap().compress,
        Some(Compression {
            algorithm: Algorithm::Zstd,
            level: None
        })
    );
    let nix = sub(&b, "/nix").mount.as_ref().unwrap();
    assert_eq!(nix.vfs.atime, Some(Atime::Noatime));
    // Nothing dropped: 5 subvolumes, the nested one without a mount point.
    assert_eq!(b.subvolumes.len(), 5);
    assert!(sub(&b, "/home/guest").mount.is_none());
    // Swap files in a subvolume and on the top level.
    let swap = sub(&b, "/swap");
    assert_eq!(swap.data.purpose, Purpose::Swap);
    assert_eq!(swap.swapfiles.len(), 2);
    assert_eq!(swap.swapfiles[1].path, "nested/two");
    let top = b.top_level.as_ref().unwrap();
    assert_eq!(top.mountpoint, "/mnt/pool");
    assert_eq!(top.swapfiles[0].size, Bytes::mib(64));
    // The check names the mistake and which mount wins.
    let e = p.layout.check().unwrap_err().to_string();
    assert!(
        e.contains("`/home` (/home) asks for `compress=zstd`"),
        "{e}"
    );
    assert!(e.contains("`/` mounts first"), "{e}");
    // Partition with start/end.
    let DiskContent::Gpt { partitions } = &p.layout.disks[0].content else {
        panic!()
    };
    assert_eq!(partitions[0].name, "boot");
    assert_eq!(
        partitions[0].size,
        PartSize::Span {
            start: "1M".into(),
            end: "256M".into()
        }
    );
    assert_eq!(b.mkfs.other, vec!["-f"]);
}

#[test]
fn function_arguments_default_and_override() {
    let p = parse("function-disks.nix");
    assert_eq!(p.layout.disks[0].device, "/dev/sda");
    let opts = ParseOptions {
        args: vec![(
            "disks".into(),
            ArgValue::Expr("[ \"/dev/nvme0n1\" ]".into()),
        )],
        ..ParseOptions::default()
    };
    let p = parse_file(&fixture("function-disks.nix"), &opts).unwrap();
    assert_eq!(p.layout.disks[0].device, "/dev/nvme0n1");
    assert_eq!(p.layout.disks[0].class, Some(DeviceClass::Nvme));
    let b = fs_of(&p.layout, "main");
    assert_eq!(b.options.compress, Some(Compression::zstd(1)));
    assert!(p.layout.problems().is_empty());
    // An argument a function without `...` does not take is an error.
    let bad = ParseOptions {
        args: vec![("disk".into(), ArgValue::Str("/dev/sda".into()))],
        ..ParseOptions::default()
    };
    let e = parse_text(
        "{ disks ? [ \"/dev/sda\" ] }: { disko.devices.disk.d.device = builtins.head disks; }",
        "strict.nix",
        &bad,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not take `disk`"), "{e}");
}

#[test]
fn nixos_module_with_imports_and_unknown_config() {
    let p = parse("module/default.nix");
    let names: Vec<&str> = p.layout.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["data", "main"]);
    let main = fs_of(&p.layout, "main");
    // `-L config.networking.hostName` is unknown statically: a warning, a placeholder.
    assert_eq!(
        main.mkfs.label.as_deref(),
        Some("<unknown:config.networking.hostName>")
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("config.networking.hostName")),
        "{:?}",
        p.warnings
    );
    // Options from `import ./parts/options.nix { }`.
    assert_eq!(main.options.compress, Some(Compression::zstd(1)));
    assert_eq!(
        sub(&main, "@home").mount.as_ref().unwrap().vfs.atime,
        Some(Atime::Noatime)
    );
    let data = fs_of(&p.layout, "data");
    assert_eq!(data.top_level.as_ref().unwrap().mountpoint, "/srv/data");
    assert_eq!(data.options.compress, Some(Compression::zstd(3)));
    // `with pkgs; [...]` elsewhere in the module is never forced.
    assert!(!p.warnings.iter().any(|w| w.message.contains("pkgs")));
}

#[test]
fn let_functions_inherit_with_and_operators() {
    let p = parse("let-with-inherit.nix");
    let b = fs_of(&p.layout, "main");
    let names: Vec<&str> = b.subvolumes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["@cache", "@home", "@nix", "@postgres", "@root"]);
    assert_eq!(
        sub(&b, "@postgres").mount.as_ref().unwrap().mountpoint,
        "/var/lib/postgresql"
    );
    assert_eq!(sub(&b, "@postgres").data.purpose, Purpose::Database);
    assert_eq!(sub(&b, "@home").mount.as_ref().unwrap().mountpoint, "/home");
    assert_eq!(b.options.compress, Some(Compression::zstd(1)));
    assert_eq!(b.mkfs.label.as_deref(), Some("nixos"));
    assert_eq!(b.mkfs.checksum.as_deref(), Some("xxhash"));
    let DiskContent::Gpt { partitions } = &p.layout.disks[0].content else {
        panic!()
    };
    assert_eq!(partitions[0].size, PartSize::Fixed(Bytes::gib(1)));
    assert!(p.layout.problems().is_empty());
}

#[test]
fn luks_swap_partition_and_swap_file() {
    let p = parse("luks-swap.nix");
    let DiskContent::Gpt { partitions } = &p.layout.disks[0].content else {
        panic!()
    };
    let names: Vec<&str> = partitions.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, vec!["ESP", "swap", "luks"]);
    assert!(matches!(
        partitions[1].content,
        Some(Content::Swap(SwapPartition {
            random_encryption: true,
            ..
        }))
    ));
    let Some(Content::Luks(l)) = &partitions[2].content else {
        panic!()
    };
    assert!(l.allow_discards);
    assert_eq!(l.name, "crypted");
    let b = fs_of(&p.layout, "main");
    let swap = sub(&b, "/swap");
    assert_eq!(swap.swapfiles[0].size, Bytes::gib(8));
    assert_eq!(swap.swapfiles[0].priority, Some(5));
    assert!(p.layout.problems().is_empty());
}

#[test]
fn multi_device_btrfs_through_extra_args() {
    let p = parse("multi-device.nix");
    let b = fs_of(&p.layout, "two");
    assert_eq!(b.mkfs.data_profile.as_deref(), Some("raid1"));
    assert_eq!(b.mkfs.metadata_profile.as_deref(), Some("raid1"));
    assert_eq!(
        b.mkfs.extra_devices,
        vec!["/dev/disk/by-partlabel/disk-one-data"]
    );
    assert_eq!(p.layout.btrfs_filesystems().len(), 2);
}

#[test]
fn legacy_table_format() {
    let p = parse("legacy-table.nix");
    let DiskContent::Table { format, partitions } = &p.layout.disks[0].content else {
        panic!("{:?}", p.layout.disks[0].content)
    };
    assert_eq!(format, "msdos");
    assert_eq!(partitions.len(), 2);
    assert_eq!(partitions[1].type_code.as_deref(), Some("primary"));
    assert_eq!(
        partitions[1].size,
        PartSize::Span {
            start: "512M".into(),
            end: "100%".into()
        }
    );
    let b = fs_of(&p.layout, "vda");
    assert_eq!(sub(&b, "/root").mount.as_ref().unwrap().mountpoint, "/");
}

#[test]
fn hooks_set_attributes_and_are_kept() {
    let p = parse("hooks.nix");
    let b = fs_of(&p.layout, "main");
    assert!(sub(&b, "@vm").data.nocow);
    assert_eq!(
        sub(&b, "@media").data.compression,
        Some(CompressionProperty::Zstd)
    );
    assert!(!sub(&b, "@root").data.nocow);
    // The hook does more than set attributes: its text is kept.
    assert!(
        b.hooks
            .post_create
            .as_deref()
            .unwrap()
            .contains("btrfs-hook-ran")
    );
    assert_eq!(b.hooks.pre_mount.as_deref(), Some("echo mounting"));
}

#[test]
fn lvm_mdadm_and_nodev() {
    let p = parse("lvm-nodev.nix");
    let kinds: Vec<(String, DiskKind)> = p
        .layout
        .disks
        .iter()
        .map(|d| (d.name.clone(), d.kind))
        .collect();
    assert!(kinds.contains(&("pool/root".into(), DiskKind::LvmLv)));
    assert!(kinds.contains(&("raid".into(), DiskKind::Mdadm)));
    let lv = fs_of(&p.layout, "pool/root");
    assert_eq!(lv.options.compress.unwrap().algorithm, Algorithm::Lzo);
    assert_eq!(p.layout.nodev.len(), 1);
    assert_eq!(p.layout.nodev[0].mountpoint, "/tmp");
    assert_eq!(
        p.layout.nodev[0].mount_options,
        vec!["size=4G", "mode=1777"]
    );
}

#[test]
fn merge_and_priorities() {
    let p = parse("merge-priorities.nix");
    assert_eq!(p.layout.disks[0].device, "/dev/nvme0n1");
    let b = fs_of(&p.layout, "main");
    let names: Vec<&str> = b.subvolumes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["@home", "@log", "@nix", "@root"]);
    assert_eq!(sub(&b, "@root").mount.as_ref().unwrap().mountpoint, "/");
    // @log has no options: it asks for no compression, which the kernel ignores.
    assert!(
        sub(&b, "@log")
            .mount
            .as_ref()
            .unwrap()
            .fs_override
            .is_some()
    );
}

#[test]
fn errors_name_file_line_and_column() {
    let o = ParseOptions::default();
    let e = parse_err("error-undefined.nix", &o);
    assert!(e.contains("error-undefined.nix:4:14"), "{e}");
    assert!(e.contains("undefined variable `theDisk`"), "{e}");
    let e = parse_err("error-if-config.nix", &o);
    assert!(e.contains("error-if-config.nix:5:14"), "{e}");
    assert!(e.contains("config.services.postgresql.enable"), "{e}");
    assert!(e.contains("--arg") && e.contains("--nix-eval"), "{e}");
    let e = parse_err("error-syntax.nix", &o);
    assert!(e.contains("error-syntax.nix:4:"), "{e}");
    assert!(e.contains("syntax error"), "{e}");
    let e = parse_err("error-missing-arg.nix", &o);
    assert!(e.contains("needs the argument `disks`"), "{e}");
    assert!(e.contains("--arg disks"), "{e}");
    let e = parse_err("error-bad-option.nix", &o);
    assert!(e.contains("error-bad-option.nix:9:"), "{e}");
    assert!(e.contains("brotli"), "{e}");
    let e = parse_text("{ networking.hostName = \"x\"; }", "empty.nix", &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no `disko.devices`"), "{e}");
}

#[test]
fn unknown_values_warn_and_nothing_is_dropped() {
    let p = parse("warn-config-mkif.nix");
    assert_eq!(p.layout.disks[0].device, "<unknown:config.my.diskPath>");
    let b = fs_of(&p.layout, "main");
    // The subvolume behind `mkIf config...` is kept, with a warning.
    assert!(b.subvolume("@postgres").is_some());
    let msgs: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("config.services.postgresql.enable")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("config.my.diskPath")),
        "{msgs:?}"
    );
    // Warnings point at the file.
    assert!(p.warnings.iter().all(|w| w.at.is_some()));
}

#[test]
fn evaluator_basics() {
    let o = ParseOptions::default();
    let text = r#"
      let
        f = { a, b ? a + 1, ... }@all: a + b + (if all ? c then all.c else 0);
        s = builtins.replaceStrings [ "x" ] [ "y" ] "axbx";
        r = rec { x = 1; y = x + 1; };
        n = builtins.length (builtins.filter (v: v > 1) [ 1 2 3 ]);
        t = lib.strings.hasPrefix "/dev" "/dev/sda";
        j = builtins.fromJSON "{\"k\": [1, 2]}";
      in {
        disko.devices.disk.d = {
          type = "disk";
          device = "/dev/${s}${toString (f { a = 1; c = 10; })}${toString r.y}${toString n}${if t then "t" else "f"}${toString (builtins.elemAt j.k 1)}";
        };
      }
    "#;
    let p = parse_text(&format!("{{ lib, ... }}: {text}"), "basics.nix", &o).unwrap();
    assert_eq!(p.layout.disks[0].device, "/dev/ayby1322t2");
    // Infinite recursion is an error, not a hang or a crash.
    let e = parse_text(
        "let x = x + 1; in { disko.devices.disk.d = { device = toString x; }; }",
        "rec.nix",
        &o,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("infinite recursion"), "{e}");
    let e = parse_text(
        "let f = n: f (n + 1); in { disko.devices.disk.d = { device = f 0; }; }",
        "deep.nix",
        &o,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("too deeply") || e.contains("too long"), "{e}");
}

#[test]
fn mkfs_flags_with_values_are_not_taken_for_devices() {
    let o = mkfs_options(&["-s 4096".into(), "--uuid=abc".into(), "/dev/sdb".into()]);
    assert_eq!(o.extra_devices, ["/dev/sdb"]);
    assert_eq!(o.other, ["-s", "4096", "--uuid", "abc"]);
}
