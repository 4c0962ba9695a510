//! `btrtune explain db|containers`: the measured decision matrices, and for one engine the
//! choice, its snapshot and backup plan and the migration steps for the user's path.

use anyhow::{Context as _, Result, bail};
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::strategy::containers;
use btrtune_advisor::strategy::db::{self, DbMatrix};
use btrtune_advisor::strategy::measured::Results;
use btrtune_advisor::toolstack::Priority;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Which matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Topic {
    /// Databases: PostgreSQL, MySQL/MariaDB, SQLite, Redis, etcd and the other stateful services.
    Db,
    /// Podman / containers-storage: storage driver, layout, storage.conf, snapshots.
    Containers,
}

/// Arguments of `btrtune explain`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune explain db
  btrtune explain db --engine postgresql --priority balanced --class nvme --path /var/lib/postgresql
  btrtune explain db --engine mariadb --priority performance --json
  btrtune explain containers
  btrtune explain db --results results/databases/   # numbers from your own calibration")]
pub struct ExplainArgs {
    /// db or containers.
    topic: Topic,
    /// Read measured numbers from this results directory instead of the shipped ones.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// Databases: one engine (a tools database name: postgresql, mariadb, sqlite, redis...).
    #[arg(long)]
    engine: Option<String>,
    /// With --engine: the priority (performance, balanced, durability).
    #[arg(long, default_value = "balanced")]
    priority: String,
    /// With --engine: the device class (nvme, sata-ssd, virtio, hdd, emmc, sd, usb).
    #[arg(long, default_value = "nvme")]
    class: String,
    /// With --engine: the data directory to generate the backup plan and migration for.
    #[arg(long)]
    path: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, s: &str, expected: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .with_context(|| format!("--{what} `{s}`: expected one of {expected}"))
}

/// Runs `btrtune explain`.
pub fn run(a: ExplainArgs) -> Result<()> {
    match a.topic {
        Topic::Containers => {
            if a.engine.is_some() {
                bail!("--engine is for `explain db`");
            }
            if a.json {
                let v = containers::explain_json(a.results.as_deref())?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", containers::explain_markdown(a.results.as_deref())?);
            }
            Ok(())
        }
        Topic::Db => explain_db(&a),
    }
}

fn explain_db(a: &ExplainArgs) -> Result<()> {
    let matrix = DbMatrix::bundled()?;
    let results = match &a.results {
        Some(dir) => Results::read_dir(dir)?,
        None => Results::bundled()?,
    };
    let Some(engine) = &a.engine else {
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&db::explain_json(&matrix, &results))?
            );
        } else {
            println!("# Database strategies, measured\n");
            print!("{}", db::explain_markdown(&matrix, &results));
            println!("## Goals (PostgreSQL, pgbench -N)\n");
            print!("{}", db::goals_markdown(&matrix, &results));
        }
        return Ok(());
    };
    let priority: Priority =
        parse_enum("priority", &a.priority, "performance, balanced, durability")?;
    let class: DeviceClass = parse_enum(
        "class",
        &a.class,
        "nvme, sata-ssd, virtio, hdd, emmc, sd, usb, ram",
    )?;
    let Some(choice) = matrix.choose(engine, priority, class) else {
        let known: Vec<&str> = matrix
            .families
            .iter()
            .flat_map(|f| f.engines.iter().map(String::as_str))
            .collect();
        bail!(
            "--engine `{engine}`: no strategy; engines with one: {}",
            known.join(", ")
        );
    };
    if let Some(p) = &a.path
        && !p.starts_with('/')
    {
        bail!("--path `{p}`: expected an absolute path (the data directory)");
    }
    // Without --path: the family's usual data directory, when it has one (embedded
    // databases such as SQLite live wherever their application puts them).
    let path = a.path.clone().or_else(|| {
        let dirs: Vec<&str> = choice
            .family
            .data
            .split(',')
            .map(str::trim)
            .filter(|d| d.starts_with('/') && !d.contains('*'))
            .collect();
        dirs.iter()
            .find(|d| d.contains(engine.as_str()))
            .or(if dirs.len() == 1 { dirs.first() } else { None })
            .map(|d| d.to_string())
    });
    let plan = path.as_deref().map(|p| choice.backup_plan(p));
    let migration = path.as_deref().map(|p| choice.migration_script(p));
    if a.json {
        let measured: Vec<_> = choice
            .cell
            .measured
            .iter()
            .map(|r| serde_json::json!({ "ref": r, "effects": db::effects_json(r, &results) }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema_version": 1,
                "engine": engine,
                "family": choice.family.name,
                "priority": priority,
                "class": class,
                "path": path,
                "cell": choice.cell,
                "slow_media_note": choice.slow_note,
                "measured": measured,
                "settings": choice.settings_lines(),
                "backup_plan": plan,
                "migration_script": migration,
            }))?
        );
        return Ok(());
    }
    println!(
        "# {engine} ({} family), priority {priority}, {class}\n",
        choice.family.name
    );
    println!("**{}**\n\n{}\n", choice.summary(), choice.cell.why);
    if let Some(n) = &choice.slow_note {
        println!("On this medium: {n}\n");
    }
    for r in &choice.cell.measured {
        let effects = r.effects(&results);
        if effects.is_empty() {
            println!("- {}: not measured in these results", r.label());
        }
        for (class, e) in effects {
            println!(
                "- measured on {class}, {}: {} ({:.0} vs {:.0} {})",
                r.label(),
                e.short(),
                e.value,
                e.baseline_value,
                e.unit
            );
        }
    }
    if !choice.cell.settings.is_empty() {
        println!("\n## Engine settings\n");
        if let Some(p) = &choice.family.settings_path {
            println!("NixOS: `{p}`\n");
        }
        for l in choice.settings_lines() {
            println!("    {l}");
        }
    }
    let (Some(path), Some(plan), Some(migration)) = (path, plan, migration) else {
        println!(
            "\n{} has no usual data directory (its data is {}): give --path DIR for its \
             snapshot plan and migration script.",
            engine, choice.family.data
        );
        return Ok(());
    };
    println!(
        "\n## Snapshots and backups\n\n- snapshots: {}\n- consistency: {}\n- backups: {}\n- cost: {}",
        plan.frequency.as_str(),
        plan.consistency,
        plan.backup,
        plan.cost
    );
    if let Some(s) = &plan.snapper {
        println!("\nsnapper (NixOS):\n\n```nix\n{s}```");
    }
    if let Some(b) = &plan.btrbk {
        println!("\nor btrbk.conf:\n\n```\n{b}```");
    }
    println!("\n## Migration of {path}\n\n```sh\n{migration}```");
    Ok(())
}
