//! `btrtune plan`: toolstack + hardware -> disko.nix, NixOS module, explanation.

use super::write_atomic;
use anyhow::{Context as _, Result, bail};
use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::hardware::facter;
use btrtune_advisor::model::against_example::{self, Outcome, PurposeEffect};
use btrtune_advisor::model::set::{ModelSet, Status};
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::{EXAMPLES, HostPurpose, Priority, Toolstack};
use btrtune_advisor::{disko, explain, nixos, plan};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `btrtune plan`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune plan --example workstation
  btrtune plan --tools postgresql,podman,vscode,firefox,nix --disk /dev/nvme0n1
  btrtune plan --toolstack host.toml --facter facter.json -o disko.nix \\
      --nixos storage.nix --explain plan.md
  btrtune plan --example database-server --out-dir ./out
  btrtune plan --example laptop-hdd --json | jq .layout
  btrtune plan --list-examples
  btrtune plan --example database-server --models results/models/")]
pub struct PlanArgs {
    /// Comma-separated tools and services (`btrtune tools` lists them).
    #[arg(long, value_name = "LIST", conflicts_with_all = ["toolstack", "example"])]
    tools: Option<String>,
    /// A toolstack file (TOML: tools, priority, purpose, projects, users, `[hardware]`, ...).
    #[arg(long, value_name = "FILE", conflicts_with = "example")]
    toolstack: Option<PathBuf>,
    /// A bundled example toolstack (see --list-examples).
    #[arg(long, value_name = "NAME")]
    example: Option<String>,
    /// List the bundled examples and exit.
    #[arg(long)]
    list_examples: bool,
    /// A nixos-facter report: disk class and size, RAM, CPU.
    #[arg(long, value_name = "FILE")]
    facter: Option<PathBuf>,
    /// The disk to plan for (e.g. /dev/disk/by-id/nvme-...).
    #[arg(long, value_name = "DEV")]
    disk: Option<String>,
    /// What wins when choices conflict.
    #[arg(long, value_parser = ["performance", "balanced", "durability"])]
    priority: Option<String>,
    /// What the host is for.
    #[arg(long, value_parser = ["development", "production"])]
    purpose: Option<String>,
    /// A user (owner of project directories, allowed to use snapper); repeatable.
    #[arg(long = "user", value_name = "NAME")]
    users: Vec<String>,
    /// A project directory to give its own snapshotted subvolume; repeatable.
    #[arg(long = "project", value_name = "DIR")]
    projects: Vec<String>,
    /// Encrypt the btrfs partition with LUKS.
    #[arg(long)]
    encrypt: bool,
    /// Size swap for hibernation.
    #[arg(long)]
    hibernate: bool,
    /// Plan no snapshots.
    #[arg(long)]
    no_snapshots: bool,
    /// Add or replace tools from this file; repeatable.
    #[arg(long = "profiles", value_name = "FILE")]
    profiles: Vec<PathBuf>,
    /// Write disko.nix here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the NixOS module (sysctls, udev, tmpfiles, snapper, engine settings) here.
    #[arg(long, value_name = "FILE")]
    nixos: Option<PathBuf>,
    /// Write the Markdown explanation of every choice here.
    #[arg(long, value_name = "FILE")]
    explain: Option<PathBuf>,
    /// Write disko.nix, nixos.nix, plan.md and plan.json into this directory.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Print the plan (layout, conflicts, warnings, projections) as JSON instead of disko.nix.
    #[arg(long)]
    json: bool,
    /// A model file or directory from `btrtune fit` (default: the shipped models).
    #[arg(long, value_name = "MODELS")]
    models: Option<PathBuf>,
}

