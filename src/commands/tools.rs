//! `btrtune tools`: the tools database.

use anyhow::Result;
use btrtune_advisor::profiles::ToolDb;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `btrtune tools`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  btrtune tools
  btrtune tools --category database
  btrtune tools --json | jq '.[].name'")]
pub struct ToolsArgs {
    /// Only tools of this category (ide, editor, browser, database, container, vm, build,
    /// desktop, service, system).
    #[arg(long)]
    category: Option<String>,
    /// Add or replace tools from this file (same schema as profiles/tools.toml).
    #[arg(long = "profiles", value_name = "FILE")]
    profiles: Vec<PathBuf>,
    /// Print the database as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `btrtune tools`.
pub fn run(a: ToolsArgs) -> Result<()> {
    let mut db = ToolDb::bundled()?;
    for p in &a.profiles {
        db.add_file(p)?;
    }
    let tools: Vec<_> = db
        .tools()
        .filter(|t| {
            a.category.as_deref().is_none_or(|c| {
                serde_json::to_value(t.category).is_ok_and(|v| v.as_str() == Some(c))
            })
        })
        .collect();
    if let Some(c) = &a.category
        && tools.is_empty()
    {
        anyhow::bail!(
            "no tools in category `{c}` (categories: ide, editor, browser, database, container, \
             vm, build, desktop, service, system)"
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&tools)?);
        return Ok(());
    }
    for t in tools {
        let cat = serde_json::to_value(t.category)?;
        let aliases = if t.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", t.aliases.join(", "))
        };
        println!(
            "{:<14} {:<10} {}{}",
            t.name,
            cat.as_str().unwrap_or(""),
            t.description,
            aliases
        );
    }
    Ok(())
}
