//! The report as a document: sections of paragraphs, charts and tables, built once from the
//! input and then written as HTML ([`crate::html`]) and Markdown ([`crate::markdown`]).

use crate::chart::{self, ChartInfo, ChartKind};
use crate::error::ReportError;
use crate::format::{Unit, change, duration_ns, num, slug};
use crate::input::{NamedLayout, ReportInput};
use btrtune_advisor::hardware::DeviceClass;
use std::collections::{BTreeMap, BTreeSet};

/// A whole report.
pub(crate) struct Doc {
    pub(crate) title: String,
    pub(crate) sources: Vec<String>,
    pub(crate) generated: Option<String>,
    pub(crate) sections: Vec<Section>,
    pub(crate) charts: Vec<ChartInfo>,
}

/// A top-level section.
pub(crate) struct Section {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) blocks: Vec<Block>,
}

/// What a section holds. Text may mark code with backticks.
pub(crate) enum Block {
    Heading(String),
    Para(String),
    List(Vec<String>),
    Chart {
        index: usize,
        caption: String,
    },
    Table {
        summary: String,
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

struct Builder {
    charts: Vec<ChartInfo>,
    ids: BTreeSet<String>,
}

impl Builder {
    /// Adds a chart, keeping ids (and so file names) unique.
    fn chart(&mut self, mut c: ChartInfo, caption: String) -> Block {
        if !self.ids.insert(c.id.clone()) {
            let base = c.id.clone();
            let mut k = 2;
            while !self.ids.insert(format!("{base}-{k}")) {
                k += 1;
            }
            c.id = format!("{base}-{k}");
            c.file = format!("{}.svg", slug(&c.id));
        }
        self.charts.push(c);
        Block::Chart {
            index: self.charts.len() - 1,
            caption,
        }
    }
}

fn interval(unit: &Unit, low: f64, high: f64) -> String {
    format!("{} – {}", num(low / unit.scale), num(high / unit.scale))
}

/// Builds the document and draws its charts.
pub(crate) fn build(input: &ReportInput) -> Result<Doc, ReportError> {
    if input.is_empty() {
        return Err(ReportError::Empty);
    }
    let mut b = Builder {
        charts: Vec::new(),
        ids: BTreeSet::new(),
    };
    let mut sections = Vec::new();
    let groups = chart::runs::groups(&input.runs);

    // Throughput.
    if !groups.is_empty() {
        let mut blocks = vec![Block::Para(
            "Per hardware class and workload, every layout measured, best first. Bars: the geometric \
             mean of the runs; whiskers: its 95 % interval (Student's t on the log values, the noise \
             between runs being multiplicative); dots: the single runs. `raw device` is the bare \
             device under the same job: the capability no layout exceeds."
                .into(),
        )];
        for g in &groups {
            let unit = g.unit();
            let chart = chart::runs::throughput(g)?;
            let layouts = g.rows.iter().filter(|r| !r.raw).count();
            let mut caption = format!(
                "{} on {}: {} layout{}, {} runs",
                g.workload,
                g.class,
                layouts,
                if layouts == 1 { "" } else { "s" },
                g.rows.iter().map(|r| r.runs.len()).sum::<usize>(),
            );
            if let Some(best) = g.rows.iter().find(|r| !r.raw).filter(|_| layouts > 1) {
                caption.push_str(&format!(
                    "; best {} ({})",
                    best.label,
                    unit.show(best.summary.geomean)
                ));
            }
            caption.push('.');
            blocks.push(Block::Heading(format!("{} on {}", g.workload, g.class)));
            blocks.push(b.chart(chart, caption));
            blocks.push(Block::Table {
                summary: format!("{} per layout", unit.label),
                head: vec![
                    "layout".into(),
                    "runs".into(),
                    format!("geometric mean ({})", unit.label),
                    "95 % interval".into(),
                    "runs".into(),
                ],
                rows: g
                    .rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.label.clone(),
                            r.summary.n.to_string(),
                            num(r.summary.geomean / unit.scale),
                            interval(&unit, r.summary.low, r.summary.high),
                            r.runs
                                .iter()
                                .map(|p| num(p.value / unit.scale))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ]
                    })
                    .collect(),
            });
        }
        sections.push(Section {
            id: "throughput".into(),
            title: "Throughput by layout".into(),
            blocks,
        });
    }

    // Latency.
    let mut blocks = vec![Block::Para(
        "Latency per operation as the workload measured it (completion latency of the I/Os, \
         commits or transactions): the geometric mean over the runs of each run's median (p50) \
         and 99th percentile (p99), on a log scale. Same layout order as the throughput charts."
            .into(),
    )];
    let mut any = false;
    for g in &groups {
        let Some(chart) = chart::runs::latency(g)? else {
            continue;
        };
        any = true;
        blocks.push(Block::Heading(format!("{} on {}", g.workload, g.class)));
        blocks.push(b.chart(
            chart,
            format!("{} on {}: p50 and p99 per layout.", g.workload, g.class),
        ));
        blocks.push(Block::Table {
            summary: "latency per layout".into(),
            head: vec!["layout".into(), "p50".into(), "p99".into()],
            rows: g
                .rows
                .iter()
                .filter_map(|r| {
                    r.latency
                        .map(|(p50, p99)| vec![r.label.clone(), duration_ns(p50), duration_ns(p99)])
                })
                .collect(),
        });
    }
    if any {
        sections.push(Section {
            id: "latency".into(),
            title: "Latency by layout".into(),
            blocks,
        });
    }

    // Models.
    if let Some(models) = &input.models {
        let classes: Option<BTreeSet<DeviceClass>> = match &input.model_classes {
            Some(c) => Some(c.iter().copied().collect()),
            None if !input.runs.is_empty() => Some(input.runs.iter().map(|r| r.class).collect()),
            None => None,
        };
        let mut blocks = vec![Block::Para(
            "Each model's projections against the measurements (log axes). Dots: leave-one-layout-out \
             validation, each layout projected by the model refitted without its runs, as a layout \
             nobody measured would be. Squares: the in-sample fit of the runs in this report. \
             The diagonal is perfect agreement, the grey lines ±10 %."
                .into(),
        )];
        let mut any = false;
        for m in &models.models {
            if m.validation.is_none() || classes.as_ref().is_some_and(|c| !c.contains(&m.class)) {
                continue;
            }
            let group = groups
                .iter()
                .find(|g| g.class == m.class && g.workload == m.workload && g.metric == m.metric);
            let (pts, missing) = chart::fit::points(m, group, &input.layouts);
            let Some(chart) = chart::fit::chart(m, &pts)? else {
                continue;
            };
            any = true;
            let v = m.validation.as_ref();
            let pct =
                |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{:.1} %", x * 100.0));
            let mut caption = format!(
                "{} on {} ({}): held-out error (MdAPE) {} of the metric, {} of the ratio to the baseline; \
                 {} of held-out runs inside their 95 % interval.",
                m.workload,
                m.class,
                chart::fit::status(m.status),
                pct(v.and_then(|v| v.mdape_metric)),
                pct(v.and_then(|v| v.mdape_ratio)),
                pct(v.and_then(|v| v.coverage)),
            );
            if !missing.is_empty() {
                caption.push_str(&format!(
                    " Not projectable when held out: {}.",
                    missing
                        .iter()
                        .map(|(l, why)| format!("{l} ({why})"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            let unit = Unit::of(&m.metric);
            blocks.push(Block::Heading(format!("{} on {}", m.workload, m.class)));
            blocks.push(b.chart(chart, caption));
            blocks.push(Block::Table {
                summary: "projected against measured".into(),
                head: vec![
                    "layout".into(),
                    "kind".into(),
                    format!("measured ({})", unit.label),
                    format!("projected ({})", unit.label),
                    "error".into(),
                    "runs in 95 % interval".into(),
                ],
                rows: pts
                    .iter()
                    .map(|p| {
                        vec![
                            p.layout.clone(),
                            if p.held_out { "held out" } else { "in-sample" }.into(),
                            num(p.measured / unit.scale),
                            num(p.projected / unit.scale),
                            format!("{:+.1} %", (p.projected / p.measured - 1.0) * 100.0),
                            p.covered
                                .map_or(String::new(), |(k, n)| format!("{k} of {n}")),
                        ]
                    })
                    .collect(),
            });
        }
        if any {
            sections.push(Section {
                id: "models".into(),
                title: "Models against measurements".into(),
                blocks,
            });
        }
    }

    // Diagnosis.
    if let Some(d) = &input.diagnosis {
        let mut blocks = vec![Block::Para(format!(
            "Projections on the `{}` class ({}). Each chart shows, per affected workload and mount \
             point, the models' projection before the change (100 %) and after it, with the 95 % \
             interval of the before/after ratio: green where the whole interval is a gain, red \
             where it is a loss, light blue where it spans no change.",
            d.class,
            if d.class_basis.is_empty() {
                "class basis not given"
            } else {
                d.class_basis.as_str()
            }
        ))];
        if !d.findings.is_empty() {
            blocks.push(Block::Table {
                summary: format!("{} findings", d.findings.len()),
                head: vec![
                    "rule".into(),
                    "severity".into(),
                    "confidence".into(),
                    "finding".into(),
                ],
                rows: d
                    .findings
                    .iter()
                    .map(|f| {
                        vec![
                            f.rule.clone(),
                            f.severity.clone(),
                            format!("{:.0} %", f.confidence * 100.0),
                            f.title.clone(),
                        ]
                    })
                    .collect(),
            });
        }
        let mut without = Vec::new();
        for r in &d.recommendations {
            let title = format!("{}: {}", r.id, r.title);
            match chart::diagnosis::chart(&r.id, &title, &r.projections)? {
                Some(chart) => {
                    blocks.push(Block::Heading(title.clone()));
                    let mut models: Vec<&str> = r
                        .projections
                        .iter()
                        .filter(|p| p.ratio.is_some())
                        .map(|p| p.status.as_str())
                        .collect();
                    models.sort_unstable();
                    models.dedup();
                    blocks.push(b.chart(
                        chart,
                        format!(
                            "Disruption: {}; risk: {}; model: {}.",
                            r.disruption,
                            r.risk,
                            models.join(", ")
                        ),
                    ));
                    blocks.push(projection_table(&r.projections));
                }
                None => {
                    let why = r
                        .projection_note
                        .clone()
                        .or_else(|| {
                            r.projections
                                .first()
                                .map(|p| p.status.clone())
                                .filter(|s| !s.is_empty())
                        })
                        .unwrap_or_else(|| "no projection".into());
                    without.push(format!("{title}: {why}"));
                }
            }
        }
        if let Some(chart) = chart::diagnosis::chart(
            "combined",
            "Every layout recommendation at once",
            &d.combined,
        )? {
            blocks.push(Block::Heading("Every layout recommendation at once".into()));
            blocks.push(b.chart(
                chart,
                "All layout changes applied together, projected by the models (effects combine in the model; they are not summed).".into(),
            ));
            blocks.push(projection_table(&d.combined));
        }
        if !without.is_empty() {
            blocks.push(Block::Heading(
                "Recommendations without a projection".into(),
            ));
            blocks.push(Block::List(without));
        }
        if !d.missing.is_empty() {
            blocks.push(Block::Heading(
                "What the diagnosis could not look at".into(),
            ));
            blocks.push(Block::List(d.missing.clone()));
        }
        sections.push(Section {
            id: "diagnosis".into(),
            title: "Diagnosis: projected before and after".into(),
            blocks,
        });
    }

    // Comparisons.
    if let Some(chart) = chart::comparison::chart(&input.comparisons)? {
        let mut blocks = vec![Block::Para(
            "The proposed layout measured against the baseline on the same device: per workload the \
             ratio of geometric means with its 95 % interval (Welch, on the log values), over the \
             interval the models projected. Green: significantly faster; red: significantly slower; \
             grey: no significant difference."
                .into(),
        )];
        blocks.push(b.chart(chart, format!("{} comparisons.", input.comparisons.len())));
        blocks.push(Block::Table {
            summary: "comparisons".into(),
            head: vec![
                "workload".into(),
                "baseline".into(),
                "proposed".into(),
                "ratio [95 %]".into(),
                "projected [95 %]".into(),
                "verdict".into(),
            ],
            rows: input
                .comparisons
                .iter()
                .map(|c| {
                    let unit = Unit::of(&c.metric);
                    vec![
                        c.workload.clone(),
                        format!(
                            "{}: {} (n={})",
                            c.baseline_layout,
                            unit.show(c.baseline.geomean),
                            c.baseline.n
                        ),
                        format!(
                            "{}: {} (n={})",
                            c.proposed_layout,
                            unit.show(c.proposed.geomean),
                            c.proposed.n
                        ),
                        format!(
                            "{} [{}, {}]",
                            change(c.ratio),
                            change(c.ratio_low),
                            change(c.ratio_high)
                        ),
                        c.projected.map_or("–".into(), |p| {
                            format!(
                                "{} [{}, {}]",
                                change(p.value),
                                change(p.low),
                                change(p.high)
                            )
                        }),
                        c.verdict.clone(),
                    ]
                })
                .collect(),
        });
        sections.push(Section {
            id: "comparison".into(),
            title: "Benchmark comparison".into(),
            blocks,
        });
    }

    // Layouts.
    let mut seen: BTreeMap<(String, String), &NamedLayout> = BTreeMap::new();
    for l in &input.layouts {
        seen.entry((l.group.clone(), l.name.clone())).or_insert(l);
    }
    if !seen.is_empty() {
        let mut blocks = vec![Block::Para(
            "Each layout's filesystems and subvolumes. The options in a btrfs box apply to the whole \
             filesystem (the first mount sets them); a subvolume has only its per-mount options and \
             its attributes: NOCOW (`chattr +C`), the compression new files really get (none on \
             NOCOW data), and its snapshot schedule."
                .into(),
        )];
        let mut empty = Vec::new();
        for l in seen.values() {
            match chart::layout::chart(l)? {
                Some(chart) => blocks.push(b.chart(chart, format!("{} ({}).", l.name, l.group))),
                None => empty.push(format!("{} ({}): no disk or mount", l.name, l.group)),
            }
        }
        if !empty.is_empty() {
            blocks.push(Block::List(empty));
        }
        sections.push(Section {
            id: "layouts".into(),
            title: "Layouts".into(),
            blocks,
        });
    }

    Ok(Doc {
        title: if input.title.is_empty() {
            "btrtune report".into()
        } else {
            input.title.clone()
        },
        sources: input.sources.clone(),
        generated: input.generated.clone(),
        sections,
        charts: b.charts,
    })
}

fn projection_table(ps: &[crate::input::ProjectedInput]) -> Block {
    Block::Table {
        summary: "projections".into(),
        head: vec![
            "mount point · workload".into(),
            "model".into(),
            "before".into(),
            "after".into(),
            "change [95 %]".into(),
            "features changed".into(),
        ],
        rows: ps
            .iter()
            .map(|p| {
                let unit = Unit::of(&p.metric);
                vec![
                    chart::diagnosis::row_label(p),
                    p.status.clone(),
                    p.before.map_or("–".into(), |v| unit.show(v)),
                    p.after.map_or("–".into(), |v| unit.show(v)),
                    p.ratio.map_or("–".into(), |[r, lo, hi]| {
                        format!(
                            "{} [{}, {}]{}",
                            change(r),
                            change(lo),
                            change(hi),
                            if p.capped { " (capped)" } else { "" }
                        )
                    }),
                    p.changes.join(" "),
                ]
            })
            .collect(),
    }
}

/// How many charts of each kind.
pub(crate) fn counts(charts: &[ChartInfo]) -> BTreeMap<ChartKind, usize> {
    let mut m = BTreeMap::new();
    for c in charts {
        *m.entry(c.kind).or_insert(0) += 1;
    }
    m
}
