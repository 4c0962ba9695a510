//! Checks on every generated file: it parses as Nix (rnix and `nix-instantiate --parse`), is
//! already formatted, and obeys the kernel's rules as written (not only as planned).

mod common;

use btrtune_advisor::layout::options::parse_mount_options;
use btrtune_advisor::{disko, nixos};
use common::{btrfs_nodes, cases, have_nix, nix_parse, nix_to_json};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn every_generated_file_parses_with_nix() {
    if !have_nix() {
        return;
    }
    for (name, p) in cases() {
        nix_parse(&disko::emit(&p)).unwrap_or_else(|e| panic!("{name} disko.nix: {e}"));
        nix_parse(&nixos::emit(&p)).unwrap_or_else(|e| panic!("{name} nixos.nix: {e}"));
    }
}

#[test]
fn every_generated_file_is_already_formatted() {
    for (name, p) in cases() {
        for (what, text) in [
            ("disko.nix", disko::emit(&p)),
            ("nixos.nix", nixos::emit(&p)),
        ] {
            let f = nixpkgs_fmt::reformat_string(&text);
            if f != text {
                let diff: Vec<String> = text
                    .lines()
                    .zip(f.lines())
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .map(|(a, b)| format!("  ours: {a}\n  fmt:  {b}"))
                    .collect();
                panic!(
                    "{name} {what} is not nixpkgs-fmt clean:\n{}",
                    diff.join("\n")
                );
            }
        }
    }
}

#[test]
fn output_is_deterministic() {
    let a: Vec<String> = cases().iter().map(|(_, p)| disko::emit(p)).collect();
    let b: Vec<String> = cases().iter().map(|(_, p)| disko::emit(p)).collect();
    assert_eq!(a, b);
}

/// What one btrfs node of a written disko.nix says.
struct Written {
    fs_options: BTreeSet<Vec<String>>,
    mountpoints: Vec<String>,
    nocow: BTreeSet<String>,
    compressed: BTreeSet<(String, String)>,
    names: BTreeSet<String>,
}

fn read_node(node: &Value) -> Written {
    let mut w = Written {
        fs_options: BTreeSet::new(),
        mountpoints: Vec::new(),
        nocow: BTreeSet::new(),
        compressed: BTreeSet::new(),
        names: BTreeSet::new(),
    };
    let subs = node["subvolumes"].as_object().expect("subvolumes");
    for (name, s) in subs {
        w.names.insert(name.clone());
        if let Some(mp) = s.get("mountpoint").and_then(Value::as_str) {
            w.mountpoints.push(mp.to_string());
            let opts: Vec<String> = s["mountOptions"]
                .as_array()
                .expect("a mounted subvolume lists its options")
                .iter()
                .map(|o| o.as_str().unwrap().to_string())
                .collect();
            let parsed = parse_mount_options(&opts).unwrap();
            w.fs_options.insert(parsed.fs.to_mount_options());
        } else {
            assert!(
                s.get("mountOptions").is_none(),
                "{name}: options without a mount point"
            );
        }
    }
    let hook = node
        .get("postCreateHook")
        .and_then(Value::as_str)
        .unwrap_or("");
    for line in hook.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chattr +C \"$MNTPOINT/") {
            w.nocow.insert(rest.trim_end_matches('"').to_string());
        }
        if let Some(rest) = line.strip_prefix("btrfs property set \"$MNTPOINT/") {
            let (sv, tail) = rest
                .split_once("\" compression ")
                .expect("compression property");
            w.compressed.insert((sv.to_string(), tail.to_string()));
        }
    }
    w
}

#[test]
fn written_files_obey_the_kernel_rules_and_match_the_layout() {
    for (name, p) in cases() {
        let text = disko::emit(&p);
        let json = nix_to_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let nodes = btrfs_nodes(&json);
        let layouts = p.layout.btrfs_filesystems();
        assert_eq!(nodes.len(), layouts.len(), "{name}");
        let mut all_mountpoints = Vec::new();
        for (node, (_, fs)) in nodes.iter().zip(&layouts) {
            let w = read_node(node);
            // Filesystem-wide options: one set for every mount of the filesystem.
            assert!(w.fs_options.len() <= 1, "{name}: {:?}", w.fs_options);
            if let Some(o) = w.fs_options.iter().next() {
                assert_eq!(*o, fs.options.to_mount_options(), "{name}");
            }
            // NOCOW data is never compressed, and the hook does what the layout says.
            for (sv, _) in &w.compressed {
                assert!(
                    !w.nocow.contains(sv),
                    "{name}: {sv} is NOCOW and compressed"
                );
            }
            let want_nocow: BTreeSet<String> = fs
                .subvolumes
                .iter()
                .filter(|s| s.data.nocow)
                .map(|s| s.name.clone())
                .collect();
            assert_eq!(w.nocow, want_nocow, "{name}");
            let want_names: BTreeSet<String> =
                fs.subvolumes.iter().map(|s| s.name.clone()).collect();
            assert_eq!(w.names, want_names, "{name}");
            all_mountpoints.extend(w.mountpoints);
        }
        let n = all_mountpoints.len();
        all_mountpoints.sort();
        all_mountpoints.dedup();
        assert_eq!(n, all_mountpoints.len(), "{name}: duplicate mount points");
        assert!(p.layout.problems().is_empty(), "{name}");
    }
}

#[test]
fn nixos_module_holds_every_setting() {
    for (name, p) in cases() {
        let json = nix_to_json(&nixos::emit(&p)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let s = &p.layout.system;
        for c in &s.sysctls {
            assert_eq!(
                json["boot"]["kernel"]["sysctl"][&c.key].as_u64(),
                Some(c.value),
                "{name}"
            );
        }
        for n in &s.nixos {
            let mut v = &json;
            for part in n.path.split('.') {
                v = &v[part];
            }
            assert!(!v.is_null(), "{name}: {} missing", n.path);
        }
        let homes: usize = p
            .layout
            .btrfs_filesystems()
            .iter()
            .map(|(_, b)| b.home_subvolumes.len())
            .sum();
        let rules = json["systemd"]["user"]["tmpfiles"]["rules"]
            .as_array()
            .map_or(0, |a| {
                a.iter()
                    .filter(|l| l.as_str().is_some_and(|l| l.starts_with("v ")))
                    .count()
            });
        assert_eq!(rules, homes, "{name}");
        if !s.io_schedulers.is_empty() {
            let udev = json["services"]["udev"]["extraRules"].as_str().unwrap();
            for r in &s.io_schedulers {
                assert!(
                    udev.contains(&format!("ATTR{{queue/scheduler}}=\"{}\"", r.scheduler)),
                    "{name}"
                );
            }
        }
    }
}
