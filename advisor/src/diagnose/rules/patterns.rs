//! Workload patterns: what the user observes, tied to the findings that explain it.

use super::{Finding, Severity};
use crate::diagnose::evidence::{Evidence, whole};
use crate::diagnose::host::Host;
use crate::metrics::observe::Category;

/// Words that tie a free-text remark to the findings that name them.
const KEYWORDS: [&str; 14] = [
    "compress", "snapshot", "quota", "qgroup", "balance", "atime", "discard", "defrag", "swap",
    "scrub", "checksum", "metadata", "util", "saturat",
];

/// The rules that can explain each category of observation, most direct first.
fn causes(c: Category) -> &'static [&'static str] {
    match c {
        Category::Database => &[
            "L01", "H01", "H07", "H05", "H06", "M05", "L08", "M09", "Y01", "H03",
        ],
        Category::Containers => &[
            "L03", "H02", "L06", "L05", "M03", "H04", "H05", "H06", "S01", "S03", "H03",
        ],
        Category::Development => &[
            "L04", "H04", "M03", "M02", "H05", "H06", "M06", "Y01", "M04", "H03",
        ],
        Category::GeneralSluggishness => &[
            "H05", "H06", "Y01", "M04", "L06", "L05", "S01", "M06", "Y02", "H09",
        ],
        Category::BootAndUpdates => &["L05", "L06", "L04", "M06", "H05", "H06", "S01"],
        Category::Space => &["S01", "S02", "S03", "S07", "S04", "L05", "L04"],
    }
}

fn pattern_rule(c: Category) -> Option<&'static str> {
    match c {
        Category::Database => Some("W01"),
        Category::Containers => Some("W02"),
        Category::Development => Some("W03"),
        _ => None,
    }
}

pub fn check(h: &Host, found: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut explained_any = false;
    for o in &h.observations {
        let obs_ev = whole("observation", o.text.clone());
        if o.matches.is_empty() {
            // Not a symptom, but about something a finding names (compression, snapshots...):
            // that finding answers it.
            let text = o.text.to_lowercase();
            let answered = KEYWORDS.iter().any(|k| {
                text.contains(k)
                    && found
                        .iter()
                        .any(|f| f.title.to_lowercase().contains(k) || f.name.contains(k))
            });
            if answered {
                continue;
            }
            out.push(
                Finding::new(
                    "W05",
                    Severity::Info,
                    0.9,
                    format!("\"{}\" names no storage symptom btrtune knows", o.text),
                )
                .detail(
                    "Say what is slow (builds, database writes, container pulls, the desktop) \
                     or pass --symptom; `btrtune diagnose --help` lists the symptoms.",
                )
                .ev([obs_ev]),
            );
            continue;
        }
        for m in &o.matches {
            let hits: Vec<&Finding> = causes(m.category)
                .iter()
                .filter_map(|id| found.iter().find(|f| f.rule == *id))
                .collect();
            if hits.is_empty() {
                out.push(
                    Finding::new(
                        "W05",
                        Severity::Info,
                        m.confidence,
                        format!(
                            "nothing found explains {} (\"{}\")",
                            m.category.description(),
                            o.text
                        ),
                    )
                    .detail(
                        "No rule tied to this kind of slowness fired on the inputs given. \
                         Collect a bundle while it happens (`sudo btrtune collect -o DIR \
                         --samples 10`) so iostat and iotop see it.",
                    )
                    .ev([obs_ev.clone()]),
                );
                continue;
            }
            explained_any = true;
            let Some(id) = pattern_rule(m.category) else {
                continue;
            };
            if out.iter().any(|f: &Finding| f.rule == id) {
                continue;
            }
            let sev = hits
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Low);
            let conf = m.confidence.min(1.0) * hits[0].confidence;
            let mut ev: Vec<Evidence> = vec![obs_ev.clone()];
            for f in hits.iter().take(3) {
                ev.extend(f.evidence.first().cloned());
            }
            out.push(
                Finding::new(
                    id,
                    sev,
                    conf,
                    format!(
                        "{}: most likely {} ({})",
                        m.category.description(),
                        hits[0].title,
                        hits[0].rule
                    ),
                )
                .detail(format!(
                    "The observation matches {} finding(s) that slow this kind of work, in \
                     order of how directly they do: {}.",
                    hits.len(),
                    hits.iter()
                        .map(|f| format!("{} {}", f.rule, f.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .ev(ev),
            );
        }
    }
    // The device is the limit.
    let device: Vec<&Finding> = found
        .iter()
        .filter(|f| matches!(f.rule, "H05" | "H06" | "H07"))
        .collect();
    let bound: Vec<&Finding> = device
        .iter()
        .copied()
        .filter(|f| f.hardware_bound)
        .collect();
    if explained_any && !bound.is_empty() {
        let device = bound;
        let mut f = Finding::new(
            "W04",
            Severity::Medium,
            0.75,
            format!("the device itself is the limit: {}", device[0].title),
        )
        .detail(
            "The slowness shows in the device's own latency, on a medium that is slow per \
             request. Configuration changes still help (less data written per operation) but \
             cannot go past what the device does; projections are capped at its measured or \
             documented capability. Faster storage is the larger lever.",
        )
        .ev(device.iter().filter_map(|f| f.evidence.first().cloned()))
        .ev(h.class_at.clone());
        f.hardware_bound = true;
        out.push(f);
    }
    out
}
