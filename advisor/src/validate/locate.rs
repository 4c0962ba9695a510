//! Lines for findings: the evaluator's locations ([`Node::at`]), lines inside multi-line
//! strings (hooks), and, where a value has no location (`--nix-eval`, values built by
//! functions), a search for its attribute path in the source text.

use crate::nixeval::{Loc, Node};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

/// The source texts findings point into.
pub(crate) struct Sources {
    /// How the checked file is named in locations.
    pub main: String,
    main_text: Rc<str>,
    /// Where relative names of other files resolve.
    dir: Option<PathBuf>,
    others: RefCell<BTreeMap<String, Option<Rc<str>>>>,
}

impl Sources {
    pub fn new(main: &str, text: &str, dir: Option<PathBuf>) -> Sources {
        Sources {
            main: main.to_string(),
            main_text: Rc::from(text),
            dir,
            others: RefCell::new(BTreeMap::new()),
        }
    }

    /// The text of a file named in a location, if it can be read.
    pub fn text(&self, file: &str) -> Option<Rc<str>> {
        if file == self.main {
            return Some(self.main_text.clone());
        }
        let mut others = self.others.borrow_mut();
        others
            .entry(file.to_string())
            .or_insert_with(|| {
                let p = PathBuf::from(file);
                let p = match (&self.dir, p.is_absolute()) {
                    (Some(d), false) => d.join(p),
                    _ => p,
                };
                std::fs::read_to_string(p).ok().map(Rc::from)
            })
            .clone()
    }

    /// Where a node is written; without a location, where its attribute path is found in the
    /// checked file (`keys` from `disko.devices` down).
    pub fn loc(&self, node: &Node, keys: &[String]) -> Loc {
        match &node.at {
            Some(l) if l.line > 0 => l.clone(),
            _ => self.key_loc(keys),
        }
    }

    /// The line of an attribute path in the checked file: each key is looked for at or after
    /// the line of the one before (keys not found are skipped).
    pub fn key_loc(&self, keys: &[String]) -> Loc {
        let text = self.main_text.clone();
        let lines: Vec<&str> = text.lines().collect();
        let mut best = (1usize, 1usize);
        let mut from = 0usize;
        for k in keys.iter().filter(|k| !k.starts_with('[')) {
            let found = lines
                .iter()
                .enumerate()
                .skip(from)
                .find_map(|(i, l)| key_column(l, k).map(|c| (i, c)));
            if let Some((i, c)) = found {
                best = (i + 1, c);
                from = i;
            }
        }
        Loc {
            file: self.main.clone(),
            line: best.0,
            column: best.1,
        }
    }

    /// Where line `index` of a string value written at `at` is: found by its text at or after
    /// `at`, else counted from `at` (an indented string's text starts on the next line).
    pub fn string_line(&self, at: &Loc, value: &str, index: usize) -> Loc {
        let wanted = value.lines().nth(index).map(str::trim).unwrap_or_default();
        let Some(text) = self.text(&at.file) else {
            return Loc {
                line: at.line + index,
                ..at.clone()
            };
        };
        let lines: Vec<&str> = text.lines().collect();
        let start = at.line.saturating_sub(1);
        let span = value.lines().count() + 8;
        if !wanted.is_empty() {
            // The first occurrence at or after the expected line, else at or after `at`.
            let opening = opens_indented(&lines, at);
            let expected = start + index + usize::from(opening);
            for from in [expected, start] {
                if let Some((i, c)) = lines
                    .iter()
                    .enumerate()
                    .skip(from)
                    .take(span)
                    .find_map(|(i, l)| l.find(wanted).map(|c| (i, c)))
                {
                    return Loc {
                        file: at.file.clone(),
                        line: i + 1,
                        column: l_col(lines[i], c),
                    };
                }
            }
        }
        let opening = opens_indented(&lines, at);
        Loc {
            file: at.file.clone(),
            line: at.line + index + usize::from(opening),
            column: 1,
        }
    }
}

/// True when the value at `at` is an indented string whose first line is empty (`''` then a
/// line break), so its text starts on the next line.
fn opens_indented(lines: &[&str], at: &Loc) -> bool {
    let Some(l) = lines.get(at.line.saturating_sub(1)) else {
        return false;
    };
    let rest: String = l.chars().skip(at.column.saturating_sub(1)).collect();
    rest.trim_start()
        .strip_prefix("''")
        .is_some_and(|r| r.trim().is_empty())
}

/// 1-based column of a byte offset in a line.
fn l_col(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(0, |p| p.chars().count()) + 1
}

/// Where `key` is written as an attribute name in a line (`key =`, `key.`, `"key" =`).
fn key_column(line: &str, key: &str) -> Option<usize> {
    let code = line.split('#').next().unwrap_or(line);
    for cand in [format!("\"{key}\""), key.to_string()] {
        let mut from = 0;
        while let Some(pos) = code.get(from..).and_then(|s| s.find(&cand)) {
            let at = from + pos;
            let before = code.get(..at).and_then(|b| b.chars().last());
            let after = code.get(at + cand.len()..).unwrap_or("").trim_start();
            let starts = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
            if starts && (after.starts_with('=') || after.starts_with('.')) {
                return Some(l_col(code, at));
            }
            from = at + cand.len().max(1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_hook_lines() {
        let text = "{\n  disko.devices.disk.main = {\n    content = {\n      postCreateHook = ''\n        chattr +C x\n        mkswap y\n      '';\n    };\n  };\n}\n";
        let s = Sources::new("d.nix", text, None);
        let l = s.key_loc(&["disk".into(), "main".into(), "postCreateHook".into()]);
        assert_eq!((l.line, l.column), (4, 7));
        let at = Loc {
            file: "d.nix".into(),
            line: 4,
            column: 24,
        };
        let hook = "chattr +C x\nmkswap y\n";
        assert_eq!(s.string_line(&at, hook, 1).line, 6);
        assert_eq!(s.string_line(&at, hook, 0).line, 5);
    }
}
