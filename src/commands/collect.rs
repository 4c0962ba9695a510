//! `btrtune collect`: gather what a diagnosis needs from a live host into a bundle directory.
//!
//! Every probe is a read-only command or file read. What is missing (a tool not installed, a
//! permission, no btrfs mounted) is recorded in `manifest.json` with the reason, never
//! skipped silently. The bundle is what `btrtune diagnose --bundle DIR` reads.

use super::write_atomic;
use anyhow::{Context as _, Result, bail};
use btrtune_advisor::metrics::bundle::{BUNDLE_VERSION, Manifest, Probe, findmnt, slug};
use clap::Args;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Arguments of `btrtune collect`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo btrtune collect -o ./bundle
  sudo btrtune collect -o ./bundle --samples 5 --interval 2
  btrtune show metrics ./bundle/btrfs-usage-root.txt")]
pub struct CollectArgs {
    /// Directory to write the bundle into (created; must be empty if it exists).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// iostat/iotop samples to take.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    samples: u32,
    /// Seconds between samples.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60))]
    interval: u32,
    /// Print the manifest as JSON when done.
    #[arg(long)]
    json: bool,
}

struct Bundle {
    dir: PathBuf,
    probes: Vec<Probe>,
}

fn run(cmd: &str, args: &[&str], timeout: Duration) -> std::result::Result<String, String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("{cmd} is not installed")
            } else {
                format!("cannot run {cmd}: {e}")
            }
        })?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd} did not finish within {}s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {cmd}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading {cmd}'s output: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{cmd} exited with {}: {}",
            out.status,
            err.trim().lines().next().unwrap_or("")
        ))
    }
}

impl Bundle {
    fn save(
        &mut self,
        name: &str,
        source: &str,
        file: &str,
        r: std::result::Result<String, String>,
    ) -> Result<Option<String>> {
        let (status, reason, text) = match r {
            Ok(t) if t.trim().is_empty() => ("empty", Some("no output".to_string()), None),
            Ok(t) => ("ok", None, Some(t)),
            Err(e) if e.ends_with("is not installed") || e.starts_with("no such") => {
                ("missing", Some(e), None)
            }
            Err(e) => ("failed", Some(e), None),
        };
        if let Some(t) = &text {
            write_atomic(&self.dir.join(file), t)?;
        }
        self.probes.push(Probe {
            name: name.to_string(),
            source: source.to_string(),
            file: text.as_ref().map(|_| file.to_string()),
            status: status.to_string(),
            reason,
        });
        Ok(text)
    }

    fn command(
        &mut self,
        name: &str,
        cmd: &str,
        args: &[&str],
        file: &str,
        timeout: u64,
    ) -> Result<Option<String>> {
        let source = std::iter::once(cmd)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let r = run(cmd, args, Duration::from_secs(timeout));
        self.save(name, &source, file, r)
    }

    fn read(&mut self, name: &str, path: &str, file: &str) -> Result<Option<String>> {
        let r = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("no such file {path}")
            } else {
                format!("{path}: {e}")
            }
        });
        self.save(name, path, file, r)
    }
}

