//! `btrtune diagnose`: bottlenecks with evidence, ranked recommendations, before/after
//! projections. Reads files only; never changes the system.

use super::write_atomic;
use anyhow::{Context as _, Result, bail};
use btrtune_advisor::diagnose::{self, Inputs, RULES, render};
use btrtune_advisor::disko::parse::ParseOptions;
use btrtune_advisor::metrics::observe::Symptom;
use btrtune_advisor::model::set::ModelSet;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `btrtune diagnose`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo btrtune collect -o ./bundle && btrtune diagnose --bundle ./bundle \\
      --disko /etc/nixos/disko.nix --observe \"podman pulls are slow\"
  btrtune diagnose --facter facter.json --disko disko.nix --btrfs-usage usage.txt \\
      --iostat iostat.txt --symptom slow-db-writes
  btrtune diagnose --bundle ./bundle --out-dir ./report   # report.md, diagnosis.json, \\
                                                          # disko.diff, nixos.nix, live-changes.sh
  btrtune diagnose --bundle ./bundle --json | jq '.findings[].rule'
  btrtune diagnose --bundle ./bundle --report ./plots     # report.html and report.md with plots
  btrtune diagnose --list-rules

Every input is optional: what is missing lowers confidence and is listed. Symptoms:
slow-builds, ide-freezes, slow-db-writes, slow-db-reads, slow-container-pulls,
slow-container-io, browser-stutter, general-sluggishness, enospc, slow-boot, slow-updates.")]
pub struct DiagnoseArgs {
    /// A nixos-facter report (disk class, RAM, CPU).
    #[arg(long, value_name = "FILE")]
    facter: Option<PathBuf>,
    /// The current disko.nix.
    #[arg(long, value_name = "FILE")]
    disko: Option<PathBuf>,
    /// `df` output (`df -T -k` is best).
    #[arg(long, value_name = "FILE")]
    df: Option<PathBuf>,
    /// `btrfs filesystem usage -b MOUNTPOINT` output.
    #[arg(long = "btrfs-usage", value_name = "FILE")]
    btrfs_usage: Option<PathBuf>,
    /// `iostat -x` output, several samples (text or `-o JSON`).
    #[arg(long, value_name = "FILE")]
    iostat: Option<PathBuf>,
    /// `iotop -b -o` output.
    #[arg(long, value_name = "FILE")]
    iotop: Option<PathBuf>,
    /// What feels slow, in your words; repeatable.
    #[arg(long = "observe", value_name = "TEXT")]
    observe: Vec<String>,
    /// A named symptom; repeatable.
    #[arg(long = "symptom", value_name = "NAME")]
    symptoms: Vec<String>,
    /// A bundle directory from `btrtune collect` (files given above override its own).
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// A model file or directory from `btrtune fit` (default: the shipped models).
    #[arg(long, value_name = "PATH")]
    models: Option<PathBuf>,
    /// Print the diagnosis as JSON.
    #[arg(long)]
    json: bool,
    /// Write the Markdown report here.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Write report.md, diagnosis.json, disko.diff, proposed-disko.nix, nixos.nix and
    /// live-changes.sh into this directory.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Write report.html and report.md with plots (before/after projections, the current and
    /// proposed layouts) into this directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Print the rule catalogue and exit.
    #[arg(long)]
    list_rules: bool,
}

/// Runs `btrtune diagnose`.
pub fn run(a: DiagnoseArgs) -> Result<()> {
    if a.list_rules {
        if a.json {
            println!("{}", serde_json::to_string_pretty(RULES)?);
        } else {
            for r in RULES {
                println!(
                    "{} {:<32} {:<17} {}",
                    r.id,
                    r.name,
                    r.area.as_str(),
                    r.summary
                );
            }
        }
        return Ok(());
    }
    let symptoms = a
        .symptoms
        .iter()
        .map(|s| {
            s.parse::<Symptom>()
                .map_err(|e| anyhow::anyhow!("--symptom {s}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let inputs = Inputs {
        facter: a.facter,
        disko: a.disko,
        disko_options: ParseOptions::default(),
        df: a.df,
        btrfs_usage: a.btrfs_usage,
        iostat: a.iostat,
        iotop: a.iotop,
        bundle: a.bundle,
        observations: a.observe,
        symptoms,
    };
    if inputs.facter.is_none()
        && inputs.disko.is_none()
        && inputs.df.is_none()
        && inputs.btrfs_usage.is_none()
        && inputs.iostat.is_none()
        && inputs.iotop.is_none()
        && inputs.bundle.is_none()
        && inputs.observations.is_empty()
        && inputs.symptoms.is_empty()
    {
        bail!(
            "nothing to diagnose: give --bundle DIR (from `btrtune collect`) or any of --facter, --disko, --df, --btrfs-usage, --iostat, --iotop, --observe, --symptom"
        );
    }
    let models = match &a.models {
        Some(p) => ModelSet::read(p)?,
        None => ModelSet::shipped()?,
    };
    let host = diagnose::Host::load(&inputs)?;
    let d = diagnose::diagnose_host(&host, &models);
    if let Some(p) = &a.markdown {
        write_atomic(p, &render::markdown(&d))?;
    }
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_atomic(&dir.join("report.md"), &render::markdown(&d))?;
        write_atomic(
            &dir.join("diagnosis.json"),
            &(serde_json::to_string_pretty(&d)? + "\n"),
        )?;
        write_atomic(&dir.join("live-changes.sh"), &render::script(&d))?;
        if let Some(diff) = render::disko_diff(&d) {
            write_atomic(&dir.join("disko.diff"), &diff)?;
        }
        if let Some(p) = &d.proposed_disko {
            write_atomic(&dir.join("proposed-disko.nix"), p)?;
        }
        if let Some(n) = &d.nixos_snippet {
            write_atomic(&dir.join("nixos.nix"), n)?;
        }
        eprintln!("wrote the report into {}", dir.display());
    }
    if let Some(dir) = &a.report {
        let mut layouts = Vec::new();
        if let Some(current) = &host.current {
            let mut proposed = current.clone();
            let edits: Vec<_> = d
                .recommendations
                .iter()
                .flat_map(|r| r.edits.iter().cloned())
                .collect();
            diagnose::recommend::apply(&mut proposed, &edits);
            layouts.push(("diagnosis".into(), "current".into(), current.clone()));
            layouts.push(("diagnosis".into(), "proposed".into(), proposed));
        }
        let from = super::report::ReportFrom {
            title: "btrtune diagnose".into(),
            sources: d.inputs.clone(),
            diagnosis: Some(&d),
            layouts,
            models: a.models.is_some().then_some(&models),
            ..Default::default()
        };
        let w = super::report::write_report_from(from, dir)?;
        eprintln!("{}", super::report::summary(&w, dir));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", render::text(&d));
    }
    Ok(())
}
