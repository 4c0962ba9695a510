//! The report as one self-contained HTML page: inline CSS, inline SVG, no script and no
//! reference to anything outside the file.

use crate::page::{Block, Doc};
use crate::svg::escape;
use std::fmt::Write as _;

const CSS: &str = "\
body{font-family:\"DejaVu Sans\",\"Liberation Sans\",Arial,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}
h2{font-size:1.35em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2.2em}
h3{font-size:1.05em;margin:1.6em 0 .4em}
.sources{color:#555;font-size:.9em}
nav{background:#f7f7f7;border:1px solid #e4e4e4;padding:.4em 1em;margin:1em 0}
nav ul{margin:.3em 0;padding-left:1.2em}
figure.chart{margin:.6em 0 1em}
figure.chart svg{max-width:100%;height:auto;border:1px solid #eee;display:block}
figure.chart svg .data:hover{opacity:.6}
figcaption{font-size:.88em;color:#444;margin-top:.3em}
details{margin:.3em 0 1em;font-size:.85em}
summary{cursor:pointer;color:#555}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #ddd;padding:.15em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
code{background:#f2f2f2;padding:0 .2em;border-radius:2px;font-size:.95em}
";

/// Text with `code` spans, escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// Renders the page.
pub(crate) fn render(doc: &Doc) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"btrtune report\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    if !doc.sources.is_empty() || doc.generated.is_some() {
        h.push_str("<p class=\"sources\">");
        if let Some(g) = &doc.generated {
            let _ = write!(h, "Generated {}. ", escape(g));
        }
        if !doc.sources.is_empty() {
            h.push_str("From ");
            let list: Vec<String> = doc
                .sources
                .iter()
                .map(|s| format!("<code>{}</code>", escape(s)))
                .collect();
            h.push_str(&list.join(", "));
            h.push('.');
        }
        h.push_str("</p>\n");
    }
    let _ = writeln!(
        h,
        "<p>{} charts. Hover a bar, whisker or point for its numbers; the values behind each chart are in the table under it.</p>",
        doc.charts.len()
    );
    h.push_str("<nav><strong>Contents</strong>\n<ul>\n");
    for s in &doc.sections {
        let n = s
            .blocks
            .iter()
            .filter(|b| matches!(b, Block::Chart { .. }))
            .count();
        let _ = writeln!(
            h,
            "<li><a href=\"#{}\">{}</a> ({n})</li>",
            escape(&s.id),
            escape(&s.title)
        );
    }
    h.push_str("</ul>\n</nav>\n");
    for s in &doc.sections {
        let _ = writeln!(
            h,
            "<section id=\"{}\">\n<h2>{}</h2>",
            escape(&s.id),
            escape(&s.title)
        );
        for b in &s.blocks {
            match b {
                Block::Heading(t) => {
                    let _ = writeln!(h, "<h3>{}</h3>", inline(t));
                }
                Block::Para(t) => {
                    let _ = writeln!(h, "<p>{}</p>", inline(t));
                }
                Block::List(items) => {
                    h.push_str("<ul>\n");
                    for i in items {
                        let _ = writeln!(h, "<li>{}</li>", inline(i));
                    }
                    h.push_str("</ul>\n");
                }
                Block::Chart { index, caption } => {
                    let c = &doc.charts[*index];
                    let _ = write!(
                        h,
                        "<figure class=\"chart\" id=\"{}\" data-chart=\"{}\" data-kind=\"{}\" data-points=\"{}\">\n{}<figcaption>{}</figcaption>\n</figure>\n",
                        escape(&crate::format::slug(&c.id)),
                        escape(&c.id),
                        c.kind.as_str(),
                        c.points,
                        c.inline_svg(),
                        inline(caption)
                    );
                }
                Block::Table {
                    summary,
                    head,
                    rows,
                } => {
                    let _ = write!(
                        h,
                        "<details><summary>{} ({} rows)</summary>\n<table>\n<tr>",
                        inline(summary),
                        rows.len()
                    );
                    for c in head {
                        let _ = write!(h, "<th>{}</th>", escape(c));
                    }
                    h.push_str("</tr>\n");
                    for r in rows {
                        h.push_str("<tr>");
                        for c in r {
                            let _ = write!(h, "<td>{}</td>", escape(c));
                        }
                        h.push_str("</tr>\n");
                    }
                    h.push_str("</table>\n</details>\n");
                }
            }
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}
