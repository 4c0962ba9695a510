//! `btrtune workload`: list the workloads, or run one once in a directory you choose, without
//! the harness (no root, no fresh filesystem: the directory is measured as it is).

use anyhow::{Context as _, Result, bail};
use btrtune_workloads::{Measurement, RunContext, Target, WorkloadSpec, catalogue};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Arguments of `btrtune workload`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune workload list
  btrtune workload run fio randwrite-4k-fsync --dir /mnt/scratch --quick
  btrtune workload run wal postgresql --dir /var/lib/test --param clients=8 --json")]
pub struct WorkloadArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// List every workload: kind, name, and the real program it stands for.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one workload once in a directory and print what it measured.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The kind (fio, wal, containers, devtree, pgbench).
    kind: String,
    /// The name within the kind (`btrtune workload list`).
    name: String,
    /// The directory to work in (its files are the workload's; it must exist).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// A parameter, KEY=VALUE (VALUE is read as JSON when it parses, else as a string).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Quick sizes (seconds, not minutes).
    #[arg(long)]
    quick: bool,
    /// Print the measurement as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `btrtune workload`.
pub fn run(a: WorkloadArgs) -> Result<()> {
    match a.what {
        What::List { json } => list(json),
        What::Run(r) => run_one(r),
    }
}

fn list(json: bool) -> Result<()> {
    let all = catalogue();
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let width = all
        .iter()
        .map(|e| e.kind.len() + e.name.len() + 1)
        .max()
        .unwrap_or(0);
    for e in &all {
        println!(
            "{:<width$}  {}",
            format!("{} {}", e.kind, e.name),
            e.stands_for
        );
    }
    Ok(())
}

fn parse_params(params: &[String]) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--param {p}: expected KEY=VALUE");
        };
        let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        m.insert(k.to_string(), v);
    }
    Ok(m)
}

fn run_one(r: RunArgs) -> Result<()> {
    if !r.dir.is_dir() {
        bail!("--dir {}: not a directory", r.dir.display());
    }
    let spec = WorkloadSpec {
        kind: r.kind,
        name: r.name,
        params: parse_params(&r.params)?,
    };
    let w = btrtune_workloads::build(
        &spec,
        Target::Mount {
            mountpoint: "/data".into(),
        },
    )
    .with_context(|| format!("workload {}", spec.label()))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("installing the signal handler")?;
    }
    let ctx = RunContext {
        dir: &r.dir,
        device: &r.dir,
        quick: r.quick,
        interrupted: &interrupted,
    };
    let m = w
        .run(&ctx)
        .with_context(|| format!("{} in {}", w.name(), r.dir.display()))?;
    if r.json {
        let out = serde_json::json!({
            "schema_version": 1,
            "workload": w.name(),
            "params": w.params(),
            "dir": r.dir,
            "quick": r.quick,
            "measurement": m,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_measurement(w.name(), &m);
    }
    Ok(())
}

fn us(ns: f64) -> String {
    format!("{:.0} µs", ns / 1000.0)
}

fn print_measurement(name: &str, m: &Measurement) {
    println!(
        "{name}: {:.1} {} over {:.1} s",
        m.value, m.primary, m.runtime_s
    );
    if let Some(l) = &m.latency_ns {
        println!(
            "  latency   p50 {}  p99 {}  p99.9 {}",
            us(l.p50),
            us(l.p99),
            us(l.p999)
        );
    }
    if let Some(l) = &m.sync_latency_ns {
        println!("  sync      p50 {}  p99 {}", us(l.p50), us(l.p99));
    }
    if let (Some(u), Some(s)) = (m.cpu_usr_pct, m.cpu_sys_pct) {
        println!("  cpu       usr {u:.1} %  sys {s:.1} %");
    }
    for (k, v) in &m.extra {
        println!("  {k:<24} {v}");
    }
}
