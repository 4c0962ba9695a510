//! The report as Markdown: the same sections, each chart an image link to its SVG file next
//! to `report.md`, and the values as tables.

use crate::page::{Block, Doc};
use std::fmt::Write as _;

/// Text outside code spans with the characters Markdown or HTML would act on escaped.
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "`{part}`");
        } else {
            for c in part.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '*' | '_' | '[' | ']' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
        }
    }
    out
}

/// A table cell: text, with pipes and line breaks made harmless.
fn cell(s: &str) -> String {
    text(s).replace('|', "\\|").replace('\n', " ")
}

/// Renders the Markdown.
pub(crate) fn render(doc: &Doc) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", text(&doc.title));
    if let Some(g) = &doc.generated {
        let _ = writeln!(m, "Generated {}.\n", text(g));
    }
    if !doc.sources.is_empty() {
        let list: Vec<String> = doc.sources.iter().map(|s| format!("`{s}`")).collect();
        let _ = writeln!(m, "From {}.\n", list.join(", "));
    }
    let _ = writeln!(
        m,
        "{} charts (SVG files beside this one; `report.html` has them inline, with the numbers on hover).\n",
        doc.charts.len()
    );
    for s in &doc.sections {
        let n = s
            .blocks
            .iter()
            .filter(|b| matches!(b, Block::Chart { .. }))
            .count();
        let _ = writeln!(m, "- [{}](#{}) ({n})", text(&s.title), s.id);
    }
    m.push('\n');
    for s in &doc.sections {
        let _ = writeln!(m, "<a id=\"{}\"></a>\n\n## {}\n", s.id, text(&s.title));
        for b in &s.blocks {
            match b {
                Block::Heading(t) => {
                    let _ = writeln!(m, "### {}\n", text(t));
                }
                Block::Para(t) => {
                    let _ = writeln!(m, "{}\n", text(t));
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(m, "- {}", text(i));
                    }
                    m.push('\n');
                }
                Block::Chart { index, caption } => {
                    let c = &doc.charts[*index];
                    let alt = c.title.replace(['[', ']'], "");
                    let _ = writeln!(m, "![{alt}]({})\n\n{}\n", c.file, text(caption));
                }
                Block::Table { head, rows, .. } => {
                    let _ = writeln!(
                        m,
                        "| {} |",
                        head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")
                    );
                    let _ = writeln!(m, "|{}", head.iter().map(|_| " --- |").collect::<String>());
                    for r in rows {
                        let _ = writeln!(
                            m,
                            "| {} |",
                            r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                        );
                    }
                    m.push('\n');
                }
            }
        }
    }
    while m.ends_with("\n\n") {
        m.pop();
    }
    m
}
