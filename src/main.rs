//! `btrtune`: measured btrfs layouts for NixOS.
//!
//! The binary is a thin layer: each subcommand parses its flags and calls one library
//! function. Exit status: 0 success, 1 an error in the input or the run, 2 a usage error;
//! `validate` adds 3 (fail) and 4 (inconclusive).

#![warn(clippy::unwrap_used)]

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// btrtune: btrfs layouts for NixOS hosts that fit the work they do, with the reason for every
/// choice.
#[derive(Debug, Parser)]
#[command(name = "btrtune", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Examples:
  btrtune plan --example workstation
  btrtune plan --tools postgresql,podman,vscode,firefox,nix --facter facter.json -o disko.nix
  btrtune tools --category database
  btrtune show disko /etc/nixos/disko.nix
  sudo btrtune collect -o ./bundle
  btrtune diagnose --bundle ./bundle --disko /etc/nixos/disko.nix --observe \"builds are slow\"
  btrtune validate new/disko.nix --baseline /etc/nixos/disko.nix
  sudo btrtune validate new/disko.nix --baseline /etc/nixos/disko.nix --bench --report ./out
  btrtune report results/ram results/models/models.json -o ./report")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
enum Command {
    /// Generate an optimized disko.nix from a toolstack and the hardware.
    Plan(commands::plan::PlanArgs),
    /// List the tools and services btrtune knows.
    Tools(commands::tools::ToolsArgs),
    /// Print what btrtune understood of a facter report, a disko.nix or metrics.
    Show(commands::show::ShowArgs),
    /// Find bottlenecks with evidence; ranked recommendations with projected effects.
    Diagnose(commands::diagnose::DiagnoseArgs),
    /// Gather metrics from this host into a bundle for `diagnose --bundle`.
    Collect(commands::collect::CollectArgs),
    /// Build candidate layouts on real btrfs and measure them under workloads (root).
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Release loop devices, mounts and files that an interrupted calibration left (root).
    Cleanup(commands::calibrate::CleanupArgs),
    /// List the workloads, or run one once in a directory.
    Workload(commands::workload::WorkloadArgs),
    /// Check that two workloads rank layouts alike (the WAL writer against real pgbench).
    Crosscheck(commands::crosscheck::CrosscheckArgs),
    /// Fit per-hardware-class models from calibration results, validated by held-out layouts.
    Fit(commands::fit::FitArgs),
    /// The measured strategies for databases or containers; one engine's plan and migration.
    Explain(commands::explain::ExplainArgs),
    /// Check a proposed disko.nix before rollout: static checks, then (`--bench`) measure it
    /// against the current layout on loop devices.
    Validate(commands::validate::ValidateArgs),
    /// Write a self-contained HTML and a Markdown report with plots from results, models or a
    /// diagnosis.
    Report(commands::report::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(a) => commands::plan::run(a),
        Command::Tools(a) => commands::tools::run(a),
        Command::Show(a) => commands::show::run(a),
        Command::Diagnose(a) => commands::diagnose::run(a),
        Command::Collect(a) => commands::collect::run_collect(a),
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Cleanup(a) => commands::calibrate::run_cleanup(a),
        Command::Workload(a) => commands::workload::run(a),
        Command::Crosscheck(a) => commands::crosscheck::run(a),
        Command::Fit(a) => commands::fit::run(a),
        Command::Explain(a) => commands::explain::run(a),
        Command::Validate(a) => match commands::validate::run(a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Report(a) => commands::report::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain_message(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message
/// already holds (library errors often print their source themselves).
fn chain_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::{Cli, chain_message};

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        #[derive(Debug, thiserror::Error)]
        #[error("x.toml: {source}")]
        struct Wrapped {
            source: std::io::Error,
        }
        let e = anyhow::Error::new(Wrapped { source: io }).context("reading x.toml");
        assert_eq!(chain_message(&e), "reading x.toml: x.toml: gone");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_message(&e), "outer: inner");
    }
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
