//! The source tree: a deterministic plan of packages, directories and files whose shape was
//! measured on a real tree.
//!
//! # Where the numbers come from
//!
//! The cargo registry sources on the machine this was written on
//! (`~/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f`, 2026-11-21: 243 unpacked crates,
//! the Rust crates a real workspace depends on, with their tests, docs and generated tables),
//! leaving out the two `winapi-*-pc-windows-gnu` crates, which hold 2 803 binary import
//! libraries (`.a`) rather than source:
//!
//! ```text
//! cd ~/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f
//! # sizes, in power-of-two buckets from 128 B; the last bucket takes everything from 512 KiB
//! find . -path './winapi-*-gnu-*' -prune -o -type f -printf '%s\n' | awk '{n++; s+=$1;
//!   b=0; lim=128; while ($1>=lim && b<13) {lim*=2; b++}; h[b]++}
//!   END {printf "files %d mean %.0f\n", n, s/n; for (i=0;i<=13;i++) printf "%d ", h[i]}'
//! # depth of each file and directory below its crate's root; find counts from `.`, so
//! # files in a crate's root print 2 and crate roots print 1 (shifted to 0 in the tables)
//! find . -path './winapi-*-gnu-*' -prune -o -type f -printf '%d\n' | sort -n | uniq -c
//! find . -path './winapi-*-gnu-*' -prune -o -type d -printf '%d\n' | sort -n | uniq -c
//! ```
//!
//! gave 11 799 files (mean 11 359 B, largest 1 485 403 B, one empty) in 2 349 directories:
//! [`SIZE_BUCKETS`], [`FILE_DEPTHS`], [`DIR_DEPTHS`], 5.02 files per directory
//! ([`FILES_PER_DIR`]) and 9.7 directories per crate. (Re-run the same day on 246 crates,
//! a few more having arrived, flate2 among them: 11 830 files, mean 11 358 B, every bucket
//! and depth within 1 % of these.)
//!
//! # How a tree is made
//!
//! For `n` files: `n / 5.02` directories, split over depths 0..=8 as [`DIR_DEPTHS`] (depth 0
//! directories are the packages, `workspace/<word>-<word>/`); each deeper directory hangs
//! below a random directory one level up (fan-out follows). Each file takes a depth from
//! [`FILE_DEPTHS`] (among depths that have directories), a random directory at that depth, a
//! name `<word>[_<word>].<ext>` and a size: a bucket by [`SIZE_BUCKETS`]' counts, then
//! log-uniform inside it (uniform in `[0, 128)`). Everything comes from one [`SplitMix64`]
//! stream seeded with the seed, so the same seed and `n` give the same tree.

use super::content::WORDS;
use crate::rng::{SplitMix64, mix};
use std::collections::HashSet;
use std::path::PathBuf;

/// A file-size bucket `[lo, hi)` and how many measured files fell in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeBucket {
    /// Smallest size in the bucket, bytes.
    pub lo: u64,
    /// One past the largest size, bytes.
    pub hi: u64,
    /// Measured files in it.
    pub files: u64,
}

const fn b(lo: u64, hi: u64, files: u64) -> SizeBucket {
    SizeBucket { lo, hi, files }
}

/// Measured file sizes of the cargo registry sources (see the module docs for the command).
/// The last bucket is closed at 1.5 MiB, just above the largest file measured (1 485 403 B).
pub const SIZE_BUCKETS: &[SizeBucket] = &[
    b(0, 128, 1548),
    b(128, 256, 632),
    b(256, 512, 821),
    b(512, 1 << 10, 1226),
    b(1 << 10, 2 << 10, 1591),
    b(2 << 10, 4 << 10, 1533),
    b(4 << 10, 8 << 10, 1479),
    b(8 << 10, 16 << 10, 1304),
    b(16 << 10, 32 << 10, 770),
    b(32 << 10, 64 << 10, 472),
    b(64 << 10, 128 << 10, 277),
    b(128 << 10, 256 << 10, 115),
    b(256 << 10, 512 << 10, 22),
    b(512 << 10, 1536 << 10, 9),
];

