//! The database decision matrix: coverage of every engine and priority, every cell backed by
//! committed measurements, and docs/databases.md's tables equal to what the tool prints from
//! those results (so the docs cannot drift from `results/`).
//!
//! `BTRTUNE_UPDATE_DOCS=1 cargo test -p btrtune-advisor --test db_strategy` rewrites the
//! generated blocks of docs/databases.md from the committed results.

use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::profiles::{Category, ToolDb};
use btrtune_advisor::strategy::db::{self, DbMatrix, PRIORITIES, Placement};
use btrtune_advisor::strategy::measured::Results;
use btrtune_advisor::toolstack::{Priority, Toolstack};
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn every_database_engine_has_a_cell_for_every_priority_and_class() {
    let m = DbMatrix::bundled().unwrap();
    let tools = ToolDb::bundled().unwrap();
    let engines: Vec<String> = tools
        .tools()
        .filter(|t| t.category == Category::Database)
        .map(|t| t.name.clone())
        .collect();
    assert!(engines.len() >= 10, "{engines:?}");
    for e in &engines {
        for p in PRIORITIES {
            for class in DeviceClass::ALL {
                let c = m
                    .choose(e, p, class)
                    .unwrap_or_else(|| panic!("no cell for {e}, {p}, {class}"));
                assert!(!c.cell.sources.is_empty() && !c.cell.measured.is_empty());
                assert!(!c.cell.why.is_empty());
                assert_eq!(
                    c.slow_note.is_some(),
                    class.is_slow_media() && c.cell.slow.is_some()
                );
            }
        }
    }
    // Every engine named by the matrix is a tool the database knows.
    for f in &m.families {
        for e in &f.engines {
            assert!(
                engines.contains(e),
                "family {} names unknown engine {e}",
                f.name
            );
        }
    }
    // NOCOW data keeps its torn-page protection on: full_page_writes and the doublewrite buffer.
    for f in &m.families {
        for c in &f.cells {
            for (k, v) in [("full_page_writes", "on"), ("innodb_doublewrite", "ON")] {
                if let Some(got) = c.settings.get(k) {
                    assert_eq!(got, v, "{} {}", f.name, c.priority);
                }
            }
            if c.nocow {
                assert_eq!(c.placement, Placement::Subvolume);
            }
        }
    }
}

#[test]
fn every_measured_reference_has_committed_runs_on_both_sides() {
    let m = DbMatrix::bundled().unwrap();
    let r = Results::read_dir(&repo().join("results/databases")).unwrap();
    let bundled = Results::bundled().unwrap();
    for f in &m.families {
        for c in &f.cells {
            for x in &c.measured {
                let e = x.effect_on(&r, "virtio").unwrap_or_else(|| {
                    panic!(
                        "{} {}: no virtio runs for {}",
                        f.name,
                        c.priority,
                        x.label()
                    )
                });
                assert!(e.n >= 3, "{}: only {} paired rounds", x.label(), e.n);
                // The binary ships exactly the committed results.
                assert_eq!(x.effects(&bundled), x.effects(&r));
            }
        }
    }
}

/// The generated blocks of docs/databases.md: marker name and what the tool prints for it.
fn generated() -> Vec<(&'static str, String)> {
    let m = DbMatrix::bundled().unwrap();
    let r = Results::read_dir(&repo().join("results/databases")).unwrap();
    let pg = m
        .choose("postgresql", Priority::Balanced, DeviceClass::Nvme)
        .unwrap();
    let plan = pg.backup_plan("/var/lib/postgresql");
    let backup = format!(
        "```nix\n{}```\n\n```\n{}```",
        plan.snapper.unwrap(),
        plan.btrbk.unwrap()
    );
    let migration = format!("```sh\n{}```", pg.migration_script("/var/lib/postgresql"));
    // The database partition of the bundled database-server example's disko.nix.
    let ts = Toolstack::example("database-server").unwrap();
    let p = btrtune_advisor::plan::plan(&ts, &ToolDb::bundled().unwrap(), None, None).unwrap();
    let disko = btrtune_advisor::disko::emit(&p);
    let lines: Vec<&str> = disko.lines().collect();
    let a = lines
        .iter()
        .position(|l| l.trim() == "postgresql = {")
        .expect("the database-server example has a postgresql partition");
    let indent = lines[a].len() - lines[a].trim_start().len();
    let b = a + lines[a..]
        .iter()
        .position(|l| l.trim() == "};" && l.len() - l.trim_start().len() == indent)
        .unwrap();
    let partition = format!("```nix\n{}\n```", lines[a..=b].join("\n"));
    vec![
        ("tables", db::explain_markdown(&m, &r)),
        ("goals", db::goals_markdown(&m, &r)),
        ("partition", partition),
        ("backup", backup),
        ("migration", migration),
    ]
}

