//! Property tests over random toolstacks: the output is deterministic, valid, has no duplicate
//! mount points, never sets a filesystem-wide option differently on two mounts of one
//! filesystem, and never compresses NOCOW data.

mod common;

use btrtune_advisor::layout::CompressionProperty;
use btrtune_advisor::layout::options::parse_mount_options;
use btrtune_advisor::plan::plan;
use btrtune_advisor::{disko, nixos};
use common::{btrfs_nodes, db, nix_to_json, toolstack};
use proptest::prelude::*;
use std::collections::BTreeSet;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn plans_are_valid_deterministic_and_obey_the_kernel((ts, hw) in toolstack()) {
        let p1 = plan(&ts, db(), hw.clone(), None).unwrap();
        let p2 = plan(&ts, db(), hw, None).unwrap();
        let text = disko::emit(&p1);
        prop_assert_eq!(&text, &disko::emit(&p2));
        prop_assert_eq!(nixos::emit(&p1), nixos::emit(&p2));
        prop_assert!(p1.layout.problems().is_empty(), "{:?}", p1.layout.problems());
        prop_assert_eq!(nixpkgs_fmt::reformat_string(&text), text.clone());

        let json = nix_to_json(&text).unwrap();
        let mut mountpoints = Vec::new();
        for node in btrfs_nodes(&json) {
            let mut fs_sets = BTreeSet::new();
            for (_, s) in node["subvolumes"].as_object().unwrap() {
                if let Some(mp) = s.get("mountpoint").and_then(|v| v.as_str()) {
                    mountpoints.push(mp.to_string());
                    let opts: Vec<String> = s["mountOptions"].as_array().unwrap().iter()
                        .map(|o| o.as_str().unwrap().to_string()).collect();
                    fs_sets.insert(parse_mount_options(&opts).unwrap().fs.to_mount_options());
                }
            }
            // One set of filesystem-wide options for every mount of the filesystem.
            prop_assert!(fs_sets.len() <= 1, "{:?}", fs_sets);
            // The hook never compresses what it makes NOCOW.
            let hook = node.get("postCreateHook").and_then(|h| h.as_str()).unwrap_or("");
            let nocow: BTreeSet<&str> = hook.lines().filter_map(|l| {
                l.trim().strip_prefix("chattr +C \"$MNTPOINT/").map(|r| r.trim_end_matches('"'))
            }).collect();
            for l in hook.lines() {
                if let Some(r) = l.trim().strip_prefix("btrfs property set \"$MNTPOINT/") {
                    let sv = r.split('"').next().unwrap();
                    prop_assert!(!nocow.contains(sv), "{} is NOCOW and compressed", sv);
                }
            }
        }
        let n = mountpoints.len();
        mountpoints.sort();
        mountpoints.dedup();
        prop_assert_eq!(n, mountpoints.len(), "duplicate mount points");

        // In the layout too, NOCOW data (system or per-user) never gets compression.
        for (_, fs) in p1.layout.btrfs_filesystems() {
            for s in &fs.subvolumes {
                if s.data.nocow {
                    prop_assert_eq!(s.data.effective_compression(&fs.options), None);
                }
            }
            for h in &fs.home_subvolumes {
                if h.data.nocow {
                    prop_assert!(h.data.compression.is_none_or(|c| c == CompressionProperty::None));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random outputs also pass the real Nix parser.
    #[test]
    fn random_outputs_parse_with_nix((ts, hw) in toolstack()) {
        if common::have_nix() {
            let p = plan(&ts, db(), hw, None).unwrap();
            prop_assert!(common::nix_parse(&disko::emit(&p)).is_ok());
            prop_assert!(common::nix_parse(&nixos::emit(&p)).is_ok());
        }
    }
}
