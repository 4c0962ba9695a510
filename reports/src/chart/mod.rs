//! The charts: each is drawn with plotters on [`SvgBackend`](crate::svg::SvgBackend), and
//! every shape that shows data is tagged so that it can be counted (`class="data"`).

pub(crate) mod comparison;
pub(crate) mod diagnosis;
pub(crate) mod fit;
pub(crate) mod layout;
pub(crate) mod runs;

use crate::error::ReportError;
use crate::svg::{Pen, SvgBackend, document};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

/// What a chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChartKind {
    /// Throughput by layout: geometric mean with its 95 % interval, and every run.
    Throughput,
    /// Latency percentiles (p50 and p99) by layout.
    Latency,
    /// A model's projections against the measured values (held-out and in-sample).
    ModelFit,
    /// A diagnosis recommendation's projected before/after effect with its interval.
    BeforeAfter,
    /// Benchmark comparisons: measured ratios with intervals against the projected ones.
    Comparison,
    /// A layout's filesystems and subvolumes with their attributes.
    Layout,
}

impl ChartKind {
    /// Every kind, in report order.
    pub const ALL: [ChartKind; 6] = [
        ChartKind::Throughput,
        ChartKind::Latency,
        ChartKind::ModelFit,
        ChartKind::BeforeAfter,
        ChartKind::Comparison,
        ChartKind::Layout,
    ];

    /// The kebab-case name (the prefix of chart ids).
    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Throughput => "throughput",
            ChartKind::Latency => "latency",
            ChartKind::ModelFit => "model-fit",
            ChartKind::BeforeAfter => "before-after",
            ChartKind::Comparison => "comparison",
            ChartKind::Layout => "layout",
        }
    }
}

/// One chart of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChartInfo {
    /// Stable id, `<kind>:<what>` (`throughput:ram:wal-postgresql`): the HTML figure's
    /// `data-chart` attribute.
    pub id: String,
    /// What it shows.
    pub kind: ChartKind,
    /// Its title.
    pub title: String,
    /// Its SVG file next to `report.md`.
    pub file: String,
    /// Data elements drawn (bars, whiskers, points, boxes): the figure's `data-points`.
    pub points: usize,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    #[serde(skip)]
    pub(crate) body: String,
}

impl ChartInfo {
    /// The chart as a standalone SVG file.
    pub fn svg(&self) -> String {
        document(&self.body, (self.width, self.height), &self.title, true)
    }

    /// The chart for inlining in HTML (no namespace URL).
    pub(crate) fn inline_svg(&self) -> String {
        document(&self.body, (self.width, self.height), &self.title, false)
    }
}

/// A chart being drawn.
pub(crate) struct Canvas {
    pub(crate) pen: Pen,
    pub(crate) size: (u32, u32),
    pub(crate) id: String,
}

pub(crate) type Area = DrawingArea<SvgBackend, Shift>;

impl Canvas {
    pub(crate) fn new(id: String, size: (u32, u32)) -> Result<(Canvas, Area), ReportError> {
        let pen = Pen::default();
        let root = SvgBackend::new(&pen, size).into_drawing_area();
        let c = Canvas { pen, size, id };
        root.fill(&WHITE).map_err(c.err())?;
        Ok((c, root))
    }

    /// Maps a plotters error to one naming this chart.
    pub(crate) fn err<E: std::fmt::Display>(&self) -> impl Fn(E) -> ReportError + use<E> {
        let chart = self.id.clone();
        move |e| ReportError::Draw {
            chart: chart.clone(),
            message: e.to_string(),
        }
    }

    pub(crate) fn finish(self, kind: ChartKind, title: String) -> ChartInfo {
        ChartInfo {
            file: format!("{}.svg", crate::format::slug(&self.id)),
            points: self.pen.points(),
            width: self.size.0,
            height: self.size.1,
            body: self.pen.body(),
            id: self.id,
            kind,
            title,
        }
    }
}

/// The colours (Okabe–Ito: distinguishable with the common colour-vision deficiencies).
pub(crate) mod palette {
    use plotters::style::RGBColor;
    pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
    pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
    pub(crate) const GREEN: RGBColor = RGBColor(0, 158, 115);
    pub(crate) const VERMILLION: RGBColor = RGBColor(213, 94, 0);
    pub(crate) const SKY: RGBColor = RGBColor(86, 180, 233);
    pub(crate) const GREY: RGBColor = RGBColor(120, 120, 120);
    pub(crate) const LIGHT: RGBColor = RGBColor(225, 225, 225);
    pub(crate) const INK: RGBColor = RGBColor(34, 34, 34);
}

/// Font sizes in plotters units (1.24 × the CSS pixel size, as plotters-svg writes them).
pub(crate) const TITLE: u32 = 19;
pub(crate) const LABEL: u32 = 15;
pub(crate) const SMALL: u32 = 13;

