//! The toolstack: what runs on the host, what matters most, and the bundled examples.
//!
//! A toolstack file is TOML:
//!
//! ```toml
//! tools = ["postgresql", "podman", "vscode", "firefox", "nix"]
//! priority = "balanced"        # performance | balanced | durability
//! purpose = "development"      # development | production
//! users = ["alice"]            # optional: owners of project directories, snapper users
//! projects = ["/home/alice/src"]
//! encrypt = false              # LUKS around btrfs
//! hibernate = false            # swap sized for hibernation
//! snapshots = true             # plan snapshot schedules
//!
//! [hardware]                   # used when no facter.json is given
//! disk = "nvme"
//! ram = "32G"
//!
//! [tool.podman]                # per-tool options
//! mode = "rootless"            # rootful | rootless | both
//! volumes = "database"         # general | database
//!
//! [[data]]                     # extra data with explicit wishes
//! path = "/srv/media"
//! purpose = "media"
//! compression = "none"
//! ```

use crate::error::{AdvisorError, input_at, line_col, toml_error};
use crate::hardware::{Confidence, DeviceClass, DiskInfo, HardwareProfile};
use crate::layout::{Bytes, CompressionProperty, Purpose};
use crate::profiles::{Tool, ToolDb};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use toml::Spanned;

/// What matters most when choices conflict.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// Speed first: NOCOW for overwrite-heavy data, fewer snapshots.
    Performance,
    /// The default: NOCOW where copy-on-write hurts most, snapshots kept.
    #[default]
    Balanced,
    /// Checksums and snapshots first: data stays copy-on-write.
    Durability,
}

/// What the host is for (the seed's development vs production trade-offs).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum HostPurpose {
    /// A developer's machine: frequent project snapshots, caches out of snapshots.
    #[default]
    Development,
    /// A server: conservative settings, recovery-oriented snapshots.
    Production,
}

macro_rules! name_enum {
    ($t:ty, $($v:ident => $s:literal),+) => {
        impl $t {
            /// The name used in files and on the command line.
            pub fn as_str(self) -> &'static str { match self { $(Self::$v => $s),+ } }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok(Self::$v),)+
                    _ => Err(format!("`{s}`: expected one of {}", [$($s),+].join(", "))) }
            }
        }
    };
}
name_enum!(Priority, Performance => "performance", Balanced => "balanced", Durability => "durability");
name_enum!(HostPurpose, Development => "development", Production => "production");

/// Rootful, rootless or both, for container and VM tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeChoice {
    /// System-wide only.
    Rootful,
    /// Per user only.
    Rootless,
    /// Both.
    Both,
}

/// What container volumes hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeKind {
    /// Ordinary application data.
    General,
    /// Database files: treated like a database data directory.
    Database,
}

/// Per-tool options (`[tool.NAME]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolOptions {
    /// Rootful, rootless or both (container and VM tools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeChoice>,
    /// Storage driver for container engines: `overlay` or `btrfs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// What container volumes hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<VolumeKind>,
    /// Container engines: the workload profile of the containers matrix (`general`,
    /// `many-layers`, `high-density`, `build-heavy`, `multi-arch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Databases: how much data to plan a dedicated partition for (`64G`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_size: Option<String>,
    /// Databases: `false` keeps the data on btrfs even where the matrix would give it a
    /// partition of its own (priority performance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<bool>,
}

/// Hardware given in the toolstack (when there is no facter report).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardwareHints {
    /// Disk class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DeviceClass>,
    /// Disk size (`2T`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_size: Option<String>,
    /// Device path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Disk model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// RAM (`32G`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ram: Option<String>,
    /// Hardware threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<u32>,
    /// CPU model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// AVX2 present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_avx2: Option<bool>,
    /// Nix system (`aarch64-linux`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Where these figures come from (e.g. a facter report they were read off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub based_on: Option<String>,
}

/// Extra data with explicit wishes (`[[data]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataWish {
    /// Absolute path, or `~/...`.
    pub path: String,
    /// What it is (default: user-data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// Ask for NOCOW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocow: Option<bool>,
    /// Ask for a compression property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionProperty>,
    /// Ask for snapshots (or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<bool>,
    /// What it is, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A toolstack, read from a file, an example or flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Toolstack {
    /// Where it came from (file path, `example NAME`, `--tools`).
    pub origin: String,
    /// One line about the host (examples have one).
    pub description: Option<String>,
    /// Tool names as given, with the line each is on (0 when from flags).
    pub tools: Vec<(String, usize)>,
    /// Priority.
    pub priority: Priority,
    /// Purpose.
    pub purpose: HostPurpose,
    /// Users (owners of project directories, snapper users).
    pub users: Vec<String>,
    /// Project directories.
    pub projects: Vec<String>,
    /// LUKS.
    pub encrypt: bool,
    /// Swap sized for hibernation.
    pub hibernate: bool,
    /// Plan snapshots.
    pub snapshots: bool,
    /// Hardware hints.
    pub hardware: Option<HardwareHints>,
    /// Per-tool options, by tool name as written.
    pub tool_options: BTreeMap<String, ToolOptions>,
    /// Extra data.
    pub data: Vec<DataWish>,
}

