//! User observations: free text ("postgres commits take forever") or a `--symptom` name,
//! mapped to the performance-issue categories of the design (slow builds, slow database
//! operations, slow container I/O, general sluggishness) plus slow boot/updates and space
//! problems.
//!
//! The vocabulary is data ([`CUES`], [`COMPLAINTS`], [`NEGATIONS`]). Text is split into
//! clauses (at `.`, `!`, `?`, `;` and line ends) and words (runs of letters and digits,
//! lowercased, so `nixos-rebuild` reads as `nixos rebuild`). In each clause:
//!
//! - a **subject** cue names a workload (`podman`, `postgres`, `firefox`); with a
//!   complaint word (`slow`, `freezes`, `take forever`) in the same clause the match has
//!   confidence 0.8, without one 0.45;
//! - a **refine** cue of the same category picks the symptom (`pull` turns a container
//!   subject into [`Symptom::SlowContainerPulls`], `query` a database one into
//!   [`Symptom::SlowDbReads`]) and adds 0.05;
//! - a **direct** cue is a complaint in itself (`ENOSPC`, `no space left`): 0.9;
//! - a complaint with no subject in its clause gives [`Symptom::GeneralSluggishness`] at 0.3.
//!
//! A complaint word right after a negation (`not slow`) does not count. Text with no cue
//! and no complaint gives no match; the [`Observation`] keeps it all the same.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The performance-issue categories of the design (plus boot/updates and space).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Slow builds and development workloads (compilers, IDEs, package managers).
    Development,
    /// Slow database operations (writes, commits, queries).
    Database,
    /// Slow container I/O (image pulls, layer extraction, volumes).
    Containers,
    /// General system sluggishness (desktop stutter, browsers, file operations).
    GeneralSluggishness,
    /// Slow boot, system updates, rebuilds and garbage collection.
    BootAndUpdates,
    /// Space problems: ENOSPC, a full disk, vanishing free space.
    Space,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 6] = [
        Category::Development,
        Category::Database,
        Category::Containers,
        Category::GeneralSluggishness,
        Category::BootAndUpdates,
        Category::Space,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Development => "development",
            Category::Database => "database",
            Category::Containers => "containers",
            Category::GeneralSluggishness => "general-sluggishness",
            Category::BootAndUpdates => "boot-and-updates",
            Category::Space => "space",
        }
    }

    /// A one-line description.
    pub fn description(self) -> &'static str {
        match self {
            Category::Development => "slow builds and development workloads",
            Category::Database => "slow database operations",
            Category::Containers => "slow container I/O",
            Category::GeneralSluggishness => "general system sluggishness",
            Category::BootAndUpdates => "slow boot, updates or rebuilds",
            Category::Space => "space problems (ENOSPC, full disk)",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named symptom, as given with `--symptom` (kebab-case names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symptom {
    /// `slow-builds`: compiles, `nix build`, package installs take long.
    SlowBuilds,
    /// `ide-freezes`: the editor/IDE freezes (often on save or while indexing).
    IdeFreezes,
    /// `slow-db-writes`: commits, inserts, fsync-heavy database work is slow.
    SlowDbWrites,
    /// `slow-db-reads`: database queries are slow.
    SlowDbReads,
    /// `slow-container-pulls`: image pulls and layer extraction are slow.
    SlowContainerPulls,
    /// `slow-container-io`: I/O inside containers or on volumes is slow.
    SlowContainerIo,
    /// `browser-stutter`: the browser (or an Electron app) hangs or stutters.
    BrowserStutter,
    /// `general-sluggishness`: the whole desktop stutters, file operations are slow.
    GeneralSluggishness,
    /// `enospc`: "No space left on device" or a full filesystem.
    Enospc,
    /// `slow-boot`: boot or login takes long.
    SlowBoot,
    /// `slow-updates`: system updates, `nixos-rebuild`, garbage collection are slow.
    SlowUpdates,
}

impl Symptom {
    /// Every symptom, in declaration order.
    pub const ALL: [Symptom; 11] = [
        Symptom::SlowBuilds,
        Symptom::IdeFreezes,
        Symptom::SlowDbWrites,
        Symptom::SlowDbReads,
        Symptom::SlowContainerPulls,
        Symptom::SlowContainerIo,
        Symptom::BrowserStutter,
        Symptom::GeneralSluggishness,
        Symptom::Enospc,
        Symptom::SlowBoot,
        Symptom::SlowUpdates,
    ];

    /// The kebab-case name (`slow-db-writes`).
    pub fn name(self) -> &'static str {
        match self {
            Symptom::SlowBuilds => "slow-builds",
            Symptom::IdeFreezes => "ide-freezes",
            Symptom::SlowDbWrites => "slow-db-writes",
            Symptom::SlowDbReads => "slow-db-reads",
            Symptom::SlowContainerPulls => "slow-container-pulls",
            Symptom::SlowContainerIo => "slow-container-io",
            Symptom::BrowserStutter => "browser-stutter",
            Symptom::GeneralSluggishness => "general-sluggishness",
            Symptom::Enospc => "enospc",
            Symptom::SlowBoot => "slow-boot",
            Symptom::SlowUpdates => "slow-updates",
        }
    }

    /// The category the symptom belongs to.
    pub fn category(self) -> Category {
        match self {
            Symptom::SlowBuilds | Symptom::IdeFreezes => Category::Development,
            Symptom::SlowDbWrites | Symptom::SlowDbReads => Category::Database,
            Symptom::SlowContainerPulls | Symptom::SlowContainerIo => Category::Containers,
            Symptom::BrowserStutter | Symptom::GeneralSluggishness => Category::GeneralSluggishness,
            Symptom::Enospc => Category::Space,
            Symptom::SlowBoot | Symptom::SlowUpdates => Category::BootAndUpdates,
        }
    }

    /// An [`Observation`] for this symptom given by name (confidence 1).
    pub fn observation(self) -> Observation {
        Observation {
            text: format!("--symptom {}", self.name()),
            matches: vec![Match {
                symptom: self,
                category: self.category(),
                triggers: vec![self.name().to_string()],
                confidence: 1.0,
            }],
        }
    }
}

impl fmt::Display for Symptom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--symptom` name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown symptom `{name}`{}; valid symptoms: {}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), Symptom::ALL.map(Symptom::name).join(", "))]
pub struct UnknownSymptom {
    /// What was given.
    pub name: String,
    /// The nearest valid name, if one is close.
    pub suggestion: Option<&'static str>,
}

impl FromStr for Symptom {
    type Err = UnknownSymptom;

    /// Accepts the kebab-case names, case-insensitively, with `_` for `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if let Some(sym) = Symptom::ALL.into_iter().find(|x| x.name() == norm) {
            return Ok(sym);
        }
        let suggestion = Symptom::ALL
            .into_iter()
            .map(|x| (strsim::jaro_winkler(&norm, x.name()), x.name()))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n);
        Err(UnknownSymptom {
            name: s.to_string(),
            suggestion,
        })
    }
}

