//! File contents: source text as an editor saves it, object code as a compiler writes it.
//!
//! Compression layouts (`compress=zstd:1`, ...) are among the candidates, so contents must
//! compress like the real thing: [`source_text`] writes Rust-like lines (indentation,
//! keywords, identifiers from a word list drawn Zipf-like, punctuation, comments, numbers),
//! which deflate shrinks about 3–5× as it does real source; [`object_code`] writes an ELF-like
//! header and then mixes incompressible "machine code" blocks with blocks copied from the
//! source (symbol names, strings, debug info), so it compresses worse than the source, as
//! `.o`/`.rlib` files do.

use crate::rng::SplitMix64;

/// Identifiers and comment words (programming vocabulary first: the Zipf-like draw favours
/// the front of the list, as real code repeats `self`, `value`, `len` far more than `zephyr`).
pub const WORDS: &[&str] = &[
    "self",
    "value",
    "len",
    "data",
    "buf",
    "index",
    "state",
    "config",
    "error",
    "result",
    "name",
    "path",
    "file",
    "node",
    "item",
    "key",
    "map",
    "list",
    "count",
    "size",
    "offset",
    "input",
    "output",
    "reader",
    "writer",
    "context",
    "handle",
    "token",
    "span",
    "range",
    "start",
    "end",
    "next",
    "prev",
    "parent",
    "child",
    "entry",
    "table",
    "cache",
    "buffer",
    "stream",
    "bytes",
    "chars",
    "line",
    "column",
    "kind",
    "flags",
    "mode",
    "options",
    "args",
    "builder",
    "parser",
    "lexer",
    "visitor",
    "walker",
    "scope",
    "block",
    "expr",
    "stmt",
    "field",
    "method",
    "module",
    "crate",
    "target",
    "source",
    "dest",
    "header",
    "body",
    "request",
    "response",
    "client",
    "server",
    "session",
    "thread",
    "task",
    "queue",
    "lock",
    "guard",
    "event",
    "signal",
    "timer",
    "clock",
    "delay",
    "limit",
    "width",
    "height",
    "depth",
    "total",
    "sum",
    "min",
    "max",
    "first",
    "last",
    "inner",
    "outer",
    "raw",
    "parsed",
    "encoded",
    "decoded",
    "checked",
    "unchecked",
    "default",
    "new",
    "old",
    "current",
    "pending",
    "ready",
    "closed",
    "open",
    "read",
    "write",
    "flush",
    "sync",
    "seek",
    "copy",
    "clone",
    "push",
    "pop",
    "insert",
    "remove",
    "get",
    "set",
    "find",
    "sort",
    "split",
    "join",
    "merge",
    "apply",
    "update",
    "reset",
    "clear",
    "check",
    "verify",
    "encode",
    "decode",
    "format",
    "display",
    "debug",
    "trace",
    "warn",
    "info",
    "emit",
    "visit",
    "walk",
    "load",
    "store",
    "fetch",
    "spawn",
    "poll",
    "wake",
    "send",
    "recv",
    "accept",
    "connect",
    "bind",
    "listen",
    "parse",
    "resolve",
    "lookup",
    "register",
    "unregister",
    "allocate",
    "release",
    "acquire",
    "retry",
    "backoff",
    "timeout",
    "deadline",
    "budget",
    "metric",
    "sample",
    "window",
    "frame",
    "packet",
    "segment",
    "chunk",
    "page",
    "slot",
    "bucket",
    "hash",
    "digest",
    "crc",
    "seed",
    "random",
    "layout",
    "align",
    "padding",
    "cursor",
    "anchor",
    "marker",
    "label",
    "tag",
    "attr",
    "schema",
    "version",
    "feature",
    "platform",
    "target_os",
    "arch",
    "endian",
    "unix",
    "windows",
    "linux",
    "darwin",
    "android",
    "wasm",
    "simd",
    "atomic",
    "volatile",
    "ordering",
    "relaxed",
    "acquire_release",
    "sequential",
    "fence",
    "barrier",
    "epoch",
    "generation",
    "snapshot",
    "journal",
    "commit",
    "rollback",
    "checkpoint",
    "recovery",
    "replica",
    "leader",
    "follower",
    "quorum",
    "vote",
    "term",
    "proposal",
    "ballot",
    "zephyr",
    "quartz",
    "meadow",
];

