//! A small writer for formatted Nix: attribute sets, lists, strings and comments, indented by
//! two spaces in the style of nixpkgs-fmt, so the output is stable and reads like hand-written
//! configuration.

/// Width comments are wrapped at.
const WIDTH: usize = 100;

/// Builds Nix text line by line.
#[derive(Debug, Default)]
pub struct NixWriter {
    out: String,
    indent: usize,
}

impl NixWriter {
    /// An empty writer.
    pub fn new() -> Self {
        NixWriter::default()
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn pad(&self) -> String {
        "  ".repeat(self.indent)
    }

    /// One line at the current indent.
    pub fn line(&mut self, s: &str) {
        if s.is_empty() {
            self.out.push('\n');
        } else {
            self.out.push_str(&self.pad());
            self.out.push_str(s);
            self.out.push('\n');
        }
    }

    /// A comment, wrapped at the page width; empty text gives a bare `#` line.
    pub fn comment(&mut self, text: &str) {
        let prefix = format!("{}# ", self.pad());
        let avail = WIDTH.saturating_sub(prefix.len()).max(40);
        for para in text.split('\n') {
            if para.trim().is_empty() {
                self.out.push_str(prefix.trim_end());
                self.out.push('\n');
                continue;
            }
            for l in wrap(para, avail) {
                self.out.push_str(&prefix);
                self.out.push_str(&l);
                self.out.push('\n');
            }
        }
    }

    /// `key = {` and indent.
    pub fn open(&mut self, key: &str) {
        self.line(&format!("{} = {{", attr_path(key)));
        self.indent += 1;
    }

    /// A bare `{` and indent.
    pub fn open_bare(&mut self) {
        self.line("{");
        self.indent += 1;
    }

    /// `};` and dedent.
    pub fn close(&mut self) {
        self.indent = self.indent.saturating_sub(1);
        self.line("};");
    }

    /// `}` and dedent (the end of the file's top-level set).
    pub fn close_bare(&mut self) {
        self.indent = self.indent.saturating_sub(1);
        self.line("}");
    }

    /// `key = { };`
    pub fn empty_set(&mut self, key: &str) {
        self.line(&format!("{} = {{ }};", attr_path(key)));
    }

    /// `key = "value";`
    pub fn string(&mut self, key: &str, value: &str) {
        self.line(&format!("{} = {};", attr_path(key), quote(value)));
    }

    /// `key = <raw Nix>;`
    pub fn raw(&mut self, key: &str, value: &str) {
        self.line(&format!("{} = {};", attr_path(key), value));
    }

    /// `key = [ "a" "b" ];`, one element per line when it would not fit.
    pub fn string_list(&mut self, key: &str, items: &[String]) {
        let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
        self.list(key, &quoted);
    }

    /// A list of raw Nix values.
    pub fn list(&mut self, key: &str, items: &[String]) {
        let k = attr_path(key);
        if items.is_empty() {
            self.line(&format!("{k} = [ ];"));
            return;
        }
        let one = format!("{k} = [ {} ];", items.join(" "));
        if self.pad().len() + one.len() <= WIDTH && items.iter().all(|i| !i.contains('\n')) {
            self.line(&one);
        } else {
            self.line(&format!("{k} = ["));
            self.indent += 1;
            for i in items {
                self.line(i);
            }
            self.indent -= 1;
            self.line("];");
        }
    }

    /// `key = '' ... '';` with the text indented one level deeper.
    pub fn indented_string(&mut self, key: &str, text: &str) {
        self.line(&format!("{} = ''", attr_path(key)));
        self.indent += 1;
        for l in text.lines() {
            self.line(&escape_indented(l));
        }
        self.indent -= 1;
        self.line("'';");
    }
}

/// Wraps text at `width` columns on spaces (a longer word stays whole).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A Nix double-quoted string.
pub fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '$' if chars.peek() == Some(&'{') => o.push_str("\\$"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A line inside an indented string (`''`): `''` and `${` need escaping.
fn escape_indented(l: &str) -> String {
    l.replace("''", "'''").replace("${", "''${")
}

/// True when `s` can be an unquoted Nix attribute name.
pub fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '-' | '\''))
        && !matches!(
            s,
            "if" | "then" | "else" | "let" | "in" | "with" | "rec" | "inherit" | "assert" | "or"
        )
}

/// An attribute name, quoted when needed.
pub fn attr_name(s: &str) -> String {
    if is_ident(s) { s.to_string() } else { quote(s) }
}

/// A dotted attribute path whose parts are already split on `.` (parts that are not
/// identifiers are quoted). A key given with quotes is passed through.
fn attr_path(key: &str) -> String {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut prev = '\0';
    for c in key.chars() {
        match c {
            '"' if prev != '\\' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            '.' if !in_quotes => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
        prev = c;
    }
    parts.push(cur);
    parts
        .iter()
        .map(|p| {
            if p.starts_with('"') {
                p.clone()
            } else {
                attr_name(p)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b${c}$d"), "\"a\\\"b\\${c}$d\"");
        assert_eq!(attr_name("@home"), "\"@home\"");
        assert_eq!(attr_name("ESP"), "ESP");
        assert_eq!(attr_name("in"), "\"in\"");
        assert_eq!(attr_path("swap.\"a.b\".size"), "swap.\"a.b\".size");
        assert_eq!(
            attr_path("services.snapper.configs.alice-src"),
            "services.snapper.configs.alice-src"
        );
        assert_eq!(attr_path("x.@home"), "x.\"@home\"");
        assert_eq!(escape_indented("a '' ${b}"), "a ''' ''${b}");
    }

    #[test]
    fn wraps() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
    }
}