/// Runs `btrtune plan`.
pub fn run(a: PlanArgs) -> Result<()> {
    if a.list_examples {
        for (name, text) in EXAMPLES {
            let t = Toolstack::parse(text, name)?;
            println!("{name:<16} {}", t.description.unwrap_or_default());
        }
        return Ok(());
    }
    let mut db = ToolDb::bundled()?;
    for p in &a.profiles {
        db.add_file(p)?;
    }
    let mut stack = match (&a.tools, &a.toolstack, &a.example) {
        (Some(t), _, _) => Toolstack::from_tools(t)?,
        (_, Some(f), _) => Toolstack::read(f)?,
        (_, _, Some(e)) => Toolstack::example(e)?,
        _ => bail!(
            "say what runs on the host: --tools LIST, --toolstack FILE or --example NAME \
             (try --example workstation)"
        ),
    };
    if let Some(p) = &a.priority {
        stack.priority = p.parse::<Priority>().map_err(anyhow::Error::msg)?;
    }
    if let Some(p) = &a.purpose {
        stack.purpose = p.parse::<HostPurpose>().map_err(anyhow::Error::msg)?;
    }
    stack.users.extend(a.users.iter().cloned());
    for p in &a.projects {
        let p = p.trim_end_matches('/');
        if !p.starts_with('/') {
            bail!("--project {p}: give an absolute path");
        }
        stack.projects.push(p.to_string());
    }
    stack.encrypt |= a.encrypt;
    stack.hibernate |= a.hibernate;
    if a.no_snapshots {
        stack.snapshots = false;
    }
    let hardware = a
        .facter
        .as_ref()
        .map(|f| facter::read(f))
        .transpose()
        .context("reading the facter report")?;
    let plan = plan::plan(&stack, &db, hardware, a.disk.as_deref())?;

    let models = match &a.models {
        Some(p) => ModelSet::read(p)?,
        None => ModelSet::shipped()?,
    };
    let class = plan.input.disk.class;
    let effects = against_example::effects(&plan.layout, class, &models);
    let disko_text = disko::emit(&plan);
    let explained = explain::explain(&plan) + &against_example::markdown(&effects, class);
    let json = serde_json::to_string_pretty(&PlanJson {
        plan: &plan,
        projected_against_disko_example: &effects,
    })? + "\n";
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_atomic(&dir.join("disko.nix"), &disko_text)?;
        write_atomic(&dir.join("nixos.nix"), &nixos::emit(&plan))?;
        write_atomic(&dir.join("plan.md"), &explained)?;
        write_atomic(&dir.join("plan.json"), &json)?;
        eprintln!(
            "wrote disko.nix, nixos.nix, plan.md and plan.json to {}",
            dir.display()
        );
    }
    if let Some(p) = &a.nixos {
        write_atomic(p, &nixos::emit(&plan))?;
    }
    if let Some(p) = &a.explain {
        write_atomic(p, &explained)?;
    }
    if let Some(p) = &a.output {
        write_atomic(p, &disko_text)?;
    }
    if a.json {
        print!("{json}");
    } else if a.output.is_none() && a.out_dir.is_none() {
        print!("{disko_text}");
    }
    summary(&plan, a.nixos.is_some() || a.out_dir.is_some());
    print_effects(&effects, class);
    Ok(())
}

/// The plan as JSON, with its projections.
#[derive(serde::Serialize)]
struct PlanJson<'a> {
    #[serde(flatten)]
    plan: &'a plan::Plan,
    projected_against_disko_example: &'a [PurposeEffect],
}

/// The per-purpose projections, on standard error beside the summary.
fn print_effects(effects: &[PurposeEffect], class: DeviceClass) {
    if effects.is_empty() {
        return;
    }
    eprintln!(
        "projected effect against disko's example layout (example/btrfs-subvolumes.nix: CoW, \
         nothing compressed, relatime) on {class}, after/before with 95% interval:"
    );
    for e in effects {
        let what = match &e.outcome {
            Outcome::Projected(c) => format!(
                "{:<14} x{:<5.2} [{:.2}, {:.2}]{}  {}{}",
                c.metric,
                c.ratio.value,
                c.ratio.low,
                c.ratio.high,
                if c.capped {
                    " capped at the device"
                } else {
                    ""
                },
                if c.changes.is_empty() {
                    "same treatment".to_string()
                } else {
                    c.changes.join(" ")
                },
                match c.status {
                    Status::Measured => String::new(),
                    s => format!("  ({})", s.label()),
                }
            ),
            Outcome::Measured {
                metric,
                ratio,
                low,
                high,
                n,
                what,
            } => {
                format!("{metric:<14} x{ratio:<5.2} [{low:.2}, {high:.2}] over {n} rounds  {what}")
            }
            Outcome::NotProjected(why) => format!("not projected: {why}"),
        };
        eprintln!(
            "  {:<17} {:<24} {:<23} {what}",
            e.purpose.as_str(),
            e.mountpoint,
            e.workload
        );
    }
}

/// A few lines on standard error: conflicts, warnings, where the rest is.
fn summary(plan: &plan::Plan, nixos_written: bool) {
    for w in &plan.warnings {
        eprintln!("warning: {}", w.text);
    }
    for c in &plan.conflicts {
        eprintln!(
            "conflict: {}: wanted {}; chose {}",
            c.subject,
            c.wanted.join(" vs "),
            c.chosen
        );
    }
    let s = &plan.layout.system;
    let n = s.sysctls.len() + s.io_schedulers.len() + s.tmpfiles.len() + s.nixos.len();
    if !nixos_written && n > 0 {
        eprintln!(
            "note: {n} NixOS settings (sysctls, I/O scheduler, snapper, ...) go with this layout: \
             add --nixos FILE to write them"
        );
    }
}