/// What a cue does in a clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CueKind {
    /// Names a workload; needs a complaint in the clause for full confidence.
    Subject,
    /// Picks the symptom among those of a subject's category.
    Refine,
    /// Is a complaint by itself.
    Direct,
}

/// One vocabulary entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cue {
    /// Lowercase words separated by single spaces, matched as consecutive words.
    pub phrase: &'static str,
    /// The symptom it points to.
    pub symptom: Symptom,
    /// How it counts.
    pub kind: CueKind,
}

const fn s(phrase: &'static str, symptom: Symptom) -> Cue {
    Cue {
        phrase,
        symptom,
        kind: CueKind::Subject,
    }
}

const fn r(phrase: &'static str, symptom: Symptom) -> Cue {
    Cue {
        phrase,
        symptom,
        kind: CueKind::Refine,
    }
}

const fn d(phrase: &'static str, symptom: Symptom) -> Cue {
    Cue {
        phrase,
        symptom,
        kind: CueKind::Direct,
    }
}

use Symptom as Y;

/// The vocabulary: words and phrases that point to a symptom.
pub const CUES: &[Cue] = &[
    // Development: builds.
    s("build", Y::SlowBuilds),
    s("builds", Y::SlowBuilds),
    s("building", Y::SlowBuilds),
    s("compile", Y::SlowBuilds),
    s("compiles", Y::SlowBuilds),
    s("compiling", Y::SlowBuilds),
    s("compilation", Y::SlowBuilds),
    s("cargo", Y::SlowBuilds),
    s("rustc", Y::SlowBuilds),
    s("cmake", Y::SlowBuilds),
    s("ninja", Y::SlowBuilds),
    s("gradle", Y::SlowBuilds),
    s("maven", Y::SlowBuilds),
    s("npm", Y::SlowBuilds),
    s("yarn", Y::SlowBuilds),
    s("pnpm", Y::SlowBuilds),
    s("node modules", Y::SlowBuilds),
    s("webpack", Y::SlowBuilds),
    s("pip install", Y::SlowBuilds),
    s("nix build", Y::SlowBuilds),
    s("nix builds", Y::SlowBuilds),
    s("nix develop", Y::SlowBuilds),
    s("nix shell", Y::SlowBuilds),
    s("direnv", Y::SlowBuilds),
    s("git", Y::SlowBuilds),
    s("linking", Y::SlowBuilds),
    s("ccache", Y::SlowBuilds),
    // Development: editors.
    s("ide", Y::IdeFreezes),
    s("vscode", Y::IdeFreezes),
    s("vs code", Y::IdeFreezes),
    s("vscodium", Y::IdeFreezes),
    s("intellij", Y::IdeFreezes),
    s("clion", Y::IdeFreezes),
    s("pycharm", Y::IdeFreezes),
    s("webstorm", Y::IdeFreezes),
    s("goland", Y::IdeFreezes),
    s("rider", Y::IdeFreezes),
    s("android studio", Y::IdeFreezes),
    s("eclipse", Y::IdeFreezes),
    s("emacs", Y::IdeFreezes),
    s("neovim", Y::IdeFreezes),
    s("nvim", Y::IdeFreezes),
    s("vim", Y::IdeFreezes),
    s("editor", Y::IdeFreezes),
    s("rust analyzer", Y::IdeFreezes),
    s("language server", Y::IdeFreezes),
    s("indexing", Y::IdeFreezes),
    r("on save", Y::IdeFreezes),
    // Databases.
    s("database", Y::SlowDbWrites),
    s("databases", Y::SlowDbWrites),
    s("db", Y::SlowDbWrites),
    s("postgres", Y::SlowDbWrites),
    s("postgresql", Y::SlowDbWrites),
    s("psql", Y::SlowDbWrites),
    s("pgbench", Y::SlowDbWrites),
    s("mysql", Y::SlowDbWrites),
    s("mariadb", Y::SlowDbWrites),
    s("sqlite", Y::SlowDbWrites),
    s("mongodb", Y::SlowDbWrites),
    s("mongo", Y::SlowDbWrites),
    s("redis", Y::SlowDbWrites),
    s("influxdb", Y::SlowDbWrites),
    s("clickhouse", Y::SlowDbWrites),
    s("elasticsearch", Y::SlowDbWrites),
    s("etcd", Y::SlowDbWrites),
    r("commit", Y::SlowDbWrites),
    r("commits", Y::SlowDbWrites),
    r("insert", Y::SlowDbWrites),
    r("inserts", Y::SlowDbWrites),
    r("write", Y::SlowDbWrites),
    r("writes", Y::SlowDbWrites),
    r("transaction", Y::SlowDbWrites),
    r("transactions", Y::SlowDbWrites),
    r("fsync", Y::SlowDbWrites),
    r("wal", Y::SlowDbWrites),
    r("checkpoint", Y::SlowDbWrites),
    r("checkpoints", Y::SlowDbWrites),
    r("vacuum", Y::SlowDbWrites),
    r("query", Y::SlowDbReads),
    r("queries", Y::SlowDbReads),
    r("select", Y::SlowDbReads),
    r("selects", Y::SlowDbReads),
    r("read", Y::SlowDbReads),
    r("reads", Y::SlowDbReads),
    r("lookup", Y::SlowDbReads),
    r("lookups", Y::SlowDbReads),
    // Containers.
    s("podman", Y::SlowContainerIo),
    s("docker", Y::SlowContainerIo),
    s("container", Y::SlowContainerIo),
    s("containers", Y::SlowContainerIo),
    s("containerd", Y::SlowContainerIo),
    s("buildah", Y::SlowContainerIo),
    s("k3s", Y::SlowContainerIo),
    s("kubernetes", Y::SlowContainerIo),
    s("k8s", Y::SlowContainerIo),
    s("lxc", Y::SlowContainerIo),
    s("incus", Y::SlowContainerIo),
    s("overlayfs", Y::SlowContainerIo),
    r("volume", Y::SlowContainerIo),
    r("volumes", Y::SlowContainerIo),
    r("pull", Y::SlowContainerPulls),
    r("pulls", Y::SlowContainerPulls),
    r("pulling", Y::SlowContainerPulls),
    r("image", Y::SlowContainerPulls),
    r("images", Y::SlowContainerPulls),
    r("layer", Y::SlowContainerPulls),
    r("layers", Y::SlowContainerPulls),
    r("extracting", Y::SlowContainerPulls),
    r("unpacking", Y::SlowContainerPulls),
    // Browsers and other SQLite-heavy desktop apps.
    s("firefox", Y::BrowserStutter),
    s("chrome", Y::BrowserStutter),
    s("chromium", Y::BrowserStutter),
    s("brave", Y::BrowserStutter),
    s("browser", Y::BrowserStutter),
    s("librewolf", Y::BrowserStutter),
    s("thunderbird", Y::BrowserStutter),
    s("electron", Y::BrowserStutter),
    s("slack", Y::BrowserStutter),
    s("discord", Y::BrowserStutter),
    s("tabs", Y::BrowserStutter),
    // The whole system.
    s("system", Y::GeneralSluggishness),
    s("whole system", Y::GeneralSluggishness),
    s("everything", Y::GeneralSluggishness),
    s("desktop", Y::GeneralSluggishness),
    s("computer", Y::GeneralSluggishness),
    s("laptop", Y::GeneralSluggishness),
    s("machine", Y::GeneralSluggishness),
    s("pc", Y::GeneralSluggishness),
    s("gnome", Y::GeneralSluggishness),
    s("kde", Y::GeneralSluggishness),
    s("plasma", Y::GeneralSluggishness),
    s("mouse", Y::GeneralSluggishness),
    s("file manager", Y::GeneralSluggishness),
    s("nautilus", Y::GeneralSluggishness),
    s("dolphin", Y::GeneralSluggishness),
    s("terminal", Y::GeneralSluggishness),
    s("file copy", Y::GeneralSluggishness),
    s("copying", Y::GeneralSluggishness),
    s("random io", Y::GeneralSluggishness),
    // Boot.
    s("boot", Y::SlowBoot),
    s("boots", Y::SlowBoot),
    s("booting", Y::SlowBoot),
    s("startup", Y::SlowBoot),
    s("login", Y::SlowBoot),
    // Updates, rebuilds, garbage collection.
    s("update", Y::SlowUpdates),
    s("updates", Y::SlowUpdates),
    s("updating", Y::SlowUpdates),
    s("upgrade", Y::SlowUpdates),
    s("upgrades", Y::SlowUpdates),
    s("nixos rebuild", Y::SlowUpdates),
    s("rebuild switch", Y::SlowUpdates),
    s("nix collect garbage", Y::SlowUpdates),
    s("garbage collection", Y::SlowUpdates),
    s("nix store gc", Y::SlowUpdates),
    s("nix store optimise", Y::SlowUpdates),
    s("apt", Y::SlowUpdates),
    s("dnf", Y::SlowUpdates),
    s("pacman", Y::SlowUpdates),
    s("flatpak", Y::SlowUpdates),
    // Space.
    d("enospc", Y::Enospc),
    d("no space left", Y::Enospc),
    d("disk full", Y::Enospc),
    d("disk is full", Y::Enospc),
    d("drive is full", Y::Enospc),
    d("full disk", Y::Enospc),
    d("filesystem is full", Y::Enospc),
    d("filesystem full", Y::Enospc),
    d("out of space", Y::Enospc),
    d("out of disk space", Y::Enospc),
    d("running out of space", Y::Enospc),
    d("ran out of space", Y::Enospc),
    d("not enough space", Y::Enospc),
    d("no free space", Y::Enospc),
    s("disk space", Y::Enospc),
    s("free space", Y::Enospc),
    s("df", Y::Enospc),
];