/// Measured files by depth below their crate's root (index 0: in the crate root).
pub const FILE_DEPTHS: &[u64] = &[2342, 3033, 3773, 1406, 617, 382, 159, 78, 9];

/// Measured directories by depth below their crate's root (index 0: the crate roots).
pub const DIR_DEPTHS: &[u64] = &[243, 581, 534, 307, 222, 272, 124, 62, 4];

/// Measured files per directory: 11 799 files / 2 349 directories.
pub const FILES_PER_DIR: f64 = 11_799.0 / 2_349.0;

/// Mean size of the measured files, bytes.
pub const MEASURED_MEAN_SIZE: f64 = 11_359.0;

/// Names of directories right below a package root (`src/`, `tests/`, ...).
const TOP_DIRS: &[&str] = &[
    "src", "tests", "benches", "examples", "docs", "scripts", "fixtures", "data", "proto", "ci",
];

/// File extensions with weights (mostly Rust, as in a cargo tree).
const EXTENSIONS: &[(&str, u64)] = &[
    ("rs", 70),
    ("md", 5),
    ("toml", 4),
    ("json", 3),
    ("nix", 3),
    ("txt", 3),
    ("yml", 2),
    ("c", 2),
    ("h", 2),
    ("sh", 1),
    ("py", 1),
    ("stderr", 2),
    ("expect", 2),
];

/// One directory of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dir {
    /// Path below the workspace root (`pkg-name/src/parser`).
    pub rel: PathBuf,
    /// Its package (index into [`Tree::packages`]).
    pub package: usize,
    /// Depth below the package root (0 = the package root).
    pub depth: usize,
}

/// One source file of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Path below the workspace root (`pkg-name/src/parser/lexer.rs`).
    pub rel: PathBuf,
    /// Path below its package root, `/` turned into `-` (`src-parser-lexer.rs`): the stem of
    /// its object and dep-info files.
    pub flat: String,
    /// Its package (index into [`Tree::packages`]).
    pub package: usize,
    /// Size in bytes.
    pub size: u64,
    /// Seed of its content ([`source_text`](super::content::source_text)).
    pub seed: u64,
}

/// A generated source tree: packages, directories (parents before children) and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// Package names (`word-word`), one directory each at the workspace root.
    pub packages: Vec<String>,
    /// Every directory, parents before children; the package roots come first.
    pub dirs: Vec<Dir>,
    /// Every file.
    pub files: Vec<SourceFile>,
}