const KEYWORDS_TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "usize", "i32", "i64", "f64", "bool", "str", "String", "Vec",
    "Option", "Result", "Box", "Arc", "Rc", "HashMap", "BTreeMap", "Path", "PathBuf",
];

/// A word, drawn so that early words are far more frequent (the product of two uniforms).
fn word(rng: &mut SplitMix64) -> &'static str {
    let n = WORDS.len() as u64;
    let a = rng.below(n);
    let b = rng.below(n) + 1;
    WORDS[((a * b) / n) as usize]
}

/// The identifiers one file keeps using (its locals, fields and functions): real files
/// repeat a few dozen names, which is what makes source compress well.
struct Vocabulary {
    idents: Vec<Vec<u8>>,
}

impl Vocabulary {
    fn new(rng: &mut SplitMix64, size: usize) -> Self {
        let n = (16 + size / 2048).min(96);
        let idents = (0..n)
            .map(|_| {
                let mut v = word(rng).as_bytes().to_vec();
                if rng.chance(0.5) {
                    v.push(b'_');
                    v.extend_from_slice(word(rng).as_bytes());
                }
                v
            })
            .collect();
        Self { idents }
    }
}

fn push_ident(out: &mut Vec<u8>, rng: &mut SplitMix64, vocab: &Vocabulary) {
    if rng.chance(0.85) {
        // Zipf-like within the file's own names too.
        let n = vocab.idents.len() as u64;
        let i = (rng.below(n) * (rng.below(n) + 1)) / n;
        out.extend_from_slice(&vocab.idents[i as usize]);
    } else {
        out.extend_from_slice(word(rng).as_bytes());
    }
}

fn push_type(out: &mut Vec<u8>, rng: &mut SplitMix64) {
    if rng.chance(0.35) {
        out.extend_from_slice(KEYWORDS_TYPES[rng.index(KEYWORDS_TYPES.len())].as_bytes());
        return;
    }
    for _ in 0..1 + rng.index(2) {
        let w = word(rng).as_bytes();
        for part in w.split(|&c| c == b'_') {
            if let Some((first, rest)) = part.split_first() {
                out.push(first.to_ascii_uppercase());
                out.extend_from_slice(rest);
            }
        }
    }
}

fn push_number(out: &mut Vec<u8>, rng: &mut SplitMix64) {
    let n = match rng.index(4) {
        0 => rng.below(2),
        1 => rng.below(16),
        2 => rng.below(1024),
        _ => 1u64 << rng.below(20),
    };
    out.extend_from_slice(n.to_string().as_bytes());
}

fn push_words(out: &mut Vec<u8>, rng: &mut SplitMix64, n: usize) {
    for i in 0..n {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(word(rng).as_bytes());
    }
}

fn indent(out: &mut Vec<u8>, level: usize) {
    out.extend(std::iter::repeat_n(b' ', 4 * level));
}

