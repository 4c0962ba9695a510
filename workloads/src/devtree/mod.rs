//! Dev-tree churn: a source tree checked out, built, scanned, edited, rebuilt and cleaned,
//! as `git`, cargo/rustc (or make and a C compiler, or a nix build directory) and an IDE do
//! to a developer's disk. Kind `devtree`, one name: `cargo` ([`DevtreeWorkload`], named
//! `devtree-cargo`).
//!
//! A run, in `<dir>/workspace/` (benchmark-method.md §3 asks synthetic workloads to replay a
//! real program's syscall shape; §2 asks for time-based runs):
//!
//! 1. **checkout** once ([`phases`]): a tree of N files ([`tree`]: sizes, depths and
//!    fan-out measured on the cargo registry sources; [`content`]: text that compresses like
//!    source), created like `git checkout` does (create, write, close; no fsync). Then a
//!    `syncfs`, timed apart as `checkout_sync_s`: the writeback of the checkout.
//! 2. Cycles until the time budget is spent (quick ≈ 3 s, full ≈ 30 s; at least one):
//!    - **cold start**: `syncfs` and `posix_fadvise(DONTNEED)` per source, without root, so
//!      the build reads from the device;
//!    - **build** ([`build`]): J workers read every source and write objects (temp +
//!      rename), dep-info and fingerprints into `target/`, then a few large link outputs;
//!    - **stat storm**: `git status`/IDE rescan, `getdents64` + `lstat` of the whole tree,
//!      twice;
//!    - **edit**: 1 % of the sources saved by an editor (temp, fsync, rename), then the
//!      incremental rebuild of their units, fingerprints and link outputs;
//!    - **flush**: `syncfs`, the writeback of the build (compression and checksums happen
//!      here on btrfs); `space_used_bytes` is taken after it;
//!    - **clean**: `rm -rf target/`, then `syncfs` (the commit that frees the extents).
//!
//! The source tree stays; `target/` is gone at the end. On Ctrl-C the run stops within one
//! file operation (a `syncfs` in progress finishes first) and returns
//! [`WorkloadError::Interrupted`], leaving whatever it wrote.
//!
//! # The headline figure
//!
//! `files_per_s`: files handled (each whole-file read, file written, entry `lstat`ed or
//! file unlinked counts once) by one checkout plus one mean cycle, divided by the time of
//! one checkout (with its writeback) plus one mean cycle (build, stat, edit, flush, clean;
//! the cold start is the benchmark's own cache drop and is reported but not counted). The
//! mix of operations is fixed by the parameters, so this is a constant over the time a
//! developer waits per checkout-and-cycle: higher is better, and it does not depend on how
//! many cycles fitted in the budget.

pub mod build;
pub mod content;
pub mod phases;
pub mod tree;

use crate::latency::Latencies;
use crate::registry::Entry;
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use build::Builder;
use phases::{Env, Tally};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};
use tree::Tree;

/// The dev-tree workloads: name and the real activity each stands for.
pub const NAMES: &[(&str, &str)] = &[(
    "cargo",
    "a Rust workspace: git checkout, cargo build -j2 from a cold cache, git status / IDE rescans, editor saves + incremental rebuild, cargo clean",
)];

/// Version of the tree generator and contents; changes when the same seed would give other
/// files, so results of different versions are not mixed.
pub const GENERATOR_VERSION: u32 = 1;

/// Passes of the stat storm per cycle.
pub const STAT_PASSES: u32 = 2;

/// The catalogue entries of kind `devtree`.
pub fn catalogue() -> Vec<Entry> {
    NAMES
        .iter()
        .map(|&(name, stands_for)| Entry {
            kind: "devtree",
            name,
            stands_for,
        })
        .collect()
}

