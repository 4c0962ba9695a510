//! `btrtune show`: print what btrtune understood of an input, for people and scripts.

use anyhow::{Context as _, Result, bail};
use btrtune_advisor::disko::parse::{self, ArgValue, ParseOptions};
use btrtune_advisor::hardware::facter;
use btrtune_advisor::layout::{Content, DiskContent, Layout};
use clap::{Args, Subcommand};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `btrtune show`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune show facter facter.json
  btrtune show disko disko.nix --arg disks '[ \"/dev/nvme0n1\" ]'
  btrtune show disko flake/hosts/lab/disko.nix --nix-eval --json
  btrtune show metrics btrfs-usage.txt
  btrtune show metrics ./bundle")]
pub struct ShowArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// A nixos-facter report: the hardware profile.
    Facter {
        /// The report.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A disko.nix: every filesystem, its options, and each subvolume.
    Disko(DiskoArgs),
    /// A metrics file (df, btrfs usage/df/device stats, iostat, iotop, pressure) or a bundle
    /// directory from `btrtune collect`.
    Metrics {
        /// The file or bundle directory.
        path: PathBuf,
        /// The kind of file, when it cannot be told from its content.
        #[arg(long, value_parser = ["df", "btrfs-usage", "btrfs-df", "device-stats", "iostat", "iotop", "pressure"])]
        kind: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How to read a disko.nix (shared with other commands).
#[derive(Debug, Args)]
pub struct DiskoArgs {
    /// The disko.nix.
    pub file: PathBuf,
    /// A function argument as a Nix expression (`--arg disks '[ "/dev/sda" ]'`); repeatable.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    pub arg: Vec<String>,
    /// A function argument as a string; repeatable.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STRING"], action = clap::ArgAction::Append)]
    pub argstr: Vec<String>,
    /// Evaluate with the real Nix (`nix-instantiate`) instead of the built-in evaluator.
    #[arg(long)]
    pub nix_eval: bool,
    /// nixpkgs' `lib` directory for --nix-eval (default: `<nixpkgs/lib>` from NIX_PATH).
    #[arg(long, value_name = "DIR")]
    pub nix_lib: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl DiskoArgs {
    /// The parse options these flags ask for.
    pub fn options(&self) -> ParseOptions {
        let mut args = Vec::new();
        for pair in self.arg.chunks(2) {
            if let [k, v] = pair {
                args.push((k.clone(), ArgValue::Expr(v.clone())));
            }
        }
        for pair in self.argstr.chunks(2) {
            if let [k, v] = pair {
                args.push((k.clone(), ArgValue::Str(v.clone())));
            }
        }
        ParseOptions {
            args,
            nix_eval: self.nix_eval,
            nix_lib: self.nix_lib.clone(),
        }
    }
}

/// Runs `btrtune show`.
pub fn run(a: ShowArgs) -> Result<()> {
    match a.what {
        What::Facter { file, json } => {
            let h = facter::read(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                print!("{}", super::show_text::hardware(&h));
            }
        }
        What::Disko(d) => {
            let parsed = parse::parse_file(&d.file, &d.options())
                .with_context(|| format!("reading {}", d.file.display()))?;
            let problems = parsed.layout.problems();
            if d.json {
                let v = serde_json::json!({
                    "layout": parsed.layout,
                    "warnings": parsed.warnings,
                    "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut o = format!("{}\n", d.file.display());
                o.push_str(&layout_text(&parsed.layout));
                if !parsed.warnings.is_empty() {
                    o.push_str("\nwarnings:\n");
                    for w in &parsed.warnings {
                        let _ = writeln!(o, "  {w}");
                    }
                }
                if !problems.is_empty() {
                    o.push_str("\nproblems (what the kernel ignores or cannot build):\n");
                    for p in &problems {
                        let _ = writeln!(o, "  - {p}");
                    }
                }
                print!("{o}");
            }
        }
        What::Metrics { path, kind, json } => {
            super::show_text::metrics(&path, kind.as_deref(), json)?;
        }
    }
    Ok(())
}

/// A Layout in a few lines per filesystem.
pub fn layout_text(l: &Layout) -> String {
    let mut o = String::new();
    for d in &l.disks {
        let class = d.class.map(|c| format!(", {c}")).unwrap_or_default();
        let _ = writeln!(o, "disk {} ({}{class})", d.name, d.device);
        match &d.content {
            DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                for p in partitions {
                    let ty = p
                        .type_code
                        .as_deref()
                        .map(|t| format!(", {t}"))
                        .unwrap_or_default();
                    let _ = write!(o, "  partition {} ({}{ty}): ", p.name, p.size);
                    match &p.content {
                        Some(c) => content(c, "    ", &mut o),
                        None => o.push_str("empty\n"),
                    }
                }
            }
            DiskContent::Whole { content: c } => {
                o.push_str("  whole disk: ");
                content(c, "    ", &mut o);
            }
        }
    }
    for n in &l.nodev {
        let _ = writeln!(
            o,
            "nodev {} ({}) {}",
            n.mountpoint,
            n.fs_type,
            n.mount_options.join(",")
        );
    }
    o
}

fn content(c: &Content, indent: &str, o: &mut String) {
    match c {
        Content::Filesystem(f) => {
            let _ = writeln!(
                o,
                "{} at {} [{}]",
                f.format,
                f.mountpoint.as_deref().unwrap_or("(not mounted)"),
                f.mount_options.join(",")
            );
        }
        Content::Swap(s) => {
            let _ = writeln!(
                o,
                "swap{}{}",
                if s.random_encryption {
                    ", random encryption"
                } else {
                    ""
                },
                if s.resume_device {
                    ", resume device"
                } else {
                    ""
                }
            );
        }
        Content::Luks(l) => {
            let _ = write!(
                o,
                "LUKS {}{} -> ",
                l.name,
                if l.allow_discards {
                    " (allowDiscards)"
                } else {
                    ""
                }
            );
            content(&l.content, indent, o);
        }
        Content::Other { disko_type } => {
            let _ = writeln!(o, "{disko_type} (not modelled)");
        }
        Content::Btrfs(b) => {
            let args = b.mkfs.to_args();
            let _ = writeln!(
                o,
                "btrfs{}",
                if args.is_empty() {
                    String::new()
                } else {
                    format!(" (mkfs {})", args.join(" "))
                }
            );
            let opts = b.options.to_mount_options();
            let _ = writeln!(
                o,
                "{indent}filesystem-wide options (set by the first mount, {}): {}",
                b.first_mount().unwrap_or("none"),
                if opts.is_empty() {
                    "(defaults)".to_string()
                } else {
                    opts.join(",")
                }
            );
            if let Some(t) = &b.top_level {
                let _ = writeln!(
                    o,
                    "{indent}top level at {} [{}]",
                    t.mountpoint,
                    t.vfs.to_mount_options().join(",")
                );
            }
            for s in &b.subvolumes {
                let mp = s
                    .mount
                    .as_ref()
                    .map_or("(not mounted)", |m| m.mountpoint.as_str());
                let vfs = s
                    .mount
                    .as_ref()
                    .map(|m| m.vfs.to_mount_options().join(","))
                    .unwrap_or_default();
                let mut attrs = Vec::new();
                if s.data.nocow {
                    attrs.push("NOCOW".to_string());
                }
                if let Some(c) = s.data.compression {
                    attrs.push(format!("compression={}", c.as_str()));
                }
                if let Some(fo) = s.mount.as_ref().and_then(|m| m.fs_override.as_ref()) {
                    let asked = fo.to_mount_options();
                    attrs.push(format!(
                        "IGNORED: {}",
                        if asked.is_empty() {
                            "(no btrfs options)".to_string()
                        } else {
                            asked.join(",")
                        }
                    ));
                }
                for f in &s.swapfiles {
                    attrs.push(format!("swapfile {} {}", f.path, f.size));
                }
                let _ = writeln!(
                    o,
                    "{indent}subvolume {:<24} {:<28} {:<18} {:<14} {}",
                    s.name,
                    mp,
                    if vfs.is_empty() { "-".into() } else { vfs },
                    s.data.purpose.as_str(),
                    attrs.join("; ")
                );
            }
            for h in &b.home_subvolumes {
                let _ = writeln!(
                    o,
                    "{indent}per-user ~/{:<20} {}{}",
                    h.path,
                    h.data.purpose.as_str(),
                    if h.data.nocow { "; NOCOW" } else { "" }
                );
            }
            for (name, text) in [
                ("preCreateHook", &b.hooks.pre_create),
                ("postCreateHook", &b.hooks.post_create),
                ("preMountHook", &b.hooks.pre_mount),
                ("postMountHook", &b.hooks.post_mount),
                ("preUnmountHook", &b.hooks.pre_unmount),
                ("postUnmountHook", &b.hooks.post_unmount),
            ] {
                if let Some(t) = text {
                    let _ = writeln!(o, "{indent}{name}: {} lines", t.lines().count());
                }
            }
        }
    }
}

/// Fails unless `path` exists (clap does not check).
#[allow(dead_code)]
fn exists(path: &std::path::Path) -> Result<()> {
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    Ok(())
}
