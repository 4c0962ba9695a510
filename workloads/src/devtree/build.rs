//! The build: cargo/rustc-style compilation of every source into `target/`, with J
//! workers, and the incremental rebuild after an edit.
//!
//! Per source (a compile unit), as `rustc`/`cc -MD` do at the syscall level: `open`, `fstat`,
//! `read` the whole source, `close`; write the object to `<obj>.tmp` (create, write, close)
//! and `rename` it into place (rustc's temp-then-rename of its outputs); write the make-style
//! dep-info file `deps/<pkg>-<unit>.d` directly. Per package, cargo's fingerprint directory
//! (`.fingerprint/<pkg>-<hash>/`: `lib-<pkg>`, `lib-<pkg>.json`, `dep-lib-<pkg>`,
//! `invoked.timestamp`: many small files). At the end a few large link outputs, as a linker
//! makes them: read every object of its packages, write the binary in 1 MiB `write`s to a
//! temporary name, `rename`.
//!
//! Objects are [`object_len`] bytes (1 KiB + `object_factor` × source) of [`object_code`],
//! which compresses worse than the source. Workers take the next unit from a shared counter,
//! as cargo's job server hands out jobs.

use super::content::{object_code, object_len};
use super::phases::{Env, Tally};
use super::tree::Tree;
use crate::WorkloadError;
use crate::latency::Latencies;
use crate::rng::mix;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Size of the linker's writes.
const LINK_WRITE: usize = 1 << 20;

/// The build of one tree into `target/`.
#[derive(Debug)]
pub(crate) struct Builder<'a> {
    /// Paths and interruption.
    pub env: &'a Env<'a>,
    /// The tree.
    pub tree: &'a Tree,
    /// Object size per source byte.
    pub object_factor: f64,
    /// Link outputs (binaries) at the end of a full build.
    pub link_outputs: usize,
    /// Parallel workers.
    pub jobs: usize,
    /// Seed of the object contents and hashes.
    pub seed: u64,
    /// Files of each package.
    pub by_package: Vec<Vec<usize>>,
}

/// What a build (full or incremental) did.
#[derive(Debug, Default)]
pub(crate) struct BuildReport {
    /// Files and bytes.
    pub tally: Tally,
    /// Per unit: time to read the source plus to write its object and dep-info.
    pub unit_latency: Latencies,
    /// Wall time of the link step.
    pub link: Duration,
}

#[derive(Default)]
struct Worker {
    tally: Tally,
    latency: Latencies,
    buf: Vec<u8>,
}

impl<'a> Builder<'a> {
    /// A builder for `tree` in `env`.
    pub fn new(
        env: &'a Env<'a>,
        tree: &'a Tree,
        object_factor: f64,
        link_outputs: usize,
        jobs: usize,
        seed: u64,
    ) -> Self {
        Self {
            env,
            tree,
            object_factor,
            link_outputs: link_outputs.min(tree.packages.len()),
            jobs: jobs.max(1),
            seed,
            by_package: tree.files_by_package(),
        }
    }

    fn debug(&self) -> PathBuf {
        self.env.target.join("debug")
    }

    fn hash(&self, package: usize) -> String {
        format!("{:016x}", mix(self.seed ^ 0x6861_7368, package as u64))
    }

    fn unit_dir(&self, package: usize) -> PathBuf {
        self.debug().join("incremental").join(format!(
            "{}-{}",
            self.tree.packages[package],
            self.hash(package)
        ))
    }

    fn fingerprint_dir(&self, package: usize) -> PathBuf {
        self.debug().join(".fingerprint").join(format!(
            "{}-{}",
            self.tree.packages[package],
            self.hash(package)
        ))
    }

    fn object_path(&self, file: usize) -> PathBuf {
        let f = &self.tree.files[file];
        self.unit_dir(f.package).join(format!("{}.o", f.flat))
    }

    fn link_path(&self, output: usize) -> PathBuf {
        self.debug().join(&self.tree.packages[output])
    }

    /// The full build: the directories of `target/` (with cargo's `CACHEDIR.TAG`), every
    /// unit, every fingerprint, every link output.
    pub fn full(&self, cycle: u64) -> Result<BuildReport, WorkloadError> {
        let env = self.env;
        let mut tally = Tally::default();
        let debug = self.debug();
        for d in [
            env.target.clone(),
            debug.clone(),
            debug.join("deps"),
            debug.join("incremental"),
            debug.join(".fingerprint"),
        ] {
            fs::create_dir(&d).map_err(|e| env.io("cannot create", &d, e))?;
        }
        let tag = env.target.join("CACHEDIR.TAG");
        let text = b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n";
        env.write_file(&tag, text)?;
        tally.files += 1;
        tally.bytes_written += text.len() as u64;
        for p in 0..self.tree.packages.len() {
            for d in [self.unit_dir(p), self.fingerprint_dir(p)] {
                fs::create_dir(&d).map_err(|e| env.io("cannot create", &d, e))?;
            }
        }
        let all: Vec<usize> = (0..self.tree.files.len()).collect();
        let packages: Vec<usize> = (0..self.tree.packages.len()).collect();
        let outputs: Vec<usize> = (0..self.link_outputs).collect();
        let mut report = self.units(&all, cycle, &packages, &outputs)?;
        report.tally.add(&tally);
        Ok(report)
    }