impl Tree {
    /// The tree of `files` files for `seed`.
    pub fn generate(files: usize, seed: u64) -> Tree {
        let mut rng = SplitMix64::new(seed);
        let n_dirs = ((files as f64 / FILES_PER_DIR).round() as usize).max(1);
        let measured_dirs: u64 = DIR_DEPTHS.iter().sum();
        let mut by_depth: Vec<Vec<usize>> = vec![Vec::new(); DIR_DEPTHS.len()];
        let mut dirs: Vec<Dir> = Vec::with_capacity(n_dirs + 1);
        let mut packages = Vec::new();
        let mut taken: HashSet<PathBuf> = HashSet::new();
        for (depth, &measured) in DIR_DEPTHS.iter().enumerate() {
            let mut want =
                (n_dirs as f64 * measured as f64 / measured_dirs as f64).round() as usize;
            if depth == 0 {
                want = want.max(1);
            }
            for _ in 0..want {
                let (rel, package) = if depth == 0 {
                    let name = unique_name(
                        &mut taken,
                        PathBuf::new(),
                        |r| format!("{}-{}", word_name(r), word_name(r)),
                        &mut rng,
                    );
                    packages.push(name.to_string_lossy().into_owned());
                    (name, packages.len() - 1)
                } else {
                    let parents = &by_depth[depth - 1];
                    if parents.is_empty() {
                        break;
                    }
                    let parent = parents[rng.index(parents.len())];
                    let base = dirs[parent].rel.clone();
                    let rel = unique_name(
                        &mut taken,
                        base,
                        |r| {
                            if depth == 1 {
                                TOP_DIRS[r.index(TOP_DIRS.len())].to_owned()
                            } else {
                                word_name(r)
                            }
                        },
                        &mut rng,
                    );
                    (rel, dirs[parent].package)
                };
                by_depth[depth].push(dirs.len());
                dirs.push(Dir {
                    rel,
                    package,
                    depth,
                });
            }
        }
        let depth_weights: Vec<u64> = FILE_DEPTHS
            .iter()
            .enumerate()
            .map(|(d, &w)| if by_depth[d].is_empty() { 0 } else { w })
            .collect();
        let size_weights: Vec<u64> = SIZE_BUCKETS.iter().map(|b| b.files).collect();
        let ext_weights: Vec<u64> = EXTENSIONS.iter().map(|e| e.1).collect();
        let mut out = Vec::with_capacity(files);
        for i in 0..files {
            let depth = rng.weighted(&depth_weights);
            let at = &by_depth[depth];
            let dir = &dirs[at[rng.index(at.len())]];
            let ext = EXTENSIONS[rng.weighted(&ext_weights)].0;
            let rel = unique_name(
                &mut taken,
                dir.rel.clone(),
                |r| {
                    if r.chance(0.4) {
                        format!("{}_{}.{ext}", word_name(r), word_name(r))
                    } else {
                        format!("{}.{ext}", word_name(r))
                    }
                },
                &mut rng,
            );
            let bucket = SIZE_BUCKETS[rng.weighted(&size_weights)];
            let size = size_in(bucket, &mut rng);
            let flat = rel
                .components()
                .skip(1)
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("-");
            out.push(SourceFile {
                rel,
                flat,
                package: dir.package,
                size,
                seed: mix(seed, i as u64),
            });
        }
        Tree {
            packages,
            dirs,
            files: out,
        }
    }

    /// Total size of the sources, bytes.
    pub fn source_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The files of each package, by index into [`Tree::files`].
    pub fn files_by_package(&self) -> Vec<Vec<usize>> {
        let mut v = vec![Vec::new(); self.packages.len()];
        for (i, f) in self.files.iter().enumerate() {
            v[f.package].push(i);
        }
        v
    }
}

/// A lower-case word usable in a path (no `_` inside: `target_os` becomes `targetos`).
fn word_name(rng: &mut SplitMix64) -> String {
    WORDS[rng.index(WORDS.len())].replace('_', "")
}

