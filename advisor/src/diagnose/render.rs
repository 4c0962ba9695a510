//! How a diagnosis is shown: a terminal summary, a Markdown report, a unified diff of the
//! disko.nix, and a dry-run shell script of the live changes.

use super::Diagnosis;
use super::recommend::{Disruption, Projected, Recommendation, shell_line};
use super::rules::Severity;
use std::fmt::Write as _;

fn fmt_num(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// A projection in one line: `wal-postgresql at /var/lib/postgresql: commits_per_s 410 → 630
/// (×1.54, 95 % 1.21–1.95, measured)`.
pub fn projection_line(p: &Projected) -> String {
    match (p.before, p.after, p.ratio) {
        (Some(b), Some(a), Some([r, lo, hi])) => format!(
            "{} at {}: {} {} → {} (×{r:.2}, 95 % {lo:.2}–{hi:.2}, {}){}",
            p.workload,
            p.mountpoint,
            p.metric,
            fmt_num(b),
            fmt_num(a),
            p.status,
            if p.capped {
                "; capped by the device's capability: the hardware is the limit"
            } else {
                ""
            }
        ),
        (None, None, Some([r, lo, hi])) => format!(
            "{} at {}: {} ×{r:.2} (95 % {lo:.2}–{hi:.2}, {})",
            p.workload, p.mountpoint, p.metric, p.status
        ),
        _ => format!("{} at {}: {}", p.workload, p.mountpoint, p.status),
    }
}

/// The terminal summary.
pub fn text(d: &Diagnosis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "device class: {} ({})", d.class, d.class_basis);
    if !d.missing.is_empty() {
        let _ = writeln!(o, "\nmissing inputs (lower confidence):");
        for m in &d.missing {
            let _ = writeln!(o, "  - {m}");
        }
    }
    let scored = d
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .count();
    let _ = writeln!(
        o,
        "\n{} finding(s), {} note(s):",
        scored,
        d.findings.len() - scored
    );
    for f in &d.findings {
        let _ = writeln!(
            o,
            "\n[{}] {} {} (confidence {:.2}){}\n  {}",
            f.severity.as_str(),
            f.rule,
            f.name,
            f.confidence,
            if f.hardware_bound { " [hardware]" } else { "" },
            f.title
        );
        for e in &f.evidence {
            let _ = writeln!(o, "    evidence: {e}");
        }
        let _ = writeln!(o, "    source: {}", f.sources.join(", "));
    }
    if !d.recommendations.is_empty() {
        let _ = writeln!(o, "\nrecommendations (impact against disruption):");
        for r in &d.recommendations {
            rec_text(&mut o, r);
        }
    }
    if !d.combined.is_empty() {
        let _ = writeln!(
            o,
            "\nall layout changes together (the model combines them):"
        );
        for p in &d.combined {
            let _ = writeln!(o, "  {}", projection_line(p));
        }
    }
    o
}

fn rec_text(o: &mut String, r: &Recommendation) {
    let _ = writeln!(
        o,
        "\n{} {} [{}, risk {:?}]\n  answers: {}\n  risk: {}",
        r.id,
        r.title,
        r.disruption.as_str(),
        r.risk,
        r.answers.join(", "),
        r.risk_note
    );
    for s in &r.steps {
        let _ = writeln!(o, "  - {s}");
    }
    for p in &r.projections {
        let _ = writeln!(o, "  projected: {}", projection_line(p));
    }
    if let Some(n) = &r.projection_note {
        let _ = writeln!(o, "  projected: {n}");
    }
}

