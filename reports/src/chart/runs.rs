//! Throughput and latency by layout, per hardware class and workload.

use super::{
    Canvas, ChartInfo, ChartKind, HEAD, Legend, SMALL, Shape, font, frame, label_area, log_ticks,
    palette, row_labels,
};
use crate::error::ReportError;
use crate::format::{Unit, duration_ns, num, tick};
use crate::input::RunPoint;
use crate::stats::Summary;
use btrtune_advisor::hardware::DeviceClass;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// The runs of one class, workload and metric, by layout.
pub(crate) struct Group<'a> {
    pub(crate) class: DeviceClass,
    pub(crate) workload: String,
    pub(crate) metric: String,
    /// Best first.
    pub(crate) rows: Vec<Row<'a>>,
}

/// One layout (and settings variant) of a group.
pub(crate) struct Row<'a> {
    pub(crate) label: String,
    pub(crate) matrix: String,
    pub(crate) layout: String,
    pub(crate) variant: Option<String>,
    /// On the raw device: the capability, not a layout.
    pub(crate) raw: bool,
    pub(crate) runs: Vec<&'a RunPoint>,
    pub(crate) summary: Summary,
    /// Geometric means over the runs of p50 and p99 latency, when every run has them.
    pub(crate) latency: Option<(f64, f64)>,
}

impl Group<'_> {
    pub(crate) fn id(&self, kind: ChartKind) -> String {
        format!("{}:{}:{}", kind.as_str(), self.class, self.workload)
    }

    pub(crate) fn unit(&self) -> Unit {
        Unit::of(&self.metric)
    }
}

/// Groups runs by class, workload and metric (in that order); rows best first.
pub(crate) fn groups(runs: &[RunPoint]) -> Vec<Group<'_>> {
    type Key = (DeviceClass, String, String);
    type RowKey = (String, String, Option<String>);
    let mut by: BTreeMap<Key, BTreeMap<RowKey, Vec<&RunPoint>>> = BTreeMap::new();
    for r in runs {
        by.entry((r.class, r.workload.clone(), r.metric.clone()))
            .or_default()
            .entry((r.matrix.clone(), r.layout.clone(), r.variant.clone()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((class, workload, metric), cells) in by {
        // A layout name in two matrices is told apart by its matrix.
        let mut names: BTreeMap<(&str, &Option<String>), usize> = BTreeMap::new();
        for (_, layout, variant) in cells.keys() {
            *names.entry((layout.as_str(), variant)).or_default() += 1;
        }
        let mut rows: Vec<Row<'_>> = Vec::new();
        for ((matrix, layout, variant), mut runs) in cells.clone() {
            runs.sort_by_key(|r| r.run);
            let values: Vec<f64> = runs.iter().map(|r| r.value).collect();
            let Some(summary) = Summary::of(&values) else {
                continue;
            };
            let raw = runs.iter().all(|r| r.mountpoint.is_none());
            let mut label = if raw && layout == "raw" {
                "raw device".to_string()
            } else {
                layout.clone()
            };
            if names[&(layout.as_str(), &variant)] > 1 {
                label = format!("{matrix}/{label}");
            }
            if let Some(v) = &variant {
                label = format!("{label} · {v}");
            }
            let latency = runs
                .iter()
                .map(|r| r.latency)
                .collect::<Option<Vec<_>>>()
                .and_then(|l| {
                    let p50 = Summary::of(&l.iter().map(|x| x.p50_ns).collect::<Vec<_>>())?;
                    let p99 = Summary::of(&l.iter().map(|x| x.p99_ns).collect::<Vec<_>>())?;
                    Some((p50.geomean, p99.geomean))
                });
            rows.push(Row {
                label,
                matrix,
                layout,
                variant,
                raw,
                runs,
                summary,
                latency,
            });
        }
        rows.sort_by(|a, b| {
            b.summary
                .geomean
                .total_cmp(&a.summary.geomean)
                .then(a.label.cmp(&b.label))
        });
        if !rows.is_empty() {
            out.push(Group {
                class,
                workload,
                metric,
                rows,
            });
        }
    }
    out
}

const ROW: u32 = 26;

/// Where row `i` (0 at the top) of `n` sits on the y axis.
fn row_y(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

/// Throughput by layout: a bar at the geometric mean, a whisker for its 95 % interval, a dot
/// per run.
pub(crate) fn throughput(g: &Group<'_>) -> Result<ChartInfo, ReportError> {
    let unit = g.unit();
    let n = g.rows.len();
    let labels: Vec<String> = g.rows.iter().map(|r| r.label.clone()).collect();
    let left = label_area(&labels);
    let size = (900, HEAD + 70 + ROW * n as u32);
    let (c, root) = Canvas::new(g.id(ChartKind::Throughput), size)?;
    let title = format!("{} on {}: {} by layout", g.workload, g.class, unit.label);
    let mut entries = vec![Legend {
        text: "layout",
        color: palette::BLUE,
        shape: Shape::Bar,
    }];
    if g.rows.iter().any(|r| r.raw) {
        entries.push(Legend {
            text: "raw device",
            color: palette::GREY,
            shape: Shape::Bar,
        });
    }
    entries.push(Legend {
        text: "run",
        color: palette::INK,
        shape: Shape::Dot,
    });
    let body = frame(&root, &title, &entries, &c)?;
    let xmax = g
        .rows
        .iter()
        .flat_map(|r| std::iter::once(r.summary.high).chain(r.runs.iter().map(|p| p.value)))
        .fold(0.0, f64::max)
        / unit.scale
        * 1.15;
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_top(2)
        .x_label_area_size(44)
        .y_label_area_size(left)
        .build_cartesian_2d(0f64..xmax.max(1e-9), -0.6f64..(n as f64 - 0.4))
        .map_err(c.err())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc(format!(
            "{} (geometric mean, 95 % interval; dots: runs)",
            unit.label
        ))
        .x_label_formatter(&|v| tick(*v, xmax))
        .label_style(font(SMALL))
        .axis_desc_style(font(SMALL))
        .light_line_style(palette::LIGHT.mix(0.6))
        .draw()
        .map_err(c.err())?;
    for (i, r) in g.rows.iter().enumerate() {
        let y = row_y(i, n);
        let s = r.summary;
        let (gm, lo, hi) = (
            s.geomean / unit.scale,
            s.low / unit.scale,
            s.high / unit.scale,
        );
        let color = if r.raw { palette::GREY } else { palette::BLUE };
        c.pen.data(format!(
            "{}: {} (geometric mean of {} runs)",
            r.label,
            unit.show(s.geomean),
            s.n
        ));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.32), (gm, y + 0.32)],
                color.mix(0.75).filled(),
            )))
            .map_err(c.err())?;
        if s.n > 1 {
            c.pen.data(format!(
                "{}: 95 % interval {} – {}",
                r.label,
                unit.show(s.low),
                unit.show(s.high)
            ));
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (lo, y - 0.18),
                        (lo, y + 0.18),
                        (lo, y),
                        (hi, y),
                        (hi, y + 0.18),
                        (hi, y - 0.18),
                    ],
                    palette::INK.stroke_width(2),
                )))
                .map_err(c.err())?;
        }
        for p in &r.runs {
            let jitter = (f64::from(p.run % 5) - 2.0) * 0.06;
            c.pen.data(format!(
                "{}: run {}: {}",
                r.label,
                p.run,
                unit.show(p.value)
            ));
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.value / unit.scale, y + jitter),
                    2,
                    palette::INK.mix(0.55).filled(),
                )))
                .map_err(c.err())?;
        }
        c.pen.plain();
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((hi.max(gm), y))
                    + Text::new(
                        num(s.geomean / unit.scale),
                        (7, 0),
                        font(SMALL).pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))
            .map_err(c.err())?;
    }
    let ys: Vec<i32> = (0..n)
        .map(|i| chart.backend_coord(&(0.0, row_y(i, n))).1)
        .collect();
    let x0 = chart.plotting_area().get_pixel_range().0.start;
    drop(chart);
    row_labels(&root, &labels, None, &ys, x0, &c)?;
    Ok(c.finish(ChartKind::Throughput, title))
}

