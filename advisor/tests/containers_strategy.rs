//! The Podman strategy matrix against its measurements and its documentation: every profile
//! × priority × mode has a cell, every `measured` reference is a cell of the committed
//! results, the benchmark matrix's workloads are the profiles' parameters, and the tables and
//! examples in docs/containers.md are what the library prints (`BTRTUNE_BLESS=1` rewrites
//! them).

use btrtune_advisor::profiles::Mode;
use btrtune_advisor::strategy::containers::{
    self, BUNDLED_RESULTS, MODES, Measured, PRIORITIES, Request, Strategies,
};
use btrtune_advisor::toolstack::Priority;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn results_dir() -> PathBuf {
    repo().join("results/containers")
}

#[test]
fn every_profile_priority_and_mode_has_one_cell() {
    let s = Strategies::bundled().unwrap();
    let names: Vec<&str> = s.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "general",
            "many-layers",
            "high-density",
            "build-heavy",
            "multi-arch"
        ]
    );
    for p in &names {
        for pr in PRIORITIES {
            for m in MODES {
                let n = s.cells.iter().filter(|c| c.covers(p, pr, m)).count();
                assert_eq!(n, 1, "{p} {pr} {m:?}");
                let choice = containers::choose(&Request {
                    profile: p.to_string(),
                    priority: pr,
                    mode: m,
                    user: Some("alice".into()),
                    db_volumes: vec!["pgdata".into()],
                    quota: None,
                })
                .unwrap();
                assert!(
                    !choice.cell.qgroups,
                    "no qgroups unless asked: {p} {pr} {m:?}"
                );
                assert!(
                    !choice.measured.is_empty(),
                    "{p} {pr} {m:?}: no measurements"
                );
                assert!(choice.storage_conf().contains("[storage]"));
                assert!(containers::nixos_snippet(&choice).contains("storage.settings"));
                let guide = choice.migration_guide();
                assert!(guide.contains("cp -a --reflink="), "{guide}");
                assert_eq!(
                    guide.contains("chattr +C"),
                    choice.cell.db_volumes == containers::DbVolumes::Nocow
                );
                assert!(choice.measured.iter().all(|c| c.profile == *p), "{p}");
            }
        }
    }
}

#[test]
fn every_measured_reference_is_a_committed_result_cell() {
    let s = Strategies::bundled().unwrap();
    let m = Measured::load(Some(&results_dir()), &s.profiles).unwrap();
    assert!(m.provenance.runs > 0);
    for c in &s.cells {
        for r in &c.measured {
            let (layout, profile) = r.split_once('/').unwrap();
            let cell = m
                .cell(layout, profile)
                .unwrap_or_else(|| panic!("line {}: `{r}` is not in results/containers/", c.line));
            assert!(cell.overlay.is_some(), "{r}: no overlay runs");
            if layout != "ext4" {
                assert!(cell.btrfs.is_some(), "{r}: no btrfs-driver runs");
            }
        }
    }
    // Every profile was measured with both drivers on a btrfs layout.
    for p in &s.profiles {
        assert!(
            m.cells
                .iter()
                .any(|c| c.profile == p.name && c.btrfs.is_some() && c.overlay.is_some()),
            "{}",
            p.name
        );
    }
    // The JSON form carries the same matrix and cells.
    let j = containers::explain_json(Some(&results_dir())).unwrap();
    assert_eq!(j["matrix"].as_array().unwrap().len(), s.profiles.len() * 6);
    assert_eq!(
        j["measured"]["cells"].as_array().unwrap().len(),
        m.cells.len()
    );
    // The binary embeds the committed results.
    let committed = std::fs::read_to_string(results_dir().join("containers.jsonl")).unwrap();
    assert!(
        BUNDLED_RESULTS == committed,
        "the embedded results differ from results/containers/containers.jsonl: rebuild"
    );
}

