//! What a running container writes: the write churn of benchmark-method.md §3.4 ("each
//! writes or modifies K files"). Half of the writes modify a file of the image in place
//! (a package database page, a config file), a quarter append to one (logs, journals), a
//! quarter create a new file (pid files, caches, uploads); every `fsync_every`-th write is
//! followed by fsync, as a database or package manager would.

use super::layers::{BASE_IMAGE_SIZES, ImagePlan, SizeSampler, Visible};
use crate::rng::SplitMix64;

/// What one write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChurnKind {
    /// Overwrite `len` bytes at `offset` of an image file (`pwrite`).
    Modify {
        /// Where, 4 KiB-aligned.
        offset: u64,
        /// How much.
        len: u64,
    },
    /// Append `len` bytes to an image file (`O_APPEND`).
    Append {
        /// How much.
        len: u64,
    },
    /// Create a new file of `size` bytes.
    Create {
        /// Its size.
        size: u64,
    },
}

/// One write of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnOp {
    /// Path in the container's view.
    pub path: String,
    /// What it does.
    pub kind: ChurnKind,
    /// For image files: the layer the file is visible from (what overlayfs copies up).
    pub lower: Option<Visible>,
    /// Followed by fsync.
    pub fsync: bool,
    /// Seed of the written content.
    pub content_seed: u64,
}

/// Files created by a container are at most this big (1 MiB).
pub const MAX_CREATED: u64 = 1 << 20;

/// Makes the writes of containers of one image.
#[derive(Debug)]
pub struct ChurnPlanner<'a> {
    files: Vec<(&'a str, Visible)>,
    dirs: &'a [String],
    sizes: SizeSampler,
}

impl<'a> ChurnPlanner<'a> {
    /// A planner for containers of `image`.
    pub fn new(image: &'a ImagePlan) -> Self {
        Self {
            files: image.merged.iter().map(|(p, v)| (p.as_str(), *v)).collect(),
            dirs: &image.dirs,
            sizes: SizeSampler::new(&BASE_IMAGE_SIZES),
        }
    }

    /// The `writes` writes of container `container` in round `round`: the same arguments
    /// give the same writes.
    pub fn plan(
        &self,
        seed: u64,
        round: u64,
        container: u64,
        writes: u32,
        fsync_every: u32,
    ) -> Vec<ChurnOp> {
        let mut rng = SplitMix64::derive(seed, &[0xc4a7, round, container]);
        let mut ops = Vec::with_capacity(writes as usize);
        for i in 0..writes {
            let fsync = fsync_every > 0 && (i + 1) % fsync_every == 0;
            let content_seed = rng.next_u64();
            let roll = rng.below(4);
            let op = if roll >= 2 || self.files.is_empty() {
                if roll == 3 || self.files.is_empty() {
                    let dir = if self.dirs.is_empty() {
                        ""
                    } else {
                        self.dirs[rng.below(self.dirs.len() as u64) as usize].as_str()
                    };
                    let name = format!("ctr-w{i:05}.tmp");
                    ChurnOp {
                        path: if dir.is_empty() {
                            name
                        } else {
                            format!("{dir}/{name}")
                        },
                        kind: ChurnKind::Create {
                            size: self.sizes.sample(&mut rng).min(MAX_CREATED),
                        },
                        lower: None,
                        fsync,
                        content_seed,
                    }
                } else {
                    let (path, vis) = self.files[rng.below(self.files.len() as u64) as usize];
                    ChurnOp {
                        path: path.to_owned(),
                        kind: ChurnKind::Append {
                            len: rng.range(256, 16 * 1024),
                        },
                        lower: Some(vis),
                        fsync,
                        content_seed,
                    }
                }
            } else {
                let (path, vis) = self.files[rng.below(self.files.len() as u64) as usize];
                let kind = if vis.size == 0 {
                    ChurnKind::Append {
                        len: rng.range(256, 16 * 1024),
                    }
                } else {
                    // A 4 KiB-aligned run of 1 to 16 pages inside the file (the whole file
                    // when it is smaller than a page).
                    let pages = vis.size.div_ceil(4096);
                    let offset = rng.below(pages) * 4096;
                    let len = (rng.range(1, 17) * 4096).min(vis.size - offset);
                    ChurnKind::Modify { offset, len }
                };
                ChurnOp {
                    path: path.to_owned(),
                    kind,
                    lower: Some(vis),
                    fsync,
                    content_seed,
                }
            };
            ops.push(op);
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::layers::ImageShape;

    #[test]
    fn writes_are_deterministic_and_mixed() {
        let image = ImagePlan::generate(
            3,
            &ImageShape {
                layers: 2,
                base_files: 500,
                child_files: 50,
                child_replaced: 5,
                child_deleted: 5,
            },
        );
        let p = ChurnPlanner::new(&image);
        let a = p.plan(9, 0, 1, 400, 4);
        assert_eq!(a, p.plan(9, 0, 1, 400, 4));
        assert_ne!(a, p.plan(9, 0, 2, 400, 4));
        assert_eq!(a.iter().filter(|o| o.fsync).count(), 100);
        let count = |f: fn(&ChurnKind) -> bool| a.iter().filter(|o| f(&o.kind)).count();
        let modify = count(|k| matches!(k, ChurnKind::Modify { .. }));
        let create = count(|k| matches!(k, ChurnKind::Create { .. }));
        assert!((150..250).contains(&modify), "{modify}");
        assert!((70..130).contains(&create), "{create}");
        for o in &a {
            match o.kind {
                ChurnKind::Modify { offset, len } => {
                    let size = o.lower.map(|v| v.size).unwrap_or(0);
                    assert_eq!(offset % 4096, 0);
                    assert!(offset + len <= size, "{o:?}");
                    assert_eq!(image.merged.get(&o.path), o.lower.as_ref());
                }
                ChurnKind::Append { len } => {
                    assert!((256..16384).contains(&len));
                    assert!(image.merged.contains_key(&o.path));
                }
                ChurnKind::Create { size } => {
                    assert!(size <= MAX_CREATED);
                    assert!(o.lower.is_none());
                    assert!(!image.merged.contains_key(&o.path));
                }
            }
        }
    }
}
