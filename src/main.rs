//! `btrtune`: measured btrfs layouts for NixOS.
//!
//! The binary is a thin layer: each subcommand parses its flags and calls one library
//! function. Exit status: 0 success, 1 an error in the input or the run, 2 a usage error.

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
  sudo btrtune collect -o ./bundle")]
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
    /// Gather metrics from this host into a bundle for `diagnose --bundle`.
    Collect(commands::collect::CollectArgs),
    /// Build candidate layouts on real btrfs and measure them under workloads (root).
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Release loop devices, mounts and files that an interrupted calibration left (root).
    Cleanup(commands::calibrate::CleanupArgs),
    /// List the workloads, or run one once in a directory.
    Workload(commands::workload::WorkloadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(a) => commands::plan::run(a),
        Command::Tools(a) => commands::tools::run(a),
        Command::Show(a) => commands::show::run(a),
        Command::Collect(a) => commands::collect::run_collect(a),
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Cleanup(a) => commands::calibrate::run_cleanup(a),
        Command::Workload(a) => commands::workload::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
