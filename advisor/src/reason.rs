//! Why a choice was made, and the fact or measurement behind it.
//!
//! Every choice in a [`Layout`](crate::layout::Layout) carries a [`Why`]: one sentence and the
//! references it rests on. References point into the project's sourced knowledge
//! (`btrfs-tuning-facts.md`, `benchmark-method.md`), the tools database, the user's input,
//! or a measurement.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a reference points to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Ref {
    /// A section of `btrfs-tuning-facts.md`, such as `1.4`.
    Fact {
        /// Section number without the `§`.
        section: String,
    },
    /// A section of `benchmark-method.md`.
    Method {
        /// Section number without the `§`.
        section: String,
    },
    /// A tool's entry in the tools database (its `sources`).
    Tool {
        /// The tool's name.
        name: String,
    },
    /// What the user gave: the toolstack, a facter report, a command-line flag.
    Input {
        /// Which input, e.g. `toolstack priority` or `facter.json disk`.
        what: String,
    },
    /// A measurement: a results file and what in it.
    Measured {
        /// Where the numbers are.
        what: String,
    },
    /// A place in a parsed configuration file.
    Source {
        /// `file:line`.
        at: String,
    },
}

impl Ref {
    /// A section of `btrfs-tuning-facts.md`.
    pub fn fact(section: &str) -> Self {
        Ref::Fact {
            section: section.to_string(),
        }
    }

    /// A section of `benchmark-method.md`.
    pub fn method(section: &str) -> Self {
        Ref::Method {
            section: section.to_string(),
        }
    }

    /// A tools-database entry.
    pub fn tool(name: &str) -> Self {
        Ref::Tool {
            name: name.to_string(),
        }
    }

    /// A user input.
    pub fn input(what: &str) -> Self {
        Ref::Input {
            what: what.to_string(),
        }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Fact { section } => write!(f, "btrfs-tuning-facts.md §{section}"),
            Ref::Method { section } => write!(f, "benchmark-method.md §{section}"),
            Ref::Tool { name } => write!(f, "tools.toml: {name}"),
            Ref::Input { what } => write!(f, "input: {what}"),
            Ref::Measured { what } => write!(f, "measured: {what}"),
            Ref::Source { at } => write!(f, "{at}"),
        }
    }
}

/// One reason: a sentence and its references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Why {
    /// The reason, one or two sentences.
    pub text: String,
    /// What it rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<Ref>,
}

impl Why {
    /// A reason with references.
    pub fn new(text: impl Into<String>, refs: impl IntoIterator<Item = Ref>) -> Self {
        Why {
            text: text.into(),
            refs: refs.into_iter().collect(),
        }
    }

    /// The references, short and comma-separated (`btrfs-tuning-facts.md §1.4, tools.toml: postgresql`).
    pub fn cite(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut last_doc = "";
        for r in &self.refs {
            let (doc, sec) = match r {
                Ref::Fact { section } => ("btrfs-tuning-facts.md", Some(section)),
                Ref::Method { section } => ("benchmark-method.md", Some(section)),
                _ => ("", None),
            };
            match sec {
                Some(s) if doc == last_doc => {
                    if let Some(l) = out.last_mut() {
                        l.push_str(&format!(", §{s}"));
                    }
                }
                _ => out.push(r.to_string()),
            }
            last_doc = doc;
        }
        out.join("; ")
    }
}

/// Which choice about a subvolume a reason explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aspect {
    /// Why the data has a subvolume of its own (or shares one).
    Placement,
    /// The per-mount options.
    Mount,
    /// The NOCOW attribute (set or not).
    Nocow,
    /// The compression property (set or inherited).
    Compression,
    /// The snapshot policy.
    Snapshots,
    /// Swap files in the subvolume.
    Swap,
}

/// Reasons keyed by the aspect they explain.
pub type Reasons = BTreeMap<Aspect, Why>;
