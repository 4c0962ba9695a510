//! Running a library job with fio: [`FioWorkload`].

use super::job::{self, FioJob, RAMP_S, RUNTIME_VAR, SIZE_VAR, Sizing};
use super::json::{self, FioOutput};
use super::merge::FioSummary;
use crate::{Measurement, RunContext, Target, Workload, WorkloadError};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How to get fio when it is missing.
pub const INSTALL_HINT: &str =
    "install fio: `apt-get install fio` (Debian/Ubuntu package `fio`), or `pkgs.fio` on NixOS";

/// A library fio job bound to a target, runnable by the harness.
///
/// `run()` starts `fio --output-format=json+ --eta=never --thread --directory=<ctx.dir> -` (or
/// `--filename=<ctx.device>` for [`Target::Device`]) in its own process group, feeds it the
/// job file on standard input with `BTRTUNE_RUNTIME`/`BTRTUNE_SIZE` set from the quick or full
/// [`Sizing`], polls `ctx.interrupted` every 100 ms (on interruption: SIGTERM to the group,
/// SIGKILL after the grace period, then [`WorkloadError::Interrupted`]), and turns the JSON
/// into a [`Measurement`] with [`measurement`]. fio's data files stay in the directory: the
/// harness inspects them (extents) and throws the filesystem away.
#[derive(Clone, Debug)]
pub struct FioWorkload {
    job: &'static FioJob,
    target: Target,
    name: String,
    quick: Sizing,
    full: Sizing,
    program: PathBuf,
    poll: Duration,
    kill_grace: Duration,
    timeout_slack: Duration,
}

/// The command line a run uses (for recording, and for `--dry-run`-style display).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The fio program.
    pub program: PathBuf,
    /// Its arguments; the job file comes on standard input (`-`).
    pub args: Vec<String>,
    /// Environment variables set for it.
    pub env: Vec<(String, String)>,
    /// The job file fed on standard input.
    pub stdin: &'static str,
}

impl FioWorkload {
    /// The library job `job` run in a directory of the layout mounted at `mountpoint`.
    pub fn mount(job: &str, mountpoint: impl Into<String>) -> Result<Self, WorkloadError> {
        Ok(Self::new(
            lookup(job)?,
            Target::Mount {
                mountpoint: mountpoint.into(),
            },
        ))
    }

    /// The library job `job` run on the raw device the harness gives in
    /// [`RunContext::device`]. Only jobs with `direct=1` and a single file are allowed
    /// ([`FioJob::device`]).
    pub fn device(job: &str) -> Result<Self, WorkloadError> {
        let job = lookup(job)?;
        if !job.device {
            let allowed: Vec<_> = job::JOBS
                .iter()
                .filter(|j| j.device)
                .map(|j| j.name)
                .collect();
            return Err(WorkloadError::Failed(format!(
                "fio job `{}` cannot run on a raw device (it is buffered or creates files); device jobs: {}",
                job.name,
                allowed.join(", ")
            )));
        }
        Ok(Self::new(job, Target::Device))
    }

    fn new(job: &'static FioJob, target: Target) -> Self {
        Self {
            job,
            target,
            name: format!("fio-{}", job.name),
            quick: job.quick,
            full: job.full,
            program: PathBuf::from("fio"),
            poll: Duration::from_millis(100),
            kill_grace: Duration::from_secs(1),
            timeout_slack: Duration::from_secs(600),
        }
    }

    /// Replaces the job's default quick and full sizings.
    pub fn with_sizes(mut self, quick: Sizing, full: Sizing) -> Self {
        self.quick = quick;
        self.full = full;
        self
    }

    /// Runs this program instead of `fio` from `PATH`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// How long fio gets between SIGTERM and SIGKILL when interrupted (default 1 s).
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// How long past ramp + runtime a run may take (file layout, slow devices) before it is
    /// killed and reported as failed (default 10 min).
    pub fn with_timeout_slack(mut self, slack: Duration) -> Self {
        self.timeout_slack = slack;
        self
    }

