//! What a btrfs node's hooks do to its subvolumes, read from their shell text: the NOCOW
//! attribute (`chattr +C`), compression (`btrfs property set ... compression ALG`,
//! `chattr +c`), and swap files made by hand (`fallocate`/`dd`/`truncate`, `mkswap`,
//! `swapon`) or with `btrfs filesystem mkswapfile`.
//!
//! Paths are resolved the two ways a hook can reach a subvolume: through a variable holding a
//! temporary mount of the top level (`"$MNTPOINT/@vm"`, the schema doc's pattern) or through
//! disko's mount root (`/mnt/var/lib/vm`, in mount hooks).

use super::model::{Fs, Hook, Model, MountKind};
use crate::nixeval::Loc;

/// A path a command names, resolved against a filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The path as written (quotes removed).
    pub written: String,
    /// The subvolume it is in (index into `Fs::subvols`), `None` for the top level or when
    /// it cannot be resolved.
    pub subvol: Option<usize>,
    /// The rest of the path inside the subvolume (empty: its root).
    pub rest: String,
    /// It was resolved (a `$VAR/...` or `/mnt/...` path of this filesystem).
    pub resolved: bool,
}

/// One command and where it is written.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub words: Vec<String>,
    pub loc: Loc,
}

/// Splits hook text into commands (lines, `;`, `&&`, `||`; comments and subshell
/// parentheses dropped), each with its line.
pub(crate) fn commands(hook: &Hook, src: &super::locate::Sources) -> Vec<Command> {
    let mut out = Vec::new();
    let lines: Vec<&str> = hook.text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let mut line = lines[i].trim_end().to_string();
        while line.ends_with('\\') && i + 1 < lines.len() {
            line.pop();
            i += 1;
            line.push(' ');
            line.push_str(lines[i].trim());
        }
        i += 1;
        let words = split_words(&line);
        let mut cur: Vec<String> = Vec::new();
        let loc = src.string_line(&hook.loc, &hook.text, first);
        for w in words {
            match w.as_str() {
                ";" | "&&" | "||" | "|" => {
                    if !cur.is_empty() {
                        out.push(Command {
                            words: std::mem::take(&mut cur),
                            loc: loc.clone(),
                        });
                    }
                }
                "(" | ")" | "{" | "}" | "sudo" | "then" | "do" | "else" => {}
                _ => cur.push(w),
            }
        }
        if !cur.is_empty() {
            out.push(Command { words: cur, loc });
        }
    }
    out
}