    /// The incremental build after `edited` changed: their units, their packages'
    /// fingerprints and the link outputs that contain those packages.
    pub fn incremental(&self, edited: &[usize], cycle: u64) -> Result<BuildReport, WorkloadError> {
        let mut packages: Vec<usize> = edited.iter().map(|&i| self.tree.files[i].package).collect();
        packages.sort_unstable();
        packages.dedup();
        let mut outputs: Vec<usize> = if self.link_outputs == 0 {
            Vec::new()
        } else {
            packages.iter().map(|p| p % self.link_outputs).collect()
        };
        outputs.sort_unstable();
        outputs.dedup();
        self.units(edited, cycle, &packages, &outputs)
    }

    fn units(
        &self,
        files: &[usize],
        cycle: u64,
        packages: &[usize],
        outputs: &[usize],
    ) -> Result<BuildReport, WorkloadError> {
        let mut report = BuildReport::default();
        for w in self.parallel(files.len(), |k, w| self.compile(files[k], cycle, w))? {
            report.tally.add(&w.tally);
            report.unit_latency.merge(&w.latency);
        }
        for w in self.parallel(packages.len(), |k, w| {
            self.fingerprint(packages[k], cycle, w)
        })? {
            report.tally.add(&w.tally);
        }
        let t = Instant::now();
        for w in self.parallel(outputs.len(), |k, w| self.link(outputs[k], w))? {
            report.tally.add(&w.tally);
        }
        report.link = t.elapsed();
        Ok(report)
    }

    /// One unit: read the source, write its object (temp + rename) and its dep-info.
    fn compile(&self, file: usize, cycle: u64, w: &mut Worker) -> Result<(), WorkloadError> {
        let env = self.env;
        let f = &self.tree.files[file];
        let src_path = env.root.join(&f.rel);
        let t = Instant::now();
        let source = fs::read(&src_path).map_err(|e| env.io("cannot read", &src_path, e))?;
        let read = t.elapsed();
        let len = object_len(source.len() as u64, self.object_factor);
        object_code(&source, mix(f.seed, cycle), len as usize, &mut w.buf);
        let obj = self.object_path(file);
        let tmp = obj.with_extension("o.tmp");
        let dep_path = self
            .debug()
            .join("deps")
            .join(format!("{}-{}.d", self.tree.packages[f.package], f.flat));
        let dep = self.dep_info(file, &obj);
        let t = Instant::now();
        env.write_file(&tmp, &w.buf)?;
        fs::rename(&tmp, &obj).map_err(|e| env.io("cannot rename onto", &obj, e))?;
        env.write_file(&dep_path, dep.as_bytes())?;
        w.latency.record(read + t.elapsed());
        w.tally.files += 3;
        w.tally.bytes_read += source.len() as u64;
        w.tally.bytes_written += len + dep.len() as u64;
        Ok(())
    }

    /// A make-style dep-info file: the object, its source and a few sources of its package.
    fn dep_info(&self, file: usize, obj: &std::path::Path) -> String {
        let f = &self.tree.files[file];
        let siblings = &self.by_package[f.package];
        let mut deps = vec![self.env.root.join(&f.rel)];
        for k in 1..=3usize {
            let j = siblings[(file + k * 7) % siblings.len()];
            deps.push(self.env.root.join(&self.tree.files[j].rel));
        }
        let list: Vec<String> = deps.iter().map(|p| p.display().to_string()).collect();
        let mut s = format!("{}: {}\n\n", obj.display(), list.join(" "));
        for d in &list {
            s.push_str(d);
            s.push_str(":\n");
        }
        s
    }

