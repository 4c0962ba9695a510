//! Benchmark comparisons as a forest plot: per workload the measured ratio proposed/baseline
//! with its 95 % interval, over the models' projected interval.

use super::{
    Canvas, ChartInfo, ChartKind, HEAD, Legend, SMALL, Shape, font, frame, label_area, log_ticks,
    palette, row_labels,
};
use crate::error::ReportError;
use crate::format::change;
use crate::input::Comparison;
use plotters::prelude::*;

/// The row label of a comparison.
pub(crate) fn row_label(c: &Comparison) -> String {
    match &c.target {
        Some(t) => format!(
            "{} at {t} ({} → {})",
            c.workload, c.baseline_layout, c.proposed_layout
        ),
        None => format!(
            "{} ({} → {})",
            c.workload, c.baseline_layout, c.proposed_layout
        ),
    }
}

/// The forest plot; `None` without comparisons.
pub(crate) fn chart(cs: &[Comparison]) -> Result<Option<ChartInfo>, ReportError> {
    let rows: Vec<&Comparison> = cs
        .iter()
        .filter(|c| c.ratio > 0.0 && c.ratio_low > 0.0 && c.ratio_high > 0.0)
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let n = rows.len();
    let labels: Vec<String> = rows.iter().map(|c| row_label(c)).collect();
    let left = label_area(&labels);
    let size = (900, HEAD + 80 + 36 * n as u32);
    let id = format!("{}:bench", ChartKind::Comparison.as_str());
    let (c, root) = Canvas::new(id, size)?;
    let title = "Measured against projected: proposed / baseline".to_string();
    let body = frame(
        &root,
        &title,
        &[
            Legend {
                text: "measured",
                color: palette::INK,
                shape: Shape::Dot,
            },
            Legend {
                text: "projected interval",
                color: palette::ORANGE,
                shape: Shape::Bar,
            },
        ],
        &c,
    )?;
    let (lo, hi) = rows
        .iter()
        .flat_map(|c| {
            [c.ratio_low, c.ratio_high, c.ratio]
                .into_iter()
                .chain(c.projected.iter().flat_map(|p| [p.low, p.high]))
        })
        .filter(|v| *v > 0.0)
        .fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (lo / 1.15, hi * 1.15);
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_top(2)
        .margin_right(20)
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
        .x_desc("ratio proposed / baseline (log scale; 95 % intervals)")
        .x_label_formatter(&|v| format!("×{v:.2}"))
        .label_style(font(SMALL))
        .axis_desc_style(font(SMALL))
        .light_line_style(palette::LIGHT.mix(0.6))
        .draw()
        .map_err(c.err())?;
    chart
        .draw_series(LineSeries::new(
            vec![(1.0, -0.6), (1.0, n as f64 - 0.4)],
            palette::INK.mix(0.5).stroke_width(1),
        ))
        .map_err(c.err())?;
    for (i, cmp) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let label = row_label(cmp);
        if let Some(p) = cmp.projected.filter(|p| p.low > 0.0 && p.high > 0.0) {
            c.pen.data(format!(
                "{label}: projected {} [{}, {}]",
                change(p.value),
                change(p.low),
                change(p.high)
            ));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p.low, y - 0.3), (p.high, y + 0.3)],
                    palette::ORANGE.mix(0.35).filled(),
                )))
                .map_err(c.err())?;
        }
        c.pen.data(format!(
            "{label}: measured 95 % interval {} to {}",
            change(cmp.ratio_low),
            change(cmp.ratio_high)
        ));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (cmp.ratio_low, y - 0.15),
                    (cmp.ratio_low, y + 0.15),
                    (cmp.ratio_low, y),
                    (cmp.ratio_high, y),
                    (cmp.ratio_high, y + 0.15),
                    (cmp.ratio_high, y - 0.15),
                ],
                palette::INK.stroke_width(2),
            )))
            .map_err(c.err())?;
        let color = match (cmp.significant, cmp.ratio >= 1.0) {
            (true, true) => palette::GREEN,
            (true, false) => palette::VERMILLION,
            (false, _) => palette::GREY,
        };
        c.pen.data(format!("{label}: {}", cmp.verdict));
        chart
            .draw_series(std::iter::once(Circle::new(
                (cmp.ratio, y),
                6,
                color.filled(),
            )))
            .map_err(c.err())?;
        c.pen.plain();
    }
    let ys: Vec<i32> = (0..n)
        .map(|i| chart.backend_coord(&(lo, (n - 1 - i) as f64)).1)
        .collect();
    let x0 = chart.plotting_area().get_pixel_range().0.start;
    drop(chart);
    row_labels(&root, &labels, None, &ys, x0, &c)?;
    Ok(Some(c.finish(ChartKind::Comparison, title)))
}
