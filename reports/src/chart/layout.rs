//! A layout as a diagram: disks, partitions and containers, each btrfs filesystem with its
//! filesystem-wide mount options, and its subvolumes as a tree with mount point, per-mount
//! options, NOCOW, the compression new files really get, and snapshots.

use super::{Canvas, ChartInfo, ChartKind, LABEL, SMALL, TITLE, css_px, font, palette};
use crate::error::ReportError;
use crate::format::text_width;
use crate::input::NamedLayout;
use btrtune_advisor::layout::{
    BtrfsFilesystem, Content, DataPolicy, DiskContent, FsOptions, Layout, Snapshots,
};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 900;
const INDENT: i32 = 30;
const LINE: i32 = 16;

/// One box of the diagram.
struct Item {
    depth: i32,
    title: String,
    lines: Vec<String>,
    badges: Vec<(String, RGBColor)>,
    fill: RGBColor,
    /// A filesystem or subvolume (counted as data), not a disk or partition.
    data: bool,
}

impl Item {
    fn new(depth: i32, title: String, fill: RGBColor, data: bool) -> Item {
        Item {
            depth,
            title,
            lines: Vec::new(),
            badges: Vec::new(),
            fill,
            data,
        }
    }

    fn height(&self) -> i32 {
        10 + 18 + LINE * self.lines.len() as i32 + if self.badges.is_empty() { 0 } else { 22 }
    }
}

const DISK: RGBColor = RGBColor(238, 238, 238);
const FS: RGBColor = RGBColor(222, 235, 247);
const SUBVOL: RGBColor = RGBColor(250, 250, 250);
const PLAIN: RGBColor = RGBColor(240, 240, 228);

fn options_line(prefix: &str, opts: Vec<String>) -> Option<String> {
    (!opts.is_empty()).then(|| format!("{prefix}{}", opts.join(",")))
}

/// The badges of a subvolume's data: NOCOW, effective compression, snapshots.
fn badges(data: &DataPolicy, fs: &FsOptions) -> Vec<(String, RGBColor)> {
    let mut b = Vec::new();
    if data.nocow || fs.nodatacow {
        let what = if fs.compress.is_some() {
            "NOCOW (so not compressed)"
        } else {
            "NOCOW"
        };
        b.push((what.to_string(), palette::ORANGE));
    }
    match (data.effective_compression(fs), data.compression) {
        (Some(alg), Some(_)) => b.push((
            format!("compress {} (property)", alg.as_str()),
            palette::SKY,
        )),
        (Some(_), None) => {
            if let Some(c) = fs.effective_compression() {
                b.push((format!("compress {c}"), palette::SKY));
            }
        }
        (None, Some(p)) if !data.nocow => {
            b.push((format!("compression {}", p.as_str()), palette::LIGHT));
        }
        _ => {}
    }
    if let Snapshots::Timeline { .. } = data.snapshots {
        let kept = data.snapshots.retention().unwrap_or_default();
        b.push((format!("snapshots: {kept}"), palette::GREEN));
    }
    b
}

fn holds_line(data: &DataPolicy) -> String {
    let mut s = data.purpose.as_str().to_string();
    if !data.tools.is_empty() {
        s.push_str(&format!(" ({})", data.tools.join(", ")));
    }
    s
}