/// Words and phrases that say something is wrong (lowercase, space-separated).
pub const COMPLAINTS: &[&str] = &[
    "slow",
    "slower",
    "slowly",
    "slowness",
    "slows down",
    "slowdown",
    "slowdowns",
    "sluggish",
    "sluggishness",
    "lag",
    "lags",
    "laggy",
    "lagging",
    "hang",
    "hangs",
    "hanging",
    "hung",
    "freeze",
    "freezes",
    "freezing",
    "froze",
    "frozen",
    "stutter",
    "stutters",
    "stuttering",
    "stall",
    "stalls",
    "stalling",
    "stalled",
    "pause",
    "pauses",
    "hiccup",
    "hiccups",
    "takes forever",
    "take forever",
    "taking forever",
    "forever",
    "ages",
    "minutes",
    "hours",
    "crawl",
    "crawls",
    "crawling",
    "unresponsive",
    "unusable",
    "choppy",
    "janky",
    "jank",
    "timeout",
    "timeouts",
    "timed out",
    "time out",
    "times out",
    "timing out",
    "high latency",
    "latency",
    "delay",
    "delays",
    "iowait",
    "io wait",
    "bottleneck",
    "poor performance",
    "bad performance",
    "performance issues",
    "performance problems",
    "shrinking",
    "disappears",
    "disappearing",
    "vanishes",
    "full",
];

