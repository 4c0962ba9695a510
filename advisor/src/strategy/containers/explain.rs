//! `btrtune explain containers`: the matrix with the measured numbers, as Markdown or JSON.

use super::results::{DriverStats, Spread};
use super::{
    Backup, Cadence, Choice, Compression, DbVolumes, Measured, Strategies, mode_str, rows,
};
use crate::error::AdvisorError;
use std::fmt::Write as _;
use std::path::Path;

/// A number with precision by magnitude (the same text on every platform).
fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn spread(s: Option<Spread>) -> String {
    s.map_or("–".into(), |s| {
        format!("{} [{}–{}]", num(s.median), num(s.min), num(s.max))
    })
}

fn with_n(d: Option<&DriverStats>, f: impl Fn(&DriverStats) -> Option<Spread>) -> String {
    d.map_or("–".into(), |d| format!("{} n={}", spread(f(d)), d.runs))
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}"))
}

/// The matrix and the measurements as Markdown tables: from `DIR/containers.jsonl`, or the
/// embedded results when `results_dir` is `None`. `docs/containers.md` holds this text.
pub fn explain_markdown(results_dir: Option<&Path>) -> Result<String, AdvisorError> {
    let s = Strategies::bundled()?;
    let m = Measured::load(results_dir, &s.profiles)?;
    let mut o = String::new();
    o.push_str("### Workload profiles\n\n| profile | stands for | container-churn parameters |\n| --- | --- | --- |\n");
    for p in &s.profiles {
        let bench = if p.bench.is_empty() {
            "defaults".to_string()
        } else {
            p.bench
                .iter()
                .map(|(k, v)| format!("`{k} = {v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(o, "| {} | {} | {} |", p.name, p.description, bench);
    }
    o.push_str("\n### Decision matrix\n\n");
    o.push_str("| profile | priority | mode | driver | graphroot compression | DB volumes | qgroups | volume snapshots | volume backup | cell |\n");
    o.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (profile, pr, mode, c) in rows(&s) {
        let idx = s.cells.iter().position(|x| std::ptr::eq(x, c)).unwrap_or(0) + 1;
        let _ = writeln!(
            o,
            "| {profile} | {pr} | {} | {} | {} | {} | {} | {} | {} | {idx} |",
            mode_str(mode),
            c.driver.as_str(),
            compression(c.graphroot_compression),
            db(c.db_volumes),
            if c.qgroups { "on" } else { "off" },
            cadence(c.volume_snapshots),
            backup(c.volume_backup),
        );
    }
    o.push_str("\n### Why\n\n| cell | why | sources | measured |\n| --- | --- | --- | --- |\n");
    for (i, c) in s.cells.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            i + 1,
            c.why.replace('\n', " ").replace('|', "\\|"),
            c.sources.join(", "),
            c.measured.join(", ")
        );
    }
    let p = &m.provenance;
    let _ = write!(
        o,
        "\n### Measured\n\n{} runs of the container-churn workload (`profiles/matrix/containers.toml`) on \
         {} ({}; kernel {}). Each value: median [min–max] over the runs of the cell, n runs; \
         ratio: btrfs driver / overlay, medians of the same layout and profile.\n\n",
        p.runs,
        join(&p.classes),
        join(&p.hosts),
        join(&p.kernels),
    );
    o.push_str("#### Pull (layers per second of pull time; higher is better)\n\n");
    o.push_str("| profile | layout | overlay | btrfs driver | btrfs / overlay |\n| --- | --- | --- | --- | --- |\n");
    for c in &m.cells {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            c.profile,
            c.layout,
            with_n(c.overlay.as_ref(), |d| Some(d.layers_per_s)),
            with_n(c.btrfs.as_ref(), |d| Some(d.layers_per_s)),
            ratio(c.ratio(|d| Some(d.layers_per_s)))
        );
    }
    o.push_str("\n#### Container create and remove (ms, p50 of each run; lower is better)\n\n");
    o.push_str("| profile | layout | create: overlay | create: btrfs | ratio | remove: overlay | remove: btrfs | ratio |\n");
    o.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for c in &m.cells {
        let f = |d: &Option<DriverStats>, g: fn(&DriverStats) -> Option<Spread>| {
            spread(d.as_ref().and_then(g))
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.profile,
            c.layout,
            f(&c.overlay, |d| d.create_ms),
            f(&c.btrfs, |d| d.create_ms),
            ratio(c.ratio(|d| d.create_ms)),
            f(&c.overlay, |d| d.remove_ms),
            f(&c.btrfs, |d| d.remove_ms),
            ratio(c.ratio(|d| d.remove_ms)),
        );
    }
    o.push_str("\n#### Image removal, container writes and space (lower is better)\n\n");
    o.push_str("| profile | layout | layer remove ms: overlay | btrfs | writes of one container ms: overlay | btrfs | peak MiB: overlay | btrfs |\n");
    o.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for c in &m.cells {
        let f = |d: &Option<DriverStats>, g: fn(&DriverStats) -> Option<Spread>| {
            spread(d.as_ref().and_then(g))
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.profile,
            c.layout,
            f(&c.overlay, |d| d.layer_remove_ms),
            f(&c.btrfs, |d| d.layer_remove_ms),
            f(&c.overlay, |d| d.writes_ms),
            f(&c.btrfs, |d| d.writes_ms),
            f(&c.overlay, |d| d.peak_mib),
            f(&c.btrfs, |d| d.peak_mib),
        );
    }
    Ok(o)
}