/// Shell words of one line: quotes removed, `#` comments dropped, `;`, `&&`, `||`, `|`,
/// `(`, `)` as words of their own.
fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, has: &mut bool, out: &mut Vec<String>| {
        if *has {
            out.push(std::mem::take(cur));
            *has = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                has = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        }
                        _ => cur.push(d),
                    }
                }
            }
            '\\' => {
                has = true;
                if let Some(e) = chars.next() {
                    cur.push(e);
                }
            }
            '#' if !has => break,
            c if c.is_whitespace() => flush(&mut cur, &mut has, &mut out),
            ';' | '(' | ')' => {
                flush(&mut cur, &mut has, &mut out);
                out.push(c.to_string());
            }
            '&' | '|' => {
                flush(&mut cur, &mut has, &mut out);
                if chars.peek() == Some(&c) {
                    chars.next();
                    out.push(format!("{c}{c}"));
                } else {
                    out.push(c.to_string());
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    flush(&mut cur, &mut has, &mut out);
    out
}

/// Normalizes a path: no `//`, no trailing `/`, no `.` components.
pub(crate) fn norm(p: &str) -> String {
    let abs = p.starts_with('/');
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let j = parts.join("/");
    if abs { format!("/{j}") } else { j }
}

/// Resolves a path written in a hook of `fs`.
pub(crate) fn resolve(model: &Model, fs: &Fs, fs_index: usize, path: &str) -> Target {
    let written = path.to_string();
    let unresolved = Target {
        written: written.clone(),
        subvol: None,
        rest: String::new(),
        resolved: false,
    };
    // `$VAR/...`, `${VAR}/...`: the top level mounted by the hook.
    if let Some(after) = path.strip_prefix('$') {
        let rest = if let Some(r) = after.strip_prefix('{') {
            match r.split_once('}') {
                Some((_, rest)) => rest,
                None => return unresolved,
            }
        } else {
            after.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        };
        let rel = norm(rest);
        let rel = rel.trim_start_matches('/');
        let best = fs
            .subvols
            .iter()
            .enumerate()
            .filter(|(_, s)| rel == s.name || rel.starts_with(&format!("{}/", s.name)))
            .max_by_key(|(_, s)| s.name.len());
        return match best {
            Some((i, s)) => Target {
                written,
                subvol: Some(i),
                rest: rel[s.name.len()..].trim_start_matches('/').to_string(),
                resolved: true,
            },
            None => Target {
                written,
                subvol: None,
                rest: rel.to_string(),
                resolved: true,
            },
        };
    }
    // `/mnt/...`: disko's mount root (rootMountPoint).
    if let Some(after) = path.strip_prefix("/mnt")
        && (after.is_empty() || after.starts_with('/'))
    {
        let p = norm(if after.is_empty() { "/" } else { after });
        let p = if p.is_empty() { "/".to_string() } else { p };
        let best = model
            .mounts
            .iter()
            .filter(|m| {
                let mp = norm(&m.path);
                let mp = if mp.is_empty() { "/".to_string() } else { mp };
                p == mp || mp == "/" || p.starts_with(&format!("{mp}/"))
            })
            .max_by_key(|m| norm(&m.path).len());
        if let Some(m) = best {
            let mp = norm(&m.path);
            let rest = p
                .get(mp.len()..)
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string();
            match m.kind {
                MountKind::Subvolume(f, s) if f == fs_index => {
                    return Target {
                        written,
                        subvol: Some(s),
                        rest,
                        resolved: true,
                    };
                }
                MountKind::TopLevel(f) if f == fs_index => {
                    return Target {
                        written,
                        ..resolve(model, fs, fs_index, &format!("$TOP/{rest}"))
                    };
                }
                _ => {}
            }
        }
    }
    unresolved
}

/// An attribute set on a path by a hook.
#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub target: Target,
    pub loc: Loc,
    /// `+C`, or the compression algorithm (`zstd`, `chattr +c`).
    pub what: String,
    /// When it runs: the hook's place in disko's order (create hooks before mount hooks),
    /// then the command's.
    pub when: (usize, usize),
}

/// The NOCOW attributes and compression settings a filesystem's hooks set.
#[derive(Default, Debug)]
pub(crate) struct Attributes {
    pub nocow: Vec<Attribute>,
    pub compression: Vec<Attribute>,
}

/// `chattr` words: the attributes added (`+C`, `+Cc`, `=C`) and the paths.
fn chattr_flags(words: &[String]) -> (String, Vec<&String>) {
    let mut add = String::new();
    let mut paths = Vec::new();
    for w in words.iter().skip(1) {
        if let Some(f) = w.strip_prefix('+').or_else(|| w.strip_prefix('=')) {
            add.push_str(f);
        } else if !w.starts_with('-') {
            paths.push(w);
        }
    }
    (add, paths)
}