    /// cargo's fingerprint files of one package.
    fn fingerprint(&self, package: usize, cycle: u64, w: &mut Worker) -> Result<(), WorkloadError> {
        let dir = self.fingerprint_dir(package);
        let name = &self.tree.packages[package];
        let hash = format!("{:016x}", mix(self.seed ^ cycle, package as u64));
        let deps: Vec<String> = self.by_package[package]
            .iter()
            .map(|&i| self.tree.files[i].rel.display().to_string())
            .collect();
        let json = format!(
            "{{\"rustc\":{},\"features\":\"[\\\"default\\\", \\\"std\\\"]\",\"target\":{},\"profile\":{},\"path\":{},\"deps\":[],\"local\":[{{\"CheckDepInfo\":{{\"dep_info\":\"lib-{name}\",\"checksum\":false}}}}],\"rustflags\":[],\"config\":{},\"compile_kind\":0}}",
            mix(self.seed, 1),
            mix(self.seed, 2 + package as u64),
            mix(self.seed, 3),
            mix(self.seed, 4 + package as u64),
            mix(self.seed ^ cycle, 5),
        );
        let dep_lib = deps.join("\0");
        let files: [(String, &[u8]); 4] = [
            (format!("lib-{name}"), hash.as_bytes()),
            (format!("lib-{name}.json"), json.as_bytes()),
            (format!("dep-lib-{name}"), dep_lib.as_bytes()),
            (
                "invoked.timestamp".to_owned(),
                b"This file has an mtime of when this was started.",
            ),
        ];
        for (file, bytes) in files {
            self.env.write_file(&dir.join(file), bytes)?;
            w.tally.files += 1;
            w.tally.bytes_written += bytes.len() as u64;
        }
        Ok(())
    }

    /// One link output: the objects of packages `output`, `output + L`, ... read whole and
    /// written out in 1 MiB writes to a temporary name, then renamed into place.
    fn link(&self, output: usize, w: &mut Worker) -> Result<(), WorkloadError> {
        let env = self.env;
        let path = self.link_path(output);
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(|e| env.io("cannot create", &tmp, e))?;
        let mut out = BufWriter::with_capacity(LINK_WRITE, file);
        for package in (output..self.tree.packages.len()).step_by(self.link_outputs.max(1)) {
            for &i in &self.by_package[package] {
                env.check()?;
                let obj = self.object_path(i);
                let bytes = fs::read(&obj).map_err(|e| env.io("cannot read", &obj, e))?;
                out.write_all(&bytes)
                    .map_err(|e| env.io("cannot write", &tmp, e))?;
                w.tally.files += 1;
                w.tally.bytes_read += bytes.len() as u64;
                w.tally.bytes_written += bytes.len() as u64;
            }
        }
        out.flush().map_err(|e| env.io("cannot write", &tmp, e))?;
        drop(out);
        fs::rename(&tmp, &path).map_err(|e| env.io("cannot rename onto", &path, e))?;
        w.tally.files += 1;
        Ok(())
    }

    /// Runs `task(k, worker)` for every `k < n` on `self.jobs` threads (a shared counter
    /// hands out the next `k`). Stops every worker at the first error or on interruption;
    /// all threads are joined before it returns.
    fn parallel<F>(&self, n: usize, task: F) -> Result<Vec<Worker>, WorkloadError>
    where
        F: Fn(usize, &mut Worker) -> Result<(), WorkloadError> + Sync,
    {
        if n == 0 {
            return Ok(Vec::new());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let env = self.env;
        let results: Vec<Result<Worker, WorkloadError>> = thread::scope(|s| {
            let mut handles = Vec::new();
            let mut spawn_error = None;
            for j in 0..self.jobs.min(n) {
                let (next, stop, task) = (&next, &stop, &task);
                let spawned = thread::Builder::new()
                    .name(format!("devtree-build-{j}"))
                    .spawn_scoped(s, move || {
                        let mut w = Worker::default();
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            if env.interrupted.load(Ordering::Relaxed) {
                                stop.store(true, Ordering::Relaxed);
                                return Err(WorkloadError::Interrupted);
                            }
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            if k >= n {
                                break;
                            }
                            if let Err(e) = task(k, &mut w) {
                                stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                        Ok(w)
                    });
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        spawn_error = Some(WorkloadError::Failed(format!(
                            "{}: cannot start a build worker: {e}",
                            env.name
                        )));
                        break;
                    }
                }
            }
            let mut results: Vec<Result<Worker, WorkloadError>> = handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(WorkloadError::Failed(format!(
                            "{}: a build worker panicked",
                            env.name
                        )))
                    })
                })
                .collect();
            if let Some(e) = spawn_error {
                results.push(Err(e));
            }
            results
        });
        let mut workers = Vec::with_capacity(results.len());
        let mut first_error = None;
        for r in results {
            match r {
                Ok(w) => workers.push(w),
                // An interruption wins over the errors it may have caused in other workers.
                Err(WorkloadError::Interrupted) => first_error = Some(WorkloadError::Interrupted),
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(workers),
        }
    }
}
