//! A model's projections against the measured values: every layout of its leave-one-layout-out
//! validation (projected without that layout's runs), and, where the report has the runs and
//! their layouts, the in-sample fit (projected by the model fitted on everything).

use super::runs::Group;
use super::{
    Canvas, ChartInfo, ChartKind, HEAD, Legend, SMALL, Shape, font, frame, log_ticks, palette,
};
use crate::error::ReportError;
use crate::format::{Unit, tick};
use crate::input::NamedLayout;
use btrtune_advisor::model::features::features_at;
use btrtune_advisor::model::set::{Model, Status};
use plotters::prelude::*;

/// One point of the chart.
pub(crate) struct FitPoint {
    pub(crate) layout: String,
    pub(crate) measured: f64,
    pub(crate) projected: f64,
    /// Projected without its own runs (validation), or in-sample.
    pub(crate) held_out: bool,
    /// Held-out runs inside the 95 % prediction interval, of its runs.
    pub(crate) covered: Option<(usize, usize)>,
}

/// The points of a model's chart, and the held-out layouts it could not project (with why).
pub(crate) fn points(
    model: &Model,
    group: Option<&Group<'_>>,
    layouts: &[NamedLayout],
) -> (Vec<FitPoint>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    if let Some(v) = &model.validation {
        for h in &v.layouts {
            match h.projected {
                Some(p) if p > 0.0 && h.measured > 0.0 => out.push(FitPoint {
                    layout: h.layout.clone(),
                    measured: h.measured,
                    projected: p,
                    held_out: true,
                    covered: Some((h.runs_covered, h.runs)),
                }),
                _ => missing.push((
                    h.layout.clone(),
                    h.why_not.clone().unwrap_or_else(|| "not projected".into()),
                )),
            }
        }
    }
    for row in group.map(|g| g.rows.as_slice()).unwrap_or_default() {
        if row.raw || row.variant.is_some() {
            continue;
        }
        let Some(mp) = row.runs.first().and_then(|r| r.mountpoint.as_deref()) else {
            continue;
        };
        let Some(layout) = layouts
            .iter()
            .find(|l| l.group == row.matrix && l.name == row.layout)
        else {
            continue;
        };
        let Some(f) = features_at(&layout.layout, mp) else {
            continue;
        };
        if let Ok(p) = model.fitted.predict(&f) {
            out.push(FitPoint {
                layout: row.label.clone(),
                measured: row.summary.geomean,
                projected: p.value,
                held_out: false,
                covered: None,
            });
        }
    }
    (out, missing)
}

/// The status label a model carries.
pub(crate) fn status(s: Status) -> &'static str {
    match s {
        Status::Measured => "measured",
        Status::FailsGoals => "fails goals",
        Status::Prior => "prior",
    }
}

/// Projected against measured on log axes, with the line of perfect agreement and ±10 %.
pub(crate) fn chart(model: &Model, pts: &[FitPoint]) -> Result<Option<ChartInfo>, ReportError> {
    if pts.is_empty() {
        return Ok(None);
    }
    let unit = Unit::of(&model.metric);
    let id = format!(
        "{}:{}:{}",
        ChartKind::ModelFit.as_str(),
        model.class,
        model.workload
    );
    let (c, root) = Canvas::new(id, (660, 560 + HEAD))?;
    let title = format!("{} on {}: model against runs", model.workload, model.class);
    let mut entries = vec![Legend {
        text: "held out",
        color: palette::BLUE,
        shape: Shape::Dot,
    }];
    if pts.iter().any(|p| !p.held_out) {
        entries.push(Legend {
            text: "in-sample",
            color: palette::ORANGE,
            shape: Shape::Square,
        });
    }
    entries.push(Legend {
        text: "y = x, ±10 %",
        color: palette::GREY,
        shape: Shape::Line,
    });
    let body = frame(&root, &title, &entries, &c)?;
    let (lo, hi) = pts.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (
            lo.min(p.measured).min(p.projected),
            hi.max(p.measured).max(p.projected),
        )
    });
    let (lo, hi) = (lo / unit.scale / 1.12, hi / unit.scale * 1.12);
    let ticks = log_ticks(lo, hi);
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_top(2)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(ticks.clone()),
            (lo..hi).log_scale().with_key_points(ticks),
        )
        .map_err(c.err())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_desc(format!(
            "measured {} (geometric mean per layout)",
            unit.label
        ))
        .y_desc(format!("projected {}", unit.label))
        .x_label_formatter(&|v| tick(*v, hi))
        .y_label_formatter(&|v| tick(*v, hi))
        .label_style(font(SMALL))
        .axis_desc_style(font(SMALL))
        .light_line_style(palette::LIGHT.mix(0.6))
        .draw()
        .map_err(c.err())?;
    for (f, style) in [
        (1.0, palette::INK.mix(0.7).stroke_width(1)),
        (1.1, palette::GREY.mix(0.5).stroke_width(1)),
        (1.0 / 1.1, palette::GREY.mix(0.5).stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new(
                vec![(lo, lo * f), (hi, hi * f)]
                    .into_iter()
                    .filter(|(x, y)| *x > 0.0 && *y > 0.0),
                style,
            ))
            .map_err(c.err())?;
    }
    for p in pts {
        let (x, y) = (p.measured / unit.scale, p.projected / unit.scale);
        let err = (p.projected / p.measured - 1.0) * 100.0;
        if p.held_out {
            let cov = p
                .covered
                .map(|(k, n)| format!(", {k} of {n} runs inside the 95 % interval"))
                .unwrap_or_default();
            c.pen.data(format!(
                "{} (held out): measured {}, projected {} ({err:+.1} %){cov}",
                p.layout,
                unit.show(p.measured),
                unit.show(p.projected)
            ));
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, y),
                    5,
                    palette::BLUE.mix(0.85).filled(),
                )))
                .map_err(c.err())?;
        } else {
            c.pen.data(format!(
                "{} (in-sample fit): measured {}, fitted {} ({err:+.1} %)",
                p.layout,
                unit.show(p.measured),
                unit.show(p.projected)
            ));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y))
                        + Rectangle::new([(-5, -5), (5, 5)], palette::ORANGE.stroke_width(2)),
                ))
                .map_err(c.err())?;
        }
        c.pen.plain();
    }
    drop(chart);
    Ok(Some(c.finish(ChartKind::ModelFit, title)))
}
