//! `btrtune crosscheck`: do two workloads rank layouts alike? Runs a matrix (by default the
//! synthetic PostgreSQL WAL writer and real pgbench over layouts of the default matrix) and
//! reports Spearman's rank correlation between them, or analyses results already made.

use super::calibrate::{RunOpts, execute, load_matrix, print_summary};
use anyhow::{Context as _, Result, bail};
use btrtune_harness::crosscheck::{Agreement, agreement};
use btrtune_harness::matrix::Matrix;
use btrtune_workloads::Target;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `btrtune crosscheck`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo btrtune crosscheck --out results/crosscheck/
  sudo btrtune crosscheck --matrix my.toml --a wal-postgresql --b pgbench-tpcb --out r/
  btrtune crosscheck --results results/crosscheck/crosscheck.jsonl --json")]
pub struct CrosscheckArgs {
    /// A bundled matrix or a matrix file whose layouts run under both workloads.
    #[arg(long, value_name = "NAME|FILE", default_value = "crosscheck")]
    matrix: String,
    /// Workload A as recorded (`wal-postgresql`); default: the matrix's first workload.
    #[arg(long, value_name = "NAME")]
    a: Option<String>,
    /// Workload B (`pgbench-tpcb`); default: the matrix's second workload.
    #[arg(long, value_name = "NAME")]
    b: Option<String>,
    /// Only analyse this results file (no runs, no root).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "device"])]
    results: Option<PathBuf>,
    #[command(flatten)]
    run: Option<RunOpts>,
}

/// The names the matrix's first two workloads record under.
fn default_names(m: &Matrix) -> Result<(String, String)> {
    let mut names = Vec::new();
    for spec in &m.workloads {
        let w = btrtune_workloads::build(
            spec,
            Target::Mount {
                mountpoint: "/data".into(),
            },
        )?;
        names.push(w.name().to_string());
    }
    match names.as_slice() {
        [a, b, ..] => Ok((a.clone(), b.clone())),
        _ => bail!(
            "matrix `{}` has fewer than two workloads: name them with --a and --b",
            m.name
        ),
    }
}

/// Runs `btrtune crosscheck`.
pub fn run(a: CrosscheckArgs) -> Result<()> {
    let matrix = load_matrix(&a.matrix)?;
    let (da, db) = default_names(&matrix)?;
    let (wa, wb) = (a.a.unwrap_or(da), a.b.unwrap_or(db));
    let json = a.run.as_ref().is_some_and(|r| r.json);
    let results = match (&a.results, &a.run) {
        (Some(f), _) => f.clone(),
        (None, Some(run)) => {
            let (summary, results) = execute(&matrix, run)?;
            if !json {
                print_summary(&summary, &results);
                println!();
            }
            results
        }
        (None, None) => bail!("give --out DIR to run the matrix, or --results FILE to analyse"),
    };
    let records = btrtune_harness::record::read(&results)
        .with_context(|| format!("reading {}", results.display()))?;
    let g = agreement(&records, &wa, &wb)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&g)?);
    } else {
        print_agreement(&g);
    }
    Ok(())
}

fn cv(c: Option<f64>) -> String {
    c.map_or_else(|| "-".into(), |c| format!("{:.1}%", c * 100.0))
}

fn print_agreement(g: &Agreement) {
    println!(
        "{:<16} {:>14} {:>7} {:>3} {:>5}   {:>14} {:>7} {:>3} {:>5}",
        "layout", g.a.0, "cv", "n", "rank", g.b.0, "cv", "n", "rank"
    );
    for r in &g.layouts {
        println!(
            "{:<16} {:>14.1} {:>7} {:>3} {:>5.1}   {:>14.1} {:>7} {:>3} {:>5.1}",
            r.layout,
            r.a,
            cv(r.a_cv),
            r.a_runs,
            r.a_rank,
            r.b,
            cv(r.b_cv),
            r.b_runs,
            r.b_rank
        );
    }
    println!(
        "\nSpearman ρ = {:.3} over {} layouts (one-sided permutation p = {:.4}); Pearson r of \
         the log figures = {}",
        g.spearman,
        g.layouts.len(),
        g.p_value,
        g.pearson_log
            .map_or_else(|| "-".into(), |r| format!("{r:.3}"))
    );
    if !g.left_out.is_empty() {
        println!(
            "left out (measured under one workload only): {}",
            g.left_out.join(", ")
        );
    }
}
