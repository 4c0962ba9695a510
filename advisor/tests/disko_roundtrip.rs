//! Round trip: parsing what `plan` emits gives back the same Layout (everything a disko.nix
//! holds), for every toolstack under test and for random ones.

mod common;

use btrtune_advisor::disko::{self, parse};
use btrtune_advisor::plan::plan;
use common::{cases, db, toolstack};
use proptest::prelude::*;

fn round_trip(name: &str, p: &btrtune_advisor::plan::Plan) -> Result<(), String> {
    let text = disko::emit(p);
    let parsed = parse::parse_text(&text, name, &parse::ParseOptions::default())
        .map_err(|e| format!("{name}: {e}"))?;
    if !parsed.warnings.is_empty() {
        return Err(format!("{name}: warnings {:?}", parsed.warnings));
    }
    let want = p.layout.disko_view();
    let got = parsed.layout.disko_view();
    if want != got {
        let w = serde_json::to_string_pretty(&want).unwrap();
        let g = serde_json::to_string_pretty(&got).unwrap();
        let diff: Vec<String> = w
            .lines()
            .zip(g.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {i}: plan {a} | parsed {b}"))
            .collect();
        return Err(format!("{name}: layouts differ\n{}", diff.join("\n")));
    }
    // What the parser reads is as buildable as what the planner made.
    if !parsed.layout.problems().is_empty() {
        return Err(format!("{name}: {:?}", parsed.layout.problems()));
    }
    Ok(())
}

#[test]
fn every_plan_output_round_trips() {
    for (name, p) in cases() {
        round_trip(&name, &p).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_plans_round_trip((ts, hw) in toolstack()) {
        let p = plan(&ts, db(), hw, None).unwrap();
        prop_assert!(round_trip("random.nix", &p).is_ok(), "{:?}", round_trip("random.nix", &p));
    }
}

/// `--nix-eval` (the real Nix) and the built-in evaluator read the same Layout.
#[test]
fn nix_eval_agrees_with_the_builtin_evaluator() {
    if !common::have_nix() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let real = parse::ParseOptions {
        nix_eval: true,
        nix_lib: std::env::var_os("BTRTUNE_NIXPKGS_LIB").map(Into::into),
        ..parse::ParseOptions::default()
    };
    let ours = parse::ParseOptions::default();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for (name, p) in cases() {
        let f = dir.path().join(format!("{name}.nix"));
        std::fs::write(&f, disko::emit(&p)).unwrap();
        files.push(f);
    }
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/disko");
    for f in [
        "subvolumes-compress-on-some.nix",
        "luks-swap.nix",
        "multi-device.nix",
        "legacy-table.nix",
        "hooks.nix",
        "lvm-nodev.nix",
    ] {
        files.push(fixtures.join(f));
    }
    // These need nixpkgs' lib: only when one is given (not in CI).
    if real.nix_lib.is_some() {
        for f in [
            "function-disks.nix",
            "let-with-inherit.nix",
            "merge-priorities.nix",
        ] {
            files.push(fixtures.join(f));
        }
    }
    for f in &files {
        let a = parse::parse_file(f, &ours).unwrap().layout.disko_view();
        let b = parse::parse_file(f, &real)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .layout
            .disko_view();
        assert_eq!(a.without_reasons(), b.without_reasons(), "{}", f.display());
    }
}
