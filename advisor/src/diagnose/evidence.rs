//! Evidence: the input lines a finding rests on, named by file and line.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// One piece of evidence: a line of an input file (or a whole input when no line applies).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Evidence {
    /// The input file, as the user named it (or inside the bundle).
    pub file: String,
    /// 1-based line; `None` when the evidence is the input as a whole (or its absence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The line's text (trimmed, shortened), or what the evidence says.
    pub text: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.text),
            None => write!(f, "{}: {}", self.file, self.text),
        }
    }
}

/// The text of every input read, for locating evidence lines.
#[derive(Clone, Debug, Default)]
pub struct Texts(BTreeMap<String, String>);

/// Longest excerpt kept from a line.
const EXCERPT: usize = 160;

fn excerpt(line: &str) -> String {
    let t = line.trim();
    if t.chars().count() <= EXCERPT {
        t.to_string()
    } else {
        let mut s: String = t.chars().take(EXCERPT - 1).collect();
        s.push('…');
        s
    }
}

impl Texts {
    /// Keeps `text` under the name `file`.
    pub fn insert(&mut self, file: &str, text: String) {
        self.0.insert(file.to_string(), text);
    }

    /// The names of every text kept.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// Whether an input of this name was read.
    pub fn has(&self, file: &str) -> bool {
        self.0.contains_key(file)
    }

    /// The first line of `file` at or after line `from` (1-based) for which `pred` holds.
    pub fn find_from(
        &self,
        file: &str,
        from: usize,
        pred: impl Fn(&str) -> bool,
    ) -> Option<Evidence> {
        let text = self.0.get(file)?;
        text.lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| pred(l))
            .map(|(i, l)| Evidence {
                file: file.to_string(),
                line: Some(i + 1),
                text: excerpt(l),
            })
    }

    /// The first line of `file` containing `needle`.
    pub fn find(&self, file: &str, needle: &str) -> Option<Evidence> {
        self.find_from(file, 1, |l| l.contains(needle))
    }

    /// The `n`-th (0-based) line of `file` for which `pred` holds.
    pub fn nth(&self, file: &str, n: usize, pred: impl Fn(&str) -> bool) -> Option<Evidence> {
        let text = self.0.get(file)?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| pred(l))
            .nth(n)
            .map(|(i, l)| Evidence {
                file: file.to_string(),
                line: Some(i + 1),
                text: excerpt(l),
            })
    }

    /// The line containing `needle`, or the file as a whole saying `fallback`.
    pub fn find_or(&self, file: &str, needle: &str, fallback: &str) -> Evidence {
        self.find(file, needle)
            .unwrap_or_else(|| whole(file, fallback))
    }
}

/// Evidence that is a whole input (or a value derived from it).
pub fn whole(file: &str, text: impl Into<String>) -> Evidence {
    Evidence {
        file: file.to_string(),
        line: None,
        text: text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_by_number_and_occurrence() {
        let mut t = Texts::default();
        t.insert("a.txt", "one\ntwo sda\nthree sda\n".into());
        assert_eq!(t.find("a.txt", "sda").unwrap().line, Some(2));
        assert_eq!(
            t.nth("a.txt", 1, |l| l.contains("sda")).unwrap().line,
            Some(3)
        );
        assert_eq!(
            t.find_from("a.txt", 3, |l| l.contains("sda")).unwrap().line,
            Some(3)
        );
        assert!(t.find("a.txt", "sdb").is_none());
        assert_eq!(t.find_or("a.txt", "sdb", "absent").line, None);
        assert_eq!(
            t.find("a.txt", "two").unwrap().to_string(),
            "a.txt:2: two sda"
        );
    }
}