fn marks(name: &str) -> (String, String) {
    (
        format!("<!-- generated: {name} -->"),
        format!("<!-- end generated {name} -->"),
    )
}

fn block(doc: &str, name: &str) -> Option<(usize, usize)> {
    let (begin, end) = marks(name);
    let a = doc.find(&begin)? + begin.len();
    let b = doc[a..].find(&end)? + a;
    Some((a, b))
}

#[test]
fn docs_blocks_are_what_the_tool_prints_from_the_committed_results() {
    let path = repo().join("docs/databases.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let update = std::env::var("BTRTUNE_UPDATE_DOCS").as_deref() == Ok("1");
    for (name, text) in generated() {
        let (a, b) = block(&doc, name)
            .unwrap_or_else(|| panic!("docs/databases.md lacks the `{name}` markers"));
        let want = format!("\n{}\n", text.trim_matches('\n'));
        if update {
            doc.replace_range(a..b, &want);
        } else {
            assert_eq!(
                doc[a..b].trim_matches('\n'),
                want.trim_matches('\n'),
                "docs/databases.md's `{name}` block differs from what the tool prints; \
                 BTRTUNE_UPDATE_DOCS=1 cargo test -p btrtune-advisor --test db_strategy \
                 regenerates it"
            );
        }
    }
    if update {
        std::fs::write(&path, doc).unwrap();
    }
}

/// docs/snapshot-safety.md's outcome table: runs, consistent / snapshots, recovered, amcheck
/// ok and invariant ok per layout and configuration, recounted from the committed results.
#[test]
fn snapshot_safety_outcomes_in_the_docs_match_the_committed_results() {
    use std::collections::BTreeMap;
    let text =
        std::fs::read_to_string(repo().join("results/snapshot-safety/snapshot-safety.jsonl"))
            .unwrap();
    let mut counts: BTreeMap<(String, String), [u64; 6]> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["quick"].as_bool() == Some(true) {
            continue;
        }
        let name = r["workload"]["name"].as_str().unwrap();
        let config = name.trim_start_matches("pgsnapshot-").to_string();
        let layout = r["layout_name"].as_str().unwrap().to_string();
        let x = &r["measurement"]["extra"];
        let n = |k: &str| x[k].as_f64().unwrap_or_else(|| panic!("{k} missing")) as u64;
        let c = counts.entry((layout, config)).or_default();
        c[0] += 1;
        c[1] += n("consistent");
        c[2] += n("snapshots");
        c[3] += n("recovered");
        c[4] += n("amcheck_ok");
        c[5] += n("invariant_ok");
    }
    assert!(counts.len() >= 8, "{counts:?}");
    let doc = std::fs::read_to_string(repo().join("docs/snapshot-safety.md")).unwrap();
    for ((layout, config), c) in &counts {
        let row = format!(
            "| {layout} | {config} | {} | {} / {} | {} | {} | {} |",
            c[0], c[1], c[2], c[3], c[4], c[5]
        );
        assert!(
            doc.contains(&row),
            "docs/snapshot-safety.md has no row starting `{row}` (python3 \
             results/snapshot-safety/table.py regenerates the table)"
        );
    }
}