/// Fills `out` with exactly `size` bytes of Rust-like source text, determined by `seed`.
pub fn source_text(seed: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(size + 128);
    let mut rng = SplitMix64::new(seed);
    let vocab = Vocabulary::new(&mut rng, size);
    let mut level = 0usize;
    // Starts of recent lines: code repeats itself (similar calls, match arms, field lists).
    let mut recent: Vec<(usize, usize)> = Vec::with_capacity(RECENT_LINES);
    while out.len() < size {
        let begin = out.len();
        if recent.len() > 4 && rng.chance(REPEAT_LINE) {
            // Re-indented to the current level.
            let (a, b) = recent[recent.len() - 1 - rng.index(recent.len())];
            let text = out[a..b]
                .iter()
                .position(|&c| c != b' ')
                .map_or(b, |k| a + k);
            indent(out, level);
            out.extend_from_within(text..b);
            continue;
        }
        match rng.index(100) {
            0..=9 => {
                // A doc or line comment.
                indent(out, level);
                out.extend_from_slice(if rng.chance(0.6) { b"/// " } else { b"// " });
                let n = 3 + rng.index(10);
                push_words(out, &mut rng, n);
                out.push(b'.');
            }
            10..=16 => {}
            17..=24 if level < 4 => {
                // A function header opens a block.
                indent(out, level);
                if rng.chance(0.5) {
                    out.extend_from_slice(b"pub ");
                }
                out.extend_from_slice(b"fn ");
                push_ident(out, &mut rng, &vocab);
                out.push(b'(');
                for i in 0..rng.index(4) {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    push_ident(out, &mut rng, &vocab);
                    out.extend_from_slice(b": &");
                    push_type(out, &mut rng);
                }
                out.extend_from_slice(b") -> ");
                push_type(out, &mut rng);
                out.extend_from_slice(b" {");
                level += 1;
            }
            25..=33 if level > 0 => {
                level -= 1;
                indent(out, level);
                out.push(b'}');
            }
            34..=39 => {
                indent(out, level);
                out.extend_from_slice(b"use crate::");
                push_ident(out, &mut rng, &vocab);
                out.extend_from_slice(b"::{");
                push_type(out, &mut rng);
                out.extend_from_slice(b", ");
                push_type(out, &mut rng);
                out.extend_from_slice(b"};");
            }
            40..=49 => {
                indent(out, level);
                out.extend_from_slice(b"if ");
                push_ident(out, &mut rng, &vocab);
                out.extend_from_slice(if rng.chance(0.5) { b" > " } else { b" == " });
                push_number(out, &mut rng);
                out.extend_from_slice(b" {\n");
                indent(out, level + 1);
                out.extend_from_slice(b"return Err(Error::");
                push_type(out, &mut rng);
                out.extend_from_slice(b"(\"");
                let n = 2 + rng.index(5);
                push_words(out, &mut rng, n);
                out.extend_from_slice(b"\".into()));\n");
                indent(out, level);
                out.push(b'}');
            }
            _ => {
                // A statement: `let a = b.c(d, 4)?;` and variations.
                indent(out, level);
                if rng.chance(0.6) {
                    out.extend_from_slice(if rng.chance(0.3) {
                        b"let mut "
                    } else {
                        b"let "
                    });
                    push_ident(out, &mut rng, &vocab);
                    out.extend_from_slice(b" = ");
                }
                push_ident(out, &mut rng, &vocab);
                out.push(b'.');
                push_ident(out, &mut rng, &vocab);
                out.push(b'(');
                for i in 0..rng.index(3) {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    if rng.chance(0.3) {
                        push_number(out, &mut rng);
                    } else {
                        out.push(b'&');
                        push_ident(out, &mut rng, &vocab);
                    }
                }
                out.push(b')');
                if rng.chance(0.3) {
                    out.push(b'?');
                }
                out.push(b';');
            }
        }
        out.push(b'\n');
        if recent.len() == RECENT_LINES {
            recent.remove(0);
        }
        recent.push((begin, out.len()));
    }
    out.truncate(size);
}

/// How many recent lines [`source_text`] may repeat.
const RECENT_LINES: usize = 24;

/// Probability that a line repeats a recent one.
const REPEAT_LINE: f64 = 0.3;

/// The size of the object a compiler writes for a source of `source_len` bytes: a 1 KiB
/// header (ELF header, section table, symbol table of an empty unit) plus `factor` × source.
pub fn object_len(source_len: u64, factor: f64) -> u64 {
    1024 + (source_len as f64 * factor).round() as u64
}

