//! Arbitrary input never panics a parser: the disko.nix evaluator (random bytes, random
//! token soup, and mutations of real configurations), the toolstack and tools-database
//! readers, and the bundle's findmnt reader. (The facter and metrics parsers have their own
//! property tests in `facter.rs` and `metrics.rs`.)

mod common;

use btrtune_advisor::disko::{self, parse};
use btrtune_advisor::metrics::bundle;
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::Toolstack;
use proptest::prelude::*;

/// The evaluator runs on its own thread; a panic there would surface as this message.
const CRASH: &str = "the evaluator failed unexpectedly";

fn no_crash(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = parse::parse_text(text, "fuzz.nix", &parse::ParseOptions::default()) {
        prop_assert!(!e.to_string().contains(CRASH), "{e}");
    }
    Ok(())
}

fn corpus() -> Vec<String> {
    let mut v: Vec<String> = common::cases()
        .iter()
        .take(4)
        .map(|(_, p)| disko::emit(p))
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/disko");
    for f in [
        "let-with-inherit.nix",
        "merge-priorities.nix",
        "luks-swap.nix",
        "lvm-nodev.nix",
    ] {
        v.push(std::fs::read_to_string(dir.join(f)).unwrap());
    }
    v
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ";",
    "=",
    ":",
    ".",
    "?",
    "@",
    ",",
    "...",
    "let",
    "in",
    "rec",
    "with",
    "inherit",
    "if",
    "then",
    "else",
    "assert",
    "//",
    "++",
    "+",
    "-",
    "*",
    "/",
    "==",
    "!=",
    "&&",
    "||",
    "->",
    "!",
    "x",
    "y",
    "lib",
    "builtins",
    "import",
    "./x.nix",
    "\"s\"",
    "''a ${x} b''",
    "\"${y}\"",
    "1",
    "2.5",
    "true",
    "null",
    "disko",
    "devices",
    "mkIf",
    "lib.mkMerge",
    "map",
    "f",
    "throw",
    "<nixpkgs>",
    "__curPos",
    "x: x",
    "{ a ? 1, ... }: a",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        no_crash(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn token_soup(toks in prop::collection::vec(0..TOKENS.len(), 0..80)) {
        let text: Vec<&str> = toks.iter().map(|i| TOKENS[*i]).collect();
        no_crash(&text.join(" "))?;
        no_crash(&format!("{{ disko.devices = {}; }}", text.join(" ")))?;
    }

    #[test]
    fn mutated_configurations(
        which in 0..8usize,
        cuts in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0, 0..TOKENS.len()), 1..6),
    ) {
        let c = corpus();
        let mut text = c[which % c.len()].clone();
        for (at, len, tok) in cuts {
            let n = text.len();
            let mut a = (at * n as f64) as usize;
            while a < n && !text.is_char_boundary(a) { a += 1; }
            let mut b = (a + (len * 40.0) as usize).min(n);
            while b < n && !text.is_char_boundary(b) { b += 1; }
            text.replace_range(a..b, TOKENS[tok]);
        }
        no_crash(&text)?;
    }

    #[test]
    fn toolstack_and_tools_files(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Toolstack::parse(&text, "fuzz.toml");
        let _ = ToolDb::default().add_text(&text, "fuzz.toml");
        let _ = bundle::findmnt(&text, "findmnt.json");
    }
}