impl Default for Toolstack {
    fn default() -> Self {
        Toolstack {
            origin: "--tools".into(),
            description: None,
            tools: Vec::new(),
            priority: Priority::default(),
            purpose: HostPurpose::default(),
            users: Vec::new(),
            projects: Vec::new(),
            encrypt: false,
            hibernate: false,
            snapshots: true,
            hardware: None,
            tool_options: BTreeMap::new(),
            data: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolstack {
    #[serde(default)]
    description: Option<String>,
    tools: Vec<Spanned<String>>,
    #[serde(default)]
    priority: Priority,
    #[serde(default)]
    purpose: HostPurpose,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    projects: Vec<Spanned<String>>,
    #[serde(default)]
    encrypt: bool,
    #[serde(default)]
    hibernate: bool,
    #[serde(default = "yes")]
    snapshots: bool,
    #[serde(default)]
    hardware: Option<Spanned<HardwareHints>>,
    #[serde(default)]
    tool: BTreeMap<String, Spanned<ToolOptions>>,
    #[serde(default)]
    data: Vec<Spanned<DataWish>>,
}

fn yes() -> bool {
    true
}

/// The bundled example toolstacks: name and file text.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "workstation",
        include_str!("../../profiles/examples/workstation.toml"),
    ),
    (
        "database-server",
        include_str!("../../profiles/examples/database-server.toml"),
    ),
    (
        "podman-host",
        include_str!("../../profiles/examples/podman-host.toml"),
    ),
    (
        "laptop-hdd",
        include_str!("../../profiles/examples/laptop-hdd.toml"),
    ),
    (
        "vm-host",
        include_str!("../../profiles/examples/vm-host.toml"),
    ),
    (
        "raspberry-pi",
        include_str!("../../profiles/examples/raspberry-pi.toml"),
    ),
    (
        "build-server",
        include_str!("../../profiles/examples/build-server.toml"),
    ),
];

impl Toolstack {
    /// Reads a toolstack file.
    pub fn read(path: &Path) -> Result<Self, AdvisorError> {
        let text = std::fs::read_to_string(path).map_err(|e| AdvisorError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// A bundled example by name.
    pub fn example(name: &str) -> Result<Self, AdvisorError> {
        let (n, text) = EXAMPLES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            AdvisorError::UnknownExample {
                name: name.to_string(),
                known: EXAMPLES.iter().map(|(n, _)| n.to_string()).collect(),
            }
        })?;
        Self::parse(text, &format!("example {n}"))
    }

    /// A toolstack from `--tools a,b,c`.
    pub fn from_tools(list: &str) -> Result<Self, AdvisorError> {
        let tools: Vec<(String, usize)> = list
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| (t.to_string(), 0))
            .collect();
        if tools.is_empty() {
            return Err(AdvisorError::Request(
                "--tools is empty: give a comma-separated list, e.g. --tools postgresql,firefox"
                    .into(),
            ));
        }
        Ok(Toolstack {
            tools,
            ..Toolstack::default()
        })
    }