    /// The library job.
    pub fn job(&self) -> &'static FioJob {
        self.job
    }

    /// The sizing used for quick or full runs.
    pub fn sizing(&self, quick: bool) -> Sizing {
        if quick { self.quick } else { self.full }
    }

    /// The command line for a run in `ctx`, after checking the target: the directory must be
    /// a directory; the device must exist and be a block device (or a regular file standing
    /// in for one), so that fio never creates a file at a mistyped device path, and the size
    /// is capped at the device's size.
    pub fn invocation(&self, ctx: &RunContext<'_>) -> Result<Invocation, WorkloadError> {
        let mut sizing = self.sizing(ctx.quick);
        let target_arg = match &self.target {
            Target::Mount { .. } => {
                if !ctx.dir.is_dir() {
                    return Err(WorkloadError::Failed(format!(
                        "{}: directory {} does not exist",
                        self.name,
                        ctx.dir.display()
                    )));
                }
                format!("--directory={}", escape_colons(ctx.dir))
            }
            Target::Device => {
                let meta = std::fs::metadata(ctx.device).map_err(|e| {
                    WorkloadError::Failed(format!(
                        "{}: device {}: {e}",
                        self.name,
                        ctx.device.display()
                    ))
                })?;
                let ft = meta.file_type();
                if !(ft.is_block_device() || ft.is_file()) {
                    return Err(WorkloadError::Failed(format!(
                        "{}: {} is not a block device",
                        self.name,
                        ctx.device.display()
                    )));
                }
                // fio stops at a block device's end but would extend a regular file: cap the
                // size at the device's, so the run stays inside what the harness gave.
                let len = device_len(ctx.device).map_err(|e| {
                    WorkloadError::Failed(format!(
                        "{}: cannot read the size of {}: {e}",
                        self.name,
                        ctx.device.display()
                    ))
                })?;
                if len == 0 {
                    return Err(WorkloadError::Failed(format!(
                        "{}: device {} is empty",
                        self.name,
                        ctx.device.display()
                    )));
                }
                sizing.size_bytes = sizing.size_bytes.min(len);
                format!("--filename={}", escape_colons(ctx.device))
            }
        };
        Ok(Invocation {
            program: self.program.clone(),
            args: vec![
                "--output-format=json+".to_owned(),
                "--eta=never".to_owned(),
                // Jobs as threads of one process: fio's forked job processes call setsid(),
                // so neither a signal to fio's process group nor killing fio reaches them.
                "--thread".to_owned(),
                target_arg,
                "-".to_owned(),
            ],
            env: vec![
                (RUNTIME_VAR.to_owned(), sizing.runtime_s.to_string()),
                (SIZE_VAR.to_owned(), sizing.size_bytes.to_string()),
            ],
            stdin: self.job.text,
        })
    }

    fn spawn(&self, inv: &Invocation) -> Result<Child, WorkloadError> {
        let mut cmd = Command::new(&inv.program);
        cmd.args(&inv.args)
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that fio stops only through `terminate` (the
            // terminal's Ctrl-C reaches btrtune, whose handler sets `interrupted`), and the
            // signals reach anything fio starts (`exec_prerun`). The jobs are threads
            // (`--thread`), so killing fio kills them.
            .process_group(0);
        cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                WorkloadError::Missing {
                    tool: "fio".to_owned(),
                    hint: format!("`{}` not found; {INSTALL_HINT}", inv.program.display()),
                }
            } else {
                WorkloadError::Failed(format!("cannot start {}: {e}", inv.program.display()))
            }
        })
    }
}