#[test]
fn the_benchmark_matrix_runs_each_profile_with_both_drivers() {
    let s = Strategies::bundled().unwrap();
    let text = std::fs::read_to_string(repo().join("profiles/matrix/containers.toml")).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let mut seen = Vec::new();
    for w in t["workload"].as_array().unwrap() {
        let mut w = w.as_table().unwrap().clone();
        let driver = w.remove("containers").unwrap();
        let driver = driver.as_str().unwrap().to_string();
        if let Some(toml::Value::Table(p)) = w.remove("params") {
            w.extend(p);
        }
        assert_eq!(w.remove("runtime_s").and_then(|v| v.as_integer()), Some(6));
        let got = serde_json::to_value(&w).unwrap();
        let p = s
            .profiles
            .iter()
            .find(|p| serde_json::Value::Object(p.bench.clone()) == got)
            .unwrap_or_else(|| panic!("matrix workload {got} is no profile's `bench`"));
        seen.push((p.name.clone(), driver));
    }
    for p in &s.profiles {
        for d in ["btrfs", "overlay"] {
            assert!(
                seen.contains(&(p.name.clone(), d.to_string())),
                "{} {d}",
                p.name
            );
        }
    }
}

/// The text between `<!-- BEGIN key -->` and `<!-- END key -->`.
fn blocks(doc: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(b) = doc[at..].find("<!-- BEGIN ") {
        let start = at + b;
        let key_end = start + doc[start..].find(" -->").unwrap();
        let key = doc[start + 11..key_end].to_string();
        let body = key_end + 5;
        let end_marker = format!("<!-- END {key} -->");
        let end = body + doc[body..].find(&end_marker).expect("END marker");
        out.push((key, body..end));
        at = end + end_marker.len();
    }
    out
}

fn generated(key: &str) -> String {
    if key == "explain containers" {
        return format!(
            "\n{}",
            containers::explain_markdown(Some(&results_dir())).unwrap()
        );
    }
    // `example PROFILE PRIORITY MODE [db=VOL,...] [user=NAME] [quota=SIZE]`
    let mut it = key.split_whitespace();
    assert_eq!(it.next(), Some("example"), "{key}");
    let mut req = Request::new(it.next().unwrap());
    req.priority = it.next().unwrap().parse::<Priority>().unwrap();
    req.mode = match it.next().unwrap() {
        "rootful" => Mode::Rootful,
        _ => Mode::Rootless,
    };
    for kv in it {
        match kv.split_once('=').unwrap() {
            ("db", v) => req.db_volumes = v.split(',').map(String::from).collect(),
            ("user", v) => req.user = Some(v.into()),
            ("quota", v) => req.quota = Some(v.into()),
            (k, _) => panic!("{key}: unknown `{k}`"),
        }
    }
    let s = Strategies::bundled().unwrap();
    let m = Measured::load(Some(&results_dir()), &s.profiles).unwrap();
    format!(
        "\n{}",
        containers::example_markdown(&containers::choose_in(&s, &m, &req).unwrap())
    )
}

#[test]
fn the_docs_tables_and_examples_are_what_the_tool_prints() {
    let path = repo().join("docs/containers.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let bs = blocks(&doc);
    assert!(bs.iter().any(|(k, _)| k == "explain containers"));
    assert!(bs.iter().filter(|(k, _)| k.starts_with("example ")).count() >= 2);
    if std::env::var_os("BTRTUNE_BLESS").is_some() {
        for (key, range) in bs.into_iter().rev() {
            doc.replace_range(range, &generated(&key));
        }
        std::fs::write(&path, doc).unwrap();
        return;
    }
    for (key, range) in bs {
        let want = generated(&key);
        let have = &doc[range];
        if have != want {
            let diff = similar::TextDiff::from_lines(have, want.as_str());
            panic!(
                "docs/containers.md block `{key}` differs from what the tool prints \
                 (BTRTUNE_BLESS=1 rewrites it):\n{}",
                diff.unified_diff().header("docs", "tool")
            );
        }
    }
}