    /// Parses toolstack text (named `origin` in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, AdvisorError> {
        let raw: RawToolstack = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let at = |span, message| input_at(origin, text, span, message);
        if raw.tools.is_empty() {
            return Err(AdvisorError::Input {
                path: origin.into(),
                line: 0,
                column: 0,
                message: "`tools` is empty: list the tools and services this host runs".into(),
            });
        }
        let mut projects = Vec::new();
        for p in raw.projects {
            let v = p.get_ref().trim_end_matches('/').to_string();
            if !v.starts_with('/') || v.split('/').any(|c| c == ".." || c == ".") {
                return Err(at(
                    p.span(),
                    format!("project directory `{v}` must be an absolute path without `..`"),
                ));
            }
            projects.push(v);
        }
        let mut data = Vec::new();
        for d in raw.data {
            let span = d.span();
            let d = d.into_inner();
            let ok = (d.path.starts_with('/') && d.path.len() > 1)
                || (d.path.starts_with("~/") && d.path.len() > 2);
            if !ok || d.path.ends_with('/') || d.path.split('/').any(|c| c == "..") {
                return Err(at(
                    span,
                    format!(
                        "data path `{}` must be absolute or `~/...`, without `..` or a trailing `/`",
                        d.path
                    ),
                ));
            }
            data.push(d);
        }
        if let Some(h) = &raw.hardware {
            let span = h.span();
            let h = h.get_ref();
            for (what, v) in [("disk_size", &h.disk_size), ("ram", &h.ram)] {
                if let Some(v) = v {
                    v.parse::<Bytes>()
                        .map_err(|e| at(span.clone(), format!("[hardware] {what}: {e}")))?;
                }
            }
        }
        let mut tool_options = BTreeMap::new();
        for (name, o) in raw.tool {
            let span = o.span();
            let o = o.into_inner();
            if let Some(d) = &o.driver
                && d != "overlay"
                && d != "btrfs"
            {
                return Err(at(
                    span,
                    format!("[tool.{name}] driver `{d}`: expected `overlay` or `btrfs`"),
                ));
            }
            tool_options.insert(name, o);
        }
        Ok(Toolstack {
            origin: origin.to_string(),
            description: raw.description,
            tools: raw
                .tools
                .into_iter()
                .map(|t| {
                    let (line, _) = line_col(text, t.span().start);
                    (t.into_inner(), line)
                })
                .collect(),
            priority: raw.priority,
            purpose: raw.purpose,
            users: raw.users,
            projects,
            encrypt: raw.encrypt,
            hibernate: raw.hibernate,
            snapshots: raw.snapshots,
            hardware: raw.hardware.map(Spanned::into_inner),
            tool_options,
            data,
        })
    }

    /// The tools, looked up in the database, without duplicates, in name order. An unknown
    /// name is an error naming the line it is on and the nearest known names.
    pub fn resolve<'a>(&self, db: &'a ToolDb) -> Result<Vec<&'a Tool>, AdvisorError> {
        let mut out: BTreeMap<&str, &Tool> = BTreeMap::new();
        for (name, line) in &self.tools {
            match db.resolve(name) {
                Ok(t) => {
                    out.insert(t.name.as_str(), t);
                }
                Err(e) if *line > 0 => {
                    return Err(AdvisorError::Input {
                        path: self.origin.clone(),
                        line: *line,
                        column: 0,
                        message: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        for name in self.tool_options.keys() {
            let t = db.resolve(name)?;
            if !out.contains_key(t.name.as_str()) {
                return Err(AdvisorError::Request(format!(
                    "{}: [tool.{name}] sets options for a tool that is not in `tools`",
                    self.origin
                )));
            }
        }
        Ok(out.into_values().collect())
    }

    /// The options for a tool (looked up by its canonical name or any alias written).
    pub fn options_for(&self, db: &ToolDb, tool: &str) -> ToolOptions {
        self.tool_options
            .iter()
            .find(|(k, _)| db.resolve(k).is_ok_and(|t| t.name == tool))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The hardware the toolstack describes, if it has a `[hardware]` table.
    pub fn hardware_profile(&self) -> Option<HardwareProfile> {
        let h = self.hardware.as_ref()?;
        let disk = h.disk.map(|class| DiskInfo {
            device: h
                .device
                .clone()
                .unwrap_or_else(|| class.placeholder_device().to_string()),
            class,
            class_confidence: Confidence::High,
            size_bytes: h
                .disk_size
                .as_deref()
                .and_then(|s| s.parse::<Bytes>().ok())
                .map(|b| b.0),
            model: h.model.clone(),
            ..DiskInfo::default()
        });
        Some(HardwareProfile {
            source: match &h.based_on {
                Some(b) => format!("{} [hardware] (from {b})", self.origin),
                None => format!("{} [hardware]", self.origin),
            },
            system: h.system.clone(),
            virtualisation: None,
            cpu_model: h.cpu_model.clone(),
            cpu_threads: h.cpu_threads,
            cpu_avx2: h.cpu_avx2,
            ram_bytes: h
                .ram
                .as_deref()
                .and_then(|s| s.parse::<Bytes>().ok())
                .map(|b| b.0),
            disks: disk.into_iter().collect(),
            ..HardwareProfile::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses_and_resolves() {
        let db = ToolDb::bundled().unwrap();
        for (name, _) in EXAMPLES {
            let t = Toolstack::example(name).unwrap();
            assert!(!t.resolve(&db).unwrap().is_empty(), "{name}");
            assert!(t.hardware_profile().is_some(), "{name} has no [hardware]");
        }
    }

    #[test]
    fn unknown_tool_in_file_names_line_and_suggestion() {
        let db = ToolDb::bundled().unwrap();
        let text = "priority = \"balanced\"\ntools = [\n  \"firefox\",\n  \"postgress\",\n]\n";
        let t = Toolstack::parse(text, "stack.toml").unwrap();
        let e = t.resolve(&db).unwrap_err().to_string();
        assert!(e.starts_with("stack.toml:4:"), "{e}");
        assert!(e.contains("postgresql"), "{e}");
    }

    #[test]
    fn syntax_errors_name_line() {
        let e = Toolstack::parse("tools = [\"nix\"]\npriority = fast\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:"), "{e}");
        let e = Toolstack::parse("tools = [\"nix\"]\npriority = \"fast\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml:2:") && e.contains("performance"),
            "{e}"
        );
        let e = Toolstack::parse(
            "tools = [\"nix\"]\n\n[hardware]\nram = \"lots\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml:3:") && e.contains("ram"), "{e}");
        let e = Toolstack::parse("tools = [\"nix\"]\nprojects = [\"src\"]\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:") && e.contains("absolute"), "{e}");
    }

    #[test]
    fn tools_flag() {
        let t = Toolstack::from_tools("postgresql, firefox,,nix").unwrap();
        assert_eq!(t.tools.len(), 3);
        assert!(Toolstack::from_tools(" , ").is_err());
    }

    #[test]
    fn unknown_example_lists_known() {
        let e = Toolstack::example("nope").unwrap_err().to_string();
        assert!(e.contains("workstation") && e.contains("laptop-hdd"), "{e}");
    }
}