/// Words that cancel a complaint word right after them (`not slow`, `isn't slow`).
pub const NEGATIONS: &[&str] = &[
    "not",
    "never",
    "no",
    "nothing",
    "without",
    "isn",
    "aren",
    "wasn",
    "weren",
    "doesn",
    "don",
    "no longer",
    "hardly",
];

/// Confidence of a subject with a complaint in its clause.
const WITH_COMPLAINT: f64 = 0.8;
/// Confidence of a subject alone.
const SUBJECT_ONLY: f64 = 0.45;
/// Confidence of a direct cue.
const DIRECT: f64 = 0.9;
/// Confidence of a complaint without a subject.
const COMPLAINT_ONLY: f64 = 0.3;
/// Added per refine cue and per further subject of the same symptom.
const BONUS: f64 = 0.05;
/// The ceiling for text matches.
const CAP: f64 = 0.95;

/// One observation: the text as given and what it matched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The text, verbatim.
    pub text: String,
    /// Matches, highest confidence first; empty when nothing was recognised.
    pub matches: Vec<Match>,
}

/// A symptom recognised in an observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The symptom.
    pub symptom: Symptom,
    /// Its category.
    pub category: Category,
    /// The words and phrases that triggered it (cues and complaints), in text order.
    pub triggers: Vec<String>,
    /// 0 to 1; see the module docs for how it is computed.
    pub confidence: f64,
}

