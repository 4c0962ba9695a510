//! A parser of `strace -f -y [-tt]` output, and the shape of the writes and syncs it shows
//! for a set of files: what the WAL tests compare between a traced synthetic run and the
//! traces of the real engines in `shared/corpus/` (benchmark-method.md §3, §7.8).
//!
//! Lines look like `8293  07:43:02.438118 pwrite64(26</data/pg_wal/0000…05>, "\20\321"...,
//! 8192, 2768896) = 8192`: an optional pid (`-f`, or `[pid N]` on a terminal), an optional
//! time (`-t`, `-tt`, `-ttt`), the call with its arguments (file descriptors followed by
//! their path in `<>` with `-y`), and its result. A call another thread interrupted is
//! split into `… <unfinished ...>` and `<... name resumed>…` lines; [`parse`] joins them.
//!
//! ```
//! use btrtune_workloads::wal::strace::{self, Shape};
//!
//! let text = "1  pwrite64(4</d/t.db-wal>, \"\\0\\0\"..., 24, 32) = 24\n\
//!             1  pwrite64(4</d/t.db-wal>, \"\\r\\0\"..., 4096, 56) = 4096\n\
//!             1  fdatasync(4</d/t.db-wal>) = 0\n";
//! let calls = strace::parse(text);
//! let wal = Shape::of(&calls, |p| p.ends_with("-wal"));
//! assert_eq!(wal.sizes().into_iter().collect::<Vec<_>>(), vec![(24, 1), (4096, 1)]);
//! assert_eq!(wal.syncs(), 1);
//! ```

use std::collections::{BTreeMap, HashMap};

/// One system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The thread's id, when the line has one.
    pub pid: Option<u32>,
    /// The call's name (`pwrite64`).
    pub name: String,
    /// Its arguments as strace printed them.
    pub args: Vec<String>,
    /// Its result (`None` for `?`).
    pub result: Option<i64>,
}

impl Call {
    /// The path of the file descriptor in argument `i` (`26</data/x>` → `/data/x`).
    pub fn path(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(|a| fd_path(a))
    }

    /// Argument `i` as an unsigned number.
    pub fn number(&self, i: usize) -> Option<u64> {
        self.args.get(i).and_then(|a| a.trim().parse().ok())
    }
}

/// The path strace's `-y` shows after a file descriptor: the text in the first `<…>`.
pub fn fd_path(arg: &str) -> Option<&str> {
    let open = arg.find('<')?;
    let close = arg.rfind('>')?;
    (close > open).then(|| &arg[open + 1..close])
}

/// Every call of a trace, in order; unfinished calls are joined with their resumption,
/// signals, exits and lines that are not calls are skipped.
pub fn parse(text: &str) -> Vec<Call> {
    let mut pending: HashMap<Option<u32>, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        let (pid, rest) = split_prefix(line);
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid, head.trim_end().to_owned());
            continue;
        }
        if let Some(after) = rest.strip_prefix("<... ") {
            let Some(i) = after.find(" resumed>") else {
                continue;
            };
            let Some(head) = pending.remove(&pid) else {
                continue;
            };
            let joined = format!("{head}{}", &after[i + " resumed>".len()..]);
            if let Some(mut c) = parse_call(&joined) {
                c.pid = pid;
                calls.push(c);
            }
            continue;
        }
        if let Some(mut c) = parse_call(rest) {
            c.pid = pid;
            calls.push(c);
        }
    }
    calls
}

/// One complete line (not an `<unfinished ...>` one).
pub fn parse_line(line: &str) -> Option<Call> {
    let (pid, rest) = split_prefix(line.trim_end());
    let mut c = parse_call(rest)?;
    c.pid = pid;
    Some(c)
}

/// Splits off the pid (`8293  ` or `[pid  8293] `) and the time.
fn split_prefix(line: &str) -> (Option<u32>, &str) {
    let mut rest = line.trim_start();
    let mut pid = None;
    if let Some(r) = rest.strip_prefix("[pid") {
        if let Some(end) = r.find(']') {
            pid = r[..end].trim().parse().ok();
            rest = r[end + 1..].trim_start();
        }
    } else if let Some(end) = rest.find(char::is_whitespace) {
        if rest[..end].bytes().all(|b| b.is_ascii_digit()) {
            pid = rest[..end].parse().ok();
            rest = rest[end..].trim_start();
        }
    }
    // A time: digits with `:` or `.`, then a space.
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        if let Some(end) = rest.find(char::is_whitespace) {
            if rest[..end]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
            {
                rest = rest[end..].trim_start();
            }
        }
    }
    (pid, rest)
}