/// `base/<name>` for a fresh name from `make`, numbered on a clash (and never `target`, the
/// build directory at the workspace root).
fn unique_name(
    taken: &mut HashSet<PathBuf>,
    base: PathBuf,
    mut make: impl FnMut(&mut SplitMix64) -> String,
    rng: &mut SplitMix64,
) -> PathBuf {
    let name = make(rng);
    let mut candidate = base.join(&name);
    let mut n = 2u32;
    while taken.contains(&candidate) || candidate.as_os_str() == "target" {
        candidate = base.join(format!("{n}{name}"));
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

/// A size in `bucket`: uniform in `[0, 128)`, log-uniform above.
fn size_in(bucket: SizeBucket, rng: &mut SplitMix64) -> u64 {
    if bucket.lo == 0 {
        return rng.below(bucket.hi);
    }
    let span = (bucket.hi as f64 / bucket.lo as f64).ln();
    let s = (bucket.lo as f64 * (rng.unit() * span).exp()) as u64;
    s.clamp(bucket.lo, bucket.hi - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_add_up() {
        let files: u64 = SIZE_BUCKETS.iter().map(|b| b.files).sum();
        assert_eq!(files, 11_799);
        assert_eq!(FILE_DEPTHS.iter().sum::<u64>(), 11_799);
        assert_eq!(DIR_DEPTHS.iter().sum::<u64>(), 2_349);
        for w in SIZE_BUCKETS.windows(2) {
            assert_eq!(w[0].hi, w[1].lo);
        }
    }

    #[test]
    fn same_seed_same_tree_other_seed_other_tree() {
        let a = Tree::generate(3000, 42);
        assert_eq!(a, Tree::generate(3000, 42));
        let b = Tree::generate(3000, 43);
        assert_ne!(a.files, b.files);
        assert_ne!(
            a.files.iter().map(|f| f.size).collect::<Vec<_>>(),
            b.files.iter().map(|f| f.size).collect::<Vec<_>>()
        );
    }

    #[test]
    fn shape_follows_the_measured_tree() {
        let t = Tree::generate(5000, 1);
        assert_eq!(t.files.len(), 5000);
        // Directories: 5000 / 5.02, over the measured depths, parents before children.
        let per_dir = t.files.len() as f64 / t.dirs.len() as f64;
        assert!(
            (per_dir - FILES_PER_DIR).abs() < 0.1,
            "{per_dir} files per dir"
        );
        let packages = t.dirs.iter().filter(|d| d.depth == 0).count();
        assert_eq!(packages, t.packages.len());
        assert!((95..=110).contains(&packages), "{packages} packages");
        assert_eq!(t.dirs.iter().map(|d| d.depth).max(), Some(8));
        let mut seen = HashSet::new();
        for d in &t.dirs {
            if d.depth > 0 {
                assert!(seen.contains(d.rel.parent().unwrap()), "{:?}", d.rel);
            }
            assert_eq!(d.rel.components().count(), d.depth + 1);
            seen.insert(d.rel.clone());
        }
        // Every file is in a directory of the plan, under a unique path.
        let paths: HashSet<_> = t.files.iter().map(|f| f.rel.clone()).collect();
        assert_eq!(paths.len(), t.files.len());
        for f in &t.files {
            assert!(seen.contains(f.rel.parent().unwrap()), "{:?}", f.rel);
            assert!(!f.flat.contains('/') && !f.flat.is_empty());
        }
        // Files by depth within 2 percentage points of the measured shares.
        let total: u64 = FILE_DEPTHS.iter().sum();
        for (d, &m) in FILE_DEPTHS.iter().enumerate() {
            let got = t
                .files
                .iter()
                .filter(|f| f.rel.components().count() == d + 2)
                .count() as f64
                / 5000.0;
            let want = m as f64 / total as f64;
            assert!(
                (got - want).abs() < 0.02,
                "depth {d}: {got:.3} vs {want:.3}"
            );
        }
    }

    #[test]
    fn sizes_follow_the_measured_histogram() {
        let n = 4000usize;
        let t = Tree::generate(n, 7);
        let total: u64 = SIZE_BUCKETS.iter().map(|b| b.files).sum();
        for b in SIZE_BUCKETS {
            let got = t
                .files
                .iter()
                .filter(|f| f.size >= b.lo && f.size < b.hi)
                .count() as f64;
            let p = b.files as f64 / total as f64;
            let expected = p * n as f64;
            // Four binomial standard deviations, plus one file for the tiny tail buckets.
            let tol = 4.0 * (n as f64 * p * (1.0 - p)).sqrt() + 1.0;
            assert!(
                (got - expected).abs() <= tol,
                "[{}, {}): {got} files, expected {expected:.0} ± {tol:.0}",
                b.lo,
                b.hi
            );
        }
        assert!(t.files.iter().all(|f| f.size < 1536 << 10));
        // The median lands where the measured one does (between 2 and 8 KiB).
        let mut sizes: Vec<u64> = t.files.iter().map(|f| f.size).collect();
        sizes.sort_unstable();
        assert!(
            (2048..8192).contains(&sizes[n / 2]),
            "median {}",
            sizes[n / 2]
        );
    }

    #[test]
    fn tiny_trees_still_work() {
        for n in [0, 1, 2, 7] {
            let t = Tree::generate(n, 3);
            assert_eq!(t.files.len(), n);
            assert!(!t.packages.is_empty());
            assert_eq!(t.files_by_package().iter().map(Vec::len).sum::<usize>(), n);
        }
    }
}