impl Observation {
    /// True when nothing in the text was recognised.
    pub fn is_unmatched(&self) -> bool {
        self.matches.is_empty()
    }

    /// The categories matched.
    pub fn categories(&self) -> BTreeSet<Category> {
        self.matches.iter().map(|m| m.category).collect()
    }
}

/// Lowercase words of `text` (runs of letters and digits).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Start indices of `phrase` (space-separated words) in `ws`.
fn find_phrase(ws: &[String], phrase: &str) -> Vec<usize> {
    let p: Vec<&str> = phrase.split(' ').collect();
    if p.is_empty() || p.len() > ws.len() {
        return Vec::new();
    }
    (0..=ws.len() - p.len())
        .filter(|&i| {
            p.iter()
                .enumerate()
                .all(|(k, w)| ws.get(i + k).is_some_and(|x| x == w))
        })
        .collect()
}

/// A matched word or phrase: clause index, word index, length in words, the phrase.
type Hit = (usize, usize, usize, String);

/// Every occurrence of `phrases` in `ws` (clause `ci`), minus those inside a longer one.
fn hits<'a>(ci: usize, ws: &[String], phrases: impl IntoIterator<Item = &'a str>) -> Vec<Hit> {
    let mut all: Vec<Hit> = Vec::new();
    for p in phrases {
        let len = p.split(' ').count();
        for i in find_phrase(ws, p) {
            all.push((ci, i, len, p.to_string()));
        }
    }
    let inside = |a: &Hit, b: &Hit| b.2 > a.2 && b.1 <= a.1 && a.1 + a.2 <= b.1 + b.2;
    let kept: Vec<Hit> = all
        .iter()
        .filter(|a| !all.iter().any(|b| inside(a, b)))
        .cloned()
        .collect();
    kept
}