fn lookup(name: &str) -> Result<&'static FioJob, WorkloadError> {
    job::job(name).ok_or_else(|| {
        WorkloadError::Failed(format!(
            "unknown fio job `{name}`; the library has: {}",
            job::names().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The size of a block device or file in bytes (seeking to its end works for both).
fn device_len(path: &Path) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    std::fs::File::open(path)?.seek(SeekFrom::End(0))
}

/// fio splits `directory=` and `filename=` at `:`; a literal colon is written `\:`.
fn escape_colons(path: &Path) -> String {
    path.display().to_string().replace(':', "\\:")
}

fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the output; what was read so far is still useful.
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Stops fio: SIGTERM to its process group, SIGKILL after `grace`, then reaps it. Signals
/// go only to the group of the child this run started, and only while that child is unreaped.
fn terminate(child: &mut Child, grace: Duration) {
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            // Reaped: from here on the group id may belong to someone else; signal no more.
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

fn tail(bytes: &[u8], max: usize) -> String {
    crate::text::tail(&String::from_utf8_lossy(bytes), max)
}

/// The non-JSON lines fio printed on standard output (its warnings and errors).
fn stdout_noise(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let noise: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with('{'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    tail(noise.join("\n").as_bytes(), 2000)
}

fn failure(what: &str, status: Option<ExitStatus>, stdout: &[u8], stderr: &[u8]) -> WorkloadError {
    let mut msg = what.to_owned();
    if let Some(status) = status {
        msg.push_str(&format!(" ({status})"));
    }
    let err = tail(stderr, 4000);
    if !err.is_empty() {
        msg.push_str(&format!("; fio's stderr: {err}"));
    }
    let noise = stdout_noise(stdout);
    if !noise.is_empty() {
        msg.push_str(&format!("; fio's stdout: {noise}"));
    }
    WorkloadError::Failed(msg)
}

impl Workload for FioWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn params(&self) -> serde_json::Value {
        json!({
            "tool": "fio",
            "job": self.job.name,
            "job_file": self.job.text,
            "primary": self.job.primary.as_str(),
            "ramp_s": RAMP_S,
            "quick": self.quick,
            "full": self.full,
            "output_format": "json+",
            "fio_args": ["--output-format=json+", "--eta=never", "--thread"],
            "target": match self.target { Target::Mount { .. } => "directory", Target::Device => "device" },
        })
    }

    fn target(&self) -> Target {
        self.target.clone()
    }

    fn run(&self, ctx: &RunContext<'_>) -> Result<Measurement, WorkloadError> {
        if ctx.interrupted.load(Ordering::SeqCst) {
            return Err(WorkloadError::Interrupted);
        }
        let inv = self.invocation(ctx)?;
        let mut child = self.spawn(&inv)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A job file is far smaller than a pipe buffer, so this does not block; if fio
            // exits before reading it (bad option), its exit status tells why.
            let _ = stdin.write_all(inv.stdin.as_bytes());
        }
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            terminate(&mut child, self.kill_grace);
            return Err(WorkloadError::Failed(
                "fio's output pipes are missing".to_owned(),
            ));
        };
        let (stdout_rx, stderr_rx) = (reader(out), reader(err));
        let sizing = self.sizing(ctx.quick);
        let deadline = Duration::from_secs(u64::from(RAMP_S) + u64::from(sizing.runtime_s))
            + self.timeout_slack;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    terminate(&mut child, self.kill_grace);
                    return Err(WorkloadError::Failed(format!("waiting for fio: {e}")));
                }
            }
            if ctx.interrupted.load(Ordering::SeqCst) {
                terminate(&mut child, self.kill_grace);
                return Err(WorkloadError::Interrupted);
            }
            if started.elapsed() > deadline {
                terminate(&mut child, self.kill_grace);
                let stderr = stderr_rx
                    .recv_timeout(Duration::from_secs(1))
                    .unwrap_or_default();
                return Err(failure(
                    &format!(
                        "{}: fio did not finish within {} s and was killed",
                        self.name,
                        deadline.as_secs()
                    ),
                    None,
                    &[],
                    &stderr,
                ));
            }
            thread::sleep(self.poll);
        };
        let grace = Duration::from_secs(5);
        let stdout = stdout_rx.recv_timeout(grace).unwrap_or_default();
        let stderr = stderr_rx.recv_timeout(grace).unwrap_or_default();
        if !status.success() {
            return Err(failure(
                &format!("{}: fio failed", self.name),
                Some(status),
                &stdout,
                &stderr,
            ));
        }
        let output = json::parse(&stdout, "fio JSON output").map_err(|e| {
            let mut err = WorkloadError::from(e);
            if let WorkloadError::Output { message, .. } = &mut err {
                let stderr = tail(&stderr, 2000);
                if !stderr.is_empty() {
                    message.push_str(&format!("; fio's stderr: {stderr}"));
                }
            }
            err
        })?;
        if let Some(bad) = output.jobs.iter().find(|j| j.error != 0) {
            return Err(failure(
                &format!(
                    "{}: fio job `{}` failed with error {} ({})",
                    self.name,
                    bad.name,
                    bad.error,
                    nix::errno::Errno::from_raw(i32::try_from(bad.error).unwrap_or(0)).desc()
                ),
                None,
                &stdout,
                &stderr,
            ));
        }
        measurement(&output, self.job.primary)
    }
}

