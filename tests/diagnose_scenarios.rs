//! Diagnosis accuracy over the scenario bundles in `tests/fixtures/diagnose/`: each is a real
//! host state captured on loop-backed btrfs (`scripts/capture-diagnose-scenarios.sh`) with the
//! findings a correct diagnosis must report. Precision and recall of the scored findings
//! (severity above info, plus the info notes a scenario expects) over all scenarios must
//! reach 0.9 each.

use btrtune_advisor::diagnose::{self, Inputs, Severity, render};
use btrtune_advisor::metrics::observe::Symptom;
use btrtune_advisor::model::set::ModelSet;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GOAL: f64 = 0.9;
const MIN_SCENARIOS: usize = 12;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    facter: String,
    #[serde(default)]
    observe: Vec<String>,
    #[serde(default)]
    symptoms: Vec<String>,
    expected: Vec<String>,
    capture: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenarios() -> Vec<(String, PathBuf, Scenario)> {
    let dir = root().join("tests/fixtures/diagnose");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("tests/fixtures/diagnose exists") {
        let p = e.expect("readable entry").path();
        let f = p.join("scenario.toml");
        if !f.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable scenario.toml");
        let s: Scenario = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            !s.description.is_empty() && !s.capture.is_empty(),
            "{}",
            f.display()
        );
        let name = p
            .file_name()
            .expect("dir name")
            .to_string_lossy()
            .into_owned();
        out.push((name, p, s));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn inputs(dir: &Path, s: &Scenario) -> Inputs {
    let facter = root().join("../shared/corpus/facter").join(&s.facter);
    assert!(
        facter.is_file(),
        "{}: no facter file {}",
        dir.display(),
        facter.display()
    );
    Inputs {
        facter: Some(facter),
        disko: Some(dir.join("disko.nix")),
        bundle: Some(dir.join("bundle")),
        observations: s.observe.clone(),
        symptoms: s
            .symptoms
            .iter()
            .map(|x| {
                x.parse::<Symptom>()
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            })
            .collect(),
        ..Inputs::default()
    }
}

#[test]
fn scenario_bundles_are_diagnosed_with_precision_and_recall_of_at_least_0_9() {
    let models = ModelSet::shipped().expect("shipped models");
    let all = scenarios();
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut report = String::new();
    for (name, dir, s) in &all {
        let d = diagnose::run(&inputs(dir, s), &models)
            .unwrap_or_else(|e| panic!("{name}: diagnose failed: {e}"));
        let expected: BTreeSet<String> = s.expected.iter().cloned().collect();
        // Notes (info) are not scored as problems, but one a scenario expects must be there.
        let found: BTreeSet<String> = d
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info || expected.contains(f.rule))
            .map(|f| f.rule.to_string())
            .collect();
        for id in &expected {
            assert!(
                diagnose::RULES.iter().any(|r| r.id == id),
                "{name}: expected rule {id} is not in the catalogue"
            );
        }
        let hit = found.intersection(&expected).count();
        let extra: Vec<_> = found.difference(&expected).cloned().collect();
        let miss: Vec<_> = expected.difference(&found).cloned().collect();
        tp += hit;
        fp += extra.len();
        fn_ += miss.len();
        report.push_str(&format!(
            "{name:<40} expected {:<28} extra {:<16} missed {}\n",
            s.expected.join(","),
            extra.join(","),
            miss.join(",")
        ));
        // Every finding carries evidence, and every input-file evidence names a line.
        for f in &d.findings {
            assert!(!f.evidence.is_empty(), "{name}: {} has no evidence", f.rule);
            assert!(!f.sources.is_empty(), "{name}: {} has no source", f.rule);
        }
        // The outputs render.
        let md = render::markdown(&d);
        assert!(md.contains("## Findings"), "{name}");
        let sh = render::script(&d);
        assert!(sh.starts_with("#!/bin/sh"), "{name}");
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    eprintln!(
        "{report}\n{} scenarios: true positives {tp}, false positives {fp}, false negatives {fn_}; precision {precision:.3}, recall {recall:.3}",
        all.len()
    );
    assert!(
        all.len() >= MIN_SCENARIOS,
        "{} scenarios, need {MIN_SCENARIOS}",
        all.len()
    );
    assert!(
        precision >= GOAL && recall >= GOAL,
        "precision {precision:.3}, recall {recall:.3} (goal {GOAL}):\n{report}"
    );
}

#[test]
fn the_docs_list_every_rule() {
    let doc = std::fs::read_to_string(root().join("docs/diagnose.md")).expect("docs/diagnose.md");
    for r in diagnose::RULES {
        assert!(
            doc.contains(&format!("| {} | `{}` |", r.id, r.name)),
            "docs/diagnose.md does not list {} {}",
            r.id,
            r.name
        );
    }
}