/// Records `sym` with `conf` (keeping the highest) and `trig` (no duplicates).
fn record(found: &mut Vec<(Symptom, f64, Vec<Hit>)>, sym: Symptom, conf: f64, trig: Vec<Hit>) {
    match found.iter_mut().find(|(s, _, _)| *s == sym) {
        Some((_, c, t)) => {
            *c = c.max(conf);
            for x in trig {
                if !t.contains(&x) {
                    t.push(x);
                }
            }
        }
        None => found.push((sym, conf, trig)),
    }
}

/// Classifies one observation.
pub fn classify(text: &str) -> Observation {
    let mut found: Vec<(Symptom, f64, Vec<Hit>)> = Vec::new();

    for (ci, clause) in text.split(['.', '!', '?', ';', '\n']).enumerate() {
        let ws = words(clause);
        if ws.is_empty() {
            continue;
        }
        let negations = hits(ci, &ws, NEGATIONS.iter().copied());
        let complaints: Vec<Hit> = hits(ci, &ws, COMPLAINTS.iter().copied())
            .into_iter()
            .filter(|c| {
                !negations
                    .iter()
                    .any(|n| n.1 + n.2 == c.1 || n.1 + n.2 + 1 == c.1)
            })
            .collect();
        let cue_hits = hits(ci, &ws, CUES.iter().map(|c| c.phrase));
        let mut subjects: Vec<(Symptom, Hit)> = Vec::new();
        let mut refines: Vec<(Symptom, Hit)> = Vec::new();
        for h in &cue_hits {
            for cue in CUES.iter().filter(|c| c.phrase == h.3) {
                match cue.kind {
                    CueKind::Subject => subjects.push((cue.symptom, h.clone())),
                    CueKind::Refine => refines.push((cue.symptom, h.clone())),
                    CueKind::Direct => record(&mut found, cue.symptom, DIRECT, vec![h.clone()]),
                }
            }
        }
        let has_complaint = !complaints.is_empty();
        // Per category among the subjects: the refined symptoms if any, else the subjects' own.
        let mut categories: Vec<Category> = subjects.iter().map(|x| x.0.category()).collect();
        categories.sort();
        categories.dedup();
        for cat in &categories {
            let subs: Vec<&(Symptom, Hit)> =
                subjects.iter().filter(|x| x.0.category() == *cat).collect();
            let refs: Vec<&(Symptom, Hit)> =
                refines.iter().filter(|x| x.0.category() == *cat).collect();
            let mut syms: Vec<Symptom> = if refs.is_empty() {
                subs.iter().map(|x| x.0).collect()
            } else {
                refs.iter().map(|x| x.0).collect()
            };
            syms.sort();
            syms.dedup();
            for sym in syms {
                let base = if has_complaint {
                    WITH_COMPLAINT
                } else {
                    SUBJECT_ONLY
                };
                let my_refs: Vec<&&(Symptom, Hit)> = refs.iter().filter(|x| x.0 == sym).collect();
                let extra_subjects = subs.len().saturating_sub(1);
                #[allow(clippy::cast_precision_loss)] // tiny counts
                let conf = (base + BONUS * (my_refs.len() + extra_subjects) as f64).min(CAP);
                let mut trig: Vec<Hit> = subs.iter().map(|x| x.1.clone()).collect();
                trig.extend(my_refs.iter().map(|x| x.1.clone()));
                trig.extend(complaints.iter().cloned());
                record(&mut found, sym, conf, trig);
            }
        }
        let direct_here = found.iter().any(|f| f.2.iter().any(|t| t.0 == ci));
        if categories.is_empty() && has_complaint && !direct_here {
            record(
                &mut found,
                Symptom::GeneralSluggishness,
                COMPLAINT_ONLY,
                complaints,
            );
        }
    }

    let mut matches: Vec<Match> = found
        .into_iter()
        .map(|(symptom, confidence, mut trig)| {
            trig.sort_by_key(|t| (t.0, t.1));
            let mut triggers: Vec<String> = Vec::new();
            for t in trig {
                if !triggers.contains(&t.3) {
                    triggers.push(t.3);
                }
            }
            Match {
                symptom,
                category: symptom.category(),
                triggers,
                confidence: (confidence * 100.0).round() / 100.0,
            }
        })
        .collect();
    matches.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.symptom.cmp(&b.symptom))
    });
    Observation {
        text: text.to_string(),
        matches,
    }
}