/// btrfs mounts from `findmnt -J`: (target, source, options, fs uuid).
fn btrfs_mounts(json: &str) -> Vec<(String, String, String, String)> {
    findmnt(json, "findmnt")
        .map(|ms| {
            ms.into_iter()
                .map(|m| (m.target, m.source, m.options.join(","), m.uuid))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `btrtune collect`.
pub fn run_collect(a: CollectArgs) -> Result<()> {
    if a.output.exists() {
        let nonempty = std::fs::read_dir(&a.output)
            .with_context(|| format!("reading {}", a.output.display()))?
            .next()
            .is_some();
        if nonempty {
            bail!(
                "{} is not empty: give a new or empty directory, so no earlier bundle is mixed in",
                a.output.display()
            );
        }
    }
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut b = Bundle {
        dir: a.output.clone(),
        probes: Vec::new(),
    };
    let samples = a.samples.to_string();
    let interval = a.interval.to_string();
    let sample_time = u64::from(a.samples * a.interval) + 20;

    b.command("df", "df", &["-T", "-k"], "df.txt", 20)?;
    b.command("df -h", "df", &["-h"], "df-h.txt", 20)?;
    let mounts = b.command(
        "findmnt",
        "findmnt",
        &["-J", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS,UUID"],
        "findmnt.json",
        20,
    )?;
    let mounts = mounts.map(|m| btrfs_mounts(&m)).unwrap_or_default();
    if mounts.is_empty() {
        b.probes.push(Probe {
            name: "btrfs".into(),
            source: "findmnt".into(),
            file: None,
            status: "missing".into(),
            reason: Some("no btrfs filesystem is mounted".into()),
        });
    }
    // One set of filesystem-wide reports per filesystem (first mount of each UUID).
    let mut seen = std::collections::BTreeSet::new();
    for (target, _, _, uuid) in &mounts {
        let s = slug(target);
        if seen.insert(uuid.clone()) {
            b.command(
                &format!("btrfs usage {target}"),
                "btrfs",
                &["filesystem", "usage", "-b", target],
                &format!("btrfs-usage-{s}.txt"),
                60,
            )?;
            b.command(
                &format!("human-readable btrfs usage {target}"),
                "btrfs",
                &["filesystem", "usage", target],
                &format!("btrfs-usage-h-{s}.txt"),
                60,
            )?;
            b.command(
                &format!("btrfs df {target}"),
                "btrfs",
                &["filesystem", "df", "-b", target],
                &format!("btrfs-df-{s}.txt"),
                60,
            )?;
            b.command(
                &format!("btrfs device stats {target}"),
                "btrfs",
                &["device", "stats", target],
                &format!("btrfs-device-stats-{s}.txt"),
                60,
            )?;
            b.command(
                &format!("btrfs subvolume list {target}"),
                "btrfs",
                &["subvolume", "list", "-t", target],
                &format!("btrfs-subvolumes-{s}.txt"),
                60,
            )?;
            b.command(
                &format!("btrfs qgroups {target}"),
                "btrfs",
                &["qgroup", "show", target],
                &format!("btrfs-qgroups-{s}.txt"),
                60,
            )?;
            if !uuid.is_empty() {
                for knob in [
                    "bdi/read_ahead_kb",
                    "features/free_space_tree",
                    "commit_stats",
                ] {
                    let file = format!("sysfs-btrfs-{s}-{}.txt", knob.replace('/', "-"));
                    b.read(
                        &format!("btrfs sysfs {knob} {target}"),
                        &format!("/sys/fs/btrfs/{uuid}/{knob}"),
                        &file,
                    )?;
                }
            }
        }
        // Per mount: the NOCOW flag and compression property of the mounted subvolume root.
        b.command(
            &format!("lsattr {target}"),
            "lsattr",
            &["-d", target],
            &format!("lsattr-{s}.txt"),
            20,
        )?;
        b.command(
            &format!("compression property {target}"),
            "btrfs",
            &["property", "get", target, "compression"],
            &format!("property-compression-{s}.txt"),
            20,
        )?;
    }
    b.command(
        "iostat",
        "iostat",
        &["-x", "-k", &interval, &samples],
        "iostat.txt",
        sample_time,
    )?;
    b.command(
        "iostat json",
        "iostat",
        &["-x", "-k", "-o", "JSON", &interval, &samples],
        "iostat.json",
        sample_time,
    )?;
    let iotop_args = ["-b", "-o", "-k", "-n", &samples, "-d", &interval];
    let r = run("iotop", &iotop_args, Duration::from_secs(sample_time));
    let r = match r {
        Err(e) if e.ends_with("is not installed") => {
            run("iotop-c", &iotop_args, Duration::from_secs(sample_time))
        }
        other => other,
    };
    b.save(
        "iotop",
        &format!("iotop {}", iotop_args.join(" ")),
        "iotop.txt",
        r,
    )?;
    b.read("pressure io", "/proc/pressure/io", "pressure-io.txt")?;
    let mut sysctl = String::new();
    for k in [
        "vm/dirty_ratio",
        "vm/dirty_background_ratio",
        "vm/dirty_bytes",
        "vm/dirty_background_bytes",
        "vm/dirty_expire_centisecs",
        "vm/dirty_writeback_centisecs",
        "vm/swappiness",
        "vm/vfs_cache_pressure",
        "kernel/task_delayacct",
    ] {
        match std::fs::read_to_string(format!("/proc/sys/{k}")) {
            Ok(v) => sysctl.push_str(&format!("{} = {}\n", k.replace('/', "."), v.trim())),
            Err(e) => sysctl.push_str(&format!("# {}: {e}\n", k.replace('/', "."))),
        }
    }
    b.save("sysctls", "/proc/sys/vm/*", "sysctl.txt", Ok(sysctl))?;
    let mut queues = String::new();
    if let Ok(rd) = std::fs::read_dir("/sys/block") {
        let mut devs: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        devs.sort();
        for d in devs {
            for knob in ["scheduler", "rotational", "read_ahead_kb", "nr_requests"] {
                if let Ok(v) = std::fs::read_to_string(format!("/sys/block/{d}/queue/{knob}")) {
                    queues.push_str(&format!("{d} {knob} {}\n", v.trim()));
                }
            }
        }
    }
    b.save(
        "I/O schedulers",
        "/sys/block/*/queue",
        "block-queues.txt",
        Ok(queues),
    )?;
    b.command("nixos-facter", "nixos-facter", &[], "facter.json", 120)?;
    b.read("disko config", "/etc/nixos/disko.nix", "disko.nix")?;
    b.read("kernel", "/proc/version", "kernel.txt")?;

    let manifest = Manifest {
        schema_version: BUNDLE_VERSION,
        btrtune: env!("CARGO_PKG_VERSION").into(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        collected_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        as_root: is_root(),
        probes: b.probes,
    };
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    write_atomic(&a.output.join("manifest.json"), &text)?;
    if a.json {
        print!("{text}");
    } else {
        let ok = manifest.probes.iter().filter(|p| p.status == "ok").count();
        eprintln!(
            "collected {ok} of {} probes into {}",
            manifest.probes.len(),
            a.output.display()
        );
        for p in manifest.probes.iter().filter(|p| p.status != "ok") {
            eprintln!(
                "  {:<8} {}: {}",
                p.status,
                p.name,
                p.reason.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_btrfs_mounts_in_findmnt_json() {
        let j = r#"{"filesystems": [{"target": "/", "source": "/dev/vda", "fstype": "ext4", "options": "rw", "uuid": "a",
          "children": [{"target": "/mnt/x", "source": "/dev/loop3[/@data]", "fstype": "btrfs", "options": "rw,noatime,subvol=/@data", "uuid": "b"}]}]}"#;
        let m = btrfs_mounts(j);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "/mnt/x");
        assert_eq!(slug("/"), "root");
        assert_eq!(slug("/var/lib/x"), "var-lib-x");
    }
}