/// Latency by layout on a log axis: p50 (dot) and p99 (ring) joined by a line, geometric means
/// over the runs. `None` when no row has latencies.
pub(crate) fn latency(g: &Group<'_>) -> Result<Option<ChartInfo>, ReportError> {
    let rows: Vec<&Row<'_>> = g.rows.iter().filter(|r| r.latency.is_some()).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let n = rows.len();
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let left = label_area(&labels);
    let size = (900, HEAD + 70 + ROW * n as u32);
    let (c, root) = Canvas::new(g.id(ChartKind::Latency), size)?;
    let title = format!("{} on {}: latency by layout", g.workload, g.class);
    let body = frame(
        &root,
        &title,
        &[
            Legend {
                text: "p50",
                color: palette::BLUE,
                shape: Shape::Dot,
            },
            Legend {
                text: "p99",
                color: palette::VERMILLION,
                shape: Shape::Ring,
            },
        ],
        &c,
    )?;
    let (lo, hi) = rows
        .iter()
        .filter_map(|r| r.latency)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), (p50, p99)| {
            (lo.min(p50).min(p99), hi.max(p99).max(p50))
        });
    let (lo, hi) = (lo.max(1.0) / 1.3, hi.max(1.0) * 1.3);
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_top(2)
        .x_label_area_size(44)
        .y_label_area_size(left)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            -0.6f64..(n as f64 - 0.4),
        )
        .map_err(c.err())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc("latency per operation (log scale; geometric mean over the runs)")
        .x_label_formatter(&|v| duration_ns(*v))
        .label_style(font(SMALL))
        .axis_desc_style(font(SMALL))
        .light_line_style(palette::LIGHT.mix(0.6))
        .draw()
        .map_err(c.err())?;
    for (i, r) in rows.iter().enumerate() {
        let y = row_y(i, n);
        let Some((p50, p99)) = r.latency else {
            continue;
        };
        c.pen.data(format!(
            "{}: p50 {} to p99 {}",
            r.label,
            duration_ns(p50),
            duration_ns(p99)
        ));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(p50, y), (p99, y)],
                palette::GREY.stroke_width(2),
            )))
            .map_err(c.err())?;
        c.pen.data(format!("{}: p50 {}", r.label, duration_ns(p50)));
        chart
            .draw_series(std::iter::once(Circle::new(
                (p50, y),
                5,
                palette::BLUE.filled(),
            )))
            .map_err(c.err())?;
        c.pen.data(format!("{}: p99 {}", r.label, duration_ns(p99)));
        chart
            .draw_series(std::iter::once(Circle::new(
                (p99, y),
                5,
                palette::VERMILLION.stroke_width(2),
            )))
            .map_err(c.err())?;
        c.pen.plain();
    }
    let ys: Vec<i32> = (0..n)
        .map(|i| chart.backend_coord(&(lo, row_y(i, n))).1)
        .collect();
    let x0 = chart.plotting_area().get_pixel_range().0.start;
    drop(chart);
    row_labels(&root, &labels, None, &ys, x0, &c)?;
    Ok(Some(c.finish(ChartKind::Latency, title)))
}