/// Turns a fio run into a [`Measurement`].
///
/// - `ops_per_s`, `bytes_per_s`: summed over jobs and directions; `value` is the one named by
///   `primary`.
/// - `latency_ns`: completion latency (`clat`) of every I/O, merged as in
///   [`merge`](super::merge); `sync_latency_ns`: the `sync` object's latency.
/// - `cpu_usr_pct`, `cpu_sys_pct`: job-runtime-weighted mean over jobs.
/// - `runtime_s`: the longest direction `runtime`.
/// - `extra`: `jobs`, `io_bytes`, per direction `{read,write,trim}_iops`,
///   `_bytes_per_s` and `_clat_p99_ns`, `sync_ops`, `iops_cv_pct` (one job, one direction),
///   `disk_util_pct` (first device, when fio printed `disk_util`), and
///   `latency_percentiles_exact` / `sync_percentiles_exact`: 1 when the percentiles are
///   exact, 0 when they are an upper bound (several jobs without `json+` bins).
///
/// Also usable on recorded JSON, to replay a run without fio.
pub fn measurement(
    output: &FioOutput,
    primary: job::Primary,
) -> Result<Measurement, WorkloadError> {
    let s = FioSummary::from_output(output).map_err(|message| WorkloadError::Output {
        what: "fio JSON output".to_owned(),
        message,
    })?;
    let mut m = Measurement {
        primary: primary.as_str().to_owned(),
        value: match primary {
            job::Primary::Iops => s.iops,
            job::Primary::BytesPerS => s.bytes_per_s,
        },
        ops_per_s: Some(s.iops),
        bytes_per_s: Some(s.bytes_per_s),
        latency_ns: s.clat.as_ref().and_then(|l| l.to_percentiles()),
        sync_latency_ns: s.sync.as_ref().and_then(|l| l.to_percentiles()),
        cpu_usr_pct: Some(s.usr_cpu_pct),
        cpu_sys_pct: Some(s.sys_cpu_pct),
        runtime_s: s.runtime_s,
        ..Measurement::default()
    };
    let extra = &mut m.extra;
    extra.insert("jobs".into(), s.jobs as f64);
    extra.insert("io_bytes".into(), s.io_bytes as f64);
    for (name, dir) in [
        ("read", &s.read),
        ("write", &s.write),
        ("trim", &s.trim),
        ("mixed", &s.mixed),
    ] {
        if let Some(d) = dir {
            extra.insert(format!("{name}_iops"), d.iops);
            extra.insert(format!("{name}_bytes_per_s"), d.bytes_per_s);
            if let Some(p99) = d.clat.as_ref().and_then(|c| c.percentile(99.0)) {
                extra.insert(format!("{name}_clat_p99_ns"), p99);
            }
        }
    }
    if let Some(l) = &s.clat {
        extra.insert(
            "latency_percentiles_exact".into(),
            f64::from(u8::from(l.is_exact())),
        );
    }
    if let Some(l) = &s.sync {
        extra.insert(
            "sync_percentiles_exact".into(),
            f64::from(u8::from(l.is_exact())),
        );
    }
    if s.sync_ops > 0 {
        extra.insert("sync_ops".into(), s.sync_ops as f64);
    }
    if let Some(cv) = s.iops_cv_pct {
        extra.insert("iops_cv_pct".into(), cv);
    }
    if let Some(d) = output.disk_util.first() {
        extra.insert("disk_util_pct".into(), d.util);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colons_are_escaped() {
        assert_eq!(escape_colons(Path::new("/mnt/a:b")), "/mnt/a\\:b");
    }

    #[test]
    fn device_jobs_only() {
        assert!(FioWorkload::device("randwrite-4k-fsync").is_ok());
        let e = FioWorkload::device("smallfile-create").unwrap_err();
        assert!(e.to_string().contains("cannot run on a raw device"), "{e}");
        let e = FioWorkload::mount("nope", "/data").unwrap_err();
        assert!(e.to_string().contains("randwrite-4k-fsync"), "{e}");
    }
}