/// Classifies several observations, one per entry, keeping unmatched ones.
pub fn classify_all<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<Observation> {
    texts.into_iter().map(classify).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(text: &str) -> (Symptom, f64) {
        let o = classify(text);
        let m = o
            .matches
            .first()
            .unwrap_or_else(|| panic!("no match for {text:?}"));
        (m.symptom, m.confidence)
    }

    #[test]
    fn negation_cancels_a_complaint() {
        assert_eq!(
            top("builds are not slow"),
            (Symptom::SlowBuilds, SUBJECT_ONLY)
        );
        assert_eq!(
            top("builds are slow"),
            (Symptom::SlowBuilds, WITH_COMPLAINT)
        );
    }

    #[test]
    fn negated_complaint_alone_gives_nothing() {
        assert!(classify("nothing is slow, all good").is_unmatched());
        assert!(classify("there is no lag").is_unmatched());
    }

    #[test]
    fn clauses_are_classified_separately() {
        let o = classify("Postgres: queries time out; docker pulls crawl.");
        let got: Vec<(Symptom, f64)> = o
            .matches
            .iter()
            .map(|m| (m.symptom, m.confidence))
            .collect();
        assert_eq!(
            got,
            [
                (Symptom::SlowDbReads, 0.85),
                (Symptom::SlowContainerPulls, 0.85)
            ]
        );
    }

    #[test]
    fn complaint_alone_is_weak_general_sluggishness() {
        assert_eq!(
            top("it is so slow"),
            (Symptom::GeneralSluggishness, COMPLAINT_ONLY)
        );
    }
}