/// Block size of [`object_code`]'s mix of code and copied data.
const OBJECT_BLOCK: usize = 64;

/// Fills `out` with `len` bytes of object code for `source`: an ELF-like header, then 64-byte
/// blocks, 55 % of them pseudo-random ("machine code", incompressible) and 45 % copied from
/// the source in order ("symbols, strings, debug info").
pub fn object_code(source: &[u8], seed: u64, len: usize, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(len + OBJECT_BLOCK);
    let mut rng = SplitMix64::new(seed);
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x01\0\x3e\0\x01\0\0\0");
    let mut from = 0usize;
    while out.len() < len {
        if source.len() >= OBJECT_BLOCK && rng.chance(0.45) {
            if from + OBJECT_BLOCK > source.len() {
                from = 0;
            }
            out.extend_from_slice(&source[from..from + OBJECT_BLOCK]);
            from += OBJECT_BLOCK;
        } else {
            for _ in 0..OBJECT_BLOCK / 8 {
                out.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
        }
    }
    out.truncate(len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    fn deflate_ratio(data: &[u8]) -> f64 {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        let packed = e.finish().unwrap();
        data.len() as f64 / packed.len() as f64
    }

    #[test]
    fn source_text_has_the_exact_size_and_is_deterministic() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for size in [0, 1, 63, 4096, 100_000] {
            source_text(7, size, &mut a);
            source_text(7, size, &mut b);
            assert_eq!(a.len(), size);
            assert_eq!(a, b);
        }
        source_text(8, 100_000, &mut b);
        assert_ne!(a, b, "another seed, another text");
        let text = String::from_utf8(a).unwrap();
        assert!(text.contains("fn ") && text.contains("let ") && text.contains("///"));
        assert!(text.lines().count() > 1000, "lines, not one long run");
    }

    /// This crate's own Rust sources, as a real reference.
    fn real_source() -> Vec<u8> {
        let mut all = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    all.extend(std::fs::read(&p).unwrap());
                }
            }
        }
        all
    }

    #[test]
    fn source_compresses_like_source_and_objects_less() {
        // Real Rust deflates 3-5x at level 1 (`gzip -1`: this crate's src 3.0x, serde_json
        // 4.1x, regex-syntax 3.9x, all .rs of the cargo registry 4.75x).
        let real = real_source();
        assert!(real.len() > 50_000);
        let real_ratio = deflate_ratio(&real);
        let mut src = Vec::new();
        source_text(1, 256 * 1024, &mut src);
        let src_ratio = deflate_ratio(&src);
        assert!(
            src_ratio > 2.5 && src_ratio > real_ratio * 0.75 && src_ratio < real_ratio * 1.6,
            "generated source deflates {src_ratio:.2}x, this crate's source {real_ratio:.2}x"
        );
        // Not degenerate: many distinct bytes, no long zero runs.
        let distinct = (0..=255u8).filter(|b| src.contains(b)).count();
        assert!(distinct > 40, "{distinct} distinct bytes");
        assert!(!src.windows(16).any(|w| w.iter().all(|&c| c == 0)));

        let mut obj = Vec::new();
        object_code(&src, 2, 384 * 1024, &mut obj);
        assert_eq!(obj.len(), 384 * 1024);
        assert!(obj.starts_with(b"\x7fELF"));
        let obj_ratio = deflate_ratio(&obj);
        assert!(
            obj_ratio > 1.1 && obj_ratio < src_ratio / 1.5,
            "object ratio {obj_ratio:.2} vs source {src_ratio:.2}"
        );
        // An empty source still gives an object of the asked size.
        object_code(&[], 3, 1500, &mut obj);
        assert_eq!(obj.len(), 1500);
        assert_eq!(object_len(0, 1.5), 1024);
        assert_eq!(object_len(1000, 1.5), 2524);
    }
}