/// Parameters of a dev-tree run (`[[workload]] devtree = "cargo"` keys, or `--param`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevtreeConfig {
    /// Source files in quick runs (default 1 000: ~11 MB of sources, ~60 MB in all).
    pub quick_files: u32,
    /// Source files in full runs (default 10 000: ~111 MB of sources, ~570 MB in all).
    pub full_files: u32,
    /// Time budget of a quick run in seconds (default 3).
    pub quick_seconds: f64,
    /// Time budget of a full run in seconds (default 30).
    pub full_seconds: f64,
    /// Build workers, as `cargo build -j` (default 2).
    pub jobs: u32,
    /// Percent of the sources edited per cycle (default 1; at least one file).
    pub edit_pct: f64,
    /// Object bytes per source byte, on top of a 1 KiB header (default 1.5).
    pub object_factor: f64,
    /// Large link outputs (binaries) per build (default 3).
    pub link_outputs: u32,
    /// Stop after this many cycles even if time is left (default 0: no limit).
    pub max_cycles: u32,
    /// Seed of the tree, contents and edits.
    pub seed: u64,
}

impl Default for DevtreeConfig {
    fn default() -> Self {
        Self {
            quick_files: 1_000,
            full_files: 10_000,
            quick_seconds: 3.0,
            full_seconds: 30.0,
            jobs: 2,
            edit_pct: 1.0,
            object_factor: 1.5,
            link_outputs: 3,
            max_cycles: 0,
            // "devtree1"
            seed: 0x6465_7674_7265_6531,
        }
    }
}

impl DevtreeConfig {
    /// Checks the ranges; the message names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("quick_files", self.quick_files),
            ("full_files", self.full_files),
        ] {
            if !(1..=2_000_000).contains(&v) {
                return Err(format!("{key} must be between 1 and 2000000 (got {v})"));
            }
        }
        for (key, v) in [
            ("quick_seconds", self.quick_seconds),
            ("full_seconds", self.full_seconds),
        ] {
            if !(v > 0.0 && v <= 3600.0) {
                return Err(format!("{key} must be > 0 and <= 3600 (got {v})"));
            }
        }
        if !(1..=64).contains(&self.jobs) {
            return Err(format!("jobs must be between 1 and 64 (got {})", self.jobs));
        }
        if !(self.edit_pct > 0.0 && self.edit_pct <= 100.0) {
            return Err(format!(
                "edit_pct must be > 0 and <= 100 (got {})",
                self.edit_pct
            ));
        }
        if !(0.0..=16.0).contains(&self.object_factor) {
            return Err(format!(
                "object_factor must be between 0 and 16 (got {})",
                self.object_factor
            ));
        }
        if self.link_outputs > 64 {
            return Err(format!(
                "link_outputs must be at most 64 (got {})",
                self.link_outputs
            ));
        }
        Ok(())
    }

    /// Source files of a quick or full run.
    pub fn files(&self, quick: bool) -> usize {
        (if quick {
            self.quick_files
        } else {
            self.full_files
        }) as usize
    }

    /// Time budget of a quick or full run.
    pub fn budget(&self, quick: bool) -> Duration {
        Duration::from_secs_f64(if quick {
            self.quick_seconds
        } else {
            self.full_seconds
        })
    }

    /// Files edited per cycle in a tree of `files` files.
    pub fn edits(&self, files: usize) -> usize {
        ((files as f64 * self.edit_pct / 100.0).round() as usize).clamp(1, files.max(1))
    }
}

/// A dev-tree workload bound to a mount point of the layout.
///
/// Its [`Measurement`]: `value` = `files_per_s` (see the module docs); `latency_ns` = per
/// source unit of the full builds (read the source, write object and dep-info; making the
/// object's bytes not counted); `sync_latency_ns` = the editor's fsyncs; `cpu_*_pct` = the
/// whole process (`getrusage(RUSAGE_SELF)`) over `runtime_s`, the wall time from checkout to
/// the last clean; `extra`: the phase times as means per cycle (`coldstart_s`, `build_s`
/// with `link_s`, `stat_s`, `edit_s` = `edit_save_s` + `edit_build_s`, `flush_s`, `clean_s`
/// with `clean_sync_s`, `cycle_s`), `checkout_s` and `checkout_sync_s` once, `cycles`,
/// `files`, `dirs`, `packages`, `edits_per_cycle`, `source_bytes`, `files_per_cycle`,
/// `stat_entries` (per pass), `bytes_read`, `bytes_written`, `space_used_bytes` (statvfs
/// delta after the flush, mean over cycles), `fsyncs`, `jobs`.
#[derive(Clone, Debug)]
pub struct DevtreeWorkload {
    name: String,
    config: DevtreeConfig,
    target: Target,
}

