//! The I/O pattern database: what each tool writes, where, and how.
//!
//! The bundled database is `profiles/tools.toml` (schema in `profiles/README.md`), embedded at
//! build time. Users add or replace tools with their own file of the same schema.

use crate::error::{AdvisorError, input_at, toml_error};
use crate::layout::{Consistency, Purpose};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The bundled database, as text.
pub const BUNDLED: &str = include_str!("../../../profiles/tools.toml");

/// A tool's category (the seed's categories, plus VMs, desktop data and services).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// IDEs.
    Ide,
    /// Editors.
    Editor,
    /// Web browsers and mail clients.
    Browser,
    /// Database servers and embedded databases.
    Database,
    /// Container engines.
    Container,
    /// Virtual machines.
    Vm,
    /// Build systems, compilers and package caches.
    Build,
    /// Desktop data and applications.
    Desktop,
    /// Other services.
    Service,
    /// The operating system itself.
    System,
}

/// Read/write mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadWrite {
    /// Mostly reads.
    ReadMostly,
    /// Both.
    Balanced,
    /// Mostly writes.
    WriteHeavy,
}

/// Typical file sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileSizes {
    /// Mostly under 4 KiB, many files.
    Tiny,
    /// Under 1 MiB.
    Small,
    /// A mix.
    Mixed,
    /// MiB to GiB.
    Large,
    /// Multi-GiB images.
    Huge,
}

/// The dominant write pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// In-place page writes inside large files: what copy-on-write hurts most.
    RandomOverwrite,
    /// Appends.
    Append,
    /// Written once, then read.
    WriteOnce,
    /// A new file written, then renamed over the old one.
    RewriteRename,
    /// Many small files created and deleted.
    SmallFiles,
    /// Sequential streams.
    Sequential,
}

/// A four-step intensity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// None.
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// Container and VM tools run system-wide or per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// System-wide (root).
    Rootful,
    /// Per user.
    Rootless,
}

/// A path a tool writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPath {
    /// Absolute, or `~/...` for per-user paths.
    pub path: String,
    /// What the data is.
    pub class: Purpose,
    /// Rootful or rootless, for tools that have both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// What lives there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ToolPath {
    /// The path relative to the home directory, for per-user paths.
    pub fn home_relative(&self) -> Option<&str> {
        self.path.strip_prefix("~/")
    }
}

/// One tool or service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// The name people type.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Category.
    pub category: Category,
    /// One line.
    pub description: String,
    /// Read/write mix.
    pub read_write: ReadWrite,
    /// File sizes.
    pub file_sizes: FileSizes,
    /// Write pattern.
    pub access: Access,
    /// fsync intensity.
    pub fsync: Level,
    /// How well its data compresses.
    pub compressibility: Level,
    /// How much copy-on-write hurts it.
    pub cow_sensitivity: Level,
    /// Whether its data deserves snapshots.
    pub snapshot_value: Level,
    /// What a snapshot of its data is worth.
    pub consistency: Consistency,
    /// Where the facts come from.
    pub sources: Vec<String>,
    /// Paths it writes.
    pub paths: Vec<ToolPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tool: Vec<RawTool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: Spanned<String>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    category: Category,
    description: String,
    read_write: ReadWrite,
    file_sizes: FileSizes,
    access: Access,
    fsync: Level,
    compressibility: Level,
    cow_sensitivity: Level,
    snapshot_value: Level,
    consistency: Consistency,
    sources: Vec<String>,
    #[serde(default)]
    paths: Vec<RawPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    path: Spanned<String>,
    class: Purpose,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    note: Option<String>,
}

/// The database: tools by name and alias.
#[derive(Clone, Debug, Default)]
pub struct ToolDb {
    tools: BTreeMap<String, Tool>,
    /// Name or alias -> tool name.
    index: BTreeMap<String, String>,
}

impl ToolDb {
    /// The bundled database.
    pub fn bundled() -> Result<Self, AdvisorError> {
        let mut db = ToolDb::default();
        db.add_text(BUNDLED, "profiles/tools.toml (bundled)")?;
        Ok(db)
    }

