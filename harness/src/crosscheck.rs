//! Do two workloads rank layouts alike? The check of a synthetic workload against the real
//! program it stands for (the WAL writer against real pgbench): per layout, the geometric
//! mean of each workload's headline metric over its runs; then Spearman's ρ between the two
//! orders, with a permutation p-value.

use crate::error::HarnessError;
use crate::record::RunRecord;
use btrtune_advisor::stats;
use serde::Serialize;
use std::collections::BTreeMap;

/// One layout's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayoutRow {
    /// Candidate name.
    pub layout: String,
    /// Geometric mean of workload A's metric.
    pub a: f64,
    /// Its coefficient of variation over runs (`None` with one run).
    pub a_cv: Option<f64>,
    /// Runs of A.
    pub a_runs: usize,
    /// Rank of A's figure among the layouts (1 = slowest; ties share).
    pub a_rank: f64,
    /// Geometric mean of workload B's metric.
    pub b: f64,
    /// Its coefficient of variation.
    pub b_cv: Option<f64>,
    /// Runs of B.
    pub b_runs: usize,
    /// Rank of B's figure.
    pub b_rank: f64,
}

/// The agreement of two workloads over layouts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Workload A's name and metric.
    pub a: (String, String),
    /// Workload B's name and metric.
    pub b: (String, String),
    /// Layouts measured under both, in the order of A's figure (best first).
    pub layouts: Vec<LayoutRow>,
    /// Spearman's ρ.
    pub spearman: f64,
    /// One-sided permutation p-value (ρ at least this large by chance).
    pub p_value: f64,
    /// Pearson's r of the log figures (do the effect sizes agree too?).
    pub pearson_log: Option<f64>,
    /// Layouts measured under only one of the two (left out).
    pub left_out: Vec<String>,
}

/// Compares workloads named `a` and `b` (as in [`RunRecord::workload`]) over the layouts
/// both ran on. Needs at least three shared layouts.
pub fn agreement(records: &[RunRecord], a: &str, b: &str) -> Result<Agreement, HarnessError> {
    type PerLayout = BTreeMap<String, (Vec<f64>, String)>;
    let collect = |name: &str| -> PerLayout {
        let mut m = PerLayout::new();
        for r in records.iter().filter(|r| r.workload.name == name) {
            let e = m
                .entry(r.layout_name.clone())
                .or_insert_with(|| (Vec::new(), r.measurement.primary.clone()));
            e.0.push(r.measurement.value);
        }
        m
    };
    let (ma, mb) = (collect(a), collect(b));
    let names = |m: &PerLayout| m.keys().cloned().collect::<Vec<_>>();
    for (w, m) in [(a, &ma), (b, &mb)] {
        if m.is_empty() {
            let have: std::collections::BTreeSet<&str> =
                records.iter().map(|r| r.workload.name.as_str()).collect();
            return Err(HarnessError::Layout(format!(
                "no runs of workload `{w}` in the results; they hold: {}",
                have.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let shared: Vec<String> = names(&ma)
        .into_iter()
        .filter(|l| mb.contains_key(l))
        .collect();
    let mut left_out: Vec<String> = names(&ma)
        .into_iter()
        .chain(names(&mb))
        .filter(|l| !shared.contains(l))
        .collect();
    left_out.sort();
    left_out.dedup();
    if shared.len() < 3 {
        return Err(HarnessError::Layout(format!(
            "`{a}` and `{b}` share {} layouts; a rank correlation needs at least 3",
            shared.len()
        )));
    }
    let gm = |v: &[f64]| stats::geomean(v).unwrap_or(0.0);
    let xa: Vec<f64> = shared.iter().map(|l| gm(&ma[l].0)).collect();
    let xb: Vec<f64> = shared.iter().map(|l| gm(&mb[l].0)).collect();
    let (ra, rb) = (stats::ranks(&xa), stats::ranks(&xb));
    let spearman = stats::spearman(&xa, &xb).ok_or_else(|| {
        HarnessError::Layout(format!(
            "`{a}` or `{b}` gave every layout the same figure: no ranking to compare"
        ))
    })?;
    let p_value = stats::spearman_p_value(&xa, &xb, 99_999).unwrap_or(1.0);
    let logs = |v: &[f64]| {
        v.iter()
            .map(|x| x.max(f64::MIN_POSITIVE).ln())
            .collect::<Vec<_>>()
    };
    let pearson_log = stats::pearson(&logs(&xa), &logs(&xb));
    let mut layouts: Vec<LayoutRow> = shared
        .iter()
        .enumerate()
        .map(|(i, l)| LayoutRow {
            layout: l.clone(),
            a: xa[i],
            a_cv: stats::cv(&ma[l].0),
            a_runs: ma[l].0.len(),
            a_rank: ra[i],
            b: xb[i],
            b_cv: stats::cv(&mb[l].0),
            b_runs: mb[l].0.len(),
            b_rank: rb[i],
        })
        .collect();
    layouts.sort_by(|x, y| y.a.total_cmp(&x.a));
    let metric = |m: &PerLayout| m.values().next().map(|v| v.1.clone()).unwrap_or_default();
    Ok(Agreement {
        a: (a.to_string(), metric(&ma)),
        b: (b.to_string(), metric(&mb)),
        layouts,
        spearman,
        p_value,
        pearson_log,
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(layout: &str, workload: &str, value: f64) -> RunRecord {
        let mut r = crate::record::tests::record(&format!("{layout}/{workload}"), 1);
        r.layout_name = layout.into();
        r.workload.name = workload.into();
        r.measurement.primary = if workload == "a" {
            "commits_per_s"
        } else {
            "tps"
        }
        .into();
        r.measurement.value = value;
        r
    }
    #[test]
    fn agreement_over_shared_layouts() {
        let mut r = Vec::new();
        for (l, a, b) in [
            ("cow", 100.0, 10.0),
            ("nocow", 200.0, 25.0),
            ("zstd", 90.0, 9.0),
            ("ext4", 400.0, 30.0),
        ] {
            r.push(rec(l, "a", a));
            r.push(rec(l, "a", a * 1.1));
            r.push(rec(l, "b", b));
        }
        r.push(rec("only-a", "a", 5.0));
        let g = agreement(&r, "a", "b").unwrap();
        assert!((g.spearman - 1.0).abs() < 1e-12);
        assert!((g.p_value - 1.0 / 24.0).abs() < 1e-12, "{}", g.p_value);
        assert_eq!(g.left_out, ["only-a"]);
        assert_eq!(g.layouts[0].layout, "ext4");
        assert_eq!(g.layouts[0].a_runs, 2);
        assert_eq!((g.a.1.as_str(), g.b.1.as_str()), ("commits_per_s", "tps"));
        assert!((g.layouts[0].a - 400.0 * 1.1f64.sqrt()).abs() < 1e-9);
        // Swap two layouts in B: ρ drops.
        let mut swapped = r.clone();
        for x in &mut swapped {
            if x.workload.name == "b" && x.layout_name == "ext4" {
                x.measurement.value = 1.0;
            }
        }
        assert!(agreement(&swapped, "a", "b").unwrap().spearman < 0.5);
    }

    #[test]
    fn clear_errors() {
        let r = vec![rec("cow", "a", 1.0), rec("cow", "b", 1.0)];
        let e = agreement(&r, "a", "c").unwrap_err().to_string();
        assert!(
            e.contains("no runs of workload `c`") && e.contains("a, b"),
            "{e}"
        );
        let e = agreement(&r, "a", "b").unwrap_err().to_string();
        assert!(e.contains("share 1 layouts"), "{e}");
    }
}