impl DevtreeWorkload {
    /// The workload `name` (one of [`NAMES`]) with `config`, run in a directory of the layout
    /// mounted at `mountpoint`. Errors name the workload and the bad name or parameter.
    pub fn mount(
        name: &str,
        config: DevtreeConfig,
        mountpoint: impl Into<String>,
    ) -> Result<Self, WorkloadError> {
        if !NAMES.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            return Err(WorkloadError::Failed(format!(
                "unknown devtree workload `{name}`; there is: {}",
                names.join(", ")
            )));
        }
        config
            .validate()
            .map_err(|e| WorkloadError::Failed(format!("devtree={name}: {e}")))?;
        Ok(Self {
            name: format!("devtree-{name}"),
            config,
            target: Target::Mount {
                mountpoint: mountpoint.into(),
            },
        })
    }

    /// Its parameters.
    pub fn config(&self) -> &DevtreeConfig {
        &self.config
    }
}

/// Sums over cycles of the phase times and of what the phases did.
#[derive(Debug, Default)]
struct Cycles {
    n: u32,
    cold_start: Duration,
    build: Duration,
    link: Duration,
    stat: Duration,
    edit_save: Duration,
    edit_build: Duration,
    flush: Duration,
    clean: Duration,
    clean_sync: Duration,
    tally: Tally,
    stat_entries: u64,
    space_used: u64,
    units: Latencies,
    fsyncs: Latencies,
}

impl Cycles {
    /// The counted time of all cycles so far (cold start excluded).
    fn counted(&self) -> Duration {
        self.build + self.stat + self.edit_save + self.edit_build + self.flush + self.clean
    }

    fn mean(&self, d: Duration) -> f64 {
        d.as_secs_f64() / f64::from(self.n.max(1))
    }
}