/// Reads the attributes every hook of `fs` sets.
pub(crate) fn attributes(
    model: &Model,
    fs: &Fs,
    fs_index: usize,
    src: &super::locate::Sources,
) -> Attributes {
    let mut a = Attributes::default();
    for h in &fs.hooks {
        let hook_order = super::schema::HOOKS
            .iter()
            .position(|k| *k == h.key)
            .unwrap_or(0);
        for (ci, c) in commands(h, src).into_iter().enumerate() {
            let when = (hook_order, ci);
            match c.words.first().map(String::as_str) {
                Some("chattr") => {
                    let (add, paths) = chattr_flags(&c.words);
                    for p in paths {
                        let t = resolve(model, fs, fs_index, p);
                        if add.contains('C') {
                            a.nocow.push(Attribute {
                                target: t.clone(),
                                loc: c.loc.clone(),
                                what: "+C".into(),
                                when,
                            });
                        }
                        if add.contains('c') {
                            a.compression.push(Attribute {
                                target: t,
                                loc: c.loc.clone(),
                                what: "chattr +c".into(),
                                when,
                            });
                        }
                    }
                }
                Some("btrfs") => {
                    let w: Vec<&str> = c
                        .words
                        .iter()
                        .map(String::as_str)
                        .filter(|w| !w.starts_with('-'))
                        .collect();
                    let prop = w
                        .get(1)
                        .is_some_and(|x| "property".starts_with(x) && x.len() >= 2);
                    let set = w.get(2) == Some(&"set");
                    if prop && set {
                        // btrfs property set [-t TYPE] PATH compression VALUE (`w` has no
                        // option words; `-t` leaves its type word before the path).
                        let typed = c.words.iter().any(|x| x == "-t");
                        let rest: Vec<&str> = w
                            .get(3..)
                            .unwrap_or_default()
                            .iter()
                            .copied()
                            .filter(|x| {
                                !(typed
                                    && matches!(*x, "inode" | "subvol" | "filesystem" | "device"))
                            })
                            .collect();
                        if let [path, "compression", value, ..] = rest.as_slice() {
                            let v = value.trim();
                            if !matches!(v, "" | "none" | "no") {
                                a.compression.push(Attribute {
                                    target: resolve(model, fs, fs_index, path),
                                    loc: c.loc.clone(),
                                    what: v.to_string(),
                                    when,
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    a
}

/// A swap file made by hand in a hook, and what was done to it in order.
#[derive(Clone, Debug)]
pub(crate) struct HandSwap {
    pub target: Target,
    /// Where data was first written (fallocate, dd, truncate -s N).
    pub data_at: Option<Loc>,
    /// The file got NOCOW while still empty (itself, or by its directory beforehand).
    pub nocow_before_data: bool,
    /// `chattr +C` on it after data was written (a no-op, facts §1.4, E3).
    pub late_nocow: Option<Loc>,
    /// Its size was set with `truncate`: a sparse file, all holes.
    pub sparse: bool,
    /// The `mkswap` (or `swapon`) command.
    pub mkswap_at: Loc,
    pub hook: &'static str,
}

/// Swap files the hooks make without `btrfs filesystem mkswapfile`.
pub(crate) fn hand_made_swap(
    model: &Model,
    fs: &Fs,
    fs_index: usize,
    src: &super::locate::Sources,
    nocow_roots: &[usize],
) -> Vec<HandSwap> {
    #[derive(Default)]
    struct State {
        empty: bool,
        data_at: Option<Loc>,
        nocow_before_data: bool,
        late_nocow: Option<Loc>,
        sparse: bool,
        mkswapfile: bool,
        reported: bool,
    }
    let mut out = Vec::new();
    for h in &fs.hooks {
        let mut files: std::collections::BTreeMap<String, State> = Default::default();
        let mut nocow_dirs: Vec<String> = Vec::new();
        let parent_nocow = |p: &str, dirs: &[String]| -> bool {
            let parent = p.rsplit_once('/').map_or("", |(d, _)| d);
            if dirs.iter().any(|d| d == parent) {
                return true;
            }
            let t = resolve(model, fs, fs_index, p);
            t.resolved
                && t.subvol.is_some_and(|s| nocow_roots.contains(&s))
                && !t.rest.contains('/')
        };
        for c in commands(h, src) {
            let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
            let args: Vec<&str> = w
                .iter()
                .skip(1)
                .copied()
                .filter(|x| !x.starts_with('-'))
                .collect();
            match w.first().copied() {
                Some("touch") => {
                    for p in args {
                        let p = norm(p);
                        let inherited = parent_nocow(&p, &nocow_dirs);
                        let s = files.entry(p).or_default();
                        if s.data_at.is_none() {
                            s.empty = true;
                            s.nocow_before_data |= inherited;
                        }
                    }
                }
                Some("truncate") | Some("fallocate") => {
                    let zero = w.windows(2).any(|x| {
                        matches!(x[0], "-s" | "--size" | "-l" | "--length") && x[1] == "0"
                    }) || w
                        .iter()
                        .any(|x| matches!(*x, "--size=0" | "--length=0" | "-s0" | "-l0"));
                    // The last word is the file; size values are words after options.
                    if let Some(p) = w.last().filter(|p| !p.starts_with('-') && w.len() > 1) {
                        let p = norm(p);
                        let inherited = parent_nocow(&p, &nocow_dirs);
                        let s = files.entry(p).or_default();
                        if s.data_at.is_none() && !s.empty {
                            s.nocow_before_data |= inherited;
                        }
                        if zero {
                            s.empty = true;
                        } else if s.data_at.is_none() {
                            s.data_at = Some(c.loc.clone());
                            s.sparse = w.first() == Some(&"truncate");
                        }
                    }
                }
                Some("dd") => {
                    if let Some(p) = w.iter().find_map(|x| x.strip_prefix("of=")) {
                        let p = norm(p);
                        let inherited = parent_nocow(&p, &nocow_dirs);
                        let s = files.entry(p).or_default();
                        if s.data_at.is_none() {
                            if !s.empty {
                                s.nocow_before_data |= inherited;
                            }
                            s.data_at = Some(c.loc.clone());
                        }
                    }
                }
                Some("chattr") => {
                    let (add, paths) = chattr_flags(&c.words);
                    if add.contains('C') {
                        for p in paths {
                            let p = norm(p);
                            match files.get_mut(&p) {
                                Some(s) if s.data_at.is_some() => {
                                    s.late_nocow.get_or_insert(c.loc.clone());
                                }
                                Some(s) => s.nocow_before_data = true,
                                None => nocow_dirs.push(p),
                            }
                        }
                    }
                }
                Some("btrfs") if w.contains(&"mkswapfile") => {
                    if let Some(p) = args.last() {
                        files.entry(norm(p)).or_default().mkswapfile = true;
                    }
                }
                Some("mkswap") | Some("swapon") => {
                    let Some(p) = args.last() else { continue };
                    let p = norm(p);
                    let Some(s) = files.get_mut(&p) else { continue };
                    if s.mkswapfile || s.reported || (s.data_at.is_none() && !s.empty) {
                        continue;
                    }
                    s.reported = true;
                    out.push(HandSwap {
                        target: resolve(model, fs, fs_index, &p),
                        data_at: s.data_at.clone(),
                        nocow_before_data: s.nocow_before_data,
                        late_nocow: s.late_nocow.clone(),
                        sparse: s.sparse,
                        mkswap_at: c.loc.clone(),
                        hook: h.key,
                    });
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_paths() {
        assert_eq!(
            split_words(r#"chattr +C "$MNTPOINT/@vm" # set"#),
            vec!["chattr", "+C", "$MNTPOINT/@vm"]
        );
        assert_eq!(
            split_words("trap 'umount \"$M\"; rm -rf \"$M\"' EXIT"),
            vec!["trap", "umount \"$M\"; rm -rf \"$M\"", "EXIT"]
        );
        assert_eq!(split_words("a && b;c"), vec!["a", "&&", "b", ";", "c"]);
        assert_eq!(norm("/mnt//x/./y/"), "/mnt/x/y");
    }
}