/// The CSS pixel size of a plotters font size.
pub(crate) fn css_px(size: u32) -> f64 {
    f64::from(size) / 1.24
}

/// A text style.
pub(crate) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&palette::INK)
}

/// Row labels drawn left of a horizontal chart's plotting area: `ys` are the rows' pixel
/// heights, `x` the area's left edge; `sub` adds a second, smaller line under each.
pub(crate) fn row_labels(
    root: &Area,
    labels: &[String],
    sub: Option<&[String]>,
    ys: &[i32],
    x: i32,
    c: &Canvas,
) -> Result<(), ReportError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let style = font(LABEL).pos(Pos::new(HPos::Right, VPos::Center));
    let small = font(SMALL).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (label, y)) in labels.iter().zip(ys).enumerate() {
        match sub.and_then(|s| s.get(i)) {
            Some(second) => {
                root.draw(&Text::new(label.clone(), (x - 8, *y - 8), style.clone()))
                    .map_err(c.err())?;
                root.draw(&Text::new(second.clone(), (x - 8, *y + 9), small.clone()))
                    .map_err(c.err())?;
            }
            None => root
                .draw(&Text::new(label.clone(), (x - 8, *y), style.clone()))
                .map_err(c.err())?,
        }
    }
    Ok(())
}

/// A legend entry: a marker drawn by `marker` at the given pixel position, then the text.
pub(crate) struct Legend<'a> {
    pub(crate) text: &'a str,
    pub(crate) color: RGBColor,
    pub(crate) shape: Shape,
}

/// Legend marker shapes.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    Bar,
    Dot,
    Ring,
    Square,
    Line,
}

/// Height of the strip above a chart that holds its title and legend.
pub(crate) const HEAD: u32 = 62;

/// Draws the title (left) and the legend (right, under it) in a strip at the top, and
/// returns the area below for the chart.
pub(crate) fn frame(
    root: &Area,
    title: &str,
    entries: &[Legend<'_>],
    c: &Canvas,
) -> Result<Area, ReportError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let (head, body) = root.split_vertically(HEAD);
    head.draw(&Text::new(
        title.to_string(),
        (16, 20),
        font(TITLE).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(c.err())?;
    let px = css_px(SMALL);
    let widths: Vec<i32> = entries
        .iter()
        .map(|e| crate::format::text_width(e.text, px) as i32 + 30)
        .collect();
    let mut x = c.size.0 as i32 - 12 - widths.iter().sum::<i32>();
    let y = 46;
    for (e, w) in entries.iter().zip(widths) {
        let m = (x + 8, y);
        match e.shape {
            Shape::Bar => head.draw(&Rectangle::new(
                [(m.0 - 7, m.1 - 5), (m.0 + 7, m.1 + 5)],
                e.color.mix(0.8).filled(),
            )),
            Shape::Dot => head.draw(&Circle::new(m, 4, e.color.filled())),
            Shape::Ring => head.draw(&Circle::new(m, 4, e.color.stroke_width(2))),
            Shape::Square => head.draw(&Rectangle::new(
                [(m.0 - 4, m.1 - 4), (m.0 + 4, m.1 + 4)],
                e.color.stroke_width(2),
            )),
            Shape::Line => head.draw(&PathElement::new(
                vec![(m.0 - 8, m.1), (m.0 + 8, m.1)],
                e.color.stroke_width(2),
            )),
        }
        .map_err(c.err())?;
        head.draw(&Text::new(
            e.text.to_string(),
            (x + 20, y),
            font(SMALL).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(c.err())?;
        x += w;
    }
    Ok(body)
}

/// Ticks for a log axis from `lo` to `hi`: 1, 2, 5 × 10^k, denser or sparser so that there
/// are about 4 to 10.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut best = Vec::new();
    for mantissas in [
        &[1.0][..],
        &[1.0, 3.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[
            1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0,
        ],
    ] {
        let mut ticks = Vec::new();
        let mut e = lo.log10().floor() as i32 - 1;
        while 10f64.powi(e) <= hi * 10.0 {
            for m in mantissas {
                let v = m * 10f64.powi(e);
                if v >= lo && v <= hi {
                    ticks.push(v);
                }
            }
            e += 1;
        }
        best = ticks;
        if best.len() >= 4 {
            break;
        }
    }
    best
}

/// The left label area a set of row labels needs, in pixels.
pub(crate) fn label_area(labels: &[String]) -> u32 {
    let w = labels
        .iter()
        .map(|l| crate::format::text_width(l, css_px(LABEL)))
        .fold(60.0, f64::max);
    (w + 16.0).min(420.0) as u32
}