/// The Markdown report.
pub fn markdown(d: &Diagnosis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# btrtune diagnosis\n");
    let _ = writeln!(o, "Device class: **{}** ({}).\n", d.class, d.class_basis);
    let _ = writeln!(
        o,
        "Inputs: {}.\n",
        d.inputs
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !d.missing.is_empty() {
        let _ = writeln!(o, "## Missing inputs\n");
        for m in &d.missing {
            let _ = writeln!(o, "- {m}");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "## Findings\n");
    let _ = writeln!(o, "| Severity | Rule | Finding | Confidence |");
    let _ = writeln!(o, "|---|---|---|---|");
    for f in &d.findings {
        let _ = writeln!(
            o,
            "| {} | {} `{}` | {} | {:.2} |",
            f.severity.as_str(),
            f.rule,
            f.name,
            f.title.replace('|', "\\|"),
            f.confidence
        );
    }
    for f in &d.findings {
        let _ = writeln!(o, "\n### {} {}: {}\n", f.rule, f.name, f.title);
        if !f.detail.is_empty() {
            let _ = writeln!(o, "{}\n", f.detail);
        }
        for e in &f.evidence {
            let _ = writeln!(o, "- evidence: `{e}`");
        }
        let _ = writeln!(o, "- sources: {}", f.sources.join(", "));
    }
    if !d.recommendations.is_empty() {
        let _ = writeln!(o, "\n## Recommendations\n");
        let _ = writeln!(
            o,
            "Ranked by impact (severity × confidence × projected gain) against disruption.\n"
        );
        for r in &d.recommendations {
            let _ = writeln!(
                o,
                "### {} {}\n\n- disruption: **{}**; risk: {:?} ({})\n- answers: {}",
                r.id,
                r.title,
                r.disruption.as_str(),
                r.risk,
                r.risk_note,
                r.answers.join(", ")
            );
            for s in &r.steps {
                let _ = writeln!(o, "- {s}");
            }
            for p in &r.projections {
                let _ = writeln!(o, "- projected: {}", projection_line(p));
            }
            if let Some(n) = &r.projection_note {
                let _ = writeln!(o, "- projected: {n}");
            }
            let _ = writeln!(o);
        }
    }
    if !d.combined.is_empty() {
        let _ = writeln!(o, "## All layout changes together\n");
        for p in &d.combined {
            let _ = writeln!(o, "- {}", projection_line(p));
        }
        let _ = writeln!(o);
    }
    if let Some(diff) = disko_diff(d) {
        let _ = writeln!(o, "## disko.nix changes\n\n```diff\n{diff}```\n");
    }
    if let Some(n) = &d.nixos_snippet {
        let _ = writeln!(o, "## NixOS settings\n\n```nix\n{n}```\n");
    }
    o
}

/// A unified diff from the current to the proposed disko.nix, if the layout changes.
pub fn disko_diff(d: &Diagnosis) -> Option<String> {
    let (a, b) = (d.current_disko.as_ref()?, d.proposed_disko.as_ref()?);
    if a == b {
        return None;
    }
    Some(
        similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(3)
            .header("current/disko.nix", "proposed/disko.nix")
            .to_string(),
    )
}

/// A shell script of the live changes: by default it prints each command; it runs them
/// only with `--apply`. Every word is quoted for the shell.
pub fn script(d: &Diagnosis) -> String {
    let mut o = String::new();
    o.push_str("#!/bin/sh\n");
    o.push_str("# Live changes recommended by `btrtune diagnose`. btrtune never runs this.\n");
    o.push_str("# Without arguments it only prints what it would do; `sh THIS --apply` runs it.\n");
    o.push_str("# Read each step's risk in the report first.\nset -eu\n");
    o.push_str("APPLY=0\n[ \"${1:-}\" = \"--apply\" ] && APPLY=1\n");
    o.push_str("run() {\n  printf '+ %s\\n' \"$*\"\n  if [ \"$APPLY\" = 1 ]; then \"$@\"; fi\n}\n");
    let live: Vec<&Recommendation> = d
        .recommendations
        .iter()
        .filter(|r| r.disruption == Disruption::LiveRemount && !r.commands.is_empty())
        .collect();
    if live.is_empty() {
        o.push_str("\necho 'no live changes recommended'\n");
    }
    for r in live {
        let _ = writeln!(
            o,
            "\n# {} {} (risk {:?}: {})",
            r.id,
            r.title.replace('\n', " "),
            r.risk,
            r.risk_note.replace('\n', " ")
        );
        for c in &r.commands {
            let _ = writeln!(o, "run {}", shell_line(c));
        }
    }
    o
}