    /// Adds the tools of a user file; a tool with an existing name replaces it.
    pub fn add_file(&mut self, path: &Path) -> Result<(), AdvisorError> {
        let text = std::fs::read_to_string(path).map_err(|e| AdvisorError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.add_text(&text, &path.display().to_string())
    }

    /// Adds the tools in `text` (named `origin` in errors).
    pub fn add_text(&mut self, text: &str, origin: &str) -> Result<(), AdvisorError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let at = |span, message| input_at(origin, text, span, message);
        let mut seen_here: BTreeMap<String, ()> = BTreeMap::new();
        for t in raw.tool {
            let name = t.name.get_ref().trim().to_string();
            if !valid_name(&name) {
                return Err(at(
                    t.name.span(),
                    format!("tool name `{name}`: use lowercase letters, digits and `-`"),
                ));
            }
            if seen_here.insert(name.clone(), ()).is_some() {
                return Err(at(
                    t.name.span(),
                    format!("tool `{name}` is defined twice in this file"),
                ));
            }
            // Replacing a tool drops its old aliases.
            if self.tools.remove(&name).is_some() {
                self.index.retain(|_, v| *v != name);
            }
            let mut aliases = Vec::new();
            for a in &t.aliases {
                let a_name = a.get_ref().trim().to_string();
                if !valid_name(&a_name) {
                    return Err(at(
                        a.span(),
                        format!("alias `{a_name}`: use lowercase letters, digits and `-`"),
                    ));
                }
                aliases.push(a_name);
            }
            for key in std::iter::once(&name).chain(aliases.iter()) {
                if let Some(owner) = self.index.get(key)
                    && *owner != name
                {
                    let span = if *key == name {
                        t.name.span()
                    } else {
                        t.aliases
                            .iter()
                            .find(|a| a.get_ref().trim() == key)
                            .map_or(t.name.span(), Spanned::span)
                    };
                    return Err(at(
                        span,
                        format!("`{key}` is already a name or alias of tool `{owner}`"),
                    ));
                }
            }
            let mut paths = Vec::new();
            for p in t.paths {
                let path = p.path.get_ref().trim().to_string();
                if let Some(msg) = path_problem(&path) {
                    return Err(at(p.path.span(), format!("path `{path}` {msg}")));
                }
                paths.push(ToolPath {
                    path,
                    class: p.class,
                    mode: p.mode,
                    note: p.note,
                });
            }
            if t.sources.is_empty() {
                return Err(at(
                    t.name.span(),
                    format!("tool `{name}` has no `sources`: say where its facts come from"),
                ));
            }
            for key in std::iter::once(&name).chain(aliases.iter()) {
                self.index.insert(key.clone(), name.clone());
            }
            self.tools.insert(
                name.clone(),
                Tool {
                    name,
                    aliases,
                    category: t.category,
                    description: t.description,
                    read_write: t.read_write,
                    file_sizes: t.file_sizes,
                    access: t.access,
                    fsync: t.fsync,
                    compressibility: t.compressibility,
                    cow_sensitivity: t.cow_sensitivity,
                    snapshot_value: t.snapshot_value,
                    consistency: t.consistency,
                    sources: t.sources,
                    paths,
                },
            );
        }
        Ok(())
    }

    /// All tools, by name.
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.tools.values()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Looks a tool up by name or alias (case-insensitive); an unknown name is an error that
    /// lists the nearest known names.
    pub fn resolve(&self, name: &str) -> Result<&Tool, AdvisorError> {
        let key = name.trim().to_ascii_lowercase();
        if let Some(t) = self.index.get(&key).and_then(|n| self.tools.get(n)) {
            return Ok(t);
        }
        Err(AdvisorError::UnknownTool {
            name: name.trim().to_string(),
            suggestions: self.nearest(&key, 3),
        })
    }

    /// The `n` known tool names nearest to `key`.
    pub fn nearest(&self, key: &str, n: usize) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .index
            .iter()
            .map(|(k, tool)| {
                let mut s = strsim::jaro_winkler(key, k);
                if key.len() >= 3 && (k.contains(key) || key.contains(k.as_str())) {
                    s = s.max(0.9);
                }
                (s, tool.as_str())
            })
            .filter(|(s, _)| *s >= 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let mut out: Vec<String> = Vec::new();
        for (_, t) in scored {
            if !out.iter().any(|x| x == t) {
                out.push(t.to_string());
            }
            if out.len() == n {
                break;
            }
        }
        out
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '+')
}