fn join(s: &std::collections::BTreeSet<String>) -> String {
    if s.is_empty() {
        "no runs".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn compression(c: Compression) -> &'static str {
    match c {
        Compression::Inherit => "inherit",
        Compression::Zstd => "zstd",
        Compression::None => "none",
    }
}

fn db(d: DbVolumes) -> &'static str {
    match d {
        DbVolumes::Nocow => "NOCOW",
        DbVolumes::Cow => "CoW",
    }
}

fn cadence(c: Cadence) -> &'static str {
    match c {
        Cadence::Hourly => "hourly",
        Cadence::Daily => "daily",
        Cadence::Off => "off",
    }
}

fn backup(b: Backup) -> &'static str {
    match b {
        Backup::Stop => "stop",
        Backup::Pause => "pause",
        Backup::Engine => "engine checkpoint",
    }
}

/// The matrix, every row's cell and the measurements as JSON (same sources as
/// [`explain_markdown`]).
pub fn explain_json(results_dir: Option<&Path>) -> Result<serde_json::Value, AdvisorError> {
    let s = Strategies::bundled()?;
    let m = Measured::load(results_dir, &s.profiles)?;
    let table: Vec<serde_json::Value> = rows(&s)
        .into_iter()
        .map(|(profile, pr, mode, c)| {
            serde_json::json!({
                "profile": profile, "priority": pr, "mode": mode,
                "cell": s.cells.iter().position(|x| std::ptr::eq(x, c)).unwrap_or(0) + 1,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "profiles": s.profiles,
        "cells": s.cells,
        "matrix": table,
        "measured": m,
    }))
}

/// Everything a choice generates, as Markdown (the examples in `docs/containers.md`).
pub fn example_markdown(choice: &Choice) -> String {
    let c = &choice.cell;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Profile `{}`, priority `{}`, {}{}: driver **{}**, graphroot compression {}, \
         database volumes {}, qgroups {}, volume snapshots {}, backups by {}.\n",
        choice.profile,
        choice.priority,
        mode_str(choice.mode),
        if choice.db_volumes.is_empty() {
            String::new()
        } else {
            format!(", database volumes `{}`", choice.db_volumes.join("`, `"))
        },
        c.driver.as_str(),
        compression(c.graphroot_compression),
        db(c.db_volumes),
        if c.qgroups { "on" } else { "off" },
        cadence(c.volume_snapshots),
        backup(c.volume_backup),
    );
    let _ = writeln!(o, "Why: {}\n", c.why.replace('\n', " "));
    for n in &choice.notes {
        let _ = writeln!(o, "Note: {n}\n");
    }
    for m in &choice.measured {
        let pull = |d: &Option<DriverStats>| spread(d.as_ref().map(|d| d.layers_per_s));
        let create = |d: &Option<DriverStats>| spread(d.as_ref().and_then(|d| d.create_ms));
        if m.btrfs.is_none() {
            let _ = writeln!(
                o,
                "Measured `{}`: overlay pulls {} layers/s, creates a container in {} ms.\n",
                m.reference(),
                pull(&m.overlay),
                create(&m.overlay),
            );
            continue;
        }
        let _ = writeln!(
            o,
            "Measured `{}`: pull {} layers/s with the btrfs driver, {} with overlay (ratio {}); \
             container create {} ms vs {} ms (ratio {}).\n",
            m.reference(),
            pull(&m.btrfs),
            pull(&m.overlay),
            ratio(m.ratio(|d| Some(d.layers_per_s))),
            create(&m.btrfs),
            create(&m.overlay),
            ratio(m.ratio(|d| d.create_ms)),
        );
    }
    let _ = writeln!(
        o,
        "`{}`:\n\n```toml\n{}```\n",
        choice.paths.storage_conf,
        choice.storage_conf()
    );
    let _ = writeln!(o, "NixOS:\n\n```nix\n{}```\n", super::nixos_snippet(choice));
    let _ = writeln!(o, "Snapshots:\n\n{}", choice.snapshot_strategy());
    let _ = writeln!(
        o,
        "Volume backup:\n\n```sh\n{}```\n",
        choice.backup_script()
    );
    let _ = writeln!(o, "Migration:\n\n```sh\n{}```", choice.migration_guide());
    o
}