/// `name(args) = result`.
fn parse_call(text: &str) -> Option<Call> {
    let open = text.find('(')?;
    let name = &text[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (args, after) = split_args(&text[open + 1..])?;
    let result = after
        .trim_start()
        .strip_prefix('=')
        .map(str::trim_start)
        .and_then(parse_result);
    Some(Call {
        pid: None,
        name: name.to_owned(),
        args,
        result,
    })
}

fn parse_result(r: &str) -> Option<i64> {
    let end = r
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_hexdigit() || c == 'x' || (i == 0 && c == '-')))
        .map_or(r.len(), |(i, _)| i);
    let num = &r[..end];
    if let Some(hex) = num.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else {
        num.parse().ok()
    }
}

/// The top-level arguments up to the closing parenthesis, and the text after it.
fn split_args(s: &str) -> Option<(Vec<String>, &str)> {
    let bytes = s.as_bytes();
    let mut args = Vec::new();
    let mut depth = 0i32;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'<' => {
                // A `-y` path: everything to the next `>`, commas included.
                if let Some(k) = s[i..].find('>') {
                    i += k;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b')' if depth > 0 => depth -= 1,
            b')' => {
                let last = s[start..i].trim();
                if !last.is_empty() || !args.is_empty() {
                    args.push(last.to_owned());
                }
                return Some((args, &s[i + 1..]));
            }
            b',' if depth == 0 => {
                args.push(s[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The bytes of a strace string argument (`"\20\321\5\0"...`): C escapes, octal and hex.
/// A trailing `...` (strace cut the string) is ignored: the bytes are the ones shown.
pub fn unescape(arg: &str) -> Option<Vec<u8>> {
    let s = arg.trim().strip_prefix('"')?;
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(out),
            b'\\' => {
                i += 1;
                let c = *b.get(i)?;
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'v' => out.push(0x0B),
                    b'f' => out.push(0x0C),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'x' => {
                        let hex: String = s[i + 1..]
                            .chars()
                            .take(2)
                            .take_while(char::is_ascii_hexdigit)
                            .collect();
                        out.push(u8::from_str_radix(&hex, 16).ok()?);
                        i += hex.len();
                    }
                    b'0'..=b'7' => {
                        let oct: String = s[i..]
                            .chars()
                            .take(3)
                            .take_while(|c| ('0'..='7').contains(c))
                            .collect();
                        out.push(u8::try_from(u32::from_str_radix(&oct, 8).ok()?).ok()?);
                        i += oct.len() - 1;
                    }
                    other => out.push(other),
                }
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// One positioned write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The file.
    pub path: String,
    /// Its offset.
    pub offset: u64,
    /// Bytes written.
    pub len: u64,
}

/// The writes and syncs a trace shows for a set of files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// `pwrite64`/`pwritev` calls, in order.
    pub writes: Vec<Write>,
    /// `write` calls (no offset: zero-fills, appends).
    pub plain_writes: u64,
    /// `fdatasync` calls.
    pub fdatasyncs: u64,
    /// `fsync` calls.
    pub fsyncs: u64,
    /// `ftruncate` calls with their length.
    pub truncates: Vec<(String, u64)>,
}

impl Shape {
    /// The shape of the calls on files whose path `select` accepts.
    pub fn of(calls: &[Call], select: impl Fn(&str) -> bool) -> Shape {
        let mut s = Shape::default();
        for c in calls {
            let Some(path) = c.path(0).filter(|p| select(p)) else {
                continue;
            };
            let ok = c.result.is_some_and(|r| r >= 0);
            match c.name.as_str() {
                "pwrite64" | "pwrite" | "pwritev" | "pwritev2" if ok => {
                    let len = match c.name.as_str() {
                        "pwrite64" | "pwrite" => c.number(2),
                        _ => c.result.map(|r| r as u64),
                    };
                    if let (Some(len), Some(offset)) = (len, c.number(3)) {
                        s.writes.push(Write {
                            path: path.to_owned(),
                            offset,
                            len,
                        });
                    }
                }
                "write" | "writev" if ok => s.plain_writes += 1,
                "fdatasync" if ok => s.fdatasyncs += 1,
                "fsync" if ok => s.fsyncs += 1,
                "ftruncate" if ok => {
                    if let Some(len) = c.number(1) {
                        s.truncates.push((path.to_owned(), len));
                    }
                }
                _ => {}
            }
        }
        s
    }

    /// `fdatasync` plus `fsync` calls.
    pub fn syncs(&self) -> u64 {
        self.fdatasyncs + self.fsyncs
    }

    /// How many writes of each size.
    pub fn sizes(&self) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        for w in &self.writes {
            *m.entry(w.len).or_insert(0) += 1;
        }
        m
    }

    /// The fraction of the writes that are `len` bytes.
    pub fn fraction_of_size(&self, len: u64) -> f64 {
        self.fraction(|w| w.len == len)
    }

    /// The fraction of the writes that `f` accepts (0 without writes).
    pub fn fraction(&self, f: impl Fn(&Write) -> bool) -> f64 {
        if self.writes.is_empty() {
            return 0.0;
        }
        self.writes.iter().filter(|w| f(w)).count() as f64 / self.writes.len() as f64
    }

    /// The fraction of writes that start below the end of the furthest earlier write to
    /// the same file: they rewrite bytes already written (the WAL's tail page).
    pub fn rewrite_fraction(&self) -> f64 {
        let flags = self.rewrites();
        if flags.is_empty() {
            return 0.0;
        }
        flags.iter().filter(|&&r| r).count() as f64 / flags.len() as f64
    }

    /// For each write, whether it rewrites (see [`Shape::rewrite_fraction`]).
    pub fn rewrites(&self) -> Vec<bool> {
        let mut high: HashMap<&str, u64> = HashMap::new();
        self.writes
            .iter()
            .map(|w| {
                let h = high.entry(w.path.as_str()).or_insert(0);
                let rewrite = w.offset < *h;
                *h = (*h).max(w.offset + w.len);
                rewrite
            })
            .collect()
    }

    /// The distinct files written.
    pub fn files(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.writes.iter().map(|w| w.path.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_pid_time_paths_and_tricky_strings() {
        let c = parse_line(
            "8293  07:43:02.438118 pwrite64(26</tmp/x/pg_wal/000000010000000000000005>, \"\\20\\321\\5\\0\"..., 8192, 2768896) = 8192",
        )
        .unwrap();
        assert_eq!(c.pid, Some(8293));
        assert_eq!(c.name, "pwrite64");
        assert_eq!(c.path(0), Some("/tmp/x/pg_wal/000000010000000000000005"));
        assert_eq!(
            (c.number(2), c.number(3), c.result),
            (Some(8192), Some(2768896), Some(8192))
        );
        assert_eq!(unescape(&c.args[1]).unwrap(), vec![0o20, 0o321, 5, 0]);

        // Quotes, parentheses and commas inside a string; a comma inside a path.
        let c = parse_line(r#"pwrite64(4<d/a,b.db-wal>, "\0\"q), (\37\\", 24, 32) = 24"#).unwrap();
        assert_eq!(c.pid, None);
        assert_eq!(c.args.len(), 4);
        assert_eq!(c.path(0), Some("d/a,b.db-wal"));
        assert_eq!(unescape(&c.args[1]).unwrap(), b"\0\"q), (\x1f\\".to_vec());
        assert_eq!(c.number(3), Some(32));

        let c =
            parse_line("[pid  12] 1700000000.123456 fdatasync(6</tmp/sq>)          = 0").unwrap();
        assert_eq!(
            (c.pid, c.name.as_str(), c.result),
            (Some(12), "fdatasync", Some(0))
        );
        let c = parse_line(
            "openat(AT_FDCWD</tmp>, \"x\", O_RDONLY) = -1 ENOENT (No such file or directory)",
        )
        .unwrap();
        assert_eq!(c.result, Some(-1));
        let c = parse_line(
            "openat(AT_FDCWD</tmp>, \"t.db-wal\", O_RDWR|O_CREAT, 0644) = 4</tmp/t.db-wal>",
        )
        .unwrap();
        assert_eq!(c.result, Some(4));
        assert_eq!(c.args[3], "0644");
        let c = parse_line("rename(\"/d/a\", \"/d/b\") = 0").unwrap();
        assert_eq!(unescape(&c.args[1]).unwrap(), b"/d/b");
        assert!(parse_line("8270  07:43:02.432861 --- SIGCHLD {si_signo=SIGCHLD} ---").is_none());
        assert!(parse_line("8292  07:43:02.432587 +++ exited with 0 +++").is_none());
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("pwrite64(3, \"unterminated").is_none());
        assert_eq!(unescape("\"\\x41\\101\\n\""), Some(b"AA\n".to_vec()));
        assert_eq!(unescape("no quote"), None);
    }

    #[test]
    fn unfinished_calls_are_joined_per_thread() {
        let text = "\
8302  07:43:08.517812 pwrite64(20</p/pg_wal/000000010000000000000005>, \"\\20\"..., 8192, 3727360 <unfinished ...>
8307  07:43:08.517869 <... pwrite64 resumed>) = 8192
8302  07:43:08.517876 <... pwrite64 resumed>) = 8192
8302  07:43:08.517896 fdatasync(20</p/pg_wal/000000010000000000000005> <unfinished ...>
8305  07:43:08.517900 fsync(3</p/base/5/1>) = 0
8302  07:43:08.518000 <... fdatasync resumed>) = 0
";
        let calls = parse(text);
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[0].pid, Some(8302));
        assert_eq!(calls[0].number(3), Some(3727360));
        assert_eq!(calls[0].result, Some(8192));
        let wal = Shape::of(&calls, |p| p.contains("/pg_wal/"));
        assert_eq!(wal.writes.len(), 1);
        assert_eq!((wal.fdatasyncs, wal.fsyncs), (1, 0));
        let all = Shape::of(&calls, |_| true);
        assert_eq!(all.syncs(), 2);
    }

    #[test]
    fn shapes_count_sizes_and_rewrites() {
        let text = "\
pwrite64(3</w/a>, \"\"..., 8192, 0) = 8192
pwrite64(3</w/a>, \"\"..., 8192, 0) = 8192
pwrite64(3</w/a>, \"\"..., 16384, 0) = 16384
pwrite64(3</w/a>, \"\"..., 8192, 8192) = 8192
pwrite64(4</w/b>, \"\"..., 8192, 0) = 8192
pwrite64(4</w/b>, \"\"..., 8192, 0) = -1 ENOSPC (No space left on device)
write(4</w/b>, \"\\0\"..., 8192) = 8192
ftruncate(5</w/c>, 3) = 0
";
        let s = Shape::of(&parse(text), |_| true);
        assert_eq!(s.writes.len(), 5, "the failed write is not counted");
        assert_eq!(
            s.sizes().into_iter().collect::<Vec<_>>(),
            vec![(8192, 4), (16384, 1)]
        );
        assert_eq!(s.rewrites(), vec![false, true, true, true, false]);
        assert!((s.rewrite_fraction() - 0.6).abs() < 1e-9);
        assert!((s.fraction_of_size(8192) - 0.8).abs() < 1e-9);
        assert_eq!(s.plain_writes, 1);
        assert_eq!(s.truncates, vec![("/w/c".to_owned(), 3)]);
        assert_eq!(s.files(), vec!["/w/a", "/w/b"]);
        assert_eq!(Shape::default().rewrite_fraction(), 0.0);
    }

    #[test]
    fn the_pgbench_c1_fixture_parses_to_what_awk_counts() {
        let gz = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/pg/strace-pgbench-c1-btrfs.txt.gz");
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&gz)
            .output()
            .unwrap();
        assert!(out.status.success());
        let calls = parse(&String::from_utf8_lossy(&out.stdout));
        let wal = Shape::of(&calls, |p| p.contains("/pg_wal/"));
        // Counted independently with grep/awk over the same file.
        assert_eq!(wal.writes.len(), 1728);
        assert_eq!(wal.fdatasyncs, 1728);
        assert_eq!(
            wal.sizes().into_iter().collect::<Vec<_>>(),
            vec![(8192, 1614), (16384, 114)]
        );
        assert_eq!(wal.rewrites().iter().filter(|&&r| r).count(), 1725);
        let heap = Shape::of(&calls, |p| p.contains("/base/"));
        assert_eq!(heap.writes.len(), 40);
    }
}
