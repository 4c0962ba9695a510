//! Snapshot tests of the generated files for every toolstack under test (insta): a change to
//! the output shows up as a reviewable diff.

mod common;

use btrtune_advisor::{disko, explain, nixos};

#[test]
fn disko_nix() {
    let cases = common::cases();
    assert!(cases.len() >= 8);
    for (name, p) in &cases {
        insta::assert_snapshot!(format!("{name}.disko"), disko::emit(p));
    }
}

#[test]
fn nixos_module() {
    for (name, p) in &common::cases() {
        insta::assert_snapshot!(format!("{name}.nixos"), nixos::emit(p));
    }
}

#[test]
fn explanations() {
    for (name, p) in &common::cases() {
        if name == "example-workstation" || name == "example-laptop-hdd" {
            insta::assert_snapshot!(format!("{name}.explain"), explain::explain(p));
        }
    }
}