fn path_problem(p: &str) -> Option<&'static str> {
    let rest = if let Some(r) = p.strip_prefix("~/") {
        r
    } else if let Some(r) = p.strip_prefix('/') {
        r
    } else {
        return Some("must be absolute or start with `~/`");
    };
    if rest.is_empty() && p.starts_with('~') {
        Some("names the home directory itself; use a directory inside it")
    } else if rest.ends_with('/') {
        Some("must not end with `/`")
    } else if rest.split('/').any(|c| c == ".." || c == ".") {
        Some("must not contain `.` or `..`")
    } else if (!rest.is_empty() && rest.split('/').any(str::is_empty))
        || p.chars()
            .any(|c| matches!(c, '*' | '?' | '<' | '>' | '$' | '%' | '"' | '\\'))
    {
        Some("must be a plain path (no globs, placeholders, `%` or empty components)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_loads_with_enough_tools() {
        let db = ToolDb::bundled().unwrap();
        assert!(db.len() >= 40, "only {} tools", db.len());
        for name in [
            "postgresql",
            "mariadb",
            "mysql",
            "sqlite",
            "redis",
            "podman",
            "docker",
            "libvirt",
            "vscode",
            "jetbrains",
            "neovim",
            "emacs",
            "firefox",
            "chromium",
            "nix",
            "cargo",
            "npm",
            "ccache",
            "steam",
        ] {
            db.resolve(name).unwrap();
        }
    }

    #[test]
    fn aliases_resolve() {
        let db = ToolDb::bundled().unwrap();
        assert_eq!(db.resolve("postgres").unwrap().name, "postgresql");
        assert_eq!(db.resolve("PostgreSQL").unwrap().name, "postgresql");
    }

    #[test]
    fn unknown_tool_suggests_nearest() {
        let db = ToolDb::bundled().unwrap();
        let e = db.resolve("postgress").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("unknown tool `postgress`"), "{s}");
        assert!(s.contains("`postgresql`"), "{s}");
        let e = db.resolve("firefx").unwrap_err().to_string();
        assert!(e.contains("`firefox`"), "{e}");
    }

    #[test]
    fn syntax_error_names_line() {
        let mut db = ToolDb::default();
        let text = "[[tool]]\nname = \"x\"\ncategory = ide\n";
        let e = db.add_text(text, "my.toml").unwrap_err().to_string();
        assert!(e.starts_with("my.toml:3:"), "{e}");
    }

    fn entry(name: &str, extra: &str) -> String {
        format!(
            "[[tool]]\nname = \"{name}\"\ncategory = \"service\"\ndescription = \"d\"\n\
             read_write = \"balanced\"\nfile_sizes = \"small\"\naccess = \"append\"\n\
             fsync = \"low\"\ncompressibility = \"low\"\ncow_sensitivity = \"low\"\n\
             snapshot_value = \"low\"\nconsistency = \"any\"\nsources = [\"s\"]\n{extra}"
        )
    }

    #[test]
    fn unknown_key_and_bad_enum_name_line() {
        let mut db = ToolDb::default();
        let text = entry("x", "colour = \"red\"\n");
        let e = db.add_text(&text, "f.toml").unwrap_err().to_string();
        assert!(e.starts_with("f.toml:14:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let text = entry("x", "").replace("\"append\"", "\"scribble\"");
        let e = db.add_text(&text, "f.toml").unwrap_err().to_string();
        assert!(e.starts_with("f.toml:7:"), "{e}");
    }

    #[test]
    fn bad_paths_and_duplicates_are_errors() {
        let mut db = ToolDb::default();
        let text = entry(
            "x",
            "[[tool.paths]]\npath = \"var/lib/x\"\nclass = \"cache\"\n",
        );
        let e = db.add_text(&text, "f.toml").unwrap_err().to_string();
        assert!(e.starts_with("f.toml:15:") && e.contains("absolute"), "{e}");
        let text = format!("{}{}", entry("x", ""), entry("x", ""));
        let e = db.add_text(&text, "f.toml").unwrap_err().to_string();
        assert!(e.contains("defined twice"), "{e}");
    }

    #[test]
    fn user_file_replaces_and_extends() {
        let mut db = ToolDb::bundled().unwrap();
        let n = db.len();
        db.add_text(&entry("mytool", "aliases = [\"mt\"]\n"), "u.toml")
            .unwrap();
        assert_eq!(db.len(), n + 1);
        assert_eq!(db.resolve("mt").unwrap().name, "mytool");
        db.add_text(&entry("redis", ""), "u.toml").unwrap();
        assert_eq!(db.len(), n + 1);
        assert_eq!(db.resolve("redis").unwrap().description, "d");
        let clash = entry("other", "aliases = [\"postgres\"]\n");
        let e = db.add_text(&clash, "u.toml").unwrap_err().to_string();
        assert!(
            e.contains("already a name or alias of tool `postgresql`"),
            "{e}"
        );
    }
}