impl Workload for DevtreeWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> Value {
        let mut v = serde_json::to_value(&self.config).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("generator_version".into(), GENERATOR_VERSION.into());
            m.insert("stat_passes".into(), STAT_PASSES.into());
            m.insert(
                "tree_measured_on".into(),
                "cargo registry sources, 243 crates, 11799 files (2026-11-21)".into(),
            );
        }
        v
    }

    fn target(&self) -> Target {
        self.target.clone()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        let name = self.name.as_str();
        let cfg = &self.config;
        if ctx.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(WorkloadError::Interrupted);
        }
        if !matches!(self.target, Target::Mount { .. }) {
            return Err(WorkloadError::Failed(format!(
                "{name} runs in a directory of a mounted layout, not on a raw device"
            )));
        }
        if !ctx.dir.is_dir() {
            return Err(WorkloadError::Failed(format!(
                "{name}: directory {} does not exist",
                ctx.dir.display()
            )));
        }
        let root = ctx.dir.join("workspace");
        if std::fs::symlink_metadata(&root).is_ok() {
            return Err(WorkloadError::Failed(format!(
                "{name}: {} already exists; give an empty directory",
                root.display()
            )));
        }
        let env = Env {
            name,
            dir: ctx.dir,
            target: root.join("target"),
            root,
            interrupted: ctx.interrupted,
        };
        let tree = Tree::generate(cfg.files(ctx.quick), cfg.seed);
        let edits = cfg.edits(tree.files.len());

        // Room for the sources, one build's objects and links, and small files.
        let source_bytes = tree.source_bytes();
        let object_bytes: u64 = tree
            .files
            .iter()
            .map(|f| content::object_len(f.size, cfg.object_factor))
            .sum();
        let need = source_bytes + 2 * object_bytes + tree.files.len() as u64 * 8192;
        let avail = env.available_bytes()?;
        if need > avail {
            return Err(WorkloadError::Failed(format!(
                "{name}: needs about {} MiB in {}, only {} MiB are free (lower quick_files/full_files)",
                need >> 20,
                ctx.dir.display(),
                avail >> 20
            )));
        }

        let used_before = env.used_bytes()?;
        let cpu0 = crate::cpu::CpuTime::of_self()?;
        let start = Instant::now();

        let (checkout, checkout_tally) = phases::checkout(&env, &tree)?;
        let t = Instant::now();
        env.syncfs()?;
        let checkout_sync = t.elapsed();

        let builder = Builder::new(
            &env,
            &tree,
            cfg.object_factor,
            cfg.link_outputs as usize,
            cfg.jobs as usize,
            cfg.seed,
        );
        let budget = cfg.budget(ctx.quick);
        let mut c = Cycles::default();
        loop {
            let cycle = u64::from(c.n);
            let t = Instant::now();
            phases::cold_start(&env, &tree)?;
            c.cold_start += t.elapsed();

            let t = Instant::now();
            let built = builder.full(cycle)?;
            c.build += t.elapsed();
            c.link += built.link;
            c.tally.add(&built.tally);
            c.units.merge(&built.unit_latency);

            env.check()?;
            let t = Instant::now();
            let stat = phases::stat_storm(&env, STAT_PASSES)?;
            c.stat += t.elapsed();
            c.stat_entries += stat.files / u64::from(STAT_PASSES);
            c.tally.add(&stat);

            let picks = phases::pick_edits(&tree, edits, cfg.seed, cycle);
            let t = Instant::now();
            let (saved, fsyncs) = phases::save_edits(&env, &tree, &picks, cycle)?;
            c.edit_save += t.elapsed();
            c.tally.add(&saved);
            c.fsyncs.merge(&fsyncs);
            let t = Instant::now();
            let rebuilt = builder.incremental(&picks, cycle)?;
            c.edit_build += t.elapsed();
            c.tally.add(&rebuilt.tally);

            env.check()?;
            let t = Instant::now();
            env.syncfs()?;
            c.flush += t.elapsed();
            c.space_used += env.used_bytes()?.saturating_sub(used_before);

            let t = Instant::now();
            let mut removed = Tally::default();
            phases::remove_tree(&env, &env.target, &mut removed)?;
            let synced = Instant::now();
            env.syncfs()?;
            c.clean_sync += synced.elapsed();
            c.clean += t.elapsed();
            c.tally.add(&removed);

            c.n += 1;
            if cfg.max_cycles > 0 && c.n >= cfg.max_cycles {
                break;
            }
            // Another cycle only if it should end less than half a cycle past the budget.
            let mean_cycle = (c.counted() + c.cold_start) / c.n;
            if start.elapsed() + mean_cycle / 2 >= budget {
                break;
            }
        }
        let runtime = start.elapsed().as_secs_f64();
        let cpu = crate::cpu::CpuTime::of_self()?.since(cpu0);

        let n = f64::from(c.n);
        let cycle_files = c.tally.files as f64 / n;
        let cycle_s = c.mean(c.counted());
        let checkout_s = checkout.as_secs_f64();
        let checkout_sync_s = checkout_sync.as_secs_f64();
        let denominator = checkout_s + checkout_sync_s + cycle_s;
        let files_per_s = if denominator > 0.0 {
            (checkout_tally.files as f64 + cycle_files) / denominator
        } else {
            0.0
        };
        let bytes_read = c.tally.bytes_read;
        let bytes_written = checkout_tally.bytes_written + c.tally.bytes_written;
        let per_s = |x: f64| if runtime > 0.0 { x / runtime } else { 0.0 };

        let mut m = Measurement {
            primary: "files_per_s".to_owned(),
            value: files_per_s,
            ops_per_s: Some(files_per_s),
            bytes_per_s: Some(per_s((bytes_read + bytes_written) as f64)),
            latency_ns: c.units.percentiles(),
            sync_latency_ns: c.fsyncs.percentiles(),
            cpu_usr_pct: Some(cpu.pct(runtime).0),
            cpu_sys_pct: Some(cpu.pct(runtime).1),
            runtime_s: runtime,
            ..Measurement::default()
        };
        let extra = &mut m.extra;
        for (k, v) in [
            ("checkout_s", checkout_s),
            ("checkout_sync_s", checkout_sync_s),
            ("coldstart_s", c.mean(c.cold_start)),
            ("build_s", c.mean(c.build)),
            ("link_s", c.mean(c.link)),
            ("stat_s", c.mean(c.stat)),
            ("edit_s", c.mean(c.edit_save + c.edit_build)),
            ("edit_save_s", c.mean(c.edit_save)),
            ("edit_build_s", c.mean(c.edit_build)),
            ("flush_s", c.mean(c.flush)),
            ("clean_s", c.mean(c.clean)),
            ("clean_sync_s", c.mean(c.clean_sync)),
            ("cycle_s", cycle_s),
            ("cycles", n),
            ("files", tree.files.len() as f64),
            ("dirs", tree.dirs.len() as f64),
            ("packages", tree.packages.len() as f64),
            ("edits_per_cycle", edits as f64),
            ("source_bytes", source_bytes as f64),
            ("files_per_cycle", cycle_files),
            ("stat_entries", c.stat_entries as f64 / n),
            ("bytes_read", bytes_read as f64),
            ("bytes_written", bytes_written as f64),
            ("space_used_bytes", c.space_used as f64 / n),
            ("fsyncs", c.tally.fsyncs as f64),
            ("jobs", f64::from(cfg.jobs)),
        ] {
            extra.insert(k.to_owned(), v);
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_ranges_are_checked() {
        assert!(DevtreeConfig::default().validate().is_ok());
        let bad = [
            DevtreeConfig {
                quick_files: 0,
                ..Default::default()
            },
            DevtreeConfig {
                full_seconds: f64::NAN,
                ..Default::default()
            },
            DevtreeConfig {
                jobs: 0,
                ..Default::default()
            },
            DevtreeConfig {
                edit_pct: 0.0,
                ..Default::default()
            },
            DevtreeConfig {
                object_factor: -1.0,
                ..Default::default()
            },
            DevtreeConfig {
                link_outputs: 65,
                ..Default::default()
            },
        ];
        let keys = [
            "quick_files",
            "full_seconds",
            "jobs",
            "edit_pct",
            "object_factor",
            "link_outputs",
        ];
        for (c, key) in bad.iter().zip(keys) {
            let e = c.validate().unwrap_err();
            assert!(e.starts_with(key), "{e}");
        }
        let c = DevtreeConfig::default();
        assert_eq!(c.edits(1000), 10);
        assert_eq!(c.edits(20), 1, "at least one edit");
        assert_eq!(c.files(true), 1000);
        assert_eq!(c.budget(false), Duration::from_secs(30));
    }

    #[test]
    fn names_and_params() {
        let w = DevtreeWorkload::mount("cargo", DevtreeConfig::default(), "/data").unwrap();
        assert_eq!(w.name(), "devtree-cargo");
        let p = w.params();
        assert_eq!(p["jobs"], 2);
        assert_eq!(p["quick_files"], 1000);
        assert_eq!(p["seed"], DevtreeConfig::default().seed);
        assert_eq!(p["generator_version"], GENERATOR_VERSION);
        let e = DevtreeWorkload::mount("make", DevtreeConfig::default(), "/data").unwrap_err();
        assert!(e.to_string().contains("cargo"), "{e}");
        assert_eq!(catalogue()[0].kind, "devtree");
    }
}
