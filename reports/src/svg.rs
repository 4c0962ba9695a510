//! A plotters drawing backend that writes SVG elements into a shared buffer, the way
//! plotters-svg does (its element and attribute choices are followed here), with two
//! additions: while a data tag is set, every shape drawn gets `class="data"` and a `<title>`
//! (a tooltip saying what it shows), so a test or a reader can tell data from axes; and the
//! document has no namespace or other URL unless it is written as a standalone file.

use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle,
    FontTransform,
};
use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::rc::Rc;

/// The SVG being drawn.
#[derive(Debug, Default)]
pub(crate) struct SvgDoc {
    body: String,
    tag: Option<String>,
    points: usize,
}

/// The shared handle chart code keeps: marks what is data and takes the result.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pen(Rc<RefCell<SvgDoc>>);

impl Pen {
    /// Everything drawn until [`Pen::plain`] is data, with this tooltip.
    pub(crate) fn data(&self, title: impl Into<String>) {
        self.0.borrow_mut().tag = Some(title.into());
    }

    /// What is drawn next is not data.
    pub(crate) fn plain(&self) {
        self.0.borrow_mut().tag = None;
    }

    /// Data elements drawn so far.
    pub(crate) fn points(&self) -> usize {
        self.0.borrow().points
    }

    /// The elements drawn so far.
    pub(crate) fn body(&self) -> String {
        self.0.borrow().body.clone()
    }
}

/// The backend plotters draws on.
pub(crate) struct SvgBackend {
    pen: Pen,
    size: (u32, u32),
}

impl SvgBackend {
    pub(crate) fn new(pen: &Pen, size: (u32, u32)) -> Self {
        SvgBackend {
            pen: pen.clone(),
            size,
        }
    }

    fn element(&mut self, name: &str, attrs: &[(&str, String)]) {
        let mut doc = self.pen.0.borrow_mut();
        let tag = doc.tag.clone();
        let b = &mut doc.body;
        b.push('<');
        b.push_str(name);
        if tag.is_some() {
            b.push_str(" class=\"data\"");
        }
        for (k, v) in attrs {
            let _ = write!(b, " {k}=\"{}\"", escape(v));
        }
        match &tag {
            Some(title) => {
                let _ = writeln!(b, "><title>{}</title></{name}>", escape(title));
                doc.points += 1;
            }
            None => b.push_str("/>\n"),
        }
    }
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn color(c: BackendColor) -> String {
    let (r, g, b) = c.rgb;
    format!("#{r:02X}{g:02X}{b:02X}")
}

fn opacity(c: BackendColor) -> String {
    // Two decimals: enough for any palette and stable across platforms.
    let s = format!("{:.2}", c.alpha);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn points(path: impl IntoIterator<Item = BackendCoord>) -> String {
    let mut s = String::new();
    for (i, (x, y)) in path.into_iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x},{y}");
    }
    s
}

