//! A recommendation's projected effect: per workload and mount point, the projection before
//! (100 %) and after, with the 95 % interval of the ratio.

use super::{
    Canvas, ChartInfo, ChartKind, HEAD, Legend, SMALL, Shape, font, frame, label_area, palette,
    row_labels,
};
use crate::error::ReportError;
use crate::format::{Unit, change};
use crate::input::ProjectedInput;
use plotters::prelude::*;

/// The row label of a projection.
pub(crate) fn row_label(p: &ProjectedInput) -> String {
    format!("{} · {}", p.mountpoint, p.workload)
}

/// The projections that can be drawn: a ratio, and before and after.
pub(crate) fn drawable(ps: &[ProjectedInput]) -> Vec<&ProjectedInput> {
    ps.iter()
        .filter(|p| p.ratio.is_some() && p.before.is_some() && p.after.is_some())
        .collect()
}

/// Before (100 %) and after bars with the after's interval; `None` without a drawable
/// projection. `key` names the chart (`R2`, `combined`).
pub(crate) fn chart(
    key: &str,
    title: &str,
    ps: &[ProjectedInput],
) -> Result<Option<ChartInfo>, ReportError> {
    let rows = drawable(ps);
    if rows.is_empty() {
        return Ok(None);
    }
    let n = rows.len();
    let labels: Vec<String> = rows.iter().map(|p| row_label(p)).collect();
    let changes: Vec<String> = rows
        .iter()
        .map(|p| match p.ratio {
            Some([r, lo, hi]) => format!("{} [{}, {}]", change(r), change(lo), change(hi)),
            None => String::new(),
        })
        .collect();
    let left = label_area(&labels).max(label_area(&changes));
    let size = (900, HEAD + 80 + 48 * n as u32);
    let id = format!("{}:{key}", ChartKind::BeforeAfter.as_str());
    let (c, root) = Canvas::new(id, size)?;
    let body = frame(
        &root,
        title,
        &[
            Legend {
                text: "before",
                color: palette::GREY,
                shape: Shape::Bar,
            },
            Legend {
                text: "after: gain",
                color: palette::GREEN,
                shape: Shape::Bar,
            },
            Legend {
                text: "after: loss",
                color: palette::VERMILLION,
                shape: Shape::Bar,
            },
            Legend {
                text: "after: interval spans 100 %",
                color: palette::SKY,
                shape: Shape::Bar,
            },
        ],
        &c,
    )?;
    let xmax = rows
        .iter()
        .filter_map(|p| p.ratio)
        .map(|r| r[2].max(r[0]).max(1.0) * 100.0)
        .fold(100.0, f64::max)
        * 1.08;
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_top(2)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(left)
        .build_cartesian_2d(0f64..xmax, -0.6f64..(n as f64 - 0.4))
        .map_err(c.err())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc("projected metric, % of before (after: 95 % interval of the ratio)")
        .x_label_formatter(&|v| format!("{v:.0} %"))
        .label_style(font(SMALL))
        .axis_desc_style(font(SMALL))
        .light_line_style(palette::LIGHT.mix(0.6))
        .draw()
        .map_err(c.err())?;
    for (i, p) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let (Some([r, lo, hi]), Some(before), Some(after)) = (p.ratio, p.before, p.after) else {
            continue;
        };
        let unit = Unit::of(&p.metric);
        let label = row_label(p);
        c.pen.data(format!(
            "{label}: before {} ({} model)",
            unit.show(before),
            p.status
        ));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.04), (100.0, y + 0.36)],
                palette::GREY.mix(0.6).filled(),
            )))
            .map_err(c.err())?;
        let color = if lo > 1.0 {
            palette::GREEN
        } else if hi < 1.0 {
            palette::VERMILLION
        } else {
            palette::SKY
        };
        c.pen.data(format!(
            "{label}: after {} ({}{})",
            unit.show(after),
            change(r),
            if p.capped {
                ", capped by the device's capability"
            } else {
                ""
            }
        ));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.36), (r * 100.0, y - 0.04)],
                color.mix(0.8).filled(),
            )))
            .map_err(c.err())?;
        c.pen.data(format!(
            "{label}: 95 % interval of the ratio {} to {}",
            change(lo),
            change(hi)
        ));
        let yw = y - 0.2;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (lo * 100.0, yw - 0.12),
                    (lo * 100.0, yw + 0.12),
                    (lo * 100.0, yw),
                    (hi * 100.0, yw),
                    (hi * 100.0, yw + 0.12),
                    (hi * 100.0, yw - 0.12),
                ],
                palette::INK.stroke_width(2),
            )))
            .map_err(c.err())?;
        c.pen.plain();
    }
    chart
        .draw_series(LineSeries::new(
            vec![(100.0, -0.6), (100.0, n as f64 - 0.4)],
            palette::INK.mix(0.5).stroke_width(1),
        ))
        .map_err(c.err())?;
    let ys: Vec<i32> = (0..n)
        .map(|i| chart.backend_coord(&(0.0, (n - 1 - i) as f64)).1)
        .collect();
    let x0 = chart.plotting_area().get_pixel_range().0.start;
    drop(chart);
    row_labels(&root, &labels, Some(&changes), &ys, x0, &c)?;
    Ok(Some(c.finish(ChartKind::BeforeAfter, title.to_string())))
}