fn btrfs_items(fs: &BtrfsFilesystem, depth: i32, out: &mut Vec<Item>) {
    let mut head = Item::new(depth, "btrfs".into(), FS, true);
    if let Some(l) = &fs.mkfs.label {
        head.title = format!("btrfs “{l}”");
    }
    head.lines.push(
        options_line("every mount: ", fs.options.to_mount_options())
            .unwrap_or_else(|| "every mount: kernel defaults".into()),
    );
    let mkfs = fs.mkfs.to_args();
    if !mkfs.is_empty() {
        head.lines.push(format!("mkfs.btrfs {}", mkfs.join(" ")));
    }
    if let Some(t) = &fs.top_level {
        head.lines
            .push(format!("top level (id 5) at {}", t.mountpoint));
    }
    if let Some(first) = fs.first_mount() {
        head.lines
            .push(format!("the first mount, which sets them: {first}"));
    }
    out.push(head);
    // Subvolumes nest by name (`@home/.snapshots` under `@home`).
    let names: Vec<&str> = fs.subvolumes.iter().map(|s| s.name.as_str()).collect();
    let level = |name: &str| {
        names
            .iter()
            .filter(|p| {
                name.len() > p.len() && name.starts_with(*p) && name[p.len()..].starts_with('/')
            })
            .count() as i32
    };
    for s in &fs.subvolumes {
        let title = match &s.mount {
            Some(m) => format!("{} → {}", s.name, m.mountpoint),
            None => format!("{} (not mounted)", s.name),
        };
        let mut item = Item::new(depth + 1 + level(&s.name), title, SUBVOL, true);
        let mut line = holds_line(&s.data);
        if let Some(m) = &s.mount {
            if let Some(o) = options_line("; mount: ", m.vfs.to_mount_options()) {
                line.push_str(&o);
            }
            if let Some(o) = m
                .fs_override
                .as_ref()
                .and_then(|o| options_line("; ignored by the kernel: ", o.to_mount_options()))
            {
                line.push_str(&o);
            }
        }
        if !s.swapfiles.is_empty() {
            line.push_str(&format!("; {} swap file(s)", s.swapfiles.len()));
        }
        item.lines.push(line);
        item.badges = badges(&s.data, &fs.options);
        out.push(item);
        if fs.home().is_some_and(|h| h.name == s.name) {
            for h in &fs.home_subvolumes {
                let mut hi = Item::new(
                    depth + 2 + level(&s.name),
                    format!("~/{} (in every home)", h.path),
                    SUBVOL,
                    true,
                );
                hi.lines.push(holds_line(&h.data));
                hi.badges = badges(&h.data, &fs.options);
                out.push(hi);
            }
        }
    }
}

fn content_items(c: &Content, depth: i32, out: &mut Vec<Item>) {
    match c {
        Content::Btrfs(fs) => btrfs_items(fs, depth, out),
        Content::Filesystem(f) => {
            let title = match &f.mountpoint {
                Some(m) => format!("{} → {m}", f.format),
                None => f.format.clone(),
            };
            let mut item = Item::new(depth, title, PLAIN, true);
            if let Some(l) = options_line("mount: ", f.mount_options.clone()) {
                item.lines.push(l);
            }
            out.push(item);
        }
        Content::Swap(s) => {
            let mut item = Item::new(depth, "swap".into(), PLAIN, true);
            let mut l = Vec::new();
            if s.random_encryption {
                l.push("random encryption at every boot");
            }
            if s.resume_device {
                l.push("hibernation resume device");
            }
            if !l.is_empty() {
                item.lines.push(l.join("; "));
            }
            out.push(item);
        }
        Content::Luks(l) => {
            let mut item = Item::new(depth, format!("LUKS /dev/mapper/{}", l.name), DISK, false);
            if l.allow_discards {
                item.lines.push("discards pass through".into());
            }
            out.push(item);
            content_items(&l.content, depth + 1, out);
        }
        Content::Other { disko_type } => {
            let title = if disko_type == "raw" {
                "raw device (no filesystem)".to_string()
            } else {
                format!("{disko_type} (not modelled)")
            };
            out.push(Item::new(depth, title, PLAIN, true));
        }
    }
}

fn items(layout: &Layout) -> Vec<Item> {
    let mut out = Vec::new();
    for d in &layout.disks {
        let mut title = format!("disk {} · {}", d.name, d.device);
        if let Some(c) = d.class {
            title.push_str(&format!(" · {c}"));
        }
        out.push(Item::new(0, title, DISK, false));
        match &d.content {
            DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                for p in partitions {
                    let mut t = format!("partition {} · {}", p.name, p.size);
                    if let Some(code) = &p.type_code {
                        t.push_str(&format!(" · {code}"));
                    }
                    out.push(Item::new(1, t, DISK, false));
                    if let Some(c) = &p.content {
                        content_items(c, 2, &mut out);
                    }
                }
            }
            DiskContent::Whole { content } => content_items(content, 1, &mut out),
        }
    }
    for n in &layout.nodev {
        let mut item = Item::new(0, format!("{} → {}", n.fs_type, n.mountpoint), PLAIN, true);
        if let Some(l) = options_line("mount: ", n.mount_options.clone()) {
            item.lines.push(l);
        }
        out.push(item);
    }
    out
}