impl DrawingBackend for SvgBackend {
    type ErrorType = Infallible;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        c: BackendColor,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if c.alpha > 0.0 {
            self.element(
                "rect",
                &[
                    ("x", point.0.to_string()),
                    ("y", point.1.to_string()),
                    ("width", "1".into()),
                    ("height", "1".into()),
                    ("fill", color(c)),
                    ("opacity", opacity(c)),
                ],
            );
        }
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha > 0.0 {
            self.element(
                "line",
                &[
                    ("x1", from.0.to_string()),
                    ("y1", from.1.to_string()),
                    ("x2", to.0.to_string()),
                    ("y2", to.1.to_string()),
                    ("stroke", color(c)),
                    ("stroke-width", style.stroke_width().to_string()),
                    ("opacity", opacity(c)),
                ],
            );
        }
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha > 0.0 {
            let (f, s) = if fill {
                (color(c), "none".to_string())
            } else {
                ("none".to_string(), color(c))
            };
            let mut attrs = vec![
                ("x", upper_left.0.to_string()),
                ("y", upper_left.1.to_string()),
                ("width", (bottom_right.0 - upper_left.0).to_string()),
                ("height", (bottom_right.1 - upper_left.1).to_string()),
                ("fill", f),
                ("stroke", s),
            ];
            if !fill {
                attrs.push(("stroke-width", style.stroke_width().to_string()));
            }
            attrs.push(("opacity", opacity(c)));
            self.element("rect", &attrs);
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha > 0.0 {
            self.element(
                "polyline",
                &[
                    ("points", points(path)),
                    ("fill", "none".into()),
                    ("stroke", color(c)),
                    ("stroke-width", style.stroke_width().to_string()),
                    ("opacity", opacity(c)),
                ],
            );
        }
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha > 0.0 {
            self.element(
                "polygon",
                &[
                    ("points", points(path)),
                    ("fill", color(c)),
                    ("opacity", opacity(c)),
                ],
            );
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha > 0.0 {
            let (f, s) = if fill {
                (color(c), "none".to_string())
            } else {
                ("none".to_string(), color(c))
            };
            self.element(
                "circle",
                &[
                    ("cx", center.0.to_string()),
                    ("cy", center.1.to_string()),
                    ("r", radius.to_string()),
                    ("fill", f),
                    ("stroke", s),
                    ("stroke-width", style.stroke_width().to_string()),
                    ("opacity", opacity(c)),
                ],
            );
        }
        Ok(())
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let c = style.color();
        if c.alpha == 0.0 {
            return Ok(());
        }
        let (x, y) = pos;
        let anchor = match style.anchor().h_pos {
            HPos::Left => "start",
            HPos::Right => "end",
            HPos::Center => "middle",
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => "0.76em",
            VPos::Center => "0.35em",
            VPos::Bottom => "-0.3em",
        };
        let mut attrs = vec![
            ("x", x.to_string()),
            ("y", y.to_string()),
            ("dy", dy.to_string()),
            ("text-anchor", anchor.to_string()),
            ("font-family", style.family().as_str().to_string()),
            // plotters sizes fonts in pixels of the em box, 1.24 × the CSS font size.
            ("font-size", format!("{:.1}", style.size() / 1.24)),
            ("fill", color(c)),
        ];
        match style.style() {
            FontStyle::Normal => {}
            FontStyle::Bold => attrs.push(("font-weight", "bold".into())),
            other => attrs.push(("font-style", other.as_str().into())),
        }
        let rotate = match style.transform() {
            FontTransform::Rotate90 => Some(90),
            FontTransform::Rotate180 => Some(180),
            FontTransform::Rotate270 => Some(270),
            _ => None,
        };
        if let Some(deg) = rotate {
            attrs.push(("transform", format!("rotate({deg}, {x}, {y})")));
        }
        // Text is never data: labels are counted with nothing.
        let mut doc = self.pen.0.borrow_mut();
        let b = &mut doc.body;
        b.push_str("<text");
        for (k, v) in &attrs {
            let _ = write!(b, " {k}=\"{}\"", escape(v));
        }
        let _ = writeln!(b, ">{}</text>", escape(text));
        Ok(())
    }
}

/// Wraps a finished body as an SVG document. `standalone` adds the SVG namespace (needed in
/// a `.svg` file, not inside HTML, where it would be the page's only URL).
pub(crate) fn document(body: &str, size: (u32, u32), label: &str, standalone: bool) -> String {
    let ns = if standalone {
        " xmlns=\"http://www.w3.org/2000/svg\""
    } else {
        ""
    };
    format!(
        "<svg{ns} width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\">\n{body}</svg>\n",
        w = size.0,
        h = size.1,
        label = escape(label),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_shapes_are_tagged_and_counted_and_text_is_escaped() {
        let pen = Pen::default();
        {
            let root = SvgBackend::new(&pen, (100, 50)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            pen.data("a <b> & \"c\"");
            root.draw(&Circle::new((10, 10), 3, BLUE.filled())).unwrap();
            root.draw(&Text::new("x<y", (5, 5), ("sans-serif", 12)))
                .unwrap();
            pen.plain();
            root.draw(&PathElement::new(vec![(0, 0), (5, 5)], BLACK))
                .unwrap();
        }
        let body = pen.body();
        assert_eq!(pen.points(), 1);
        assert_eq!(body.matches("class=\"data\"").count(), 1);
        assert!(body.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title></circle>"));
        assert!(body.contains(">x&lt;y</text>"));
        let inline = document(&body, (100, 50), "t", false);
        assert!(!inline.contains("http"));
        assert!(document(&body, (100, 50), "t", true).contains("xmlns="));
    }
}
