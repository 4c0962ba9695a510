//! The `validate --bench` figures quoted in docs/validate.md and the README are what the
//! committed runs under `results/validate/` give: re-paired by round and re-estimated here.

use btrtune_advisor::verdict::RatioEstimate;
use btrtune_harness::record::{RunRecord, read};
use std::path::Path;

/// The ratio proposed/baseline of one workload in a committed results file, paired by round.
fn estimate(file: &str, workload: &str) -> RatioEstimate {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let records = read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let side = |layout: &str| -> Vec<f64> {
        let mut runs: Vec<&RunRecord> = records
            .iter()
            .filter(|r| r.layout_name == layout && r.workload.name == workload)
            .collect();
        runs.sort_by_key(|r| r.run);
        runs.iter().map(|r| r.measurement.value).collect()
    };
    RatioEstimate::paired(&side("baseline"), &side("proposed"))
        .unwrap_or_else(|| panic!("{file}: {workload} has fewer than two pairs"))
}

/// `×R, 95 % CI L–H` as the docs print it.
fn quoted(e: &RatioEstimate) -> String {
    format!("×{:.3}, 95 % CI {:.3}–{:.3}", e.ratio, e.low, e.high)
}

#[test]
fn docs_quote_the_committed_validate_runs() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/validate.md"))
            .unwrap();
    let nocow = estimate(
        "results/validate/nocow/validate-var-lib-postgresql.jsonl",
        "wal-postgresql",
    );
    assert_eq!(nocow.pairs, 5);
    assert!(
        docs.contains(&quoted(&nocow)),
        "docs/validate.md lacks {}",
        quoted(&nocow)
    );
    for (file, workload, pairs) in [
        ("validate-var-lib-containers.jsonl", "containers-overlay", 5),
        ("validate-var-lib-postgresql.jsonl", "wal-postgresql", 5),
        (
            "validate-var-lib-postgresql.jsonl",
            "fio-randwrite-4k-fsync",
            5,
        ),
    ] {
        let e = estimate(&format!("results/validate/example/{file}"), workload);
        assert_eq!(e.pairs, pairs, "{workload}");
        assert!(
            docs.contains(&quoted(&e)),
            "docs/validate.md lacks {workload}: {}",
            quoted(&e)
        );
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let short = format!(
        "×{:.2} (95 % CI {:.2}–{:.2})",
        nocow.ratio, nocow.low, nocow.high
    );
    assert!(readme.contains(&short), "README lacks {short}");
}
