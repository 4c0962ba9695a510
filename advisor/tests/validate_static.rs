//! Static validation of disko.nix (`btrtune_advisor::validate`):
//!
//! - every case folder in `tests/fixtures/validate/<case>/` holds a `disko.nix` and, unless the
//!   file must pass without any finding, an `expected.txt` of `LINE CODE` pairs: the findings
//!   must be exactly these (adding a case is adding a folder);
//! - every plan btrtune makes (the bundled examples, `--tools` lists with facter reports, every
//!   priority, encryption, hibernation, no snapshots) passes without any finding;
//! - random mutations of real configurations never panic and always give a report.

mod common;

use btrtune_advisor::disko::{self, parse::ParseOptions};
use btrtune_advisor::hardware::facter;
use btrtune_advisor::plan::plan;
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::{EXAMPLES, Priority, Toolstack};
use btrtune_advisor::validate::{Severity, StaticReport, check_file, check_text};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate")
}

/// `LINE CODE` pairs, `#` comments and blank lines ignored.
fn expected(dir: &Path) -> Vec<(u32, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("expected.txt")) else {
        return vec![];
    };
    let mut v: Vec<(u32, String)> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, c) = l
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("{}: `{l}` is not `LINE CODE`", dir.display()));
            (
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("bad line number in `{l}`")),
                c.trim().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn got(r: &StaticReport) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = r
        .findings
        .iter()
        .map(|f| (f.line, f.code.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_case_folder_gives_exactly_its_expected_findings() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("disko.nix").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 12, "case folders: {}", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let file = dir.join("disko.nix");
        let r = check_file(&file, &ParseOptions::default()).unwrap();
        let want = expected(dir);
        let have = got(&r);
        if std::env::var_os("BTRTUNE_SHOW_FINDINGS").is_some() {
            println!("{}", r.text());
        }
        // Every finding is in the case's files, on a real line, with a message and a fix.
        for f in &r.findings {
            assert!(f.line >= 1 && f.column >= 1, "{}: {f:?}", dir.display());
            assert!(
                !f.fix.trim().is_empty() && !f.message.trim().is_empty(),
                "{f:?}"
            );
            assert!(f.file.starts_with(&dir.display().to_string()), "{f:?}");
        }
        if want != have {
            failures.push(format!(
                "{}:\n  expected {want:?}\n  got      {have:?}\n{}",
                dir.file_name().unwrap().to_string_lossy(),
                r.text()
            ));
        }
        let name = dir.file_name().unwrap().to_string_lossy();
        if name.starts_with("ok-") {
            assert!(r.layout.is_some(), "{name}: no layout");
        }
        // Text and JSON render.
        assert!(
            r.text()
                .contains(if r.passed() { "passed" } else { "failed" })
        );
        serde_json::to_string(&r).unwrap();
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn report_text_names_file_line_code_and_fix() {
    let dir = cases_dir().join("schema-subvolume-options");
    let text = std::fs::read_to_string(dir.join("disko.nix")).unwrap();
    let r = check_text(&text, "proposed.nix", &ParseOptions::default()).unwrap();
    assert!(!r.passed());
    let t = r.text();
    let first = &r.findings[0];
    assert!(
        t.contains(&format!(
            "proposed.nix:{}:{}: error[{}]: ",
            first.line, first.column, first.code
        )),
        "{t}"
    );
    assert!(t.contains("\n  fix: "), "{t}");
    assert!(t.trim_end().ends_with("(failed)"), "{t}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["findings"][0]["severity"], "error");
    // Sorted by file, line, column, code.
    let keys: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.line, f.column, f.code))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn unreadable_file_is_the_only_error() {
    let e = check_file(
        Path::new("/nonexistent/disko.nix"),
        &ParseOptions::default(),
    );
    assert!(e.is_err());
}

/// Plans for every bundled example and a spread of toolstacks, priorities and hardware.
fn plans() -> Vec<(String, String)> {
    let db = ToolDb::bundled().unwrap();
    let mut out: Vec<(String, String)> = common::cases()
        .into_iter()
        .map(|(n, p)| (n, disko::emit(&p)))
        .collect();
    let facter_dir = common::shared().join("corpus/facter");
    let mut facters: Vec<PathBuf> = std::fs::read_dir(&facter_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    facters.sort();
    let priorities = [
        Priority::Performance,
        Priority::Balanced,
        Priority::Durability,
    ];
    for (name, _) in EXAMPLES {
        for pr in priorities {
            for (variant, encrypt, hibernate, snapshots) in [
                ("plain", false, false, true),
                ("encrypt-hibernate", true, true, true),
                ("no-snapshots", false, false, false),
            ] {
                let mut ts = Toolstack::example(name).unwrap();
                ts.priority = pr;
                ts.encrypt |= encrypt;
                ts.hibernate |= hibernate;
                ts.snapshots &= snapshots;
                let p = plan(&ts, &db, None, None).unwrap();
                out.push((format!("example {name} {pr:?} {variant}"), disko::emit(&p)));
            }
        }
    }
    let stacks = [
        "postgresql,podman,vscode,firefox,nix",
        "mysql,redis,docker,libvirt",
        "nix,cargo,steam,thunderbird",
        "etcd,k3s,containerd",
    ];
    for (i, f) in facters.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let hw = facter::parse(&text, &f.display().to_string()).unwrap();
        for (j, tools) in stacks.iter().enumerate() {
            let mut ts = Toolstack::from_tools(tools).unwrap();
            ts.priority = priorities[(i + j) % 3];
            ts.encrypt = (i + j) % 2 == 0;
            let p = plan(&ts, &db, Some(hw.clone()), None).unwrap();
            out.push((
                format!(
                    "{} {tools} {:?}",
                    f.file_name().unwrap().to_string_lossy(),
                    ts.priority
                ),
                disko::emit(&p),
            ));
        }
    }
    out
}

#[test]
fn every_plan_output_passes_without_findings() {
    let mut failures = Vec::new();
    let all = plans();
    assert!(all.len() >= 60, "{}", all.len());
    for (name, nix) in &all {
        let r = check_text(nix, "disko.nix", &ParseOptions::default()).unwrap();
        assert!(r.layout.is_some(), "{name}: no layout");
        if !r.findings.is_empty() {
            failures.push(format!("{name}:\n{}", r.text()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn corpus() -> Vec<String> {
    let mut v: Vec<String> = common::cases()
        .iter()
        .take(2)
        .map(|(_, p)| disko::emit(p))
        .collect();
    for case in [
        "kernel-ignored-fs-options",
        "swap-hand-made",
        "mkfs-profiles",
    ] {
        v.push(std::fs::read_to_string(cases_dir().join(case).join("disko.nix")).unwrap());
    }
    v
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ";",
    "=",
    "\"",
    "''",
    "null",
    "true",
    "1",
    "\"8GB\"",
    "\"/x/\"",
    "\"home\"",
    "\"nodatacow\"",
    "\"compress=zstd\"",
    "\"noauto\"",
    "\"-d raid1\"",
    "nodatacow = true;",
    "mountpoint = \"/\";",
    "mountOptions = 3;",
    "swap.s.size = \"1G\";",
    "\"@a/b\" = { };",
    "postCreateHook = \"fallocate -l 1G /mnt/s; mkswap /mnt/s\";",
    "${",
    "#",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Any mutation gives a report (never a panic or an `Err`); a file that no longer
    /// evaluates gives an error finding; every finding has a line and a fix.
    #[test]
    fn mutations_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((0.0f64..1.0, 0usize..TOKENS.len(), 0usize..4, 0usize..40), 1..5),
    ) {
        let base = corpus();
        let mut text = base[which % base.len()].clone();
        for (pos, tok, kind, len) in edits {
            let mut at = ((text.len() as f64) * pos) as usize;
            while at > 0 && !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => text.insert_str(at, TOKENS[tok]),
                1 => {
                    let mut end = (at + len).min(text.len());
                    while end < text.len() && !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                2 => {
                    let mut end = (at + len).min(text.len());
                    while end < text.len() && !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, TOKENS[tok]);
                }
                _ => {
                    // Swap two lines.
                    let mut lines: Vec<&str> = text.lines().collect();
                    if lines.len() > 2 {
                        let a = at % lines.len();
                        let b = (at / 7 + len) % lines.len();
                        lines.swap(a, b);
                    }
                    text = lines.join("\n");
                }
            }
        }
        let r = check_text(&text, "fuzz.nix", &ParseOptions::default());
        prop_assert!(r.is_ok(), "{:?}", r.err());
        let r = r.unwrap();
        if r.layout.is_none() {
            prop_assert!(!r.findings.is_empty(), "no layout and no finding");
        }
        for f in &r.findings {
            prop_assert!(f.line >= 1 && !f.fix.is_empty(), "{:?}", f);
            if f.code.starts_with("nix/") {
                prop_assert_eq!(f.severity, Severity::Error);
            }
        }
        let _ = r.text();
    }
}

/// `BTRTUNE_VALIDATE_DIR=dir cargo test -p btrtune-advisor --test validate_static -- --ignored
/// --nocapture`: prints the report for every `*.nix` in a directory (for trying the rules on
/// real configurations).
#[test]
#[ignore = "manual: needs BTRTUNE_VALIDATE_DIR"]
fn print_reports_for_a_directory() {
    let Some(dir) = std::env::var_os("BTRTUNE_VALIDATE_DIR") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "nix"))
        .collect();
    files.sort();
    for f in files {
        let r = check_file(&f, &ParseOptions::default()).unwrap();
        println!("{}", r.text());
    }
}

/// With `nix-instantiate` (no source locations), findings still get real lines: found by the
/// attribute path in the text.
#[test]
fn nix_eval_findings_are_located_by_attribute_path() {
    if !common::have_nix() {
        return;
    }
    let dir = cases_dir().join("kernel-ignored-fs-options");
    let opts = ParseOptions {
        nix_eval: true,
        ..ParseOptions::default()
    };
    let r = check_file(&dir.join("disko.nix"), &opts).unwrap();
    let statically = check_file(&dir.join("disko.nix"), &ParseOptions::default()).unwrap();
    let codes = |r: &StaticReport| r.findings.iter().map(|f| f.code).collect::<Vec<_>>();
    assert_eq!(codes(&r), codes(&statically), "{}", r.text());
    // The line of the subvolume's `mountOptions` (the static evaluator names the item's line).
    let lines: Vec<u32> = r.findings.iter().map(|f| f.line).collect();
    assert_eq!(lines, [30, 37, 41], "{}", r.text());
}

/// The rules read the planner's own shapes: one mistake planted in a plan's disko.nix is
/// found at its line.
#[test]
fn mistakes_planted_in_a_plan_output_are_found() {
    let db = ToolDb::bundled().unwrap();
    let ts = Toolstack::from_tools("postgresql,nix").unwrap();
    let nix = disko::emit(&plan(&ts, &db, None, Some("/dev/nvme0n1")).unwrap());
    let line_of = |text: &str, needle: &str| -> u32 {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| u32::try_from(i + 1).unwrap())
            .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"))
    };
    let check = |text: &str| -> Vec<(u32, String)> {
        got(&check_text(text, "planted.nix", &ParseOptions::default()).unwrap())
    };
    assert_eq!(check(&nix), vec![]);

    // Compression for the NOCOW database subvolume, right after its chattr.
    let chattr = "chattr +C \"$MNTPOINT/@postgresql\"";
    let planted = nix.replace(
        chattr,
        &format!("{chattr}\n      btrfs property set \"$MNTPOINT/@postgresql\" compression zstd"),
    );
    let at = line_of(&planted, "compression zstd");
    assert_eq!(check(&planted), vec![(at, "nocow/compressed".to_string())]);

    // nodatacow as a mount option of the database subvolume (not the first mount): ignored,
    // and in that list it also cancels the compress= after it.
    let mp = "mountpoint = \"/var/lib/postgresql\";";
    let i = nix.find(mp).unwrap();
    let opts_at = i + nix[i..].find("mountOptions = [").unwrap() + "mountOptions = [".len();
    let mut planted = nix.clone();
    planted.insert_str(opts_at, " \"nodatacow\"");
    let at = line_of(&planted, "[ \"nodatacow\"");
    assert_eq!(
        check(&planted),
        vec![
            (at, "kernel/ignored-fs-option".to_string()),
            (at, "kernel/option-order".to_string())
        ]
    );
}