/// Wraps `s` to lines of at most `chars` characters, at commas and spaces where possible.
fn wrap(s: &str, chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split_inclusive([' ', ',']) {
        if !line.is_empty() && line.chars().count() + word.chars().count() > chars {
            out.push(line.trim_end().to_string());
            line = String::new();
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        out.push(line.trim_end().to_string());
    }
    out
}

/// The chart id of a layout.
pub(crate) fn id(l: &NamedLayout) -> String {
    format!("{}:{}:{}", ChartKind::Layout.as_str(), l.group, l.name)
}

/// The diagram of one layout; `None` for a layout with nothing in it.
pub(crate) fn chart(l: &NamedLayout) -> Result<Option<ChartInfo>, ReportError> {
    let mut list = items(&l.layout);
    if list.is_empty() {
        return Ok(None);
    }
    let small = css_px(SMALL);
    for it in &mut list {
        let x = 16 + INDENT * it.depth;
        let chars = ((WIDTH as i32 - x - 40) as f64 / (small * 0.6)) as usize;
        it.lines = it
            .lines
            .iter()
            .flat_map(|s| wrap(s, chars.max(20)))
            .collect();
    }
    let top = 56;
    let height = top + list.iter().map(|i| i.height() + 10).sum::<i32>() + 12;
    let (c, root) = Canvas::new(id(l), (WIDTH, height as u32))?;
    let title = format!("Layout {} ({})", l.name, l.group);
    root.draw(&Text::new(
        title.clone(),
        (16, 22),
        font(TITLE).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(c.err())?;
    let mut y = top;
    // The last box at each depth, for the tree's connectors.
    let mut anchors: Vec<(i32, i32)> = Vec::new();
    for it in &list {
        let x = 16 + INDENT * it.depth;
        let h = it.height();
        let w = WIDTH as i32 - x - 16;
        if it.depth > 0 {
            if let Some((ax, ay)) = anchors.get(it.depth as usize - 1).copied() {
                root.draw(&PathElement::new(
                    vec![(ax + 12, ay), (ax + 12, y + 14), (x, y + 14)],
                    palette::GREY.stroke_width(1),
                ))
                .map_err(c.err())?;
            }
        }
        anchors.truncate(it.depth as usize);
        anchors.push((x, y + h));
        if it.data {
            let mut tip = it.title.clone();
            for l in &it.lines {
                tip.push_str("; ");
                tip.push_str(l);
            }
            for (b, _) in &it.badges {
                tip.push_str("; ");
                tip.push_str(b);
            }
            c.pen.data(tip);
        }
        root.draw(&Rectangle::new([(x, y), (x + w, y + h)], it.fill.filled()))
            .map_err(c.err())?;
        c.pen.plain();
        root.draw(&Rectangle::new(
            [(x, y), (x + w, y + h)],
            palette::GREY.mix(0.8).stroke_width(1),
        ))
        .map_err(c.err())?;
        root.draw(&Text::new(
            it.title.clone(),
            (x + 10, y + 16),
            ("sans-serif", LABEL, FontStyle::Bold)
                .into_font()
                .color(&palette::INK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(c.err())?;
        let mut ly = y + 16 + LINE;
        for line in &it.lines {
            root.draw(&Text::new(
                line.clone(),
                (x + 10, ly),
                font(SMALL).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(c.err())?;
            ly += LINE;
        }
        if !it.badges.is_empty() {
            let mut bx = x + 10;
            let by = ly + 2;
            for (text, color) in &it.badges {
                let bw = text_width(text, small) as i32 + 12;
                root.draw(&Rectangle::new(
                    [(bx, by - 9), (bx + bw, by + 9)],
                    color.mix(0.3).filled(),
                ))
                .map_err(c.err())?;
                root.draw(&Rectangle::new(
                    [(bx, by - 9), (bx + bw, by + 9)],
                    color.stroke_width(1),
                ))
                .map_err(c.err())?;
                root.draw(&Text::new(
                    text.clone(),
                    (bx + 6, by),
                    font(SMALL).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(c.err())?;
                bx += bw + 8;
            }
        }
        y += h + 10;
    }
    Ok(Some(c.finish(ChartKind::Layout, title)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_option_lists_wrap_at_commas() {
        let w = wrap(
            "every mount: compress=zstd:1,autodefrag,commit=120,discard=async",
            30,
        );
        assert!(
            w.len() > 1 && w.iter().all(|l| l.chars().count() <= 30),
            "{w:?}"
        );
        assert_eq!(
            w.concat().replace(' ', ""),
            "everymount:compress=zstd:1,autodefrag,commit=120,discard=async"
        );
    }
}
